"""Bass lines: the note a bass degree names, for a chord, near the line's last note.

One call per bass hit. ``degree`` is one of the codes below (live.styles names them:
root, bass, third, fifth, seventh, octave, approach, scale_approach, walk, semitones):

- ROOT, BASS (the slash bass), THIRD, FIFTH, SEVENTH (a triad's fifth), SEMITONES (root +
  ``semitones``): that pitch class, nearest the anchor; OCTAVE: the root an octave away.
- APPROACH: a semitone below (``u < 0.5``) or above the next chord's root (the chord in
  force when the next one is unknown, ``next_root = -1``); the other side where the range
  ends or where it would repeat the note before.
- SCALE_APPROACH: the next chord's scale tone just below or above its root (1-2 semitones).
- WALK: a walking line. On the bar's downbeat it lands on the chord's root; on the bar's
  last beat it is a chromatic approach to the next root from the side the line comes from
(the other side where that would repeat the note before);
  in between it steps through the chord's scale (at most 4 semitones) toward the next
  root, and once there (or with no root to head for) wanders, ``u`` choosing up or down
  with a pull towards the middle of the range.

The *anchor* is the last note pulled half-way back whenever it strays more than a quarter
of the range from the middle: every target is fitted near the anchor, not the last note,
so a long song's line does not creep up or down its range (tests/test_bass.py plays 200
bars). Notes stay in [low, high]; -1 where no note of the pitch class fits.

``u`` is a uniform draw in [0, 1) from the caller's seeded generator, so the kernel is pure
and the reference sees the same number. Pure; allocates nothing; releases the GIL.
Thread: any (the planner).
"""

from __future__ import annotations

import numba
import numpy as np

from .chords import QUALITY_INTERVALS

ROOT, BASS, THIRD, FIFTH, SEVENTH, OCTAVE, APPROACH, SCALE_APPROACH, WALK, SEMITONES = range(10)
#: live.styles' degree names -> codes ("semitones" is a hit with a number instead of a name)
DEGREE_CODES = {"root": ROOT, "bass": BASS, "third": THIRD, "fifth": FIFTH, "seventh": SEVENTH,
                "octave": OCTAVE, "approach": APPROACH, "scale_approach": SCALE_APPROACH, "walk": WALK,
                "semitones": SEMITONES}

# The scale a walk passes through, by quality (kernels.QUALITIES order), -1 padded: the
# chord's own scale, so a walk between chord tones stays in the harmony.
_SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 9, 10), (0, 2, 3, 5, 6, 8, 9, 11), (0, 2, 4, 6, 8, 10),
           (0, 2, 4, 5, 7, 9, 11), (0, 2, 4, 5, 7, 9, 10), (0, 2, 4, 5, 7, 9, 10), (0, 2, 4, 5, 7, 9, 11),
           (0, 2, 3, 5, 7, 9, 10), (0, 1, 3, 5, 6, 8, 10), (0, 2, 3, 5, 6, 8, 9, 11), (0, 2, 4, 5, 7, 9, 11),
           (0, 2, 3, 5, 7, 9, 10))
WALK_SCALES = np.full((len(_SCALES), 8), -1, np.int64)
for _q, _sc in enumerate(_SCALES):
    WALK_SCALES[_q, :len(_sc)] = _sc
#: per quality, a 12-entry mask of the scale's pitch classes relative to the root
SCALE_MASK = np.zeros((len(_SCALES), 12), np.int64)
for _q, _sc in enumerate(_SCALES):
    SCALE_MASK[_q, list(_sc)] = 1


@numba.njit(nogil=True, cache=True)
def _fit(pc, low, high, near):
    best, dist = -1, 1 << 30
    for n in range(low, high + 1):
        if n % 12 == pc and abs(n - near) < dist:
            best, dist = n, abs(n - near)
    return best


@numba.njit(nogil=True, cache=True)
def _anchor(prev, low, high):
    mid = (low + high) // 2
    if prev < 0:
        return mid - 5
    q = (high - low) // 4
    if prev > mid + q:
        return (prev + mid + q) // 2
    if prev < mid - q:
        return (prev + mid - q) // 2
    return prev


@numba.njit(nogil=True, cache=True)
def _in_scale(note, root, quality):
    return SCALE_MASK[quality, (note - root) % 12] == 1


@numba.njit(nogil=True, cache=True)
def _neighbour(target, below, low, high):
    """A semitone below or above ``target``, the other side where the range ends."""
    n = target - 1 if below else target + 1
    if n < low or n > high:
        n = target + 1 if below else target - 1
    return n if low <= n <= high else target


@numba.njit(nogil=True, cache=True)
def bass_note(degree, semitones, root, quality, bass_pc, next_root, next_quality, prev, low, high,
              beat_in_bar, meter, u):
    """The MIDI note of a bass hit (see the module docstring); -1 when none fits.

    degree: a code (ROOT..SEMITONES); root, quality: the chord (quality a kernels.QUALITIES
    index); bass_pc: its slash bass, -1 = the root; next_root, next_quality: the chord due
    next, -1 = unknown; prev: the line's last note, -1 (or outside the range) = none yet; low, high: the range;
    beat_in_bar, meter: where the hit falls; u: a draw in [0, 1). Thread: any.
    """
    if prev < low or prev > high:  # none yet, or a line from another range: start afresh
        prev = -1
    anchor = _anchor(prev, low, high)
    iv = QUALITY_INTERVALS[quality]
    tgt_root = next_root if next_root >= 0 else root
    tgt_q = next_quality if next_root >= 0 and next_quality >= 0 else quality
    if degree == BASS:
        return _fit(bass_pc if bass_pc >= 0 else root, low, high, anchor)
    if degree == THIRD:
        return _fit((root + iv[1]) % 12, low, high, anchor)
    if degree == FIFTH:
        return _fit((root + iv[2]) % 12, low, high, anchor)
    if degree == SEVENTH:
        return _fit((root + (iv[3] if iv[3] >= 0 else iv[2])) % 12, low, high, anchor)
    if degree == SEMITONES:
        return _fit((root + semitones) % 12, low, high, anchor)
    if degree == OCTAVE:
        n = _fit(root, low, high, anchor)
        if n < 0:
            return n
        if n + 12 <= high:
            return n + 12
        return n - 12 if n - 12 >= low else n
    if degree == APPROACH or degree == SCALE_APPROACH:
        t = _fit(tgt_root, low, high, anchor)
        if t < 0:
            return t
        if degree == APPROACH:
            n = _neighbour(t, u < 0.5, low, high)
            return n if n != prev else _neighbour(t, u >= 0.5, low, high)  # not the note before again
        below = u < 0.5
        for _side in range(2):
            for d in range(1, 3):
                n = t - d if below else t + d
                if low <= n <= high and _in_scale(n, tgt_root, tgt_q):
                    return n
            below = not below
        return _neighbour(t, u < 0.5, low, high)
    if degree == WALK:
        if beat_in_bar == 0:  # the downbeat: land on the root
            return _fit(root, low, high, anchor)
        start = prev if prev >= 0 else anchor
        goal = _fit(tgt_root, low, high, anchor)
        if goal < 0:
            return _fit(root, low, high, anchor)
        if beat_in_bar == meter - 1:  # the last beat: a chromatic approach from the line's side
            below = start <= goal if abs(start - goal) != 1 else start > goal  # not the note before again
            return _neighbour(goal, below, low, high)
        if abs(goal - start) > 2:
            up = goal > start
        else:  # at the goal already: wander, pulled back towards the middle
            up = u < 0.5 + ((low + high) / 2 - start) / (high - low + 1)
        step = 1 if up else -1
        n = start + step
        while low <= n <= high:
            if _in_scale(n, root, quality) and abs(n - start) <= 4:
                return n
            n += step
        return _fit(root, low, high, anchor)  # walked into the edge of the range: back to the root
    return _fit(root, low, high, anchor)  # ROOT


# -- plain-Python reference (tests/test_bass.py checks it gives the very same notes) ----------

def _fit_ref(pc, low, high, near):
    cands = [n for n in range(low, high + 1) if n % 12 == pc]
    return min(cands, key=lambda n: (abs(n - near), n)) if cands else -1


def _anchor_ref(prev, low, high):
    mid = (low + high) // 2
    if prev < 0:
        return mid - 5
    q = (high - low) // 4
    return (prev + mid + q) // 2 if prev > mid + q else (prev + mid - q) // 2 if prev < mid - q else prev


def _neighbour_ref(target, below, low, high):
    for n in ((target - 1, target + 1) if below else (target + 1, target - 1)):
        if low <= n <= high:
            return n
    return target


def bass_note_ref(degree, semitones, root, quality, bass_pc, next_root, next_quality, prev, low, high,
                  beat_in_bar, meter, u):
    """Plain-Python reference of :func:`bass_note`."""
    prev = prev if low <= prev <= high else -1
    anchor = _anchor_ref(prev, low, high)
    tones = [(root + int(i)) % 12 for i in QUALITY_INTERVALS[quality] if i >= 0]
    tgt_root = next_root if next_root >= 0 else root
    tgt_q = next_quality if next_root >= 0 and next_quality >= 0 else quality
    pcs = {BASS: bass_pc if bass_pc >= 0 else root, THIRD: tones[1], FIFTH: tones[2],
           SEVENTH: tones[3] if len(tones) > 3 else tones[2], SEMITONES: (root + semitones) % 12}
    if degree in pcs:
        return _fit_ref(pcs[degree], low, high, anchor)
    if degree == OCTAVE:
        n = _fit_ref(root, low, high, anchor)
        return n if n < 0 else next((m for m in (n + 12, n - 12) if low <= m <= high), n)
    if degree in (APPROACH, SCALE_APPROACH):
        t = _fit_ref(tgt_root, low, high, anchor)
        if t < 0:
            return t
        if degree == APPROACH:
            n = _neighbour_ref(t, u < 0.5, low, high)
            return n if n != prev else _neighbour_ref(t, u >= 0.5, low, high)
        scale = {(tgt_root + int(i)) % 12 for i in WALK_SCALES[tgt_q] if i >= 0}
        sides = (-1, 1) if u < 0.5 else (1, -1)
        for n in (t + s * d for s in sides for d in (1, 2)):
            if low <= n <= high and n % 12 in scale:
                return n
        return _neighbour_ref(t, u < 0.5, low, high)
    if degree == WALK:
        if beat_in_bar == 0:
            return _fit_ref(root, low, high, anchor)
        start = prev if prev >= 0 else anchor
        goal = _fit_ref(tgt_root, low, high, anchor)
        if goal < 0:
            return _fit_ref(root, low, high, anchor)
        if beat_in_bar == meter - 1:
            return _neighbour_ref(goal, start <= goal if abs(start - goal) != 1 else start > goal, low, high)
        up = goal > start if abs(goal - start) > 2 else u < 0.5 + ((low + high) / 2 - start) / (high - low + 1)
        scale = {(root + int(i)) % 12 for i in WALK_SCALES[quality] if i >= 0}
        step = 1 if up else -1
        for n in range(start + step, high + 1 if up else low - 1, step):
            if n % 12 in scale and abs(n - start) <= 4:
                return n
        return _fit_ref(root, low, high, anchor)
    return _fit_ref(root, low, high, anchor)
