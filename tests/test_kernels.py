"""Kernels: parity with the numpy references, and the musical expectations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels.choose import fit_scores, fit_scores_ref, melody_at, melody_at_ref, softmax_at, softmax_at_ref
from kernels.chords import (QUALITIES, QUALITY_INTERVALS, chord_pitch_classes,
                            chord_pitch_classes_ref, chord_recognize, chord_recognize_ref,
                            chord_symbol, parse_chord_symbol)
from kernels.key import key_estimate, key_estimate_ref, key_update, key_update_ref
from kernels.voicing import MAX_SPREAD, voice_chord, voice_chord_ref
from live.model import TRIAD_TONES

NQ = len(QUALITIES)
Q = {name: i for i, name in enumerate(QUALITIES)}


def held(*pcs):
    w = np.zeros(12)
    w[list(pcs)] = 1.0
    return w


def test_warmup_runs():
    kernels.warmup()
    assert set(kernels.__all__) <= set(dir(kernels))


# --- chords -----------------------------------------------------------------------------

def test_chord_recognize_parity_exhaustive():
    for mask in range(1, 4096):
        pcs = [pc for pc in range(12) if mask >> pc & 1]
        w = held(*pcs)
        for bass in pcs + [-1]:
            r, q, s = chord_recognize(w, bass)
            rr, qr, sr = chord_recognize_ref(w, bass)
            assert (r, q) == (rr, qr), (pcs, bass)
            assert s == pytest.approx(sr, abs=1e-12)


def test_chord_recognize_parity_random_weights():
    rng = np.random.default_rng(1234)
    for _ in range(5000):
        w = rng.exponential(size=12) * (rng.random(12) < rng.uniform(0.1, 0.9))
        nz = np.flatnonzero(w)
        bass = int(rng.choice(nz)) if len(nz) and rng.random() < 0.8 else -1
        r, q, s = chord_recognize(w, bass)
        rr, qr, sr = chord_recognize_ref(w, bass)
        assert (r, q) == (rr, qr)
        assert s == pytest.approx(sr, abs=1e-9)


def test_chord_recognize_nothing_held():
    assert chord_recognize(np.zeros(12), -1) == (-1, -1, 0.0)
    assert chord_recognize_ref(np.zeros(12), 3) == (-1, -1, 0.0)


@pytest.mark.parametrize("pcs, bass, expected", [
    ((0, 4, 7), 0, "C"),
    ((4, 7, 0), 4, "C/E"),                 # first inversion: root stays C
    ((7, 0, 4), 7, "C/G"),
    ((9, 0, 4), 9, "Am"),
    ((0, 4, 7, 9), 0, "C6"),
    ((0, 4, 7, 9), 9, "Am7"),
    ((0, 3, 6, 9), 0, "Cdim7"),
    ((0, 3, 6, 9), 6, "F#dim7"),           # symmetric: root = bass
    ((0, 3, 6, 9), 9, "Adim7"),
    ((0, 4, 8), 0, "Caug"),
    ((0, 4, 8), 8, "Abaug"),
    ((0,), 0, "C"),                        # single note -> major triad on it
    ((9,), -1, "A"),
    ((0, 7), 0, "C"),                      # power chord -> major
    ((0, 4, 7, 10), 0, "C7"),
    ((2, 5, 9, 0), 2, "Dm7"),
    ((11, 2, 5, 9), 11, "Bm7b5"),
    ((0, 5, 7), 0, "Csus4"),
    ((0, 2, 7), 0, "Csus2"),
    ((0, 4, 7, 11), 0, "Cmaj7"),
    ((0, 3, 6), 0, "Cdim"),
    ((0, 3, 7, 9), 0, "Cm6"),
    ((0, 4, 7, 2), 0, "C"),                # add9: extra tone does not change the triad
])
def test_chord_recognize_musical(pcs, bass, expected):
    r, q, s = chord_recognize(held(*pcs), bass)
    assert chord_symbol(r, q, bass) == expected
    assert s >= 0.0


def test_chord_recognize_single_note_scores_low():
    _, _, single = chord_recognize(held(0), 0)
    _, _, triad = chord_recognize(held(0, 4, 7), 0)
    assert single < 0.25 * triad


def test_chord_recognize_duration_weighting():
    # A passing B over a sustained C triad must not turn it into Cmaj7.
    w = held(0, 4, 7)
    w[11] = 0.1
    r, q, _ = chord_recognize(w, 0)
    assert (r, q) == (0, Q["maj"])
    w[11] = 0.5                            # ... but a B held half as long does
    r, q, _ = chord_recognize(w, 0)
    assert (r, q) == (0, Q["maj7"])


def test_chord_pitch_classes():
    out = np.empty(4, dtype=np.int64)
    ref = np.empty(4, dtype=np.int64)
    for r in range(12):
        for q in range(NQ):
            n = chord_pitch_classes(r, q, out)
            assert n == chord_pitch_classes_ref(r, q, ref)
            assert out.tolist() == ref.tolist()
    assert chord_pitch_classes(2, Q["min7"], out) == 4 and out.tolist() == [2, 5, 9, 0]
    assert chord_pitch_classes(7, Q["maj"], out) == 3 and out.tolist() == [7, 11, 2, -1]


def test_chord_symbol_examples():
    assert chord_symbol(0, Q["maj"]) == "C"
    assert chord_symbol(9, Q["min7"]) == "Am7"
    assert chord_symbol(6, Q["m7b5"]) == "F#m7b5"
    assert chord_symbol(0, Q["maj"], 4) == "C/E"
    assert chord_symbol(0, Q["maj"], 0) == "C"
    assert chord_symbol(10, Q["min6"], 1) == "Bbm6/C#"
    assert chord_symbol(-1, -1) == "N"
    with pytest.raises(ValueError):
        chord_symbol(12, 0)


def test_chord_symbol_round_trip():
    for r in range(12):
        for q in range(NQ):
            for bass in (-1, r, (r + 4) % 12, (r + 7) % 12, (r + 10) % 12, (r + 1) % 12):
                sym = chord_symbol(r, q, bass)
                assert parse_chord_symbol(sym) == (r, q, -1 if bass == r else bass), sym


@pytest.mark.parametrize("sym, expected", [
    ("Cmaj", (0, Q["maj"], -1)), ("Cmin", (0, Q["min"], -1)), ("C-7", (0, Q["min7"], -1)),
    ("CM7", (0, Q["maj7"], -1)), ("Cm7", (0, Q["min7"], -1)), ("Cm7b5", (0, Q["m7b5"], -1)),
    ("C°", (0, Q["dim"], -1)), ("C°7", (0, Q["dim7"], -1)), ("Cø", (0, Q["m7b5"], -1)),
    ("Db", (1, Q["maj"], -1)), ("A#", (10, Q["maj"], -1)), ("Gb7", (6, Q["7"], -1)),
    ("C+", (0, Q["aug"], -1)), ("Csus", (0, Q["sus4"], -1)), ("Cb", (11, Q["maj"], -1)),
    (" F#m/A ", (6, Q["min"], 9)), ("C/Bb", (0, Q["maj"], 10)),
    ("C:min7", (0, Q["min7"], -1)), ("Bb:maj/3", (10, Q["maj"], 2)),
    ("A:hdim7", (9, Q["m7b5"], -1)), ("G:7/b7", (7, Q["7"], 5)), ("C:maj6", (0, Q["6"], -1)),
    ("N", (-1, -1, -1)), ("N.C.", (-1, -1, -1)),
])
def test_parse_chord_symbol_forms(sym, expected):
    assert parse_chord_symbol(sym) == expected


@pytest.mark.parametrize("bad", ["", "H", "c", "Cfoo", "C/X", "C/", "Cmaj7/9#", "7", "C:m9",
                                 None, "Am7 b5"])
def test_parse_chord_symbol_rejects_garbage(bad):
    with pytest.raises(ValueError, match="chord symbol"):
        parse_chord_symbol(bad)


# --- key --------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 64, 65, 128, 8192])
def test_key_streaming_equals_one_shot(n):
    rng = np.random.default_rng(n)
    pcs = rng.integers(0, 12, n)
    weights = rng.uniform(0.1, 2.0, n)
    decay = 0.97
    state = np.zeros(12)
    ref_state = np.zeros(12)
    for pc, w in zip(pcs, weights, strict=False):
        key_update(state, pc, w, decay)
        key_update_ref(ref_state, pc, w, decay)
    one_shot = np.zeros(12)
    np.add.at(one_shot, pcs, weights * decay ** (n - 1 - np.arange(n)))
    np.testing.assert_allclose(state, one_shot, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(ref_state, one_shot, rtol=1e-12, atol=1e-300)


def test_key_estimate_parity():
    rng = np.random.default_rng(7)
    for _ in range(3000):
        s = rng.exponential(size=12) * (rng.random(12) < 0.7)
        t, m, c = key_estimate(s)
        tr, mr, cr = key_estimate_ref(s)
        assert (t, m) == (tr, mr)
        assert c == pytest.approx(cr, abs=1e-9)
        assert c >= 0.0


def test_key_estimate_no_information():
    assert key_estimate(np.zeros(12)) == (-1, -1, 0.0)
    assert key_estimate_ref(np.zeros(12)) == (-1, -1, 0.0)
    assert key_estimate(np.full(12, 3.0)) == (-1, -1, 0.0)   # chromatic: no key


# (pitch class, duration) melodies: scale runs with the tonic triad leaned on.
MELODIES = {
    (0, 0): [(0, 2), (2, 1), (4, 1), (5, 1), (7, 2), (9, 1), (11, 1), (0, 2), (7, 1), (4, 1),
             (0, 2)],                                                          # C major
    (9, 1): [(9, 2), (11, 1), (0, 1), (2, 1), (4, 2), (5, 1), (8, 1), (9, 2), (4, 1), (0, 1),
             (9, 2)],                                                          # A minor
    (3, 0): [(3, 2), (5, 1), (7, 1), (8, 1), (10, 2), (0, 1), (2, 1), (3, 2), (10, 1), (7, 1),
             (3, 2)],                                                          # Eb major
    (6, 1): [(6, 2), (8, 1), (9, 1), (11, 1), (1, 2), (2, 1), (5, 1), (6, 2), (1, 1), (9, 1),
             (6, 2)],                                                          # F# minor
}


@pytest.mark.parametrize("key", list(MELODIES))
def test_key_estimate_melodies(key):
    state = np.zeros(12)
    for pc, dur in MELODIES[key]:
        key_update(state, pc, float(dur), 0.95)
    tonic, mode, conf = key_estimate(state)
    assert (tonic, mode) == key
    assert conf > 0.0
    assert key_estimate_ref(state)[:2] == key


def test_key_estimate_plain_major_scale():
    state = np.zeros(12)
    for pc in (0, 2, 4, 5, 7, 9, 11, 0):
        key_update(state, pc, 1.0, 1.0)
    assert key_estimate(state)[:2] == (0, 0)


# --- voicing ----------------------------------------------------------------------------

LOW, HIGH = 52, 76
PREVS = {
    3: [[-1, -1, -1], [55, 60, 64], [59, 65, 71], [64, 67, 72], [40, 41, 90]],
    4: [[-1, -1, -1, -1], [52, 60, 64, 67], [60, 64, 67, 71], [55, 62, 65, 71],
        [70, 74, 77, 81]],
}


def _random_prevs(n, rng, k):
    return [sorted(rng.choice(np.arange(44, 84), n, replace=False).tolist()) for _ in range(k)]


@pytest.mark.parametrize("n", [3, 4])
def test_voice_chord_parity_and_rules(n):
    rng = np.random.default_rng(n)
    out = np.empty(n, dtype=np.int64)
    ref = np.empty(n, dtype=np.int64)
    for prev_list in PREVS[n] + _random_prevs(n, rng, 6):
        prev = np.array(prev_list, dtype=np.int64)
        for r in range(12):
            for q in range(NQ):
                cost = voice_chord(r, q, prev, LOW, HIGH, out)
                cost_ref = voice_chord_ref(r, q, prev, LOW, HIGH, ref)
                assert out.tolist() == ref.tolist(), (r, q, prev_list)
                assert cost == pytest.approx(cost_ref, abs=1e-9)
                _check_voicing(r, q, out)
                if prev[0] >= 0:
                    assert cost == np.abs(out - prev).sum() + _fifth_doubled(r, q, out)


def _fifth_doubled(r, q, v):
    ivs = [iv for iv in QUALITY_INTERVALS[q] if iv >= 0]
    return int(len(ivs) == 3 and sum((p - r) % 12 == ivs[2] for p in v) == 2)


def _check_voicing(r, q, v):
    notes = v.tolist()
    ivs = [int(iv) for iv in QUALITY_INTERVALS[q] if iv >= 0]
    rel = [(p - r) % 12 for p in notes]
    assert notes == sorted(set(notes)), notes                  # ascending, distinct
    assert LOW <= notes[0] and notes[-1] <= HIGH
    assert notes[-1] - notes[0] <= MAX_SPREAD
    assert all(x in ivs for x in rel), (notes, ivs)            # only chord tones
    assert rel.count(ivs[1]) == 1                              # 3rd / sus tone, once
    if len(ivs) == 4:
        assert rel.count(ivs[3]) == 1                          # 7th / 6th
    if len(ivs) == 3 or len(notes) == 4:
        assert 0 in rel                                        # root only optional rootless


def test_voice_chord_no_previous_centres():
    out = np.empty(4, dtype=np.int64)
    cost = voice_chord(0, Q["maj"], np.full(4, -1, dtype=np.int64), LOW, HIGH, out)
    assert cost == pytest.approx(abs(out.mean() - (LOW + HIGH) / 2))
    assert cost <= 1.5


def test_voice_chord_rootless_three_voices():
    # G7 in 3 voices over a C-major-ish previous voicing: the 3rd and 7th must both be there.
    out = np.empty(3, dtype=np.int64)
    voice_chord(7, Q["7"], np.array([60, 64, 67]), LOW, HIGH, out)
    rel = sorted((p - 7) % 12 for p in out)
    assert 4 in rel and 10 in rel


def test_voice_chord_too_narrow_range():
    out = np.empty(4, dtype=np.int64)
    cost = voice_chord(0, Q["maj7"], np.full(4, -1, dtype=np.int64), 60, 66, out)
    assert cost == np.inf and out.tolist() == [-1] * 4
    assert voice_chord_ref(0, Q["maj7"], np.full(4, -1), 60, 66, out) == np.inf


def test_voice_chord_rejects_bad_voice_count():
    with pytest.raises(ValueError):
        voice_chord(0, 0, np.full(5, -1, dtype=np.int64), LOW, HIGH, np.empty(5, dtype=np.int64))


def test_voice_leading_c_f_g7_c():
    # Bound: 7 semitones per change, i.e. less than every one of the 4 voices moving a whole
    # step. Measured: C->F 3 (F with the common tone C doubled), F->G7 5, G7->C 4.
    prev = np.full(4, -1, dtype=np.int64)
    out = np.empty(4, dtype=np.int64)
    moves = []
    for sym in ("C", "F", "G7", "C"):
        r, q, _ = parse_chord_symbol(sym)
        cost = voice_chord(r, q, prev, LOW, HIGH, out)
        if prev[0] >= 0:
            moves.append(int(np.abs(out - prev).sum()))
            assert cost == moves[-1] + _fifth_doubled(r, q, out)
        _check_voicing(r, q, out)
        prev = out.copy()
    assert max(moves) <= 7, moves
    assert moves == [3, 5, 4]


# --- chord detection: single finger, full keyboard ------------------------------------

from kernels.chorddetect import (keyboard_weights, keyboard_weights_ref,  # noqa: E402
                                 single_finger_chord, single_finger_chord_ref)


def keys(*notes):
    a = np.zeros(128, np.int8)
    a[list(notes)] = 1
    return a


def test_chord_detect_parity_random():
    rng = np.random.default_rng(77)
    out = np.zeros(12)
    for _ in range(4000):
        a = (rng.random(128) < rng.uniform(0.0, 0.12)).astype(np.int8)
        lo, hi = int(rng.integers(0, 60)), int(rng.integers(40, 129))
        assert single_finger_chord(a, lo, hi) == single_finger_chord_ref(a, lo, hi)
        bass = keyboard_weights(a, lo, hi, out)
        w, b = keyboard_weights_ref(a, lo, hi)
        assert bass == b
        np.testing.assert_array_equal(out, w)


@pytest.mark.parametrize("notes, expected", [
    ((48,), "C"),                 # one key: major
    ((46, 48), "Cm"),             # + a black key below: minor
    ((45, 48), "C7"),             # + a white key below: 7th
    ((45, 46, 48), "Cm7"),        # + a black and a white key below: m7
    ((40, 42, 48), "Cm7"),        # which keys below does not matter, only their colour
    ((36, 43), "G7"),             # the root is the highest key
    ((49, 54, 56), "Abm"),        # black root, black keys below
    ((), "N"),
    ((60,), "N"),                 # above the zone: nothing
])
def test_single_finger_rule(notes, expected):
    root, q = single_finger_chord(keys(*notes), 0, 60)
    assert chord_symbol(root, q) == expected


@pytest.mark.parametrize("notes, expected", [
    ((36, 64, 67, 72), "C"),                 # C in the bass, E G C in the right hand
    ((45, 60, 64, 67), "Am7"),               # A in the bass with C E G: Am7, not C6
    ((43, 59, 62, 65, 77), "G7"),            # G7 spread over the keyboard, F on top
    ((48, 55, 64, 67, 86), "C"),             # a D in the tune on top of a C chord counts half
    ((40, 60, 64, 67), "C/E"),               # first inversion: the lowest note is the bass
])
def test_full_keyboard_reads_the_whole_keyboard(notes, expected):
    out = np.zeros(12)
    bass = keyboard_weights(keys(*notes), 0, 128, out)
    root, q, _ = chord_recognize(out, bass)
    assert chord_symbol(root, q, bass) == expected


def test_full_keyboard_top_note_counts_half():
    out = np.zeros(12)
    keyboard_weights(keys(48, 52, 55, 74), 0, 128, out)  # D on top, a ninth above the chord
    assert out[2] == 0.5 and out[0] == out[4] == out[7] == 1.0
    keyboard_weights(keys(48, 52, 55, 57), 0, 128, out)  # A just above: part of the chord
    assert out[9] == 1.0


# --- the decoder's step (kernels.choose) ------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), ahead_w=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
       recall_w=st.sampled_from([0.0, 0.5, 0.95]), scale=st.sampled_from([0.1, 3.0, 30.0]),
       fit=st.sampled_from([0.0, 20.0, 72.0]))
def test_fit_scores_matches_its_reference(seed, ahead_w, recall_w, scale, fit):
    rng = np.random.default_rng(seed)
    mel = (rng.standard_normal(13) * scale).astype(np.float32)
    ahead = (rng.standard_normal(12) * scale).astype(np.float32)
    q = np.where(rng.random(12) < 0.3, rng.random(12), 0.0).astype(np.float32)
    total = float(q.sum()) if recall_w > 0 else 0.0
    tones = TRIAD_TONES  # the decoder's own table
    base = rng.standard_normal(157).astype(np.float32)
    got_p, want_p = np.zeros(12, np.float32), np.zeros(12, np.float32)
    got, want = base.copy(), base.copy()
    fit_scores(mel, ahead, ahead_w, q, total, recall_w, tones, fit, got_p, got)
    fit_scores_ref(mel, ahead, ahead_w, q, total, recall_w, tones, fit, want_p, want)
    np.testing.assert_allclose(got_p, want_p, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    # the forecast is a distribution whatever the mix
    assert abs(float(got_p.sum()) - 1.0) < 1e-5 and (got_p >= 0).all()


def test_fit_scores_musical():
    """A melody head sure of E, nothing else mixed in: C major and A minor (both hold E)
    gain ``fit``, G major (no E) gains nothing; a look-ahead weight of 1 replaces the
    head's forecast with the look-ahead's (sure of G: now G major and C major gain)."""
    tones = TRIAD_TONES  # the decoder's own table
    mel = np.full(13, -50.0, np.float32)
    mel[1 + 4] = 10.0  # E
    ahead = np.full(12, -50.0, np.float32)
    ahead[7] = 10.0  # G
    p = np.zeros(12, np.float32)
    C, Am, G = 0 * 13 + Q["maj"], 9 * 13 + Q["min"], 7 * 13 + Q["maj"]
    score = np.zeros(157, np.float32)
    fit_scores(mel, ahead, 0.0, np.zeros(12, np.float32), 0.0, 0.0, tones, 20.0, p, score)
    assert score[C] == pytest.approx(20.0) and score[Am] == pytest.approx(20.0) and score[G] == pytest.approx(0.0)
    score[:] = 0.0
    fit_scores(mel, ahead, 1.0, np.zeros(12, np.float32), 0.0, 0.0, tones, 20.0, p, score)
    assert score[G] == pytest.approx(20.0) and score[C] == pytest.approx(20.0) and score[Am] == pytest.approx(0.0)
    # the remembered melody, weight 1, sure of A: A minor gains, C major (no A) does not
    q = np.zeros(12, np.float32)
    q[9] = 2.0
    score[:] = 0.0
    fit_scores(mel, ahead, 0.0, q, 2.0, 1.0, tones, 20.0, p, score)
    assert score[Am] == pytest.approx(20.0) and score[C] == pytest.approx(0.0)


def _policy(rng, fit, votes, fix) -> np.ndarray:
    """A random ``decide_chord`` policy array: recall by votes or by the longest match, a fix
    margin or None (NaN), the look-ahead read or not."""
    from kernels import choose as k

    prm = np.full(k.POLICY_FIELDS, np.nan)
    prm[k.P_STAY], prm[k.P_STAY_OFFBEAT], prm[k.P_STAY_RECALLED] = rng.choice([0.0, 1.0, 2.0, 12.75], 3)
    prm[k.P_FIX] = rng.choice([0.0, 0.5]) if fix else np.nan
    prm[k.P_FIT], prm[k.P_AHEAD] = fit, rng.choice([0.0, 0.5])
    prm[k.P_RECALL], prm[k.P_RECALL_MIN], prm[k.P_RECALL_SPAN] = rng.choice([0.0, 0.95]), rng.integers(2, 7), \
        rng.integers(1, 4)
    prm[k.P_RECALL_VOTES] = 2.0 if votes else np.nan
    prm[k.P_RECALL_MAX] = 64
    return prm


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), fit=st.sampled_from([0.0, 20.0, 72.0]), votes=st.booleans(),
       fix=st.booleans(), fresh=st.booleans(), n=st.sampled_from([0, 1, 5, 40, 300]),
       scale=st.sampled_from([0.5, 5.0]))
def test_decide_chord_matches_its_reference(seed, fit, votes, fix, fresh, n, scale):
    """The decoder's fused choice (kernels.choose.decide_chord) against its parts' numpy
    references in turn: the same chord, bass note, match and tune memory, the same scores
    and forecast within float32 rounding, for either policy shape (votes or the longest
    match, a fix margin or none), a fresh step or one run before, a tune that repeats."""
    from kernels.choose import decide_chord, decide_chord_ref
    from live.model import CHORD_TONES

    rng = np.random.default_rng(seed)
    prm = _policy(rng, fit, votes, fix)
    chord = (rng.standard_normal((1, 157)) * scale).astype(np.float32)
    bass = rng.standard_normal((1, 13)).astype(np.float32)
    mel = (rng.standard_normal((1, 13)) * scale).astype(np.float32)
    ahead = rng.standard_normal(12).astype(np.float32)
    phrase = rng.integers(0, 25, 12)  # an eight-step tune played over and over, a few notes changed
    tok = np.zeros(2049, np.int64)
    tok[:n] = np.resize(phrase, n)
    tok[:n][rng.random(n) < 0.1] = rng.integers(0, 25)
    tok_pos = np.resize(np.arange(8), 2049).astype(np.int64)
    pos = int(rng.integers(0, 8))
    tok_pos[n] = -1  # forecast writes it
    prev = int(rng.choice([156, int(rng.integers(0, 156))]))
    prev_mel, prev_on = int(rng.integers(-1, 12)), int(rng.integers(0, 2))
    sides = []
    for fn in (decide_chord, decide_chord_ref):
        first, lp, score = np.zeros(157, np.float32), np.zeros((1, 157), np.float32), np.zeros((1, 157), np.float32)
        if not fresh:  # a step run before: its scores are in lp already
            lp[0] = np.log(np.full(157, 1 / 157, np.float32))
            first[:] = chord[0]
        args = [chord.copy(), bass, mel, ahead, fresh, first, lp, score, tok.copy(), tok_pos.copy(), n, pos,
                pos % 2, prev_mel, prev_on, prev, prm, TRIAD_TONES, CHORD_TONES, np.zeros(12, np.float32),
                np.zeros(12, np.float32)]
        out = fn(*args)
        sides.append((out, args))
    (got, ga), (want, wa) = sides
    assert (int(got[0]), int(got[1]), int(got[3]), int(got[4]), bool(got[5])) == \
        (int(want[0]), int(want[1]), int(want[3]), int(want[4]), bool(want[5]))
    assert got[2] == pytest.approx(want[2], rel=1e-6, abs=1e-9)
    np.testing.assert_array_equal(ga[8], wa[8])  # the tune's memory: the step heard recorded
    np.testing.assert_array_equal(ga[9], wa[9])
    if n > 0:
        assert ga[8][n - 1] == kernels.melody_token(prev_mel, prev_on)
    assert ga[9][n] == pos
    for i in (5, 6, 7, 19, 20):  # first, lp, score, p_mel, q_mel
        np.testing.assert_allclose(ga[i], wa[i], rtol=1e-5, atol=1e-4)


def test_decide_chord_stay_rule():
    """The chord sounding is kept unless the best beats it by the margin: 1.5 nats ahead
    changes at a stay of 1, not at 2, nor at 1 on an off-beat eighth with 1 more there; a
    fix margin of 0 changes to a chord that holds the clashing note just heard."""
    from kernels import choose as k
    from kernels.choose import decide_chord
    from live.model import CHORD_TONES

    C, G = 0 * 13 + Q["maj"], 7 * 13 + Q["maj"]

    def choose(stay, offbeat=0, fix=np.nan, prev_mel=-1):
        prm = np.full(k.POLICY_FIELDS, np.nan)
        prm[[k.P_STAY, k.P_STAY_OFFBEAT, k.P_STAY_RECALLED, k.P_FIT, k.P_RECALL]] = stay, 1.0, 0.0, 0.0, 0.0
        prm[k.P_FIX] = fix
        chord = np.full((1, 157), -20.0, np.float32)
        chord[0, G], chord[0, C] = 1.5, 0.0
        return decide_chord(chord, np.zeros((1, 13), np.float32), np.zeros((1, 13), np.float32),
                            np.zeros(12, np.float32), True, np.zeros(157, np.float32), np.zeros((1, 157), np.float32),
                            np.zeros((1, 157), np.float32), np.zeros(16, np.int64), np.zeros(16, np.int64), 0, 0,
                            offbeat, prev_mel, 1, C, prm, TRIAD_TONES, CHORD_TONES, np.zeros(12, np.float32),
                            np.zeros(12, np.float32))[0]

    assert choose(1.0) == G and choose(2.0) == C and choose(1.0, offbeat=1) == C
    assert choose(2.0, fix=0.0, prev_mel=11) == G  # B: in G major, not in C major
    assert choose(2.0, fix=0.0, prev_mel=7) == C  # G is in both: no clash, the stay rule


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([0.1, 5.0, 80.0]))
def test_softmax_at_matches_its_reference(seed, scale):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(157) * scale).astype(np.float32)
    c = int(rng.integers(0, 157))
    assert softmax_at(x, c) == pytest.approx(softmax_at_ref(x, c), rel=1e-6, abs=1e-12)
    assert sum(softmax_at(x, k) for k in range(157)) == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 12), melody_min=st.sampled_from([0, 60, 128]),
       start=st.integers(-12000, 60000))
def test_melody_at_matches_its_reference(seed, n, melody_min, start):
    """Onsets around the step, some on its edges (the slop), some released before or
    inside it, some still sounding, some below the split."""
    rng = np.random.default_rng(seed)
    step = 12000
    frames = np.sort(start + rng.choice([-step, -1300, -1200, -1, 0, 1, 1199, 1200, 5000, 10799, 10800, 11999],
                                        n) + rng.integers(-2, 3, n))
    notes = rng.integers(40, 90, n)
    onsets = np.stack([frames, notes, np.full(n, 90)], axis=1).astype(np.int64).reshape(-1, 3)
    offs = np.where(rng.random(n) < 0.5, -1, frames + rng.integers(0, 2 * step, n)).astype(np.int64)
    want = melody_at_ref(onsets, offs, melody_min, start, start + step)
    assert melody_at(onsets, offs, melody_min, start, start + step) == want


def test_melody_at_reads_a_step_as_the_training_data_does():
    step = 12000
    on = np.array([[0, 64, 90], [5000, 67, 90], [12000 - 1000, 72, 90], [13000, 48, 90]], np.int64)
    offs = np.array([6000, -1, -1, -1], np.int64)
    assert melody_at(on, offs, 60, 0, step) == (64 % 12, 1)  # E sounds at the start; G begins too
    assert melody_at(on, offs, 60, step, 2 * step) == (72 % 12, 1)  # C began in the slop before the step: on time
    assert melody_at(on, offs, 60, 6000, 6000 + step) == (67 % 12, 1)  # E released: G, top sounding
    assert melody_at(on, offs, 128, 0, step) == (-1, 0)  # nothing is melody
    assert melody_at(on[:0], offs[:0], 60, 0, step) == (-1, 0)


def test_melody_at_reads_a_note_played_a_little_late_under_a_held_one_as_on_time():
    """A musician plays legato, a step's note 40 ms late (1,920 frames at 48 kHz; an eighth at
    120 bpm is 12,000): the step's note is the late one, not the one it replaces (with a
    tenth of a step of slop, 1,200 frames, it was read as the old note, and the chord under
    it was chosen and corrected for the wrong note). Later than a quarter it is the next
    step's; early by as much, on time too."""
    step, late = 12000, 1920
    for off in (late, -late, step // 4 - 1):
        on = np.array([[0, 64, 90], [step + off, 67, 90]], np.int64)
        offs = np.array([step + off, -1], np.int64)  # legato: E ends as G begins
        assert melody_at(on, offs, 60, step, 2 * step) == (67 % 12, 1), off
        assert melody_at_ref(on, offs, 60, step, 2 * step) == (67 % 12, 1), off
        # the step before: E, which began at its start (a note a little early is the next step's)
        assert melody_at(on, offs, 60, 0, step) == (64 % 12, 1), off
    on = np.array([[0, 64, 90], [step + step // 4 + 1, 67, 90]], np.int64)
    offs = np.array([step + step // 4 + 1, -1], np.int64)
    assert melody_at(on, offs, 60, step, 2 * step) == (64 % 12, 1)  # over a quarter late: E at the start


# --- the listener's snapshot (kernels.listen) -------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_on=st.integers(0, 1000), horizon=st.sampled_from([0, 1, 64, 256]))
def test_ring_tail_matches_its_reference(seed, n_on, horizon):
    from kernels.listen import ring_tail, ring_tail_ref
    from live.listener import ONSET_CAPACITY

    rng = np.random.default_rng(seed)
    frame, off = rng.integers(0, 1 << 40, (2, ONSET_CAPACITY)).astype(np.int64)
    note, vel = rng.integers(0, 128, (2, ONSET_CAPACITY)).astype(np.int16)
    k = min(n_on, horizon, ONSET_CAPACITY)
    got, want = np.empty((k, 3), np.int64), np.empty((k, 3), np.int64)
    got_off, want_off = np.empty(k, np.int64), np.empty(k, np.int64)
    ring_tail(frame, note, vel, off, n_on, k, got, got_off)
    ring_tail_ref(frame, note, vel, off, n_on, k, want, want_off)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_off, want_off)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), split=st.sampled_from([-1, 0, 60, 127, 128]), all_chord=st.booleans(),
       density=st.sampled_from([0.0, 0.03, 0.3]))
def test_zone_summary_matches_its_reference(seed, split, all_chord, density):
    from kernels.listen import zone_summary, zone_summary_ref

    sounding = (np.random.default_rng(seed).random(128) < density).astype(np.int8)
    got, want = np.full(12, 7.0), np.full(12, 7.0)
    assert zone_summary(sounding, split, all_chord, got) == zone_summary_ref(sounding, split, all_chord, want)
    np.testing.assert_array_equal(got, want)


def test_the_snapshot_reads_the_ring_and_the_zones():
    from live.listener import ONSET_CAPACITY, Listener

    li = Listener(60, "lead")
    for i in range(ONSET_CAPACITY + 10):  # the ring wraps
        li.note_on(40 + i % 40, 1 + i % 120, 1000 * i)
        li.note_off(40 + i % 40, 1000 * i + 500)
    li.note_on(48, 90, 10**6)  # C in the chord zone
    li.note_on(52, 90, 10**6)  # E
    li.note_on(76, 90, 10**6 + 10)  # E in the melody zone
    snap = li.snapshot(horizon_onsets=5)
    assert snap.onsets[:, 0].tolist() == [1000 * (ONSET_CAPACITY + 8), 1000 * (ONSET_CAPACITY + 9), 10**6, 10**6,
                                          10**6 + 10]
    assert snap.onsets[-3:, 1].tolist() == [48, 52, 76]
    assert snap.offs.tolist() == [1000 * (ONSET_CAPACITY + 8) + 500, 1000 * (ONSET_CAPACITY + 9) + 500, -1, -1, -1]
    assert snap.chord_bass == 0 and snap.melody_note == 76
    assert snap.chord_zone.tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert snap.hands  # the left hand holds a chord
    li.note_off(48, 10**6 + 20)
    li.note_off(52, 10**6 + 20)
    assert not li.snapshot().hands and li.snapshot().melody_note == 76


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([1, 2, 13, 157]),
       special=st.sampled_from(["none", "ties", "-inf", "nan"]))
def test_argmax_matches_numpy(seed, n, special):
    from kernels.choose import argmax, argmax_ref

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(np.float32)
    if special == "ties":
        x = np.round(x).astype(np.float32)  # equal maxima: the first wins
    elif special == "-inf":
        x[rng.random(n) < 0.5] = -np.inf
    elif special == "nan":
        x[int(rng.integers(n))] = np.nan
    assert argmax(x) == argmax_ref(x)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([0.1, 5.0, 80.0]))
def test_chord_scores_matches_its_reference(seed, scale):
    from kernels.choose import chord_scores, chord_scores_ref

    x = (np.random.default_rng(seed).standard_normal((1, 157)) * scale).astype(np.float32)
    got, want = [x.copy(), np.zeros(157, np.float32), np.zeros((1, 157), np.float32),
                 np.zeros((1, 157), np.float32)], [x.copy(), np.zeros(157, np.float32),
                                                   np.zeros((1, 157), np.float32), np.zeros((1, 157), np.float32)]
    chord_scores(got[0], 156, *got[1:])
    chord_scores_ref(want[0], 156, *want[1:])
    np.testing.assert_array_equal(got[1], x[0])  # the logits as they came
    assert got[0][0, 156] == -np.inf and got[2][0, 156] == -np.inf
    np.testing.assert_allclose(got[2], want[2], rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(got[3], got[2])
    assert abs(float(np.exp(got[2][0, :156].astype(np.float64)).sum()) - 1.0) < 1e-5


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), slot=st.integers(-2**40, 2**40), part=st.integers(0, 64),
       block=st.integers(0, 1000), n=st.sampled_from([1, 7, 32]))
def test_stream_uniforms_matches_its_reference(seed, slot, part, block, n):
    """The band's keyed draws (live.accompanist): the numba kernel and numpy's uint64
    arithmetic give the same bits, every value in [0, 1), and block b of a stream is
    numbers b*n .. b*n+n-1 of it."""
    from kernels.draws import stream_uniforms, stream_uniforms_ref

    got, want = np.empty(n), np.empty(n)
    stream_uniforms(seed, slot, part, block, got)
    stream_uniforms_ref(seed, slot, part, block, want)
    np.testing.assert_array_equal(got, want)
    assert ((got >= 0.0) & (got < 1.0)).all()
    whole = np.empty(n * (block % 4 + 1))
    stream_uniforms(seed, slot, part, 0, whole)
    one = np.empty(n)
    stream_uniforms(seed, slot, part, block % 4, one)
    np.testing.assert_array_equal(one, whole[-n:])


def test_stream_uniforms_are_uniform_and_neighbouring_streams_unrelated():
    """Keyed by consecutive slots (as a take draws them) the streams look independent: the
    values fill [0, 1) evenly and one slot's draws do not follow its neighbour's."""
    from kernels.draws import stream_uniforms

    draws = np.empty((2000, 16))
    for slot in range(2000):
        stream_uniforms(0, slot, 2, 0, draws[slot])
    counts = np.histogram(draws, bins=20, range=(0.0, 1.0))[0]
    assert counts.min() > draws.size / 20 * 0.9 and counts.max() < draws.size / 20 * 1.1
    assert abs(np.corrcoef(draws[:-1].ravel(), draws[1:].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(draws[:, 0], draws[:, 1])[0, 1]) < 0.06
