"""Mastering dynamics: EQ biquads, a compressor's gain and a true-peak limiter's gain.

- :func:`rbj_highpass`, :func:`rbj_shelf`: biquads from the Audio EQ Cookbook (R.
  Bristow-Johnson), in the (b0 b1 b2 a0 a1 a2) rows ``kernels.loudness.biquad_cascade``
  runs.
- :func:`compressor_gain`: a feed-forward compressor, linked across channels: peak
  detector with attack/release smoothing in dB, soft knee; the gain (linear) per sample.
- :func:`limiter_gain`: from the gain each sample needs (ceiling / its oversampled peak,
  at most 1), a gain that is never above it anywhere: a sliding minimum over +-``look``
  samples, a release that lets the gain recover slowly, and a moving average of
  ``look`` samples that turns steps into ramps. Offline, the look-ahead costs no latency.

Each kernel has a numpy (or plain Python) reference below it. Thread: any.
"""

from __future__ import annotations

import math

import numba
import numpy as np


def rbj_highpass(f0: float, sr: float, q: float = 0.7071) -> np.ndarray:
    w = 2 * math.pi * f0 / sr
    alpha = math.sin(w) / (2 * q)
    cw = math.cos(w)
    return np.array([(1 + cw) / 2, -(1 + cw), (1 + cw) / 2, 1 + alpha, -2 * cw, 1 - alpha])


def rbj_shelf(f0: float, sr: float, gain_db: float, high: bool, slope: float = 1.0) -> np.ndarray:
    a = 10 ** (gain_db / 40)
    w = 2 * math.pi * f0 / sr
    cw, sw = math.cos(w), math.sin(w)
    alpha = sw / 2 * math.sqrt((a + 1 / a) * (1 / slope - 1) + 2)
    r = 2 * math.sqrt(a) * alpha
    if high:
        return np.array([a * ((a + 1) + (a - 1) * cw + r), -2 * a * ((a - 1) + (a + 1) * cw),
                         a * ((a + 1) + (a - 1) * cw - r), (a + 1) - (a - 1) * cw + r,
                         2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - r])
    return np.array([a * ((a + 1) - (a - 1) * cw + r), 2 * a * ((a - 1) - (a + 1) * cw),
                     a * ((a + 1) - (a - 1) * cw - r), (a + 1) + (a - 1) * cw + r,
                     -2 * ((a - 1) + (a + 1) * cw), (a + 1) + (a - 1) * cw - r])


@numba.njit(nogil=True, cache=True)
def compressor_gain(x, sr, thresh_db, ratio, knee_db, attack_s, release_s, out):
    """Linear gain per sample for ``x`` (n, ch): peak of the channels, level in dB smoothed
    (attack when rising, release when falling), soft-knee static curve. ``out``: float64[n]."""
    att = math.exp(-1.0 / (attack_s * sr))
    rel = math.exp(-1.0 / (release_s * sr))
    n, ch = x.shape
    level = -120.0
    half = knee_db / 2.0
    slope = 1.0 - 1.0 / ratio
    for i in range(n):
        p = 0.0
        for c in range(ch):
            v = abs(x[i, c])
            if v > p:
                p = v
        db = 20.0 * math.log10(p) if p > 1e-6 else -120.0
        k = att if db > level else rel
        level = k * level + (1.0 - k) * db
        over = level - thresh_db
        if over <= -half:
            red = 0.0
        elif over >= half:
            red = slope * over
        else:
            red = slope * (over + half) ** 2 / (2.0 * knee_db)
        out[i] = 10.0 ** (-red / 20.0)
    return out


def compressor_gain_ref(x, sr, thresh_db, ratio, knee_db, attack_s, release_s):
    att, rel = math.exp(-1 / (attack_s * sr)), math.exp(-1 / (release_s * sr))
    p = np.abs(x).max(axis=1)
    db = np.where(p > 1e-6, 20 * np.log10(np.maximum(p, 1e-12)), -120.0)
    out = np.empty(len(p))
    level = -120.0
    for i, d in enumerate(db):
        k = att if d > level else rel
        level = k * level + (1 - k) * d
        over = level - thresh_db
        if over <= -knee_db / 2:
            red = 0.0
        elif over >= knee_db / 2:
            red = (1 - 1 / ratio) * over
        else:
            red = (1 - 1 / ratio) * (over + knee_db / 2) ** 2 / (2 * knee_db)
        out[i] = 10 ** (-red / 20)
    return out


@numba.njit(nogil=True, cache=True)
def limiter_gain(need, look, release, out):
    """A smooth gain <= ``need`` everywhere (``need``: float64[n] in (0, 1]).

    ``look``: samples of look-ahead/hold each side; ``release``: per-sample one-pole
    coefficient for recovery (0 = instant). ``out``: float64[n]; needs 2 scratch passes
    over it, so it must not alias ``need``.
    """
    n = need.shape[0]
    # sliding minimum over [i - look, i + look] (a monotonic queue, O(n))
    q = np.empty(n, np.int64)
    head = 0
    tail = 0
    j = 0
    for i in range(n):
        hi = i + look
        while j < n and j <= hi:
            while tail > head and need[q[tail - 1]] >= need[j]:
                tail -= 1
            q[tail] = j
            tail += 1
            j += 1
        while q[head] < i - look:
            head += 1
        out[i] = need[q[head]]
    # release: fall at once (the hold already anticipates), rise slowly
    g = 1.0
    for i in range(n):
        m = out[i]
        g = m if m < g else release * g + (1.0 - release) * m
        out[i] = g
    # moving average over look + 1 samples centred on i: steps become ramps
    w = look + 1
    half = look // 2
    acc = 0.0
    tmp = np.empty(n + w, np.float64)
    for i in range(n + w):
        src = i - w + half + 1  # window [src - w + 1 .. src], centred on i - w + ...
        tmp[i] = out[min(max(src, 0), n - 1)]
    for i in range(w):
        acc += tmp[i]
    for i in range(n):
        out[i] = acc / w
        acc += tmp[i + w] - tmp[i]
    return out


def limiter_gain_ref(need, look, release):
    n = len(need)
    padded = np.concatenate([np.full(look, np.inf), need, np.full(look, np.inf)])
    held = np.lib.stride_tricks.sliding_window_view(padded, 2 * look + 1).min(axis=1)
    g, rel = 1.0, np.empty(n)
    for i, m in enumerate(held):
        g = m if m < g else release * g + (1 - release) * m
        rel[i] = g
    w, half = look + 1, look // 2
    idx = np.clip(np.arange(n + w) - w + half + 1, 0, n - 1)
    tmp = rel[idx]
    c = np.concatenate([[0.0], np.cumsum(tmp)])
    return (c[w:w + n] - c[:n]) / w
