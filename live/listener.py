"""What the musician is doing right now: held and sounding notes, the sustain pedal,
the melody, onsets and velocities.

Threading model
---------------
- The audio-clock callback is the only writer: ``note_on``, ``note_off``,
  ``sustain`` and ``all_off`` touch preallocated numpy arrays and ints only; they
  allocate nothing of their own and never raise.
- The planner thread reads through ``snapshot``, a seqlock: it copies the arrays and
  retries if ``version`` moved while it copied, so it never blocks the writer.

Split point: notes below ``split`` are the chord zone, notes at or above it the
melody zone. With no split, a ``chords`` rig treats every note as chord zone and a
``lead`` rig every note as melody.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.listen import ring_tail, zone_summary

ONSET_CAPACITY = 256  # power of two


@dataclass(slots=True)
class Snapshot:
    """A copy of the listener, taken by the planner and never changed after (not frozen:
    a frozen dataclass's ``__init__`` costs a call of ``object.__setattr__`` a field, and
    the planner takes one a slot)."""

    version: int
    chord_zone: np.ndarray  # float64[12], pitch-class weights of sounding chord-zone notes
    chord_bass: int  # pitch class of the lowest sounding chord-zone note, -1 if none
    melody_note: int  # highest sounding melody-zone note, -1 if none
    onsets: np.ndarray  # int64[n, 3]: frame, note, velocity of recent onsets, oldest first
    n_on: int  # total note-ons seen
    last_onset_frame: int  # -1 if none
    melody_min: int = 0  # onsets at or above this note are melody (128: none are)
    #: int64[n]: the frame each onset's note stopped sounding, -1 while it sounds
    #: (key up, or pedal up after it); None from code that builds snapshots by hand
    offs: np.ndarray | None = None
    #: int8[128]: 1 where a note sounds (chord detection reads the keys themselves)
    sounding: np.ndarray | None = None

    @property
    def hands(self) -> bool:
        """A chord-zone note sounds (``chord_zone`` has weight; a 1 us numpy ``any`` saved)."""
        return self.chord_bass >= 0


class Listener:
    """Preallocated state of the musician's input, written by the audio thread."""

    def __init__(self, split: int | None, mode: str) -> None:
        self.split = -1 if split is None else int(split)
        self.all_chord = split is None and mode == "chords"
        self.held = np.zeros(128, np.int16)  # velocity of physically held keys
        self.sounding = np.zeros(128, np.int8)  # held, or released under the pedal
        self.pedal = False
        self.on_frame = np.zeros(ONSET_CAPACITY, np.int64)
        self.on_note = np.zeros(ONSET_CAPACITY, np.int16)
        self.on_vel = np.zeros(ONSET_CAPACITY, np.int16)
        self.on_off = np.full(ONSET_CAPACITY, -1, np.int64)  # release frame of each onset's note
        self.last_on = np.full(128, -1, np.int64)  # onset count index of each note's latest onset
        self.n_on = 0
        self.version = 0
        self.last_onset_frame = -1

    def is_chord_zone(self, note: int) -> bool:
        return self.all_chord or note < self.split

    def set_zones(self, split: int, all_chord: bool) -> None:
        """Move the split (a song or mode change; planner thread). Bumps ``version``, so
        a snapshot taken before is known to be stale."""
        self.version += 1
        self.split = split
        self.all_chord = all_chord
        self.version += 1

    # -- audio thread ---------------------------------------------------------
    def note_on(self, note: int, vel: int, frame: int) -> None:
        self.version += 1
        self.held[note] = vel
        self.sounding[note] = 1
        i = self.n_on & (ONSET_CAPACITY - 1)
        self.on_frame[i] = frame
        self.on_note[i] = note
        self.on_vel[i] = vel
        self.on_off[i] = -1
        self.last_on[note] = self.n_on
        self.n_on += 1
        self.last_onset_frame = frame
        self.version += 1

    def _released(self, note: int, frame: int) -> None:
        j = self.last_on[note]
        if j >= 0 and j > self.n_on - ONSET_CAPACITY:
            self.on_off[j & (ONSET_CAPACITY - 1)] = frame

    def note_off(self, note: int, frame: int = 0) -> bool:
        """Returns True when the note stops sounding (False: the pedal holds it)."""
        self.version += 1
        self.held[note] = 0
        stops = not self.pedal
        if stops and self.sounding[note]:
            self.sounding[note] = 0
            self._released(note, frame)
        self.version += 1
        return stops

    def sustain(self, down: bool, frame: int = 0) -> None:
        self.version += 1
        self.pedal = down
        if not down:
            for note in range(128):
                if self.sounding[note] and self.held[note] == 0:
                    self.sounding[note] = 0
                    self._released(note, frame)
        self.version += 1

    def all_off(self, frame: int = 0) -> None:
        self.version += 1
        for note in range(128):
            if self.sounding[note]:
                self._released(note, frame)
        self.held[:] = 0
        self.sounding[:] = 0
        self.pedal = False
        self.version += 1

    # -- planner thread -------------------------------------------------------
    def snapshot(self, horizon_onsets: int = 64) -> Snapshot:
        """Consistent copy of the state; retries while the audio thread writes."""
        for _ in range(100):
            v0 = self.version
            if v0 & 1:
                continue
            sounding = self.sounding.copy()
            n_on = self.n_on
            last = self.last_onset_frame
            k = min(n_on, horizon_onsets, ONSET_CAPACITY)
            onsets = np.empty((k, 3), np.int64)
            offs = np.empty(k, np.int64)
            ring_tail(self.on_frame, self.on_note, self.on_vel, self.on_off, n_on, k, onsets, offs)
            if self.version == v0:
                break
        weights = np.empty(12, np.float64)
        chord_bass, melody_note = zone_summary(sounding, self.split, self.all_chord, weights)
        return Snapshot(
            version=v0,
            chord_zone=weights,
            chord_bass=chord_bass,
            melody_note=melody_note,
            onsets=onsets,
            n_on=n_on,
            last_onset_frame=last,
            melody_min=128 if self.all_chord else max(self.split, 0),
            offs=offs,
            sounding=sounding,
        )
