"""Tempo: follow the musician's onsets with an adaptive oscillator, and tap tempo.

``tempo_update`` is a phase-locked loop on a beat grid. Each onset is matched to the
nearest grid point (a subdivision of the beat); if it lies close enough to count, the
grid's phase moves a share ``alpha`` of the error towards it and the period a share
``beta`` of the error per beat elapsed since the last match. Onsets far from the grid
(ornaments, syncopations against the grid, wrong notes) are ignored, so one odd note
cannot throw the band.

Explicit state: the caller owns ``state`` (float64[STATE_SIZE]); ``tempo_state`` makes
one. Thread: the planner (the only reader of the listener's onsets). Pure apart from
``state``; releases the GIL; ``tempo_update`` and ``next_beat`` allocate nothing.
"""

from __future__ import annotations

import numba
import numpy as np

ANCHOR, PERIOD, MIN_PERIOD, MAX_PERIOD, MATCHED, IGNORED = range(6)
STATE_SIZE = 6
#: An onset further than this share of a grid step from the grid is not a beat.
WINDOW = 0.3


def tempo_state(anchor_frame: float, frames_per_beat: float, lo: float = 0.7, hi: float = 1.4) -> np.ndarray:
    """A state whose beat grid has a beat at ``anchor_frame``, ``frames_per_beat`` apart;
    the period may move between ``lo`` and ``hi`` times the start (tempo 1/hi..1/lo)."""
    s = np.zeros(STATE_SIZE)
    s[ANCHOR] = anchor_frame
    s[PERIOD] = frames_per_beat
    s[MIN_PERIOD] = frames_per_beat * lo
    s[MAX_PERIOD] = frames_per_beat * hi
    return s


@numba.njit(nogil=True, cache=True)
def tempo_update(state, onset, subdiv, alpha, beta):
    """Feed one onset (a frame, after the anchor). Returns its error in frames against the
    grid (0.0 when ignored). ``subdiv``: grid points per beat (2 = eighths)."""
    period = state[PERIOD]
    grid = period / subdiv
    k = np.floor((onset - state[ANCHOR]) / grid + 0.5)
    if k < 0:
        state[IGNORED] += 1
        return 0.0
    predicted = state[ANCHOR] + k * grid
    err = onset - predicted
    if abs(err) > WINDOW * grid:
        state[IGNORED] += 1
        return 0.0
    beats = k / subdiv
    # the error built up over the beats since the anchor: that much of it is the period's
    new_period = period + beta * err / max(beats, 1.0)
    new_period = min(max(new_period, state[MIN_PERIOD]), state[MAX_PERIOD])
    # re-anchor on the last whole beat at or before the matched grid point, shifted by
    # alpha of the error: the grid's phase follows the musician
    whole = np.floor(beats)
    state[ANCHOR] = state[ANCHOR] + whole * period + alpha * err
    state[PERIOD] = new_period
    state[MATCHED] += 1
    return err


def tempo_update_ref(state, onset, subdiv, alpha, beta):
    """Reference for tempo_update, in plain numpy/Python."""
    period = float(state[PERIOD])
    grid = period / subdiv
    k = np.floor((onset - state[ANCHOR]) / grid + 0.5)
    if k < 0:
        state[IGNORED] += 1
        return 0.0
    err = onset - (state[ANCHOR] + k * grid)
    if abs(err) > WINDOW * grid:
        state[IGNORED] += 1
        return 0.0
    beats = k / subdiv
    state[ANCHOR] += np.floor(beats) * period + alpha * err
    state[PERIOD] = float(np.clip(period + beta * err / max(beats, 1.0), state[MIN_PERIOD], state[MAX_PERIOD]))
    state[MATCHED] += 1
    return float(err)


@numba.njit(nogil=True, cache=True)
def next_beat(state, frame):
    """The frame of the first beat of the tracked grid at or after ``frame``."""
    n = np.ceil((frame - state[ANCHOR]) / state[PERIOD])
    return state[ANCHOR] + max(n, 0.0) * state[PERIOD]


def next_beat_ref(state, frame):
    return float(state[ANCHOR] + max(np.ceil((frame - state[ANCHOR]) / state[PERIOD]), 0.0) * state[PERIOD])


@numba.njit(nogil=True, cache=True)
def tap_tempo(taps, n, max_gap):
    """Frames per beat from taps: the median interval since the last gap longer than
    ``max_gap`` frames (where a new tapping began). ``taps``: frames, oldest first, the
    first ``n`` valid. 0.0 with fewer than two taps in a row. Allocates one small array
    (planner thread, once per tap).
    """
    start = n - 1
    while start > 0 and taps[start] - taps[start - 1] <= max_gap:
        start -= 1
    m = n - 1 - start
    if m < 1:
        return 0.0
    gaps = np.empty(m)
    for i in range(m):
        gaps[i] = taps[start + i + 1] - taps[start + i]
    gaps.sort()
    if m % 2:
        return gaps[m // 2]
    return 0.5 * (gaps[m // 2 - 1] + gaps[m // 2])


def tap_tempo_ref(taps, n, max_gap):
    t = np.asarray(taps[:n], dtype=np.float64)
    d = np.diff(t)
    breaks = np.flatnonzero(d > max_gap)
    if breaks.size:
        d = d[breaks[-1] + 1:]
    return float(np.median(d)) if d.size else 0.0
