"""Online key estimation: a decayed pitch-class histogram correlated with Krumhansl-Kessler.

Explicit state: the caller owns ``state`` (float64[12]) and feeds it note by note with
``key_update``; ``key_estimate`` only reads it. Thread: whichever thread owns the state
(the listener); both kernels are pure apart from ``state``, release the GIL and allocate nothing.
"""

from __future__ import annotations

import numba
import numpy as np

KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# Centred, unit-norm profiles: correlation then needs only the state's own centring.
_PROFILES = np.stack([KK_MAJOR, KK_MINOR])
_PROFILES = _PROFILES - _PROFILES.mean(axis=1, keepdims=True)
_PROFILES = _PROFILES / np.sqrt((_PROFILES ** 2).sum(axis=1, keepdims=True))
TIE_EPS = 1e-9  # correlations this close count as tied


@numba.njit(nogil=True, cache=True)
def key_update(state, pc, weight, decay):
    """Fade the histogram by decay, then add weight at pc (0..11, unchecked). In place."""
    for i in range(12):
        state[i] *= decay
    state[pc] += weight


def key_update_ref(state, pc, weight, decay):
    """Reference for key_update."""
    state *= decay
    state[pc] += weight


@numba.njit(nogil=True, cache=True)
def key_estimate(state):
    """(tonic, mode, confidence): mode 0 major, 1 minor; confidence = best - second correlation.

    A flat state (all zero, or all equal) carries no key: (-1, -1, 0.0).
    Ties within TIE_EPS go to major before minor, then the lowest tonic.
    """
    mean = 0.0
    for i in range(12):
        mean += state[i]
    mean /= 12.0
    ss = 0.0
    for i in range(12):
        ss += (state[i] - mean) ** 2
    if ss <= 1e-24 * (1.0 + mean * mean):
        return -1, -1, 0.0
    norm = np.sqrt(ss)
    best = -np.inf
    second = -np.inf
    for mode in range(2):
        for t in range(12):
            c = 0.0
            for i in range(12):
                c += (state[i] - mean) * _PROFILES[mode, (i - t) % 12]
            c /= norm
            if c > best:
                second = best
                best = c
            elif c > second:
                second = c
    for mode in range(2):
        for t in range(12):
            c = 0.0
            for i in range(12):
                c += (state[i] - mean) * _PROFILES[mode, (i - t) % 12]
            if c / norm >= best - TIE_EPS:
                return t, mode, best - second
    return -1, -1, 0.0  # unreachable


_ROTATED = np.stack([np.roll(p, t) for p in (KK_MAJOR, KK_MINOR) for t in range(12)])


def key_estimate_ref(state):
    """numpy reference for key_estimate via np.corrcoef of the 24 rotated raw profiles."""
    s = np.asarray(state, dtype=np.float64)
    if np.sum((s - s.mean()) ** 2) <= 1e-24 * (1.0 + s.mean() ** 2):
        return -1, -1, 0.0
    corr = np.corrcoef(s, _ROTATED)[0, 1:]
    top = np.sort(corr)
    k = int(np.flatnonzero(corr >= top[-1] - TIE_EPS)[0])
    return k % 12, k // 12, float(top[-1] - top[-2])
