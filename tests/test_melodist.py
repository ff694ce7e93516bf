"""The model's melody head as a melodic voice (live/melodist.py): it hears the phrase,
continues it in its key, reproducibly, on the rhythm it is given; and the duet and the
studio's call-and-response answer with it, falling back to rule variations without it."""

from __future__ import annotations

import numpy as np
import pytest

from live.accompanist import PartInfo, RuleAccompanist, chord_tones
from live.duet import (AnswerPlan, DuetAccompanist, Note, Phrase, heard_steps, model_plan, plan_rhythm,
                       strong_beat, vary)
from live.engine import Engine
from live.melodist import HOLD, MAX_HEARD, ONSET, REST, Melodist, load_melodist, nearest_pitch
from live.midifile import note_spans
from live.model import ModelRuntime
from live.modes import band_setup
from live.rig import load_rig_text

from enginetools import assert_every_note_ends, perf_from, play  # noqa: E402 (tests/)

MAJOR = (0, 2, 4, 5, 7, 9, 11)
ODE = [4, 4, 5, 7, 7, 5, 4, 2, 0, 0, 2, 4, 4, 2, 2, 2]  # Ode to Joy in C, quarter notes


@pytest.fixture(scope="module")
def runtime():
    return ModelRuntime(batch=8)


def steps_of(pcs, shift=0):
    """Quarter notes as eighth-note steps: (pitch classes, onset flags)."""
    pc, on = [], []
    for p in pcs:
        pc += [(p + shift) % 12] * 2
        on += [1, 0]
    return np.array(pc), np.array(on)


QUARTERS = np.array([ONSET, HOLD] * 8)  # two bars of quarter notes


def test_the_same_seed_gives_the_same_answer_and_other_seeds_other_answers(runtime):
    pc, on = steps_of(ODE)
    m = Melodist(runtime, style=0, seed=0)
    answers = []
    for seed in (5, 5, 6, 7, 8):
        m.reseed(seed)
        answers.append(tuple(m.continue_steps(pc, on, 0, 8, QUARTERS)))
    assert answers[0] == answers[1]
    assert len(set(answers[1:])) >= 3, answers


def test_notes_begin_exactly_where_the_rhythm_says(runtime):
    pc, on = steps_of(ODE)
    rhythm = np.array([ONSET, HOLD, REST, REST, ONSET, ONSET, ONSET, HOLD])
    out = Melodist(runtime, seed=1).continue_steps(pc, on, 0, 8, rhythm)
    assert ((out >= 0) == (rhythm == ONSET)).all(), out
    assert out[rhythm == ONSET].max() < 12


def test_the_model_listens_it_answers_in_the_key_of_the_phrase(runtime):
    """No key mask: the answer keeps to the phrase's key because the model heard it. The
    same phrase in C and in F# gives answers in C and in F# (a model that did not hear
    the phrase would answer both in the same notes)."""
    m = Melodist(runtime, style=1, seed=0)
    for shift in (0, 6):
        pc, on = steps_of(ODE, shift)
        scale = {(shift + d) % 12 for d in MAJOR}
        inside = total = 0
        for seed in range(6):
            m.reseed(seed)
            out = m.continue_steps(pc, on, 0, 8, QUARTERS)
            notes = out[out >= 0]
            inside += sum(int(p) in scale for p in notes)
            total += len(notes)
        assert inside / total >= 0.85, (shift, inside, total)


def test_the_key_mask_keeps_every_note_in_the_key(runtime):
    pc, on = steps_of(ODE, 3)  # Eb major, but asked for A minor: the mask wins
    m = Melodist(runtime, seed=0, temperature=1.5, top_p=1.0, min_p=0.0)
    minor = {(9 + d) % 12 for d in (0, 2, 3, 5, 7, 8, 9, 10, 11)}
    for seed in range(4):
        m.reseed(seed)
        out = m.continue_steps(pc, on, 0, 8, QUARTERS, key=(9, 1))
        assert set(out[out >= 0].tolist()) <= minor


def test_only_the_last_steps_are_heard_so_an_answer_costs_the_same_after_a_long_phrase(runtime):
    pc, on = steps_of(ODE * 8)  # 256 steps
    m = Melodist(runtime, seed=0)
    m.reseed(3)
    a = m.continue_steps(pc, on, 0, 8, QUARTERS)
    steps = m.steps
    m.reseed(3)
    cut = len(pc) - MAX_HEARD
    b = m.continue_steps(pc[cut:], on[cut:], cut % 8, 8, QUARTERS)
    assert (a == b).all() and steps == m.steps == MAX_HEARD + len(QUARTERS)


def test_bad_settings_are_refused(runtime):
    with pytest.raises(ValueError, match="rollouts >= 1"):
        Melodist(runtime, rollouts=0)


def test_nearest_pitch():
    assert nearest_pitch(0, 65, 48, 84) == 60
    assert nearest_pitch(6, 60, 48, 84) == 66  # a tritone either way: upward
    assert nearest_pitch(11, 50, 55, 70) == 59


# --- the duet's answers ---------------------------------------------------------------------


def phrase_of(pitches):
    notes = tuple(Note(i, i + 0.9, p, 90) for i, p in enumerate(pitches))
    return Phrase(notes, 0.0, len(pitches), 2, len(pitches) + 1.0, "rest")


def test_heard_steps_and_the_rhythm_of_a_plan():
    p = Phrase((Note(1.0, 1.5, 64, 90), Note(1.5, 3.0, 67, 90)), 1.0, 2.0, 1, 4.0, "rest")
    pc, on, pos0 = heard_steps(p, 5.0, 4)
    assert pos0 == 0 and len(pc) == 10
    assert pc.tolist() == [-1, -1, 4, 7, 7, 7, -1, -1, -1, -1]
    assert on.tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    plan = AnswerPlan((0.0, 0.5, 0.75, 2.0), (0.5, 0.25, 1.0, 1.0), (90,) * 4, (60, 62, 64, 65), 1, "kept", "kept")
    assert plan_rhythm(plan).tolist() == [ONSET, ONSET, HOLD, HOLD, ONSET, HOLD]


def test_a_model_plan_keeps_the_rhythm_and_writes_the_pitches(runtime):
    phrase = phrase_of([72, 76, 79, 76, 77, 74, 71, 72])
    rule = vary(phrase, 4, seed=2)
    m = Melodist(runtime, seed=0)
    m.reseed(2)
    plan = model_plan(rule, phrase, 9.0, 4, m, (0, 0))
    assert plan.onsets == rule.onsets and plan.durations == rule.durations and plan.contour == "model"
    assert all(71 - 7 <= t <= 79 + 7 for t in plan.targets)
    assert plan.targets != rule.targets
    major = {0, 2, 4, 5, 7, 9, 11}
    assert all(t % 12 in major for t in plan.targets)
    m.reseed(2)
    assert model_plan(rule, phrase, 9.0, 4, m, (0, 0)) == plan


class Broken:
    def reseed(self, seed):
        pass

    def continue_steps(self, *a, **k):
        raise RuntimeError("the model fell over")


SR, BLOCK = 48000, 64
B = 0.5
MELODY = [(i * B, i * B + 0.45, p, 90) for i, p in enumerate([72, 76, 79, 76, 77, 74, 71])] + [(3.5, 4.4, 72, 90)]


def duet_engine(melodist):
    rig = load_rig_text("mode: duet\nstyle: pop\ntempo: 120\naccompanist: rules\ninput: {split: 60}\n",
                        source="<test>")

    def make(infos):
        return DuetAccompanist(infos, RuleAccompanist(infos, seed=1), seed=1, melodist=melodist)

    return Engine(rig, sr=SR, block=BLOCK, parts=[None] * len(rig.band), musician_part=None, accompanist=make,
                  seed=1)


def lead_notes(eng, seconds=12.0):
    events = play(eng, seconds, perf_from(MELODY, seconds))
    return events, sorted((s, e, n) for tr, n, s, e, v in note_spans(events, SR) if tr == 3)


def test_the_duet_answers_with_the_models_melody_over_the_bands_chords(runtime):
    eng = duet_engine(Melodist(runtime, seed=1))
    events, lead = lead_notes(eng)
    duet = eng.planner.accompanist
    assert lead and duet.log.answers and duet.log.answers[0][2] == "model" and duet.model_errors == 0
    rule_eng = duet_engine(None)
    _, rule_lead = lead_notes(rule_eng)
    assert rule_eng.planner.accompanist.log.answers[0][2] in ("kept", "inverted")
    assert [s for s, _e, _n in lead] == [s for s, _e, _n in rule_lead]  # the rhythm is the phrase's
    assert [n for *_, n in lead] != [n for *_, n in rule_lead]  # the pitches are the model's
    t = eng.planner.transport
    for s, _e, n in lead:  # strong-beat notes are tones of the chord the band plays under them
        beat = t.beat_at(int(s * SR))
        if strong_beat(round(beat * 4) / 4, 4):
            chord = [c for _slot, f, c in eng.planner.chord_log if f <= s * SR + 1][-1]
            assert n % 12 in set(chord_tones(chord).tolist()), (beat, n, chord)
    assert eng.stats.late_events == 0
    assert_every_note_ends(events)


def test_a_failing_model_leaves_the_rule_answer_and_is_counted():
    eng = duet_engine(Broken())
    events, lead = lead_notes(eng)
    duet = eng.planner.accompanist
    assert lead and duet.model_errors >= 1 and duet.log.answers[0][2] in ("kept", "inverted")
    assert_every_note_ends(events)


def test_a_duet_rig_with_the_model_answers_with_it_and_without_it_says_so(tmp_path):
    msgs: list[str] = []
    setup = band_setup(load_rig_text("mode: duet\n", source="<t>"), messages=msgs)
    assert any("the model's melodies" in line for line in setup.lines) and not msgs
    infos = [PartInfo(0, "lead", 60, 84), PartInfo(1, "bass", 28, 55)]
    duet = setup.accompanist(infos)
    assert duet.melodist is not None and duet.melodist.rt is duet.inner.decoder.rt  # one model session, loaded once
    setup = band_setup(load_rig_text("mode: duet\naccompanist: rules\n", source="<t>"), messages=msgs)
    assert any("variations of them" in line for line in setup.lines)
    missing = tmp_path / "none.onnx"
    assert load_melodist(path=missing, messages=msgs) is None
    assert any("none.onnx" in m and "rule-based variations" in m for m in msgs)


# --- the studio's call and response -----------------------------------------------------------


def test_vary_answers_the_call_with_the_model_on_the_calls_rhythm(runtime):
    from live.studio.vary import TECHNIQUES, make_variations, prepare_idea, similarity

    from test_studio_vary import HIGH, LOW, ode

    idea, length = prepare_idea(ode(), 4)
    n = len(TECHNIQUES)
    by_model = {v.label: v for v in make_variations(idea, length, 4, n, seed=0, melodist=Melodist(runtime, seed=0))}
    by_rule = {v.label: v for v in make_variations(idea, length, 4, n, seed=0)}
    m, r = by_model["call-and-response"], by_rule["call-and-response"]
    assert "answered by the model" in m.what and "answered by the model" not in r.what
    assert [x.onset for x in m.notes] == [x.onset for x in r.notes]
    assert [x.pitch for x in m.notes] != [x.pitch for x in r.notes]
    assert LOW <= similarity(idea, m.notes)["total"] <= HIGH
    again = make_variations(idea, length, 4, n, seed=0, melodist=Melodist(runtime, seed=0))
    assert again[[v.label for v in again].index("call-and-response")].notes == m.notes
    for label in by_model:  # the other techniques do not use the model
        if label != "call-and-response":
            assert by_model[label].notes == by_rule[label].notes


def test_a_duet_over_the_models_band_answers_with_the_models_melody():
    """The whole duet as a rig sets it up with the model: the model plays the harmony and
    writes the answers; every note ends, nothing is late."""
    rig = load_rig_text("mode: duet\nstyle: pop\ntempo: 120\ninput: {split: 60}\n", source="<test>")
    setup = band_setup(rig, seed=1)
    eng = Engine(rig, sr=SR, block=BLOCK, parts=[None] * len(rig.band), musician_part=None,
                 accompanist=setup.accompanist, seed=1)
    setup.install(eng)
    duet = eng.planner.accompanist
    assert duet.name == "duet (model)"
    events, lead = lead_notes(eng)
    assert lead and [a[2] for a in duet.log.answers] == ["model"] and duet.model_errors == 0
    assert all(4.4 < s for s, _e, _n in lead)
    assert eng.stats.late_events == 0 and not eng.planner.stats.fallback
    assert_every_note_ends(events)


class Slow:
    """A melodist that answers, but slower than the duet's budget for an answer."""

    def __init__(self, runtime):
        self.inner = Melodist(runtime, seed=1)

    def reseed(self, seed):
        self.inner.reseed(seed)

    def continue_steps(self, *a, **k):
        import time

        time.sleep(0.02)
        return self.inner.continue_steps(*a, **k)


def test_a_model_too_slow_to_answer_hands_the_answers_to_the_rules_and_says_so(runtime):
    eng = duet_engine(Slow(runtime))
    events, lead = lead_notes(eng)
    duet = eng.planner.accompanist
    assert lead and duet.log.answers  # the duet answered all the same
    assert duet.melodist is None and duet.model_errors == 1
    assert any("took too long to answer" in m for m in eng.planner.stats.messages)
    assert not eng.planner.stats.fallback  # the duet goes on; the band is not replaced
    assert_every_note_ends(events)
