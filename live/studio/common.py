"""Shared parts of the studio commands: reading a melody, refusing to overwrite,
rendering notes with the band through the live engine, and rendering explicit hits.

Threading model: control thread only. The engine runs inline on pyo's offline
server, exactly as ``sideman render`` does (live/render.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from live.errors import InputFileError, OutputExistsError

SR, BLOCK = 48000, 256
#: A melody for the studio is an idea or a song's tune, not a whole concert.
MAX_NOTES = 4000
MAX_BEATS = 2048.0
DRUM_CHANNEL = 9  # 0-based: MIDI channel 10
QUALITY_INDEX = {q: i for i, q in enumerate(("maj", "min", "dim", "aug", "sus2", "sus4", "7", "maj7", "min7", "m7b5",
                                             "dim7", "6", "min6"))}  # kernels.QUALITIES, without importing numba


@dataclass(frozen=True, slots=True)
class MNote:
    """A melody note in beats."""

    onset: float
    dur: float
    pitch: int
    vel: int = 90

    @property
    def end(self) -> float:
        return self.onset + self.dur


@dataclass(frozen=True)
class Melody:
    """A melody read from a file: monophonic (its top line), in beats of the file's first tempo."""

    path: str
    notes: tuple[MNote, ...]
    tempo: float
    meter: int

    @property
    def beats(self) -> float:
        return max(n.end for n in self.notes) if self.notes else 0.0


def check_free(paths: Iterable[Path], force: bool) -> None:
    """Raises OutputExistsError for the first of ``paths`` that exists, unless ``force``."""
    if force:
        return
    for p in paths:
        if Path(p).exists():
            raise OutputExistsError(f"{p} exists; use --force to overwrite it or --out DIR for another folder")


def pitched_notes(perf, path: str | Path, max_notes: int, too_many: str) -> list[MNote]:
    """Every pitched note of a performance (channel 10 is drums, left out), in beats of
    its first tempo; a note struck again while sounding ends there, a note never
    released lasts to the end (at least a 16th).

    Raises:
        InputFileError: more than ``max_notes`` notes (the message ends with
            ``too_many``), or no pitched notes; the message names the file.
    """
    bps = perf.tempo_bpm / 60.0
    open_: dict[int, tuple[float, int]] = {}
    notes: list[MNote] = []
    for t, m in zip(perf.times, perf.messages, strict=True):
        kind, ch = m[0] & 0xF0, m[0] & 0x0F
        if kind not in (0x80, 0x90) or ch == DRUM_CHANNEL or len(m) < 3:
            continue
        beat = float(t) * bps
        if m[1] in open_:  # a note-off, or the same key struck again: the sounding one ends
            s, v = open_.pop(m[1])
            notes.append(MNote(s, max(beat - s, 1e-3), m[1], v))
        if kind == 0x90 and m[2] > 0:
            open_[m[1]] = (beat, m[2])
        if len(notes) > max_notes:
            raise InputFileError(f"{path}: more than {max_notes} notes; {too_many}")
    end = float(perf.duration) * bps
    notes += [MNote(s, max(end - s, 0.25), p, v) for p, (s, v) in open_.items()]
    if not notes:
        raise InputFileError(f"{path}: no pitched notes (only drums on channel 10?)")
    return notes


def read_melody(path: str | Path, max_notes: int = MAX_NOTES) -> Melody:
    """The top line of a MIDI file's pitched notes (channel 10 is drums, left out).

    Raises:
        InputFileError: missing, empty, not MIDI, corrupt, no pitched notes, or too big
            (more than ``max_notes`` notes or ``MAX_BEATS`` beats); the message names the file.
    """
    from live.midifile import read_performance

    perf = read_performance(path)
    raw = pitched_notes(perf, path, max_notes, "the studio takes a melody or an idea, not a whole piece "
                                                "(cut it shorter)")
    notes = top_line(raw)
    if notes[-1].end > MAX_BEATS:
        raise InputFileError(f"{path}: {notes[-1].end:.0f} beats long; at most {MAX_BEATS:.0f} beats")
    tempo = float(min(300.0, max(30.0, perf.tempo_bpm)))
    return Melody(str(path), tuple(notes), tempo, max(2, min(7, perf.beats_per_bar)))


def top_line(notes: Sequence[MNote], grid: float = 0.25) -> list[MNote]:
    """Monophonic: of notes starting on the same ``grid`` point the highest; each note
    ends by the next one's start."""
    by_onset: dict[int, MNote] = {}
    for n in sorted(notes, key=lambda n: (n.onset, -n.pitch)):
        k = int(round(n.onset / grid))
        if k not in by_onset or n.pitch > by_onset[k].pitch:
            by_onset[k] = n
    out = [by_onset[k] for k in sorted(by_onset)]
    return [MNote(n.onset, max(0.05, min(n.dur, out[i + 1].onset - n.onset)) if i + 1 < len(out) else n.dur,
                  n.pitch, n.vel) for i, n in enumerate(out)]


def quantize(notes: Sequence[MNote], grid: float = 0.25) -> list[MNote]:
    """Onsets and durations onto ``grid`` (a 16th by default), no note shorter than a step."""
    out = []
    for n in notes:
        on = round(n.onset / grid) * grid
        if out and on <= out[-1].onset:
            continue
        out.append(MNote(on, max(grid, round(n.dur / grid) * grid), n.pitch, n.vel))
    return [MNote(n.onset, min(n.dur, out[i + 1].onset - n.onset) if i + 1 < len(out) else n.dur, n.pitch, n.vel)
            for i, n in enumerate(out)]


def write_melody_midi(path: Path, tracks: Sequence[tuple[str, Sequence[MNote], int, int]], tempo: float,
                      meter: int) -> None:
    """A type-1 MIDI file of note lists: (name, notes, channel 0..15, GM program or -1)."""
    from live.midifile import write_take

    fpb = SR * 60.0 / tempo
    rows = []
    for tid, (_name, notes, _ch, _prog) in enumerate(tracks):
        for n in notes:
            rows.append((int(round(n.onset * fpb)), tid, 0x90, n.pitch, n.vel))
            rows.append((int(round(n.end * fpb)) - 1, tid, 0x80, n.pitch, 0))
    rows.sort(key=lambda r: (r[0], r[2] != 0x80))
    events = np.array(rows, np.int64).reshape(-1, 5)
    write_take(Path(path), events, SR, [(i, t[0], t[2], t[3]) for i, t in enumerate(tracks)], tempo, meter)


@dataclass
class Render:
    wav: Path
    mid: Path
    png: Path | None
    music_s: float
    wall_s: float

    @property
    def ratio(self) -> float:
        """Seconds of music per second of rendering: above 1 is faster than real time."""
        return self.music_s / max(self.wall_s, 1e-9)


def _band_rig(style, tempo: float, melody_instrument: str):
    from live.render import RENDER_BAND
    from live.rig import load_rig_text

    band = "".join(f"  {name}: {{role: {role}, volume: {vol}, enabled: {'true' if style.plays(role) else 'false'}}}\n"
                   for name, role, vol in RENDER_BAND)
    text = (f"name: studio\nmode: lead\nstyle: {style.name}\ntempo: {tempo:.4f}\nsync_start: false\n"
            f"accompanist: rules\ninput: {{thru: false, instrument: {melody_instrument}, volume: 0.85}}\n"
            f"audio: {{backend: offline, sample_rate: {SR}, buffer: {BLOCK}}}\nband:\n{band}")
    return load_rig_text(text, source=f"<studio {style.name}>")


def render_with_band(base: Path, melody: Sequence[MNote], chart: Sequence[tuple[float, object]], *,
                     style: str, tempo: float, bars: int, seed: int = 0, title: str = "",
                     melody_instrument: str = "piano", band: bool = True, png: bool = True,
                     sections: list[tuple[str, int]] | None = None, midi: bool = True) -> Render:
    """Render ``melody`` (beats from the band's first downbeat) over ``chart`` ((beat,
    Chord) pairs, ascending) played by the band in ``style``, through the live engine on
    pyo's offline server: BASE.wav, BASE.mid (melody and band, a track each) and BASE.png.

    ``band=False`` plays the melody alone on its instrument; ``midi=False`` writes no
    BASE.mid. The caller checks that the outputs are free.

    Raises:
        StyleError: no such style. DeviceError: pyo's offline server does not start.
    """
    from live.accompanist import SLOTS_PER_BEAT
    from live.midifile import Performance, write_take
    from live.render import play_chart
    from live.roll import piano_roll
    from live.styles import open_style

    t0 = time.perf_counter()
    st = open_style(style)
    rig = _band_rig(st, tempo, melody_instrument)
    wav, mid, pic = Path(f"{base}.wav"), Path(f"{base}.mid"), Path(f"{base}.png")
    slots = [(int(round(b * SLOTS_PER_BEAT)), c) for b, c in chart]
    plan = sections or [("main_a", bars)]
    spb = 60.0 / tempo
    times, msgs = [], []
    for n in melody:
        times += [n.onset * spb, n.end * spb - 1e-4]
        msgs += [(0x90, n.pitch, n.vel), (0x80, n.pitch, 0)]
    order = np.argsort(np.asarray(times), kind="stable")
    perf = Performance("<studio>", np.asarray(times)[order], [msgs[i] for i in order], tempo, rig.meter,
                       480, max(times) if times else 0.0)
    music_s = max(bars * rig.meter, max((n.end for n in melody), default=0.0)) * spb
    engine = play_chart(rig, slots, plan if band else [("break", 0)], wav, music_s=music_s, seed=seed,
                        perf=perf, band=band)
    events = engine.recorder.events()
    start = engine.planner.transport.frame_at(0)
    events[:, 0] = (events[:, 0] - start).clip(min=0)
    tracks = [(-1, "melody", 0, rig.input.program - 1)]
    if band:
        tracks += [(i, p.name, p.channel - 1, -1 if p.role == "drums" else p.program - 1)
                   for i, p in enumerate(engine.band_cfg)]
    events = events[np.isin(events[:, 1], [t[0] for t in tracks])]
    if midi:
        write_take(mid, events, SR, tracks, tempo, rig.meter)
    if png:
        piano_roll(pic, events, SR, [(t, n) for t, n, _, _ in tracks], title=title)
    return Render(wav, mid, pic if png else None, music_s, time.perf_counter() - t0)


def render_harmonized(path: str | Path, base: Path, chords: list[dict], *, style: str, tempo: float) -> Render:
    """``sideman harmonize --render``: the file's melody (its top line) over the chords
    harmonize chose (its JSON rows, onsets in beats from the file's time 0), played by the
    band in ``style``: BASE.wav and BASE.png (harmonize writes its own BASE.mid)."""
    from live.accompanist import Chord
    from live.styles import open_style

    mel = read_melody(path)
    chart = [(float(c["onset_beats"]), Chord(c["root"], QUALITY_INDEX.get(c["quality"], 0)) if c["root"] >= 0
              else Chord(-1, -1)) for c in chords]
    meter = open_style(style).meter
    bars = max(1, int(np.ceil(max(mel.beats, max((c["offset_beats"] for c in chords), default=0.0)) / meter)))
    return render_with_band(base, mel.notes, chart, style=style, tempo=tempo, bars=bars,
                            title=f"{Path(path).name}: harmonized ({style})", midi=False)


def render_hits(wav: Path, hits: np.ndarray, *, tempo: float, instrument: str = "kit", seconds: float,
                volume: float = 0.8) -> float:
    """Play explicit hits (rows: beat, duration in beats, note, velocity) on one of the
    band's instruments through the band's mixer on pyo's offline server, to ``wav``.
    Returns the wall time in seconds.

    Raises:
        DeviceError: pyo's offline server does not start.
    """
    from live.instruments import Mixer, make_part
    from live.quiet import import_pyo
    from live.atomicfile import WavRecording
    from live.session import TAIL_S, boot_server, shutdown_server

    t0 = time.perf_counter()
    fpb = SR * 60.0 / tempo
    rows = []
    for i, (beat, dur, note, vel) in enumerate(hits):
        rows.append((int(round(beat * fpb)), 1, int(note), int(vel), i))
        rows.append((int(round((beat + dur) * fpb)), 0, int(note), 0, i))
    rows.sort(key=lambda r: (r[0], r[1]))
    pyo = import_pyo()
    server = boot_server(pyo, "offline", SR, BLOCK, None)
    try:
        part = make_part(instrument, volume, 0.0)
        mixer = Mixer([part])  # kept: a pyo object Python drops stops sounding (a silent WAV)
        mixer.out()
        rec = WavRecording(server, wav)  # under a temporary name until it is complete
        server.start()
        server.recstart()
        k, frame = 0, 0
        end = int((seconds + TAIL_S) * SR)
        while frame < end:
            frame += BLOCK
            while k < len(rows) and rows[k][0] < frame:
                f, on, note, vel, eid = rows[k]
                if on:
                    part.note_on(note, vel, eid)
                else:
                    part.note_off(note, eid)
                k += 1
            server.process()
        server.recstop()
        rec.finish()
    finally:
        shutdown_server(server)
    return time.perf_counter() - t0


def say(progress: Callable[[str], None] | None, msg: str) -> None:
    if progress is not None:
        progress(msg)
