"""Voice-led comping: the chord voicing nearest the previous one.

Three kernels, each with a brute-force plain-Python reference (``*_ref``) for its tests:

- :func:`voice_chord`: the nearest voicing of any shape (spread up to MAX_SPREAD); the
  studio's arranger uses it. Described just below.
- :func:`voice_kind`: the nearest voicing of one *kind*: close, open, drop-2, shell or
  rootless (the kinds a style's comp and pad parts name; see "Kinds" below).
- :func:`voice_satb`: four-part chorale writing (bass, tenor, alto, soprano), no
  parallel fifths or octaves.

All three write into a caller's ``out`` array, allocate nothing and may run on any
thread. ``voice_kind`` and ``voice_satb`` never raise: a request they cannot meet
returns a status (inf, or SATB_NONE) with ``out`` filled with -1.

``voice_chord``
---------------
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
from .ensemble import is_parallel

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


# --- voicing kinds: close, open, drop-2, shell, rootless ------------------------------
#
# A kind is a shape rule on top of voice_chord's content rules. Voices are ascending
# MIDI notes out[0] < out[1] < ..., all chord tones inside [low, high]; n = len(out).
#
#   close    n = 3 or 4: the whole voicing inside an octave (top - bottom <= CLOSE_SPAN).
#   open     n = 3 or 4: spread over more than an octave and at most two (OPEN_SPAN), every
#            pair of neighbours a 3rd to an octave apart (OPEN_GAP): no clusters, no holes.
#   drop2    n = 3 or 4: a close voicing with its second voice from the top dropped an
#            octave: the lowest note, an octave up, sits just under the top note, and the
#            rest lie inside an octave.
#   shell    n = 3: the root at the bottom, the 3rd and the 7th above it in either order,
#            within a 10th (SHELL_SPAN); a triad's 5th stands in for the missing 7th.
#   rootless n = 2: the guide tones alone, the 3rd and the 7th (a triad: 3rd and 5th); the
#            bass has the root. They lie within an octave, so they alternate by step.
#
# Content (which chord tones, what may double) is voice_chord's, with DOUBLED_FIFTH_PENALTY.
# Cost and ties as voice_chord: the movement from ``prev`` (same length, or -1s: the
# distance of the mean from the range's middle), then the smaller spread, then the
# lexicographically lowest voicing.

KINDS = ("close", "open", "drop2", "shell", "rootless")
CLOSE, OPEN, DROP2, SHELL, ROOTLESS = range(5)
#: voices each kind plays, for a comp part and for a pad part
KIND_VOICES = {"close": (3, 4), "open": (3, 4), "drop2": (4, 4), "shell": (3, 3), "rootless": (2, 2)}
CLOSE_SPAN = 12
OPEN_SPAN = (13, 24)
OPEN_GAP = (3, 12)
SHELL_SPAN = 16  # root to the 3rd above the octave: a 10th
KIND_MAX_SPAN = 24  # no kind spreads wider: bounds the search


@numba.njit(nogil=True, cache=True)
def _kind_fits(kind, n):
    if kind == CLOSE or kind == OPEN or kind == DROP2:
        return n == 3 or n == 4
    if kind == SHELL:
        return n == 3
    if kind == ROOTLESS:
        return n == 2
    return False


@numba.njit(nogil=True, cache=True)
def _gap_ok(g):
    return OPEN_GAP[0] <= g <= OPEN_GAP[1]


@numba.njit(nogil=True, cache=True)
def _shape_ok(kind, n, a, b, c, d):
    top = b if n == 2 else (c if n == 3 else d)
    spread = top - a
    if kind == CLOSE or kind == ROOTLESS:
        return spread <= CLOSE_SPAN
    if kind == SHELL:
        return spread <= SHELL_SPAN
    if kind == OPEN:
        if spread < OPEN_SPAN[0] or spread > OPEN_SPAN[1] or not _gap_ok(b - a):
            return False
        if n >= 3 and not _gap_ok(c - b):
            return False
        return n < 4 or _gap_ok(d - c)
    if kind == DROP2:
        under_top = b if n == 3 else c
        up = a + 12
        return under_top < up < top and top - b <= CLOSE_SPAN
    return False


@numba.njit(nogil=True, cache=True)
def _guide_pair(root, quality, x, y):
    """True when x and y are the 3rd and the 7th (a triad: the 3rd and the 5th), either order."""
    other = 3 if QUALITY_NTONES[quality] == 4 else 2
    sx = _slot(x, root, quality)
    sy = _slot(y, root, quality)
    return (sx == 1 and sy == other) or (sx == other and sy == 1)


@numba.njit(nogil=True, cache=True)
def _kind_penalty(kind, root, quality, n, a, b, c, d):
    """Content penalty of a voicing of this kind, or -1 if its notes are not allowed."""
    if n == 2:
        return 0 if _guide_pair(root, quality, a, b) else -1
    if kind == SHELL:
        return 0 if _slot(a, root, quality) == 0 and _guide_pair(root, quality, b, c) else -1
    return _penalty(root, quality, n, a, b, c, d)


@numba.njit(nogil=True, cache=True)
def _kind_key(kind, root, quality, prev, has_prev, low, high, n, a, b, c, d):
    """(integer cost) * 64 + spread, or -1 when the voicing breaks a rule of its kind."""
    if not _shape_ok(kind, n, a, b, c, d):
        return -1
    pen = _kind_penalty(kind, root, quality, n, a, b, c, d)
    if pen < 0:
        return -1
    top = b if n == 2 else (c if n == 3 else d)
    if has_prev:
        m = abs(a - prev[0]) + abs(b - prev[1])
        if n >= 3:
            m += abs(c - prev[2])
        if n == 4:
            m += abs(d - prev[3])
        cost = m + pen
    else:
        total = a + b + (c if n >= 3 else 0) + (d if n == 4 else 0)
        cost = abs(2 * total - n * (low + high)) + 2 * n * pen
    return cost * 64 + top - a


@numba.njit(nogil=True, cache=True)
def voice_kind(kind, root, quality, prev, low, high, out):
    """Write the voicing of ``kind`` (CLOSE .. ROOTLESS) nearest ``prev`` into ``out``.

    out: int64[n], n as the kind allows (KIND_VOICES); prev: the previous voicing of the
    same length (ascending MIDI), or -1s / another length for none; must not alias out.
    Returns the cost: the movement in semitones (plus DOUBLED_FIFTH_PENALTY), or with no
    previous voicing the distance of the mean from the range's middle (plus the penalty).
    Never raises: returns inf with ``out`` all -1 when nothing fits (a range too narrow, a
    kind that cannot have n voices, no chord). Thread: any; allocates nothing.
    """
    n = out.shape[0]
    for i in range(n):
        out[i] = -1
    if not _kind_fits(kind, n) or root < 0 or quality < 0 or quality >= QUALITY_NTONES.shape[0]:
        return np.inf
    has_prev = prev.shape[0] == n
    if has_prev:
        for i in range(n):
            if prev[i] < 0:
                has_prev = False
    best = _NO_VOICING
    lo = max(low, 0)
    hi = min(high, 127)
    for a in range(lo, hi + 1):
        if _slot(a, root, quality) < 0:
            continue
        top = min(hi, a + KIND_MAX_SPAN)
        for b in range(a + 1, top + 1):
            if _slot(b, root, quality) < 0:
                continue
            if n == 2:
                key = _kind_key(kind, root, quality, prev, has_prev, low, high, 2, a, b, -1, -1)
                if 0 <= key < best:
                    best = key
                    out[0] = a
                    out[1] = b
                continue
            for c in range(b + 1, top + 1):
                if _slot(c, root, quality) < 0:
                    continue
                if n == 3:
                    key = _kind_key(kind, root, quality, prev, has_prev, low, high, 3, a, b, c, -1)
                    if 0 <= key < best:
                        best = key
                        out[0] = a
                        out[1] = b
                        out[2] = c
                    continue
                for d in range(c + 1, top + 1):
                    if _slot(d, root, quality) < 0:
                        continue
                    key = _kind_key(kind, root, quality, prev, has_prev, low, high, 4, a, b, c, d)
                    if 0 <= key < best:
                        best = key
                        out[0] = a
                        out[1] = b
                        out[2] = c
                        out[3] = d
    if best == _NO_VOICING:
        return np.inf
    if has_prev:
        return float(best // 64)
    return (best // 64) / (2.0 * n)


def _content_ref(kind, v, slot_of, ntones):
    """voice_kind's content rules, written out: the penalty, or None if not allowed."""
    slots = [slot_of[p % 12] for p in v]
    other = 3 if ntones == 4 else 2
    if len(v) == 2 or kind == SHELL:
        upper = slots[1:] if kind == SHELL else slots
        if kind == SHELL and slots[0] != 0:
            return None
        return 0 if sorted(upper) == [1, other] else None
    r, third, fifth, seventh = (slots.count(i) for i in range(4))
    if ntones == 3:
        if third != 1 or r < 1 or fifth < 1:
            return None
        return DOUBLED_FIFTH_PENALTY if fifth == 2 else 0
    if third != 1 or seventh != 1:
        return None
    if len(v) == 4:
        return 0 if r == 1 and fifth == 1 else None
    return 0 if r + fifth == 1 else None


def _shape_ref(kind, v):
    spread = v[-1] - v[0]
    gaps = [y - x for x, y in zip(v, v[1:], strict=False)]
    if kind in (CLOSE, ROOTLESS):
        return spread <= CLOSE_SPAN
    if kind == SHELL:
        return spread <= SHELL_SPAN
    if kind == OPEN:
        return OPEN_SPAN[0] <= spread <= OPEN_SPAN[1] and all(OPEN_GAP[0] <= g <= OPEN_GAP[1] for g in gaps)
    # drop2: take the lowest note up an octave: a close voicing with it second from the top
    lifted = sorted(v[1:] + (v[0] + 12,))
    return len(set(lifted)) == len(v) and lifted[-2] == v[0] + 12 and lifted[-1] - lifted[0] <= CLOSE_SPAN


def voice_kind_ref(kind, root, quality, prev, low, high, out):
    """Brute-force reference for voice_kind: every combination of chord tones in range."""
    n = len(out)
    out[:] = -1
    allowed = {CLOSE: (3, 4), OPEN: (3, 4), DROP2: (3, 4), SHELL: (3,), ROOTLESS: (2,)}
    if n not in allowed.get(kind, ()) or root < 0 or not 0 <= quality < len(QUALITY_NTONES):
        return np.inf
    ivs = [int(iv) for iv in QUALITY_INTERVALS[quality] if iv >= 0]
    slot_of = {(root + iv) % 12: i for i, iv in enumerate(ivs)}
    notes = [p for p in range(max(low, 0), min(high, 127) + 1) if p % 12 in slot_of]
    has_prev = len(prev) == n and min(prev) >= 0
    best = None
    for v in combinations(notes, n):
        if v[-1] - v[0] > KIND_MAX_SPAN or not _shape_ref(kind, v):
            continue
        pen = _content_ref(kind, v, slot_of, len(ivs))
        if pen is None:
            continue
        if has_prev:
            cost = sum(abs(p - q) for p, q in zip(v, prev, strict=False)) + pen
        else:
            cost = abs(2 * sum(v) - n * (low + high)) + 2 * n * pen
        key = (cost, v[-1] - v[0])
        if best is None or key < best[0]:
            best = (key, v)
    if best is None:
        return np.inf
    out[:] = best[1]
    return float(best[0][0]) if has_prev else best[0][0] / (2.0 * n)


# --- SATB: four-part chorale writing ------------------------------------------------------
#
# out = (bass, tenor, alto, soprano), MIDI notes; the rules, all hard:
#   - each voice inside its range (SATB_LOWS..SATB_HIGHS by default: bass E2-C4, tenor
#     C3-G4, alto G3-D5, soprano C4-G5, the usual textbook ranges);
#   - no crossing and no unison: bass < tenor < alto < soprano;
#   - spacing: at most an octave between soprano and alto and between alto and tenor
#     (the bass may lie further below);
#   - the bass sings the chord's bass note (``bass_pc``: the slash bass, or -1 for the
#     root); the upper voices sing chord tones;
#   - every chord tone is sung, the 3rd above all; only a 7th chord over a bass from
#     outside the chord (four tones and a foreign bass in four voices) leaves out its 5th;
#   - a triad doubles one tone: the root (free), the 5th (SATB_DOUBLING[2]) or the 3rd
#     (SATB_DOUBLING[1]), in semitones of movement;
#   - no parallel fifths, octaves or unisons between any two voices from ``prev``
#     (kernels.ensemble.is_parallel: both voices move and keep a perfect 5th or octave,
#     compound or by contrary motion included).
# Then the least total movement from ``prev`` (without one: the least distance from the
# middles of the ranges), ties to the lexicographically lowest (bass, tenor, alto,
# soprano). Parallels are the one rule that can yield: when every voicing has some (it
# takes a contrived ``prev``), the one with the fewest wins and the status says so.

SATB_LOWS = np.array([40, 48, 55, 60], dtype=np.int64)   # E2, C3, G3, C4
SATB_HIGHS = np.array([60, 67, 74, 79], dtype=np.int64)  # C4, G4, D5, G5
SATB_SPACING = 12
SATB_DOUBLING = (0, 4, 2, 4)  # cost of doubling the root, 3rd, 5th, 7th
SATB_OK, SATB_PARALLELS, SATB_NONE = 0, 1, 2
_PAR = 1 << 32


@numba.njit(nogil=True, cache=True)
def _satb_penalty(root, quality, bass_slot, t, a, s):
    """Doubling penalty of (bass, t, a, s), or -1 when a required chord tone is missing."""
    c0 = 0
    c1 = 0
    c2 = 0
    c3 = 0
    for k in range(4):
        sl = bass_slot if k == 0 else _slot(t if k == 1 else (a if k == 2 else s), root, quality)
        if sl == 0:
            c0 += 1
        elif sl == 1:
            c1 += 1
        elif sl == 2:
            c2 += 1
        elif sl == 3:
            c3 += 1
    nt = QUALITY_NTONES[quality]
    if c0 == 0 or c1 == 0 or (nt == 4 and c3 == 0):
        return -1
    if c2 == 0 and not (nt == 4 and bass_slot < 0):
        return -1
    pen = 0
    if c0 > 1:
        pen += (c0 - 1) * SATB_DOUBLING[0]
    if c1 > 1:
        pen += (c1 - 1) * SATB_DOUBLING[1]
    if c2 > 1:
        pen += (c2 - 1) * SATB_DOUBLING[2]
    if c3 > 1:
        pen += (c3 - 1) * SATB_DOUBLING[3]
    return pen


@numba.njit(nogil=True, cache=True)
def _satb_parallels(prev, b, t, a, s):
    n = 0
    for i in range(4):
        vi = b if i == 0 else (t if i == 1 else (a if i == 2 else s))
        for j in range(i + 1, 4):
            vj = t if j == 1 else (a if j == 2 else s)
            if is_parallel(prev[j], prev[i], vj, vi):
                n += 1
    return n


@numba.njit(nogil=True, cache=True)
def voice_satb(root, quality, bass_pc, prev, lows, highs, out):
    """Write the four-part chorale voicing of a chord nearest ``prev`` into ``out``.

    out: int64[4] (bass, tenor, alto, soprano); prev: the previous chord's four voices,
    or -1s for none (must not alias out); lows, highs: int64[4] voice ranges (SATB_LOWS,
    SATB_HIGHS); bass_pc: the pitch class the bass sings, -1 for the root.
    Returns (status, cost): SATB_OK; SATB_PARALLELS when every voicing had parallels (the
    fewest taken); SATB_NONE with cost inf and ``out`` all -1 when nothing fits the ranges.
    The cost is the movement in semitones plus the doubling penalty, or without ``prev``
    the summed distance from the ranges' middles plus the penalty.
    Never raises. Thread: any; allocates nothing.
    """
    # numba checks no bounds: every length is checked before anything is read or written
    if out.shape[0] != 4 or lows.shape[0] != 4 or highs.shape[0] != 4:
        for i in range(out.shape[0]):
            out[i] = -1
        return SATB_NONE, np.inf
    for i in range(4):
        out[i] = -1
    if root < 0 or quality < 0 or quality >= QUALITY_NTONES.shape[0]:
        return SATB_NONE, np.inf
    bpc = root % 12 if bass_pc < 0 else bass_pc % 12
    bass_slot = _slot(bpc, root, quality)
    has_prev = prev.shape[0] == 4
    if has_prev:
        for i in range(4):
            if prev[i] < 0:
                has_prev = False
    best = _NO_VOICING
    for b in range(max(lows[0], 0), highs[0] + 1):
        if b % 12 != bpc:
            continue
        for t in range(max(lows[1], b + 1), highs[1] + 1):
            if _slot(t, root, quality) < 0:
                continue
            for a in range(max(lows[2], t + 1), min(highs[2], t + SATB_SPACING) + 1):
                if _slot(a, root, quality) < 0:
                    continue
                for s in range(max(lows[3], a + 1), min(highs[3], a + SATB_SPACING) + 1):
                    if _slot(s, root, quality) < 0:
                        continue
                    pen = _satb_penalty(root, quality, bass_slot, t, a, s)
                    if pen < 0:
                        continue
                    if has_prev:
                        key = (abs(b - prev[0]) + abs(t - prev[1]) + abs(a - prev[2]) + abs(s - prev[3]) + pen
                               + _PAR * _satb_parallels(prev, b, t, a, s))
                    else:
                        key = (abs(2 * b - lows[0] - highs[0]) + abs(2 * t - lows[1] - highs[1])
                               + abs(2 * a - lows[2] - highs[2]) + abs(2 * s - lows[3] - highs[3]) + 2 * pen)
                    if key < best:
                        best = key
                        out[0] = b
                        out[1] = t
                        out[2] = a
                        out[3] = s
    if best == _NO_VOICING:
        return SATB_NONE, np.inf
    status = SATB_PARALLELS if best >= _PAR else SATB_OK
    cost = best % _PAR
    return status, float(cost) if has_prev else cost / 2.0


def satb_rules_ref(root, quality, bass_pc, v, lows=SATB_LOWS, highs=SATB_HIGHS):
    """Why (bass, tenor, alto, soprano) breaks voice_satb's static rules ('' if it keeps
    them all), and its doubling penalty. For the tests and the reference."""
    ivs = [int(iv) for iv in QUALITY_INTERVALS[quality] if iv >= 0]
    slot_of = {(root + iv) % 12: i for i, iv in enumerate(ivs)}
    bpc = root % 12 if bass_pc < 0 else bass_pc % 12
    if any(not lo <= p <= hi for p, lo, hi in zip(v, lows, highs, strict=False)):
        return "range", 0
    if not v[0] < v[1] < v[2] < v[3]:
        return "crossing", 0
    if v[3] - v[2] > SATB_SPACING or v[2] - v[1] > SATB_SPACING:
        return "spacing", 0
    if v[0] % 12 != bpc or any(p % 12 not in slot_of for p in v[1:]):
        return "tones", 0
    slots = [slot_of.get(p % 12, -1) for p in v]
    count = [slots.count(i) for i in range(4)]
    if not count[0] or not count[1] or (len(ivs) == 4 and not count[3]):
        return "missing", 0
    if not count[2] and not (len(ivs) == 4 and slots[0] < 0):
        return "missing", 0
    return "", sum(max(0, c - 1) * w for c, w in zip(count, SATB_DOUBLING, strict=False))


def voice_satb_ref(root, quality, bass_pc, prev, lows, highs, out):
    """Brute-force reference for voice_satb: every note of every voice in its range."""
    from itertools import product

    from .ensemble import is_parallel_ref

    out[:] = -1
    if root < 0 or not 0 <= quality < len(QUALITY_NTONES):
        return SATB_NONE, np.inf
    has_prev = len(prev) == 4 and min(prev) >= 0
    best = None
    tones = {(root + int(iv)) % 12 for iv in QUALITY_INTERVALS[quality] if iv >= 0}
    sung = [tones | {root % 12 if bass_pc < 0 else bass_pc % 12}] + [tones] * 3  # the rest fail the rules
    for v in product(*([p for p in range(max(lo, 0), hi + 1) if p % 12 in pcs]
                       for lo, hi, pcs in zip(lows, highs, sung, strict=False))):
        why, pen = satb_rules_ref(root, quality, bass_pc, v, lows, highs)
        if why:
            continue
        if has_prev:
            par = sum(is_parallel_ref(prev[j], prev[i], v[j], v[i]) for i in range(4) for j in range(i + 1, 4))
            key = (par, sum(abs(p - q) for p, q in zip(v, prev, strict=False)) + pen)
        else:
            key = (0, sum(abs(2 * p - lo - hi) for p, lo, hi in zip(v, lows, highs, strict=False)) + 2 * pen)
        if best is None or key < best[0]:
            best = (key, v)
    if best is None:
        return SATB_NONE, np.inf
    out[:] = best[1]
    (par, cost) = best[0]
    return (SATB_PARALLELS if par else SATB_OK), (float(cost) if has_prev else cost / 2.0)
