"""``sideman render``: a demo of each band style, played offline through the live engine.

For each style, DIR/<style>.wav, DIR/<style>.mid (a track per part, General MIDI
programs) and DIR/<style>.png (a piano roll): 16 bars over the style's ``demo_chords``,
arranged as intro, main A, a fill, main B and the ending. The band reads the chords
from a chart (``ChartAccompanist``), as a band with the sheet music would, so approach
notes and walks aim at the chord that comes next; everything else (planner, style
patterns, voices, mixer, recorder, the offline server loop) is what plays live.

Every demo WAV is then brought to one loudness, so that styles can be compared by ear
and none clips: RENDER_LUFS integrated (BS.1770-4), true peak at most RENDER_CEILING,
by a gain and, where the peaks need it, the true-peak limiter of ``sideman master``
(no EQ, no compression: the band's own balance and dynamics stay).

Threading model: control thread; the engine runs inline on pyo's offline server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from live.errors import OutputExistsError

SR, BLOCK = 48000, 256
BARS = 16
SECTION_NAMES = {"main_a": "main A", "main_b": "main B"}
#: -16 LUFS: the level AES TD1004 recommends for streamed music, a little under the
#: -14 of the big platforms, so that sparse styles (ambient, chorale) reach it with a
#: gain and little or no limiting; -1 dBTP leaves room for a lossy encoder's overshoot.
RENDER_LUFS = -16.0
RENDER_CEILING = -1.0
MIX_CLIP = 0.97  # live.instruments.Mixer clips its master here: a mix that reaches it was cut
RENDER_BAND = (("bass", "bass", 0.7), ("keys", "comp", 0.6), ("drums", "drums", 0.7), ("pad", "pad", 0.45))


@dataclass
class Rendered:
    style: str
    wav: Path
    mid: Path
    png: Path
    plan: list[tuple[str, int]]
    tempo: float
    seconds: float  # of music
    wall_s: float
    late_events: int
    mix_peak: float = 0.0  # sample peak of the band's mix before normalising (the mixer clips at 0.97)
    lufs: float = float("nan")  # integrated loudness of the WAV written
    true_peak_db: float = float("nan")  # its true peak, dBTP


def play_chart(rig, chart, plan, wav: Path, *, music_s: float, seed: int = 0, progress=None,
               perf=None, band: bool = True):
    """The rig's band plays ``chart`` (slots and chords, for ChartAccompanist) through
    the live engine on pyo's offline server, its sections scripted by ``plan``, into
    ``wav``; returns the engine (its recorder holds the take). Shared by ``sideman
    render``, ``sideman sketch`` and the studio's renders with a melody.

    ``perf``: a Performance the musician plays (seconds from the band's first downbeat)
    on the rig's input instrument. ``band=False``: the band's parts are silent."""
    from kernels import warmup
    from live.chart import ChartAccompanist
    from live.engine import Engine
    from live.midifile import FileInput
    from live.quiet import import_pyo
    from live.atomicfile import WavRecording
    from live.session import TAIL_S, boot_server, build_band, run_offline, shutdown_server
    from live.styles import Arrangement

    pyo = import_pyo()
    server = boot_server(pyo, "offline", SR, BLOCK, None)
    try:
        parts, musician, mixer = build_band(rig)
        mixer.out()
        engine = Engine(rig, sr=SR, block=BLOCK, parts=parts, musician_part=musician if perf is not None else None,
                        seed=seed, accompanist=lambda infos: ChartAccompanist(infos, chart, seed=seed))
        engine.planner.arrangement = Arrangement.scripted(engine.style, plan)
        if not band:
            for p in parts:
                p.level.value = 0.0
        start_s = (BLOCK + engine.planner.horizon) / SR  # the band's downbeat: see Planner.begin
        if perf is not None:
            engine.file_source = FileInput(perf, SR, lead_in_s=start_s)
        warmup()
        engine.planner.step()
        server.setCallback(engine.tick)
        rec = WavRecording(server, wav)  # under a temporary name until it is complete
        run_offline(server, engine, None, start_s + music_s + TAIL_S, progress or (lambda _msg: None))
        server.recstop()
        rec.finish()
    finally:
        shutdown_server(server)
    return engine


def demo_plan(style, bars: int = BARS) -> list[tuple[str, int]]:
    """(section, bars) for a demo: intro, main A, a fill, main B, ending, ``bars`` in all."""
    def length(name: str, most: int) -> int:
        sec = style.section(name)
        return min(sec.bars, most) if sec is not None else 0

    intro, ending, fill = length("intro", 4), length("ending", 4), length("fill", 2)
    middle = bars - intro - ending - fill
    a = max(1, middle // 2)
    plan = [("intro", intro), ("main_a", a), ("fill", fill), ("main_b", middle - a), ("ending", ending)]
    return [(name, n) for name, n in plan if n > 0]


def demo_chart(style, bars: int = BARS) -> list[tuple[int, object]]:
    """(first slot, Chord) for each chord of the style's progression, cycled over ``bars``;
    the last bar goes home to the progression's first chord."""
    from live.accompanist import SLOTS_PER_BEAT, Chord

    prog = style.demo_chords
    bar_slots = style.meter * SLOTS_PER_BEAT
    chart = []
    for b in range(bars):
        cell = prog[b % len(prog)] if b < bars - 1 else prog[0][:1]
        for j, (root, quality, bass) in enumerate(cell):
            chart.append((b * bar_slots + j * bar_slots // len(cell),
                          Chord(root, quality, bass if bass != root else -1)))
    return chart


def render_rig(style, tempo: float, styles: str | None = None):
    """A rig for the demo: chords mode, the parts the style plays, its instruments."""
    from live.rig import load_rig_text

    band = "".join(f"  {name}: {{role: {role}, volume: {vol}, enabled: {'true' if style.plays(role) else 'false'}}}\n"
                   for name, role, vol in RENDER_BAND)
    text = (f"name: {style.name}\nmode: chords\nstyle: {style.name}\ntempo: {tempo:g}\nsync_start: false\n"
            f"accompanist: rules\ninput: {{thru: false}}\naudio: {{backend: offline, sample_rate: {SR}, "
            f"buffer: {BLOCK}}}\nband:\n{band}")
    return load_rig_text(text, source=f"<render {style.name}>", styles=styles)


def render_style(name: str, out_dir: str | Path, *, tempo: float | None = None, seed: int = 0,
                 force: bool = False, styles: str | None = None, bars: int = BARS) -> Rendered:
    """Render one style's demo into ``out_dir``.

    Raises:
        StyleError: no such style, or its file is broken.
        OutputExistsError: an output exists and ``force`` is False.
        DeviceError: pyo's offline server does not start.
    """
    from live.atomicfile import check_out_dir
    from live.session import save_take
    from live.styles import open_style

    t0 = time.perf_counter()
    style = open_style(name, styles)
    out = Path(out_dir)
    wav, mid, png = outputs(out, style.name)
    if not force:
        _check_free(out, [style.name])
    check_out_dir(out)
    tempo = float(tempo if tempo is not None else style.tempo)
    rig = render_rig(style, tempo, styles)
    chart = demo_chart(style, bars)
    plan = demo_plan(style, bars)
    music_s = bars * rig.meter * 60.0 / tempo
    engine = play_chart(rig, chart, plan, wav, music_s=music_s, seed=seed)
    save_take(engine, mid, png, title=f"{style.name}: {style.description}", musician=False,
              start_frame=engine.planner.transport.frame_at(0))
    peak, report = normalise(wav)
    return Rendered(style.name, wav, mid, png, plan, tempo, music_s, time.perf_counter() - t0,
                    engine.stats.late_events, peak, report["integrated_lufs"], report["true_peak_dbtp"])


def normalise(wav: Path, target: float = RENDER_LUFS, ceiling: float = RENDER_CEILING) -> tuple[float, dict]:
    """Bring ``wav`` to ``target`` LUFS with its true peak at most ``ceiling`` dBTP, in
    place; return the sample peak it had and the measurement after. A silent file is
    left as it is (its loudness reads -inf)."""
    import math

    from live.errors import InputFileError
    from live.studio.audiofile import read_wav, write_wav
    from live.studio.master import master_audio

    audio = read_wav(wav)
    peak = float(abs(audio.data).max()) if audio.data.size else 0.0
    try:
        y, report = master_audio(audio.data, audio.sr, target, lowcut=0.0, compress=False, ceiling=ceiling,
                                 bits=24, source=str(wav))
    except InputFileError:  # silent: nothing to bring up
        return peak, {"integrated_lufs": -math.inf, "true_peak_dbtp": -math.inf}
    write_wav(wav, y, audio.sr, 24)
    return peak, report["after"]


def outputs(out: Path, name: str) -> tuple[Path, Path, Path]:
    """The demo's files: <name>.wav, .mid, .png in ``out``."""
    return out / f"{name}.wav", out / f"{name}.mid", out / f"{name}.png"


def _check_free(out: Path, names: list[str]) -> None:
    for name in names:
        for p in outputs(out, name):
            if p.exists():
                raise OutputExistsError(f"{p} exists; use --force to overwrite it or --out DIR for another folder")


def render_styles(names: list[str], out_dir: str | Path, *, tempo: float | None = None, seed: int = 0,
                  force: bool = False, styles: str | None = None, progress=print) -> list[Rendered]:
    """Render each style in ``names``, saying how each went.

    Every style is loaded, and every output checked, before the first one renders: a
    typo in the last name or a file in the way costs nothing.

    Raises:
        StyleError, OutputExistsError, DeviceError: as :func:`render_style`.
    """
    from live.styles import open_style

    for name in names:
        open_style(name, styles)
    if not force:
        _check_free(Path(out_dir), names)
    done = []
    for i, name in enumerate(names, 1):
        r = render_style(name, out_dir, tempo=tempo, seed=seed, force=force, styles=styles)
        parts = ", ".join(f"{SECTION_NAMES.get(sec, sec)} {n}" for sec, n in r.plan)
        progress(f"[{i}/{len(names)}] {r.style}: {r.tempo:g} bpm, {parts} -> {r.wav}, {r.mid.name}, "
                 f"{r.png.name} ({r.seconds:.0f} s of music in {r.wall_s:.1f} s; {r.lufs:.1f} LUFS, "
                 f"true peak {r.true_peak_db:.1f} dBTP)")
        if r.mix_peak >= MIX_CLIP - 1e-3:
            progress(f"  warning: {r.style}: the band's mix reached the master clip ({MIX_CLIP:g}) before it was "
                     "brought to its loudness; turn the band's volumes down")
        done.append(r)
    return done
