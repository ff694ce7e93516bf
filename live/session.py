"""A jam from start to finish: pick the backends, build the band, run the clock,
write the take.

Threading model: everything here runs on the control thread except ``Engine.tick``
(audio clock, called by pyo) and ``Planner.step`` (planner thread live; inline after
each block offline).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from live.engine import Engine
from live.errors import DeviceError, OutputExistsError
from live.midifile import FileInput, read_performance, write_take
from live.quiet import import_pyo, quiet_fds

TAIL_S = 1.5  # let releases and the reverb ring out after the last note
# pyo's audio thread takes the GIL every block (1.33 ms at 64 frames). CPython makes a
# waiting thread wait up to the switch interval (5 ms by default) for a busy holder;
# 0.2 ms bounds how long the planner or the control thread can keep the audio clock waiting.
SWITCH_INTERVAL_S = 0.0002


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


def build_band(rig):
    from live.instruments import Mixer, make_part

    parts = [make_part(p.instrument, p.volume, p.pan) for p in rig.band if p.enabled]
    musician = make_part(rig.input.instrument, rig.input.volume, 0.0)
    mixer = Mixer(parts + [musician])
    return parts, musician, mixer


def run_jam(rig, *, backend: str = "auto", midi_in: str | None = None,
            midi_out: str | None = None, input_file: str | None = None,
            out_dir: str | Path = ".", force: bool = False, seconds: float | None = None,
            seed: int = 0, progress=print, accompanist=None, on_ready=None) -> JamResult:
    """Play one jam and record it. Returns what was written and the engine's counters.

    Raises:
        DeviceError: audio or MIDI cannot be opened.
        InputFileError: ``input_file`` is not a playable MIDI file.
        OutputExistsError: the take's files exist and ``force`` is False.
    """
    from live.midi_io import jack_setting, open_ports, pick_api

    t_wall = time.perf_counter()
    backend = pick_backend(backend if backend != "auto" else rig.audio.backend)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = rig.record.enabled
    wav, mid, png = out / "jam.wav", out / "jam.mid", out / "jam.png"
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
    from live.modes import band_setup

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
    try:
        parts, musician, mixer = build_band(rig)
        mixer.out()
        if backend != "offline":
            ports = open_ports(pick_api(prefer_jack=backend == "jack"),
                               midi_in or rig.input.port, midi_out or rig.midi_out.port,
                               hardware_in=perf is None and not (midi_in or rig.input.port),
                               clock_in=rig.input.clock)
        for n in notes:
            progress(f"note: {n}")
        engine = Engine(rig, sr=sr, block=block, parts=parts, musician_part=musician,
                        midi_outs=ports.outs if ports else [], accompanist=setup.accompanist, seed=seed,
                        live=backend != "offline")
        setup.install(engine, band_only=band_only)
        for line in setup.lines:
            progress(line)
        if ports:
            engine.midi_ins = list(ports.ins)
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
            server.recordOptions(dur=-1, filename=str(wav), fileformat=0, sampletype=1)
        progress(f"ready in {time.perf_counter() - t_wall:.2f} s (model loaded, kernels compiled, band built)")
        what = Path(input_file).name if input_file else "you: play on sideman:in (Ctrl-C ends the take)"
        if band_only:
            what = "the band alone (no one plays along offline)"
        progress(f"sideman jam: {rig.name} ({rig.mode}, {rig.style}, {rig.tempo:g} bpm) "
                 f"on {backend} at {sr} Hz / {block} frames, playing {what}")
        if backend == "offline":
            run_offline(server, engine, perf, seconds, progress, ends_take=setup.ends_take)
        else:
            _run_live(server, engine, perf, seconds, progress, on_ready, ends_take=setup.ends_take)
        if record:
            server.recstop()
    finally:
        shutdown_server(server)
        if ports is not None:
            ports.close()

    result = JamResult(backend, input_file or "live", wav if record else None,
                       mid if record else None, png if record else None,
                       engine.clock.block_end / sr, time.perf_counter() - t_wall,
                       stats=_stats(engine), messages=list(engine.planner.stats.messages))
    if record:
        what = setup.chart.title if setup.chart is not None and perf is None else Path(result.input).name
        save_take(engine, mid, png, title=f"{rig.name}: {what}")
    return result


def shutdown_server(server) -> None:
    """Stop and shut down a pyo server quietly (pyo chatters on the way out)."""
    with quiet_fds():
        server.stop()
        time.sleep(0.05)
        server.shutdown()


def save_take(engine: Engine, mid: Path, png: Path, *, title: str, musician: bool = True,
              start_frame: int = 0) -> None:
    """Write the engine's recording: a MIDI file (a track per part, GM programs) and a piano roll.

    ``musician=False`` leaves the musician's track out (a band-only render);
    ``start_frame`` is the frame that becomes time 0, so the band's first bar starts
    the file on the grid. Thread: control, after the clock has stopped.
    """
    rig, sr = engine.rig, engine.clock.sr
    events = engine.recorder.events()
    if start_frame:  # a hit humanized a little early lands on time 0, not before it
        events[:, 0] = (events[:, 0] - start_frame).clip(min=0)
    tracks = [(-1, "musician", rig.input.thru_channel - 1, rig.input.program - 1)] if musician else []
    for i, p in enumerate(engine.band_cfg):
        tracks.append((i, p.name, p.channel - 1, -1 if p.role == "drums" else p.program - 1))
    write_take(mid, events, sr, tracks, rig.tempo, rig.meter)
    from live.roll import piano_roll

    piano_roll(png, events, sr, [(t, n) for t, n, _, _ in tracks], title=title)


def _stats(engine: Engine) -> dict:
    import numpy as np

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
        "callback_us_p50": float(np.percentile(cb, 50)) if n else 0.0,
        "callback_us_p99": float(np.percentile(cb, 99)) if n else 0.0,
        "callback_us_max": float(cb.max()) if n else 0.0,
        "slots": p.slots_committed, "revisions": p.revisions, "late_commits": p.late_commits,
        "planner_errors": p.errors, "fallback": p.fallback,
        "chords": [(slot, frame, c.root, c.quality, c.bass) for slot, frame, c in engine.planner.chord_log],
    }


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


def run_offline(server, engine: Engine, perf, seconds, progress, ends_take: bool = False) -> None:
    """Drive an offline (manual) server block by block, the planner inline after each block,
    until the input file's band has ended and rung out, or ``seconds`` have been rendered.
    ``ends_take``: the band's own end (a chart's ending) ends the take too."""
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
    while engine.clock.block_end < max_frames:
        server.process()
        engine.planner.step()
        now = engine.clock.block_end
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


def _run_live(server, engine: Engine, perf, seconds, progress, on_ready, ends_take: bool = False) -> None:
    from live.planner import PlannerThread

    sr = engine.clock.sr
    old_switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    server.start()
    server.recstart()
    time.sleep(0.05)
    src = engine.file_source
    if src is not None:
        src.start(engine.clock.block_end + int(0.1 * sr))
    engine.start()
    t0 = time.monotonic()
    stop_at = None
    last_report = t0
    with PlannerThread(engine.planner):
        if on_ready is not None:
            on_ready(engine)
        try:
            while not engine.stop_requested:
                time.sleep(0.02)
                now = engine.clock.block_end
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
            deadline = time.monotonic() + 1.0
            while not engine.silenced and time.monotonic() < deadline:
                time.sleep(0.005)
            if not engine.silenced:  # the audio clock is gone: silence from here
                engine.stop_clock()
                engine.all_notes_off()
                engine.silenced = True
            time.sleep(0.3)
            sys.setswitchinterval(old_switch)
