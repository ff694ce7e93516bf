"""The planner: decides the band's notes ahead of the beat, off the audio clock.

Threading model
---------------
- ``Planner.step`` runs on the planner thread (``PlannerThread``) live, or inline
  after each block when rendering offline; it is the only writer of the
  ``EventRing``, the ``Transport`` and the accompanists.
- The audio-clock callback talks to it only through plain ints it writes
  (``start_frame``, ``stop_frame``), the ``EventRing`` it reads and, for MIDI clock
  in, the tick and transport rings ``external_clock`` / ``external_position`` write
  (each entry written first, its counter bumped last: single producer, single consumer).
- Control threads (and the audio clock, for a rig's controls) call ``request_tempo``,
  ``request_section``, ``request_style``, ``request_mode``, ``request_song``,
  ``request_pause`` and ``request_restart``, and write ``adventure_in`` / ``energy_in``
  (plain ints 0..127): each stores plain values the planner picks up at its next step;
  the tempo changes at the next beat; the section, the style, the mode, a song of the
  setlist and a band stop at the next bar line; a restart at once.

Switching without stopping the audio
------------------------------------
Everything a switch needs is built on the control thread before the clock runs: every
style the band may switch to is loaded and activated, every song of the setlist is a
:class:`SongPlan` with its accompanist and a factory of its arrangement. The planner
only swaps references. A song switch (or a restart after a stop) starts the transport
afresh at the bar line: slot 0 of the new song falls where the old song's next bar
would have begun, and every band note still sounding there ends there.

How a slot (a 16th note) becomes sound
--------------------------------------
1. Tentative: slots up to one beat past the commit horizon are decided early from the
   latest listener snapshot: the Plan, shown by the stage view and revised whenever the
   musician plays something new.
2. Commit: when a slot's start comes within ``horizon`` frames of the audio clock, its
   decision is made final (re-decided if the musician played since the tentative one
   was made) and its note-ons and note-offs go into a heap by frame.
3. Release: heap events that fall inside the horizon are pushed, in frame order, to
   the ``EventRing``; the audio clock dispatches each in the block that contains it.
   Inside the horizon nothing changes; beyond it everything may.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from kernels import key_estimate, key_update, next_beat, tap_tempo, tempo_state, tempo_update
from kernels.choose import ON_TIME_DIV
from kernels.tempo import MATCHED, PERIOD
from live.accompanist import (HARMONY_ROLES, MELODY_MODES, SLOTS_PER_BEAT, Accompanist, Decision, SlotContext, chance,
                              level)
from live.clock import FrameClock, Transport
from live.events import CANCEL_MASK, CLOCK_START, CLOCK_STOP, CLOCK_TICK, NOTE_OFF, NOTE_ON, EventRing
from live.listener import ONSET_CAPACITY, Listener
from live.styles import Arrangement, active_style

CORRECTION_SLOTS = 2
LAG_HISTORY = 1024  # corrections whose lag a take keeps (PlannerStats.heard_late_lag), a power of two
#: tempo following: the share of an onset's error taken into the phase and (per beat
#: elapsed) into the period; see kernels.tempo and tests/test_tempo.py
FOLLOW_ALPHA, FOLLOW_BETA = 0.25, 0.15
FOLLOW_MIN_MATCHED = 4  # onsets on the grid before the band starts to follow
FOLLOW_MAX_SHIFT = 1 / 8  # of a beat: how far one beat may move to meet the musician
TAPS = 8
#: decisions whose durations the planner keeps (a power of two; a take's summary reads them)
DECIDE_HISTORY = 8192
CLOCK_PPQN = 24  # MIDI clock: ticks per beat
EXT_TICKS = 64  # external clock ticks kept (a power of two)
EXT_FIT = 48  # ticks the external tempo is fitted over (two beats)
EXT_EVENTS = 16  # external Start/Continue/Stop/Song Position messages kept (a power of two)
TICKS_PER_SLOT = 6  # MIDI clock ticks in a 16th note (a slot; also Song Position's unit)
KEY_DECAY = 0.97  # per note: the key estimate remembers about the last 30 notes


#: the modes the ``mode`` control switches between (the same band plays both)
SWITCHABLE_MODES = ("lead", "chords")


@dataclass(frozen=True)
class SongPlan:
    """A song the band can switch to: what its rig says, built before the clock runs.

    Thread: built on the control thread (``live.engine``); read by the planner.
    """

    name: str
    tempo: float
    meter: int
    style: str
    swing: float
    mode: str
    split: int  # -1: no split
    chord_detect: str
    follow_tempo: bool
    adventure: int
    energy: int
    accompanist: Any  # who decides the band's notes in this song
    arrangement: Callable[[], Arrangement]  # a fresh arrangement of the song (its intro, its chart)
    styles: tuple[str, ...] = ()  # what style_next/style_prev step through
    lines: tuple[str, ...] = ()  # said when the band switches to it (what does not switch live)


def all_chord(mode: str, split: int, detect: str) -> bool:
    """Whether every note is the chord zone: chords mode with no split, or read by the full keyboard."""
    return mode == "chords" and (split < 0 or detect == "full")


@dataclass(slots=True)
class PlannerStats:
    slots_committed: int = 0
    revisions: int = 0
    late_commits: int = 0  # slots committed after their start frame
    errors: int = 0
    fallback: bool = False
    corrections: int = 0  # harmony re-struck because the chord came just after the beat
    heard_late: int = 0  # harmony re-struck for a melody note heard just after its eighth was final
    #: frames from each such note's onset to the correction's strike (the last LAG_HISTORY)
    heard_late_lag: np.ndarray = field(default_factory=lambda: np.zeros(LAG_HISTORY, np.int64))
    decide_ns_max: int = 0
    messages: list[str] = field(default_factory=list)  # shown by the UI, once each
    #: the last DECIDE_HISTORY decisions: how long each took (ns, ``accompanist.decide``) and
    #: whether it ran the model (its decision carries the model's state); ``decisions`` counts all
    decide_ns: np.ndarray = field(default_factory=lambda: np.zeros(DECIDE_HISTORY, np.int64))
    decide_model: np.ndarray = field(default_factory=lambda: np.zeros(DECIDE_HISTORY, np.bool_))
    decisions: int = 0

    def decide_us(self, model: bool | None = None) -> np.ndarray:
        """The kept decisions' durations in µs, oldest first (``model``: only those that ran
        the model, or only those that did not)."""
        n = min(self.decisions, DECIDE_HISTORY)
        idx = (np.arange(self.decisions - n, self.decisions)) & (DECIDE_HISTORY - 1)
        us = self.decide_ns[idx] / 1000.0
        return us if model is None else us[self.decide_model[idx] == model]


class Planner:
    """Turns listener snapshots into committed band events, a slot at a time."""

    def __init__(self, *, clock: FrameClock, listener: Listener, ring: EventRing,
                 accompanist: Accompanist, fallback: Accompanist | None, tempo: float,
                 meter: int, style: str, swing: float, mode: str, count_in: int = 0,
                 sync_start: bool = True, horizon_ms: float = 30.0,
                 arrangement: Arrangement | None = None, follow_tempo: bool = False,
                 midi_clock: bool = False, clock_in: bool = False, seed: int = 0,
                 chord_detect: str = "fingered", adventure: int = 64, energy: int = 64,
                 styles: tuple[str, ...] = (), songs: tuple[SongPlan, ...] = ()) -> None:
        self.clock = clock
        self.listener = listener
        self.ring = ring
        self.accompanist = accompanist
        self.fallback = fallback
        self.transport = Transport(clock.sr, tempo, meter)
        self.style, self.swing, self.mode = style, swing, mode
        self.count_in_slots = count_in * meter * SLOTS_PER_BEAT
        # A count-in means the band starts by itself; in chart mode (practice over a chart)
        # sync start means the musician's first note starts the count-in.
        self.sync_start = sync_start and (count_in == 0 or mode == "chart")
        self.horizon = int(clock.sr * horizon_ms / 1000.0)
        self.stats = PlannerStats()
        self.start_frame = -1  # written by the audio thread on sync start
        self.stop_frame = -1  # no slot starting at or after this frame is committed
        self.ended = False
        self._heap: list[tuple[int, int, int, int, int, int, int]] = []
        self._seq = 0
        self._eid = 0
        self._next_commit = -self.count_in_slots
        self._tentative: dict[int, Decision] = {}
        self._tentative_version: dict[int, tuple[int, int]] = {}
        self._open: list[tuple[int, int, int, int, int]] = []  # (on, off frame, part, note, eid)
        self._key_state = np.zeros(12)
        self._key_seen = 0
        self.key = (-1, 0)
        self._tempo_request: float | None = None
        self.last: Decision | None = None
        self.roles: dict[int, str] = {}  # part index -> role, for corrections
        self._checked_version = -1
        self._heard_late_step = -1  # the eighth (its first slot) a late melody note was last heard on
        self._snap = None  # the last listener snapshot (see _snapshot)
        self.chord_log: list[tuple[int, int, object]] = []  # (slot, frame, Chord) at each change
        #: which section of the style plays in each bar (planner thread)
        self.arrangement = arrangement if arrangement is not None else Arrangement()
        self._section_action = ""
        self._section_seq = 0  # bumped by request_section; the planner applies each once
        self._section_seen = 0
        self._ending_frame = -1
        # tempo following (planner thread) and tap tempo (taps written by the audio clock)
        self.follow_tempo = follow_tempo
        self.midi_clock = midi_clock  # MIDI clock out: ticks planned with each committed slot
        # MIDI clock in: the audio clock writes tick frames and start/stop (external_clock),
        # the planner starts, times and stops the band by them
        self.clock_in = clock_in
        if clock_in:
            self.sync_start = False
        self.ext_ticks = np.zeros(EXT_TICKS)
        self.n_ext_ticks = 0
        # Start (0xFA), Continue (0xFB), Stop (0xFC), Song Position (0xF2): status, frame,
        # ticks counted before it, the position (16ths); written by the audio clock
        self.ext_ev = np.zeros((EXT_EVENTS, 4), np.int64)
        self.n_ext_ev = 0
        self._ext_ev_seen = 0
        self.ext_start_tick = -1  # index of the first tick of the clock's current run
        self._ext_origin = 0  # the tick index that is beat 0 of the song (a Continue: before the run)
        self._ext_pending = -1  # a Start/Continue heard: its first tick index; -1: none
        self._ext_pending_pos = 0  # ... and the song position (ticks) that tick is
        self._ext_pos = 0  # song position (ticks) while stopped: where a Continue resumes
        self._ext_running = False  # the band runs on the clock (Start/Continue .. Stop)
        self._ext_fit = (0.0, 0.0)  # (frames per tick, frame of tick 0)
        self._ext_fit_n = -1
        self._released = 0  # every event in the ring is before this frame
        self.clock_started = False
        self._follow: np.ndarray | None = None
        self._follow_seen = 0
        self._follow_last = -1
        self.taps = np.zeros(TAPS)
        self.n_taps = 0  # written by the audio clock after the tap's frame
        self._taps_seen = 0
        # the band's controls: plain values written by the audio clock (a rig's controls)
        self.seed = seed
        self.chord_detect = chord_detect
        self.adventure_in, self.energy_in = adventure, energy  # 0..127, 64 = as written
        self.adventure, self.energy = level(adventure), level(energy)
        self._levels_seen = (-1, -1)  # the first step applies them (the model's temperature too)
        self._temperature: float | None = None  # the model's own, before adventurousness
        self.styles = styles  # what style_next / style_prev step through
        self.songs = songs  # the setlist; songs[0] is the rig the jam started with
        self.song = 0
        self.resting = False  # the band stopped at a bar line (stop_ends_take: false); start brings it back
        self._style_step, self._style_seq, self._style_seen = 0, 0, 0
        self._mode_seq, self._mode_seen = 0, 0
        self._song_req, self._song_seq, self._song_seen = 0, 0, 0
        self._pause_seq, self._pause_seen = 0, 0
        self._restart_frame, self._restart_seq, self._restart_seen = 0, 0, 0
        self._switch_slot = -1  # the bar line where the switches below happen; -1: none due
        self._switch_style = ""
        self._switch_mode = ""
        self._switch_song = -1
        self._pause_slot = -1
        self._auto_bar = 0  # adventurousness: bars up to here have had their chance of a fill
        self._failed = None  # the accompanist the band fell back from

    # -- control side --------------------------------------------------------
    def begin(self, frame: int | None = None) -> None:
        """Start the transport now (no sync start) at ``frame`` or the next block."""
        f = self.clock.block_end if frame is None else frame
        self.transport.start(f + self.horizon, beat=-self.count_in_slots / SLOTS_PER_BEAT)

    def request_tempo(self, bpm: float) -> None:
        self._tempo_request = float(min(300.0, max(30.0, bpm)))

    def tap(self, frame: int) -> None:
        """Audio clock: a tap-tempo press at ``frame`` (no allocation)."""
        self.taps[self.n_taps % TAPS] = frame
        self.n_taps += 1

    def external_clock(self, status: int, frame: int) -> None:
        """Audio clock: a MIDI real-time message from the input. Ticks go to the tick
        ring; Start, Continue and Stop to the transport ring, for the planner to follow
        in order. Thread: audio clock; stores into preallocated arrays, no allocation."""
        if status == 0xF8:
            self.ext_ticks[self.n_ext_ticks & (EXT_TICKS - 1)] = frame
            self.n_ext_ticks += 1
        elif status == 0xFA or status == 0xFB or status == 0xFC:
            self._ext_event(status, frame, 0)

    def external_position(self, sixteenths: int, frame: int) -> None:
        """Audio clock: Song Position Pointer (0xF2), in 16ths from the top; a Continue
        after it resumes there. Thread: audio clock; no allocation."""
        self._ext_event(0xF2, frame, sixteenths)

    def _ext_event(self, status: int, frame: int, value: int) -> None:
        row = self.ext_ev[self.n_ext_ev & (EXT_EVENTS - 1)]
        row[0] = status
        row[1] = frame
        row[2] = self.n_ext_ticks
        row[3] = value
        self.n_ext_ev += 1  # published last: the planner reads only rows below the count

    def request_section(self, action: str) -> None:
        """Ask for a fill, a break, the next variation or the ending from the next bar line.

        Thread: any (the audio clock calls it for a rig's controls): two attribute stores,
        no lock, no container; a second request before the planner's next step replaces
        the first.
        """
        self._section_action = action
        self._section_seq += 1

    def request_style(self, step: int) -> None:
        """The next (1) or previous (-1) style of ``styles`` from the next bar line.
        Thread: any (the audio clock): plain stores, no lock."""
        self._style_step = step
        self._style_seq += 1

    def request_mode(self) -> None:
        """Switch lead <-> chords from the next bar line. Thread: any."""
        self._mode_seq += 1

    def request_song(self, index: int) -> None:
        """Switch to ``songs[index]`` at the next bar line. Thread: any."""
        self._song_req = index
        self._song_seq += 1

    def request_pause(self) -> None:
        """Stop the band at the next bar line; the take goes on. Before the band has
        started there is nothing to stop. Thread: any."""
        if self.transport.running:
            self._pause_seq += 1

    def request_restart(self, frame: int) -> None:
        """Bring a stopped (or ended) band in again from the top, as soon as it can from
        ``frame``; a stop still to come is called off. Thread: any."""
        self._restart_frame = frame
        self._restart_seq += 1

    def plan_preview(self) -> list[Decision]:
        """The tentative Plan beyond the commit horizon (for display)."""
        return [self._tentative[s] for s in sorted(self._tentative)]

    # -- planner thread ------------------------------------------------------
    def step(self) -> None:
        """Plan, commit and release whatever the clock has made due. Never raises."""
        try:
            self._step()
        except Exception:  # the music goes on: count it, fall back, say it once
            self.stats.errors += 1
            self._fall_back(traceback.format_exc(limit=3))

    def _fall_back(self, why: str) -> None:
        if self.fallback is not None and self.accompanist is not self.fallback:
            self._failed = self.accompanist
            self.stats.messages.append(f"accompanist '{self.accompanist.name}' failed; "
                                       f"rule-based band takes over: {why.strip().splitlines()[-1]}")
            self.accompanist = self.fallback
            self.stats.fallback = True
            self._tentative.clear()
        elif len(self.stats.messages) < 20:
            self.stats.messages.append(f"planner error: {why.strip().splitlines()[-1]}")

    def _step(self) -> None:
        t = self.transport
        if self.clock_in:
            self._follow_external()
            if not t.running:
                return
        elif not t.running:
            if self.sync_start and self.start_frame >= 0 and self.count_in_slots:
                self.begin(self.start_frame)  # chart mode: the first note starts the count-in
            elif self.sync_start and self.start_frame >= 0:
                # the downbeat lands in the block after the one that heard the first note
                t.start(max(self.start_frame, self.clock.block_end))
            elif not self.sync_start and self.start_frame >= 0:
                self.begin(self.start_frame)
            else:
                return
        now = self.clock.block_start
        if self.clock_in and self.resting:  # the clock stopped: the band waits for Start or Continue
            self._follow_controls(now)
            if 0 <= self.stop_frame <= now:  # the input file is over (offline): so is the band
                self.ended = True
            self._release(now + self.horizon)
            return
        self._update_key()
        self._tap_tempo()
        self._follow_controls(now)
        if self.follow_tempo:
            self._track_tempo()
        self._follow_arrangement()
        frontier = now + self.horizon
        while not self.ended and not self.resting:
            slot = self._next_commit
            frame = t.frame_at(slot / SLOTS_PER_BEAT)
            if frame >= frontier:
                break
            if 0 <= self.stop_frame <= frame:
                self.ended = True
                break
            if slot == self._switch_slot >= 0:
                self._switch(slot, frame)
                continue  # a song starts afresh: its slot 0 is here
            if slot == self._pause_slot >= 0:
                self._rest(frame)
                break
            self._commit(slot, frame, now)
        if not self.ended and not self.resting:
            self._correct(now)
            self._plan_ahead(frontier + t.frames_per_beat)
        self._release(frontier)

    # -- the band's controls (planner thread) -------------------------------------
    def _next_bar_slot(self) -> int:
        bar_slots = self.transport.meter * SLOTS_PER_BEAT
        return max(0, -(-self._next_commit // bar_slots)) * bar_slots

    def _say(self, line: str) -> None:
        if len(self.stats.messages) < 200:
            self.stats.messages.append(line)

    def _follow_controls(self, now: int) -> None:
        """Pick up what the controls asked for since the last step."""
        if (self.adventure_in, self.energy_in) != self._levels_seen:
            self._set_levels()
        if self._restart_seq != self._restart_seen:
            self._restart_seen = self._restart_seq
            if self.resting or self.ended:
                frame = max(self._restart_frame, now) + self.horizon
                self._restart(frame, self.songs[self.song] if self.songs else None, self.count_in_slots)
            self._pause_slot = -1  # start before the stop came: the band plays on
        if self.ended or self.resting:
            self._style_seen, self._mode_seen, self._pause_seen = self._style_seq, self._mode_seq, self._pause_seq
            if self._song_seq != self._song_seen:  # a song chosen while the band rests: start plays it
                self._song_seen = self._song_seq
                self.song = self._song_req if self._song_req < len(self.songs) else self.song
            return
        if self._pause_seq != self._pause_seen:
            self._pause_seen = self._pause_seq
            self._pause_slot = self._next_bar_slot()
            self._switch_slot = -1 if self._switch_slot >= self._pause_slot else self._switch_slot
        if self._song_seq != self._song_seen:
            self._song_seen = self._song_seq
            if 0 <= self._song_req < len(self.songs):
                self._due(song=self._song_req)
        if self._style_seq != self._style_seen:
            self._style_seen = self._style_seq
            names = self.styles
            current = self._switch_style or self.style
            if names:
                i = names.index(current) if current in names else (-1 if self._style_step > 0 else 0)
                name = names[(i + self._style_step) % len(names)]
                if name != self.style or self._switch_style:
                    self._due(style=name)
        if self._mode_seq != self._mode_seen:
            self._mode_seen = self._mode_seq
            mode = self._switch_mode or self.mode
            if mode in SWITCHABLE_MODES and getattr(self.accompanist, "name", "") != "chart":
                self._due(mode=SWITCHABLE_MODES[(SWITCHABLE_MODES.index(mode) + 1) % len(SWITCHABLE_MODES)])
            else:
                self._say(f"mode: only {' and '.join(SWITCHABLE_MODES)} switch live; the band stays in {mode} mode")

    def _due(self, *, style: str = "", mode: str = "", song: int = -1) -> None:
        """Switch at the next bar line (or the one already chosen); a song wins over a
        style or mode asked for with it."""
        slot = self._next_bar_slot()
        if not 0 <= self._switch_slot < slot + 1:
            self._switch_slot = slot
        if 0 <= self._pause_slot <= self._switch_slot:
            self._pause_slot = -1  # a switch asked for after a stop: the band plays on into it
        if song >= 0:
            self._switch_song, self._switch_style, self._switch_mode = song, "", ""
        if style:
            self._switch_style = style
        if mode:
            self._switch_mode = mode

    def _switch(self, slot: int, frame: int) -> None:
        """At the bar line: the song, style and mode asked for take over."""
        self._switch_slot = -1
        if self._switch_song >= 0:
            song, self._switch_song = self.songs[self._switch_song], -1
            self.song = self.songs.index(song)
            self._cut(frame, None)
            self._restart(frame, song, 0)
            self._say(f"song {self.song}: {song.name} ({song.mode}, {song.style}, {song.tempo:g} bpm)")
            for line in song.lines:
                self._say(line)
        if self._switch_style:
            self._set_style(self._switch_style)
            self._switch_style = ""
        if self._switch_mode:
            self.mode, self._switch_mode = self._switch_mode, ""
            self.listener.set_zones(self.listener.split, all_chord(self.mode, self.listener.split, self.chord_detect))
        self._tentative.clear()  # decided before the switch
        self._tentative_version.clear()

    def _set_style(self, name: str) -> None:
        style = active_style(name)  # loaded and activated when the rig loaded: a dict lookup
        self.style, self.swing = name, style.swing
        self.arrangement.style = style

    def _set_levels(self) -> None:
        a, e = self.adventure_in, self.energy_in
        self._levels_seen = (a, e)
        self.adventure, self.energy = level(a), level(e)
        dec = getattr(self.accompanist, "decoder", None)  # the model's chord sampler, where there is one
        if dec is not None and hasattr(dec, "temperature"):
            if self._temperature is None:
                self._temperature = float(dec.temperature)
            x = self.adventure
            dec.temperature = self._temperature + 0.8 * x if x > 0 else self._temperature * (1.0 + x)

    def _cut(self, frame: int, parts: tuple[int, ...] | None) -> None:
        """End at ``frame`` every band note still sounding there (of ``parts``; None: all)."""
        keep = []
        for on_frame, off_frame, part, note, eid in self._open:
            if (parts is None or part in parts) and off_frame > frame:
                if on_frame >= frame:  # not sounded yet: the audio clock skips it
                    self.ring.cancel[eid & CANCEL_MASK] = 1
                self._push(frame, NOTE_OFF, part, note, 0, eid)
            else:
                keep.append((on_frame, off_frame, part, note, eid))
        self._open = keep

    def _rest(self, frame: int) -> None:
        """The band stops at this bar line (the take goes on); start brings it back."""
        self._pause_slot = -1
        self._switch_slot = -1
        self._cut(frame, None)
        self.resting = True
        self._tentative.clear()
        self._tentative_version.clear()
        if self.midi_clock and self.clock_started:
            self._push(frame, CLOCK_STOP, 0, 0, 0, 0)
            self.clock_started = False

    def _restart(self, frame: int, song: SongPlan | None, count_in_slots: int) -> None:
        """Start the band afresh at ``frame``: the song's settings, a fresh arrangement,
        slot 0 (after ``count_in_slots`` of count-in) there."""
        t = self.transport
        if song is not None:
            t.bpm, t.meter = float(song.tempo), int(song.meter)
            self.mode, self.swing, self.chord_detect = song.mode, song.swing, song.chord_detect
            self.style = song.style
            self.follow_tempo = song.follow_tempo
            self.styles = song.styles
            acc = song.accompanist
            if acc is not None:
                self.accompanist = self.fallback if acc is self._failed and self.fallback is not None else acc
            self.arrangement = song.arrangement()
            self.listener.set_zones(song.split, all_chord(song.mode, song.split, song.chord_detect))
            self.adventure_in, self.energy_in = song.adventure, song.energy
            self._set_levels()
        else:
            self.arrangement = Arrangement(active_style(self.style), intro=False)
        t.start(frame, beat=-count_in_slots / SLOTS_PER_BEAT)
        self._next_commit = -count_in_slots
        self._heard_late_step = -1
        self.ended = self.resting = False
        self.stop_frame = self._ending_frame = self._pause_slot = self._switch_slot = -1
        self._auto_bar = 0
        self._tentative.clear()
        self._tentative_version.clear()
        self._tempo_request = None
        if self._follow is not None:
            self._follow = None
            self._follow_seen = self.listener.n_on

    def _adventure_fills(self) -> None:
        """Adventurousness above the middle: the band plays fills of its own into a new
        phrase (every 8 bars, and every 4 as it rises) and, near the top, changes variation
        every 16; each bar's chance is drawn from the seed, so a take can be played again."""
        x = self.adventure
        bar_slots = self.transport.meter * SLOTS_PER_BEAT
        nb = -(-self._next_commit // bar_slots)  # the next bar not yet committed
        if nb <= self._auto_bar:
            return
        self._auto_bar = nb
        if x <= 0 or nb < 1:
            return
        arr = self.arrangement
        if arr.at(nb)[0] not in ("main_a", "main_b") or arr.at(nb + 1)[0] not in ("main_a", "main_b"):
            return
        phrase_end = (nb + 1) % 8 == 0
        if (nb + 1) % 16 == 0 and chance(self.seed, nb, 2) < 2 * x - 1:
            action = "next_variation"
        elif phrase_end and chance(self.seed, nb, 1) < x or (nb + 1) % 4 == 0 and chance(self.seed, nb, 1) < 2 * x - 1:
            action = "fill"
        else:
            return
        arr.request(action, nb)
        self._tentative.clear()
        self._tentative_version.clear()

    def _follow_arrangement(self) -> None:
        """Apply a section request at the next bar line; stop the band where the ending ends."""
        t = self.transport
        bar_slots = t.meter * SLOTS_PER_BEAT
        if self._section_seq != self._section_seen:
            self._section_seen = self._section_seq
            bar = max(0, -(-self._next_commit // bar_slots))  # the next bar line not yet committed
            self.arrangement.request(self._section_action, bar)
            self._tentative.clear()  # decided with the old plan
            self._tentative_version.clear()
        self._adventure_fills()
        end = self.arrangement.end_bar
        if end >= 0:  # follows tempo changes, unless an earlier stop was asked for elsewhere
            f = t.frame_at(end * t.meter)
            if self.stop_frame < 0 or self.stop_frame == self._ending_frame or f < self.stop_frame:
                self.stop_frame = self._ending_frame = f

    def _ctx(self, slot: int, snap, again: bool = False) -> SlotContext:
        bar = slot // (self.transport.meter * SLOTS_PER_BEAT)
        section, section_bar = self.arrangement.at(bar)
        prev = self.arrangement.at(bar - 1)[0] if bar > 0 else ""
        return SlotContext(slot=slot, meter=self.transport.meter, style=self.style,
                           swing=self.swing, mode=self.mode, snapshot=snap, key=self.key,
                           frames_per_beat=self.transport.frames_per_beat,
                           frame=self.transport.frame_at(slot / SLOTS_PER_BEAT),
                           section=section, section_bar=section_bar, prev_section=prev,
                           sr=self.clock.sr, chord_detect=self.chord_detect, adventure=self.adventure,
                           energy=self.energy, again=again)

    def _decide(self, slot: int, snap, again: bool = False) -> Decision:
        t0 = time.perf_counter_ns()
        try:
            d = self.accompanist.decide(self._ctx(slot, snap, again))
        except Exception:
            self.stats.errors += 1
            self._fall_back(traceback.format_exc(limit=3))
            d = self.accompanist.decide(self._ctx(slot, snap, again))
        dt = time.perf_counter_ns() - t0
        st = self.stats
        st.decide_ns_max = max(st.decide_ns_max, dt)
        i = st.decisions & (DECIDE_HISTORY - 1)  # preallocated: a store, no allocation
        st.decide_ns[i] = dt
        st.decide_model[i] = d.extra is not None
        st.decisions += 1
        if d.say:
            self._say(d.say)
        return d

    def _correct(self, now: int) -> None:
        """React when the musician's chord arrives just after the beat it belongs to.

        Slots are committed ``horizon`` ahead, so a chord played exactly on the beat
        cannot be in that beat's decision. Like a player who hears the change a moment
        late, we re-strike the harmony parts with the new chord at once, as long as the
        beat began at most ``CORRECTION_SLOTS`` slots (an eighth note) ago. Only chords
        the musician holds in the chord zone do this: a chord the band chooses from the
        melody is decided strictly from notes that began before its slot.
        """
        if self.listener.version == self._checked_version:
            return  # nothing played since the last look (an int read: no copy, no GIL-long work)
        snap = self._snapshot()
        self._checked_version = snap.version
        if not snap.hands:
            self._hear_late(now, snap)
            return
        t = self.transport
        # a note heard in this block belongs to a beat that starts before the next block
        beat_slot = int(t.beat_at(now + self.clock.block) * SLOTS_PER_BEAT) // SLOTS_PER_BEAT * SLOTS_PER_BEAT
        window = CORRECTION_SLOTS * t.frames_per_beat / SLOTS_PER_BEAT
        if beat_slot < 0 or now - t.frame_at(beat_slot / SLOTS_PER_BEAT) > window:
            return
        d = self._decide(beat_slot, snap, again=True)
        if self._restrike(d, beat_slot, now) >= 0:
            self.stats.corrections += 1

    def _hear_late(self, now: int, snap) -> None:
        """A model band (lead and duet modes) hears a melody note that began on an eighth
        already final: the step was decided before the note, strictly causally, so a note
        the chord does not hold clashes until the next eighth. The accompanist decides
        the step again hearing it (``ModelAccompanist``: only where the note clashes, and
        only for a chord that holds it), and the harmony parts strike that chord at once,
        a few ms after the note. Once per eighth; a note that began more than
        ``CORRECTION_SLOTS`` slots after its eighth's start is the next decision's."""
        if self.mode not in MELODY_MODES or not getattr(self.accompanist, "hears_late", False):
            return
        on = snap.onsets
        i = on.shape[0] - 1
        while i >= 0 and on[i, 1] < snap.melody_min:  # the newest melody note
            i -= 1
        if i < 0:
            return
        t = self.transport
        step_frames = t.frames_per_beat / 2
        # the eighth it begins (a note a little early counts as on it, as the model's input does)
        step = math.floor(t.beat_at(int(on[i, 0]) + step_frames / ON_TIME_DIV) * 2) * (SLOTS_PER_BEAT // 2)
        if step < 0 or step >= self._next_commit or step == self._heard_late_step:
            return  # not final yet (its commit hears the note), or heard already
        self._heard_late_step = step
        if now - t.frame_at(step / SLOTS_PER_BEAT) > CORRECTION_SLOTS * step_frames / 2:
            return
        d = self._decide(step, snap, again=True)
        strike = self._restrike(d, step, now)
        if strike >= 0:
            st = self.stats
            st.heard_late_lag[st.heard_late & (LAG_HISTORY - 1)] = strike - int(on[i, 0])  # a store, no allocation
            st.heard_late += 1

    def heard_late_ms(self) -> np.ndarray:
        """The kept corrections' lags (the last ``LAG_HISTORY``, in ring order), note onset to
        strike, in ms."""
        n = min(self.stats.heard_late, LAG_HISTORY)
        return self.stats.heard_late_lag[:n] * 1000.0 / self.clock.sr

    def _restrike(self, d: Decision, slot: int, now: int) -> int:
        """A correction: ``d`` (``slot`` decided again) made final with its harmony parts
        struck at once, where its chord differs from the band's: the frame it strikes at,
        or -1 where it did not."""
        if d.chord == self.accompanist.chord or d.chord.root < 0:
            return -1
        d.events = [e for e in d.events if self._role(e.part) in HARMONY_ROLES]  # not drums, not a duet's lead
        d.cut_parts = tuple(sorted({e.part for e in d.events} | set(d.cut_parts)))
        frame = max(now + self.clock.block, self.transport.frame_at(slot / SLOTS_PER_BEAT))
        self._apply(d, frame, now, shift_to=now + self.clock.block)
        return frame

    def _snapshot(self):
        """The listener's snapshot, copied again only when the musician played since.

        The planner steps every millisecond; copying the listener's arrays on every step
        held the GIL the audio callback needs for ~40% of the planner's time (py-spy, a busy
        performance), and the callback missed periods waiting for it."""
        v = self.listener.version
        if self._snap is None or v != self._snap.version or v & 1:
            self._snap = self.listener.snapshot()
        return self._snap

    def _plan_ahead(self, until_frame: int) -> None:
        """Decide the slots up to ``until_frame`` tentatively: the next slot to commit again
        whenever the musician played since or a slot was committed since (so that its
        commit finds it ready), the slots beyond it once (the stage view's next chord reads
        them). A slot beyond the next is decided before the slot ahead of it is final, so
        its commit decides it again anyway: deciding it again at every note too (as until
        2026-12-07) tripled the live decisions, each one a model step every other slot."""
        snap = self._snapshot()
        slot = self._next_commit
        t = self.transport
        while t.frame_at(slot / SLOTS_PER_BEAT) < until_frame:
            seen = self._tentative_version.get(slot)
            if seen is None or (slot == self._next_commit
                                and seen != (snap.version, self.stats.slots_committed)):
                self._tentative[slot] = self._decide(slot, snap)
                self._tentative_version[slot] = (snap.version, self.stats.slots_committed)
            slot += 1

    def _commit(self, slot: int, frame: int, now: int) -> None:
        if self._tempo_request is not None and slot % SLOTS_PER_BEAT == 0:
            self.transport.set_tempo(self._tempo_request, slot / SLOTS_PER_BEAT)
            if self._follow is not None:  # a tempo asked for resets what following learnt
                self._follow = tempo_state(self.transport.frame_at(slot / SLOTS_PER_BEAT),
                                           self.transport.frames_per_beat)
            self._tempo_request = None
            self._tentative.clear()
            self._tentative_version.clear()
            frame = self.transport.frame_at(slot / SLOTS_PER_BEAT)
        elif self.clock_in and slot > 0:
            frame = self._meet_the_clock(slot, frame, now)
        elif self._follow is not None and slot % SLOTS_PER_BEAT == 0 and slot > 0:
            frame = self._meet_the_musician(slot, frame, now)
        snap = self._snapshot()
        d = self._tentative.pop(slot, None)
        version, base = self._tentative_version.pop(slot, (None, None))
        if d is not None and version != snap.version:
            self.stats.revisions += 1  # the musician played since: decide again
        if d is None or version != snap.version or base != self.stats.slots_committed:
            # also when decided before the previous slot was final: voice leading and
            # the chord in force must see the real past
            d = self._decide(slot, snap)
        self._next_commit = slot + 1
        self.stats.slots_committed += 1
        if frame < now:
            self.stats.late_commits += 1
        self._apply(d, frame, now)
        if self.midi_clock:
            self._clock_ticks(slot, frame)

    def _clock_ticks(self, slot: int, frame: int) -> None:
        """MIDI clock for one slot: Start before the first tick of the take, then 24
        ticks a beat on the transport's grid (so they follow tempo changes)."""
        t = self.transport
        if not self.clock_started:
            self.clock_started = True
            self._push(frame, CLOCK_START, 0, 0, 0, 0)
        per_slot = CLOCK_PPQN // SLOTS_PER_BEAT
        for k in range(per_slot):
            f = frame if k == 0 else t.frame_at((slot + k / per_slot) / SLOTS_PER_BEAT)
            self._push(f, CLOCK_TICK, 0, 0, 0, 0)

    def _apply(self, d: Decision, frame: int, now: int, shift_to: int | None = None) -> None:
        """Make a decision final: advance the accompanist, schedule its notes."""
        self.accompanist.commit(d)
        if self.last is None or d.chord != self.last.chord:
            self.chord_log.append((d.slot, frame, d.chord))
        self.last = d
        t = self.transport
        if d.cut_parts:
            self._cut(frame, d.cut_parts)
        self._open = [o for o in self._open if o[1] > now]
        for ev in d.events:
            self._eid += 1
            on = t.frame_at(ev.beat)
            off = max(on + 1, t.frame_at(ev.beat + ev.duration))
            if shift_to is not None:
                on = max(on, shift_to)
                off = max(off, on + int(0.1 * t.frames_per_beat))
            self.ring.cancel[self._eid & CANCEL_MASK] = 0
            self._push(on, NOTE_ON, ev.part, ev.note, ev.velocity, self._eid)
            self._push(off, NOTE_OFF, ev.part, ev.note, 0, self._eid)
            self._open.append((on, off, ev.part, ev.note, self._eid))

    def _role(self, part: int) -> str:
        return self.roles.get(part, "")

    def _push(self, frame: int, kind: int, part: int, note: int, vel: int, eid: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (frame, kind, self._seq, part, note, vel, eid))

    def _release(self, frontier: int) -> None:
        self._released = max(self._released, frontier)
        heap = self._heap
        while heap and heap[0][0] < frontier:
            frame, kind, _, part, note, vel, eid = heapq.heappop(heap)
            self.ring.push(frame, kind, part, note, vel, eid)

    def flush_offs(self) -> None:
        """Release every pending note-off now (end of a take); note-ons are dropped."""
        for frame, kind, _, part, note, vel, eid in sorted(self._heap):
            if kind == NOTE_OFF:
                self.ring.push(frame, kind, part, note, vel, eid)
        self._heap.clear()
        self._open.clear()

    def _tap_tempo(self) -> None:
        n = self.n_taps
        if n == self._taps_seen:
            return
        self._taps_seen = n
        k = min(n, TAPS)
        taps = np.array([self.taps[i % TAPS] for i in range(n - k, n)])
        period = tap_tempo(taps, k, 2.0 * self.clock.sr)  # a 2 s pause starts a new tapping
        if period > 0:
            self.request_tempo(60.0 * self.clock.sr / period)

    def _track_tempo(self) -> None:
        """Feed the musician's onsets to the tempo follower (kernels.tempo)."""
        t, li = self.transport, self.listener
        if self._follow is None:
            beat = max(0, -(-self._next_commit // SLOTS_PER_BEAT))
            self._follow = tempo_state(t.frame_at(float(beat)), t.frames_per_beat)
        n = li.n_on
        chord_gap = 0.03 * self.clock.sr  # the notes of one chord are one onset
        for i in range(max(self._follow_seen, n - ONSET_CAPACITY), n):
            f = int(li.on_frame[i & (ONSET_CAPACITY - 1)])
            if self._follow_last >= 0 and f - self._follow_last < chord_gap:
                continue
            tempo_update(self._follow, float(f), 2, FOLLOW_ALPHA, FOLLOW_BETA)
            self._follow_last = f
        self._follow_seen = n

    # -- MIDI clock in (planner thread) -----------------------------------------------
    def _follow_external(self) -> None:
        """Follow the clock's Start, Continue, Stop and Song Position, in the order heard.

        Start: the song from the top (bar 1, a fresh arrangement) on the next tick.
        Continue: on the next tick, from where the clock stopped (or a Song Position
        sent while stopped), in the same place in the bar. Stop: no band note starts
        from the Stop's frame on, every sounding one ends, and the band waits. A Start
        while running starts over; a Continue while running changes nothing."""
        n = self.n_ext_ev
        for i in range(max(self._ext_ev_seen, n - EXT_EVENTS), n):
            status, frame, ticks, value = (int(v) for v in self.ext_ev[i & (EXT_EVENTS - 1)])
            if status == 0xFC or status == 0xFA:  # a Start while running stops the run first
                if self._ext_running:
                    self._ext_running = False
                    self._ext_pos = max(0, ticks - self._ext_origin)
                    self._halt(frame)
                elif status == 0xFC:
                    self._ext_pending = -1  # stopped before its first tick
                if status == 0xFA:
                    self._ext_pending, self._ext_pending_pos = ticks, 0
            elif status == 0xFB and not self._ext_running:
                if self._ext_pending < 0 or self._ext_pending_pos != 0:  # Start then Continue: still the top
                    self._ext_pending, self._ext_pending_pos = ticks, self._ext_pos
            elif status == 0xF2 and not self._ext_running:
                self._ext_pos = max(0, value) * TICKS_PER_SLOT
                if self._ext_pending >= 0:
                    self._ext_pending_pos = self._ext_pos
        self._ext_ev_seen = n
        first = self._ext_pending
        if first >= 0 and self.n_ext_ticks > first:
            self._ext_pending = -1
            self._run_external(first, self._ext_pending_pos, int(self.ext_ticks[first & (EXT_TICKS - 1)]))

    def _run_external(self, first: int, pos: int, frame: int) -> None:
        """The clock runs again: tick ``first`` (at ``frame``) is song position ``pos``
        (ticks from the top)."""
        t = self.transport
        self.ext_start_tick, self._ext_origin, self._ext_fit_n = first, first - pos, -1
        self._ext_running = True
        if pos == 0 and not t.running:
            t.start(frame)  # the take's first Start: its first tick is beat 0
            return
        if pos == 0:  # Start again: bar 1, a fresh arrangement, at the clock's last tempo
            bpm = t.bpm
            self._restart(frame, self.songs[self.song] if self.songs else None, 0)
            t.bpm = bpm
            return
        beat = pos / CLOCK_PPQN
        if t.running:
            t.retime(beat, frame, t.bpm)  # beats before it keep their frames
        else:  # Song Position and Continue before any Start
            t.start(frame, beat=beat)
        self._next_commit = -(-pos // TICKS_PER_SLOT)  # the first slot on or after the position
        self._heard_late_step = -1
        self.ended = self.resting = False
        self.stop_frame = self._ending_frame = self._pause_slot = self._switch_slot = -1
        self._tentative.clear()
        self._tentative_version.clear()

    def _halt(self, stop: int) -> None:
        """The clock's Stop: no band note starts at or after ``stop``, and the band waits
        for Start or Continue. The audio clock has ended the sounding notes already (the
        engine, on the Stop); the note-offs pushed here are the planner's own guarantee
        (in the ring's frame order: within the commit horizon)."""
        at = max(stop, self._released)
        for on_frame, off_frame, part, note, eid in self._open:
            if off_frame > stop:
                if on_frame >= stop:  # not sounded yet: the audio clock skips it
                    self.ring.cancel[eid & CANCEL_MASK] = 1
                self._push(at, NOTE_OFF, part, note, 0, eid)
        self._open = []
        self._heap = [e for e in self._heap if e[1] == NOTE_OFF]  # note-ons and ticks planned past the Stop
        heapq.heapify(self._heap)
        self.resting = True
        # the ending's stop is worked out again from the transport a Continue retimes
        self.stop_frame = self._ending_frame = self._pause_slot = self._switch_slot = -1
        self._tentative.clear()
        self._tentative_version.clear()
        if self.midi_clock and self.clock_started:
            self._push(at, CLOCK_STOP, 0, 0, 0, 0)
            self.clock_started = False

    def _meet_the_clock(self, slot: int, frame: int, now: int) -> int:
        """Put this slot where the external clock's ticks say it falls: a straight line
        through the last EXT_FIT ticks (tick 24 * b is beat b), its slope the tempo.
        Every slot, not only beats: the first beats after Start are committed before
        the clock's tempo is known well."""
        s, n = self.ext_start_tick, self.n_ext_ticks
        if self._ext_fit_n != n:
            first = max(s, n - EXT_FIT)  # this run's ticks only: none from before a Stop
            if n - first < 2:
                return frame
            idx = np.arange(first, n)
            x = (idx - self._ext_origin).astype(np.float64)  # ticks from the top of the song
            self._ext_fit = np.polyfit(x, self.ext_ticks[idx & (EXT_TICKS - 1)], 1)
            self._ext_fit_n = n
        per_tick, at0 = self._ext_fit
        if per_tick <= 0:
            return frame
        t = self.transport
        target = at0 + per_tick * CLOCK_PPQN * (slot / SLOTS_PER_BEAT)
        earliest = max(now + self.clock.block, t.frame_at((slot - 1) / SLOTS_PER_BEAT) + 1)
        target = int(max(target, earliest))
        bpm = min(300.0, max(30.0, 60.0 * self.clock.sr / (per_tick * CLOCK_PPQN)))
        if target != frame or abs(bpm - t.bpm) > 1e-6:
            t.retime(slot / SLOTS_PER_BEAT, target, bpm)
            self._tentative.clear()
            self._tentative_version.clear()
        return target

    def _meet_the_musician(self, slot: int, frame: int, now: int) -> int:
        """Move this beat (and the tempo from it on) towards the musician's, at most
        FOLLOW_MAX_SHIFT of a beat, never before the last committed slot or into the past.
        The band holds its tempo when the musician has not played for two bars."""
        st, t = self._follow, self.transport
        if st[MATCHED] < FOLLOW_MIN_MATCHED or frame - self._follow_last > 2 * t.meter * t.frames_per_beat:
            return frame
        period = float(st[PERIOD])
        target = next_beat(st, frame - period / 2)  # the musician's beat nearest the band's
        limit = FOLLOW_MAX_SHIFT * t.frames_per_beat
        target = min(max(target, frame - limit), frame + limit)
        earliest = max(now + self.clock.block, t.frame_at((slot - 1) / SLOTS_PER_BEAT) + 1)
        target = int(max(target, earliest))
        bpm = min(300.0, max(30.0, 60.0 * self.clock.sr / period))
        if target != frame or abs(bpm - t.bpm) > 1e-6:
            t.retime(slot / SLOTS_PER_BEAT, target, bpm)
            self._tentative.clear()  # planned on the old grid
            self._tentative_version.clear()
        return target

    def _update_key(self) -> None:
        li = self.listener
        n = li.n_on
        if n == self._key_seen:
            return
        start = max(self._key_seen, n - ONSET_CAPACITY)
        for i in range(start, n):
            j = i & (ONSET_CAPACITY - 1)
            key_update(self._key_state, int(li.on_note[j]) % 12, 1.0, KEY_DECAY)
        self._key_seen = n
        tonic, mode, _conf = key_estimate(self._key_state)
        self.key = (int(tonic), int(mode))


class PlannerThread:
    """Runs ``Planner.step`` every ``period_ms`` on its own daemon thread."""

    def __init__(self, planner: Planner, period_ms: float = 1.0) -> None:
        self.planner = planner
        self.period = period_ms / 1000.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sideman-planner", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.planner.step()
            time.sleep(self.period)

    def __enter__(self) -> PlannerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
