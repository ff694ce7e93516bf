"""Training data: corpora -> one ``.npz`` of eighth-note step arrays, with per-piece metadata.

Representation (the model trainer depends on exactly this)
-----------------------------------------------------------
A step is one eighth note of the notated meter; ``steps_per_bar = numerator * 8 / denominator``
(4/4 -> 8, 3/4 -> 6, 6/8 -> 6, 2/4 -> 4). Pieces with a meter change, a non-integer
``steps_per_bar`` or one above 16 are skipped. Per step ``t`` of a piece (int arrays, length T):

- ``mel``: pitch class 0..11 of the melody note sounding at the start of the step (else the note
  starting inside the step that lasts longest within it); -1 = rest.
- ``mel_on``: 1 if a melody note begins inside the step, else 0.
- ``mel_pitch``: MIDI number of the note in ``mel``, or -1.
- ``chord``: chord class at the start of the step, ``root * 13 + quality`` (quality indexes
  ``kernels.chords.QUALITIES``), or 156 = no chord. Slash chords map to their root-position
  chord (the bass goes in ``bass``); other chord types map to the nearest of the 13 qualities
  (9/11/13 -> 7, maj7 or min7 by their 3rd and 7th; 7sus4 -> sus4; add9 and power chords ->
  maj/min; min-maj7 -> min; aug7 -> aug).
- ``bass``: pitch class of the lowest accompaniment note sounding at the start of the step; the
  chord's slash bass (or root) where a source has no accompaniment; -1 if none.
- ``pos``: step index within the bar, 0..steps_per_bar-1, offset for pickup bars.

Per piece: ``source``, ``piece_id`` (stable: "pop909/001", "nottingham/jigs.abc#12",
"bach/bwv269"), ``steps_per_bar``, ``key_tonic`` (pc or -1), ``key_mode`` (0 major, 1 minor,
-1 unknown/other mode), ``has_chords`` (False where a piece serves melody continuation only) and
``split``.

Split: fixed by piece, never by step: ``h = int(md5(piece_id.encode()).hexdigest(), 16) % 20``;
h 0..15 -> "train", 16..17 -> "val", 18..19 -> "test". Adding or dropping other pieces never
moves a piece to another split.

Sources
-------
- ``pop909``: ``NNN/NNN.mid`` (MELODY, PIANO tracks, tempo map), ``chord_midi.txt`` (Harte
  labels), ``beat_midi.txt``, ``key_audio.txt``. The rows of ``beat_midi.txt`` fall one MIDI
  *quarter* note apart (their spacing equals the tempo map's quarter to the microsecond, and the
  melodies move in sixteenths of that grid), not one eighth as its README says; so each row gives
  two steps (the row's time and the midpoint to the next row), T = 2 * rows. Bars start at the
  rows flagged as downbeats (column 3); ``steps_per_bar`` is twice the most common downbeat
  spacing, and ``pos`` counts from the last downbeat (mod ``steps_per_bar``: the rare bar of
  irregular length in the annotations wraps or resets early). Key: the ``key_audio.txt`` key
  that covers the most time.
- ``nottingham``: ABC tunes, parsed tune by tune with music21 for rhythm, meter, keys and
  pickups. music21 misreads or drops some of the corpus's chord spellings ("D/f+" becomes an
  augmented chord over F, "Gd" is dropped), so every quoted chord is swapped for a placeholder
  before parsing and its text read by :func:`lead_sheet_chord`. Repeats are not expanded (the
  notated order, first and second endings in sequence) unless ``as_played`` asks for the tune
  as a musician plays it (music21's ``expandRepeats``). No accompaniment: bass = chord bass.
- ``bach``: music21's bundled chorales (``corpus.chorales.Iterator``; ids like "bach/bwv269").
  Melody = the soprano part; chord = ``chord_recognize`` on the pitch classes sounding in all
  parts at the step start (the chordify slice there), bass = the lowest sounding note.
  Key = music21's key analysis.
- ``essen``, ``oneills``, ``ryans``: music21's bundled ABC folk-tune corpora (the Essen
  folksong collection, O'Neill's Music of Ireland 1850, Ryan's Mammoth Collection), tune by
  tune; ids like "essen/altdeu10.abc#12". Melody only (``has_chords`` False): their quoted
  texts are annotations ("Slow", "collected by ..."), not chords, and are dropped; tunes with
  no meter ("M: none") are skipped. They teach the model's melody continuation (the note that
  comes next), which the live decoder uses to choose chords.
- ``leadsheets``: music21's bundled lead sheets (two MusicXML songs with chord symbols:
  Berlin's "Alexander's Ragtime Band", Foster's "Jeanie with the Light Brown Hair"); melody
  and chords from the sheet, key by music21's analysis. They stand for no style of the
  shipped model's (the "other" token) and are too few to train one; the source is there so
  a pipeline run can read every bundled corpus with chords.
- ``folder:/path``: see :func:`load_folder`.

Thread: offline only (the training command); nothing here is called on a live thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kernels.chords import N_QUALITIES, QUALITIES, chord_recognize
from live.errors import InputFileError
from live.train import CHORALE_CHORDS, CHORALE_CHORDS_HELP

FORMAT_VERSION = 1
N_CHORD = 12 * N_QUALITIES  # 156: "no chord"
STEP_KEYS = ("mel", "mel_on", "mel_pitch", "chord", "bass", "pos")
_STEP_DTYPES = {"mel": np.int8, "mel_on": np.int8, "mel_pitch": np.int8, "chord": np.int16,
                "bass": np.int8, "pos": np.int8}
SPLITS = ("train", "val", "test")
SOURCES = ("pop909", "nottingham", "bach", "essen", "oneills", "ryans", "leadsheets")
#: music21's bundled folk-tune corpora (ABC, melody only), by source name.
M21_FOLK = {"essen": "essenFolksong", "oneills": "oneills1850", "ryans": "ryansMammoth"}
MAX_STEPS_PER_BAR = 16
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data"
# A note within this fraction of a step after a step's start counts as sounding at the start
# (MIDI files carry a few ticks of slop; music21 offsets are exact).
ONSET_TOL = 0.1

_Q = {name: i for i, name in enumerate(QUALITIES)}
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


# ---------------------------------------------------------------------------------------------
# Pieces and splits


def split_of(piece_id: str) -> str:
    """"train" | "val" | "test" for a piece id: md5 of the id, mod 20 (0..15, 16..17, 18..19)."""
    h = int(hashlib.md5(piece_id.encode("utf-8")).hexdigest(), 16) % 20
    return "train" if h < 16 else "val" if h < 18 else "test"


@dataclass
class Piece:
    """One piece: its step arrays (``STEP_KEYS``, each length T) and metadata."""

    source: str
    piece_id: str
    steps_per_bar: int
    key_tonic: int
    key_mode: int
    has_chords: bool
    steps: dict[str, np.ndarray] = field(repr=False)

    @property
    def split(self) -> str:
        return split_of(self.piece_id)

    def __len__(self) -> int:
        return len(self.steps["mel"])

    def __getattr__(self, name: str) -> np.ndarray:
        # mel, chord, ... as attributes; only reached when normal lookup fails
        steps = self.__dict__.get("steps")
        if steps is not None and name in steps:
            return steps[name]
        raise AttributeError(name)


class _Skip(Exception):
    """A piece that is readable but outside the representation (reason in args[0])."""


# ---------------------------------------------------------------------------------------------
# Chord labels -> classes


def _pc(letter: str, accidentals: str = "") -> int:
    pc = _LETTER_PC[letter.upper()]
    for c in accidentals:
        pc += 1 if c in "#+♯" else -1 if c in "b-♭" else 0
    return pc % 12


# Suffix spellings (lead-sheet, Harte shorthand, Nottingham's "d"/"a") -> nearest quality.
_SUFFIX = {
    "": "maj", "maj": "maj", "M": "maj", "major": "maj", "5": "maj", "add9": "maj", "add2": "maj",
    "m": "min", "min": "min", "mi": "min", "-": "min", "minor": "min", "madd9": "min",
    "minmaj7": "min", "mmaj7": "min", "mM7": "min", "m(maj7)": "min", "min(maj7)": "min",
    "dim": "dim", "o": "dim", "°": "dim", "d": "dim",
    "aug": "aug", "+": "aug", "a": "aug", "aug7": "aug", "a7": "aug", "+7": "aug", "7#5": "aug",
    "7+5": "aug",
    "sus2": "sus2", "sus4": "sus4", "sus": "sus4", "7sus4": "sus4", "7sus": "sus4", "9sus4": "sus4",
    "7": "7", "dom7": "7", "9": "7", "11": "7", "13": "7", "7b9": "7", "7#9": "7", "7b5": "7",
    "maj7": "maj7", "M7": "maj7", "ma7": "maj7", "Δ": "maj7", "Δ7": "maj7", "^7": "maj7",
    "maj9": "maj7", "M9": "maj7", "maj11": "maj7", "maj13": "maj7",
    "m7": "min7", "min7": "min7", "mi7": "min7", "-7": "min7", "m9": "min7", "min9": "min7",
    "m11": "min7", "min11": "min7", "m13": "min7", "min13": "min7",
    "m7b5": "m7b5", "min7b5": "m7b5", "-7b5": "m7b5", "ø": "m7b5", "ø7": "m7b5", "hdim7": "m7b5",
    "hdim": "m7b5",
    "dim7": "dim7", "o7": "dim7", "°7": "dim7", "d7": "dim7",
    "6": "6", "maj6": "6", "M6": "6", "69": "6", "6/9": "6",
    "m6": "min6", "min6": "min6", "-6": "min6",
}


def quality_of(suffix: str) -> int | None:
    """Quality index (into QUALITIES) for a chord suffix, mapping extended chords to the nearest
    of the 13; Harte interval lists in parentheses are read only where they change the 3rd or 7th
    ("maj(b3)" would not occur; "min(9)" -> min, "7(#9)" -> 7, "(1,5)" -> maj). None if unknown."""
    s = suffix.strip()
    if s in _SUFFIX:
        return _Q[_SUFFIX[s]]
    base, _, rest = s.partition("(")
    if rest and base in _SUFFIX:
        return _Q[_SUFFIX[base]]
    if base == "" and rest:  # bare Harte interval list
        ivs = rest.rstrip(")").split(",")
        return _Q["min"] if "b3" in ivs else _Q["maj"]
    return None


_HARTE_RE = re.compile(r"([A-G])([#b]*)(?::([^/]*))?(?:/([#b]*)(\d+))?$")
_DEGREE = {1: 0, 2: 2, 3: 4, 4: 5, 5: 7, 6: 9, 7: 11, 9: 2, 11: 5, 13: 9}


def harte_chord(label: str) -> tuple[int, int]:
    """(chord class, bass pc) for a Harte label ("Bb:maj/3", "C:sus4(b7)", "N", "X" -> (156, -1)).

    Raises: ValueError naming the label if it is not understood.
    """
    s = label.strip()
    if s in ("N", "X", ""):
        return N_CHORD, -1
    m = _HARTE_RE.match(s)
    q = quality_of(m.group(3) or "") if m else None
    if m is None or q is None or (m.group(5) and int(m.group(5)) not in _DEGREE):
        raise ValueError(f"unknown Harte chord label {label!r}: expected root[:quality][/degree],"
                         " e.g. C:min7, Bb:maj/3")
    root = _pc(m.group(1), m.group(2))
    bass = root
    if m.group(5):
        bass = (root + _DEGREE[int(m.group(5))] + sum(1 if c == "#" else -1 for c in m.group(4))) % 12
    return root * N_QUALITIES + q, bass


_LEAD_RE = re.compile(r"([A-G])([#b♯♭]?)([^/]*)(?:/([A-Ga-g])([#b+\-♯♭]?))?$")


def lead_sheet_chord(text: str) -> tuple[int, int] | None:
    """(chord class, bass pc) for a lead-sheet chord as written in ABC ("A7", "Gm/bb" = Gm over
    Bb, "D/f+" = D over F#, "Gd" = G dim, "Ea" = E aug, "(E7)" optional chord, "D m"); None for
    text that is not a chord (annotations, blanks). Bass = slash bass, else the root."""
    s = text.strip().replace(" ", "")
    if s.startswith("(") and s.endswith(")"):
        s = s[1:-1]
    if s in ("N", "NC", "N.C."):
        return N_CHORD, -1
    m = _LEAD_RE.match(s)
    if m is None:
        return None
    q = quality_of(m.group(3))
    if q is None:
        return None
    root = _pc(m.group(1), m.group(2))
    bass = _pc(m.group(4), m.group(5)) if m.group(4) else root
    return root * N_QUALITIES + q, bass


# music21 ChordSymbol.chordKind -> quality (for MusicXML harmony in user folders)
_KIND = {
    "major": "maj", "minor": "min", "diminished": "dim", "augmented": "aug",
    "suspended-second": "sus2", "suspended-fourth": "sus4", "dominant-seventh": "7",
    "dominant": "7", "major-seventh": "maj7", "minor-seventh": "min7", "half-diminished": "m7b5",
    "diminished-seventh": "dim7", "major-sixth": "6", "minor-sixth": "min6",
    "dominant-ninth": "7", "dominant-11th": "7", "dominant-13th": "7", "major-ninth": "maj7",
    "major-11th": "maj7", "major-13th": "maj7", "minor-ninth": "min7", "minor-11th": "min7",
    "minor-13th": "min7", "minor-major-seventh": "min", "augmented-seventh": "aug",
    "augmented-ninth": "aug", "power": "maj", "suspended-fourth-seventh": "sus4",
    "seventh-flat-five": "7", "Neapolitan": "maj", "Italian": "7", "French": "7", "German": "7",
    "pedal": "maj",
}


# ---------------------------------------------------------------------------------------------
# Notes -> step arrays


def _melody_steps(on: np.ndarray, off: np.ndarray, pitch: np.ndarray, T: int):
    """mel, mel_on, mel_pitch from note onsets/offsets in (fractional) steps."""
    mel_pitch = np.full(T, -1, np.int64)
    mel_on = np.zeros(T, np.int64)
    inside = np.full(T, -1.0)  # longest duration within the step of notes starting inside it
    inside_p = np.full(T, -1, np.int64)
    for a, b, p in zip(on, off, pitch, strict=True):
        if b <= a:
            continue
        s0 = max(int(np.ceil(a - ONSET_TOL)), 0)  # first step whose start the note covers
        s1 = min(int(np.ceil(b - ONSET_TOL)), T)
        if s1 > s0:
            seg = mel_pitch[s0:s1]
            np.maximum(seg, p, out=seg)  # overlapping notes: the highest is the melody
        k = int(np.floor(a + ONSET_TOL))
        if 0 <= k < T:
            mel_on[k] = 1
            d = min(b, k + 1) - a
            if d > inside[k] or (d == inside[k] and p > inside_p[k]):
                inside[k], inside_p[k] = d, p
    fill = (mel_pitch < 0) & (inside_p >= 0)
    mel_pitch[fill] = inside_p[fill]
    mel = np.where(mel_pitch >= 0, mel_pitch % 12, -1)
    return mel, mel_on, mel_pitch


def _sounding(on: np.ndarray, off: np.ndarray, pitch: np.ndarray, T: int):
    """Per step start: pitch-class presence (T, 12) and the lowest MIDI pitch (-1 if none)."""
    pcs = np.zeros((T, 12))
    low = np.full(T, 999, np.int64)
    for a, b, p in zip(on, off, pitch, strict=True):
        s0 = max(int(np.ceil(a - ONSET_TOL)), 0)
        s1 = min(int(np.ceil(b - ONSET_TOL)), T)
        if s1 > s0:
            pcs[s0:s1, p % 12] = 1.0
            seg = low[s0:s1]
            np.minimum(seg, p, out=seg)
    low[low == 999] = -1
    return pcs, low


def _recognize(pcs: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Chord class per step by kernels.chords.chord_recognize (weight 1 per sounding pc)."""
    out = np.full(len(low), N_CHORD, np.int64)
    for t in range(len(low)):
        if low[t] < 0:
            continue
        r, q, _ = chord_recognize(pcs[t], int(low[t] % 12))
        if r >= 0:
            out[t] = r * N_QUALITIES + q
    return out


def _chord_events(starts: np.ndarray, classes: np.ndarray, basses: np.ndarray, T: int,
                  ends: np.ndarray | None = None):
    """chord and chord-bass per step from chord events starting at (fractional) steps; each event
    lasts until the next (or its end, where given)."""
    chord = np.full(T, N_CHORD, np.int64)
    bass = np.full(T, -1, np.int64)
    if len(starts) == 0:
        return chord, bass
    order = np.argsort(starts, kind="stable")
    starts, classes, basses = starts[order], classes[order], basses[order]
    t = np.arange(T) + ONSET_TOL
    k = np.searchsorted(starts, t, side="right") - 1
    ok = k >= 0
    if ends is not None:
        ok &= t < ends[order][np.maximum(k, 0)]
    chord[ok] = classes[k[ok]]
    bass[ok] = basses[k[ok]]
    return chord, bass


def _piece(source, piece_id, spb, key_tonic, key_mode, has_chords, mel_notes, chord, bass, pos):
    T = len(pos)
    mel, mel_on, mel_pitch = _melody_steps(*mel_notes, T)
    steps = {"mel": mel, "mel_on": mel_on, "mel_pitch": mel_pitch, "chord": chord, "bass": bass,
             "pos": pos}
    steps = {k: np.asarray(v).astype(_STEP_DTYPES[k]) for k, v in steps.items()}
    return Piece(source, piece_id, int(spb), int(key_tonic), int(key_mode), bool(has_chords), steps)


def _steps_per_bar(num: int, den: int) -> int:
    spb = num * 8 / den
    if spb != int(spb) or not 1 <= spb <= MAX_STEPS_PER_BAR:
        raise _Skip(f"steps_per_bar not an integer 1..{MAX_STEPS_PER_BAR}")
    return int(spb)


# ---------------------------------------------------------------------------------------------
# MIDI (mido)


def _midi_notes(mf) -> list[dict]:
    """Notes per (track, channel) voice: dicts with name, channel, on/off ticks, pitch."""
    voices: dict[tuple[int, int], dict] = {}
    for ti, track in enumerate(mf.tracks):
        name = track.name or ""
        tick = 0
        open_: dict[tuple[int, int], list[int]] = {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                open_.setdefault((msg.channel, msg.note), []).append(tick)
            elif msg.type in ("note_off", "note_on"):
                starts = open_.get((msg.channel, msg.note))
                if starts:
                    v = voices.setdefault((ti, msg.channel), {"name": name, "channel": msg.channel,
                                                              "on": [], "off": [], "pitch": []})
                    v["on"].append(starts.pop(0))
                    v["off"].append(tick)
                    v["pitch"].append(msg.note)
    out = []
    for v in voices.values():
        order = np.argsort(v["on"], kind="stable")
        out.append({"name": v["name"], "channel": v["channel"],
                    **{k: np.asarray(v[k], np.int64)[order] for k in ("on", "off", "pitch")}})
    return out


def _tick_to_sec(mf):
    """A function ticks (array) -> seconds through the file's tempo map (all tracks)."""
    tempos = []
    for track in mf.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
    tempos.sort()
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, 500000))
    ticks = np.array([t for t, _ in tempos], np.float64)
    spt = np.array([u for _, u in tempos], np.float64) / 1e6 / mf.ticks_per_beat
    secs = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * spt[:-1])])

    def conv(x):
        x = np.asarray(x, np.float64)
        k = np.searchsorted(ticks, x, side="right") - 1
        return secs[k] + (x - ticks[k]) * spt[k]
    return conv


# ---------------------------------------------------------------------------------------------
# pop909


def _pop909_ids(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / f"{p.name}.mid").exists())


def _read_pop909(root: Path, song: str) -> Piece:
    import mido
    d = root / song
    beats = np.loadtxt(d / "beat_midi.txt", ndmin=2)
    if len(beats) < 2:
        raise _Skip("beat_midi.txt has fewer than 2 rows")
    rows = beats[:, 0]
    downs = np.flatnonzero(beats[:, 2] == 1)
    if len(downs) < 2:
        raise _Skip("fewer than 2 downbeats in beat_midi.txt")
    spb = 2 * Counter(np.diff(downs).tolist()).most_common(1)[0][0]
    if spb > MAX_STEPS_PER_BAR:
        raise _Skip(f"steps_per_bar not an integer 1..{MAX_STEPS_PER_BAR}")
    # Each row is a MIDI quarter (see module docstring): steps at rows and midpoints.
    T = 2 * len(rows)
    times = np.empty(T)
    times[0::2] = rows
    times[1:-1:2] = (rows[:-1] + rows[1:]) / 2
    times[-1] = rows[-1] + (rows[-1] - rows[-2]) / 2
    idx = np.arange(T, dtype=np.float64)

    def sec_to_step(s):
        s = np.asarray(s, np.float64)
        out = np.interp(s, times, idx)
        lo, hi = s < times[0], s > times[-1]
        out[lo] = (s[lo] - times[0]) / (times[1] - times[0])
        out[hi] = T - 1 + (s[hi] - times[-1]) / (times[-1] - times[-2])
        return out

    mf = mido.MidiFile(d / f"{song}.mid")
    conv = _tick_to_sec(mf)
    voices = {v["name"].strip().upper(): v for v in _midi_notes(mf)}
    if "MELODY" not in voices:
        raise _Skip("no MELODY track")
    mv = voices["MELODY"]
    mel_notes = (sec_to_step(conv(mv["on"])), sec_to_step(conv(mv["off"])), mv["pitch"])

    labels = []
    with open(d / "chord_midi.txt") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                labels.append((float(parts[0]), float(parts[1]), parts[2]))
    cls, cb = zip(*(harte_chord(lab) for _, _, lab in labels), strict=True) if labels else ((), ())
    chord, chord_bass = _chord_events(sec_to_step([a for a, _, _ in labels]), np.asarray(cls, np.int64),
                                      np.asarray(cb, np.int64), T, ends=sec_to_step([b for _, b, _ in labels]))
    bass = chord_bass
    if "PIANO" in voices:
        pv = voices["PIANO"]
        _, low = _sounding(sec_to_step(conv(pv["on"])), sec_to_step(conv(pv["off"])), pv["pitch"], T)
        bass = np.where(low >= 0, low % 12, chord_bass)

    t = np.arange(T)
    ref = 2 * downs[np.maximum(np.searchsorted(2 * downs, t, side="right") - 1, 0)]
    pos = (t - ref) % spb

    tonic, mode = -1, -1
    kp = d / "key_audio.txt"
    if kp.exists():
        best = -1.0
        for line in kp.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and float(parts[1]) - float(parts[0]) > best:
                m = re.match(r"([A-G])([#b]*):(maj|min)", parts[2])
                if m:
                    best = float(parts[1]) - float(parts[0])
                    tonic, mode = _pc(m.group(1), m.group(2)), int(m.group(3) == "min")
    return _piece("pop909", f"pop909/{song}", spb, tonic, mode, True, mel_notes, chord, bass, pos)


# ---------------------------------------------------------------------------------------------
# music21 (ABC, MusicXML, corpora)

_MELODY_NAME = re.compile(r"melod|lead|vocal|voice|soprano|sopran|tune", re.I)


def _m21_notes(part) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(on, off, pitch) in steps (eighths) for a music21 part; ties merged, grace notes dropped."""
    from music21 import harmony
    on, off, pitch = [], [], []
    for n in part.stripTies().flatten().notes:
        if isinstance(n, harmony.ChordSymbol) or n.duration.quarterLength <= 0:
            continue
        ql = float(n.offset)
        for p in n.pitches:
            on.append(ql * 2)
            off.append((ql + float(n.duration.quarterLength)) * 2)
            pitch.append(int(round(p.ps)))
    return np.asarray(on), np.asarray(off), np.asarray(pitch, np.int64)


def _m21_meter(score) -> tuple[int, int]:
    from music21 import meter
    tss = {(ts.numerator, ts.denominator) for ts in score.recurse().getElementsByClass(meter.TimeSignature)}
    if len(tss) > 1:
        raise _Skip("meter change")
    return tss.pop() if tss else (4, 4)


def _m21_pos(part, T: int, spb: int) -> np.ndarray:
    """pos per step from the part's measures; a short first measure is a pickup."""
    from music21 import stream
    ms = list(part.getElementsByClass(stream.Measure))
    t = np.arange(T)
    if not ms:
        return t % spb
    offs = np.array([float(m.offset) * 2 for m in ms])
    pad = np.array([float(m.paddingLeft or 0.0) * 2 for m in ms])
    first_len = float(ms[0].duration.quarterLength) * 2
    if pad[0] == 0 and 0 < first_len < spb and len(ms) > 1:
        pad[0] = spb - first_len
    k = np.maximum(np.searchsorted(offs, t + 1e-6, side="right") - 1, 0)
    return np.round(t - offs[k] + pad[k]).astype(np.int64) % spb


def _m21_key(score, analyze: bool) -> tuple[int, int]:
    from music21 import key
    for k in score.recurse().getElementsByClass(key.Key):
        return k.tonic.pitchClass, {"major": 0, "minor": 1}.get(k.mode, -1)
    if analyze:
        try:
            k = score.analyze("key")
            return k.tonic.pitchClass, {"major": 0, "minor": 1}.get(k.mode, -1)
        except Exception:  # noqa: BLE001 - key analysis is optional metadata
            return -1, -1
    return -1, -1


def _m21_piece(score, source: str, piece_id: str, chord_texts: list[str] | None = None,
               analyze_key: bool = False, stats: Counter | None = None, all_voices: bool | None = None) -> Piece:
    """A music21 score -> Piece. chord_texts: the original texts of the score's ChordSymbols in
    order (ABC placeholders). Chords from symbols where present, else recognized from the
    non-melody parts, or from all parts with ``all_voices`` (default: for a chorale, a single
    melody line plus harmony)."""
    from music21 import harmony
    num, den = _m21_meter(score)
    spb = _steps_per_bar(num, den)
    parts = list(score.parts) or [score]
    mel_part = next((p for p in parts if _MELODY_NAME.search(p.partName or "")), parts[0])
    mel_notes = _m21_notes(mel_part)
    others = [p for p in parts if p is not mel_part]
    other_notes = [_m21_notes(p) for p in others]
    ends = [n[1].max() for n in [mel_notes, *other_notes] if len(n[1])]
    if not ends or len(mel_notes[0]) == 0:
        raise _Skip("no melody notes")
    T = int(np.ceil(max(ends) - 1e-9))
    pos = _m21_pos(mel_part, T, spb)
    tonic, mode = _m21_key(score, analyze_key)

    symbols = list(score.recurse().getElementsByClass(harmony.ChordSymbol))
    if symbols:
        starts, cls, cb = [], [], []
        if all(hasattr(cs, _RESOLVED) for cs in symbols):  # read before repeats were expanded
            chords = [getattr(cs, _RESOLVED) for cs in symbols]
        elif chord_texts is not None:
            chords = _resolve_chord_texts(symbols, chord_texts, stats)
        else:
            chords = [_chord_symbol_class(cs) for cs in symbols]
        for cs, got in zip(symbols, chords, strict=True):
            if got is None:
                continue
            starts.append(float(cs.getOffsetInHierarchy(score)) * 2)
            cls.append(got[0])
            cb.append(got[1])
        chord, bass = _chord_events(np.asarray(starts), np.asarray(cls, np.int64), np.asarray(cb, np.int64), T)
        if others:
            pcs, low = _sounding(*map(np.concatenate, zip(*other_notes, strict=True)), T)
            bass = np.where(low >= 0, low % 12, bass)
        has_chords = bool(starts)
    elif others:
        # A chorale's harmony is all its voices (unless asked for the voices under the tune);
        # a user's file: the accompaniment, not the tune.
        if all_voices is None:
            all_voices = source == "bach"
        voices = [mel_notes, *other_notes] if all_voices else other_notes
        pcs, low = _sounding(*map(np.concatenate, zip(*voices, strict=True)), T)
        chord = _recognize(pcs, low)
        bass = np.where(low >= 0, low % 12, -1)
        has_chords = True
    else:
        chord = np.full(T, N_CHORD)
        bass = np.full(T, -1)
        has_chords = False
    return _piece(source, piece_id, spb, tonic, mode, has_chords, mel_notes, chord, bass, pos)


def _chord_symbol_class(cs) -> tuple[int, int] | None:
    try:
        q = _KIND.get(cs.chordKind)
        root = cs.root().pitchClass
        bass = cs.bass().pitchClass if cs.bass() is not None else root
    except Exception:  # noqa: BLE001 - music21 raises assorted errors for odd symbols
        return None
    if q is None:
        return None
    return root * N_QUALITIES + _Q[q], bass


_ABC_HEADER = re.compile(r"^[A-Za-z]:")
# Stand-ins for the chord texts of an ABC tune, cycled in order: music21 reads them all, and a
# symbol music21 drops (it loses a few, e.g. after "::") shows as a skipped stand-in.
_PLACEHOLDERS = [r + q for q in ("", "m", "7", "m7", "maj7", "dim", "aug") for r in "CDEFGAB"]


def _abc_tunes(text: str) -> list[tuple[str, str]]:
    """(X number, tune text) for each tune of an ABC file (tunes start at "X:")."""
    chunks = re.split(r"\n(?=X:)", "\n" + text)
    out = []
    for c in chunks:
        m = re.match(r"X:\s*(\S+)", c)
        if m:
            out.append((m.group(1), c.strip("\n") + "\n"))
    return out


#: attribute a ChordSymbol carries with its chord (class, bass) once its text is read, so
#: the copies ``expandRepeats`` makes keep it
_RESOLVED = "sideman_chord"


def _resolve_chord_texts(symbols: list, chord_texts: list[str], stats: Counter | None) -> list:
    """(class, bass) or None for each ChordSymbol, from the texts its placeholder stands for."""
    out = []
    j = 0  # next unread chord text
    for cs in symbols:
        while j < len(chord_texts) and _PLACEHOLDERS[j % len(_PLACEHOLDERS)] != cs.figure:
            j += 1  # dropped by music21
            if stats is not None:
                stats["(chord symbols lost by music21)"] += 1
        if j == len(chord_texts):
            raise _Skip("chord symbols out of order in music21")
        text = chord_texts[j]
        j += 1
        got = lead_sheet_chord(text)
        if got is None and stats is not None and text.strip():
            stats[f"(chord text not a chord: {text.strip()!r})"] += 1
        out.append(got)
    return out


def _as_played(score, chord_texts: list[str], stats: Counter):
    """The tune as a musician plays it: repeats and first/second endings expanded
    (music21's ``expandRepeats``), each chord symbol read before it is copied. A tune whose
    repeat marks music21 cannot expand is kept as written (counted in ``stats``)."""
    from music21 import harmony

    symbols = list(score.recurse().getElementsByClass(harmony.ChordSymbol))
    for cs, got in zip(symbols, _resolve_chord_texts(symbols, chord_texts, stats), strict=True):
        setattr(cs, _RESOLVED, got)
    try:
        played = score.expandRepeats()
    except Exception:  # noqa: BLE001 - music21 raises assorted errors for odd repeat marks
        stats["(repeats left as written: music21 could not expand them)"] += 1
        return score
    if all(hasattr(cs, _RESOLVED) for cs in played.recurse().getElementsByClass(harmony.ChordSymbol)):
        return played
    stats["(repeats left as written: chord symbols lost in the expansion)"] += 1
    return score


def _parse_abc_tune(tune: str):
    """music21 score of one ABC tune, with chords swapped for placeholders; (score, chord texts)."""
    from music21 import converter
    texts: list[str] = []

    def sub(m):
        # Adjacent symbols on one note ("Em""C", " ""G") collapse into one: music21 keeps one.
        group = re.findall(r'"([^"]*)"', m.group(0))
        texts.append(next((g for g in group if lead_sheet_chord(g) is not None), group[0]))
        return f'"{_PLACEHOLDERS[(len(texts) - 1) % len(_PLACEHOLDERS)]}"'
    lines = [ln if _ABC_HEADER.match(ln) or ln.startswith("%") else re.sub(r'"[^"]*"(?:\s*"[^"]*")*', sub, ln)
             for ln in tune.splitlines()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parse("\n".join(lines) + "\n", format="abc")
    return score, texts


# ---------------------------------------------------------------------------------------------
# Sources


@dataclass
class _Item:
    piece_id: str
    load: Callable[[], Piece]
    path: str = ""  # the file, for warnings


def _items_pop909(data_root: Path) -> list[_Item]:
    root = data_root / "pop909"
    if not root.is_dir():
        raise InputFileError(f"{root}: pop909 folder not found (data_root={data_root})")
    return [_Item(f"pop909/{s}", lambda s=s: _read_pop909(root, s)) for s in _pop909_ids(root)]


def _abc_items(files: list[Path], source: str, id_prefix: str, stats: Counter,
               as_played: bool = False) -> list[_Item]:
    items = []
    for f in files:
        seen: Counter = Counter()
        tunes = _abc_tunes(f.read_text(encoding="utf-8", errors="replace"))
        if not tunes:
            warnings.warn(f"{f}: skipped, no ABC tune in it (no X: line)", stacklevel=2)
            stats["unreadable"] += 1
        for x, tune in tunes:
            seen[x] += 1
            pid = f"{id_prefix}{f.name}#{x}" + (f"-{seen[x]}" if seen[x] > 1 else "")

            def load(tune=tune, pid=pid):
                score, texts = _parse_abc_tune(tune)
                if as_played:
                    score = _as_played(score, texts, stats)
                return _m21_piece(score, source, pid, chord_texts=texts, stats=stats)
            items.append(_Item(pid, load, str(f)))
    return items


def _items_nottingham(data_root: Path, stats: Counter, as_played: bool = False) -> list[_Item]:
    root = data_root / "nottingham"
    files = sorted(root.glob("*.abc"))
    if not files:
        raise InputFileError(f"{root}: no .abc files found (data_root={data_root})")
    return _abc_items(files, "nottingham", "nottingham/", stats, as_played)


def _items_m21_folk(source: str, stats: Counter) -> list[_Item]:
    import music21

    root = Path(music21.__path__[0]) / "corpus" / M21_FOLK[source]
    files = sorted(f for f in root.rglob("*.abc") if f.is_file())
    if not files:
        raise InputFileError(f"{root}: no .abc files in music21's corpus for source {source!r}")
    items = []
    for f in files:
        seen: Counter = Counter()
        for x, tune in _abc_tunes(f.read_text(encoding="utf-8", errors="replace")):
            seen[x] += 1
            pid = f"{source}/{f.name}#{x}" + (f"-{seen[x]}" if seen[x] > 1 else "")

            def load(tune=tune, pid=pid):
                if re.search(r"^M:\s*none", tune, re.M | re.I):
                    raise _Skip("no meter")
                lines = [ln if _ABC_HEADER.match(ln) or ln.startswith("%") else re.sub(r'"[^"]*"', "", ln)
                         for ln in tune.splitlines()]
                from music21 import converter
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    score = converter.parse("\n".join(lines) + "\n", format="abc")
                return _m21_piece(score, source, pid, stats=stats)
            items.append(_Item(pid, load, str(f)))
    return items


def _items_leadsheets() -> list[_Item]:
    """music21's bundled lead sheets (MusicXML with chord symbols), ids "leadsheets/<file>"."""
    import music21

    root = Path(music21.__path__[0]) / "corpus" / "leadSheet"
    files = sorted(f for f in root.iterdir() if f.suffix.lower() in _M21_EXT) if root.is_dir() else []
    if not files:
        raise InputFileError(f"{root}: no lead sheets in music21's corpus")

    def load(f, pid):
        from music21 import converter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _m21_piece(converter.parse(f), "leadsheets", pid, analyze_key=True)
    return [_Item(f"leadsheets/{f.name}", lambda f=f, pid=f"leadsheets/{f.name}": load(f, pid), str(f))
            for f in files]


def _items_bach(chorale_chords: str = CHORALE_CHORDS[0]) -> list[_Item]:
    from music21 import corpus

    names = list(corpus.chorales.Iterator(returnType="filename"))
    if chorale_chords == "analysis":
        return _items_bach_analysed(set(names))

    def load(name):
        return _m21_piece(corpus.parse(name), "bach", name, analyze_key=True,
                          all_voices=chorale_chords == "all-voices")
    return [_Item(n, lambda n=n: load(n)) for n in names]


_BWV = re.compile(r"^BWV:\s*(\S+)", re.M)


def _items_bach_analysed(names: set[str]) -> list[_Item]:
    """The chorales music21 ships a harmonic analysis of (bach/choraleAnalyses, RomanText by
    Tymoczko and others), each paired with its score by BWV number: melody, bass and bar
    positions from the score, chords from the analyst's Roman numerals (the chord an analyst
    hears, passing and neighbour notes left out). Skipped where the analysis is not as long
    as the score, or where the score's bass seldom sounds a tone of the analysed chord (a
    different edition: transposed, repeats written out)."""
    from music21 import corpus

    items = []
    for path in sorted(str(p) for p in corpus.getCorePaths() if "choraleAnalyses" in str(p)):
        m = _BWV.search(Path(path).read_text(errors="replace"))
        name = f"bach/bwv{m.group(1)}" if m else None
        if name not in names:
            continue
        items.append(_Item(name, lambda name=name, path=path: _analysed_piece(name, path), path))
    return items


def _analysed_piece(name: str, analysis_path: str) -> Piece:
    from music21 import converter, corpus, roman

    score = corpus.parse(name)
    piece = _m21_piece(score, "bach", name, analyze_key=True, all_voices=True)
    analysis = converter.parse(analysis_path, format="romantext")
    if abs(float(analysis.highestTime) - float(score.highestTime)) > 1.0:  # the last chord may fill its bar
        raise _Skip("analysis not as long as the score")
    starts, classes, basses = [], [], []
    weights = np.zeros(12)
    for rn in analysis.recurse().getElementsByClass(roman.RomanNumeral):
        weights[:] = 0.0
        for p in rn.pitches:
            weights[p.pitchClass] = 1.0
        bass = rn.bass().pitchClass
        r, q, _ = chord_recognize(weights, bass)
        starts.append(float(rn.getOffsetInHierarchy(analysis)) * 2)
        classes.append(r * N_QUALITIES + q if r >= 0 else N_CHORD)
        basses.append(bass)
    if not starts:
        raise _Skip("analysis without chords")
    chord, _ = _chord_events(np.asarray(starts), np.asarray(classes, np.int64), np.asarray(basses, np.int64),
                             len(piece.pos))
    # another edition (transposed, or barred otherwise): the score's bass then seldom sounds a
    # tone of the analysed chord (aligned, 86-98% of the steps; misaligned, 0-64%)
    from live.model import CHORD_TONES

    low = piece.bass >= 0
    if CHORD_TONES[chord[low], piece.bass[low]].mean() < 0.75:
        raise _Skip("analysis does not fit the score's bass (another edition)")
    steps = dict(piece.steps)
    steps["chord"] = chord.astype(steps["chord"].dtype)
    return Piece(piece.source, piece.piece_id, piece.steps_per_bar, piece.key_tonic, piece.key_mode, True, steps)


_MIDI_EXT = {".mid", ".midi"}
_M21_EXT = {".xml", ".mxl", ".musicxml"}


def _read_midi_file(path: Path, piece_id: str) -> Piece:
    import mido
    mf = mido.MidiFile(path)
    sigs = []
    for track in mf.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "time_signature":
                sigs.append((tick, msg.numerator, msg.denominator))
    meters = {(n, d) for _, n, d in sigs}
    if len(meters) > 1:
        raise _Skip("meter change")
    num, den = meters.pop() if meters else (4, 4)
    spb = _steps_per_bar(num, den)
    voices = [v for v in _midi_notes(mf) if v["channel"] != 9 and len(v["pitch"])]
    if not voices:
        raise _Skip("no pitched notes")
    named = [v for v in voices if _MELODY_NAME.search(v["name"])]
    mel = named[0] if named else max(voices, key=lambda v: float(np.mean(v["pitch"])))
    eighth = mf.ticks_per_beat / 2  # ticks per eighth note (a MIDI beat is a quarter)
    T = int(np.ceil(max(v["off"].max() for v in voices) / eighth - 1e-9))
    mel_notes = (mel["on"] / eighth, mel["off"] / eighth, mel["pitch"])
    others = [v for v in voices if v is not mel]
    if others:
        pcs, low = _sounding(np.concatenate([v["on"] / eighth for v in others]),
                             np.concatenate([v["off"] / eighth for v in others]),
                             np.concatenate([v["pitch"] for v in others]), T)
        chord, bass = _recognize(pcs, low), np.where(low >= 0, low % 12, -1)
    else:
        chord, bass = np.full(T, N_CHORD), np.full(T, -1)
    return _piece("folder", piece_id, spb, -1, -1, bool(others), mel_notes, chord, bass, np.arange(T) % spb)


def _items_folder(folder: Path, stats: Counter) -> list[_Item]:
    if not folder.is_dir():
        raise InputFileError(f"{folder}: not a folder (expected a folder of .mid/.midi, .xml/.mxl/.musicxml"
                             " or .abc files)")
    items: list[_Item] = []
    tag = f"folder:{folder.name}/"
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        ext = f.suffix.lower()
        rel = f.relative_to(folder).as_posix()
        if ext in _MIDI_EXT:
            items.append(_Item(tag + rel, lambda f=f, pid=tag + rel: _read_midi_file(f, pid), str(f)))
        elif ext in _M21_EXT:
            def load(f=f, pid=tag + rel):
                from music21 import converter
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return _m21_piece(converter.parse(f), "folder", pid, analyze_key=True)
            items.append(_Item(tag + rel, load, str(f)))
        elif ext == ".abc":
            try:
                items.extend(_abc_items([f], "folder", tag, stats))
            except OSError as e:
                warnings.warn(f"{f}: skipped, unreadable ({e})", stacklevel=2)
                stats["unreadable"] += 1
    return items


def load_folder(path: str | os.PathLike, limit: int | None = None,
                progress: Callable[[str], None] | None = None) -> tuple[list[Piece], Counter]:
    """Pieces from a user folder (searched recursively): .mid/.midi (melody = a track named
    melody/lead/vocal, else the highest track; chords recognized from the other tracks; bass =
    their lowest note; pos = step mod bar, as MIDI files carry no pickup), .xml/.mxl/.musicxml and
    .abc via music21 (chord symbols if present, else recognized from the non-melody parts).

    Returns (pieces, skip counts by reason). A file that cannot be read is skipped with a
    warning naming it and counted under "unreadable".
    Raises: InputFileError naming the folder when it is missing or nothing in it is usable.
    """
    folder = Path(path)
    stats: Counter = Counter()
    pieces = _run_items("folder", _items_folder(folder, stats), limit, progress, stats)
    if not pieces:
        raise InputFileError(f"{folder}: no usable pieces (need .mid/.midi, .xml/.mxl/.musicxml or .abc with"
                             f" notes; skipped: {dict(stats) or 'no candidate files'})")
    return pieces, stats


def _run_items(source: str, items: list[_Item], limit: int | None, progress, stats: Counter) -> list[Piece]:
    if limit is not None:
        items = items[:limit]
    pieces: list[Piece] = []
    n = len(items)
    every = max(1, n // 10)
    for i, it in enumerate(items, 1):
        try:
            pieces.append(it.load())
        except _Skip as e:
            stats[str(e.args[0])] += 1
        except Exception as e:  # noqa: BLE001 - any reader failure skips the piece, never the build
            where = f"{it.path} ({it.piece_id})" if it.path else it.piece_id
            warnings.warn(f"{where}: skipped, unreadable ({type(e).__name__}: {e})", stacklevel=2)
            stats["unreadable"] += 1
        if progress is not None and (i % every == 0 or i == n):
            progress(f"  {source}: {i}/{n} pieces ({len(pieces)} kept)")
    return pieces


# ---------------------------------------------------------------------------------------------
# Dataset file


class Dataset:
    """A built dataset: concatenated step arrays, per-piece offsets and metadata.

    ``ds[i]`` is a Piece (arrays are views), ``len(ds)`` the number of pieces,
    ``ds.split("train")`` iterates the pieces of one split, ``ds.meta`` the build record.
    """

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict):
        self.arrays = arrays
        self.meta = meta
        self.offsets = arrays["offsets"]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> Piece:
        if not -len(self) <= i < len(self):
            raise IndexError(f"piece index {i} out of range 0..{len(self) - 1}")
        i %= len(self)
        a, b = self.offsets[i], self.offsets[i + 1]
        A = self.arrays
        return Piece(str(A["source"][i]), str(A["piece_id"][i]), int(A["steps_per_bar"][i]),
                     int(A["key_tonic"][i]), int(A["key_mode"][i]), bool(A["has_chords"][i]),
                     {k: A[k][a:b] for k in STEP_KEYS})

    def __iter__(self) -> Iterator[Piece]:
        return (self[i] for i in range(len(self)))

    def split(self, name: str) -> Iterator[Piece]:
        """Pieces of one split ("train", "val", "test"). Raises: ValueError for another name."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return (self[i] for i in np.flatnonzero(self.arrays["split"] == name))

    def by_id(self, piece_id: str) -> Piece:
        """The piece with this id. Raises: KeyError if absent."""
        hit = np.flatnonzero(self.arrays["piece_id"] == piece_id)
        if len(hit) == 0:
            raise KeyError(piece_id)
        return self[int(hit[0])]


def _to_arrays(pieces: list[Piece]) -> dict[str, np.ndarray]:
    lens = [len(p) for p in pieces]
    arrays = {k: (np.concatenate([p.steps[k] for p in pieces]) if pieces else np.zeros(0, _STEP_DTYPES[k]))
              .astype(_STEP_DTYPES[k]) for k in STEP_KEYS}
    arrays["offsets"] = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    arrays["source"] = np.array([p.source for p in pieces], dtype=str)
    arrays["piece_id"] = np.array([p.piece_id for p in pieces], dtype=str)
    arrays["split"] = np.array([p.split for p in pieces], dtype=str)
    for k in ("steps_per_bar", "key_tonic", "key_mode"):
        arrays[k] = np.array([getattr(p, k) for p in pieces], np.int16)
    arrays["has_chords"] = np.array([p.has_chords for p in pieces], bool)
    return arrays


def counts(ds: Dataset) -> dict:
    """Per source: pieces, bars, steps, pieces per split, share of steps with a chord."""
    A = ds.arrays
    lens = np.diff(ds.offsets)
    has = A["chord"] != N_CHORD
    src_of_step = np.repeat(A["source"], lens)
    out = {}
    for src in dict.fromkeys(A["source"].tolist()):
        sel = A["source"] == src
        n_steps = int(lens[sel].sum())
        out[src] = {
            "pieces": int(sel.sum()),
            "bars": int(round(float((lens[sel] / A["steps_per_bar"][sel]).sum()))),
            "steps": n_steps,
            **{s: int((sel & (A["split"] == s)).sum()) for s in SPLITS},
            "chord_share": round(float(has[src_of_step == src].mean()) if n_steps else 0.0, 4),
        }
    return out


def format_counts(c: dict) -> str:
    """The counts dict as a fixed-width table with a total row."""
    cols = ("pieces", "bars", "steps", "train", "val", "test", "chord_share")
    lines = [f"{'source':<22}" + "".join(f"{k:>12}" for k in cols)]
    for src, row in c.items():
        lines.append(f"{src:<22}" + "".join(f"{row[k]:>12}" for k in cols))
    if c:
        tot = {k: sum(r[k] for r in c.values()) for k in cols[:-1]}
        steps = tot["steps"] or 1
        tot["chord_share"] = round(sum(r["chord_share"] * r["steps"] for r in c.values()) / steps, 4)
        lines.append(f"{'total':<22}" + "".join(f"{tot[k]:>12}" for k in cols))
    return "\n".join(lines)


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Open a dataset written by build_dataset.

    Raises: InputFileError naming the file if it is missing or not a dataset of this format.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise InputFileError(f"{p}: not a readable Sideman dataset (.npz): {e}") from e
    if "meta" not in arrays or "offsets" not in arrays:
        raise InputFileError(f"{p}: not a Sideman dataset (no meta/offsets arrays)")
    meta = json.loads(str(arrays.pop("meta")))
    if meta.get("version") != FORMAT_VERSION:
        raise InputFileError(f"{p}: dataset format version must be {FORMAT_VERSION}, got {meta.get('version')}")
    return Dataset(arrays, meta)


def dataset_for(data: Path, sources: str | None, *, limit: int | None = None, as_played: bool = False,
                chorale_chords: str = CHORALE_CHORDS[0], folder_out: Path,
                progress: Callable[[str], None] | None = print) -> tuple[Path, list[str]]:
    """What ``--data`` and ``--sources`` name (``sideman train``, ``sideman eval``): the dataset
    file and its sources.

    ``data`` a folder of MIDI, MusicXML or ABC files: a dataset built from it (and the
    ``sources`` given, comma separated) into ``folder_out``, rebuilt every time (the folder may
    have changed). An existing dataset file with no ``sources`` given, built with the same
    ``limit``, ``as_played`` and ``chorale_chords``: read as built (it used to be rebuilt from the default sources,
    overwriting a dataset the user had built from others). Otherwise built into ``data`` from
    ``sources`` (``live.train.DEFAULT_SOURCES`` where None), or reused where it was built from
    the same.
    """
    progress = progress or (lambda _msg: None)
    if data.is_dir():
        names = [f"folder:{data.resolve()}"] + (sources.split(",") if sources else [])
        folder_out.parent.mkdir(parents=True, exist_ok=True)
        folder_out.unlink(missing_ok=True)
        progress(f"the folder {data} ({', '.join(names)}); its dataset: {folder_out}")
        return build_dataset(names, folder_out, limit=limit, progress=progress, as_played=as_played,
                             chorale_chords=chorale_chords), names
    if sources is None and data.is_file():
        try:
            meta = load_dataset(data).meta
        except InputFileError:
            meta = None
        if (meta is not None and bool(meta.get("as_played")) == as_played and limit in (None, meta.get("limit"))
                and meta.get("chorale_chords", CHORALE_CHORDS[0]) == chorale_chords):
            names = list(meta.get("sources") or [])
            progress(f"{data}: sources {','.join(names)} (as built; --sources rebuilds it)")
            return data, names
    from live.train import DEFAULT_SOURCES

    names = (sources or DEFAULT_SOURCES).split(",")
    return build_dataset(names, data, limit=limit, progress=progress, as_played=as_played,
                         chorale_chords=chorale_chords), names


def build_dataset(sources: list[str], out: Path, data_root: Path = DEFAULT_DATA_ROOT, limit: int | None = None,
                  progress: Callable[[str], None] | None = print, as_played: bool = False,
                  chorale_chords: str = CHORALE_CHORDS[0]) -> Path:
    """Build (or reuse) the dataset for sources ("pop909", "nottingham", "bach", "folder:/path").

    Writes one .npz atomically (temporary file, then rename): the step arrays concatenated,
    ``offsets`` (pieces + 1), per-piece ``source``, ``piece_id``, ``split``, ``steps_per_bar``,
    ``key_tonic``, ``key_mode``, ``has_chords``, and ``meta`` (JSON: version, sources, limit,
    counts, skipped pieces by reason (keys in parentheses count events inside kept pieces, such
    as chord texts that are not chords), seconds per source). If ``out`` already holds a dataset
    built from the same sources and limit it is kept as is. ``limit``: the first N pieces per
    source. ``as_played``: Nottingham's tunes with their repeats expanded, as a musician plays
    them (``meta["as_played"]``; the default is the notated order). ``chorale_chords``: one of
    ``CHORALE_CHORDS``, where the chorales' chords come from (``meta["chorale_chords"]``).
    Returns ``out``. Raises: InputFileError for an unknown source or chorale chords, a missing
    corpus folder, or a folder source with nothing usable.
    """
    out = Path(out)
    data_root = Path(data_root)
    sources = list(sources)
    for s in sources:
        if s not in SOURCES and not s.startswith("folder:"):
            raise InputFileError(f"unknown source {s!r}: expected one of {', '.join(SOURCES)} or folder:/path")
    if chorale_chords not in CHORALE_CHORDS:
        raise InputFileError(f"chorale chords must be one of {', '.join(CHORALE_CHORDS)}, got {chorale_chords!r}")
    progress = progress or (lambda _msg: None)
    if out.exists():
        try:
            old = load_dataset(out).meta
            if (old.get("sources") == sources and old.get("limit") == limit
                    and bool(old.get("as_played")) == as_played
                    and old.get("chorale_chords", CHORALE_CHORDS[0]) == chorale_chords):
                progress(f"{out}: up to date (sources {','.join(sources)}, limit {limit}"
                         f"{', as played' if as_played else ''}, chorale chords {chorale_chords}); not rebuilt")
                return out
        except InputFileError:
            pass
    pieces: list[Piece] = []
    skipped: dict[str, dict[str, int]] = {}
    seconds: dict[str, float] = {}
    for s in sources:
        t0 = time.perf_counter()
        stats: Counter = Counter()
        if s == "pop909":
            items = _items_pop909(data_root)
        elif s == "nottingham":
            items = _items_nottingham(data_root, stats, as_played)
        elif s == "bach":
            items = _items_bach(chorale_chords)
        elif s in M21_FOLK:
            items = _items_m21_folk(s, stats)
        elif s == "leadsheets":
            items = _items_leadsheets()
        else:
            items = None
        progress(f"{s}: reading")
        if items is None:
            got, stats = load_folder(s.split(":", 1)[1], limit, progress)
        else:
            got = _run_items(s, items, limit, progress, stats)
        pieces.extend(got)
        skipped[s] = dict(stats)
        seconds[s] = round(time.perf_counter() - t0, 1)
        progress(f"{s}: {len(got)} pieces in {seconds[s]} s; skipped {dict(stats) or 'none'}")
    arrays = _to_arrays(pieces)
    ds = Dataset(arrays, {})
    meta = {"version": FORMAT_VERSION, "sources": sources, "limit": limit, "as_played": as_played,
            "chorale_chords": chorale_chords, "counts": counts(ds),
            "skipped": skipped, "seconds": seconds}
    arrays["meta"] = np.array(json.dumps(meta))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m live.train.data --sources pop909,nottingham,bach --out data.npz [--limit N]``."""
    from live.train import DEFAULT_SOURCES

    ap = argparse.ArgumentParser(prog="python -m live.train.data", description=__doc__.split("\n")[0])
    ap.add_argument("--sources", default=DEFAULT_SOURCES,
                    help="comma-separated: pop909, nottingham, bach, essen, oneills, ryans, leadsheets, "
                         "folder:/path")
    ap.add_argument("--out", type=Path, required=True, help="the .npz to write")
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--limit", type=int, default=None, help="first N pieces per source")
    ap.add_argument("--as-played", action="store_true",
                    help="expand the Nottingham tunes' repeats, as a musician plays them")
    ap.add_argument("--chorale-chords", choices=CHORALE_CHORDS, default=CHORALE_CHORDS[0],
                    help=CHORALE_CHORDS_HELP)
    args = ap.parse_args(argv)
    try:
        path = build_dataset([s for s in args.sources.split(",") if s], args.out, args.data_root, args.limit,
                             as_played=args.as_played, chorale_chords=args.chorale_chords)
    except InputFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ds = load_dataset(path)
    print(format_counts(counts(ds)))
    for src, sk in ds.meta.get("skipped", {}).items():
        pieces = {k: v for k, v in sk.items() if not k.startswith("(")}
        notes = {k.strip("()"): v for k, v in sk.items() if k.startswith("(")}
        if pieces:
            print(f"{src}: pieces skipped: {pieces}")
        if notes:
            print(f"{src}: within kept pieces: {notes}")
    print("seconds per source:", ds.meta.get("seconds"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
