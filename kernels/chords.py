"""Chord recognition, chord tones and chord symbols.

Thread: the njit kernels (``chord_recognize``, ``chord_pitch_classes``) are pure, release
the GIL and may run on any thread, including the MIDI/planner threads. ``chord_symbol`` and
``parse_chord_symbol`` are plain Python for the control/UI side and chart loading.
"""

from __future__ import annotations

import re

import numba
import numpy as np

QUALITIES = ("maj", "min", "dim", "aug", "sus2", "sus4", "7", "maj7", "min7", "m7b5",
             "dim7", "6", "min6")
QUALITY_SUFFIX = ("", "m", "dim", "aug", "sus2", "sus4", "7", "maj7", "m7", "m7b5",
                  "dim7", "6", "m6")
QUALITY_INTERVALS = np.array([
    [0, 4, 7, -1], [0, 3, 7, -1], [0, 3, 6, -1], [0, 4, 8, -1], [0, 2, 7, -1],
    [0, 5, 7, -1], [0, 4, 7, 10], [0, 4, 7, 11], [0, 3, 7, 10], [0, 3, 6, 10],
    [0, 3, 6, 9], [0, 4, 7, 9], [0, 3, 7, 9],
], dtype=np.int64)
QUALITY_NTONES = (QUALITY_INTERVALS >= 0).sum(axis=1).astype(np.int64)
N_QUALITIES = len(QUALITIES)
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Scoring weights, in units of the mean held weight where noted. Chosen so the expected
# readings of ambiguous sets win: C6 over Am7 when the bass is C, C over Fsus2/Gsus4 for a
# bare fifth, a held root over a chord that only explains the note as its third or fifth.
OUTSIDE_PENALTY = 0.6        # per unit of weight on non-chord tones
MISSING_PENALTY = 0.5        # per missing chord tone (x mean held weight)
MISSING_ROOT_PENALTY = 0.7   # replaces MISSING_PENALTY when the root itself is absent
BASS_ROOT_BONUS = 0.3        # bass is the root (x mean held weight)
FOUR_NOTE_PENALTY = 0.3      # a faint 7th/6th (< ~0.2x mean weight) leaves the plain triad
TIE_EPS = 1e-9               # relative; scores this close count as tied (float-order noise)


@numba.njit(nogil=True, cache=True)
def _score(weights, total, mean_w, bass_pc, root, quality):
    inside = 0.0
    penalty = 0.0
    nt = QUALITY_NTONES[quality]
    for i in range(nt):
        w = weights[(root + QUALITY_INTERVALS[quality, i]) % 12]
        if w > 0.0:
            inside += w
        elif i == 0:
            penalty += MISSING_ROOT_PENALTY * mean_w
        else:
            penalty += MISSING_PENALTY * mean_w
    s = inside - OUTSIDE_PENALTY * (total - inside) - penalty
    if bass_pc == root:
        s += BASS_ROOT_BONUS * mean_w
    if nt == 4:
        s -= FOUR_NOTE_PENALTY * mean_w
    return s


@numba.njit(nogil=True, cache=True)
def chord_recognize(weights, bass_pc):
    """Best (root, quality, score) for held pitch-class weights; (-1, -1, 0.0) if nothing held.

    weights: float64[12], >= 0. bass_pc: pitch class of the lowest held note, or -1.
    Scores within TIE_EPS of the best count as tied; ties go to the lowest quality id, then
    the lowest root, so numba and the numpy reference agree despite summation order.
    Thread: any; allocates nothing.
    """
    total = 0.0
    nheld = 0
    for pc in range(12):
        if weights[pc] > 0.0:
            total += weights[pc]
            nheld += 1
    if nheld == 0:
        return -1, -1, 0.0
    mean_w = total / nheld
    best = -np.inf
    for q in range(N_QUALITIES):
        for r in range(12):
            s = _score(weights, total, mean_w, bass_pc, r, q)
            if s > best:
                best = s
    # Second pass instead of a scratch array: 156 cheap scores.
    floor = best - TIE_EPS * (1.0 + total)
    for q in range(N_QUALITIES):
        for r in range(12):
            s = _score(weights, total, mean_w, bass_pc, r, q)
            if s >= floor:
                return r, q, s
    return -1, -1, 0.0  # unreachable


_TEMPLATES = np.zeros((N_QUALITIES * 12, 12))   # row q*12 + r: chord-tone membership
_ROOT_ONEHOT = np.zeros((N_QUALITIES * 12, 12))
for _q in range(N_QUALITIES):
    for _r in range(12):
        _ROOT_ONEHOT[_q * 12 + _r, _r] = 1.0
        for _iv in QUALITY_INTERVALS[_q, :QUALITY_NTONES[_q]]:
            _TEMPLATES[_q * 12 + _r, (_r + _iv) % 12] = 1.0
_ROWS_ROOT = np.tile(np.arange(12), N_QUALITIES)
_ROWS_NT = np.repeat(QUALITY_NTONES, 12)


def chord_recognize_ref(weights, bass_pc):
    """Vectorised numpy reference for chord_recognize (same result)."""
    w = np.asarray(weights, dtype=np.float64)
    held = w > 0.0
    if not held.any():
        return -1, -1, 0.0
    total = w[held].sum()
    mean_w = total / held.sum()
    inside = _TEMPLATES @ np.where(held, w, 0.0)
    missing = _TEMPLATES @ (~held).astype(np.float64)
    root_missing = _ROOT_ONEHOT @ (~held).astype(np.float64)
    scores = (inside - OUTSIDE_PENALTY * (total - inside)
              - mean_w * (MISSING_PENALTY * (missing - root_missing)
                          + MISSING_ROOT_PENALTY * root_missing)
              + BASS_ROOT_BONUS * mean_w * (_ROWS_ROOT == bass_pc)
              - FOUR_NOTE_PENALTY * mean_w * (_ROWS_NT == 4))
    row = int(np.flatnonzero(scores >= scores.max() - TIE_EPS * (1.0 + total))[0])
    return row % 12, row // 12, float(scores[row])


@numba.njit(nogil=True, cache=True)
def chord_pitch_classes(root, quality, out):
    """Write the chord's pitch classes (root first) into out int64[4], -1 padded; return count."""
    nt = QUALITY_NTONES[quality]
    for i in range(4):
        out[i] = (root + QUALITY_INTERVALS[quality, i]) % 12 if i < nt else -1
    return nt


def chord_pitch_classes_ref(root, quality, out):
    """Reference for chord_pitch_classes."""
    ivs = [iv for iv in QUALITY_INTERVALS[quality] if iv >= 0]
    out[:] = [(root + iv) % 12 for iv in ivs] + [-1] * (4 - len(ivs))
    return len(ivs)


def chord_symbol(root, quality, bass_pc=-1):
    """Lead-sheet symbol: "C", "Am7", "F#m7b5", "C/E"; "N" for no chord (root -1).

    Raises: ValueError for a root, quality or bass out of range.
    """
    if root == -1:
        return "N"
    if not (0 <= root < 12 and 0 <= quality < N_QUALITIES and -1 <= bass_pc < 12):
        raise ValueError(f"chord_symbol: root must be 0..11 (or -1), quality 0..{N_QUALITIES - 1},"
                         f" bass -1..11; got root={root}, quality={quality}, bass={bass_pc}")
    sym = NOTE_NAMES[root] + QUALITY_SUFFIX[quality]
    if bass_pc >= 0 and bass_pc != root:
        sym += "/" + NOTE_NAMES[bass_pc]
    return sym


_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"#": 1, "♯": 1, "b": -1, "♭": -1}
# Lead-sheet and Harte (after ":") spellings. Case matters: "M7" is major, "m7" minor.
_SUFFIX_QUALITY = {
    "": 0, "maj": 0, "M": 0, "major": 0,
    "m": 1, "min": 1, "mi": 1, "-": 1, "minor": 1,
    "dim": 2, "°": 2, "o": 2,
    "aug": 3, "+": 3,
    "sus2": 4,
    "sus4": 5, "sus": 5,
    "7": 6, "dom7": 6,
    "maj7": 7, "M7": 7, "ma7": 7, "Δ": 7, "Δ7": 7, "^7": 7,
    "m7": 8, "min7": 8, "mi7": 8, "-7": 8,
    "m7b5": 9, "min7b5": 9, "-7b5": 9, "ø": 9, "ø7": 9, "hdim7": 9,
    "dim7": 10, "°7": 10, "o7": 10,
    "6": 11, "maj6": 11, "M6": 11,
    "m6": 12, "min6": 12, "-6": 12,
}
# Harte bass degrees, relative to the root.
_DEGREE = {"1": 0, "2": 2, "3": 4, "4": 5, "5": 7, "6": 9, "7": 11}
_NOTE_RE = re.compile(r"([A-G])([#♯b♭]*)$")
_DEGREE_RE = re.compile(r"([#b]*)([1-7])$")
_SYMBOL_RE = re.compile(r"([A-G][#♯b♭]*)(:?)([^/]*)(?:/(.+))?$")


def _note_pc(name):
    m = _NOTE_RE.match(name)
    if m is None:
        return None
    return (_LETTER_PC[m.group(1)] + sum(_ACCIDENTAL[c] for c in m.group(2))) % 12


def parse_chord_symbol(sym):
    """Inverse of chord_symbol -> (root, quality, bass_pc); bass_pc -1 without a slash.

    Accepts common lead-sheet spellings ("Cmaj", "C-7", "CM7", "C°", "Cø", "Db", "A#",
    "C/E") and Harte ("C:min7", "Bb:maj/3"). "N"/"NC"/"N.C." -> (-1, -1, -1).
    Raises: ValueError naming the symbol if it is not understood.
    """
    s = sym.strip() if isinstance(sym, str) else None
    if s in ("N", "NC", "N.C."):
        return -1, -1, -1
    m = _SYMBOL_RE.match(s) if s else None
    if m is None:
        raise ValueError(f"unknown chord symbol {sym!r}: expected a root A-G with optional"
                         " #/b, a quality such as m, 7, maj7, m7b5, and optional /bass")
    root = _note_pc(m.group(1))
    quality = _SUFFIX_QUALITY.get(m.group(3))
    if quality is None:
        raise ValueError(f"unknown chord symbol {sym!r}: quality {m.group(3)!r} is not one of"
                         f" {sorted(k for k in _SUFFIX_QUALITY if k)}")
    bass = -1
    if m.group(4) is not None:
        b = m.group(4)
        bass = _note_pc(b)
        if bass is None:
            d = _DEGREE_RE.match(b)
            if d is None:
                raise ValueError(f"unknown chord symbol {sym!r}: bass {b!r} is neither a note"
                                 " name nor a degree like 3, b7")
            shift = sum(1 if c == "#" else -1 for c in d.group(1))
            bass = (root + _DEGREE[d.group(2)] + shift) % 12
    return root, quality, bass
