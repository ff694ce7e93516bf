"""The stage view: what the band is doing, big enough to read from a metre away, and
the keys that steer it while it plays (``sideman jam`` in a terminal, live audio).

The screen is a pure function: ``render(StageState)`` turns a small frozen snapshot
into a rich renderable (``render_text`` gives plain text for tests). ``snapshot``
fills a ``StageState`` from a running engine by reading its counters and tables.

Threading model
---------------
- ``StageView`` runs its own UI thread (``sideman-stage``): it reads the terminal's keys,
  takes snapshots and redraws a few times a second. It only READS what the audio clock
  and the planner write (plain ints, numpy arrays, lists that only grow, references
  swapped whole), never takes a lock they take, and tolerates a torn or stale read
  (a frame of display, never the music).
- The keys call what is safe from any thread: ``Planner.request_section`` (fill,
  variation, ending), ``Engine.request_stop`` (quit), and the plain ints
  ``Planner.start_frame`` / ``Planner.stop_frame`` (start the band now / stop it at
  the next bar line), exactly as the rig's controls and the control thread do.
- ``--keys`` notes go through ``live.keyboard.KeyInput``, which the audio clock polls
  like a MIDI port.
- ``StageView.progress`` and ``attach`` are called on the control (main) thread by
  ``live.session.run_jam``; ``close`` joins the UI thread.
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from live.bigfont import big

REFRESH_HZ = 4.0
RATE_WINDOW_S = 2.0  # notes per second over this window
LEVEL_DECAY_S = 0.35  # a meter falls to 1/e in this time
P99_BLOCKS = 4096  # callback p99 over the last ~5 s at 64 frames
KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SECTION_NAMES = {"main_a": "Main A", "main_b": "Main B", "intro": "Intro", "fill": "Fill", "break": "Break",
                 "ending": "Ending", "end": "End"}
CONTROL_HELP = "space start/stop band  f fill  v variation  e ending  q quit the take"
KEYS_CONTROL_HELP = "space start/stop band  F fill  V variation  E ending (shift)  q quit the take"
_PERIODIC = re.compile(r"^\s+[\d.]+ s\s+band notes")
_JAM_LINE = re.compile(r"^sideman jam: .* on (\w+) at")


# -- the snapshot ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PartLevel:
    """One band member (or the musician) on the meters."""

    name: str
    level: float  # 0..1: the recent velocity, falling off over LEVEL_DECAY_S
    rate: float  # note-ons per second over RATE_WINDOW_S
    sounding: int  # notes sounding now


@dataclass(frozen=True, slots=True)
class StageState:
    """Everything the stage view shows, as plain values."""

    rig: str = ""
    backend: str = ""
    mode: str = ""
    style: str = ""
    status: str = ""  # waiting / count-in / playing / ending / band stopped / stopping
    chord: str = ""  # the chord sounding now ("" before the first)
    next_chord: str = ""  # the next different chord in the plan ("" if none planned)
    next_in_beats: float = -1.0  # how far ahead it is (-1 unknown)
    key: str = ""
    bpm: float = 0.0
    meter: int = 4
    bar: int = 0  # 1-based bar of the band; 0 before it starts, negative in a count-in
    beat: int = 0  # 1-based beat within the bar
    section: str = ""
    section_bar: int = 0  # 1-based bar within the section
    variation: str = ""
    adventurousness: int = 64  # 0..127, 64 = the style as written (the rig's, or its control's)
    energy: int = 64
    parts: tuple[PartLevel, ...] = ()
    sr: int = 48000
    block: int = 64
    cb_p99_us: float = 0.0
    cb_max_us: float = 0.0
    xruns: int = 0  # blocks the clock saw lost
    late: int = 0  # events dispatched after their block
    errors: int = 0  # callback and planner errors
    dropped: int = 0  # input, ring and recorder drops
    midi_in: int = 0  # messages heard, total
    midi_out: int = 0  # band notes played, total
    midi_in_rate: float = 0.0
    midi_out_rate: float = 0.0
    elapsed_s: float = 0.0
    controls: str = CONTROL_HELP
    piano: str = ""  # --keys status line ("" without --keys)
    messages: tuple[str, ...] = ()

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.block / self.sr if self.sr else 0.0


def chord_label(chord) -> str:
    """A planner Chord as a lead-sheet symbol ("" for no chord)."""
    from kernels import chord_symbol

    if chord is None or chord.root < 0:
        return ""
    try:
        return chord_symbol(int(chord.root), int(chord.quality), int(chord.bass))
    except ValueError:
        return "?"


def key_label(key: tuple[int, int]) -> str:
    tonic, mode = key
    if tonic < 0:
        return ""
    return f"{KEY_NAMES[tonic % 12]} {'minor' if mode else 'major'}"


class Meters:
    """The UI side's running view of the recording: levels and rates per track.

    Reads ``Recorder`` entries the audio clock has published (index ``n``) since the
    last update; nothing here is written by another thread. Thread: UI.
    """

    def __init__(self, names: list[str]) -> None:
        self.names = names  # band parts in order, then the musician
        self.level = np.zeros(len(names))
        self.times: list[deque] = [deque() for _ in names]
        self.seen = 0
        self.t = None
        self.counters: deque = deque()  # (time, midi in, midi out) for the rates

    def update(self, engine, now: float) -> None:
        rec = engine.recorder
        n = rec.n
        start = max(self.seen, n - 4096)
        dt = 0.0 if self.t is None else now - self.t
        self.t = now
        self.level *= math.exp(-dt / LEVEL_DECAY_S) if dt > 0 else 1.0
        if n > start:
            tr = rec.track[start:n].astype(np.int64)
            st = rec.status[start:n]
            vel = rec.d2[start:n].astype(np.float64)
            on = (st == 0x90) & (vel > 0)
            for i in range(len(self.names)):
                tid = i if i < len(self.names) - 1 else -1
                mine = on & (tr == tid)
                k = int(mine.sum())
                if k:
                    self.level[i] = max(self.level[i], float(vel[mine].max()) / 127.0)
                    self.times[i].extend([now] * k)
        self.seen = n
        for q in self.times:
            while q and q[0] < now - RATE_WINDOW_S:
                q.popleft()
        s = engine.stats
        self.counters.append((now, s.input_events, s.band_notes))
        while len(self.counters) > 2 and self.counters[0][0] < now - RATE_WINDOW_S:
            self.counters.popleft()

    def rates(self) -> tuple[float, float]:
        """(MIDI in, MIDI out) messages per second over the window."""
        if len(self.counters) < 2:
            return 0.0, 0.0
        (t0, i0, o0), (t1, i1, o1) = self.counters[0], self.counters[-1]
        span = max(t1 - t0, 1e-3)
        return (i1 - i0) / span, (o1 - o0) / span

    def parts(self, engine) -> tuple[PartLevel, ...]:
        out = []
        for i, name in enumerate(self.names):
            if i < len(self.names) - 1:
                sounding = int((engine.owner[i] >= 0).sum()) if i < engine.owner.shape[0] else 0
            else:
                sounding = int((engine.musician_owner >= 0).sum())
            out.append(PartLevel(name, float(self.level[i]), len(self.times[i]) / RATE_WINDOW_S, sounding))
        return tuple(out)


def _chords(planner, frame: int, beat: float, running: bool) -> tuple[str, str, float]:
    """(chord now, next different chord, beats until it) from the chord log and the Plan."""
    from live.accompanist import SLOTS_PER_BEAT

    log = planner.chord_log  # only ever appended to by the planner
    n = len(log)
    cur = None
    upcoming = []
    for i in range(n - 1, max(-1, n - 16), -1):
        slot, f, c = log[i]
        if f <= frame:
            cur = c
            break
        upcoming.append((slot, c))
    cur_label = chord_label(cur)
    for slot, c in reversed(upcoming):  # committed, not sounding yet
        lab = chord_label(c)
        if lab and lab != cur_label:
            return cur_label, lab, (slot / SLOTS_PER_BEAT - beat) if running else -1.0
    try:
        plan = planner.plan_preview()
    except (KeyError, RuntimeError):  # the planner changed the Plan while we read it
        plan = []
    for d in plan:
        lab = chord_label(d.chord)
        if lab and lab != cur_label:
            return cur_label, lab, (d.slot / SLOTS_PER_BEAT - beat) if running else -1.0
    return cur_label, "", -1.0


def _callback_us(engine) -> tuple[float, float]:
    b = engine.stats.blocks
    k = min(b, P99_BLOCKS, len(engine.cb_ns))
    if k <= 0:
        return 0.0, 0.0
    idx = np.arange(b - k, b) & (len(engine.cb_ns) - 1)
    x = engine.cb_ns[idx] / 1000.0
    return float(np.percentile(x, 99)), float(x.max())


def snapshot(engine, meters: Meters | None = None, *, backend: str = "", now: float | None = None,
             controls: str = CONTROL_HELP, piano: str = "", messages: tuple[str, ...] = ()) -> StageState:
    """A StageState read from a running engine. Never blocks; reads may be a block stale.

    Thread: UI (or any thread that does not run the audio clock or the planner).
    """
    now = time.monotonic() if now is None else now
    pl, clock, rig = engine.planner, engine.clock, engine.rig
    t = pl.transport
    frame = clock.block_start
    running = t.running
    beat = t.beat_at(frame) if running else 0.0
    meter = t.meter
    bar_i = math.floor(beat / meter) if running else 0
    section, section_bar = ("", 0)
    if running and beat >= 0:
        section, section_bar = pl.arrangement.at(bar_i)
    if not running:
        status = "waiting for your first note" if pl.sync_start else "starting"
    elif pl.ended or section == "end":
        status = "band stopped"
    elif getattr(pl, "resting", False):
        status = "band stopped (start brings it in)"
    elif beat < 0:
        status = "count-in"
    elif pl.stop_frame >= 0:
        status = "ending" if section == "ending" else "stopping at the bar line"
    else:
        status = "playing"
    if engine.stop_requested:
        status = "stopping"
    chord, nxt, ahead = _chords(pl, frame, beat, running)
    if meters is not None:
        meters.update(engine, now)
        parts = meters.parts(engine)
        rin, rout = meters.rates()
    else:
        parts, rin, rout = (), 0.0, 0.0
    p99, mx = _callback_us(engine)
    s, ps = engine.stats, pl.stats
    in_bar = beat - bar_i * meter
    return StageState(
        rig=rig.name, backend=backend, mode=pl.mode, style=pl.style, status=status,
        chord=chord, next_chord=nxt, next_in_beats=ahead, key=key_label(pl.key), bpm=t.bpm, meter=meter,
        bar=(bar_i + 1 if bar_i >= 0 else bar_i) if running else 0,
        beat=int(in_bar) + 1 if running else 0,
        section=SECTION_NAMES.get(section, section), section_bar=section_bar + 1 if section else 0,
        variation=SECTION_NAMES.get(pl.arrangement.main, pl.arrangement.main),
        adventurousness=int(getattr(pl, "adventure_in", 64)), energy=int(getattr(pl, "energy_in", 64)),
        parts=parts, sr=clock.sr, block=clock.block, cb_p99_us=p99, cb_max_us=mx,
        xruns=clock.lost_blocks, late=s.late_events, errors=s.callback_errors + ps.errors,
        dropped=s.input_dropped + engine.ring.dropped + engine.recorder.dropped,
        midi_in=s.input_events, midi_out=s.band_notes, midi_in_rate=rin, midi_out_rate=rout,
        elapsed_s=clock.block_end / clock.sr, controls=controls, piano=piano, messages=tuple(messages))


# -- the screen (pure) --------------------------------------------------------------------

def _meter(level: float, width: int = 24) -> str:
    k = max(0, min(width, int(round(level * width))))
    return "█" * k + "░" * (width - k)


def render(st: StageState):
    """The stage view for one snapshot: a rich renderable. Pure: no I/O, no clock."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    head = Table.grid(expand=True, padding=(0, 2))
    head.add_column(ratio=3)
    head.add_column(ratio=2)
    now_label = Text.assemble(("NOW  ", "bold"), (st.chord or "—", "bold cyan"))
    if st.next_chord:
        when = f"  in {st.next_in_beats:.0f} beats" if st.next_in_beats >= 0.5 else "  now"
        next_label = Text.assemble(("NEXT  ", "bold"), (st.next_chord, "bold yellow"), (when, "dim"))
    else:
        next_label = Text.assemble(("NEXT  ", "bold"), ("—", "dim"))
    head.add_row(now_label, next_label)
    head.add_row(Text("\n".join(big(st.chord or "-")), style="bold cyan", no_wrap=True, overflow="crop"),
                 Text("\n".join(big(st.next_chord)) if st.next_chord else "", style="yellow", no_wrap=True,
                      overflow="crop"))

    info = Table.grid(padding=(0, 3))
    for _ in range(4):
        info.add_column()
    if st.bar > 0:
        dots = " ".join("●" if i + 1 == st.beat else "○" for i in range(st.meter))
        pos = f"bar {st.bar}  beat {st.beat}  {dots}"
    elif st.bar < 0:
        pos = f"count-in  beat {st.beat}"
    else:
        pos = "bar —"
    info.add_row(Text.assemble(("Tempo ", "dim"), (f"{st.bpm:.0f} bpm", "bold")),
                 Text.assemble(("Key ", "dim"), (st.key or "listening…", "bold")),
                 Text(pos, style="bold"),
                 Text.assemble(("", ""), (st.status, "bold green" if st.status == "playing" else "bold magenta")))
    section = f"{st.section} (bar {st.section_bar})" if st.section else "—"
    info.add_row(Text.assemble(("Mode ", "dim"), (st.mode, "bold")),
                 Text.assemble(("Style ", "dim"), (st.style, "bold")),
                 Text.assemble(("Section ", "dim"), (section, "bold")),
                 Text.assemble(("Variation ", "dim"), (st.variation, "bold")))
    info.add_row(Text.assemble(("Adventure ", "dim"), (f"{st.adventurousness}", "bold")),
                 Text.assemble(("Energy ", "dim"), (f"{st.energy}", "bold")), Text(""), Text(""))

    band = Table.grid(padding=(0, 2))
    band.add_column(min_width=9)
    band.add_column()
    band.add_column(justify="right")
    band.add_column(justify="right")
    for p in st.parts:
        band.add_row(Text(p.name, style="bold"), Text(_meter(p.level), style="green"),
                     f"{p.rate:4.1f} notes/s", f"{p.sounding} sounding")

    budget = 1000.0 * st.latency_ms
    health_bad = st.xruns or st.errors or st.dropped or st.cb_p99_us > 0.5 * budget
    health = Text.assemble(
        ("Audio ", "dim"), (f"{st.backend or 'live'} {st.sr} Hz / {st.block} fr = {st.latency_ms:.2f} ms", "bold"),
        ("   callback p99 ", "dim"), (f"{st.cb_p99_us:.0f} us", "bold red" if st.cb_p99_us > 0.5 * budget else "bold"),
        (f" (max {st.cb_max_us:.0f}, budget {budget:.0f})", "dim"),
        ("\nxruns ", "dim"), (str(st.xruns), "bold red" if st.xruns else "bold"),
        ("   late events ", "dim"), (str(st.late), "bold"),
        ("   errors ", "dim"), (str(st.errors), "bold red" if st.errors else "bold"),
        ("   dropped ", "dim"), (str(st.dropped), "bold red" if st.dropped else "bold"))
    midi = Text.assemble(
        ("MIDI in ", "dim"), ("● " if st.midi_in_rate > 0 else "○ ", "bold green" if st.midi_in_rate > 0 else "dim"),
        (f"{st.midi_in} ({st.midi_in_rate:.0f}/s)", "bold"),
        ("   out ", "dim"), ("● " if st.midi_out_rate > 0 else "○ ", "bold green" if st.midi_out_rate > 0 else "dim"),
        (f"{st.midi_out} band notes ({st.midi_out_rate:.0f}/s)", "bold"),
        ("   time ", "dim"), (f"{int(st.elapsed_s) // 60}:{int(st.elapsed_s) % 60:02d}", "bold"))

    rows = [head, Text(""), info, Text(""), band, Text(""), health, midi]
    if st.piano:
        rows.append(Text(st.piano, style="bold cyan"))
    rows.append(Text(st.controls, style="dim"))
    for m in st.messages[-3:]:
        rows.append(Text(m.strip(), style="yellow", overflow="ellipsis", no_wrap=True))
    title = f"Sideman · {st.rig}" if st.rig else "Sideman"
    return Panel(Group(*rows), title=title, title_align="left", border_style="red" if health_bad else "blue")


def render_text(st: StageState, width: int = 100) -> str:
    """The stage view as plain text (no colours), for tests and logs."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, record=True, legacy_windows=False)
    console.print(render(st))
    return console.export_text()


# -- the live view -------------------------------------------------------------------------

class TerminalKeys:
    """The terminal in cbreak mode (keys arrive one by one, Ctrl-C still interrupts)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved = None

    def __enter__(self) -> TerminalKeys:
        import termios
        import tty

        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc) -> None:
        import termios

        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def read(self, timeout: float) -> str:
        """Keys typed within ``timeout`` seconds ("" if none); escape sequences dropped."""
        import select

        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return ""
        data = os.read(self.fd, 256).decode(errors="ignore")
        return re.sub(r"\x1b(\[[0-9;?]*[A-Za-z~]|O.|.)?", "", data)


@dataclass
class StageView:
    """The stage view and its keys for one live jam.

    ``show``: draw the view (stdout is a terminal); ``keys``: read the terminal's keys
    (stdin is a terminal); ``piano``: a ``KeyboardPiano`` when ``--keys`` is on. Offline
    ``attach`` is never called and ``progress`` just prints.
    """

    show: bool = True
    keys: bool = True
    piano: object = None
    key_input: object = None
    print_: object = print
    engine: object = None
    backend: str = ""
    messages: deque = field(default_factory=lambda: deque(maxlen=6))
    held: list = field(default_factory=list)
    action: str = ""
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _active: bool = False
    _last: object = None  # the last frame drawn
    render_errors: int = 0  # frames in a row that could not be drawn

    # -- control thread --------------------------------------------------------------
    def progress(self, msg: str) -> None:
        """run_jam's progress lines: printed, or shown in the view while it is up."""
        m = _JAM_LINE.match(msg)
        if m:
            self.backend = m.group(1)
        if self._active:
            if not _PERIODIC.match(msg):  # the view shows those counters already
                self.messages.append(msg)
                self.held.append(msg)
        else:
            self.print_(msg)

    def attach(self, engine) -> None:
        """The clock runs: wire the computer keyboard in and start the UI thread."""
        self.engine = engine
        if self.key_input is not None:
            engine.midi_ins = [*engine.midi_ins, self.key_input]  # one reference swap
        if not (self.show or self.keys):
            return
        if not self.show and self.piano is not None:
            from live.keyboard import HELP

            self.print_(HELP)
            self.print_(KEYS_CONTROL_HELP)
        self._active = self.show
        self._thread = threading.Thread(target=self._run, name="sideman-stage", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the UI thread, give the terminal back, print what arrived meanwhile."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)
            self._thread = None
        was = self._active
        self._active = False
        if was:
            for m in self.held:
                self.print_(m)
            self.held.clear()

    def __enter__(self) -> StageView:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- UI thread ---------------------------------------------------------------------
    def _controls_help(self) -> str:
        return KEYS_CONTROL_HELP if self.piano is not None else CONTROL_HELP

    def state(self, meters: Meters | None) -> StageState:
        piano = self.piano.status() if self.piano is not None else ""
        msgs = list(self.messages) + ([self.action] if self.action else [])
        return snapshot(self.engine, meters, backend=self.backend, controls=self._controls_help(), piano=piano,
                        messages=tuple(msgs))

    def on_key(self, ch: str) -> None:
        """One key from the terminal: the computer keyboard first, then the controls."""
        if self.piano is not None and self.piano.key(ch):
            return  # with --keys, f, v and e are piano keys: the controls are F, V and E
        eng = self.engine
        pl = eng.planner
        c = ch.lower()
        if c == "q":
            self.action = "quitting the take"
            eng.request_stop()
        elif c == " ":
            self.action = toggle_band(eng)
        elif c in "fve":
            action = {"f": "fill", "v": "next_variation", "e": "ending"}[c]
            pl.request_section(action)
            self.action = f"{action.replace('_', ' ')} from the next bar line"

    def _run(self) -> None:
        from contextlib import ExitStack

        eng = self.engine
        meters = Meters([p.name for p in eng.band_cfg] + ["you"])
        try:
            with ExitStack() as stack:
                term = stack.enter_context(TerminalKeys(sys.stdin.fileno())) if self.keys else None
                live = None
                if self.show:
                    from rich.console import Console
                    from rich.live import Live

                    live = stack.enter_context(Live(self._frame(meters), console=Console(), screen=True,
                                                    auto_refresh=False, redirect_stdout=False,
                                                    redirect_stderr=False))
                next_draw = time.monotonic() + 1.0 / REFRESH_HZ
                while not self._stop.is_set() and not eng.stop_requested:
                    now = time.monotonic()
                    wait = next_draw - now
                    if self.piano is not None:
                        due = self.piano.expire(now)
                        if due is not None:
                            wait = min(wait, due)
                    if term is not None:
                        for ch in term.read(max(0.005, wait)):
                            self._key(ch)
                    else:
                        self._stop.wait(max(0.005, wait))
                    if live is not None and time.monotonic() >= next_draw:
                        live.update(self._frame(meters), refresh=True)
                        next_draw = time.monotonic() + 1.0 / REFRESH_HZ
        except Exception as exc:  # the terminal itself failed: the jam goes on without the view
            self.held.append(f"note: the stage view stopped: {exc!r}")
        finally:
            if self.piano is not None:
                self.piano.release_all()

    def _key(self, ch: str) -> None:
        try:
            self.on_key(ch)
        except Exception as exc:  # a key must never end the view (or the jam)
            self.action = f"key {ch!r} failed: {exc!r}"

    def _frame(self, meters: Meters):
        """The next frame; the last good one when a read caught the engine mid-change."""
        try:
            self._last = render(self.state(meters))
            self.render_errors = 0
        except Exception:
            self.render_errors += 1
            if self._last is None or self.render_errors > 3 * REFRESH_HZ:
                raise
        return self._last


def toggle_band(engine) -> str:
    """Space: start the band now if it waits, else stop it at the next bar line.

    Thread: UI. Writes only the planner's plain ints ``start_frame`` / ``stop_frame``
    (or, with ``stop_ends_take: false``, its ``request_pause`` / ``request_restart``).
    """
    pl = engine.planner
    t = pl.transport
    if not t.running:
        if pl.start_frame < 0:
            pl.start_frame = engine.clock.block_end
        return "band starts"
    if not getattr(engine, "stop_ends_take", True):  # the rig's stop rests the band: space does too
        if pl.resting or pl.ended:
            pl.request_restart(engine.clock.block_end)
            return "band starts again from the top"
        pl.request_pause()
        return "band stops at the next bar line (space brings it in again)"
    if pl.ended or pl.stop_frame >= 0:
        return "the band has stopped for this take (q ends the take)"
    beat = t.beat_at(engine.clock.block_end + pl.horizon)
    bar_end = math.ceil(beat / t.meter - 1e-9) * t.meter
    pl.stop_frame = t.frame_at(max(bar_end, 0))
    return "band stops at the next bar line"


def open_stage(*, no_view: bool, keys: bool, rig, audio: str | None, print_=print) -> StageView:
    """The StageView for ``sideman jam``: shown when stdout is a terminal, unless ``no_view``.

    Raises:
        SidemanError: ``keys`` without a terminal on stdin, or without live audio.
    """
    from live.errors import SidemanError

    tty_in = sys.stdin.isatty()
    tty_out = sys.stdout.isatty() and os.environ.get("TERM", "") not in ("", "dumb")
    piano = key_input = None
    if keys:
        if not tty_in:
            raise SidemanError("--keys reads the computer keyboard: run sideman jam in a terminal")
        from live.session import pick_backend

        if pick_backend(audio or rig.audio.backend) == "offline":
            raise SidemanError("--keys plays live: it needs a JACK server or a sound card "
                               "(none found; `sideman doctor` says what to do)")
        from live.keyboard import KeyboardPiano, KeyInput

        key_input = KeyInput()
        ch = rig.input.channels[0] - 1 if rig.input.channels else 0
        piano = KeyboardPiano(key_input, channel=ch)
    show = tty_out and not no_view
    return StageView(show=show, keys=tty_in and (show or keys), piano=piano, key_input=key_input, print_=print_)
