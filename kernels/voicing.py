"""Voice-led comping: the chord voicing nearest the previous one.

A voicing is n = 3 or 4 distinct MIDI notes, ascending, all in [low, high], spread (top -
bottom) <= MAX_SPREAD, each a chord tone. Pitch content, by chord-tone slot (root, 3rd, 5th,
7th/6th; the sus tone counts as the 3rd):
  triad, n=3: root, 3rd, 5th.
  triad, n=4: root, 3rd, 5th plus a doubled root, or a doubled 5th at DOUBLED_FIFTH_PENALTY.
  4-note, n=4: all four.
  4-note, n=3: 3rd and 7th plus either the root or the 5th (rootless allowed).
Cost: sum |out[i] - prev[i]| over voices in sorted order; with no previous voicing,
|mean(out) - (low + high) / 2|. Costs are compared exactly (in integers); ties go to the
smaller spread, then the lexicographically lowest voicing. Thread: any; allocates nothing.
"""

from __future__ import annotations

from itertools import combinations

import numba
import numpy as np

from .chords import QUALITY_INTERVALS, QUALITY_NTONES

MAX_SPREAD = 19
DOUBLED_FIFTH_PENALTY = 1  # semitones of movement a doubled root is worth over a doubled 5th
_NO_VOICING = 1 << 62


@numba.njit(nogil=True, cache=True)
def _slot(note, root, quality):
    """Chord-tone slot (0 root .. 3 seventh) of a MIDI note, or -1."""
    iv = (note - root) % 12
    for i in range(QUALITY_NTONES[quality]):
        if QUALITY_INTERVALS[quality, i] == iv:
            return i
    return -1


@numba.njit(nogil=True, cache=True)
def _penalty(root, quality, n, a, b, c, d):
    """Content penalty (0 or DOUBLED_FIFTH_PENALTY), or -1 if the content is not allowed."""
    c0 = 0
    c1 = 0
    c2 = 0
    c3 = 0
    for k in range(n):
        note = a if k == 0 else (b if k == 1 else (c if k == 2 else d))
        s = _slot(note, root, quality)
        if s == 0:
            c0 += 1
        elif s == 1:
            c1 += 1
        elif s == 2:
            c2 += 1
        else:
            c3 += 1
    if QUALITY_NTONES[quality] == 3:
        if c1 != 1 or c0 < 1 or c2 < 1:
            return -1
        return DOUBLED_FIFTH_PENALTY if c2 == 2 else 0
    if c1 != 1 or c3 != 1:
        return -1
    if n == 4:
        return 0 if (c0 == 1 and c2 == 1) else -1
    return 0 if c0 + c2 == 1 else -1


@numba.njit(nogil=True, cache=True)
def _cost(prev, low, high, n, pen, a, b, c, d):
    """Integer cost: movement + penalty, or 2n-scaled distance from the range centre."""
    if prev[0] < 0:
        dist = abs(2 * (a + b + c + (d if n == 4 else 0)) - n * (low + high))
        return dist + 2 * n * pen
    m = abs(a - prev[0]) + abs(b - prev[1]) + abs(c - prev[2])
    if n == 4:
        m += abs(d - prev[3])
    return m + pen


@numba.njit(nogil=True, cache=True)
def voice_chord(root, quality, prev, low, high, out):
    """Write the best voicing of (root, quality) into out (int64[3 or 4]); return its cost.

    prev: previous voicing (same length, ascending MIDI) or all -1; must not alias out.
    Returns inf with out filled with -1 when no voicing fits in [low, high].
    Raises: ValueError if len(out) is not 3 or 4.
    """
    n = out.shape[0]
    if n != 3 and n != 4:
        raise ValueError("voice_chord: out must have 3 or 4 voices")
    best = _NO_VOICING  # cost * 32 + spread: one exact key for cost, then spread
    lo = max(low, 0)
    for a in range(lo, high + 1):
        if _slot(a, root, quality) < 0:
            continue
        top = min(high, a + MAX_SPREAD)
        for b in range(a + 1, top + 1):
            if _slot(b, root, quality) < 0:
                continue
            for c in range(b + 1, top + 1):
                if _slot(c, root, quality) < 0:
                    continue
                if n == 3:
                    pen = _penalty(root, quality, 3, a, b, c, -1)
                    if pen >= 0:
                        key = _cost(prev, low, high, 3, pen, a, b, c, -1) * 32 + c - a
                        if key < best:
                            best = key
                            out[0] = a
                            out[1] = b
                            out[2] = c
                    continue
                for d in range(c + 1, top + 1):
                    if _slot(d, root, quality) < 0:
                        continue
                    pen = _penalty(root, quality, 4, a, b, c, d)
                    if pen >= 0:
                        key = _cost(prev, low, high, 4, pen, a, b, c, d) * 32 + d - a
                        if key < best:
                            best = key
                            out[0] = a
                            out[1] = b
                            out[2] = c
                            out[3] = d
    if best == _NO_VOICING:
        for i in range(n):
            out[i] = -1
        return np.inf
    if prev[0] < 0:
        return (best // 32) / (2.0 * n)
    return float(best // 32)


def voice_chord_ref(root, quality, prev, low, high, out):
    """Brute-force reference for voice_chord: filter chord tones, try every combination."""
    n = len(out)
    ivs = [int(iv) for iv in QUALITY_INTERVALS[quality] if iv >= 0]
    slot_of = {(root + iv) % 12: i for i, iv in enumerate(ivs)}
    notes = [p for p in range(max(low, 0), high + 1) if p % 12 in slot_of]
    best, best_v, best_spread = None, None, 0
    for v in combinations(notes, n):
        if v[-1] - v[0] > MAX_SPREAD:
            continue
        counts = [0, 0, 0, 0]
        for p in v:
            counts[slot_of[p % 12]] += 1
        r, third, fifth, seventh = counts
        if len(ivs) == 3:
            if third != 1 or r < 1 or fifth < 1:
                continue
            pen = DOUBLED_FIFTH_PENALTY if fifth == 2 else 0
        elif third != 1 or seventh != 1 or (r + fifth != (2 if n == 4 else 1)) or (
                n == 4 and r != 1):
            continue
        else:
            pen = 0
        if prev[0] < 0:
            cost = abs(sum(v) / n - (low + high) / 2) + pen
        else:
            cost = float(sum(abs(p - q) for p, q in zip(v, prev, strict=False)) + pen)
        spread = v[-1] - v[0]
        if best is None or cost < best - 1e-9 or (cost <= best + 1e-9 and spread < best_spread):
            best, best_v, best_spread = cost, v, spread
    if best is None:
        out[:] = -1
        return np.inf
    out[:] = best_v
    return best
