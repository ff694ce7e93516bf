"""``sideman arrange PIANO.mid --ensemble strings|orchestra|band|choir``: a piano piece
arranged for an ensemble.

- The melody is the piano's top voice (the skyline of the notes from middle C up, or of
  all notes if there are none there); it goes to the top part unchanged (moved by whole
  octaves only when it does not fit that instrument's range, which is said).
- The chords come from the piano's left hand (the notes under the melody), read beat by
  beat with the chord kernel; with no left hand, our model (live/model.py) harmonises
  the melody offline, hearing each eighth note as it is chosen.
- The parts are voice-led (kernels/ensemble.py): a bass line that avoids parallel fifths
  and octaves with the melody (root position first, then inversions), two inner voices
  that complete the chord, keep their ranges and spacing and move least; the band's keys
  and pad use the comping voicer (kernels/voicing.py).
- Ensembles: strings (violin 1, violin 2, viola, cello, contrabass), orchestra (+ flute,
  clarinet, horn, timpani), band (lead, keys, bass, pad, drums), choir (SATB).

Writes DIR/<stem>-<ensemble>.mid (one track per instrument, its GM program and channel),
.wav (each instrument on the nearest of the band's pyo sounds, through the band's mixer)
and .png (a piano roll).

Threading model: control thread only; pyo's offline server is driven inline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from live.errors import InputFileError
from live.atomicfile import check_out_dir
from live.studio.common import MNote, check_free, say, top_line

ENSEMBLES = ("strings", "orchestra", "band", "choir")
SPLIT = 60  # middle C: the melody is read from here up


@dataclass(frozen=True)
class Instrument:
    name: str
    program: int  # GM, 0-based; -1 drums
    low: int  # sounding MIDI range
    high: int
    sound: str  # the band's pyo instrument (live.instruments)
    volume: float = 0.6
    pan: float = 0.0


INSTRUMENTS = {
    "violin 1": Instrument("violin 1", 40, 55, 100, "strings", 0.55, -0.4),
    "violin 2": Instrument("violin 2", 40, 55, 88, "strings", 0.45, -0.2),
    "viola": Instrument("viola", 41, 48, 79, "strings", 0.45, 0.15),
    "cello": Instrument("cello", 42, 36, 67, "strings", 0.5, 0.35),
    "contrabass": Instrument("contrabass", 43, 28, 55, "bass", 0.55, 0.2),
    "flute": Instrument("flute", 73, 60, 96, "organ", 0.35, -0.1),
    "clarinet": Instrument("clarinet", 71, 50, 89, "lead", 0.35, 0.1),
    "horn": Instrument("horn", 60, 41, 77, "pad", 0.4, 0.25),
    "timpani": Instrument("timpani", 47, 40, 57, "upright", 0.6, 0.0),
    "lead": Instrument("lead", 0, 55, 96, "piano", 0.7, 0.0),
    "keys": Instrument("keys", 4, 48, 79, "epiano", 0.5, -0.25),
    "bass": Instrument("bass", 33, 28, 55, "bass", 0.7, 0.0),
    "pad": Instrument("pad", 89, 48, 79, "pad", 0.35, 0.25),
    "drums": Instrument("drums", -1, 35, 81, "kit", 0.6, 0.0),
    "soprano": Instrument("soprano", 52, 60, 81, "strings", 0.55, -0.3),
    "alto": Instrument("alto", 52, 55, 74, "pad", 0.5, -0.1),
    "tenor": Instrument("tenor", 52, 48, 67, "pad", 0.5, 0.1),
    "bass voice": Instrument("bass voice", 52, 40, 62, "pad", 0.55, 0.3),
}
LINEUP = {
    "strings": ("violin 1", "violin 2", "viola", "cello", "contrabass"),
    "orchestra": ("flute", "clarinet", "horn", "timpani", "violin 1", "violin 2", "viola", "cello", "contrabass"),
    "band": ("lead", "keys", "bass", "pad", "drums"),
    "choir": ("soprano", "alto", "tenor", "bass voice"),
}
#: (top, inner 1, inner 2, bass) voices of each ensemble's four-part frame
FRAME = {"strings": ("violin 1", "violin 2", "viola", "cello"),
         "orchestra": ("violin 1", "violin 2", "viola", "cello"),
         "choir": ("soprano", "alto", "tenor", "bass voice"),
         "band": ("lead", "keys", "keys", "bass")}
#: cost of leaving out a chord tone, by slot: root, third, fifth, seventh
OMIT_COST = (12, 20, 3, 8)


@dataclass
class Arrangement:
    ensemble: str
    tempo: float
    meter: int
    melody: list[MNote]
    chords: list[tuple[float, float, int, int]]  # start beat, end beat, root pc, quality
    parts: dict[str, list[MNote]] = field(default_factory=dict)
    chord_source: str = "left hand"
    octave_shift: int = 0
    messages: list[str] = field(default_factory=list)


# --- reading the piano --------------------------------------------------------------


def read_piano(path: str | Path) -> tuple[list[MNote], float, int]:
    """Every pitched note of a MIDI file in beats of its first tempo, its tempo and meter.

    Raises:
        InputFileError: as ``read_performance``, or no pitched notes, or too many.
    """
    from live.midifile import read_performance
    from live.studio.common import MAX_BEATS, MAX_NOTES, pitched_notes

    perf = read_performance(path)
    notes = pitched_notes(perf, path, 4 * MAX_NOTES, "arrange a song or a part of one")
    if max(n.end for n in notes) > MAX_BEATS:
        raise InputFileError(f"{path}: longer than {MAX_BEATS:.0f} beats")
    tempo = float(min(300.0, max(30.0, perf.tempo_bpm)))
    return sorted(notes, key=lambda n: (n.onset, n.pitch)), tempo, max(2, min(7, perf.beats_per_bar))


def split_hands(notes: list[MNote]) -> tuple[list[MNote], list[MNote]]:
    """(melody, left hand): the skyline from middle C up, and the notes under middle C."""
    upper = [n for n in notes if n.pitch >= SPLIT] or notes
    melody = top_line(upper)
    left = [n for n in notes if n.pitch < SPLIT] if len(upper) < len(notes) else []
    return melody, left


def chords_from_left_hand(left: list[MNote], beats: int) -> list[tuple[int, int]]:
    """(root, quality) for each beat from the left-hand notes sounding in it (-1s: none)."""
    from kernels import chord_recognize

    out = []
    for b in range(beats):
        w = np.zeros(12)
        low = None
        for n in left:
            overlap = min(n.end, b + 1.0) - max(n.onset, float(b))
            if overlap > 0.05:
                w[n.pitch % 12] += overlap
                if low is None or n.pitch < low:
                    low = n.pitch
        if low is None:
            out.append((-1, -1))
            continue
        root, quality, _ = chord_recognize(w, low % 12)
        out.append((int(root), int(quality)))
    return out


def chords_from_model(melody: list[MNote], beats: int, meter: int, style: int, seed: int) -> list[tuple[int, int]]:
    """(root, quality) per beat, chosen by the model on eighth notes with the melody known."""
    from live.model import ChordDecoder, ModelRuntime, class_chord

    dec = ChordDecoder(ModelRuntime(None, batch=1), style, seed=seed)
    steps = beats * 2

    def mel_at(t0: float, t1: float) -> tuple[int, int]:
        on = [n for n in melody if n.onset <= t0 + 0.05 and n.end > t0 + 0.05]
        began = [n for n in melody if t0 - 0.05 <= n.onset < t1 - 0.05]
        if on:
            return on[-1].pitch % 12, int(bool(began))
        if began:
            return began[0].pitch % 12, 1
        return -1, 0

    per_step = []
    for s in range(steps):
        prev_mel, prev_on = mel_at((s - 1) / 2, s / 2) if s else (-1, 0)
        cur = mel_at(s / 2, (s + 1) / 2)[0]
        c, _bass, _p, h = dec.propose(prev_mel, prev_on, s % (2 * meter), cur_mel=cur, steps_per_bar=2 * meter)
        dec.commit(c, h)
        per_step.append(class_chord(c))
    return [per_step[2 * b] for b in range(beats)]


def chord_segments(per_beat: list[tuple[int, int]], meter: int) -> list[tuple[float, float, int, int]]:
    """Beats of equal chords merged; a beat with no chord keeps the one before (the first
    chord reaches back to the start); a change never lasts less than a beat."""
    filled, last = [], None
    for c in per_beat:
        if c[0] >= 0:
            last = c
        filled.append(last)
    first = next((c for c in filled if c is not None), (0, 0))
    filled = [c if c is not None else first for c in filled]
    segs: list[list] = []
    for b, c in enumerate(filled):
        if segs and segs[-1][2:] == list(c):
            segs[-1][1] = b + 1.0
        else:
            segs.append([float(b), b + 1.0, c[0], c[1]])
    return [tuple(s) for s in segs]  # type: ignore[misc]


# --- writing the parts ----------------------------------------------------------------


def fit_octave(melody: list[MNote], inst: Instrument) -> int:
    """Whole octaves (0 if it fits) that put the most melody notes in ``inst``'s range."""
    best = (-1, 0)
    for k in (0, 1, -1, 2, -2):
        inside = sum(inst.low <= n.pitch + 12 * k <= inst.high for n in melody)
        if inside > best[0]:
            best = (inside, k)
    return best[1]


def chord_weights(root: int, quality: int) -> np.ndarray:
    from kernels import QUALITY_INTERVALS

    w = np.zeros(12, np.int64)
    for slot, iv in enumerate(QUALITY_INTERVALS[quality]):
        if iv >= 0:
            w[(root + iv) % 12] = OMIT_COST[slot]
    return w


def soprano_at(melody: list[MNote], t: float, before: bool = False) -> int:
    """The melody's latest pitch at beat t (the last note begun, held through rests);
    ``before``: just before t. -1 before the first note."""
    p = -1
    for n in melody:
        if n.onset < t - 1e-6 or (not before and abs(n.onset - t) <= 1e-6):
            p = n.pitch
        else:
            break
    return p


def choose_bass(root: int, quality: int, low: int, high: int, prev: int, s0: int, s1: int) -> int:
    """A bass note for the chord: root position unless it makes parallel fifths or octaves
    with the melody (s0 -> s1), then the third, then the fifth; near the previous note."""
    from kernels import QUALITY_INTERVALS
    from kernels.ensemble import is_parallel

    centre = (low + high) // 2
    best = None
    for slot, penalty in ((0, 0), (1, 6), (2, 9)):
        iv = QUALITY_INTERVALS[quality][slot]
        if iv < 0:
            continue
        pc = (root + iv) % 12
        for b in range(low, high + 1):
            if b % 12 != pc or (s1 >= 0 and b >= s1):
                continue
            cost = penalty + (abs(b - prev) if prev >= 0 else abs(b - centre) // 2)
            if prev >= 0 and is_parallel(s0, prev, s1, b):
                cost += 100
            if best is None or cost < best[0]:
                best = (cost, b)
    return best[1] if best else root % 12 + 12 * (low // 12 + 1)


def arrange_notes(melody: list[MNote], chords: list[tuple[float, float, int, int]], ensemble: str,
                  meter: int, key: tuple[int, int], seed: int = 0) -> tuple[dict[str, list[MNote]], int]:
    """Every part of ``ensemble`` as notes in beats; returns (parts, octave shift of the melody)."""
    from kernels import voice_chord
    from kernels.ensemble import voice_inner

    lineup = LINEUP[ensemble]
    top_name, in1, in2, bass_name = FRAME[ensemble]
    top_inst = INSTRUMENTS[top_name]
    shift = fit_octave(melody, top_inst)
    mel = [MNote(n.onset, n.dur, n.pitch + 12 * shift, n.vel) for n in melody]
    parts: dict[str, list[MNote]] = {name: [] for name in lineup}
    parts[top_name] = list(mel)
    rng = np.random.default_rng(seed)
    b_inst = INSTRUMENTS[bass_name]
    prev_b, prev_inner = -1, np.full(2, -1, np.int64)
    prev_top = -1
    keys_prev = np.full(4, -1, np.int64)
    pad_prev = np.full(3, -1, np.int64)
    out2, out4, out3 = np.empty(2, np.int64), np.empty(4, np.int64), np.empty(3, np.int64)
    for start, end, root, quality in chords:
        dur = end - start
        inside = [n.pitch for n in mel if n.onset < end - 1e-6 and n.end > start + 1e-6]
        s1 = soprano_at(mel, start)
        s0 = soprano_at(mel, start, before=True)
        top = min(inside) if inside else (s1 if s1 >= 0 else top_inst.low + 12)
        vel = 70 + int(rng.integers(-4, 5))
        b = choose_bass(root, quality, b_inst.low, min(b_inst.high, top - 1), prev_b, s0, s1)
        if ensemble == "band":
            parts["bass"] += _bass_line(start, end, b, meter, vel + 10)
            voice_chord(root, quality, keys_prev, 52, min(76, top - 1), out4)
            if out4[0] < 0:
                voice_chord(root, quality, np.full(4, -1, np.int64), 48, 72, out4)
            keys_prev = out4.copy()
            parts["keys"] += [MNote(t, min(1.0, end - t) * 0.9, int(p), vel - 8)
                              for t in np.arange(start, end, 1.0) for p in out4 if p >= 0]
            voice_chord(root, quality, pad_prev, 48, 72, out3)
            pad_prev = out3.copy()
            parts["pad"] += [MNote(start, dur, int(p), 52) for p in out3 if p >= 0]
            prev_b = b
            continue
        lows = np.array([INSTRUMENTS[in1].low, INSTRUMENTS[in2].low], np.int64)
        highs = np.array([INSTRUMENTS[in1].high, INSTRUMENTS[in2].high], np.int64)
        cost = voice_inner(chord_weights(root, quality), top, b, prev_top, prev_b, lows, highs, prev_inner, out2)
        if cost < 0:  # nothing fits under a low melody: free the spacing by trying without the previous
            voice_inner(chord_weights(root, quality), top, b, -1, -1, lows, highs, np.full(2, -1, np.int64), out2)
        a, t = int(out2[0]), int(out2[1])
        if a < 0:  # still nothing under the melody's spacing rules: stack chord tones on the bass
            a, t = _stack_on_bass(root, quality, b, lows, highs)
        if a >= 0:
            parts[in1].append(MNote(start, dur, a, vel))
            parts[in2].append(MNote(start, dur, t, vel - 4))
            prev_inner = out2.copy()
        parts[bass_name].append(MNote(start, dur, b, vel + 4))
        if ensemble in ("strings", "orchestra"):
            cb = b - 12 if b - 12 >= INSTRUMENTS["contrabass"].low else b
            parts["contrabass"].append(MNote(start, dur, cb, vel))
        if ensemble == "orchestra":
            if a >= 0:
                parts["clarinet"].append(MNote(start, dur, a, vel - 10))
                h = t if t >= INSTRUMENTS["horn"].low else t + 12
                parts["horn"].append(MNote(start, dur, h, vel - 12))
            tonic, dom = key[0] % 12, (key[0] + 7) % 12
            if start % meter == 0 and root in (tonic, dom):
                drum = 41 + (root - 41) % 12  # the two drums: F2..E3
                parts["timpani"].append(MNote(start, min(1.0, dur), drum, vel + 6))
        prev_b, prev_top = b, s1 if s1 >= 0 else prev_top
    if ensemble == "orchestra":
        fl = INSTRUMENTS["flute"]
        up = 12 if all(n.pitch + 12 <= fl.high for n in mel) else 0
        parts["flute"] = [MNote(n.onset, n.dur, n.pitch + up, max(1, n.vel - 15)) for n in mel
                          if fl.low <= n.pitch + up <= fl.high]
    if ensemble == "band":
        parts["drums"] = _drums(chords[-1][1] if chords else 0.0, meter, rng)
    return parts, shift


def _bass_line(start: float, end: float, b: int, meter: int, vel: int) -> list[MNote]:
    """The bass note again every two beats of the chord."""
    out = []
    t = start
    while t < end - 1e-6:
        d = min(2.0, end - t)
        out.append(MNote(t, d * 0.9, b, vel))
        t += d
    return out


def _drums(beats: float, meter: int, rng) -> list[MNote]:
    out = []
    for bar in range(int(np.ceil(beats / meter))):
        for k in range(meter * 2):
            t = bar * meter + k / 2
            if t >= beats:
                break
            out.append(MNote(t, 0.2, 42, 55 + int(rng.integers(-6, 7))))
            if k == 0 or (meter == 4 and k == 4):
                out.append(MNote(t, 0.2, 36, 92))
            if meter == 4 and k in (2, 6) or meter == 3 and k in (2, 4):
                out.append(MNote(t, 0.2, 38, 84))
    return out


# --- the whole job -----------------------------------------------------------------------


def arrange(path: str | Path, ensemble: str, *, seed: int = 0, use_model: bool | None = None,
            progress=print) -> Arrangement:
    """Read ``path`` and arrange it for ``ensemble`` (no files written).

    Raises:
        InputFileError: the file is not a usable MIDI file. ValueError: unknown ensemble.
    """
    from kernels import key_estimate, warmup

    if ensemble not in ENSEMBLES:
        raise ValueError(f"--ensemble must be one of {', '.join(ENSEMBLES)}, got {ensemble!r}")
    warmup()
    notes, tempo, meter = read_piano(path)
    melody, left = split_hands(notes)
    beats = int(np.ceil(max(n.end for n in notes) - 1e-6))
    arr = Arrangement(ensemble, tempo, meter, melody, [])
    if left and use_model is not True:
        per_beat = chords_from_left_hand(left, beats)
    else:
        arr.chord_source = "the model (no left hand in the file)" if not left else "the model"
        per_beat = chords_from_model(melody, beats, meter, 2 if ensemble in ("choir", "strings") else 0, seed)
    arr.chords = chord_segments(per_beat, meter)
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.dur
    tonic, mode, _ = key_estimate(hist)
    key = (int(max(tonic, 0)), int(max(mode, 0)))
    arr.parts, arr.octave_shift = arrange_notes(melody, arr.chords, ensemble, meter, key, seed)
    say(progress, f"{path}: {len(melody)} melody notes, {len(arr.chords)} chords from {arr.chord_source}, "
                  f"{tempo:g} bpm, {meter}/4")
    if arr.octave_shift:
        arr.messages.append(f"the melody moved {arr.octave_shift:+d} octave(s) to fit the "
                            f"{FRAME[ensemble][0]}'s range")
    return arr


def channels(lineup: tuple[str, ...]) -> list[int]:
    """A channel per instrument, 0-based: drums on 9 (MIDI 10), the others around it."""
    free = [c for c in range(16) if c != 9]
    out = []
    for name in lineup:
        out.append(9 if INSTRUMENTS[name].program < 0 else free.pop(0))
    return out


def write_outputs(arr: Arrangement, base: Path, *, render: bool = True, progress=print) -> dict:
    """BASE.mid, BASE.png and (``render``) BASE.wav; returns what was written and how fast."""
    from live.roll import piano_roll
    from live.studio.common import SR, write_melody_midi

    lineup = LINEUP[arr.ensemble]
    chans = channels(lineup)
    tracks = [(name, arr.parts[name], ch, INSTRUMENTS[name].program) for name, ch in zip(lineup, chans, strict=True)]
    mid, png, wav = Path(f"{base}.mid"), Path(f"{base}.png"), Path(f"{base}.wav")
    write_melody_midi(mid, tracks, arr.tempo, arr.meter)
    fpb = SR * 60.0 / arr.tempo
    ev = []
    for i, (_nm, ns, _c, _p) in enumerate(tracks):
        for n in ns:
            ev.append((int(round(n.onset * fpb)), i, 0x90, n.pitch, n.vel))
            ev.append((int(round(n.end * fpb)) - 1, i, 0x80, n.pitch, 0))
    ev.sort(key=lambda r: (r[0], r[2] != 0x80))
    events = np.array(ev, np.int64).reshape(-1, 5)
    drums = {i for i, name in enumerate(lineup) if INSTRUMENTS[name].program < 0}
    piano_roll(png, events, SR, [(i, name) for i, name in enumerate(lineup)],
               title=f"{Path(base).name}: {arr.ensemble}", drum_tracks=drums)
    result = {"mid": str(mid), "png": str(png)}
    if render:
        seconds = max((n.end for ns in arr.parts.values() for n in ns), default=0.0) * 60.0 / arr.tempo
        wall = render_parts(wav, [(INSTRUMENTS[name], arr.parts[name]) for name in lineup], arr.tempo, seconds,
                            progress=progress)
        result.update(wav=str(wav), seconds=round(seconds, 2), wall_s=round(wall, 2),
                      speed=round(seconds / max(wall, 1e-9), 1))
    return result


def render_parts(wav: Path, parts: list[tuple[Instrument, list[MNote]]], tempo: float, seconds: float,
                 progress=print) -> float:
    """Play each part on its instrument's pyo sound through the band's mixer, offline, to
    ``wav``; returns the wall time.

    Raises:
        DeviceError: pyo's offline server does not start.
    """
    from live.instruments import Mixer, make_part
    from live.quiet import import_pyo
    from live.atomicfile import WavRecording
    from live.session import TAIL_S, boot_server, shutdown_server
    from live.studio.common import BLOCK, SR

    t0 = time.perf_counter()
    fpb = SR * 60.0 / tempo
    rows = []
    eid = 0
    for k, (_inst, notes) in enumerate(parts):
        for n in notes:
            eid += 1
            rows.append((int(round(n.onset * fpb)), 1, k, n.pitch, n.vel, eid))
            rows.append((max(int(round(n.end * fpb)) - 1, int(round(n.onset * fpb)) + 1), 0, k, n.pitch, 0, eid))
    rows.sort(key=lambda r: (r[0], r[1]))
    pyo = import_pyo()
    server = boot_server(pyo, "offline", SR, BLOCK, None)
    try:
        voices = [make_part(inst.sound, inst.volume, inst.pan) for inst, _ in parts]
        mixer = Mixer(voices, reverb=0.25)  # kept: pyo objects stop sounding when collected
        mixer.out()
        rec = WavRecording(server, wav)  # under a temporary name until it is complete
        server.start()
        server.recstart()
        i, frame = 0, 0
        end = int((seconds + TAIL_S) * SR)
        shown = -1
        while frame < end:
            frame += BLOCK
            while i < len(rows) and rows[i][0] < frame:
                _f, on, k, note, vel, e = rows[i]
                if on:
                    voices[k].note_on(note, vel, e)
                else:
                    voices[k].note_off(note, e)
                i += 1
            server.process()
            pct = 100 * frame // end
            if pct // 25 != shown:
                shown = pct // 25
                say(progress, f"  rendering {min(pct, 100):3d}%  ({frame / SR:5.1f} s)")
        server.recstop()
        rec.finish()
    finally:
        shutdown_server(server)
    return time.perf_counter() - t0


def cmd_arrange(args) -> int:
    src = Path(args.input)
    out = Path(args.out)
    base = out / f"{src.stem}-{args.ensemble}"
    check_free([Path(f"{base}{ext}") for ext in (".mid", ".wav", ".png")], args.force)
    if not src.exists():
        raise InputFileError(f"{src}: no such file")
    check_out_dir(out)  # before the work, not after it
    arr = arrange(src, args.ensemble, seed=args.seed, use_model=True if args.model else None)
    for m in arr.messages:
        print(f"  note: {m}")
    r = write_outputs(arr, base, render=not args.no_audio)
    parts = ", ".join(f"{n} ({len(arr.parts[n])})" for n in LINEUP[args.ensemble])
    print(f"  parts: {parts}")
    tail = f", {r['wav']}" if "wav" in r else ""
    speed = f" ({r['seconds']:.1f} s of music in {r['wall_s']:.1f} s, {r['speed']:g}x real time)" if "wav" in r else ""
    print(f"-> {r['mid']}, {r['png']}{tail}{speed}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("arrange", help="arrange a piano piece for strings, orchestra, band or choir")
    p.add_argument("input", metavar="PIANO.mid", help="a piano MIDI file: melody on top, chords in the left hand")
    p.add_argument("--ensemble", choices=ENSEMBLES, default="strings", help="who plays it (default strings)")
    p.add_argument("--model", action="store_true", help="take the chords from the model even with a left hand")
    p.add_argument("--no-audio", action="store_true", help="MIDI and piano roll only, no WAV")
    p.add_argument("--out", default=".", help="folder for <stem>-<ensemble>.mid/.wav/.png (default: here)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--seed", type=int, default=0, help="seed for the humanised velocities (default 0)")
    p.set_defaults(func=cmd_arrange)


def _stack_on_bass(root: int, quality: int, bass: int, lows: np.ndarray, highs: np.ndarray) -> tuple[int, int]:
    """(upper, lower) inner voices: the lowest chord tones above the bass in each voice's
    range, the lower voice first, so upper > lower > bass (no crossing); (-1, -1) when the
    ranges hold none."""
    from kernels import chord_pitch_classes

    pcs = np.full(4, -1, np.int64)
    chord_pitch_classes(root, quality, pcs)
    tones = {int(x) for x in pcs if x >= 0}

    def lowest_above(floor: int, lo: int, hi: int) -> int:
        for n in range(max(floor + 1, lo), hi + 1):
            if n % 12 in tones:
                return n
        return -1

    t = lowest_above(bass, int(lows[1]), int(highs[1]))
    a = lowest_above(t, int(lows[0]), int(highs[0])) if t >= 0 else -1
    return (a, t) if a >= 0 else (-1, -1)
