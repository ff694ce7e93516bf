"""``sideman chords MELODY.mid [-k 5]``: the k best distinct chord progressions for a melody.

The model (live/model.py) is stepped once per eighth note over the whole melody, the
reactive way (``cur_mel`` set: offline the note at each step is known). It hears the
melody only (its ``prev_chord`` input is always "no chord", as in training), so each
step's chord log-probabilities do not depend on the chords chosen before: one pass
gives a table ``lp[step, chord]``.

A progression holds one chord per half bar (a bar in 3/4). Its **log-likelihood** is
the sum of ``lp`` over the steps its chords cover; it is reported with its mean per
eighth note and its probability per step (exp of that mean). A beam search finds the
best progression under that score less a small cost per chord change (a band does not
change chord on every melody note); each further progression is searched with a
penalty for every half bar that repeats a chord of a progression already kept, so the
k are distinct. They are sorted by log-likelihood.

Each gets a character label computed from its chords and the melody's key: "pedal /
static", "jazz reharmonisation" (sevenths, secondary dominants), "modal" (chords from
outside the key such as bVII), "minor", "bright diatonic", "colourful" (the rest).

Outputs, in --out: <stem>-chordsN-<label>.mid (melody and band), .wav, .png, and
<stem>-chords.json with the chord symbols, their onsets in beats and the likelihoods.

Threading model: control thread only.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from live.atomicfile import check_out_dir
from live.studio.common import MNote, Melody, check_free, read_melody, render_with_band, say

CHANGE_COST = 0.6  # nats per chord change
REPEAT_PENALTY = 2.5  # nats per half bar that repeats a chord of a kept progression
BEAM = 24
CANDIDATES = 20  # chords per segment the beam considers
SEVENTHS = {6, 7, 8, 9, 10}  # 7, maj7, min7, m7b5, dim7 (kernels.QUALITIES)
MINORISH = {1, 8, 12, 2, 9, 10}


@dataclass(frozen=True)
class Progression:
    chords: tuple[int, ...]  # a chord class (live.model) per segment
    seg_beats: float
    loglik: float  # sum over eighth-note steps
    steps: int
    label: str = ""

    @property
    def mean(self) -> float:
        return self.loglik / max(1, self.steps)

    def changes(self) -> list[tuple[float, int]]:
        """(onset in beats, chord class) at each change."""
        out: list[tuple[float, int]] = []
        for i, c in enumerate(self.chords):
            if not out or out[-1][1] != c:
                out.append((i * self.seg_beats, c))
        return out


def melody_steps(notes: Sequence[MNote], steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per eighth note: the melody's pitch class (-1 a rest) and whether a note began in it,
    as the model's data defines them (live.model.step_melody)."""
    from live.model import beat_steps

    return beat_steps([(n.onset, n.end, n.pitch) for n in notes], 0.0, steps)


def chord_table(runtime, notes: Sequence[MNote], meter: int, steps: int, style: int = 0) -> np.ndarray:
    """(steps, CHORD_CLASSES) log-probabilities of the model's chord at each eighth note,
    the melody known (reactive); "no chord" is not a choice."""
    from live.model import CHORD_CLASSES, NO_CHORD, POS_CLASSES, log_softmax_row

    mel, on = melody_steps(notes, steps)
    f = runtime.feeds_for(1)
    h = runtime.zero_state(1)
    lp = np.empty((steps, CHORD_CLASSES))
    for t in range(steps):
        f["prev_mel"][0] = (mel[t - 1] if t else -1) + 1
        f["prev_on"][0] = on[t - 1] if t else 0
        f["prev_chord"][0] = NO_CHORD
        f["pos"][0] = min(t % (meter * 2), POS_CLASSES - 1)
        f["style"][0] = style
        f["cur_mel"][0] = mel[t] + 1
        logits, _bass, _mel, h = runtime.step(h, f)
        row = logits[0].astype(np.float64)
        row[NO_CHORD] = -np.inf
        lp[t] = log_softmax_row(row)
    return lp


def beam_search(seg: np.ndarray, penalty: np.ndarray, beam: int = BEAM, change_cost: float = CHANGE_COST,
                candidates: int = CANDIDATES) -> tuple[int, ...]:
    """The best chord per segment under ``seg`` (segments x chords, log-likelihoods) less
    ``penalty`` (same shape) and ``change_cost`` per change. Deterministic."""
    score = seg - penalty
    beams: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
    for s in range(seg.shape[0]):
        cand = np.argsort(-score[s], kind="stable")[:candidates]
        grown = []
        for total, path in beams:
            for c in cand:
                c = int(c)
                cost = change_cost if path and path[-1] != c else 0.0
                grown.append((total + score[s, c] - cost, path + (c,)))
        grown.sort(key=lambda x: (-x[0], x[1]))
        beams = grown[:beam]
    return beams[0][1]


def k_best(lp: np.ndarray, seg_steps: int, k: int, *, repeat_penalty: float = REPEAT_PENALTY,
           min_differ: float = 0.25) -> list[Progression]:
    """Up to ``k`` progressions, each differing from every other in at least
    ``min_differ`` of its segments, sorted by log-likelihood (best first)."""
    steps = lp.shape[0]
    nseg = math.ceil(steps / seg_steps)
    seg = np.array([lp[i * seg_steps:(i + 1) * seg_steps].sum(axis=0) for i in range(nseg)])
    kept: list[tuple[int, ...]] = []
    pen = np.zeros_like(seg)
    weight = repeat_penalty
    tries = 0
    while len(kept) < k and tries < 4 * k:
        tries += 1
        path = beam_search(seg, pen * weight)
        differ = min((np.mean(np.array(path) != np.array(q)) for q in kept), default=1.0)
        if differ >= min_differ:
            kept.append(path)
            for i, c in enumerate(path):
                pen[i, c] += 1.0
        else:
            weight *= 1.6  # too close to one already kept: push harder away from them
    progs = [Progression(p, seg_steps / 2, float(sum(seg[i, c] for i, c in enumerate(p))), steps) for p in kept]
    return sorted(progs, key=lambda p: -p.loglik)


def character(prog: Progression, key: tuple[int, int]) -> str:
    """A short label for what a progression sounds like, from its chords and the key."""
    from live.model import class_chord

    chords = [class_chord(c) for c in prog.chords]
    distinct = set(chords)
    longest = max(chords.count(c) for c in distinct) / len(chords)
    if len(distinct) <= 2 and len(chords) >= 4 or longest >= 0.75:
        return "pedal-static"
    tonic, minor = key
    scale = {(tonic + d) % 12 for d in ((0, 2, 3, 5, 7, 8, 10) if minor else (0, 2, 4, 5, 7, 9, 11))}
    dominant = (tonic + 7) % 12
    sevenths = sum(q in SEVENTHS for _, q in chords) / len(chords)
    secondary = any(q == 6 and r != dominant for r, q in distinct)
    if sevenths >= 0.4 or secondary:
        return "jazz-reharmonisation"
    from kernels import QUALITY_INTERVALS

    outside = sum(any((r + int(i)) % 12 not in scale for i in QUALITY_INTERVALS[q] if i >= 0) for r, q in chords)
    if outside / len(chords) >= 0.25:
        return "modal"
    minors = sum(q in MINORISH for _, q in chords) / len(chords)
    if minor or minors >= 0.5:
        return "minor"
    if outside == 0:
        return "bright-diatonic"
    return "colourful"


def strong_beat_fit(notes: Sequence[MNote], changes: Sequence[tuple[float, int, int]], meter: int) -> float:
    """The share of melody notes on strong beats (1, and 3 in 4/4) that are tones of the
    chord sounding there: (onset beats, root, quality) changes."""
    from kernels import QUALITY_INTERVALS

    hits = total = 0
    for n in notes:
        b = n.onset % meter
        if abs(b - round(b)) > 1e-6 or not (round(b) == 0 or (meter % 2 == 0 and round(b) == meter // 2)):
            continue
        cur = None
        for on, r, q in changes:
            if on <= n.onset + 1e-9:
                cur = (r, q)
        if cur is None or cur[0] < 0:
            continue
        total += 1
        hits += (n.pitch - cur[0]) % 12 in {int(i) for i in QUALITY_INTERVALS[cur[1]] if i >= 0}
    return hits / total if total else 0.0


def suggest(melody: Melody, k: int, *, model: str | None = None, seed: int = 0,
            style_token: int = 0) -> tuple[list[Progression], tuple[int, int], float]:
    """The k best distinct progressions for ``melody``, the key, and the melody's length in beats.

    ``seed`` breaks nothing here (the search is deterministic); it is kept so the
    command's output is reproducible for a seed together with the band's rendering.

    Raises:
        ModelError: the model file is missing or broken.
    """
    from live.model import ModelRuntime
    from live.studio.vary import estimate_key

    del seed
    meter = melody.meter
    first = math.floor(melody.notes[0].onset / meter) * meter
    notes = [MNote(n.onset - first, n.dur, n.pitch, n.vel) for n in melody.notes]
    beats = math.ceil(max(n.end for n in notes) / meter - 1e-9) * meter
    rt = ModelRuntime(model, batch=1)
    lp = chord_table(rt, notes, meter, int(beats * 2), style_token)
    seg_steps = meter * 2 if meter % 2 else meter
    key = estimate_key(notes)
    progs = [Progression(p.chords, p.seg_beats, p.loglik, p.steps, character(p, key))
             for p in k_best(lp, seg_steps, k)]
    return progs, key, float(beats)


def run_chords(melody_path: str, out_dir: str | Path = ".", *, k: int = 5, seed: int = 0, force: bool = False,
               style: str = "pop", model: str | None = None, progress=print) -> dict:
    """Suggest, print and render ``k`` progressions for the melody in ``melody_path``.

    Raises:
        InputFileError, OutputExistsError, ModelError, StyleError, DeviceError.
    """
    from kernels import chord_symbol
    from kernels.chords import NOTE_NAMES
    from live.accompanist import Chord
    from live.model import STYLE_TOKEN, class_chord
    from live.styles import open_style

    t0 = time.perf_counter()
    mel = read_melody(melody_path)
    if not 1 <= k <= 12:
        raise ValueError(f"-k must be 1..12, got {k}")
    st = open_style(style)
    out = Path(out_dir)
    stem = Path(melody_path).stem
    js = out / f"{stem}-chords.json"
    check_free([js] + [p for i in range(1, k + 1) for p in out.glob(f"{stem}-chords{i}-*.*")], force)
    check_out_dir(out)  # before the work, not after it
    progs, key, beats = suggest(mel, k, model=model, seed=seed, style_token=STYLE_TOKEN.get(st.name, 0))
    meter = mel.meter
    first = math.floor(mel.notes[0].onset / meter) * meter
    notes = [MNote(n.onset - first, n.dur, n.pitch, n.vel) for n in mel.notes]
    say(progress, f"melody: {len(notes)} notes, {beats / meter:.0f} bars of {meter}/4 at {mel.tempo:g} bpm, key "
                  f"{NOTE_NAMES[key[0]]} {'minor' if key[1] else 'major'}; {len(progs)} progressions")
    rng = np.random.default_rng(seed)
    results = []
    music = wall = 0.0
    for i, p in enumerate(progs, 1):
        ch = [(b, *class_chord(c)) for b, c in p.changes()]
        syms = [chord_symbol(r, q, -1) for _, r, q in ch]
        base = out / f"{stem}-chords{i}-{p.label}"
        check_free([Path(f"{base}.{x}") for x in ("mid", "wav", "png")], force)
        r = render_with_band(base, notes, [(b, Chord(rt, q)) for b, rt, q in ch], style=st.name, tempo=mel.tempo,
                             bars=int(beats // meter), seed=seed + i, title=f"{stem} #{i}: {' '.join(syms)}")
        music += r.music_s
        wall += r.wall_s
        fit = strong_beat_fit(notes, ch, meter)
        results.append({"rank": i, "label": p.label, "loglik": round(p.loglik, 3), "mean_loglik": round(p.mean, 4),
                        "prob_per_step": round(math.exp(p.mean), 4), "strong_beat_fit": round(fit, 3),
                        "chords": [{"onset_beats": b, "symbol": s} for (b, _, _), s in zip(ch, syms, strict=True)],
                        "mid": r.mid.name, "wav": r.wav.name, "png": r.png.name})
        say(progress, f"[{i}/{len(progs)}] {p.label:<21} loglik {p.loglik:8.2f} ({math.exp(p.mean):.2f}/step) "
                      f"fit {fit:.2f}  {' | '.join(syms)}  ({r.music_s:.1f} s in {r.wall_s:.1f} s, "
                      f"{r.ratio:.1f}x real time)")
    # a baseline the suggestions should beat: random diatonic-or-not chords, same rhythm
    rand_fit = float(np.mean([strong_beat_fit(notes, [(b, int(rng.integers(12)), int(rng.integers(2)))
                                                      for b, _, _ in [(j * progs[0].seg_beats, 0, 0)
                                                                      for j in range(len(progs[0].chords))]], meter)
                              for _ in range(20)])) if progs else 0.0
    doc = {"melody": str(melody_path), "tempo": mel.tempo, "meter": meter, "key": list(key), "style": st.name,
           "seed": seed, "random_strong_beat_fit": round(rand_fit, 3),
           "likelihood": "sum over eighth notes of the model's chord log-probability (reactive: melody known)",
           "progressions": results,
           "render": {"music_s": round(music, 2), "wall_s": round(wall, 2), "ratio": round(music / max(wall, 1e-9), 2)}}
    from live.atomicfile import atomic_write

    atomic_write(js, lambda tmp: tmp.write_text(json.dumps(doc, indent=1)))
    say(progress, f"strong-beat melody notes in the chord: suggestions "
                  f"{', '.join(str(x['strong_beat_fit']) for x in results)}; random chords {rand_fit:.2f}")
    say(progress, f"rendered {music:.1f} s of music in {wall:.1f} s ({music / max(wall, 1e-9):.1f}x real time); "
                  f"wrote {js} ({time.perf_counter() - t0:.1f} s in all)")
    return doc


def cmd_chords(args) -> int:
    run_chords(args.melody, args.out, k=args.k, seed=args.seed, force=args.force, style=args.style,
               model=args.model, progress=lambda m: print(m, flush=True))
    return 0


def register(sub) -> None:
    p = sub.add_parser("chords", help="the k best distinct chord progressions for a melody, with likelihoods",
                       description="The k best distinct chord progressions the model finds for a melody "
                       "(a chord per half bar), each with its log-likelihood and a character label, "
                       "rendered with the band: <stem>-chordsN-<label>.mid/.wav/.png and <stem>-chords.json.")
    p.add_argument("melody", help="a MIDI file with the melody (its top line is used)")
    p.add_argument("-k", type=int, default=5, choices=range(1, 13), metavar="1..12",
                   help="how many progressions (default 5)")
    p.add_argument("--style", default="pop", help="the band's style for the renders (default pop)")
    p.add_argument("--model", help="an .onnx accompanist model (default: the shipped one)")
    p.add_argument("--out", default=".", help="folder for the outputs (default: here)")
    p.add_argument("--seed", type=int, default=0, help="seed for the band's humanising (default 0)")
    p.add_argument("--force", action="store_true", help="overwrite earlier outputs")
    p.set_defaults(func=cmd_chords)
