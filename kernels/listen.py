"""The listener's snapshot, copied and summarised in two calls (the planner thread reads the
audio thread's ring buffers through a seqlock; see ``live.listener``).

``ring_tail`` copies the last ``k`` onsets of the ring (frame, note, velocity and the frame
each note stopped sounding) into ``onsets`` (k, 3) and ``offs`` (k,), oldest first.
``zone_summary`` reads the sounding keys: the pitch-class weights of the chord zone (notes
below ``split``, or every note when ``all_chord``) into ``weights`` (12,), and returns the
chord zone's lowest pitch class and the melody zone's highest note (-1 where none).

Pure; allocate nothing; the numpy references do the same with numpy's calls.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def ring_tail(on_frame, on_note, on_vel, on_off, n_on, k, onsets, offs):
    """The last ``k`` of ``n_on`` onsets written to rings of a power-of-two length."""
    mask = on_frame.shape[0] - 1
    for i in range(k):
        j = (n_on - k + i) & mask
        onsets[i, 0] = on_frame[j]
        onsets[i, 1] = on_note[j]
        onsets[i, 2] = on_vel[j]
        offs[i] = on_off[j]


def ring_tail_ref(on_frame, on_note, on_vel, on_off, n_on, k, onsets, offs):
    """``ring_tail`` in numpy."""
    idx = np.arange(n_on - k, n_on, dtype=np.int64) & (on_frame.shape[0] - 1)
    onsets[:, 0] = on_frame[idx]
    onsets[:, 1] = on_note[idx]
    onsets[:, 2] = on_vel[idx]
    offs[:] = on_off[idx]


@numba.njit(cache=True)
def zone_summary(sounding, split, all_chord, weights):
    """(lowest chord-zone pitch class, highest melody-zone note), -1 where none; ``weights``
    gets the chord zone's count per pitch class."""
    weights[:] = 0.0
    bass = -1
    top = -1
    for note in range(sounding.shape[0]):
        if sounding[note] == 0:
            continue
        if all_chord or note < split:
            weights[note % 12] += 1.0
            if bass < 0:
                bass = note % 12
        else:
            top = note
    return bass, top


def zone_summary_ref(sounding, split, all_chord, weights):
    """``zone_summary`` in numpy."""
    notes = np.flatnonzero(sounding)
    chord = notes if all_chord else notes[notes < split]
    melody = notes[:0] if all_chord else notes[notes >= split]
    weights[:] = np.bincount(chord % 12, minlength=12)
    return (int(chord[0] % 12) if chord.size else -1), (int(melody[-1]) if melody.size else -1)
