"""Turning the model's logits into choices: masks, repetition penalty, filtered sampling.

Every kernel takes 2-D logits ``(n_rollouts, n_classes)``, float32 as onnxruntime returns them
(float64 also works, as a separate compilation), works row by row in float64 and writes into
caller-owned ``out`` arrays. Shapes are not checked: numba does no bounds checking, so a
wrong-sized ``out`` or scratch array corrupts memory. ``Sampler`` checks shapes once per draw.

Sampling is deterministic: the caller draws one uniform number in [0, 1) per row (from a seeded
``numpy.random.Generator``) and the kernel maps it to a class, so the same logits and uniforms
give the same classes. The mapping is an inverse CDF over the classes most likely first
(ties to the lower class index), so ``u = 0`` always picks the argmax and a small ``u`` stays
on likely classes whatever the temperature or filters (common random numbers across rollouts).

Logit conventions, shared by kernels and references: NaN counts as -inf; a row whose logits
are all -inf (or NaN) counts as all equal (uniform), and the +inf entries of a row that has
some share the whole probability.

Threading model: the njit kernels are pure apart from their ``out``/scratch arguments,
release the GIL, allocate nothing and may run on any thread (in practice the planner thread,
between onnxruntime calls). A ``Sampler`` owns its buffers and random generator: one thread
(the planner) uses it; give each thread its own.
"""

from __future__ import annotations

import numba
import numpy as np

# --- masks ----------------------------------------------------------------------------

@numba.njit(nogil=True, cache=True)
def apply_mask(logits, mask, out):
    """Copy logits to out with masked-out classes (mask false/0) set to -inf; return fallbacks.

    mask: bool or uint8, (n_classes,) for every row or (n_rollouts, n_classes). A row in which
    no allowed class has a logit above -inf is copied unmasked instead, so masking never leaves
    a row with nothing to sample; the return value counts such rows (a metric, not an error).
    out may be logits itself. Thread: any; allocates nothing.
    """
    m = np.atleast_2d(mask)
    n_rows, n = logits.shape
    fallbacks = 0
    for r in range(n_rows):
        mr = r if m.shape[0] > 1 else 0
        ok = False
        for c in range(n):
            if m[mr, c] and logits[r, c] > -np.inf:
                ok = True
                break
        if ok:
            for c in range(n):
                out[r, c] = logits[r, c] if m[mr, c] else -np.inf
        else:
            fallbacks += 1
            for c in range(n):
                out[r, c] = logits[r, c]
    return fallbacks


def apply_mask_ref(logits, mask, out):
    """numpy reference for apply_mask (same result)."""
    lg = np.asarray(logits)
    m = np.broadcast_to(np.atleast_2d(np.asarray(mask).astype(bool)), lg.shape)
    ok = (m & (lg > -np.inf)).any(axis=1)
    out[...] = np.where(m | ~ok[:, None], lg, -np.inf)
    return int((~ok).sum())


# --- repetition penalty ---------------------------------------------------------------

@numba.njit(nogil=True, cache=True)
def repetition_penalty(logits, history, n_hist, penalty, out):
    """CTRL-style penalty on recently chosen classes: logit / penalty if > 0, else logit * penalty.

    history: int64 (n_rollouts, H), oldest first, newest in column H - 1; -1 (or any id outside
    0..n_classes-1) is an empty slot. Only the last n_hist columns count (clamped to 0..H), and
    a class is penalised once however often it repeats. penalty > 1 discourages repeats.
    out may be logits itself. Thread: any; allocates nothing.
    """
    n_rows, n = logits.shape
    h = history.shape[1]
    start = h - min(max(n_hist, 0), h)
    for r in range(n_rows):
        for c in range(n):
            out[r, c] = logits[r, c]
        for j in range(start, h):
            c = history[r, j]
            if c < 0 or c >= n:
                continue
            # Penalise at the last occurrence only: in-place calls must not compound.
            seen_later = False
            for k in range(j + 1, h):
                if history[r, k] == c:
                    seen_later = True
                    break
            if seen_later:
                continue
            v = np.float64(logits[r, c])
            out[r, c] = v / penalty if v > 0.0 else v * penalty


def repetition_penalty_ref(logits, history, n_hist, penalty, out):
    """numpy reference for repetition_penalty (same result)."""
    lg = np.asarray(logits, dtype=np.float64)
    n = lg.shape[1]
    h = history.shape[1]
    w = min(max(n_hist, 0), h)
    res = lg.copy()
    for r in range(lg.shape[0]):
        cls = history[r, h - w:]
        cls = np.unique(cls[(cls >= 0) & (cls < n)])
        v = lg[r, cls]
        res[r, cls] = np.where(v > 0.0, v / penalty, v * penalty)
    out[...] = res


# --- shared row helpers ---------------------------------------------------------------

@numba.njit(nogil=True, cache=True)
def _argmax_max(row):
    """(first index of the largest logit, that logit as float64); NaN never wins; (0, -inf)
    if every logit is -inf or NaN."""
    best = 0
    bv = -np.inf
    for c in range(row.shape[0]):
        v = np.float64(row[c])
        if v > bv:
            bv = v
            best = c
    return best, bv


@numba.njit(nogil=True, cache=True)
def _weights(row, lmax, temperature, weights):
    """weights[c] = exp((l_c - lmax) / T): exactly 1 at the max, 0 for -inf and NaN.
    Rows whose max is +-inf get 1 on the max entries and 0 elsewhere."""
    n = row.shape[0]
    if np.isfinite(lmax):
        for c in range(n):
            w = np.exp((np.float64(row[c]) - lmax) / temperature)
            weights[c] = w if w == w else 0.0
    else:
        for c in range(n):
            weights[c] = 1.0 if np.float64(row[c]) == lmax else 0.0


@numba.njit(nogil=True, cache=True)
def _first(weights, a, b):
    """Class a sorts before b: more likely, then lower index."""
    return weights[a] > weights[b] or (weights[a] == weights[b] and a < b)


@numba.njit(nogil=True, cache=True)
def _sift_down(order, weights, i, size):
    while True:
        top = i
        left = 2 * i + 1
        right = left + 1
        if left < size and _first(weights, order[left], order[top]):
            top = left
        if right < size and _first(weights, order[right], order[top]):
            top = right
        if top == i:
            return
        order[i], order[top] = order[top], order[i]
        i = top


@numba.njit(nogil=True, cache=True)
def _pop_to(order, weights, popped, count):
    """Extend the sorted prefix to count classes; the j-th most likely lands in
    order[n - 1 - j]. Lazy heapsort: only as much of the order as a filter looks at."""
    n = order.shape[0]
    while popped < count:
        size = n - popped
        best = order[0]
        order[0] = order[size - 1]
        order[size - 1] = best
        _sift_down(order, weights, 0, size - 1)
        popped += 1
    return popped


# --- sampling -------------------------------------------------------------------------

@numba.njit(nogil=True, cache=True)
def sample(logits, temperature, top_k, top_p, min_p, uniforms, out_idx, order, weights):
    """Draw one class per row into out_idx int64[n_rollouts], using the row's uniforms[r].

    Per row, on p = softmax(logits / temperature):
      temperature <= 0 (or top_k == 1): argmax, lowest index on ties;
      top_k > 0: keep the k most likely classes (0 = off);
      top_p < 1: of those, keep the smallest most-likely-first prefix holding >= top_p of
        their (renormalised) probability (1.0 = off);
      min_p > 0: of those, drop classes with p < min_p * p_max (the top class always stays);
    then renormalise and return the first class, most likely first (ties to the lower index),
    whose cumulative probability exceeds uniforms[r] (in [0, 1)). A class with zero
    probability is never drawn.
    Scratch: order int64[n_classes], weights float64[n_classes]; overwritten.
    Thread: any; allocates nothing.
    """
    n_rows, n = logits.shape
    k_eff = n if (top_k <= 0 or top_k >= n) else top_k
    for r in range(n_rows):
        row = logits[r]
        best, lmax = _argmax_max(row)
        if temperature <= 0.0 or top_k == 1:
            out_idx[r] = best
            continue
        _weights(row, lmax, temperature, weights)     # p / p_max, by class
        for i in range(n):
            order[i] = i
        for i in range(n // 2 - 1, -1, -1):
            _sift_down(order, weights, i, n)
        popped = 0
        # Probability mass of the top-k classes; summed in class order when nothing is cut,
        # so plain sampling sorts only the classes it walks past.
        total = 0.0
        if k_eff == n:
            for c in range(n):
                total += weights[c]
        else:
            popped = _pop_to(order, weights, popped, k_eff)
            for j in range(k_eff):
                total += weights[order[n - 1 - j]]
        keep = k_eff
        if top_p < 1.0:
            target = top_p * total
            cum = 0.0
            for j in range(k_eff):
                popped = _pop_to(order, weights, popped, j + 1)
                cum += weights[order[n - 1 - j]]
                if cum >= target:
                    keep = j + 1
                    break
        if min_p > 0.0:
            for j in range(keep):
                popped = _pop_to(order, weights, popped, j + 1)
                if weights[order[n - 1 - j]] < min_p:
                    keep = max(j, 1)
                    break
        if keep != k_eff:
            total = 0.0
            for j in range(keep):
                total += weights[order[n - 1 - j]]
        threshold = uniforms[r] * total
        cum = 0.0
        pick = -1
        last_nonzero = 0
        for j in range(keep):
            popped = _pop_to(order, weights, popped, j + 1)
            w = weights[order[n - 1 - j]]
            cum += w
            if w > 0.0:
                last_nonzero = j
            if cum > threshold:
                pick = j
                break
        if pick < 0:                            # u * total rounded up to total
            pick = last_nonzero
        out_idx[r] = order[n - 1 - pick]


def _weights_ref(lg, temperature):
    """Rows of p / p_max as sample computes them (lg float64, NaN already -inf)."""
    lmax = lg.max(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        w = np.exp((lg - lmax) / temperature)
    return np.where(np.isfinite(lmax), w, (lg == lmax).astype(np.float64))


def sample_ref(logits, temperature, top_k, top_p, min_p, uniforms, out_idx, order=None, weights=None):
    """numpy reference for sample: stable argsort and cumsum, the same summation order."""
    lg = np.asarray(logits, dtype=np.float64)
    lg = np.where(np.isnan(lg), -np.inf, lg)
    n = lg.shape[1]
    k_eff = n if (top_k <= 0 or top_k >= n) else top_k
    for r, row in enumerate(lg):
        if temperature <= 0.0 or top_k == 1:
            out_idx[r] = np.argmax(row)
            continue
        x = _weights_ref(row, temperature)
        srt = np.argsort(-x, kind="stable")
        xs = x[srt]
        total = np.cumsum(x)[-1] if k_eff == n else np.cumsum(xs[:k_eff])[-1]
        keep = k_eff
        if top_p < 1.0:
            hit = np.flatnonzero(np.cumsum(xs[:k_eff]) >= top_p * total)
            if hit.size:
                keep = int(hit[0]) + 1
        if min_p > 0.0:
            low = np.flatnonzero(xs[:keep] < min_p)
            if low.size:
                keep = max(int(low[0]), 1)
        if keep != k_eff:
            total = np.cumsum(xs[:keep])[-1]
        hit = np.flatnonzero(np.cumsum(xs[:keep]) > uniforms[r] * total)
        if hit.size:
            j = int(hit[0])
        else:
            nz = np.flatnonzero(xs[:keep] > 0.0)
            j = int(nz[-1]) if nz.size else 0
        out_idx[r] = srt[j]


# --- log-probabilities ----------------------------------------------------------------

@numba.njit(nogil=True, cache=True)
def log_softmax(logits, out):
    """Row-wise log softmax into out (float32 or float64), stable for any finite logits.

    Thread: any; allocates nothing.
    """
    n_rows, n = logits.shape
    for r in range(n_rows):
        row = logits[r]
        _, lmax = _argmax_max(row)
        if np.isfinite(lmax):
            s = 0.0
            for c in range(n):
                w = np.exp(np.float64(row[c]) - lmax)
                s += w if w == w else 0.0
            shift = lmax + np.log(s)
            for c in range(n):
                v = np.float64(row[c])
                out[r, c] = v - shift if v == v else -np.inf
        else:                                   # all -inf: uniform; some +inf: they share it
            cnt = 0
            for c in range(n):
                if np.float64(row[c]) == lmax:
                    cnt += 1
            lp = -np.log(cnt)
            for c in range(n):
                out[r, c] = lp if np.float64(row[c]) == lmax else -np.inf


def log_softmax_ref(logits, out):
    """numpy reference for log_softmax (same summation order; np.exp may differ by an ulp)."""
    lg = np.asarray(logits, dtype=np.float64)
    lg = np.where(np.isnan(lg), -np.inf, lg)
    w = _weights_ref(lg, 1.0)
    s = np.cumsum(w, axis=1)[:, -1:]
    lmax = lg.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        res = np.where(np.isfinite(lmax), lg - (lmax + np.log(s)), np.where(w > 0, -np.log(s), -np.inf))
    out[...] = res


# --- convenience ----------------------------------------------------------------------

class Sampler:
    """Owns the buffers and the seeded generator for drawing from (n_rollouts, n_classes) logits.

    Allocation happens here; ``draw`` allocates no arrays. Construction compiles (or loads)
    the float32 kernels without touching the generator, so the draws depend only on the seed.
    Thread: the one thread that owns it (the planner); it is not thread-safe.
    Raises: ValueError for a non-positive n_rollouts or n_classes.
    """

    def __init__(self, n_rollouts: int, n_classes: int, seed: int):
        if n_rollouts < 1 or n_classes < 1:
            raise ValueError(f"Sampler: n_rollouts and n_classes must be >= 1, got {n_rollouts}, {n_classes}")
        self.shape = (int(n_rollouts), int(n_classes))
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.uniforms = np.zeros(n_rollouts)
        self.out = np.zeros(n_rollouts, dtype=np.int64)
        self.mask_fallbacks = 0     # rows drawn unmasked because the mask allowed nothing
        self._masked = np.zeros(self.shape, dtype=np.float32)
        self._order = np.empty(n_classes, dtype=np.int64)
        self._weights = np.empty(n_classes)
        sample(self._masked, 1.0, 2, 0.9, 0.1, self.uniforms, self.out, self._order, self._weights)
        apply_mask(self._masked, np.ones(n_classes, dtype=np.bool_), self._masked)

    def draw(self, logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, mask=None) -> np.ndarray:
        """One class per rollout, int64[n_rollouts]; see ``sample`` for the filters.

        Returns the Sampler's own buffer, overwritten by the next draw: copy it to keep it.
        mask (optional, bool/uint8, (n_classes,) or (n_rollouts, n_classes)) is applied first;
        rows it would empty are drawn unmasked and counted in ``mask_fallbacks``. Masked
        logits pass through a float32 buffer (what the model returns anyway).
        Raises: ValueError if logits or mask do not match (n_rollouts, n_classes).
        """
        if logits.shape != self.shape:
            raise ValueError(f"Sampler.draw: logits must have shape {self.shape}, got {logits.shape}")
        if mask is not None and mask.shape != self.shape and mask.shape != self.shape[1:]:
            raise ValueError(f"Sampler.draw: mask must have shape {self.shape} or {self.shape[1:]},"
                             f" got {mask.shape}")
        self.rng.random(out=self.uniforms)      # after the checks: a refused draw uses no numbers
        if mask is not None:
            self.mask_fallbacks += apply_mask(logits, mask, self._masked)
            logits = self._masked
        sample(logits, float(temperature), int(top_k), float(top_p), float(min_p), self.uniforms, self.out,
               self._order, self._weights)
        return self.out
