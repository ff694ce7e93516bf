"""The engine: the audio-clock callback that reads the musician, plays the band and
records the take.

Threading model
---------------
- ``Engine.tick`` is the audio-clock callback: pyo calls it once per block (live on
  JACK/PortAudio, or from ``server.process()`` offline). It drains MIDI input, updates
  the listener, sounds the musician at once, dispatches the planner's events that fall
  in this block to pyo voices and MIDI out, and records. It allocates no containers,
  waits on nothing and never raises: an exception is caught and counted, and the
  show goes on.
- The planner thread writes the ``EventRing`` and reads the listener (see planner.py).
- The control thread builds the engine, asks it to stop (``request_stop``) and, once
  the audio clock has silenced everything, writes the take.
- A writer thread (``live.midifile.TakeJournal``) copies the recorder's new events to
  disk while the jam runs; it only reads what ``Recorder.n`` has published.
- The rig's controls run on the audio clock (``on_input`` -> ``_control``): each only
  stores plain values in the planner (``Planner.request_*``, ``adventure_in``,
  ``energy_in``); the planner does the musical work at its next step. Everything a
  control may switch to (styles, the setlist's songs) is loaded here, on the control
  thread, when the engine is built.
- The session's supervisor thread swaps ``midi_ins`` (one reference swap) when a
  controller comes or goes, and asks the audio clock to end the notes of a lost one
  (``release_source``): the audio clock does the releasing, so the note tables keep
  one writer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from live.accompanist import PartInfo, RuleAccompanist
from live.events import (CANCEL_MASK, CLOCK_START, CLOCK_STOP, CLOCK_TICK, MUSICIAN, NOTE_OFF, NOTE_ON,
                         EventRing)
from live.errors import StyleError
from live.listener import Listener
from live.planner import Planner, SongPlan, all_chord
from live.clock import FrameClock
from live.rigschema import VALUE_ACTIONS
from live.styles import Arrangement, activate, open_style, style_names

#: ring event kind -> MIDI real-time status byte (Start, Clock, Stop)
REALTIME_STATUS = {CLOCK_START: 0xFA, CLOCK_TICK: 0xF8, CLOCK_STOP: 0xFC}

MAX_INPUT_PER_BLOCK = 256
REC_CAPACITY = 1 << 20
CB_HISTORY = 1 << 16
MUSICIAN_EID = 1 << 40  # musician event ids live far above the planner's
#: recorder slots kept for note-offs and pedal-ups once it is nearly full: every open
#: note (17 tracks x 128 notes at most) can still be ended in the recording
REC_RESERVE = 17 * 128 + 64
MAX_SOURCES = 1024  # input source ids (a reconnect takes a new one); wrap around after


@dataclass(slots=True)
class EngineStats:
    blocks: int = 0
    callback_errors: int = 0
    input_events: int = 0
    input_dropped: int = 0
    late_events: int = 0
    late_max_frames: int = 0
    band_notes: int = 0
    rec_dropped: int = 0


class Recorder:
    """Preallocated log of every MIDI message the engine heard or played, in frames."""

    def __init__(self, capacity: int = REC_CAPACITY) -> None:
        self.frame = np.zeros(capacity, np.int64)
        self.track = np.zeros(capacity, np.int8)  # part index, MUSICIAN for the musician
        self.status = np.zeros(capacity, np.uint8)
        self.d1 = np.zeros(capacity, np.uint8)
        self.d2 = np.zeros(capacity, np.uint8)
        self.n = 0
        self.dropped = 0
        self.capacity = capacity
        self.reserve = min(REC_RESERVE, capacity // 2)
        self.open = np.zeros((32, 128), np.int8)  # notes sounding in the recording (track % 32)
        self.pedal = np.zeros(32, np.int8)

    def add(self, frame: int, track: int, status: int, d1: int, d2: int) -> None:
        n = self.n
        t = track & 31
        if n >= self.capacity - self.reserve:
            # nearly full: only what ends a note or the pedal in the recording is kept, so
            # it never holds a note-on without its note-off (the reserve fits them all)
            if status == 0x80:
                ok = self.open[t, d1] > 0
            elif status == 0xB0 and d1 == 64 and d2 < 64:
                ok = self.pedal[t] > 0
            else:
                ok = False
            if not ok or n >= self.capacity:
                self.dropped += 1
                return
        if status == 0x90:
            self.open[t, d1] = 1
        elif status == 0x80:
            self.open[t, d1] = 0
        elif status == 0xB0 and d1 == 64:
            self.pedal[t] = 1 if d2 >= 64 else 0
        self.frame[n] = frame
        self.track[n] = track
        self.status[n] = status
        self.d1[n] = d1
        self.d2[n] = d2
        self.n = n + 1

    def events(self) -> np.ndarray:
        """(n, 5) int64 copy: frame, track, status, d1, d2. Control thread."""
        n = self.n
        return np.stack([self.frame[:n], self.track[:n].astype(np.int64),
                         self.status[:n].astype(np.int64), self.d1[:n].astype(np.int64),
                         self.d2[:n].astype(np.int64)], axis=1)


class Engine:
    """Listener + planner + voices + MIDI out, driven one block at a time."""

    def __init__(self, rig, *, sr: int, block: int, parts: list, musician_part,
                 midi_outs: list | None = None, accompanist=None, seed: int = 0,
                 horizon_ms: float = 30.0, live: bool = False,
                 decision_budget_ms: float | None = None) -> None:
        self.rig = rig
        self.clock = FrameClock(sr, block, follow_wall=live)
        self.listener = Listener(rig.input.split, rig.mode)
        self.listener.all_chord = all_chord(rig.mode, self.listener.split, rig.input.chord_detect)
        self.ring = EventRing(8192)
        self.band_cfg = [p for p in rig.band if p.enabled]
        infos = [PartInfo(i, p.role, p.low, p.high) for i, p in enumerate(self.band_cfg)]
        # the style is read here, on the control thread: the planner only looks it up
        self.style = activate(open_style(rig.style, rig.styles))
        rules = RuleAccompanist(infos, seed=seed)
        if callable(accompanist) and not hasattr(accompanist, "decide"):
            accompanist = accompanist(infos)  # a factory: it needs the parts
        if accompanist is not None and decision_budget_ms is not None:
            accompanist = DecisionBudget(accompanist, decision_budget_ms)
        self.planner = Planner(clock=self.clock, listener=self.listener, ring=self.ring,
                               accompanist=accompanist or rules, fallback=rules,
                               tempo=rig.tempo, meter=rig.meter, style=rig.style,
                               swing=rig.swing, mode=rig.mode, count_in=rig.count_in,
                               sync_start=rig.sync_start, horizon_ms=horizon_ms,
                               arrangement=Arrangement(self.style, intro=rig.intro),
                               follow_tempo=rig.follow_tempo, midi_clock=rig.midi_out.clock,
                               clock_in=rig.input.clock, seed=seed, chord_detect=rig.input.chord_detect,
                               adventure=rig.adventurousness, energy=rig.energy)
        self.stop_ends_take = rig.stop_ends_take
        self.song_of = np.full(128, -1, np.int64)  # program number -> song index (the setlist)
        self.planner.styles = self._style_cycle(rig)
        self.planner.songs = self._songs(rig, infos, rules, seed)
        self.clock_in = rig.input.clock
        # MIDI clock in: the frame of the clock's Stop until its Start/Continue; no band note
        # starts at or after it (the planner hears the Stop a moment later)
        self.ext_hold = -1
        self.planner.roles = {i: p.role for i, p in enumerate(self.band_cfg)}
        self.parts = parts  # pyo instruments, one per enabled band part (or None)
        self.musician = musician_part
        self.midi_outs = midi_outs or []
        self.midi_ins: list = []
        self.file_source = None
        self.recorder = Recorder()
        self.stats = EngineStats()
        n = len(self.band_cfg)
        self.owner = np.full((max(n, 1), 128), -1, np.int64)
        self.channel = np.array([p.channel - 1 for p in self.band_cfg] or [0], np.int64)
        self.musician_owner = np.full(128, -1, np.int64)
        self.musician_src = np.zeros(128, np.int64)  # which input source played each note
        self.src = 0  # the source of the message being handled (audio thread)
        self.source_lost = np.zeros(MAX_SOURCES, np.bool_)  # set by the supervisor
        self.lost_seq = 0  # bumped by the supervisor after setting a flag
        self._lost_seen = 0
        self.musician_voiced = np.zeros(128, np.int8)
        ch = rig.input.channels
        self.accept_channel = np.array([not ch or (c + 1) in ch for c in range(16)], np.bool_)
        self.thru = rig.input.thru
        self.thru_ch = rig.input.thru_channel - 1
        self.controls = {}  # (type, number) -> (action, channel or -1, takes the value)
        for c in rig.controls:
            self.controls[(c.type, c.number)] = (c.action, -1 if c.channel is None else c.channel - 1,
                                                 c.action in VALUE_ACTIONS)
        self.cb_ns = np.zeros(CB_HISTORY, np.int64)
        self._msg = [0, 0, 0]  # reused for every MIDI out message
        self._msg1 = [0]  # and for MIDI clock
        self.clock_running = False
        self.stop_requested = False
        self.silenced = False
        self.end_of_input = False

    # -- control thread ------------------------------------------------------
    def _style_cycle(self, rig) -> tuple[str, ...]:
        """The styles style_next/style_prev step through, each loaded and activated now."""
        names = rig.style_list if rig.style_list is not None else style_names(rig.styles)
        out = []
        for name in names:
            try:
                style = open_style(name, rig.styles)
            except StyleError as e:  # one broken file of yours does not stop the jam
                self.planner.stats.messages.append(f"style_next skips {name}: {e}")
                continue
            if style.meter == rig.meter:
                if name != rig.style:  # the rig's own is active already
                    activate(style)
                out.append(name)
        return tuple(out)

    def _songs(self, rig, infos: list[PartInfo], rules, seed: int) -> tuple[SongPlan, ...]:
        """The rig itself (song 0) and its setlist's songs, ready to switch to."""
        pl = self.planner
        # a song played from the hands has the band's own accompanist (the model or the
        # rules); the rig's own chart or duet voice cannot play another song's
        harmony = pl.accompanist if rig.mode in ("lead", "chords") and not rig.chart else rules
        songs = [self._song(rig, rig, pl.accompanist, infos, seed, own=True)]
        for entry in rig.setlist:
            if entry.rig is None:
                self.song_of[entry.program] = 0
                continue
            self.song_of[entry.program] = len(songs)
            songs.append(self._song(entry.rig, rig, harmony, infos, seed))
        return tuple(songs)

    def _song(self, r, base, harmony, infos: list[PartInfo], seed: int, own: bool = False) -> SongPlan:
        style = activate(open_style(r.style, r.styles)) if not own else self.style
        lines: list[str] = []
        say = f"song {r.name}:"
        mode = r.mode
        if not own and mode == "duet" and base.mode != "duet":
            lines.append(f"{say} duet mode needs the answering voice of a duet rig: it plays in lead mode")
            mode = "lead"
        acc = harmony
        if r.chart:
            from live.chart import ChartAccompanist, ChartArrangement, build_plan, load_chart

            plan = build_plan(load_chart(r.chart), style, loop=r.loop)
            acc = harmony if own else ChartAccompanist(infos, plan, seed=seed)
            arrangement = lambda: ChartArrangement(style, plan)  # noqa: E731
        else:
            intro = r.intro
            arrangement = lambda: Arrangement(style, intro=intro)  # noqa: E731
        if not own:
            lines += self._not_switched(r, base, say)
        same = own or (r.style_list == base.style_list and r.meter == base.meter and r.styles == base.styles)
        styles = self.planner.styles if same else self._style_cycle(r)
        return SongPlan(name=r.name, tempo=r.tempo, meter=r.meter, style=r.style, swing=r.swing, mode=mode,
                        split=-1 if r.input.split is None else r.input.split, chord_detect=r.input.chord_detect,
                        follow_tempo=r.follow_tempo, adventure=r.adventurousness, energy=r.energy,
                        accompanist=acc, arrangement=arrangement, styles=styles, lines=tuple(lines))

    @staticmethod
    def _not_switched(r, base, say: str) -> list[str]:
        """What a song's rig sets that cannot change while the band plays, in words."""
        import dataclasses

        lines = []
        if r.band != base.band:
            lines.append(f"{say} its band ({', '.join(f'{p.name} {p.instrument}' for p in r.band)}) does not "
                         f"switch live: the band keeps this rig's players and sounds")
        if r.audio != base.audio:
            lines.append(f"{say} its audio settings do not switch live (they need a new jam)")
        keep = ("split", "chord_detect")
        mine = {k: v for k, v in dataclasses.asdict(r.input).items() if k not in keep}
        if mine != {k: v for k, v in dataclasses.asdict(base.input).items() if k not in keep}:
            lines.append(f"{say} only input.split and input.chord_detect switch live; the other input settings "
                         f"stay this rig's")
        for what in ("midi_out", "controls", "record"):
            if getattr(r, what) != getattr(base, what):
                lines.append(f"{say} its {what} stay this rig's")
        return lines

    def request_stop(self) -> None:
        self.stop_requested = True

    def start(self) -> None:
        """Send program changes; without sync start the band starts now."""
        for i, p in enumerate(self.band_cfg):
            if p.role != "drums":
                self._send(0xC0 | int(self.channel[i]), p.program - 1, -1)
        if self.thru:
            self._send(0xC0 | self.thru_ch, self.rig.input.program - 1, -1)
        if not self.planner.sync_start:
            self.planner.start_frame = self.clock.block_end

    # -- audio thread ----------------------------------------------------------
    def tick(self) -> None:
        """The audio-clock callback. Never raises."""
        t0 = time.perf_counter_ns()
        try:
            clock = self.clock
            clock.advance()
            if self.stop_requested:
                if not self.silenced:
                    self.stop_clock()
                    self.all_notes_off()
                    self.silenced = True
                return
            bs, be = clock.block_start, clock.block_end
            if self.lost_seq != self._lost_seen:
                self._release_lost(bs)
            for mi in self.midi_ins:
                self.src = mi.sid if type(mi) is SourceIn else 0
                for _ in range(MAX_INPUT_PER_BLOCK):
                    m = mi.get_message()
                    if m is None:
                        break
                    self.on_input(m[0], bs)
            self.src = 0
            src = self.file_source
            if src is not None:
                src.poll(be, self.on_input)
            ring = self.ring
            r, w = ring.read, ring.write
            while r < w:
                i = r & ring.mask
                f = int(ring.frame[i])
                if f >= be:
                    break
                if f < bs:
                    self.stats.late_events += 1
                    if bs - f > self.stats.late_max_frames:
                        self.stats.late_max_frames = bs - f
                eid = int(ring.eid[i])
                kind = int(ring.kind[i])
                if kind == NOTE_OFF or not (ring.cancel[eid & CANCEL_MASK]
                                            or (kind == NOTE_ON and 0 <= self.ext_hold <= f)):
                    self.dispatch(kind, int(ring.part[i]), int(ring.note[i]), int(ring.vel[i]),
                                  eid, max(f, bs))
                r += 1
            ring.read = r
        except Exception:
            self.stats.callback_errors += 1
        finally:
            b = self.stats.blocks
            self.cb_ns[b & (CB_HISTORY - 1)] = time.perf_counter_ns() - t0
            self.stats.blocks = b + 1

    def on_input(self, msg, frame: int) -> None:
        """One incoming MIDI message. Malformed input is dropped and counted."""
        st = self.stats
        n = len(msg)
        if n == 1 and msg[0] >= 0xF8:  # real time: clock, start, continue, stop, sensing
            if self.clock_in:
                self.planner.external_clock(msg[0], frame)
                if msg[0] == 0xFC:  # Stop: the band's notes end now, not when the planner hears it
                    self.ext_hold = frame
                    self._band_off(frame)
                elif msg[0] == 0xFA or msg[0] == 0xFB:
                    self.ext_hold = -1
            return
        if self.clock_in and n == 3 and msg[0] == 0xF2 and msg[1] < 128 and msg[2] < 128:  # Song Position
            self.planner.external_position(msg[1] | (msg[2] << 7), frame)
            return
        if n == 0 or n > 3 or msg[0] < 0x80 or msg[0] > 0xEF:
            st.input_dropped += 1
            return
        status = msg[0]
        kind = status & 0xF0
        ch = status & 0x0F
        need = 2 if kind in (0xC0, 0xD0) else 3
        if n != need or msg[1] > 127 or (n == 3 and msg[2] > 127):
            st.input_dropped += 1
            return
        if not self.accept_channel[ch]:
            return
        st.input_events += 1
        d1 = msg[1]
        d2 = msg[2] if n == 3 else 0
        if kind == 0x90 and d2 > 0:
            self._musician_on(d1, d2, frame)
        elif kind == 0x80 or kind == 0x90:
            self._musician_off(d1, frame)
        elif kind == 0xB0:
            ctl = self.controls.get(("cc", d1))
            if ctl is not None and ctl[1] in (-1, ch) and (ctl[2] or d2 >= 64):
                if ctl[2]:
                    self._control_value(ctl[0], d2)
                else:
                    self._control(ctl[0], frame)
                return
            if d1 == 64:
                self._pedal(d2 >= 64, frame)
            elif d1 == 123 or d1 == 120:
                self._musician_all_off(frame)
            elif self.thru:
                self._send(0xB0 | self.thru_ch, d1, d2)
        elif kind == 0xC0:
            ctl = self.controls.get(("program", d1))
            if ctl is not None and ctl[1] in (-1, ch):
                self._control(ctl[0], frame)
            elif self.song_of[d1] >= 0:  # the setlist: that song from the next bar line
                self.planner.request_song(int(self.song_of[d1]))
        elif self.thru:  # pitch bend, aftertouch: pass through to the musician's channel
            self._send(kind | self.thru_ch, d1, d2 if n == 3 else -1)

    def _control(self, action: str, frame: int) -> None:
        if action == "stop":
            if self.stop_ends_take:
                self.stop_requested = True
            else:
                self.planner.request_pause()
        elif action == "start":
            if self.planner.start_frame < 0:
                self.planner.start_frame = frame
            else:  # the band stopped (or ended): again from the top
                self.planner.request_restart(frame)
        elif action == "panic":
            self.all_notes_off()
        elif action == "tempo_up":
            self.planner.request_tempo(self.planner.transport.bpm + 4)
        elif action == "tempo_down":
            self.planner.request_tempo(self.planner.transport.bpm - 4)
        elif action == "tap_tempo":
            self.planner.tap(frame)
        elif action == "style_next":
            self.planner.request_style(1)
        elif action == "style_prev":
            self.planner.request_style(-1)
        elif action == "mode":
            self.planner.request_mode()
        else:  # fill, break, next_variation, ending: the arrangement, from the next bar line
            self.planner.request_section(action)

    def _control_value(self, action: str, value: int) -> None:
        """A value control (a CC's value, a note's velocity): a plain int for the planner."""
        if action == "adventurousness":
            self.planner.adventure_in = value
        elif action == "energy":
            self.planner.energy_in = value

    def _musician_on(self, note: int, vel: int, frame: int) -> None:
        ctl = self.controls.get(("note", note))
        if ctl is not None:
            if ctl[2]:
                self._control_value(ctl[0], vel)
            else:
                self._control(ctl[0], frame)
            return
        li = self.listener
        li.note_on(note, vel, frame)
        if self.planner.sync_start and self.planner.start_frame < 0:
            self.planner.start_frame = frame
        eid = MUSICIAN_EID + li.n_on
        old = self.musician_owner[note]
        if old >= 0:  # struck again while sounding: end the sounding one first, everywhere
            if self.musician is not None:
                self.musician.note_off(note, old)
            self.recorder.add(frame, MUSICIAN, 0x80, note, 0)
            if self.thru:
                self._send(0x80 | self.thru_ch, note, 0)
        self.musician_owner[note] = eid
        self.musician_src[note] = self.src
        self.musician_voiced[note] = 1
        if self.musician is not None:
            self.musician.note_on(note, vel, eid)
        self.recorder.add(frame, MUSICIAN, 0x90, note, vel)
        if self.thru:
            self._send(0x90 | self.thru_ch, note, vel)

    def _musician_off(self, note: int, frame: int) -> None:
        if self.controls.get(("note", note)) is not None:
            return
        if self.listener.note_off(note, frame):
            self._musician_release(note, frame)
        if self.thru:
            self._send(0x80 | self.thru_ch, note, 0)

    def _musician_release(self, note: int, frame: int) -> None:
        eid = self.musician_owner[note]
        if eid < 0:
            return  # note-off without note-on: nothing to end
        if self.musician is not None:
            self.musician.note_off(note, eid)
        self.musician_owner[note] = -1
        self.musician_voiced[note] = 0
        self.recorder.add(frame, MUSICIAN, 0x80, note, 0)

    def _pedal(self, down: bool, frame: int) -> None:
        self.listener.sustain(down, frame)
        self.recorder.add(frame, MUSICIAN, 0xB0, 64, 127 if down else 0)
        if self.thru:
            self._send(0xB0 | self.thru_ch, 64, 127 if down else 0)
        if not down:
            held = self.listener.held
            for note in range(128):
                if self.musician_voiced[note] and held[note] == 0:
                    self._musician_release(note, frame)

    def release_source(self, sid: int) -> None:
        """Supervisor thread: an input source is gone; the audio clock ends its notes
        at its next block. Two stores, no lock."""
        self.source_lost[sid % MAX_SOURCES] = True
        self.lost_seq += 1

    def _release_lost(self, frame: int) -> None:
        self._lost_seen = self.lost_seq
        li = self.listener
        lost = self.source_lost
        for note in range(128):
            if (li.held[note] or self.musician_owner[note] >= 0) and lost[self.musician_src[note] % MAX_SOURCES]:
                li.note_off(note, frame)
                self._musician_release(note, frame)
                if self.thru:
                    self._send(0x80 | self.thru_ch, note, 0)
        if li.pedal:  # the pedal was on the lost controller too (most likely): lift it
            self._pedal(False, frame)

    def _musician_all_off(self, frame: int) -> None:
        self.listener.all_off(frame)
        for note in range(128):
            if self.musician_owner[note] >= 0:
                self._musician_release(note, frame)
        if self.thru:
            self._send(0xB0 | self.thru_ch, 123, 0)

    def dispatch(self, kind: int, part: int, note: int, vel: int, eid: int, frame: int) -> None:
        """Play one planned event now: pyo voice, MIDI out, recording."""
        if kind >= CLOCK_START:  # MIDI clock: the band port only
            self._send_realtime(REALTIME_STATUS[kind])
            self.clock_running = kind != CLOCK_STOP
            return
        inst = self.parts[part] if part < len(self.parts) else None
        ch = int(self.channel[part])
        owner = self.owner[part, note]
        if kind == NOTE_ON:
            if owner >= 0:  # re-trigger: end the sounding one first
                if inst is not None:
                    inst.note_off(note, owner)
                self._send(0x80 | ch, note, 0)
                self.recorder.add(frame, part, 0x80, note, 0)
            self.owner[part, note] = eid
            if inst is not None:
                inst.note_on(note, vel, eid)
            self._send(0x90 | ch, note, vel)
            self.recorder.add(frame, part, 0x90, note, vel)
            self.stats.band_notes += 1
        elif owner == eid:
            self.owner[part, note] = -1
            if inst is not None:
                inst.note_off(note, eid)
            self._send(0x80 | ch, note, 0)
            self.recorder.add(frame, part, 0x80, note, 0)

    def _band_off(self, frame: int) -> None:
        """End every sounding band note (voice, MIDI out, recording) with its own note-off;
        the planner's note-offs for them find no owner and do nothing."""
        for part in range(self.owner.shape[0]):
            ch = int(self.channel[part])
            inst = self.parts[part] if part < len(self.parts) else None
            for note in range(128):
                eid = self.owner[part, note]
                if eid >= 0:
                    self.owner[part, note] = -1
                    if inst is not None:
                        inst.note_off(note, eid)
                    self._send(0x80 | ch, note, 0)
                    self.recorder.add(frame, part, 0x80, note, 0)

    def all_notes_off(self) -> None:
        """End every sounding note on every output: voices, MIDI out, the recording."""
        frame = self.clock.block_start
        for part in range(self.owner.shape[0]):
            ch = int(self.channel[part])
            for note in range(128):
                if self.owner[part, note] >= 0:
                    self.owner[part, note] = -1
                    self._send(0x80 | ch, note, 0)
                    self.recorder.add(frame, part, 0x80, note, 0)
            if part < len(self.parts) and self.parts[part] is not None:
                self.parts[part].all_off()
        self._musician_all_off(frame)
        self.listener.all_off(frame)
        for ch in range(16):
            self._send(0xB0 | ch, 64, 0)
            self._send(0xB0 | ch, 123, 0)
        self.ring.clear()

    def stop_clock(self) -> None:
        """The take ends: MIDI clock Stop, so the gear that follows the band stops too."""
        if self.clock_running:
            self.clock_running = False
            self._send_realtime(REALTIME_STATUS[CLOCK_STOP])

    def _send_realtime(self, status: int) -> None:
        msg = self._msg1
        msg[0] = status
        for out in self.midi_outs:
            try:
                out.send_message(msg)
            except Exception:
                self.stats.callback_errors += 1

    def _send(self, status: int, d1: int, d2: int) -> None:
        if not self.midi_outs:
            return
        msg = self._msg
        if d2 < 0:
            msg = msg[:2]  # program change / channel pressure (rare; allocates)
        msg[0] = status
        msg[1] = d1
        if d2 >= 0:
            msg[2] = d2
        for out in self.midi_outs:
            try:
                out.send_message(msg)
            except Exception:
                self.stats.callback_errors += 1


class SourceIn:
    """An input port with a source id, so the engine knows whose notes to end when the
    port goes away. ``get_message`` is the port's own bound method (no extra call)."""

    __slots__ = ("port", "sid", "name", "get_message")

    def __init__(self, port, sid: int, name: str) -> None:
        self.port = port
        self.sid = sid
        self.name = name
        self.get_message = port.get_message


class BudgetExceeded(RuntimeError):
    """The accompanist is slower than the live band can wait for."""


class DecisionBudget:
    """Wraps an accompanist (the model) with a time budget per decision.

    A decision longer than ``hard_ms`` (the commit horizon: anything slower makes the
    band late), or ``soft_n`` decisions in a row longer than ``soft_ms``, raise
    ``BudgetExceeded`` from ``decide``; the planner treats it like any accompanist
    failure: the rule-based band takes over from that slot on and the planner says so
    once. The first ``grace`` decisions are not judged (first calls compile/allocate).

    Thread: planner only. Everything else is delegated to the wrapped accompanist.
    """

    def __init__(self, inner, hard_ms: float, soft_ms: float | None = None, soft_n: int = 3,
                 grace: int = 2) -> None:
        d = self.__dict__
        d["_inner"] = inner
        d["_hard_ns"] = int(hard_ms * 1e6)
        d["_soft_ns"] = int((soft_ms if soft_ms is not None else hard_ms / 2) * 1e6)
        d["_soft_n"], d["_grace"], d["_over"], d["_calls"] = soft_n, grace, 0, 0

    def decide(self, ctx):
        t0 = time.perf_counter_ns()
        dec = self._inner.decide(ctx)
        dt = time.perf_counter_ns() - t0
        d = self.__dict__
        d["_calls"] += 1
        if d["_calls"] <= self._grace:
            return dec
        d["_over"] = self._over + 1 if dt > self._soft_ns else 0
        if dt > self._hard_ns or self._over >= self._soft_n:
            why = (f"a decision took {dt / 1e6:.1f} ms (budget {self._hard_ns / 1e6:.0f} ms)" if dt > self._hard_ns
                   else f"{self._over} decisions in a row over {self._soft_ns / 1e6:.0f} ms")
            raise BudgetExceeded(f"too slow: {why}")
        return dec

    def __getattr__(self, name):
        return getattr(self.__dict__["_inner"], name)

    def __setattr__(self, name, value) -> None:
        setattr(self._inner, name, value)
