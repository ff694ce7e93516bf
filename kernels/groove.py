"""Groove: drum hits drawn from step-probability grids, thinned or filled by a density.

``groove_hits`` takes, for each bar, voice and step, the probability the style's grid
gives a hit there (0 = no hit written), a probability for an *added* hit where the
grid has none (used only when density > 0.5), the velocity, and two uniform draws per
cell (the caller draws them from a seeded generator, so the same seed gives the same
groove and the numpy reference sees the very same numbers). Density 0.5 plays the
grid as written; towards 0 written hits drop out, towards 1 they all play and the
added ones come in:

    p = p_grid * density / 0.5                             density <= 0.5
    p = p_grid + (1 - p_grid) * e  (p_grid > 0), p_add * e  density > 0.5, e = (density - 0.5) / 0.5

A cell plays when its first draw is below ``p``; ``p`` never falls as density rises, so
with the same draws a higher density never loses a hit (the hit count is monotonic).
The velocity is the written one, scaled by 0.9..1.1 with the second draw.

Pure; releases the GIL; writes only ``out``. Thread: any (the studio's control thread).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def hit_probability(p_grid, p_add, density):
    """The chance a cell plays at ``density`` (the module's rule): ``p_grid`` the grid's
    probability there (0 = no hit written), ``p_add`` an added hit's where it has none.
    The live band calls it per written hit; ``groove_hits`` per cell."""
    d = min(max(density, 0.0), 1.0)
    if d <= 0.5:
        return p_grid * d / 0.5
    e = (d - 0.5) / 0.5
    return p_grid + (1.0 - p_grid) * e if p_grid > 0.0 else p_add * e


@numba.njit(nogil=True, cache=True)
def groove_hits(prob, add, vel, density, u, v, out):
    """prob, add: float64 (bars, voices, steps); vel: int64 same shape; u, v: float64
    draws in [0, 1), same shape; out: int64 same shape <- velocity of each hit, 0 = none.
    Returns the number of hits."""
    bars, voices, steps = prob.shape
    n = 0
    for b in range(bars):
        for k in range(voices):
            for s in range(steps):
                p = hit_probability(prob[b, k, s], add[b, k, s], density)
                if u[b, k, s] < p:
                    x = int(vel[b, k, s] * (0.9 + 0.2 * v[b, k, s]) + 0.5)
                    out[b, k, s] = min(127, max(1, x))
                    n += 1
                else:
                    out[b, k, s] = 0
    return n


def groove_hits_ref(prob, add, vel, density, u, v):
    """Plain numpy reference of :func:`groove_hits`; returns (out, count)."""
    d = float(np.clip(density, 0.0, 1.0))
    if d <= 0.5:
        p = prob * d / 0.5
    else:
        e = (d - 0.5) / 0.5
        p = np.where(prob > 0.0, prob + (1.0 - prob) * e, add * e)
    hit = u < p
    x = np.clip(np.floor(vel * (0.9 + 0.2 * v) + 0.5).astype(np.int64), 1, 127)
    out = np.where(hit, x, 0).astype(np.int64)
    return out, int(hit.sum())
