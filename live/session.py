"""A jam from start to finish: pick the backends, build the band, run the clock,
write the take.

Threading model: everything here runs on the control thread except ``Engine.tick``
(audio clock, called by pyo), ``Planner.step`` (planner thread live; inline after
each block offline) and, live, two helper threads that never touch the audio clock:
``JournalWriter`` (appends the recording to ``jam.journal`` every half second and
fsyncs it and the WAV being recorded, so a crash loses at most that; offline the
journal is appended inline every half second of audio) and ``Supervisor`` (watches the MIDI ports every 200 ms,
ends the notes of a controller that went away and reconnects it when it is back).
"""

from __future__ import annotations

import gc
import math
import os
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from live.engine import Engine
from live.atomicfile import MIN_FREE_BYTES, WavRecording, check_out_dir, describe, recording_path
from live.errors import DeviceError, OutputExistsError, OutputFileError
from live.midifile import FileInput, TakeJournal, journal_path, read_performance, recover_journal, write_take
from live.quiet import import_pyo, quiet_fds

TAIL_S = 1.5  # let releases and the reverb ring out after the last note
# pyo's audio thread takes the GIL every block (1.33 ms at 64 frames). CPython makes a
# waiting thread wait up to the switch interval (5 ms by default) for a busy holder, and
# makes the holder drop the GIL once a waiter has waited that long. Too long and the
# planner can keep the audio clock waiting; too short and the audio thread itself is
# made to hand the GIL to the planner in the middle of its block. Measured side by side
# (2 rounds of 90 s, busy performance, 64 frames): 0.2 ms 27 + 9 xrun cycles, 5 ms 14 + 5,
# 1 ms 8 + 2.
SWITCH_INTERVAL_S = 0.001
JOURNAL_PERIOD_S = 0.5  # a crash loses at most this much of the recording (plus one flush)
WATCH_PERIOD_S = 0.2  # how often the supervisor looks at the MIDI ports
AUDIO_LOST_S = 0.5  # the audio clock has not advanced for this long: the audio server is gone


def demo_path() -> Path:
    return Path(str(resources.files("live") / "data" / "demo.mid"))


def pick_backend(requested: str) -> str:
    """auto -> jack if a JACK server runs, else portaudio if there is an output device, else offline."""
    from live.midi_io import jack_running

    if requested != "auto":
        if requested == "jack" and not jack_running():
            raise DeviceError("--audio jack: no JACK server is running (start one, e.g. "
                              "`jackd -d alsa` or `jackd -d dummy`, or use --audio offline)")
        return requested
    if jack_running():
        return "jack"
    try:
        with quiet_fds():
            import sounddevice as sd

            dev = sd.query_devices(kind="output")
        if dev and dev.get("max_output_channels", 0) > 0:
            return "portaudio"
    except Exception:
        pass
    return "offline"


@dataclass
class JamResult:
    backend: str
    input: str
    wav: Path | None
    mid: Path | None
    png: Path | None
    seconds: float
    wall_s: float
    stats: dict = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    audio_lost: bool = False  # the audio server went away mid-take (the take up to there is saved)
    write_error: str = ""  # the disk refused part of the take (what was recorded before is kept)


def boot_server(pyo, backend: str, sr: int, block: int, device: str | None):
    """A booted pyo server for ``backend``; offline it is driven by ``server.process()``.

    Raises:
        DeviceError: the server does not start, or ``device`` matches no output device.
    """
    if backend == "offline":
        server = pyo.Server(sr=sr, nchnls=2, buffersize=block, duplex=0, audio="manual")
    elif backend == "jack":
        server = pyo.Server(sr=sr, nchnls=2, buffersize=block, duplex=0, audio="jack",
                            jackname="sideman")
    else:
        server = pyo.Server(sr=sr, nchnls=2, buffersize=block, duplex=0, audio="portaudio")
        if device:
            names = {name: i for i, name in zip(*reversed(pyo.pa_get_output_devices()), strict=True)}
            hits = [i for n, i in names.items() if device.lower() in n.lower()]
            if not hits:
                raise DeviceError(f"audio.device {device!r}: no output device contains that name "
                                  f"(available: {', '.join(names)})")
            server.setOutputDevice(hits[0])
    server.deactivateMidi()
    with quiet_fds():
        server.boot()
    if not server.getIsBooted():
        raise DeviceError(f"the {backend} audio server did not start")
    return server


#: SCHED_FIFO priority of Sideman's own threads in a live jam (planner, journal writer,
#: MIDI supervisor, the control loop): above every ordinary process, below JACK's audio
#: threads (jackd -R: 10 and up). A thread that holds the GIL and is pre-empted by some
#: other program keeps the GIL while it waits for a CPU, and pyo's audio thread, which
#: needs the GIL every block, waits with it (a priority inversion).
HELPER_RT_PRIORITY = 1


def to_helper_priority(priority: int = HELPER_RT_PRIORITY) -> str:
    """Put the calling thread (and the threads and programs it starts from now on: they
    inherit it, exec included) on SCHED_FIFO at ``priority``. Returns "" when done, or
    left as it is by ``SIDEMAN_HELPER_RT=0`` in the environment (for side-by-side
    measurements); else what the system said."""
    if os.environ.get("SIDEMAN_HELPER_RT", "1") == "0":
        return ""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        return str(exc)
    return ""


@contextmanager
def helpers_below_audio(progress, priority: int = HELPER_RT_PRIORITY):
    """Run the calling thread, and the threads it starts inside (they inherit it), at the
    helpers' priority (``to_helper_priority``); the calling thread's own policy is given
    back on leaving. Where that is not allowed it is said once and the jam goes on at
    normal priority. Thread: the control thread, before the helpers start.
    """
    old = os.sched_getscheduler(0), os.sched_getparam(0)
    why = to_helper_priority(priority)
    if why:
        progress(f"note: Sideman's planner runs at normal priority ({why}): a busy computer may hold up "
                 f"the band's audio; see sideman doctor")
    try:
        yield
    finally:
        try:
            os.sched_setscheduler(0, *old)
        except OSError:
            pass


def build_band(rig):
    from live.instruments import Mixer, make_part

    parts = [make_part(p.instrument, p.volume, p.pan) for p in rig.band if p.enabled]
    musician = make_part(rig.input.instrument, rig.input.volume, 0.0)
    sends = [p.reverb for p in rig.band if p.enabled] + [rig.input.reverb]
    mixer = Mixer(parts + [musician], sends=sends)
    return parts, musician, mixer


def run_jam(rig, *, backend: str = "auto", midi_in: str | None = None,
            midi_out: str | None = None, input_file: str | None = None,
            out_dir: str | Path = ".", force: bool = False, seconds: float | None = None,
            seed: int = 0, progress=print, accompanist=None, on_ready=None, take: str = "jam",
            resumed: bool = False) -> JamResult:
    """Play one jam and record it. Returns what was written and the engine's counters.

    ``take``: the file stem (``jam``; ``jam-2``... for a take resumed after the audio
    server came back). ``resumed``: such a part; a controller named by ``--midi-in``
    that is not back yet is waited for (the supervisor connects it when it appears)
    instead of being an error.

    Raises:
        DeviceError: audio or MIDI cannot be opened.
        InputFileError: ``input_file`` is not a playable MIDI file.
        OutputExistsError: the take's files exist and ``force`` is False.
        OutputFileError: ``out_dir`` cannot be written or has too little free space
            (before a note is played); or the disk refused part of the take while it
            played: raised after the take, with what was kept (the music is not stopped).
    """
    from live.midi_io import _matching, jack_setting, open_ports, pick_api

    t_wall = time.perf_counter()
    backend = pick_backend(backend if backend != "auto" else rig.audio.backend)
    record = rig.record.enabled
    # a minute of the recording (24-bit stereo) must fit before a note is played
    out = check_out_dir(out_dir, max(MIN_FREE_BYTES, rig.audio.sample_rate * 6 * 60) if record else MIN_FREE_BYTES)
    wav, mid, png = out / f"{take}.wav", out / f"{take}.mid", out / f"{take}.png"
    recover_crashed_take(out, progress, stem=take)
    if record and not force:
        for p in (wav, mid, png):
            if p.exists():
                raise OutputExistsError(f"{p} exists; use --force to overwrite it or --out DIR for another folder")

    # Offline there is no one to listen to: play a file (the demo by default; a chart
    # plays on its own, a backing track). Live, the musician plays, unless a file is
    # asked for (--input FILE, or --input demo).
    if input_file == "demo" or (input_file is None and backend == "offline" and not rig.chart):
        input_file = str(demo_path())
    perf = read_performance(input_file) if input_file else None
    from live.doctor import cached_kernels
    from live.modes import band_setup

    if cached_kernels() == 0:  # said before the wait, not after it
        progress("first run: compiling the band's kernels (10-20 s; numba caches them for the runs after)")
    notes: list[str] = []
    setup = band_setup(rig, seed=seed, messages=notes, accompanist=accompanist)
    band_only = perf is None and backend == "offline"
    if band_only and seconds is None:
        seconds = setup.seconds(rig) + TAIL_S + 1.0

    sr, block = rig.audio.sample_rate, rig.audio.buffer
    if backend == "jack":
        sr = jack_setting("jack_samplerate") or sr
        block = jack_setting("jack_bufsize") or block
    pyo = import_pyo()
    server = boot_server(pyo, backend, sr, block, rig.audio.device)
    ports = None
    journal = None
    recording = None
    audio_lost = False
    disk = DiskTrouble(progress)
    try:
        parts, musician, mixer = build_band(rig)
        mixer.out()
        if backend != "offline":
            want_in = midi_in or rig.input.port
            if resumed and want_in:
                from live.midi_io import list_ports

                if not _matching(list_ports(pick_api(prefer_jack=backend == "jack"))[0], want_in):
                    progress(f"note: no MIDI input contains {want_in!r} yet: listening for it")
                    want_in = None
            ports = open_ports(pick_api(prefer_jack=backend == "jack"),
                               want_in, midi_out or rig.midi_out.port,
                               hardware_in=perf is None and not (midi_in or rig.input.port),
                               clock_in=rig.input.clock, progress=progress, jack_audio=backend == "jack")
        for n in notes:
            progress(f"note: {n}")
        live = backend != "offline"
        # live, a model decision slower than the commit horizon makes the band late: the rules take over
        engine = Engine(rig, sr=sr, block=block, parts=parts, musician_part=musician,
                        midi_outs=ports.outs if ports else [], accompanist=setup.accompanist, seed=seed,
                        live=live,
                        decision_budget_ms=DECISION_BUDGET_MS if live and rig.accompanist == "model" else None)
        setup.install(engine, band_only=band_only)
        for line in setup.lines:
            progress(line)
        if ports:
            engine.midi_ins = ports.sources()
            for name in ports.names:
                progress(f"midi {name}")
        progress(f"band: {engine.planner.accompanist.name} accompanist")
        if perf is not None:
            engine.file_source = FileInput(perf, sr)
        from kernels import warmup

        warmup()
        engine.planner.step()  # first call compiles and allocates before the clock runs
        server.setCallback(engine.tick)
        if record:
            recording = WavRecording(server, wav)  # .jam.part.wav until the take is over
            journal = TakeJournal(journal_path(mid), engine.recorder, _journal_header(engine))
        progress(f"ready in {time.perf_counter() - t_wall:.2f} s (model loaded, kernels compiled, band built)")
        what = Path(input_file).name if input_file else "you: play on sideman:in (Ctrl-C ends the take)"
        if band_only:
            what = "the band alone (no one plays along offline)"
        announce = (f"sideman jam: {rig.name} ({rig.mode}, {rig.style}, {rig.tempo:g} bpm) "
                    f"on {backend} at {sr} Hz / {block} frames, playing {what}")
        if backend == "offline":
            progress(announce)
            run_offline(server, engine, perf, seconds, progress, ends_take=setup.ends_take, journal=journal,
                        disk=disk)
        else:
            sup = Supervisor(engine, ports, progress, midi_in=midi_in or rig.input.port,
                             hardware_in=perf is None and not (midi_in or rig.input.port),
                             clock_in=rig.input.clock, jack_audio=backend == "jack") if ports else None
            with helpers_below_audio(progress), JournalWriter(journal, disk=disk, wav=recording), \
                    sup or nullcontext():
                audio_lost = _run_live(server, engine, perf, seconds, progress, on_ready,
                                       ends_take=setup.ends_take, announce=announce)
        if record and not audio_lost:
            server.recstop()
            try:
                recording.finish(keep_partial=True)
            except OutputFileError as exc:  # said once, after the take (the final word on the WAV)
                disk.final = str(exc)
    finally:
        if not audio_lost:
            shutdown_server(server)
        if ports is not None and not audio_lost:
            ports.close()

    messages = list(engine.planner.stats.messages)
    if audio_lost:
        messages.append(f"the audio server went away at {engine.clock.block_end / sr:.1f} s: the take up to "
                        "there is saved")
    if recording is not None and audio_lost:  # pyo never closed it: its header still says "empty"
        from live.midifile import repair_wav

        try:
            repair_wav(recording.tmp)
            os.replace(recording.tmp, wav)
        except OSError as exc:
            disk.failed(describe(exc, wav, "saving"))
    result = JamResult(backend, input_file or "live", wav if record and wav.exists() else None,
                       mid if record else None, png if record and not audio_lost else None,
                       engine.clock.block_end / sr, time.perf_counter() - t_wall,
                       stats=_stats(engine), messages=messages, audio_lost=audio_lost)
    if record:
        what = setup.chart.title if setup.chart is not None and perf is None else Path(result.input).name
        try:
            save_take(engine, mid, png, title=f"{rig.name}: {what}", plot=not audio_lost)
        except OutputFileError as exc:
            # the journal holds the take (up to where the disk filled): keep it for --recover
            journal.close(flush=False)
            raise OutputFileError(
                f"{exc}; the take is kept in {journal.path}: free some space and run "
                f"`sideman takes --recover --folder {out}`") from exc
        journal.close(remove=True, flush=False)  # the .mid is on disk: the journal has done its job
        if disk.final or disk.first:
            result.write_error = disk.final or disk.first
            kept = " and ".join(str(p) for p in (result.mid, result.png) if p is not None)
            raise OutputFileError(f"{result.write_error}; the music was not stopped, and {kept} are complete")
    return result


DECISION_BUDGET_MS = 30.0  # = the commit horizon (Engine's horizon_ms)


def recover_crashed_take(out: Path, progress=print, stem: str = "jam") -> Path | None:
    """A journal in ``out`` means a jam there crashed: make its take playable
    (``<stem>-recovered-<time>.mid`` and ``.wav``) and say so. Returns the MIDI file.
    ``stem``: ``jam``, or ``jam-2``... for the parts of a take resumed after the audio
    server came back."""
    from live.errors import InputFileError

    j = journal_path(out / f"{stem}.mid")
    if not j.exists():
        return None
    wav = recording_path(out / f"{stem}.wav")  # the recording under its temporary name
    if not wav.exists():
        wav = out / f"{stem}.wav"  # a take before recordings had one
    try:
        mid, wav, notes = recover_journal(j, wav)
    except (InputFileError, OSError, KeyError, ValueError) as exc:
        progress(f"note: {j} was left by a crash but cannot be read ({exc}); it is kept as it is")
        return None
    progress(f"recovered the take a crash left in {out}: {mid.name} ({notes} notes)"
             + (f" and {wav.name}" if wav else ""))
    return mid


class DiskTrouble:
    """The first write the disk refused during a take, said once; the take goes on.

    Thread: ``failed`` is called by the journal writer thread or the control thread."""

    def __init__(self, progress=print) -> None:
        self.progress = progress
        self.first = ""
        self.final = ""  # the WAV's own account once it is closed, when it was cut short
        self.count = 0

    def failed(self, msg: str) -> None:
        self.count += 1
        if not self.first:
            self.first = msg
            self.progress(f"note: {msg}: the band plays on; what was recorded before is kept")


class JournalWriter:
    """Flushes a ``TakeJournal`` every ``JOURNAL_PERIOD_S`` on its own thread (never the
    audio clock), and fsyncs the WAV pyo is recording (``wav``, a ``WavRecording``), so
    a crash, even a power cut, loses at most the last period. A write the disk refuses
    is told to ``disk`` once and tried again next period. A context manager; ``None``
    journals do nothing."""

    def __init__(self, journal: TakeJournal | None, period: float = JOURNAL_PERIOD_S,
                 disk: DiskTrouble | None = None, wav: WavRecording | None = None) -> None:
        self.journal = journal
        self.period = period
        self.disk = disk or DiskTrouble(lambda _msg: None)
        self.wav = wav
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sideman-journal", daemon=True)

    def flush(self) -> None:
        try:
            self.journal.flush()
        except OSError as exc:  # disk full, folder gone: the take in memory is still written at the end
            self.errors += 1
            self.disk.failed(describe(exc, self.journal.path))
        if self.wav is not None:
            try:
                self.wav.sync()
            except OSError:
                pass
            if self.wav.stalled():
                self.disk.failed(f"{self.wav.why()} while writing {self.wav.path}: the recording "
                                 f"stops at {self.wav.on_disk_s():.1f} s")

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.flush()

    def __enter__(self) -> JournalWriter:
        if self.journal is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.journal is not None:
            self._stop.set()
            self._thread.join(timeout=2.0)
            self.flush()


class Supervisor:
    """Watches the MIDI inputs every ``WATCH_PERIOD_S`` and keeps the musician connected.

    When an input Sideman connected to (the ``--midi-in``/``input.port`` match, or an
    auto-connected controller) leaves the MIDI system, the audio clock is asked to end
    the notes that came from it (``Engine.release_source``), it leaves ``engine.midi_ins``
    (one reference swap) and its port is closed a moment later, once the audio clock
    cannot be polling it. When a matching port appears (the same one back, or a new
    controller) a fresh input is opened and swapped in. The band never stops.

    Thread: its own; talks to the audio clock only through ``midi_ins`` and
    ``release_source``. Opening and closing ports happen here, off the audio clock.
    """

    def __init__(self, engine: Engine, ports, progress, *, midi_in: str | None, hardware_in: bool,
                 clock_in: bool, period: float = WATCH_PERIOD_S, jack_audio: bool = False) -> None:
        self.engine, self.ports, self.progress = engine, ports, progress
        self.jack_audio = jack_audio  # pyo on JACK too: two libjacks here (live/midi_io.py)
        self.want, self.hardware_in, self.clock_in = midi_in, hardware_in, clock_in
        self.period = period
        self.reconnects: list[float] = []  # seconds from a port's return to Sideman listening again
        self.lost = 0
        self._gone_at: dict[str, float] = {}
        self._retire: list[tuple[float, int, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sideman-supervisor", daemon=True)
        self.probe = None

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.check()
            except Exception as exc:  # the show goes on; say it, try again next time
                self.progress(f"note: MIDI supervisor: {exc}")

    def check(self) -> None:
        from live.midi_io import _close, _matching, hardware_inputs, new_stale_futexes, open_input, stale_jack_futexes

        if self.probe is None:
            self.probe = self.ports.make_probe()
        eng = self.engine
        names = self.probe.get_ports()
        now = time.monotonic()
        present = set(names)
        for src in [m for m in eng.midi_ins if getattr(m, "sid", 0) and m.name]:
            if src.name not in present:
                eng.release_source(src.sid)
                eng.midi_ins = [m for m in eng.midi_ins if m is not src]
                self._retire.append((now + 0.1, eng.stats.blocks, src.port))
                self._gone_at[src.name] = now
                self.lost += 1
                self.progress(f"MIDI input {src.name} went away: its notes are ended; the band plays on")
        if self.want:
            hits = _matching(names, self.want)
        elif self.hardware_in:
            hits = hardware_inputs(names)
        else:
            hits = []
        have = {m.name for m in eng.midi_ins if getattr(m, "name", "")}
        for i in hits:
            name = names[i]
            if name in have:
                continue
            t0 = time.monotonic()
            two = self.jack_audio
            before = set(stale_jack_futexes(two))
            port = open_input(self.ports.api, i, self.clock_in)
            stale = new_stale_futexes(before, two_libjacks=two)
            if stale:  # its JACK client may sleep on a dead futex (live/midi_io.py): try again next time
                _close(port)
                self.progress(f"note: MIDI input {name}: libjack kept a dead client's futex; opening it again")
                continue
            src = self.ports.add_input(port, name)
            eng.midi_ins = [*eng.midi_ins, src]
            if name in self._gone_at:
                self._gone_at.pop(name)
                self.reconnects.append(time.monotonic() - t0 + self.period)
                self.progress(f"MIDI input {name} is back: listening again "
                              f"(opened in {1000 * (time.monotonic() - t0):.0f} ms)")
            else:
                self.progress(f"MIDI input {name} connected")
        keep = []
        for when, blocks, port in self._retire:
            # the audio clock polls midi_ins once per block: two blocks after the swap it
            # holds no reference to the old port (or the clock is not running at all)
            if now >= when and (eng.stats.blocks >= blocks + 2 or now >= when + 0.5):
                self.ports.retire(port)
            else:
                keep.append((when, blocks, port))
        self._retire = keep

    def __enter__(self) -> Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for _, _, port in self._retire:
            self.ports.retire(port)
        self._retire.clear()
        if self.probe is not None:
            try:
                self.probe.delete()
            except Exception:
                pass


def shutdown_server(server) -> None:
    """Stop and shut down a pyo server quietly (pyo chatters on the way out)."""
    with quiet_fds():
        server.stop()
        time.sleep(0.05)
        server.shutdown()


def _take_tracks(engine: Engine, musician: bool = True) -> list[tuple[int, str, int, int]]:
    rig = engine.rig
    tracks = [(-1, "musician", rig.input.thru_channel - 1, rig.input.program - 1)] if musician else []
    for i, p in enumerate(engine.band_cfg):
        tracks.append((i, p.name, p.channel - 1, -1 if p.role == "drums" else p.program - 1))
    return tracks


def _journal_header(engine: Engine) -> dict:
    from datetime import datetime

    rig = engine.rig
    return {"sr": engine.clock.sr, "tempo": rig.tempo, "meter": rig.meter, "rig": rig.name,
            "tracks": _take_tracks(engine), "started": datetime.now().isoformat(timespec="seconds"),
            "started_unix": time.time()}


def save_take(engine: Engine, mid: Path, png: Path, *, title: str, musician: bool = True,
              start_frame: int = 0, plot: bool = True) -> None:
    """Write the engine's recording: a MIDI file (a track per part, GM programs) and a piano roll.

    ``musician=False`` leaves the musician's track out (a band-only render);
    ``start_frame`` is the frame that becomes time 0, so the band's first bar starts
    the file on the grid. Thread: control, after the clock has stopped.
    """
    rig, sr = engine.rig, engine.clock.sr
    events = engine.recorder.events()
    if start_frame:  # a hit humanized a little early lands on time 0, not before it
        events[:, 0] = (events[:, 0] - start_frame).clip(min=0)
    tracks = _take_tracks(engine, musician)
    write_take(mid, events, sr, tracks, rig.tempo, rig.meter)
    if not plot:
        return
    from live.roll import piano_roll

    piano_roll(png, events, sr, [(t, n) for t, n, _, _ in tracks], title=title)


def _stats(engine: Engine) -> dict:
    s = engine.stats
    n = min(s.blocks, len(engine.cb_ns))
    cb = engine.cb_ns[:n] / 1000.0
    p = engine.planner.stats
    return {
        "blocks": s.blocks, "callback_errors": s.callback_errors,
        "input_events": s.input_events, "input_dropped": s.input_dropped,
        "band_notes": s.band_notes, "late_events": s.late_events,
        "late_max_frames": s.late_max_frames, "ring_dropped": engine.ring.dropped,
        "lost_blocks": engine.clock.lost_blocks,
        "rec_dropped": engine.recorder.dropped,
        **_spread(cb, "callback_us"),
        "slots": p.slots_committed, "revisions": p.revisions, "late_commits": p.late_commits,
        "corrections": p.corrections, "heard_late": p.heard_late,
        # the corrections' lags, melody note onset -> the chord struck again
        **_spread(engine.planner.heard_late_ms(), "heard_late_lag_ms", (50,)),
        **_decisions(p),
        "planner_errors": p.errors, "fallback": p.fallback,
        "chords": [(slot, frame, c.root, c.quality, c.bass) for slot, frame, c in engine.planner.chord_log],
    }


def _decisions(p) -> dict:
    """The planner's decisions this take (the last ``DECIDE_HISTORY``): p50/p99/max in µs,
    all and those that ran the model, as live (the benchmark's figures are hot or cold)."""
    out = {"decisions": p.decisions}
    for key, us in (("decide", p.decide_us()), ("decide_model", p.decide_us(model=True))):
        out[f"{key}_n"] = int(us.size)
        out |= _spread(us, f"{key}_us")
    return out


def _spread(values, name: str, quantiles: tuple[int, ...] = (50, 99)) -> dict:
    """``name``_p50 (and the other ``quantiles``) and ``name``_max of ``values``; 0.0 where there are none."""
    import numpy as np

    out = {f"{name}_p{q}": float(np.percentile(values, q)) if values.size else 0.0 for q in quantiles}
    out[f"{name}_max"] = float(values.max()) if values.size else 0.0
    return out


def _end_frame(engine: Engine) -> int:
    """The bar line after the input's last event: where the band stops."""
    t = engine.planner.transport
    src = engine.file_source
    if not t.running:
        return src.end_frame
    beat = t.beat_at(src.end_frame)
    bar_end = math.ceil((beat + 0.25) / t.meter) * t.meter
    return t.frame_at(bar_end)


def _follow_input_end(engine: Engine, stop_at: int | None, now: int) -> int | None:
    """Once the input file is done, end the band at the next bar line, then ring out."""
    src, pl = engine.file_source, engine.planner
    if src is None or not src.done:
        return stop_at
    if pl.stop_frame < 0 and pl.transport.running:
        pl.stop_frame = _end_frame(engine)
    if stop_at is None and (pl.ended or not pl.transport.running):
        stop_at = max(now, pl.stop_frame) + int(TAIL_S * engine.clock.sr)
    return stop_at


def _follow_band_end(engine: Engine, stop_at: int | None, now: int) -> int | None:
    """A chart's take ends with the band: once its ending is over, ring out and stop."""
    pl = engine.planner
    if stop_at is None and pl.ended:
        stop_at = max(now, pl.stop_frame) + int(TAIL_S * engine.clock.sr)
    return stop_at


def run_offline(server, engine: Engine, perf, seconds, progress, ends_take: bool = False,
                journal: TakeJournal | None = None, disk: DiskTrouble | None = None) -> None:
    """Drive an offline (manual) server block by block, the planner inline after each block,
    until the input file's band has ended and rung out, or ``seconds`` have been rendered.
    ``ends_take``: the band's own end (a chart's ending) ends the take too. ``journal``
    is appended every ``JOURNAL_PERIOD_S`` of audio (a killed render loses at most that)."""
    sr, block = engine.clock.sr, engine.clock.block
    src = engine.file_source
    if src is not None:
        src.start(0)
    engine.start()
    total = seconds if seconds is not None else (perf.duration + 6.0 if perf else 30.0)
    server.start()
    server.recstart()
    shown = -1
    stop_at = None
    max_frames = int((total + 60.0) * sr)
    writer = JournalWriter(journal, disk=disk) if journal is not None else None
    flush_every, next_flush = int(JOURNAL_PERIOD_S * sr), int(JOURNAL_PERIOD_S * sr)
    while engine.clock.block_end < max_frames:
        server.process()
        engine.planner.step()
        now = engine.clock.block_end
        if writer is not None and now >= next_flush:
            writer.flush()
            next_flush = now + flush_every
        if seconds is not None and now >= seconds * sr:
            break
        stop_at = _follow_input_end(engine, stop_at, now)
        if ends_take:
            stop_at = _follow_band_end(engine, stop_at, now)
        if stop_at is not None and now >= stop_at and len(engine.ring) == 0:
            break
        pct = int(100 * now / (total * sr))
        if pct // 10 != shown and pct <= 100:
            shown = pct // 10
            progress(f"  rendering {min(pct, 100):3d}%  ({now / sr:5.1f} s)")
    engine.request_stop()
    for _ in range(int(0.3 * sr / block) + 1):  # silence, then let the releases ring
        server.process()
    if writer is not None:
        writer.flush()


def _run_live(server, engine: Engine, perf, seconds, progress, on_ready, ends_take: bool = False,
              announce: str = "") -> bool:
    """Run the take live until its end, Ctrl-C or the stop control. Returns True when it
    ended because the audio server went away (the audio clock stopped advancing).

    ``announce`` is said once the audio clock runs: what a musician plays after it is
    heard and recorded (scripts and tests wait for it)."""
    from live.planner import PlannerThread

    sr = engine.clock.sr
    old_switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # A full garbage collection holds the GIL for milliseconds, and pyo's audio callback
    # needs the GIL every block: move everything built so far (band, model, kernels,
    # rig) out of the collector's reach, so its collections only scan what the take
    # itself allocates.
    gc.collect()
    gc.freeze()
    server.start()
    server.recstart()
    time.sleep(0.05)
    src = engine.file_source
    if src is not None:
        src.start(engine.clock.block_end + int(0.1 * sr))
    engine.start()
    if announce:
        progress(announce)
    t0 = time.monotonic()
    stop_at = None
    last_report = t0
    audio_lost = False
    last_blocks, last_move = engine.stats.blocks, t0
    with PlannerThread(engine.planner):
        if on_ready is not None:
            on_ready(engine)
        try:
            while not engine.stop_requested:
                time.sleep(0.02)
                now = engine.clock.block_end
                b = engine.stats.blocks
                if b != last_blocks:
                    last_blocks, last_move = b, time.monotonic()
                elif time.monotonic() - last_move > AUDIO_LOST_S:
                    audio_lost = True
                    progress(f"  the audio server stopped calling Sideman at {now / sr:.1f} s "
                             f"(no audio block for {AUDIO_LOST_S:g} s): saving the take and stopping")
                    break
                if seconds is not None and time.monotonic() - t0 >= seconds:
                    break
                stop_at = _follow_input_end(engine, stop_at, now)
                if ends_take:
                    stop_at = _follow_band_end(engine, stop_at, now)
                if stop_at is not None and now >= stop_at:
                    if ends_take and engine.planner.ended:
                        progress("  the chart is over")
                    break
                if time.monotonic() - last_report >= 5.0:
                    last_report = time.monotonic()
                    s = engine.stats
                    progress(f"  {now / sr:6.1f} s  band notes {s.band_notes}  late {s.late_events}  "
                             f"input {s.input_events} (dropped {s.input_dropped})")
        except KeyboardInterrupt:
            progress("  stopping (Ctrl-C)")
        finally:
            engine.request_stop()
            deadline = time.monotonic() + (0.0 if audio_lost else 1.0)
            while not engine.silenced and time.monotonic() < deadline:
                time.sleep(0.005)
            if not engine.silenced:  # the audio clock is gone: silence from here
                engine.stop_clock()
                engine.all_notes_off()
                engine.silenced = True
            if not audio_lost:
                time.sleep(0.3)
            sys.setswitchinterval(old_switch)
            gc.unfreeze()
    return audio_lost
