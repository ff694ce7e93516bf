"""Voicing kernels (kernels/voicing.py): close, open, drop-2, shell, rootless and SATB.

Each numba kernel against its brute-force reference (exhaustively over roots and
qualities where that is small, by hypothesis over previous voicings and ranges), the
rules each kind promises checked by an independent checker, four-part writing over
random progressions with no parallel fifths or octaves, and the same answer for the same
question.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels.chords import QUALITIES, QUALITY_INTERVALS, parse_chord_symbol
from kernels.ensemble import is_parallel_ref
from kernels.voicing import (CLOSE, DROP2, KIND_VOICES, KINDS, OPEN, ROOTLESS, SATB_HIGHS, SATB_LOWS, SATB_NONE,
                             SATB_OK, SATB_PARALLELS, SHELL, satb_rules_ref, voice_kind, voice_kind_ref, voice_satb,
                             voice_satb_ref)

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # property tests are skipped below, the rest still runs
    given = None

NQ = len(QUALITIES)
Q = {name: i for i, name in enumerate(QUALITIES)}
COMP, PAD = (52, 76), (48, 84)  # the rig's default comp and pad ranges (live/rig.py)
#: (kind, voices) pairs the kernel plays
SHAPES = [(k, n) for k, name in enumerate(KINDS) for n in sorted(set(KIND_VOICES[name]) | (
    {3, 4} if k in (CLOSE, OPEN, DROP2) else set()))]
NONE = {n: np.full(n, -1, np.int64) for n in (2, 3, 4)}


def tones(root, quality):
    return [(root + int(iv)) % 12 for iv in QUALITY_INTERVALS[quality] if iv >= 0]


def check_kind(kind, root, quality, v, low, high):
    """The rules of a voicing kind, written out again from the module's docstring."""
    v = [int(x) for x in v]
    ts = tones(root, quality)
    slot = [ts.index(p % 12) if p % 12 in ts else -1 for p in v]
    assert v == sorted(set(v)), f"not ascending and distinct: {v}"
    assert low <= v[0] and v[-1] <= high, f"{v} outside {low}..{high}"
    assert -1 not in slot, f"{v}: a note outside the chord {ts}"
    guide = 3 if len(ts) == 4 else 2  # the 7th, or a triad's 5th
    spread = v[-1] - v[0]
    if kind == ROOTLESS:
        assert sorted(slot) == [1, guide], f"rootless {v} is not the 3rd and the 7th"
    elif kind == SHELL:
        assert slot[0] == 0 and sorted(slot[1:]) == [1, guide] and spread <= 16, f"shell {v}"
    else:
        assert slot.count(1) == 1, f"{v}: the 3rd must be there, once"
        if len(ts) == 4:
            assert slot.count(3) == 1
        if len(v) == 4 or len(ts) == 3:
            assert 0 in slot, f"{v}: no root"
    if kind == CLOSE:
        assert spread <= 12, f"close {v} spreads {spread}"
    elif kind == OPEN:
        gaps = np.diff(v)
        assert 13 <= spread <= 24 and gaps.min() >= 3 and gaps.max() <= 12, f"open {v}"
    elif kind == DROP2:
        close = sorted(v[1:] + [v[0] + 12])
        assert close[-2] == v[0] + 12 and close[-1] - close[0] <= 12, f"drop2 {v}: {close} is not close"


def check_satb(root, quality, bass_pc, v, prev=None):
    why, _ = satb_rules_ref(root, quality, bass_pc, [int(x) for x in v])
    assert not why, f"{v}: {why}"
    if prev is not None and prev[0] >= 0:
        pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
        bad = [(i, j) for i, j in pairs if is_parallel_ref(prev[j], prev[i], v[j], v[i])]
        assert not bad, f"{list(prev)} -> {list(v)}: parallels between voices {bad}"


# --- voice_kind ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind, n", SHAPES, ids=lambda x: KINDS[x] if isinstance(x, int) and x < 5 else str(x))
def test_voice_kind_equals_reference_for_every_chord(kind, n):
    low, high = PAD if n == 4 else COMP
    out, ref = np.empty(n, np.int64), np.empty(n, np.int64)
    rng = np.random.default_rng(kind * 10 + n)
    prevs = [NONE[n]] + [np.sort(rng.choice(np.arange(low - 4, high + 4), n, replace=False)) for _ in range(2)]
    for prev in prevs:
        for root in range(12):
            for q in range(NQ):
                cost = voice_kind(kind, root, q, prev, low, high, out)
                cost_ref = voice_kind_ref(kind, root, q, prev, low, high, ref)
                assert out.tolist() == ref.tolist() and cost == cost_ref, (KINDS[kind], root, QUALITIES[q], prev)
                assert cost < np.inf, (KINDS[kind], n, root, QUALITIES[q])
                check_kind(kind, root, q, out, low, high)
                if prev[0] >= 0:
                    assert cost >= np.abs(out - prev).sum()  # the movement, plus a doubled-5th penalty


def test_voice_kind_follows_the_previous_voicing():
    """ii-V-I: the textbook answers."""
    def run(kind, n, syms, low=52, high=76):
        prev, out, got = NONE[n], np.empty(n, np.int64), []
        for sym in syms:
            r, q, _ = parse_chord_symbol(sym)
            voice_kind(kind, r, q, prev, low, high, out)
            got.append(out.tolist())
            prev = out.copy()
        return got
    # guide tones: C F -> B F -> B E, a half step at a time
    assert run(ROOTLESS, 2, ["Dm7", "G7", "Cmaj7"]) == [[60, 65], [59, 65], [59, 64]]
    # drop-2 (C F A D: the close F A C D with its C dropped); to G7 the C and A fall a
    # step, F and D hold; to Cmaj7 the F and D fall a step, B and G hold
    d = run(DROP2, 4, ["Dm7", "G7", "Cmaj7"], 48, 84)
    assert d == [[60, 65, 69, 74], [59, 65, 67, 74], [59, 64, 67, 72]]
    # shell: the root at the bottom, 3rd and 7th swapping octaves as the root moves by fifths
    s = run(SHELL, 3, ["Dm7", "G7", "Cmaj7"])
    assert [v[0] % 12 for v in s] == [2, 7, 0]
    assert all(sorted((p - v[0]) % 12 for p in v[1:]) in ([3, 10], [4, 10], [4, 11]) for v in s)


def test_voice_kind_never_raises():
    out3, out4 = np.empty(3, np.int64), np.empty(4, np.int64)
    assert voice_kind(SHELL, 0, 0, NONE[4], 52, 76, out4) == np.inf and out4.tolist() == [-1] * 4  # shell has 3
    assert voice_kind(ROOTLESS, 0, 0, NONE[3], 52, 76, out3) == np.inf  # rootless has 2
    assert voice_kind(9, 0, 0, NONE[3], 52, 76, out3) == np.inf and out3.tolist() == [-1] * 3  # no such kind
    assert voice_kind(CLOSE, -1, -1, NONE[3], 52, 76, out3) == np.inf  # no chord
    assert voice_kind(CLOSE, 0, NQ, NONE[3], 52, 76, out3) == np.inf  # no such quality
    assert voice_kind(OPEN, 0, Q["maj7"], NONE[4], 60, 70, out4) == np.inf  # range narrower than the shape
    assert voice_kind_ref(OPEN, 0, Q["maj7"], NONE[4], 60, 70, out4) == np.inf
    # a previous voicing of another length counts as none
    assert voice_kind(CLOSE, 0, 0, np.array([60, 64]), 52, 76, out3) == voice_kind(CLOSE, 0, 0, NONE[3], 52, 76,
                                                                                   out3)


def test_voice_kind_is_deterministic():
    rng = np.random.default_rng(7)
    for _ in range(200):
        kind, n = SHAPES[rng.integers(len(SHAPES))]
        root, q = int(rng.integers(12)), int(rng.integers(NQ))
        prev = np.sort(rng.choice(np.arange(48, 84), n, replace=False))
        a, b = np.empty(n, np.int64), np.empty(n, np.int64)
        ca = voice_kind(kind, root, q, prev, 48, 84, a)
        cb = voice_kind(kind, root, q, prev.copy(), 48, 84, b)
        assert a.tolist() == b.tolist() and ca == cb


# --- SATB ----------------------------------------------------------------------------------


def test_satb_ranges_are_the_textbook_ones():
    # bass E2-C4, tenor C3-G4, alto G3-D5, soprano C4-G5
    assert SATB_LOWS.tolist() == [40, 48, 55, 60] and SATB_HIGHS.tolist() == [60, 67, 74, 79]


def test_voice_satb_equals_reference_for_every_chord():
    out, ref = np.empty(4, np.int64), np.empty(4, np.int64)
    prevs = [NONE[4], np.array([48, 55, 64, 72]), np.array([43, 59, 62, 67])]
    for prev in prevs:
        for root in range(12):
            for q in range(NQ):
                for bass in (-1, (root + int(QUALITY_INTERVALS[q, 1])) % 12, (root + 1) % 12):
                    got = voice_satb(root, q, bass, prev, SATB_LOWS, SATB_HIGHS, out)
                    want = voice_satb_ref(root, q, bass, prev, SATB_LOWS, SATB_HIGHS, ref)
                    assert out.tolist() == ref.tolist() and got == want, (root, QUALITIES[q], bass, prev)
                    assert got[0] in (SATB_OK, SATB_PARALLELS)
                    check_satb(root, q, bass, out, prev if got[0] == SATB_OK else None)


def progression(rng, k):
    """k random chords: root, quality, bass pitch class (a third of them inverted)."""
    chords = []
    for _ in range(k):
        r, q = int(rng.integers(12)), int(rng.integers(NQ))
        ts = tones(r, q)
        bass = -1 if rng.random() < 0.67 else ts[int(rng.integers(1, len(ts)))]
        chords.append((r, q, bass))
    return chords


def test_satb_over_random_progressions_never_writes_parallels():
    """500 random progressions of 8 chords (any root, any quality, inversions): every
    voicing keeps every rule, no parallel fifths, octaves or unisons between any two voices."""
    rng = np.random.default_rng(2026)
    out = np.empty(4, np.int64)
    fallbacks = moves = 0
    per_voice = []
    for _ in range(500):
        prev = NONE[4].copy()
        for r, q, b in progression(rng, 8):
            status, cost = voice_satb(r, q, b, prev, SATB_LOWS, SATB_HIGHS, out)
            assert status != SATB_NONE
            fallbacks += status == SATB_PARALLELS
            check_satb(r, q, b, out, prev if status == SATB_OK else None)
            if prev[0] >= 0:
                per_voice += np.abs(out - prev).tolist()
                moves += 1
            prev = out.copy()
    assert fallbacks == 0, f"{fallbacks} of {moves} changes could not avoid parallels"
    # Random chords (any root after any root) are harder than any real progression: even
    # so the median voice moves at most a whole step and 95 % at most a fifth.
    assert np.percentile(per_voice, 50) <= 2 and np.percentile(per_voice, 95) <= 7, np.percentile(per_voice, [50, 95])


def test_satb_chorale_cadence():
    """I - IV - V7 - I in C: the bass sings the roots, the 3rd of each chord is there,
    the leading tone (B) of G7 rises to C in the last chord or the 7th (F) falls to E."""
    out, prev, got = np.empty(4, np.int64), NONE[4].copy(), []
    for sym in ("C", "F", "G7", "C"):
        r, q, b = parse_chord_symbol(sym)
        assert voice_satb(r, q, b, prev, SATB_LOWS, SATB_HIGHS, out)[0] == SATB_OK
        check_satb(r, q, b, out, prev)
        got.append(out.tolist())
        prev = out.copy()
    assert [v[0] % 12 for v in got] == [0, 5, 7, 0]
    g7, c = got[2], got[3]
    assert any(p % 12 == 11 and c[i] == p + 1 for i, p in enumerate(g7)) or \
        any(p % 12 == 5 and c[i] == p - 1 for i, p in enumerate(g7)), (g7, c)


def test_satb_takes_a_slash_bass_and_never_raises():
    out = np.empty(4, np.int64)
    r, q, b = parse_chord_symbol("G/B")
    assert voice_satb(r, q, b, NONE[4], SATB_LOWS, SATB_HIGHS, out)[0] == SATB_OK and out[0] % 12 == 11
    assert out.tolist().count(out[0] + 12) + [p % 12 for p in out].count(11) <= 2, "the leading tone is not doubled"
    # a bass from outside a 7th chord: the 5th is the tone left out
    r, q, _ = parse_chord_symbol("G7")
    assert voice_satb(r, q, 5 + 4, NONE[4], SATB_LOWS, SATB_HIGHS, out)[0] == SATB_OK
    assert {p % 12 for p in out[1:]} == {7, 11, 5}
    narrow = np.array([40, 48, 55, 60]), np.array([41, 49, 56, 61])
    assert voice_satb(0, 0, -1, NONE[4], *narrow, out) == (SATB_NONE, np.inf) and out.tolist() == [-1] * 4
    assert voice_satb_ref(0, 0, -1, NONE[4], *narrow, out) == (SATB_NONE, np.inf)
    assert voice_satb(-1, -1, -1, NONE[4], SATB_LOWS, SATB_HIGHS, out)[0] == SATB_NONE
    short = np.zeros(3, np.int64)
    assert voice_satb(0, 0, -1, NONE[4], SATB_LOWS, SATB_HIGHS, short)[0] == SATB_NONE and short.tolist() == [-1] * 3
    assert voice_satb(0, 0, -1, NONE[4], SATB_LOWS[:3], SATB_HIGHS, out)[0] == SATB_NONE


def test_satb_reports_parallels_it_cannot_avoid():
    """Ranges of one note each leave D major one voicing: from C major a step below,
    it moves in parallel octaves and fifths. The kernel still answers, with the
    voicing that has the fewest, and says so."""
    out, ref = np.empty(4, np.int64), np.empty(4, np.int64)
    prev = np.array([48, 55, 64, 72])
    only = np.array([50, 57, 66, 74])
    got = voice_satb(2, Q["maj"], -1, prev, only, only, out)
    assert got == (SATB_PARALLELS, 8.0) and out.tolist() == only.tolist()
    assert voice_satb_ref(2, Q["maj"], -1, prev, only, only, ref) == got and ref.tolist() == only.tolist()


def test_satb_is_deterministic():
    rng = np.random.default_rng(3)
    a, b = np.empty(4, np.int64), np.empty(4, np.int64)
    for r, q, bass in progression(rng, 200):
        prev = np.array(sorted(rng.choice(np.arange(40, 80), 4, replace=False)))
        assert voice_satb(r, q, bass, prev, SATB_LOWS, SATB_HIGHS, a) == \
            voice_satb(r, q, bass, prev.copy(), SATB_LOWS, SATB_HIGHS, b)
        assert a.tolist() == b.tolist()


# --- hypothesis: random previous voicings and ranges -----------------------------------------

if given is not None:
    @settings(max_examples=300, deadline=None)
    @given(shape=st.sampled_from(SHAPES), root=st.integers(0, 11), q=st.integers(0, NQ - 1),
           low=st.integers(30, 70), width=st.integers(6, 40), data=st.data())
    def test_voice_kind_equals_reference_hypothesis(shape, root, q, low, width, data):
        kind, n = shape
        high = low + width
        notes = data.draw(st.lists(st.integers(low - 12, high + 12), min_size=n, max_size=n, unique=True))
        prev = np.array(sorted(notes), np.int64) if data.draw(st.booleans()) else NONE[n]
        out, ref = np.empty(n, np.int64), np.empty(n, np.int64)
        cost = voice_kind(kind, root, q, prev, low, high, out)
        assert cost == voice_kind_ref(kind, root, q, prev, low, high, ref)
        assert out.tolist() == ref.tolist()
        if cost < np.inf:
            check_kind(kind, root, q, out, low, high)
        else:
            assert out.tolist() == [-1] * n

    @settings(max_examples=200, deadline=None)
    @given(root=st.integers(0, 11), q=st.integers(0, NQ - 1), bass=st.integers(-1, 11),
           prev=st.lists(st.integers(38, 81), min_size=4, max_size=4, unique=True), shift=st.integers(-3, 3))
    def test_voice_satb_equals_reference_hypothesis(root, q, bass, prev, shift):
        prev = np.array(sorted(prev), np.int64)
        lows, highs = SATB_LOWS + shift, SATB_HIGHS + shift
        out, ref = np.empty(4, np.int64), np.empty(4, np.int64)
        got = voice_satb(root, q, bass, prev, lows, highs, out)
        assert got == voice_satb_ref(root, q, bass, prev, lows, highs, ref)
        assert out.tolist() == ref.tolist()
        if got[0] == SATB_OK:
            why, _ = satb_rules_ref(root, q, bass, out.tolist(), lows, highs)
            assert not why
            assert not any(is_parallel_ref(prev[j], prev[i], out[j], out[i]) for i in range(4)
                           for j in range(i + 1, 4))
else:
    def test_hypothesis_missing():
        pytest.skip("hypothesis is not installed: the property tests did not run")


ALLOCATIONS = """
import numpy as np
from numba import njit
from numba.core.runtime import rtsys
from kernels.voicing import DROP2, ROOTLESS, SATB_HIGHS, SATB_LOWS, SHELL, voice_kind, voice_satb

@njit
def loop(k, prev, out, out3, out2, lows, highs):
    for i in range(k):
        voice_satb(i % 12, i % 13, -1, prev, lows, highs, out)
        voice_kind(DROP2, i % 12, i % 13, prev, 48, 84, out)
        voice_kind(SHELL, i % 12, i % 13, out3, 52, 76, out3)
        voice_kind(ROOTLESS, i % 12, i % 13, out2, 52, 76, out2)

args = (np.array([48, 55, 64, 72]), np.empty(4, np.int64), np.full(3, -1), np.full(2, -1), SATB_LOWS, SATB_HIGHS)
loop(1, *args)  # compiles, and starts numba's runtime (and its counters)
counts = []
for k in (1, 1, 200):
    before = rtsys.get_allocation_stats().alloc
    loop(k, *args)
    counts.append(rtsys.get_allocation_stats().alloc - before)
print(counts)
"""


def test_kernels_allocate_nothing():
    """Numba's own allocation counter: calling the kernels 200 times allocates no more
    than calling them once (what it counts is the arrays passed in from Python)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, NUMBA_NRT_STATS="1", PYTHONPATH=str(repo))
    r = subprocess.run([sys.executable, "-c", ALLOCATIONS], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _first, once, many = eval(r.stdout.strip().splitlines()[-1])
    assert many == once, f"200 calls allocated {many}, one call {once}"
