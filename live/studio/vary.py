"""``sideman vary IDEA.mid -n 10``: variations of a melodic idea, each in its own style.

Each variation applies one named technique to the idea (quantised to 16ths, its key
estimated from its notes) and is played by the band in a style of its own, over chords
fitted to it:

    displaced          the rhythm an eighth note later (funk)
    modal              the degrees moved to the parallel mode, seventh chords (bossa-nova)
    ornamented         turns on long notes, passing tones in thirds (ballad)
    sequenced          the first half, then again a scale step higher (pop)
    inverted           the contour mirrored in the scale around the first note (rock)
    augmented          twice as slow (ambient)
    swing              swung eighths (swing)
    waltz              each 4/4 bar folded into a bar of 3/4 (jazz-waltz)
    call-and-response  the first half, answered by the duet mode's variation (reggae)
    octave             an octave away, legato (chorale)
    retrograde         backwards (folk; with -n 11 or more)
    diminished         twice as fast, twice over (country; with -n 12)

How related each variation is to the idea is measured by :func:`similarity` (0..1; 1 is
the same melody): the mean of five parts, each on time normalised to the melody's own
length, so augmentation and diminution are not penalised for their speed alone:

- contour: the correlation of the two pitch curves, sampled at 48 points, as (1 + r) / 2;
- intervals: 1 - a weighted edit distance between the |interval| sequences;
- rhythm: half 1 - the edit distance between the inter-onset ratios (log2, halves),
  half 1 - the edit distance between the onsets' metrical weights (downbeat, beat, &,
  swung &, 16th), so a displaced rhythm counts as changed;
- pitch classes: the cosine of the duration-weighted pitch-class histograms;
- frame: exp(-(register shift in octaves + |log2| of the ratio of mean note spacings)),
  so that the same tune an octave up or twice as slow is related but not the same.

Outputs, in --out: <stem>-varNN-<label>.mid and .wav for each variation (the melody on
piano over the band), <stem>-variations.png (the idea and every variation, one row
each) and <stem>-variations.json (labels, styles, chords and the scores).

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

from live.errors import InputFileError
from live.atomicfile import check_out_dir
from live.studio.common import MNote, check_free, quantize, read_melody, render_with_band, say

#: technique -> style, in the order variations are made (the issue's ten first)
TECHNIQUES = (("displaced", "funk"), ("modal", "bossa-nova"), ("ornamented", "ballad"), ("sequenced", "pop"),
              ("inverted", "rock"), ("augmented", "ambient"), ("swing", "swing"), ("waltz", "jazz-waltz"),
              ("call-and-response", "reggae"), ("octave", "chorale"), ("retrograde", "folk"),
              ("diminished", "country"))
MAX_IDEA_BARS = 8
MIN_NOTES = 3
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
DORIAN = (0, 2, 3, 5, 7, 9, 10)
MIXOLYDIAN = (0, 2, 4, 5, 7, 9, 10)


@dataclass(frozen=True)
class Variation:
    label: str
    style: str
    notes: tuple[MNote, ...]
    meter: int
    chords: tuple[tuple[float, int, int], ...]  # (beat, root pc, quality index)
    what: str  # one line: what changed


# --- key and scale degrees -----------------------------------------------------------


def estimate_key(notes: Sequence[MNote]) -> tuple[int, int]:
    """(tonic pitch class, 0 major / 1 minor): Krumhansl-Kessler profiles against the
    duration-weighted pitch classes, less the share of notes outside the key's scale."""
    from kernels import KK_MAJOR, KK_MINOR

    h = np.zeros(12)
    for n in notes:
        h[n.pitch % 12] += n.dur
    best, key = -np.inf, (0, 0)
    total = h.sum() or 1.0
    for mode, prof in ((0, KK_MAJOR), (1, KK_MINOR)):
        for t in range(12):
            r = np.corrcoef(h, np.roll(prof, t))[0, 1] if h.std() > 0 else 0.0
            # a short idea fits several profiles: prefer the key whose scale holds its notes
            inside = sum(h[(t + d) % 12] for d in (MINOR if mode else MAJOR))
            r -= (total - inside) / total
            if r > best + 1e-12:
                best, key = r, (t, mode)
    return key


def to_degree(pitch: int, tonic: int, scale: Sequence[int]) -> tuple[int, int]:
    """(scale step counted from the tonic's octave, chromatic offset) of ``pitch``."""
    rel = pitch - tonic
    octave, pc = divmod(rel, 12)
    i = min(range(len(scale)), key=lambda k: (abs(scale[k] - pc), scale[k] > pc))
    return octave * len(scale) + i, pc - scale[i]


def from_degree(step: int, offset: int, tonic: int, scale: Sequence[int]) -> int:
    octave, i = divmod(step, len(scale))
    return tonic + 12 * octave + scale[i] + offset


# --- the techniques: pure functions on quantised notes --------------------------------


def _fit(notes: list[MNote], length: float) -> list[MNote]:
    out = [n for n in notes if n.onset < length - 1e-9]
    return [MNote(n.onset, max(0.25, min(n.dur, length - n.onset)), n.pitch, n.vel) for n in out]


def displaced(notes, length, key, meter):
    later = [MNote(n.onset + 0.5, n.dur, n.pitch, n.vel) for n in notes]
    return _fit(later, length + meter), "every note an eighth later"


def modal(notes, length, key, meter):
    tonic, minor = key
    src, dst, name = (MINOR, MAJOR, "major") if minor else (MAJOR, DORIAN, "dorian")
    out = []
    for n in notes:
        step, off = to_degree(n.pitch, tonic, src)
        out.append(MNote(n.onset, n.dur, from_degree(step, off, tonic, dst), n.vel))
    return out, f"moved to the {name} mode, reharmonised with sevenths"


def ornamented(notes, length, key, meter):
    tonic, minor = key
    scale = MINOR if minor else MAJOR
    out: list[MNote] = []
    for i, n in enumerate(notes):
        step, off = to_degree(n.pitch, tonic, scale)
        nxt = notes[i + 1] if i + 1 < len(notes) else None
        if n.dur >= 1.0:  # a turn: the note, its upper neighbour, the note again
            up = from_degree(step + 1, 0, tonic, scale)
            out += [MNote(n.onset, n.dur - 0.5, n.pitch, n.vel), MNote(n.end - 0.5, 0.25, up, n.vel - 10),
                    MNote(n.end - 0.25, 0.25, n.pitch, n.vel - 5)]
        elif nxt is not None and n.dur >= 0.5 and abs(to_degree(nxt.pitch, tonic, scale)[0] - step) == 2:
            mid = from_degree((step + to_degree(nxt.pitch, tonic, scale)[0]) // 2, 0, tonic, scale)
            out += [MNote(n.onset, n.dur - 0.25, n.pitch, n.vel), MNote(n.end - 0.25, 0.25, mid, n.vel - 10)]
        else:
            out.append(n)
    return out, "turns on the long notes, passing tones filling thirds"


def _first_half(notes, length, meter):
    half = max(meter, math.ceil(length / 2 / meter) * meter) if length > meter else length / 2
    return [n for n in notes if n.onset < half - 1e-9], half


def sequenced(notes, length, key, meter):
    tonic, minor = key
    scale = MINOR if minor else MAJOR
    head, half = _first_half(notes, length, meter)
    head = _fit(head, half)
    up = []
    for n in head:
        step, off = to_degree(n.pitch, tonic, scale)
        up.append(MNote(n.onset + half, n.dur, from_degree(step + 1, off, tonic, scale), n.vel))
    return head + up, "the first half, then again a scale step higher"


def inverted(notes, length, key, meter):
    tonic, minor = key
    scale = MINOR if minor else MAJOR
    axis = to_degree(notes[0].pitch, tonic, scale)[0]
    out = []
    for n in notes:
        step, off = to_degree(n.pitch, tonic, scale)
        out.append(MNote(n.onset, n.dur, from_degree(2 * axis - step, -off, tonic, scale), n.vel))
    return out, "the contour upside down, mirrored in the scale around the first note"


def retrograde(notes, length, key, meter):
    end = max(n.end for n in notes)
    out = sorted((MNote(end - n.end, n.dur, n.pitch, n.vel) for n in notes), key=lambda n: n.onset)
    return quantize(out), "played backwards"


def augmented(notes, length, key, meter):
    return [MNote(n.onset * 2, n.dur * 2, n.pitch, n.vel) for n in notes], "every note twice as long"


def diminished(notes, length, key, meter):
    once = [MNote(n.onset / 2, max(0.25, n.dur / 2), n.pitch, n.vel) for n in notes]
    return quantize(once + [MNote(n.onset + length / 2, n.dur, n.pitch, n.vel) for n in once]), \
        "twice as fast, played twice"


def swing(notes, length, key, meter):
    tonic, minor = key
    scale = MINOR if minor else MAJOR
    out = []
    for i, n in enumerate(notes):
        beat, frac = divmod(n.onset, 1.0)
        if abs(frac - 0.5) < 1e-6:
            out.append(MNote(beat + 2 / 3, n.dur, n.pitch, n.vel))
        elif abs(frac - 0.25) < 1e-6 or abs(frac - 0.75) < 1e-6:
            continue  # 16ths do not swing: the pair becomes one swung eighth
        elif frac < 1e-6 and n.dur >= 1.0 and int(beat) % 2 == 0 and i + 1 < len(notes):
            # a quarter note on beats 1 and 3 becomes a swung pair: the note, then a
            # scale step leading to the next note on the last triplet
            step = to_degree(n.pitch, tonic, scale)[0]
            toward = 1 if notes[i + 1].pitch > n.pitch else -1
            out += [MNote(n.onset, 2 / 3, n.pitch, n.vel),
                    MNote(n.onset + 2 / 3, n.dur - 2 / 3, from_degree(step + toward, 0, tonic, scale), n.vel - 12)]
        else:
            out.append(n)
    out = [MNote(n.onset, min(n.dur, out[i + 1].onset - n.onset) if i + 1 < len(out) else n.dur, n.pitch, n.vel)
           for i, n in enumerate(out)]
    return out, "swung eighths (the & on the last triplet), pushes on 1 and 3"


def waltz(notes, length, key, meter):
    out: list[MNote] = []
    for n in notes:
        bar, pos = divmod(n.onset, meter)
        on = bar * 3 + round(pos * 3 / meter * 2) / 2
        if out and on <= out[-1].onset + 1e-9:
            continue
        out.append(MNote(on, max(0.5, round(n.dur * 3 / meter * 2) / 2), n.pitch, n.vel))
    out = [MNote(n.onset, min(n.dur, out[i + 1].onset - n.onset) if i + 1 < len(out) else n.dur, n.pitch, n.vel)
           for i, n in enumerate(out)]
    return out, "each bar of 4 folded into a bar of 3/4"


def call_and_response(notes, length, key, meter, seed=0, melodist=None):
    from live.duet import Note, Phrase, model_plan, vary

    head, half = _first_half(notes, length, meter)
    head = _fit(head, half)
    bars = max(1, int(math.ceil(half / meter)))
    phrase = Phrase(tuple(Note(n.onset, n.end, n.pitch, n.vel) for n in head), head[0].onset, half, bars, half,
                    "rest")
    plan = vary(phrase, meter, seed, transpose=0)
    start = bars * meter
    if melodist is not None:  # the call's rhythm, the pitches the model continues the call with
        melodist.reseed(seed)
        plan = model_plan(plan, phrase, float(start), meter, melodist, key)
        answer = [MNote(start + o, d, t, v) for o, d, v, t in
                  zip(plan.onsets, plan.durations, plan.velocities, plan.targets, strict=True)]
        return head + answer, f"the first half as a call, answered by the model (rhythm {plan.rhythm})"
    answer = [MNote(start + o, d, t, v) for o, d, v, t in
              zip(plan.onsets, plan.durations, plan.velocities, plan.targets, strict=True)]
    return head + answer, f"the first half as a call, answered (rhythm {plan.rhythm}, contour {plan.contour})"


def octave(notes, length, key, meter):
    mean = sum(n.pitch for n in notes) / len(notes)
    shift = 12 if mean < 66 else -12
    out = [MNote(n.onset, n.dur, n.pitch + shift, n.vel) for n in notes]
    out = [MNote(n.onset, out[i + 1].onset - n.onset if i + 1 < len(out) else n.dur, n.pitch, n.vel)
           for i, n in enumerate(out)]  # legato, as a choir sings it
    return out, f"an octave {'higher' if shift > 0 else 'lower'}, legato"


TRANSFORMS = {"displaced": displaced, "modal": modal, "ornamented": ornamented, "sequenced": sequenced,
              "inverted": inverted, "retrograde": retrograde, "augmented": augmented, "diminished": diminished,
              "swing": swing, "waltz": waltz, "call-and-response": call_and_response, "octave": octave}


# --- chords under a variation ----------------------------------------------------------


def fit_chords(notes: Sequence[MNote], key: tuple[int, int], meter: int, beats: float,
               sevenths: bool = False, scale: Sequence[int] | None = None) -> list[tuple[float, int, int]]:
    """A chord per half bar (per bar in 3/4) from the key's diatonic chords: the one whose
    tones cover most of the melody there (strong beats count double), ties to I, V, IV, vi."""
    from kernels import QUALITIES

    tonic, minor = key
    sc = tuple(scale) if scale is not None else (MINOR if minor else MAJOR)
    q = {name: i for i, name in enumerate(QUALITIES)}
    cands = []
    for d in range(7):
        tones = {(sc[(d + k) % 7]) % 12 for k in (0, 2, 4)}
        third = (sc[(d + 2) % 7] - sc[d]) % 12
        fifth = (sc[(d + 4) % 7] - sc[d]) % 12
        seventh = (sc[(d + 6) % 7] - sc[d]) % 12
        if fifth == 6:
            name = "m7b5" if sevenths else "dim"
        elif third == 3:
            name = "min7" if sevenths else "min"
        else:
            name = ("maj7" if seventh == 11 else "7") if sevenths else "maj"
        if sevenths:
            tones.add(sc[(d + 6) % 7] % 12)
        cands.append(((tonic + sc[d]) % 12, q[name], {(tonic + t) % 12 for t in tones}, d))
    prior = {0: 0.3, 4: 0.2, 3: 0.15, 5: 0.1}
    span = meter if meter % 2 else meter / 2
    out: list[tuple[float, int, int]] = []
    t = 0.0
    while t < beats - 1e-9:
        score = np.array([prior.get(c[3], 0.0) for c in cands])
        for n in notes:
            ov = min(n.end, t + span) - max(n.onset, t)
            if ov <= 0:
                continue
            w = ov * (2.0 if abs(n.onset - t) < 1e-6 else 1.0)
            score += [w if n.pitch % 12 in c[2] else 0.0 for c in cands]
        best = cands[int(np.argmax(score))]
        if not out or (out[-1][1], out[-1][2]) != (best[0], best[1]):
            out.append((t, best[0], best[1]))
        t += span
    return out


# --- similarity -------------------------------------------------------------------------


def _edit(a: Sequence[float], b: Sequence[float], scale: float) -> float:
    """Levenshtein distance with substitution cost min(1, |x - y| / scale), normalised to 0..1."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return 1.0 if n or m else 0.0
    prev = np.arange(m + 1, dtype=float)
    for i in range(1, n + 1):
        cur = np.empty(m + 1)
        cur[0] = i
        for j in range(1, m + 1):
            sub = prev[j - 1] + min(1.0, abs(a[i - 1] - b[j - 1]) / scale)
            cur[j] = min(sub, prev[j] + 1.0, cur[j - 1] + 1.0)
        prev = cur
    return float(prev[m]) / max(n, m)


def _curve(notes: Sequence[MNote], points: int = 48) -> np.ndarray:
    t0, t1 = notes[0].onset, max(n.end for n in notes)
    ts = t0 + (t1 - t0) * (np.arange(points) + 0.5) / points
    ons = np.array([n.onset for n in notes])
    idx = np.clip(np.searchsorted(ons, ts, side="right") - 1, 0, len(notes) - 1)
    return np.array([notes[i].pitch for i in idx], float)


def metric(notes: Sequence[MNote]) -> list[float]:
    """Each onset's metrical weight: 3 a downbeat (of a 4/4 or 3/4 bar), 2 a beat, 1 an
    eighth's &, 0.5 a swung &, 0 a 16th."""
    out = []
    for n in notes:
        frac = n.onset % 1.0
        if frac < 1e-6 or frac > 1 - 1e-6:
            out.append(3.0 if abs(n.onset % 4) < 1e-6 or abs(n.onset % 3) < 1e-6 and n.onset % 4 else 2.0)
        elif abs(frac - 0.5) < 1e-6:
            out.append(1.0)
        elif abs(frac - 2 / 3) < 1e-6:
            out.append(0.5)
        else:
            out.append(0.0)
    return out


def similarity(a: Sequence[MNote], b: Sequence[MNote]) -> dict[str, float]:
    """How alike two melodies are, 0..1 (1: the same), and its four parts (the module doc says how)."""
    ca, cb = _curve(a), _curve(b)
    if ca.std() == 0 or cb.std() == 0:
        contour = 1.0 if ca.std() == cb.std() else 0.5
    else:
        contour = (1.0 + float(np.corrcoef(ca, cb)[0, 1])) / 2.0
    ia = [min(12, abs(y.pitch - x.pitch)) for x, y in zip(a, a[1:], strict=False)]
    ib = [min(12, abs(y.pitch - x.pitch)) for x, y in zip(b, b[1:], strict=False)]
    intervals = 1.0 - _edit(ia, ib, 4.0)

    def iois(ns):
        ons = [n.onset for n in ns] + [max(n.end for n in ns)]
        d = np.diff(ons)
        d = d[d > 1e-9]
        return list(np.round(2 * np.log2(d / np.median(d))) / 2) if len(d) else []

    rhythm = 0.5 * (1.0 - _edit(iois(a), iois(b), 1.0)) + 0.5 * (1.0 - _edit(metric(a), metric(b), 2.0))

    def pcs(ns):
        h = np.zeros(12)
        for n in ns:
            h[n.pitch % 12] += n.dur
        return h / np.linalg.norm(h)

    pitch = float(pcs(a) @ pcs(b))

    def mean_ioi(ns):
        return (max(n.end for n in ns) - ns[0].onset) / len(ns)

    shift = abs(np.mean([n.pitch for n in a]) - np.mean([n.pitch for n in b])) / 12.0
    frame = float(np.exp(-(shift + abs(np.log2(mean_ioi(a) / mean_ioi(b))))))
    total = (contour + intervals + rhythm + pitch + frame) / 5.0
    return {"total": round(total, 4), "contour": round(contour, 4), "intervals": round(intervals, 4),
            "rhythm": round(rhythm, 4), "pitch_classes": round(pitch, 4), "frame": round(frame, 4)}


# --- making and writing them ------------------------------------------------------------


def prepare_idea(notes: Sequence[MNote], meter: int, path: str = "idea") -> tuple[list[MNote], float]:
    """The idea quantised to 16ths from its first bar line, at most MAX_IDEA_BARS bars;
    and its length in beats (whole bars).

    Raises:
        InputFileError: fewer than MIN_NOTES notes.
    """
    first = math.floor(notes[0].onset / meter) * meter
    q = quantize([MNote(n.onset - first, n.dur, n.pitch, n.vel) for n in notes])
    q = [n for n in q if n.onset < MAX_IDEA_BARS * meter]
    if len(q) < MIN_NOTES:
        raise InputFileError(f"{path}: an idea needs at least {MIN_NOTES} notes, got {len(q)}")
    length = math.ceil(max(n.end for n in q) / meter - 1e-9) * meter
    return _fit(q, length), float(length)


def make_variations(idea: Sequence[MNote], length: float, meter: int, n: int, seed: int = 0,
                    melodist=None) -> list[Variation]:
    """The first ``n`` techniques of TECHNIQUES applied to ``idea`` (quantised, in beats).
    Seeded: the same idea and seed give the same variations. ``melodist``
    (live.melodist.Melodist): the model answers the call in call-and-response; None: a
    rule variation does."""
    if not 1 <= n <= len(TECHNIQUES):
        raise ValueError(f"-n must be 1..{len(TECHNIQUES)}, got {n}")
    key = estimate_key(idea)
    out = []
    for i, (label, style) in enumerate(TECHNIQUES[:n]):
        fn = TRANSFORMS[label]
        if label == "call-and-response":
            notes, what = fn(list(idea), length, key, meter, seed=seed * 7919 + i, melodist=melodist)
        else:
            notes, what = fn(list(idea), length, key, meter)
        notes = [MNote(x.onset, x.dur, int(min(108, max(24, x.pitch))), int(min(127, max(20, x.vel)))) for x in notes]
        m = 3 if label == "waltz" else meter
        beats = math.ceil(max(x.end for x in notes) / m - 1e-9) * m
        scale = (MAJOR if key[1] else DORIAN) if label == "modal" else None
        chords = fit_chords(notes, key, m, beats, sevenths=label in ("modal", "swing"), scale=scale)
        out.append(Variation(label, style, tuple(notes), m, tuple(chords), what))
    return out


def _panel_png(path: Path, idea: Sequence[MNote], variations: list[Variation], scores: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from live.atomicfile import atomic_write

    rows = [("idea", idea, None)] + [(f"{i + 1:02d} {v.label} ({v.style})", v.notes, s["total"])
                                     for i, (v, s) in enumerate(zip(variations, scores, strict=True))]
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 1.25 * len(rows) + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    for k, (ax, (name, notes, score)) in enumerate(zip(axes, rows, strict=True)):
        color = "#d62728" if k == 0 else "#1f77b4"
        for n in notes:
            ax.add_patch(plt.Rectangle((n.onset, n.pitch - 0.4), n.dur, 0.8, color=color,
                                       alpha=0.4 + 0.5 * n.vel / 127))
        ps = [n.pitch for n in notes]
        ax.set_ylim(min(ps) - 2, max(ps) + 2)
        ax.set_ylabel(name + (f"\nsim {score:.2f}" if score is not None else ""), rotation=0, ha="right",
                      va="center", fontsize=8)
        ax.grid(alpha=0.2)
    axes[0].set_xlim(0, max(max(n.end for n in r[1]) for r in rows) + 0.5)
    axes[0].set_title(title)
    axes[-1].set_xlabel("beats")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80, format="png"))
    plt.close(fig)


def outputs(out: Path, stem: str, variations: Sequence[tuple[str, str]]) -> list[Path]:
    files = [out / f"{stem}-variations.png", out / f"{stem}-variations.json"]
    for i, (label, _style) in enumerate(variations, 1):
        files += [out / f"{stem}-var{i:02d}-{label}.mid", out / f"{stem}-var{i:02d}-{label}.wav"]
    return files


def run_vary(idea_path: str, out_dir: str | Path = ".", *, n: int = 10, seed: int = 0, force: bool = False,
             tempo: float | None = None, progress=print) -> dict:
    """Make, score and render ``n`` variations of the idea in ``idea_path``.

    Raises:
        InputFileError: the idea is not a usable MIDI file.
        OutputExistsError: an output exists and ``force`` is False.
        StyleError, DeviceError: as ``sideman render``.
    """
    from live.accompanist import Chord

    t0 = time.perf_counter()
    mel = read_melody(idea_path)
    if not 1 <= n <= len(TECHNIQUES):
        raise ValueError(f"-n must be 1..{len(TECHNIQUES)}, got {n}")
    out = Path(out_dir)
    stem = Path(idea_path).stem
    check_free(outputs(out, stem, TECHNIQUES[:n]), force)
    check_out_dir(out)  # before the work, not after it
    meter = mel.meter
    idea, length = prepare_idea(mel.notes, meter, idea_path)
    bpm = float(tempo or mel.tempo)
    key = estimate_key(idea)
    from kernels import chord_symbol
    from kernels.chords import NOTE_NAMES

    say(progress, f"idea: {len(idea)} notes, {length / meter:.0f} bars of {meter}/4 at {bpm:g} bpm, "
                  f"key {NOTE_NAMES[key[0]]} {'minor' if key[1] else 'major'}")
    melodist = None
    if "call-and-response" in (label for label, _ in TECHNIQUES[:n]):
        from live.melodist import load_melodist

        said: list[str] = []
        melodist = load_melodist(0, seed, messages=said)
        for line in said:
            say(progress, line)
    variations = make_variations(idea, length, meter, n, seed, melodist=melodist)
    scores = [similarity(idea, v.notes) for v in variations]
    table = []
    music = wall = 0.0
    for i, (v, s) in enumerate(zip(variations, scores, strict=True), 1):
        base = out / f"{stem}-var{i:02d}-{v.label}"
        chart = [(b, Chord(r, q)) for b, r, q in v.chords]
        bars = int(math.ceil(max(x.end for x in v.notes) / v.meter - 1e-9))
        r = render_with_band(base, v.notes, chart, style=v.style, tempo=bpm, bars=bars, seed=seed + i, png=False,
                             title=f"{stem}: {v.label}")
        music += r.music_s
        wall += r.wall_s
        syms = [chord_symbol(rt, q, -1) for _, rt, q in v.chords]
        table.append({"file": f"{base.name}.mid", "wav": f"{base.name}.wav", "label": v.label, "style": v.style,
                      "what": v.what, "meter": v.meter, "bars": bars, "notes": len(v.notes),
                      "similarity": s, "chords": [{"onset_beats": b, "symbol": sym}
                                                  for (b, _, _), sym in zip(v.chords, syms, strict=True)]})
        say(progress, f"[{i}/{n}] {v.label:<17} {v.style:<10} sim {s['total']:.2f}  {v.what}  "
                      f"({r.music_s:.1f} s of music in {r.wall_s:.1f} s, {r.ratio:.1f}x real time)")
    pair = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            pair[i, j] = pair[j, i] = similarity(variations[i].notes, variations[j].notes)["total"]
    png = out / f"{stem}-variations.png"
    _panel_png(png, idea, variations, scores, f"{stem}: the idea and {n} variations")
    doc = {"idea": str(idea_path), "tempo": bpm, "meter": meter, "key": [key[0], key[1]], "seed": seed,
           "measure": "mean of contour (1+r)/2, |interval| edit similarity, rhythm (IOI-ratio edit + metrical-weight "
                      "edit), pitch-class cosine; 1 = the same melody",
           "variations": table, "pairwise": np.round(pair, 4).tolist(),
           "render": {"music_s": round(music, 2), "wall_s": round(wall, 2), "ratio": round(music / max(wall, 1e-9), 2)}}
    js = out / f"{stem}-variations.json"
    from live.atomicfile import atomic_write

    atomic_write(js, lambda tmp: tmp.write_text(json.dumps(doc, indent=1)))
    off = pair[~np.eye(n, dtype=bool)]
    totals = [s["total"] for s in scores]
    say(progress, f"similarity to the idea {min(totals):.2f}..{max(totals):.2f}, "
                  f"between variations {off.min() if n > 1 else 1:.2f}..{off.max() if n > 1 else 1:.2f}")
    say(progress, f"rendered {music:.1f} s of music in {wall:.1f} s ({music / max(wall, 1e-9):.1f}x real time); "
                  f"wrote {png} and {js} ({time.perf_counter() - t0:.1f} s in all)")
    return doc


def cmd_vary(args) -> int:
    run_vary(args.idea, args.out, n=args.n, seed=args.seed, force=args.force, tempo=args.tempo,
             progress=lambda m: print(m, flush=True))
    return 0


def register(sub) -> None:
    from live.cli import _bpm

    p = sub.add_parser("vary", help="variations of a melodic idea, each in its own style, with similarity scores",
                       description="Variations of a melodic idea (a MIDI file, at most 8 bars used): displaced, "
                       "modal, ornamented, sequenced, inverted, augmented, swing, waltz, call-and-response, "
                       "octave (then retrograde, diminished), each played by the band in a style of its own. "
                       "Writes <stem>-varNN-<label>.mid/.wav, <stem>-variations.png and .json.")
    p.add_argument("idea", help="a MIDI file with the idea (its top line is used)")
    p.add_argument("-n", type=int, default=10, choices=range(1, len(TECHNIQUES) + 1), metavar=f"1..{len(TECHNIQUES)}",
                   help="how many variations (default 10)")
    p.add_argument("--out", default=".", help="folder for the outputs (default: here)")
    p.add_argument("--tempo", type=_bpm, help="beats per minute (default: the idea's)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--force", action="store_true", help="overwrite earlier outputs")
    p.set_defaults(func=cmd_vary)
