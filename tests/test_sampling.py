"""Sampling kernels: parity with the numpy references, filter properties, distributions.

Their speed against the references is measured in benchmarks/model.py, not here.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from kernels.sampling import (Sampler, apply_mask, apply_mask_ref, log_softmax, log_softmax_ref,
                              repetition_penalty, repetition_penalty_ref, sample, sample_ref)

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:     # property tests are skipped below, the rest still runs
    given = None

N_CLASSES = [2, 13, 157]
N_ROLLOUTS = [1, 4, 16]
SHAPES = [(r, n) for n in N_CLASSES for r in N_ROLLOUTS]
# (temperature, top_k, top_p, min_p); values chosen to hit each filter alone and together.
PARAMS = [(t, k, p, m) for t in (0.0, 0.3, 1.0, 2.5) for k in (0, 1, 3, 200) for p in (1.0, 0.9, 0.5, 0.0)
          for m in (0.0, 0.05, 0.6)]


def random_logits(rng, shape, kind):
    """float32 logits: plain, with ties (rounded), with -inf entries, or spread wide."""
    if kind == "plain":
        return rng.normal(0.0, 2.0, shape).astype(np.float32)
    if kind == "ties":
        return np.round(rng.normal(0.0, 1.0, shape)).astype(np.float32)
    if kind == "masked":
        lg = rng.normal(0.0, 2.0, shape).astype(np.float32)
        lg[rng.random(shape) < 0.4] = -np.inf
        return lg
    return rng.normal(0.0, 40.0, shape).astype(np.float32)   # "wide": most weights underflow


def scratch(n):
    return np.empty(n, dtype=np.int64), np.empty(n)


def softmax(lg, temperature=1.0):
    z = np.asarray(lg, dtype=np.float64) / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- parity ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_sample_parity(shape):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    n_rows, n = shape
    got = np.empty(n_rows, dtype=np.int64)
    want = np.empty(n_rows, dtype=np.int64)
    order, weights = scratch(n)
    for kind in ("plain", "ties", "masked", "wide"):
        lg = random_logits(rng, shape, kind)
        for temperature, top_k, top_p, min_p in PARAMS:
            u = rng.random(n_rows)
            sample(lg, temperature, top_k, top_p, min_p, u, got, order, weights)
            sample_ref(lg, temperature, top_k, top_p, min_p, u, want)
            assert got.tolist() == want.tolist(), (kind, temperature, top_k, top_p, min_p)


def test_sample_parity_float64_and_edge_rows():
    inf = np.inf
    lg = np.array([[-inf, -inf, -inf], [np.nan, 1.0, 1.0], [inf, 0.0, inf], [0.0, 0.0, 0.0],
                   [-inf, 2.0, -inf], [5.0, np.nan, 5.0]])
    order, weights = scratch(3)
    for u0 in (0.0, 0.3, 0.6, 0.99, 1.0 - 2.0 ** -53):
        u = np.full(len(lg), u0)
        for temperature, top_k, top_p, min_p in PARAMS:
            got = np.empty(len(lg), dtype=np.int64)
            want = np.empty(len(lg), dtype=np.int64)
            sample(lg, temperature, top_k, top_p, min_p, u, got, order, weights)
            sample_ref(lg, temperature, top_k, top_p, min_p, u, want)
            assert got.tolist() == want.tolist()
            assert got[4] == 1 and got[2] in (0, 2) and got[5] in (0, 2)
            assert got[1] in (1, 2)


def test_sample_documented_edges():
    out = np.empty(2, dtype=np.int64)
    order, weights = scratch(3)
    lg = np.array([[-np.inf] * 3, [-np.inf] * 3], dtype=np.float32)   # all -inf: uniform
    sample(lg, 1.0, 0, 1.0, 0.0, np.array([0.1, 0.9]), out, order, weights)
    assert out.tolist() == [0, 2]
    lg = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, 3.0]], dtype=np.float32)
    sample(lg, 1.0, 0, 0.5, 0.0, np.array([0.99, 0.99]), out, order, weights)
    assert out.tolist() == [1, 2]   # nucleus 0.5 of three equal classes keeps two; ties by index
    sample(lg, 1.0, 0, 1.0, 2.0, np.array([0.99, 0.99]), out, order, weights)
    assert out.tolist() == [0, 0]   # min_p > 1 would drop everything: the top class stays
    lg = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    sample(lg, 1.0, 0, 1.0, 0.0, np.array([0.5, 0.25]), out, *scratch(4))
    assert out.tolist() == [2, 1]   # cumulative 2/4 does not *exceed* 0.5: the next class


def test_sample_rounding_fallback_skips_zero_probability():
    # Sorted-order cumulative sum ends an ulp below the class-order total, so u = 1 - 2**-53
    # is never exceeded; the fallback must take the last class with probability, not -inf.
    lg = np.array([[0.1, -0.1, 0.6, 0.1, -np.inf]], dtype=np.float32)
    u = np.array([1.0 - 2.0 ** -53])
    got = np.empty(1, dtype=np.int64)
    want = np.empty(1, dtype=np.int64)
    sample(lg, 1.0, 0, 1.0, 0.0, u, got, *scratch(5))
    sample_ref(lg, 1.0, 0, 1.0, 0.0, u, want)
    assert got[0] == want[0] == 1


@pytest.mark.parametrize("shape", SHAPES)
def test_apply_mask_parity(shape):
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    n_rows, n = shape
    for kind in ("plain", "masked"):
        lg = random_logits(rng, shape, kind)
        for density in (0.0, 0.05, 0.5, 1.0):
            for mask in (rng.random(n) < density, rng.random(shape) < density,
                         (rng.random(shape) < density).astype(np.uint8)):
                got = np.empty_like(lg)
                want = np.empty_like(lg)
                k = apply_mask(lg, mask, got)
                assert k == apply_mask_ref(lg, mask, want)
                np.testing.assert_array_equal(got, want)
                assert not np.isneginf(got).all(axis=1).any() or np.isneginf(lg).all(axis=1).any()
                inplace = lg.copy()
                assert apply_mask(inplace, mask, inplace) == k
                np.testing.assert_array_equal(inplace, got)


def test_apply_mask_counts_and_keeps_empty_rows():
    lg = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [-np.inf, 2.0, 3.0]], dtype=np.float32)
    mask = np.array([[True, False, True], [False, False, False], [True, False, False]])
    out = np.empty_like(lg)
    assert apply_mask(lg, mask, out) == 2       # row 1 allows nothing, row 2 only a -inf class
    np.testing.assert_array_equal(out, [[1.0, -np.inf, 3.0], [1.0, 2.0, 3.0], [-np.inf, 2.0, 3.0]])
    assert apply_mask(lg, np.array([0, 1, 0], dtype=np.uint8), out) == 0
    np.testing.assert_array_equal(out[:, [0, 2]], np.full((3, 2), -np.inf))


@pytest.mark.parametrize("shape", SHAPES)
def test_repetition_penalty_parity(shape):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    n_rows, n = shape
    for kind in ("plain", "masked"):
        lg = random_logits(rng, shape, kind)
        history = rng.integers(-1, n, (n_rows, 12))
        history[:, :3] = -1
        for n_hist in (0, 1, 5, 12, 40, -3):
            for penalty in (1.0, 1.3, 3.0, 0.7):
                got = np.empty_like(lg)
                want = np.empty_like(lg)
                repetition_penalty(lg, history, n_hist, penalty, got)
                repetition_penalty_ref(lg, history, n_hist, penalty, want)
                np.testing.assert_array_equal(got, want)
                inplace = lg.copy()
                repetition_penalty(inplace, history, n_hist, penalty, inplace)
                np.testing.assert_array_equal(inplace, got)


def test_repetition_penalty_rule():
    lg = np.array([[2.0, -2.0, 2.0, 0.0, 1.0]], dtype=np.float32)
    hist = np.array([[4, 0, 1, 1, 3, -1, 7]])          # 4 is outside the window, 7 out of range
    out = np.empty_like(lg)
    repetition_penalty(lg, hist, 6, 2.0, out)
    np.testing.assert_array_equal(out, [[1.0, -4.0, 2.0, 0.0, 1.0]])   # 1 repeated, penalised once
    repetition_penalty(lg, hist, 0, 2.0, out)
    np.testing.assert_array_equal(out, lg)


@pytest.mark.parametrize("shape", SHAPES)
def test_log_softmax_parity(shape):
    rng = np.random.default_rng(shape[0] * 3 + shape[1])
    for kind in ("plain", "ties", "masked", "wide"):
        lg = random_logits(rng, shape, kind)
        for dtype in (np.float32, np.float64):
            got = np.empty(shape, dtype=dtype)
            want = np.empty(shape, dtype=dtype)
            log_softmax(lg, got)
            log_softmax_ref(lg, want)
            np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
            fin = np.isfinite(want)
            # np.exp and numba's exp differ by up to an ulp (float64), which may round across a
            # float32 boundary; measured worst here: 0 (float32) and 8.9e-16 (float64) absolute.
            tol = dict(rtol=2.4e-7, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-12)
            np.testing.assert_allclose(got[fin], want[fin], **tol)
            np.testing.assert_allclose(np.exp(got.astype(np.float64)).sum(axis=1), 1.0, rtol=1e-5)


def test_log_softmax_stable_and_edge_rows():
    lg = np.array([[1e4, 1e4 - 1.0, -1e4], [-np.inf] * 3, [0.0, np.inf, -np.inf], [np.nan, 0.0, 0.0]])
    out = np.empty_like(lg)
    log_softmax(lg, out)
    want = np.empty_like(lg)
    log_softmax_ref(lg, want)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[0, :2], [-np.log1p(np.exp(-1.0)), -1.0 - np.log1p(np.exp(-1.0))])
    np.testing.assert_allclose(out[1], np.full(3, -np.log(3.0)))
    assert out[2].tolist() == [-np.inf, 0.0, -np.inf]
    np.testing.assert_allclose(out[3], [-np.inf, -np.log(2.0), -np.log(2.0)])


# --- Sampler: reproducible, allocation-free --------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_sampler_same_seed_same_draws(shape):
    rng = np.random.default_rng(99)
    lg = rng.normal(0.0, 1.0, (50, *shape)).astype(np.float32)
    a, b, c = Sampler(*shape, seed=7), Sampler(*shape, seed=7), Sampler(*shape, seed=8)
    ref_rng = np.random.Generator(np.random.PCG64(7))
    want = np.empty(shape[0], dtype=np.int64)
    da, dc = [], []
    for step in lg:
        x = a.draw(step, temperature=0.8, top_k=10, top_p=0.95).copy()
        assert x.tolist() == b.draw(step, temperature=0.8, top_k=10, top_p=0.95).tolist()
        sample_ref(step, 0.8, 10, 0.95, 0.0, ref_rng.random(shape[0]), want)
        assert x.tolist() == want.tolist()
        da.append(x)
        dc.append(c.draw(step, temperature=0.8, top_k=10, top_p=0.95).copy())
    if shape[1] > 2 or shape[0] > 1:
        assert not np.array_equal(da, dc)   # another seed, other draws


def test_rows_are_independent():
    # Streaming equals one-shot: a batch of rollouts draws what each row drawn alone would.
    rng = np.random.default_rng(5)
    lg = rng.normal(0.0, 1.5, (16, 157)).astype(np.float32)
    u = rng.random(16)
    order, weights = scratch(157)
    batch = np.empty(16, dtype=np.int64)
    sample(lg, 1.2, 20, 0.9, 0.02, u, batch, order, weights)
    one = np.empty(1, dtype=np.int64)
    for r in range(16):
        sample(lg[r:r + 1], 1.2, 20, 0.9, 0.02, u[r:r + 1], one, order, weights)
        assert one[0] == batch[r]


def test_sampler_draw_allocates_nothing():
    s = Sampler(16, 157, seed=1)
    lg = np.random.default_rng(2).normal(size=(16, 157)).astype(np.float32)
    mask = np.ones(157, dtype=np.bool_)
    s.draw(lg, top_k=20, top_p=0.9, mask=mask)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            res = s.draw(lg, top_k=20, top_p=0.9, mask=mask)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res is s.out
    # An array per call would show as >= 128 B (16 int64) per draw; a few dispatch temporaries
    # (small Python objects freed at once) is all we allow.
    assert peak - base < 2048 and current - base < 512, (peak - base, current - base)


def test_sampler_checks_shapes():
    s = Sampler(4, 13, seed=0)
    with pytest.raises(ValueError, match=r"\(4, 13\)"):
        s.draw(np.zeros((4, 12), dtype=np.float32))
    with pytest.raises(ValueError, match="mask"):
        s.draw(np.zeros((4, 13), dtype=np.float32), mask=np.ones(12, dtype=np.bool_))
    with pytest.raises(ValueError):
        Sampler(0, 13, seed=0)
    lg = np.random.default_rng(1).normal(size=(4, 13)).astype(np.float32)
    assert s.draw(lg).tolist() == Sampler(4, 13, seed=0).draw(lg).tolist()   # refusals drew nothing


def test_sampler_counts_mask_fallbacks():
    s = Sampler(2, 3, seed=0)
    lg = np.zeros((2, 3), dtype=np.float32)
    for _ in range(50):
        d = s.draw(lg, mask=np.array([[0, 1, 0], [0, 0, 0]], dtype=np.uint8))
        assert d[0] == 1
    assert s.mask_fallbacks == 50


# --- distributions --------------------------------------------------------------------

def chi2_critical(df, z=3.719):
    """Wilson-Hilferty upper quantile of chi-square(df); z = 3.719 is alpha = 1e-4."""
    a = 2.0 / (9.0 * df)
    return df * (1.0 - a + z * np.sqrt(a)) ** 3


def draw_counts(lg, n_draws, seed, **kw):
    s = Sampler(16, lg.shape[0], seed=seed)
    batch = np.tile(lg, (16, 1))
    counts = np.zeros(lg.shape[0], dtype=np.int64)
    for _ in range(n_draws // 16):
        counts += np.bincount(s.draw(batch, **kw), minlength=lg.shape[0])
    return counts


def fits(counts, p):
    """Chi-square goodness of fit at alpha = 1e-4, over classes with expected count >= 5."""
    n = counts.sum()
    big = n * p >= 5.0
    assert counts[~big].sum() <= max(20, 4 * n * p[~big].sum())   # rare classes stay rare
    assert big.sum() >= 2
    stat = ((counts[big] - n * p[big]) ** 2 / (n * p[big])).sum()
    return stat < chi2_critical(big.sum() - 1), stat


@pytest.mark.parametrize("n", [2, 13, 157])
def test_empirical_distribution_matches_softmax(n):
    rng = np.random.default_rng(n)
    lg = rng.normal(0.0, 1.0, n).astype(np.float32)
    counts = draw_counts(lg, 20_000, seed=11)
    p = softmax(lg)
    # With N = 20,000, sd(p_hat) = sqrt(p(1-p)/N) <= 0.0035: 0.01 is >= 2.8 sd for any class.
    assert np.abs(counts / counts.sum() - p).max() < 0.01
    ok, stat = fits(counts, p)
    assert ok, stat
    # The same draws must fail against a slightly different temperature: the check has power.
    assert not fits(counts, softmax(lg, 1.3))[0]


def test_empirical_distribution_after_filters():
    lg = np.random.default_rng(5).normal(0.0, 1.0, 13).astype(np.float32)
    p = softmax(lg, 1.5)
    order = np.argsort(-lg, kind="stable")
    keep = order[:5]                                   # top_k = 5
    q = np.zeros(13)
    q[keep] = p[keep] / p[keep].sum()
    nucleus = order[:np.searchsorted(np.cumsum(q[order]), 0.8) + 1]
    want = np.zeros(13)
    want[nucleus] = q[nucleus] / q[nucleus].sum()
    assert len(nucleus) == 4                           # both filters cut something
    counts = draw_counts(lg, 20_000, seed=12, temperature=1.5, top_k=5, top_p=0.8)
    assert counts[want == 0].sum() == 0
    ok, stat = fits(counts, want)
    assert ok, stat


def test_repetition_penalty_lowers_repeats():
    n = 13
    lg = np.random.default_rng(4).normal(0.0, 1.0, (16, n)).astype(np.float32)
    lg[:, 5] = 1.5      # the class the history repeats, likely to begin with
    hist = np.tile(np.array([-1, 2, 5, 5, 9]), (16, 1))
    pen = np.empty_like(lg)
    repetition_penalty(lg, hist, 4, 1.8, pen)
    p0, p1 = softmax(lg), softmax(pen)
    assert (pen[:, [2, 5, 9]] < lg[:, [2, 5, 9]]).all()
    # Single repeated classes may gain when another loses more; the repeated set always loses.
    assert (p1[:, [2, 5, 9]].sum(axis=1) < p0[:, [2, 5, 9]].sum(axis=1)).all()
    assert (p1[:, [0, 1, 3, 4, 6, 7, 8, 10, 11, 12]] > p0[:, [0, 1, 3, 4, 6, 7, 8, 10, 11, 12]]).all()
    s0, s1 = Sampler(16, n, seed=3), Sampler(16, n, seed=3)
    rep0 = rep1 = 0
    for _ in range(500):
        rep0 += np.isin(s0.draw(lg), [2, 5, 9]).sum()
        rep1 += np.isin(s1.draw(pen), [2, 5, 9]).sum()
    # 8,000 draws each: the expected drop (~0.45 -> ~0.25 of draws) is > 20 sd.
    assert rep1 < 0.75 * rep0, (rep0, rep1)


def test_uniform_zero_is_argmax_and_small_u_stays_likely():
    lg = np.random.default_rng(8).normal(0.0, 1.0, (16, 157)).astype(np.float32)
    out = np.empty(16, dtype=np.int64)
    order, weights = scratch(157)
    for temperature in (0.2, 1.0, 5.0):
        sample(lg, temperature, 0, 1.0, 0.0, np.zeros(16), out, order, weights)
        assert out.tolist() == lg.argmax(axis=1).tolist()


# --- properties (hypothesis) ------------------------------------------------------------

def _kept(lg_row, temperature, top_k, top_p, min_p):
    """Independent (normalised-probability) reading of the filters: p, rank, kept-with-slack."""
    n = lg_row.size
    row = np.where(np.isnan(lg_row), -np.inf, lg_row.astype(np.float64))
    srt = np.argsort(-row, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[srt] = np.arange(n)
    if np.isneginf(row).all():
        row = np.zeros(n)
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.where(row == row.max(), 1.0, np.exp((row - row.max()) / temperature))
    p = x / x.sum()
    k = n if top_k <= 0 or top_k >= n else top_k
    q = np.where(rank < k, p, 0.0)
    q /= q.sum()
    before = np.cumsum(q[srt])[rank] - q        # mass strictly ahead of each class
    ok = (rank < k) & (p > 0)
    if top_p < 1.0:
        ok &= (before < top_p + 1e-9) | (rank == 0)
    if min_p > 0.0:
        ok &= (p >= min_p * p.max() * (1 - 1e-9)) | (rank == 0)
    return p, rank, ok


if given is not None:
    logit = st.one_of(st.floats(-30, 30, width=32, allow_subnormal=False), st.just(-np.inf))

    @st.composite
    def cases(draw):
        n_rows = draw(st.integers(1, 6))
        n = draw(st.integers(1, 40))
        flat = draw(st.lists(logit, min_size=n_rows * n, max_size=n_rows * n))
        lg = np.array(flat, dtype=np.float32).reshape(n_rows, n)
        u = np.array(draw(st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=n_rows, max_size=n_rows)))
        temperature = draw(st.one_of(st.just(0.0), st.floats(0.05, 5.0)))
        top_k = draw(st.integers(0, n + 1))
        top_p = draw(st.one_of(st.just(1.0), st.floats(0.0, 1.0)))
        min_p = draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0)))
        return lg, u, temperature, top_k, top_p, min_p

    prop = settings(max_examples=300, deadline=None, derandomize=True)

    @prop
    @given(cases())
    def test_prop_parity_and_filters_respected(case):
        lg, u, temperature, top_k, top_p, min_p = case
        n_rows, n = lg.shape
        got = np.empty(n_rows, dtype=np.int64)
        want = np.empty(n_rows, dtype=np.int64)
        sample(lg, temperature, top_k, top_p, min_p, u, got, *scratch(n))
        sample_ref(lg, temperature, top_k, top_p, min_p, u, want)
        assert got.tolist() == want.tolist()
        for r in range(n_rows):
            if temperature <= 0.0 or top_k == 1:
                assert got[r] == np.argmax(lg[r])
                continue
            p, rank, ok = _kept(lg[r], temperature, top_k, top_p, min_p)
            assert ok[got[r]], (r, got[r], p, rank)
            assert p[got[r]] > 0.0

    @prop
    @given(cases())
    def test_prop_greedy_limits(case):
        lg, u, temperature, _, top_p, min_p = case
        n_rows, n = lg.shape
        out = np.empty(n_rows, dtype=np.int64)
        order, weights = scratch(n)
        argmax = lg.argmax(axis=1).tolist()
        sample(lg, max(temperature, 0.05), 1, top_p, min_p, u, out, order, weights)
        assert out.tolist() == argmax                                  # top_k = 1
        sample(lg, 0.0, 0, top_p, min_p, u, out, order, weights)
        assert out.tolist() == argmax                                  # temperature 0
        sample(lg, max(temperature, 0.05), 0, top_p, min_p, np.zeros(n_rows), out, order, weights)
        assert out.tolist() == argmax                                  # u = 0
        sample(lg, 1e-300, 0, 1.0, 0.0, u, out, order, weights)        # temperature -> 0
        assert (lg[np.arange(n_rows), out] == lg.max(axis=1)).all()

    @prop
    @given(cases())
    def test_prop_nucleus_09(case):
        lg, u, temperature, _, _, _ = case
        n_rows, n = lg.shape
        out = np.empty(n_rows, dtype=np.int64)
        sample(lg, max(temperature, 0.05), 0, 0.9, 0.0, u, out, *scratch(n))
        for r in range(n_rows):
            _, _, ok = _kept(lg[r], max(temperature, 0.05), 0, 0.9, 0.0)
            assert ok[out[r]]

    @prop
    @given(cases(), st.data())
    def test_prop_masks_respected(case, data):
        lg, u, temperature, top_k, top_p, min_p = case
        n_rows, n = lg.shape
        flat = data.draw(st.lists(st.booleans(), min_size=n_rows * n, max_size=n_rows * n))
        mask = np.array(flat).reshape(n_rows, n)
        masked = np.empty_like(lg)
        fallbacks = apply_mask(lg, mask, masked)
        out = np.empty(n_rows, dtype=np.int64)
        sample(masked, temperature, top_k, top_p, min_p, u, out, *scratch(n))
        usable = (mask & (lg > -np.inf)).any(axis=1)
        assert fallbacks == (~usable).sum()
        for r in range(n_rows):
            assert mask[r, out[r]] or not usable[r]
            assert not np.isneginf(masked[r]).all() or np.isneginf(lg[r]).all()
else:
    @pytest.mark.skip(reason="hypothesis is not installed (pip install hypothesis)")
    def test_properties_need_hypothesis():
        pass
