"""kernels.bass: the bass line's note choice, numba kernel against its plain-Python reference,
its musical properties, and a walk that stays in its range over a long song."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.bass import (APPROACH, BASS, DEGREE_CODES, OCTAVE, ROOT, SCALE_APPROACH, SEMITONES, WALK,
                          WALK_SCALES, bass_note, bass_note_ref)
from kernels.chords import QUALITIES, QUALITY_INTERVALS

NQ = len(QUALITIES)
LOW, HIGH = 28, 55  # a bass part's range (rigs' default)


def both(*args):
    got, want = int(bass_note(*args)), bass_note_ref(*args)
    assert got == want, f"bass_note{args}: kernel {got}, reference {want}"
    return got


def test_kernel_equals_reference_exhaustive_over_a_small_domain():
    n = 0
    for degree, quality, root in itertools.product(range(10), range(NQ), range(12)):
        for next_root, prev, beat, u, (low, high) in itertools.product(
                (-1, 5), (-1, LOW, 41, HIGH), (0, 1, 3), (0.2, 0.8), ((LOW, HIGH), (40, 50))):
            if prev > high:
                continue
            both(degree, -2, root, quality, (root + 4) % 12 if degree == BASS else -1, next_root,
                 (quality + 3) % NQ, prev, low, high, beat, 4, u)
            n += 1
    assert n > 50_000


@settings(max_examples=1500, deadline=None)
@given(degree=st.integers(0, 9), semis=st.integers(-11, 11), root=st.integers(0, 11), quality=st.integers(0, NQ - 1),
       bass_pc=st.integers(-1, 11), next_root=st.integers(-1, 11), next_quality=st.integers(-1, NQ - 1),
       low=st.integers(20, 60), span=st.integers(0, 40), prev=st.integers(-1, 100), beat=st.integers(0, 6),
       meter=st.integers(1, 7), u=st.floats(0.0, 0.999999))
def test_kernel_equals_reference(degree, semis, root, quality, bass_pc, next_root, next_quality, low, span, prev,
                                 beat, meter, u):
    high = low + span
    prev = prev if prev < 0 else low + prev % (span + 1)
    note = both(degree, semis, root, quality, bass_pc, next_root, next_quality, prev, low, high, beat % meter,
                meter, u)
    assert note == -1 or low <= note <= high


def fit(pc, low, high, near):
    cands = [n for n in range(low, high + 1) if n % 12 == pc]
    return min(cands, key=lambda n: (abs(n - near), n))


def test_degrees_name_their_chord_tones_in_range():
    for root, quality, prev in itertools.product(range(12), range(NQ), (-1, LOW, 40, HIGH)):
        iv = [int(i) for i in QUALITY_INTERVALS[quality] if i >= 0]
        for degree, want in ((ROOT, 0), (DEGREE_CODES["third"], iv[1]), (DEGREE_CODES["fifth"], iv[2]),
                             (DEGREE_CODES["seventh"], iv[-1] if len(iv) > 3 else iv[2]), (SEMITONES, 10),
                             (OCTAVE, 0)):
            note = both(degree, 10, root, quality, -1, -1, -1, prev, LOW, HIGH, 1, 4, 0.5)
            assert LOW <= note <= HIGH and note % 12 == (root + want) % 12
        assert both(BASS, 0, root, quality, (root + 4) % 12, -1, -1, prev, LOW, HIGH, 0, 4, 0.5) % 12 == (root + 4) % 12


def test_approach_notes_are_a_semitone_from_the_next_root():
    for root, nxt, prev, u in itertools.product(range(12), range(12), (-1, LOW, 36, 44, HIGH), (0.1, 0.9)):
        note = both(APPROACH, 0, root, 0, -1, nxt, 1, prev, LOW, HIGH, 3, 4, u)
        assert LOW <= note <= HIGH
        assert (note - nxt) % 12 in (1, 11), (root, nxt, prev, note)
        # the side the draw asks for, unless the range ends there
        target = [n for n in (note - 1, note + 1) if n % 12 == nxt][0]
        if LOW < target < HIGH and prev not in (target - 1, target + 1):
            assert note == (target - 1 if u < 0.5 else target + 1)
        # a scale approach: a step of 1-2 semitones onto the root, from the next chord's scale
        sc = both(SCALE_APPROACH, 0, root, 0, -1, nxt, 1, prev, LOW, HIGH, 3, 4, u)
        assert LOW <= sc <= HIGH and 1 <= abs(sc - fit(nxt, LOW, HIGH, sc)) <= 2
        assert (sc - nxt) % 12 in {int(i) for i in WALK_SCALES[1] if i >= 0}


def walk(bars, rng, *, meter=4, known=True, pattern=("bass", "walk", "walk", "walk")):
    """A walking line over a random progression; returns (notes by bar and beat, chords)."""
    chords = [(int(rng.integers(12)), int(rng.choice([0, 1, 6, 7, 8, 9]))) for _ in range(bars + 1)]
    prev, line = -1, []
    for bar in range(bars):
        (root, q), (nroot, nq) = chords[bar], chords[bar + 1]
        row = []
        for beat in range(meter):
            code = DEGREE_CODES[pattern[beat % len(pattern)]]
            args = (code, 0, root, q, -1, nroot if known else -1, nq if known else -1, prev, LOW, HIGH, beat,
                    meter, float(rng.random()))
            prev = both(*args)
            row.append(prev)
        line.append(row)
    return np.array(line), chords


def test_a_walk_lands_on_the_root_on_the_downbeat_and_approaches_it_chromatically():
    rng = np.random.default_rng(1)
    for meter, pattern in ((4, ("walk",)), (3, ("walk",)), (4, ("bass", "walk", "walk", "approach"))):
        line, chords = walk(60, rng, meter=meter, pattern=pattern)
        for bar, row in enumerate(line):
            assert row[0] % 12 == chords[bar][0]
            assert abs(int(row[-1]) - int(line[bar + 1][0])) == 1 if bar + 1 < len(line) else True
            for a, b in zip(row[:-1], row[1:], strict=True):  # a walk moves, but where the range ends
                assert 1 <= abs(int(b) - int(a)) <= 12 or not LOW + 1 < a < HIGH - 1


def test_a_walk_does_not_drift_over_200_bars():
    mid = (LOW + HIGH) / 2
    for seed, known in itertools.product(range(6), (True, False)):
        line, _ = walk(200, np.random.default_rng(seed), known=known)
        assert line.min() >= LOW and line.max() <= HIGH
        means = line.reshape(10, -1).mean(axis=1)  # 20 bars at a time
        # it wanders (a random progression), but no 20 bars sit a third of the range away from
        # the middle, and over the song it stays centred
        assert np.abs(means - mid).max() <= (HIGH - LOW) / 3, (seed, known, means)
        assert abs(line.mean() - mid) <= (HIGH - LOW) / 4, (seed, known, line.mean())
        # it uses the range rather than sitting in one spot
        assert line.max() - line.min() >= 12


def test_walk_stays_inside_a_narrow_range():
    rng = np.random.default_rng(3)
    prev = -1
    for i in range(800):
        prev = both(WALK, 0, int(rng.integers(12)), int(rng.integers(NQ)), -1, int(rng.integers(-1, 12)), 0, prev,
                    40, 53, i % 4, 4, float(rng.random()))
        assert 40 <= prev <= 53
