"""How an arranger keyboard reads the chord zone: single-finger chords and the full keyboard.

The chord zone is the keys ``lo <= note < hi`` of ``held`` (an array of 128 values,
non-zero where a note sounds), as the listener keeps them.

``single_finger_chord`` (Yamaha's "single finger" rule):

- the **root** is the highest key held in the zone;
- no other key held below it: **major** (C alone = C);
- a black key held below it (any, and only black ones): **minor** (C + Bb below = Cm);
- a white key held below it (only white ones): **dominant 7th** (C + A below = C7);
- a black and a white key held below it: **minor 7th** (C + Bb + A below = Cm7).

Which black or white key does not matter, only its colour, so one hand finds every
chord without looking. The bass is the root.

``keyboard_weights`` (the full keyboard, "AI" mode): every note held anywhere counts,
doubled notes more (two Cs weigh 2), and the bass is the lowest note. A note on top of
four or more that stands a fourth or more above the rest is the tune, likely passing:
it counts half. The weights go to ``kernels.chords.chord_recognize`` like the fingered
chord zone's.

Thread: the njit kernels are pure, allocate nothing, release the GIL and may run on any
thread (the planner calls them); the ``*_ref`` functions are their numpy references.
"""

from __future__ import annotations

import numba
import numpy as np

#: pitch classes of the black keys
BLACK = np.array([0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0], np.int64)
MAJ, MIN, DOM7, MIN7 = 0, 1, 6, 8  # kernels.chords.QUALITIES indexes
#: the top note counts this much when it stands apart (the tune over the chord)
TOP_WEIGHT = 0.5
TOP_GAP = 5  # semitones between the top note and the next below for it to stand apart
TOP_MIN_NOTES = 4  # ... with at least this many notes held


@numba.njit(nogil=True, cache=True)
def single_finger_chord(held, lo, hi):
    """(root pitch class, quality) read by the single-finger rule from ``held[lo:hi]``;
    (-1, -1) when no key of the zone is held."""
    top = -1
    for n in range(min(hi, 128) - 1, max(lo, 0) - 1, -1):
        if held[n] != 0:
            top = n
            break
    if top < 0:
        return -1, -1
    black = False
    white = False
    for n in range(max(lo, 0), top):
        if held[n] != 0:
            if BLACK[n % 12]:
                black = True
            else:
                white = True
    if black and white:
        return top % 12, MIN7
    if black:
        return top % 12, MIN
    if white:
        return top % 12, DOM7
    return top % 12, MAJ


def single_finger_chord_ref(held, lo, hi):
    """Numpy reference of :func:`single_finger_chord`."""
    zone = np.flatnonzero(np.asarray(held)[max(lo, 0):min(hi, 128)]) + max(lo, 0)
    if zone.size == 0:
        return -1, -1
    top = int(zone[-1])
    below = zone[:-1] % 12
    black = bool(BLACK[below].any()) if below.size else False
    white = bool((BLACK[below] == 0).any()) if below.size else False
    quality = MIN7 if black and white else MIN if black else DOM7 if white else MAJ
    return top % 12, quality


@numba.njit(nogil=True, cache=True)
def keyboard_weights(held, lo, hi, out):
    """Pitch-class weights of every note held in ``held[lo:hi]`` into ``out`` float64[12];
    returns the pitch class of the lowest (the bass), -1 when none is held."""
    for pc in range(12):
        out[pc] = 0.0
    lo = max(lo, 0)
    hi = min(hi, 128)
    low = -1
    top = -1
    second = -1
    count = 0
    for n in range(lo, hi):
        if held[n] != 0:
            out[n % 12] += 1.0
            if low < 0:
                low = n
            second = top
            top = n
            count += 1
    if low < 0:
        return -1
    if count >= TOP_MIN_NOTES and top - second >= TOP_GAP:
        out[top % 12] -= 1.0 - TOP_WEIGHT
    return low % 12


def keyboard_weights_ref(held, lo, hi):
    """Numpy reference of :func:`keyboard_weights`: (weights, bass pitch class)."""
    lo, hi = max(lo, 0), min(hi, 128)
    notes = np.flatnonzero(np.asarray(held)[lo:hi]) + lo
    w = np.bincount(notes % 12, minlength=12).astype(np.float64)
    if notes.size == 0:
        return w, -1
    if notes.size >= TOP_MIN_NOTES and notes[-1] - notes[-2] >= TOP_GAP:
        w[notes[-1] % 12] -= 1.0 - TOP_WEIGHT
    return w, int(notes[0] % 12)
