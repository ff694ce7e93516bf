"""kernels.memory (recall) and the decoder's memory of the tune: the kernel against its numpy
reference, what a match means, and a band that plays the changes a melody needs the
second time round, on the step the note begins, having heard only the first time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.memory import melody_token, recall, recall_ref, recall_votes, recall_votes_ref


def test_tokens_tell_rests_pitch_classes_and_onsets_apart():
    toks = {melody_token(pc, on) for pc in range(-1, 12) for on in (0, 1) if pc >= 0} | {melody_token(-1, 1)}
    assert len(toks) == 25 and melody_token(-1, 0) == melody_token(-1, 1) == 0


@settings(max_examples=400, deadline=None)
@given(seq=st.lists(st.integers(0, 3), min_size=1, max_size=120), spb=st.sampled_from([2, 3, 4, 8]),
       min_len=st.integers(1, 10), max_len=st.integers(1, 40), data=st.data())
def test_kernel_equals_reference(seq, spb, min_len, max_len, data):
    """A 4-token alphabet, so that passages repeat and matches of every length occur."""
    tok = np.array(seq + [0], np.int64)
    pos = np.arange(len(tok), dtype=np.int64) % spb
    n = data.draw(st.integers(0, len(seq)))
    got = recall(tok, pos, n, min_len, max_len)
    want = recall_ref(tok, pos, n, min_len, max_len)
    assert (int(got[0]), int(got[1])) == want


@settings(max_examples=300, deadline=None)
@given(seq=st.lists(st.integers(0, 2), min_size=2, max_size=80), min_len=st.integers(1, 6))
def test_a_match_is_an_earlier_passage_at_the_same_place_in_the_bar(seq, min_len):
    tok = np.array(seq + [0], np.int64)
    pos = np.arange(len(tok), dtype=np.int64) % 4
    n = len(seq)
    j, length = recall(tok, pos, n, min_len, 64)
    if j < 0:
        assert length == 0
        return
    assert 0 < j < n and length >= min_len and pos[j] == pos[n]
    assert (tok[j - length:j] == tok[n - length:n]).all()
    # the longest: no earlier same-position passage matches one step more
    for k in range(min_len, n):
        if pos[k] == pos[n] and k > length:
            assert not (tok[k - length - 1:k] == tok[n - length - 1:n]).all()


def test_what_is_not_heard_yet_is_never_read():
    """The step being forecast (n) and everything after it may hold anything."""
    rng = np.random.default_rng(3)
    tok = rng.integers(0, 3, 64)
    pos = np.arange(64) % 4
    for n in range(1, 60):
        a = recall(tok, pos, n, 2, 16)
        scrambled = tok.copy()
        scrambled[n:] = rng.integers(0, 3, 64 - n)
        assert recall(scrambled, pos, n, 2, 16) == a


def test_a_tune_that_never_repeats_recalls_nothing():
    tok = np.arange(1, 65, dtype=np.int64)
    pos = np.arange(65) % 8
    assert recall(tok, pos, 64, 4, 64) == (-1, 0)


@settings(max_examples=400, deadline=None)
@given(seq=st.lists(st.integers(0, 3), min_size=1, max_size=120), spb=st.sampled_from([2, 3, 4, 8]),
       min_len=st.integers(1, 10), max_len=st.integers(1, 40), span=st.integers(1, 4),
       power=st.sampled_from([0.0, 1.0, 2.0, 3.5]), data=st.data())
def test_votes_kernel_equals_reference(seq, spb, min_len, max_len, span, power, data):
    tok = np.array(seq + [0], np.int64)
    pos = np.arange(len(tok), dtype=np.int64) % spb
    n = data.draw(st.integers(0, len(seq)))
    got, want = np.full(12, 7.0, np.float32), np.full(12, 7.0, np.float32)  # stale values are cleared
    assert recall_votes(tok, pos, n, min_len, max_len, span, power, got) == \
        recall_votes_ref(tok, pos, n, min_len, max_len, span, power, want)
    np.testing.assert_allclose(got, want, rtol=1e-6)  # float32 sums in another order: measured 0 here


def test_every_earlier_match_votes_for_what_followed_it():
    """A phrase that went on to D once and to E once (a first and a second ending):
    both are forecast, the longer match weighing more; the longest-match recall sees one."""
    C, D, E, G = (melody_token(pc, 1) for pc in (0, 2, 4, 7))
    tok = np.array([D, G, C, C, D, E, G, C, C, E, E, G, C, C, 0], np.int64)
    pos = np.zeros(len(tok), np.int64)  # every step at the same place, so every match counts
    n = 14  # heard: ... E G C C
    out = np.zeros(12, np.float32)
    assert recall_votes(tok, pos, n, 2, 64, 1, 1.0, out) == 2
    # G C C then D at step 4 (a match of 3), E G C C then E at step 9 (a match of 4)
    assert out[2] == 3.0 and out[4] == 4.0 and out.sum() == 7.0
    j, length = recall(tok, pos, n, 2, 64)
    assert (j, length) == (9, 4), "the longest match alone forecasts the E only"


def test_votes_never_read_what_is_not_heard():
    rng = np.random.default_rng(5)
    tok = rng.integers(0, 5, 80)
    pos = np.arange(80) % 2  # a match two steps back, and a span of 4 that would reach past n
    for n in range(1, 76):
        a, b = np.zeros(12, np.float32), np.zeros(12, np.float32)
        va = recall_votes(tok, pos, n, 2, 16, 4, 2.0, a)
        scrambled = tok.copy()
        scrambled[n:] = rng.integers(1, 5, 80 - n)
        assert recall_votes(scrambled, pos, n, 2, 16, 4, 2.0, b) == va
        assert (a == b).all()


# --- the decoder --------------------------------------------------------------------


class FlatRuntime:
    """A model with no opinion: every chord and every next note equally likely, so only
    what the decoder remembers can move the band."""

    batch, layers, hidden, has_ahead = 1, 1, 1, False

    def __init__(self) -> None:
        from live.model import INPUTS

        self.feeds = {n: np.zeros(1, np.int64) for n in INPUTS[:-1]}

    def feeds_for(self, batch):
        return self.feeds

    def zero_state(self, batch=None):
        return np.zeros((1, 1, 1), np.float32)

    def step(self, h, feeds=None):
        return [np.zeros((1, 157), np.float32), np.zeros((1, 13), np.float32), np.zeros((1, 13), np.float32), h]


# Two bars: C E G E | F# F# A A (quarter notes, eighth steps)
TUNE = [0, 0, 4, 4, 7, 7, 4, 4, 6, 6, 6, 6, 9, 9, 9, 9]
ONS = [1, 0] * 8


def play(melody, onsets, **policy):
    from live.model import ChordDecoder

    dec = ChordDecoder(FlatRuntime(), 0, **policy)
    out, recalled = [], []
    for t in range(len(melody)):
        c, _, _, h = dec.propose(melody[t - 1] if t else -1, onsets[t - 1] if t else 0, t % 8)
        # the match's step j; with recall_votes, -2 where passages voted
        recalled.append(dec.recalled[0] if dec.recalled[0] >= 0 or dec.recalled[1] == 0 else -2)
        dec.commit(c, h)
        out.append(c)
    return out, recalled


@pytest.mark.parametrize("votes", [None, 2.0])
def test_the_second_time_round_the_band_changes_on_the_note_not_after_it(votes):
    """The longest match (``recall_votes`` None) or every match voting."""
    from live.model import CHORD_TONES

    policy = dict(stay=1.0, stay_offbeat=0.0, fit=20.0, recall=0.9, recall_min=4, recall_span=2, recall_votes=votes)
    first, _ = play(TUNE, ONS, **policy)
    assert len(set(first)) == 1, "with no opinion and nothing remembered, the band keeps its chord"
    chords, recalled = play(TUNE * 3, ONS * 3, **policy)
    assert chords[:16] == first
    # bar 2 of the second pass: the F# begins at step 24; its chord was chosen before
    # the F# of step 24 was heard, from the first pass
    assert recalled[24] == (8 if votes is None else -2)
    assert CHORD_TONES[chords[24], 6], f"step 24 plays class {chords[24]} (no F#)"
    assert chords[23] != chords[24] or CHORD_TONES[chords[23], 6]
    # and the tune's first bar, when it comes round, gets a chord that holds C, E and G
    assert all(CHORD_TONES[chords[t], TUNE[t % 16]] for t in range(32, 40))


def test_recall_off_is_the_policy_before_it():
    off, recalled = play(TUNE * 3, ONS * 3, stay=1.0, stay_offbeat=0.0, fit=20.0, recall=0.0)
    assert len(set(off)) == 1 and set(recalled) == {-1}


def test_a_long_jam_keeps_recalling_past_the_memory_window():
    """The window drops its older half when full; the band goes on recalling, and a
    decision after the drop equals the same phase's decision before it."""
    from live.model import RECALL_STEPS

    reps = RECALL_STEPS // 16 * 2 + 3
    policy = dict(stay=1.0, stay_offbeat=0.0, fit=20.0, recall=0.9, recall_min=4, recall_span=2)
    chords, recalled = play(TUNE * reps, ONS * reps, **policy)
    T = len(chords)
    assert T > 2 * RECALL_STEPS
    assert all(j >= 0 for j in recalled[RECALL_STEPS - 8:])
    late = chords[T - 32:T - 16]
    assert late == chords[RECALL_STEPS - 16 * 3:RECALL_STEPS - 16 * 2]


def test_a_larger_margin_where_the_band_remembers_keeps_it_from_chasing_the_tune():
    """``stay_recalled`` adds to the margin only on steps the remembered melody forecast:
    enough of it and the second pass keeps the chord it has; the first pass, which
    remembers nothing, is the same with or without it."""
    policy = dict(stay=1.0, stay_offbeat=0.0, fit=20.0, recall=0.9, recall_min=4, recall_span=2, recall_votes=2.0)
    chasing, recalled = play(TUNE * 3, ONS * 3, **policy)
    calm, _ = play(TUNE * 3, ONS * 3, stay_recalled=1e3, **policy)
    some, _ = play(TUNE * 3, ONS * 3, stay_recalled=5.0, **policy)
    assert calm[:16] == chasing[:16] == some[:16]
    changes = [sum(a != b for a, b in zip(c[16:], c[17:], strict=False)) for c in (chasing, some, calm)]
    assert changes[0] > 0 and changes[2] == 0, changes
    assert changes[0] >= changes[1] >= changes[2]
    assert any(j != -1 for j in recalled[16:]), "nothing was recalled: the test tests nothing"
