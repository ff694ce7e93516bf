"""``sideman groove --style S --bars N``: drum and percussion grooves from a style's grids.

The style's drum grids (main A, and its fill) give each drum a velocity and a
probability on every 16th note. The groove is drawn bar by bar by the numba kernel
``kernels.groove.groove_hits`` from those grids and seeded draws:

- ``--density 0..1``: 0.5 plays the grids as written (their ``VEL?PCT`` steps as often
  as written); lower drops hits, higher plays every written hit and adds hats/ride
  and kicks on empty eighths (the hit count never falls as density rises);
- ``--ghosts 0..1``: soft snare hits (velocity ~30) on empty 16ths, most on the e and a;
- ``--swing x``: the & of each beat (eighth notes) comes late by x/2 of a beat, as the
  band swings (0.33 is a triplet feel; default: the style's);
- ``--meter 5/4|7/8|...``: the bar is built from groups of 2 and 3 (5/4 = 2+3 beats,
  7/8 = 2+2+3 eighths): the first group plays the start of the style's bar, each later
  group its second half (the backbeat), its last beat repeated as needed;
- ``--poly 3:4``: a cowbell (``--poly-drum``) plays 3 evenly spaced hits in each bar
  against the grid's 4 beats;
- ``--fills [N]``: the style's fill in every Nth bar (default 4), a crash after it.

Outputs, in --out: groove-<style>-<meter>.mid (channel 10, General MIDI drums; the
poly voice on its own track), .wav (the band's synthesised kit) and .png.

Threading model: control thread only.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.errors import SidemanError
from live.atomicfile import check_out_dir
from live.studio.common import DRUM_CHANNEL, SR, check_free, render_hits, say

STEPS_PER_BEAT = 4  # 16ths per quarter note
HAT_LIKE = (42, 44, 46, 51, 53, 54, 59, 69, 70)
SNARES = (38, 40, 37, 39)
MAX_BARS = 256
CRASH = 49


class GrooveError(SidemanError, ValueError):
    """A groove option is out of range."""


@dataclass(frozen=True)
class Meter:
    """A bar: ``num``/``den`` and its groups (in units of 1/den)."""

    num: int
    den: int
    groups: tuple[int, ...]

    @property
    def steps(self) -> int:
        """16ths in a bar."""
        return self.num * 16 // self.den

    @property
    def beats(self) -> float:
        """Quarter notes in a bar."""
        return self.num * 4 / self.den

    @property
    def text(self) -> str:
        return f"{self.num}/{self.den}"


GROUPS = {2: (2,), 3: (3,), 4: (2, 2), 5: (2, 3), 6: (3, 3), 7: (2, 2, 3), 8: (3, 3, 2), 9: (2, 2, 2, 3),
          10: (3, 3, 2, 2), 11: (2, 2, 2, 2, 3), 12: (3, 3, 3, 3)}


def parse_meter(text: str) -> Meter:
    """``5/4``, ``7/8``...: numerator 2..12 over 4 or 8, grouped in 2s and 3s.

    Raises:
        GrooveError: anything else.
    """
    try:
        num, den = (int(x) for x in text.split("/"))
    except ValueError:
        raise GrooveError(f"--meter must be like 4/4, 5/4 or 7/8, got {text!r}") from None
    if den not in (4, 8) or num not in GROUPS or (den == 4 and num > 7):
        raise GrooveError(f"--meter must be 2/4..7/4 or 2/8..12/8, got {text!r}")
    return Meter(num, den, GROUPS[num])


def parse_poly(text: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise GrooveError(f"--poly must be like 3:4 (3 hits against the bar's 4 beats), got {text!r}") from None
    if not (2 <= a <= 12 and 2 <= b <= 12) or a == b:
        raise GrooveError(f"--poly must be A:B with A, B in 2..12 and A != B, got {text!r}")
    return a, b


def source_steps(meter: Meter, style_steps: int) -> np.ndarray:
    """For each 16th of a bar of ``meter``, the step of the style's bar it plays."""
    if meter.den == 4 and meter.num * STEPS_PER_BEAT == style_steps:
        return np.arange(style_steps)  # the style's own meter: its bar as written
    unit = 16 // meter.den  # 16ths per group unit
    half = style_steps // 2 if meter.den == 4 else STEPS_PER_BEAT
    last_beat = style_steps - STEPS_PER_BEAT
    out = []
    for k, g in enumerate(meter.groups):
        start = 0 if k == 0 else half
        for j in range(g * unit):
            s = start + j
            if s >= style_steps:
                s = last_beat + (s - style_steps) % STEPS_PER_BEAT
            out.append(s)
    return np.array(out, np.int64)


@dataclass
class Groove:
    """The drawn groove: hits as rows (beat, duration, note, velocity, voice kind)."""

    hits: np.ndarray  # float64 (n, 4): beat (quarter notes, swung), duration, GM note, velocity
    kinds: list[str]  # per row: "grid", "ghost", "fill", "crash", "poly"
    fill_bars: list[int]
    meter: Meter
    bars: int
    swing: float
    step_beats: np.ndarray  # the straight 16th grid of one bar, in beats


def swung(beat_in_bar: float, swing: float) -> float:
    """A straight time in quarter notes with the & of each beat moved late by swing/2."""
    b, frac = divmod(beat_in_bar, 1.0)
    return b + 0.5 + swing * 0.5 if abs(frac - 0.5) < 1e-9 and swing > 0 else beat_in_bar


def make_groove(style, bars: int, *, meter: Meter | None = None, density: float = 0.5, swing: float | None = None,
                ghosts: float = 0.0, fills: int = 0, poly: tuple[int, int] | None = None, poly_note: int = 56,
                seed: int = 0) -> Groove:
    """Draw ``bars`` bars of groove from ``style``'s drum grids. Pure and seeded.

    Raises:
        GrooveError: an option out of range, or the style has no drums.
    """
    from kernels.groove import groove_hits

    if not 1 <= bars <= MAX_BARS:
        raise GrooveError(f"--bars must be 1..{MAX_BARS}, got {bars}")
    for name, x in (("density", density), ("ghosts", ghosts)):
        if not 0.0 <= x <= 1.0:
            raise GrooveError(f"--{name} must be 0..1, got {x:g}")
    sw = style.swing if swing is None else swing
    if not 0.0 <= sw <= 0.75:
        raise GrooveError(f"--swing must be 0..0.75, got {sw:g}")
    main = style.section("main_a")
    if main is None or not main.plays & {"drums"}:
        raise GrooveError(f"style {style.name!r} has no drums in main_a; pick one with drums (sideman styles)")
    meter = meter or Meter(style.meter, 4, GROUPS.get(style.meter, (style.meter,)))
    if poly is not None and poly[1] != round(meter.beats) and poly[1] != meter.num:
        raise GrooveError(f"--poly {poly[0]}:{poly[1]}: the second number must be the bar's {meter.num} "
                          f"(meter {meter.text})")
    fill_sec = style.section("fill") or main
    src = source_steps(meter, style.steps_per_bar)
    S = meter.steps

    def grid(section):
        notes = sorted({h.note for step in section.drums for h in step})
        p = np.zeros((len(notes), section.bars, style.steps_per_bar))
        v = np.zeros_like(p, dtype=np.int64)
        for i, step in enumerate(section.drums):
            for h in step:
                k = notes.index(h.note)
                p[k, i // style.steps_per_bar, i % style.steps_per_bar] = h.probability
                v[k, i // style.steps_per_bar, i % style.steps_per_bar] = h.velocity
        return notes, p, v

    m_notes, m_p, m_v = grid(main)
    f_notes, f_p, f_v = grid(fill_sec)
    snare = next((n for n in SNARES if n in m_notes), 38)
    voices = sorted(set(m_notes) | set(f_notes)) + [-1]  # -1: the ghost snare row
    V = len(voices)
    prob = np.zeros((bars, V, S))
    add = np.zeros((bars, V, S))
    vel = np.zeros((bars, V, S), np.int64)
    is_fill = [fills > 0 and (b + 1) % fills == 0 for b in range(bars)]
    pos_in_beat = (np.arange(S) % STEPS_PER_BEAT)
    for b in range(bars):
        notes, p, v, nbars = (f_notes, f_p, f_v, fill_sec.bars) if is_fill[b] else (m_notes, m_p, m_v, main.bars)
        for k, note in enumerate(notes):
            row = voices.index(note)
            prob[b, row] = p[k, b % nbars, src]
            vel[b, row] = v[k, b % nbars, src]
        for row, note in enumerate(voices[:-1]):  # density > 0.5 adds hits on empty eighths
            if prob[b, row].any() and not is_fill[b]:
                share = 0.6 if note in HAT_LIKE else 0.3 if note in (35, 36) else 0.0
                empty_eighth = (prob[b, row] == 0) & (pos_in_beat % 2 == 0)
                add[b, row] = np.where(empty_eighth, share, 0.0)
                vel[b, row] = np.where(vel[b, row] > 0, vel[b, row], int(np.max(vel[b, row]) * 0.7))
        if not is_fill[b] and ghosts > 0:
            snare_row = voices.index(snare) if snare in voices else None
            taken = prob[b, snare_row] > 0 if snare_row is not None else np.zeros(S, bool)
            # between the written snares: most on the e and the a
            prob[b, -1] = np.where(taken, 0.0, ghosts * np.where(pos_in_beat % 2 == 1, 0.7, 0.3))
            vel[b, -1] = 30
    rng = np.random.default_rng(seed)
    u = rng.random(prob.shape)
    v = rng.random(prob.shape)
    out = np.zeros(prob.shape, np.int64)
    groove_hits(prob, add, vel, float(density), u, v, out)
    straight = np.arange(S) / STEPS_PER_BEAT
    rows, kinds = [], []
    for b in range(bars):
        bar0 = b * meter.beats
        for row, note in enumerate(voices):
            for s in np.flatnonzero(out[b, row]):
                beat = bar0 + swung(straight[s], sw)
                rows.append((beat, 0.2, snare if note < 0 else note, out[b, row, s]))
                kinds.append("ghost" if note < 0 else "fill" if is_fill[b] else "grid")
        if b > 0 and is_fill[b - 1]:
            rows.append((bar0, 0.5, CRASH, 110))
            kinds.append("crash")
        if poly is not None:
            for j in range(poly[0]):
                rows.append((bar0 + meter.beats * j / poly[0], 0.2, poly_note, 100 if j == 0 else 84))
                kinds.append("poly")
    order = sorted(range(len(rows)), key=lambda i: (rows[i][0], rows[i][2]))
    hits = np.array([rows[i] for i in order], float).reshape(-1, 4)
    return Groove(hits, [kinds[i] for i in order], [b for b in range(bars) if is_fill[b]], meter, bars, sw,
                  straight)


def write_groove_midi(path: Path, g: Groove, tempo: float) -> None:
    """Type-1 MIDI: a drums track and, with --poly, a poly track, both on channel 10."""
    import mido

    from live.atomicfile import atomic_write

    tpb = 480
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=g.meter.num, denominator=g.meter.den, time=0))
    mid.tracks.append(meta)
    for name, want in (("drums", lambda k: k != "poly"), ("poly", lambda k: k == "poly")):
        evs = []
        for (beat, dur, note, vel), kind in zip(g.hits, g.kinds, strict=True):
            if want(kind):
                evs.append((int(round(beat * tpb)), 1, int(note), int(vel)))
                evs.append((int(round((beat + dur) * tpb)), 0, int(note), 0))
        if not evs and name == "poly":
            continue
        evs.sort(key=lambda e: (e[0], e[1]))
        tr = mido.MidiTrack()
        tr.append(mido.MetaMessage("track_name", name=name, time=0))
        last = 0
        for tick, on, note, vel in evs:
            kind = "note_on" if on else "note_off"
            tr.append(mido.Message(kind, channel=DRUM_CHANNEL, note=note, velocity=vel, time=tick - last))
            last = tick
        mid.tracks.append(tr)
    atomic_write(path, lambda tmp: mid.save(tmp))


def run_groove(style: str, bars: int, out_dir: str | Path = ".", *, meter: str | None = None,
               poly: str | None = None, density: float = 0.5, swing: float | None = None, ghosts: float = 0.0,
               fills: int = 0, tempo: float | None = None, seed: int = 0, force: bool = False,
               progress=print) -> dict:
    """Draw, write and render a groove.

    Raises:
        GrooveError, StyleError, OutputExistsError, DeviceError.
    """
    from live.roll import piano_roll
    from live.styles import open_style

    t0 = time.perf_counter()
    st = open_style(style)
    m = parse_meter(meter) if meter else None
    pl = parse_poly(poly) if poly else None
    g = make_groove(st, bars, meter=m, density=density, swing=swing, ghosts=ghosts, fills=fills, poly=pl, seed=seed)
    bpm = float(tempo or st.tempo)
    out = Path(out_dir)
    base = out / f"groove-{st.name}-{g.meter.num}-{g.meter.den}"
    wav, mid, png = (Path(f"{base}.{x}") for x in ("wav", "mid", "png"))
    check_free([wav, mid, png], force)
    check_out_dir(out)  # before the work, not after it
    music_s = bars * g.meter.beats * 60.0 / bpm
    say(progress, f"groove: {st.name}, {bars} bars of {g.meter.text} ({'+'.join(map(str, g.meter.groups))}) at "
                  f"{bpm:g} bpm, density {density:g}, swing {g.swing:g}, ghosts {ghosts:g}"
                  + (f", fills every {fills} bars" if fills else "") + (f", poly {pl[0]}:{pl[1]}" if pl else "")
                  + f": {len(g.hits)} hits")
    write_groove_midi(mid, g, bpm)
    wall = render_hits(wav, g.hits, tempo=bpm, seconds=music_s)
    fpb = SR * 60.0 / bpm
    ev = []
    for (beat, dur, note, vel), kind in zip(g.hits, g.kinds, strict=True):
        tr = 1 if kind == "poly" else 0
        ev += [(int(beat * fpb), tr, 0x90, int(note), int(vel)), (int((beat + dur) * fpb), tr, 0x80, int(note), 0)]
    ev.sort()
    with warnings.catch_warnings():  # the roll has no pitched part to label
        warnings.simplefilter("ignore", UserWarning)
        piano_roll(png, np.array(ev, np.int64).reshape(-1, 5), SR, [(0, "drums"), (1, "poly")],
                   title=f"{st.name} groove in {g.meter.text}", drum_tracks={0, 1})
    ratio = music_s / max(wall, 1e-9)
    say(progress, f"rendered {music_s:.1f} s of music in {wall:.1f} s ({ratio:.1f}x real time); wrote {mid}, {wav}, "
                  f"{png} ({time.perf_counter() - t0:.1f} s in all)")
    return {"mid": str(mid), "wav": str(wav), "png": str(png), "hits": len(g.hits), "fill_bars": g.fill_bars,
            "music_s": music_s, "wall_s": wall, "ratio": ratio}


def _unit(text: str) -> float:
    import argparse

    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be 0..1, got {text!r}")
    return x


def cmd_groove(args) -> int:
    run_groove(args.style, args.bars, args.out, meter=args.meter, poly=args.poly, density=args.density,
               swing=args.swing, ghosts=args.ghosts, fills=args.fills, tempo=args.tempo, seed=args.seed,
               force=args.force, progress=lambda m: print(m, flush=True))
    return 0


def register(sub) -> None:
    from live.cli import _bpm

    p = sub.add_parser("groove", help="drum grooves from a style's grids: density, swing, ghosts, odd meters, "
                       "polyrhythms, fills",
                       description="Drum and percussion grooves drawn from a style's drum grids (seeded): "
                       "MIDI on channel 10, WAV through the band's kit, and a PNG.")
    p.add_argument("--style", default="pop", help="the style whose drum grids to use (default pop)")
    p.add_argument("--bars", type=int, default=8, help=f"how many bars, 1..{MAX_BARS} (default 8)")
    p.add_argument("--meter", help="5/4, 7/8, ... (2/4..7/4, 2/8..12/8; default the style's)")
    p.add_argument("--poly", help="A:B, e.g. 3:4: A evenly spaced cowbell hits against the bar's B beats")
    p.add_argument("--density", type=_unit, default=0.5, help="0..1; 0.5 = the grids as written (default)")
    p.add_argument("--swing", type=float, help="0..0.75: how late the & comes (default the style's)")
    p.add_argument("--ghosts", type=_unit, default=0.0, help="0..1: soft snare ghost notes (default 0)")
    p.add_argument("--fills", type=int, nargs="?", const=4, default=0, metavar="N",
                   help="the style's fill every N bars (4 when given without N)")
    p.add_argument("--tempo", type=_bpm, help="beats per minute (default the style's)")
    p.add_argument("--out", default=".", help="folder for the outputs (default: here)")
    p.add_argument("--seed", type=int, default=0, help="seed for the draws (default 0)")
    p.add_argument("--force", action="store_true", help="overwrite earlier outputs")
    p.set_defaults(func=cmd_groove)

