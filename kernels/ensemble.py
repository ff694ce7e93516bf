"""Part writing for ensembles: the rules of four-part (SATB-style) voice leading.

Given the top voice (the melody) and the bass, :func:`voice_inner` chooses the two inner
voices (alto and tenor; violin 2 and viola) for a chord:

- each inner voice is a chord tone inside its own range, and the voices never cross:
  top > inner 1 > inner 2 > bass (strictly);
- spacing: no more than an octave between the top and inner 1 or between the inners;
- the chord is complete where it can be: a missing third costs most, then the root,
  the seventh, the fifth (``weights``: the cost of leaving each pitch class out);
- parallel fifths and octaves (also by contrary motion, i.e. compound intervals) between
  any two voices cost ``PARALLEL_COST``; the outer pair's are avoided by the caller
  choosing the bass (:func:`is_parallel`);
- then the least movement from the previous inner voices.

Ties go to the lexicographically highest voicing. Plain-Python reference below each
kernel. Thread: any; allocates nothing.
"""

from __future__ import annotations

import numba

PARALLEL_COST = 40
SPACING = 12
_NONE = 1 << 40


@numba.njit(nogil=True, cache=True)
def is_parallel(a0, b0, a1, b1):
    """True when voices a and b both move and keep a perfect fifth or octave (or unison)
    between them, counted modulo the octave: parallel fifths/octaves."""
    if a0 < 0 or b0 < 0 or a0 == a1 or b0 == b1:
        return False
    i0 = (a0 - b0) % 12
    i1 = (a1 - b1) % 12
    return i0 == i1 and (i0 == 0 or i0 == 7)


@numba.njit(nogil=True, cache=True)
def voice_inner(weights, top, bass, prev_top, prev_bass, lows, highs, prev, out):
    """Write the best inner pair (descending) into ``out`` (int64[2]); return its cost.

    weights: int64[12], cost of leaving out each pitch class (0 = not a chord tone);
    prev: the previous inner voices, or -1s (then the cost is the distance from each
    range's middle). Returns -1 with ``out`` = -1 when nothing fits.
    """
    best = _NONE
    out[0] = -1
    out[1] = -1
    for a in range(highs[0], lows[0] - 1, -1):
        if weights[a % 12] == 0 or a >= top or a <= bass or top - a > SPACING:
            continue
        for t in range(min(highs[1], a - 1), lows[1] - 1, -1):
            if weights[t % 12] == 0 or t <= bass or a - t > SPACING:
                continue
            cost = 0
            for pc in range(12):
                if weights[pc] > 0 and pc != top % 12 and pc != a % 12 and pc != t % 12 and pc != bass % 12:
                    cost += weights[pc]
            if prev[0] >= 0:
                cost += abs(a - prev[0]) + abs(t - prev[1])
                if is_parallel(prev[0], prev[1], a, t) or is_parallel(prev_top, prev[0], top, a) \
                        or is_parallel(prev_top, prev[1], top, t) or is_parallel(prev[0], prev_bass, a, bass) \
                        or is_parallel(prev[1], prev_bass, t, bass):
                    cost += PARALLEL_COST
            else:
                cost += abs(2 * a - lows[0] - highs[0]) // 2 + abs(2 * t - lows[1] - highs[1]) // 2
            if cost < best:
                best = cost
                out[0] = a
                out[1] = t
    return -1 if best == _NONE else best


def is_parallel_ref(a0, b0, a1, b1):
    if min(a0, b0) < 0 or a0 == a1 or b0 == b1:
        return False
    return (a0 - b0) % 12 == (a1 - b1) % 12 and (a0 - b0) % 12 in (0, 7)


def voice_inner_ref(weights, top, bass, prev_top, prev_bass, lows, highs, prev):
    """Reference: every pair, sorted by (cost, -alto, -tenor)."""
    best = None
    for a in range(lows[0], highs[0] + 1):
        for t in range(lows[1], highs[1] + 1):
            if not (top > a > t > bass) or weights[a % 12] == 0 or weights[t % 12] == 0:
                continue
            if top - a > SPACING or a - t > SPACING:
                continue
            have = {top % 12, a % 12, t % 12, bass % 12}
            cost = sum(int(w) for pc, w in enumerate(weights) if w > 0 and pc not in have)
            if prev[0] >= 0:
                cost += abs(a - prev[0]) + abs(t - prev[1])
                pairs = [(prev[0], prev[1], a, t), (prev_top, prev[0], top, a), (prev_top, prev[1], top, t),
                         (prev[0], prev_bass, a, bass), (prev[1], prev_bass, t, bass)]
                if any(is_parallel_ref(*p) for p in pairs):
                    cost += PARALLEL_COST
            else:
                cost += abs(2 * a - lows[0] - highs[0]) // 2 + abs(2 * t - lows[1] - highs[1]) // 2
            key = (cost, -a, -t)
            if best is None or key < best[0]:
                best = (key, a, t)
    return (-1, -1, -1) if best is None else (best[0][0], best[1], best[2])
