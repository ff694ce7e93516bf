"""Duet mode: phrase ends heard musically, answers that vary the phrase over the band's
chords, the lead voice yielding when the musician cuts in; the pure rules, the
accompanist driven slot by slot, and the engine block by block without a server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from live.accompanist import NO_CHORD, SLOTS_PER_BEAT, Chord, PartInfo, RuleAccompanist, SlotContext, chord_tones
from live.chart import parse_chord
from live.duet import (DuetAccompanist, Note, Phrase, answer_notes, answer_start, fit_pitch, phrase_end,
                       scale_of, strong_beat, transposition, vary)
from live.engine import Engine
from live.errors import RigError
from live.listener import Snapshot
from live.midifile import note_spans
from live.modes import band_setup
from live.rig import load_rig_text

from enginetools import assert_every_note_ends, perf_from, play  # noqa: E402 (tests/)

SR, BLOCK = 48000, 64
C_TONES = {0, 4, 7}


def quarters(pitches, start=0.0, length=0.9, vel=90):
    """A line of quarter notes from ``start`` (beats), each held ``length`` beats."""
    return [Note(start + i, start + i + length, p, vel) for i, p in enumerate(pitches)]


def c_major(_beat):
    return C_TONES


# --- phrase ends -----------------------------------------------------------------------


def test_a_bar_long_phrase_ends_after_a_beats_rest():
    notes = quarters([72, 76, 79, 72])  # the last note the tonic, released at 3.9
    assert phrase_end(notes, 4.5, 4, c_major, tonic=0) is None  # only 0.6 beats of rest
    p = phrase_end(notes, 5.0, 4, c_major, tonic=0)
    assert isinstance(p, Phrase) and p.reason == "rest" and p.bars == 1 and p.start == 0.0
    assert p.notes == tuple(notes) and p.heard == 5.0


def test_a_phrase_shorter_than_a_bar_is_no_phrase_even_after_a_long_rest():
    notes = quarters([72, 76, 79])
    for now in (4.0, 5.0, 8.0):
        assert phrase_end(notes, now, 4, c_major, tonic=0) is None


def test_a_rest_far_from_the_bar_line_after_a_passing_note_is_a_breath_not_an_end():
    # six quarter notes, the last (F#, no chord tone, not the tonic) on beat 3 of bar 2
    notes = quarters([72, 74, 76, 77, 79, 78, 78], length=0.5)[:6]
    notes = notes[:5] + [Note(6.0, 6.5, 78, 90)]
    assert phrase_end(notes, 7.5, 4, c_major, tonic=0) is None  # a beat of rest: a breath
    assert phrase_end(notes, 9.5, 4, c_major, tonic=0) is None
    p = phrase_end(notes, 10.5, 4, c_major, tonic=0)  # a whole bar of rest ends it anyway
    assert p is not None and p.reason == "long rest" and p.bars == 2
    # the same phrase closing on a chord tone is over after a beat's rest
    cadence = notes[:5] + [Note(6.0, 6.5, 79, 90)]
    p = phrase_end(cadence, 7.5, 4, c_major, tonic=0)
    assert p is not None and p.reason == "rest"
    # ... and one whose last note lands on a bar line too
    near = notes[:5] + [Note(7.75, 8.0, 78, 90)]
    assert phrase_end(near, 9.0, 4, c_major, tonic=0) is not None


def test_a_long_note_near_the_bar_line_ends_a_phrase_while_it_is_held():
    notes = quarters([72, 74, 76, 77]) + [Note(4.0, math.inf, 79, 90)]
    assert phrase_end(notes, 5.0, 4, c_major) is None
    p = phrase_end(notes, 6.0, 4, c_major)
    assert p is not None and p.reason == "long note" and p.bars == 2  # 4 beats + 2 of the long note


def test_a_bar_of_silence_separates_phrases():
    old = quarters([60, 62])
    new = quarters([72, 76, 79, 72], start=8.0)
    p = phrase_end(old + new, 13.0, 4, c_major, tonic=0)
    assert p is not None and p.start == 8.0 and p.notes == tuple(new)


def test_notes_not_yet_played_are_not_heard():
    notes = quarters([72, 76, 79, 72])
    assert phrase_end(notes, 2.5, 4, c_major) is None


@pytest.mark.parametrize("heard, start", [(8.0, 8.0), (10.0, 10.0), (11.0, 12.0), (9.5, 10.0), (3.0, 4.0)])
def test_the_answer_starts_on_the_next_beat_or_the_next_downbeat(heard, start):
    assert answer_start(heard, 4) == start


def test_strong_beats():
    assert [b for b in range(8) if strong_beat(b, 4)] == [0, 2, 4, 6]
    assert [b for b in range(6) if strong_beat(b, 3)] == [0, 3]
    assert not strong_beat(0.5, 4)


# --- the variation -----------------------------------------------------------------------------


def phrase(pitches, bars=None, meter=4, start=0.0):
    notes = quarters(pitches, start=start)
    p = phrase_end(notes, notes[-1].end + 1.5, meter, c_major, tonic=0)
    assert p is not None
    return p


@pytest.mark.parametrize("n_notes, bars", [(4, 1), (8, 2), (12, 3), (16, 4), (24, 4)])
def test_the_answer_is_as_long_as_the_phrase_at_most_four_bars(n_notes, bars):
    p = phrase([72 + (i % 5) for i in range(n_notes)])
    assert p.bars == bars
    plan = vary(p, 4, seed=1)
    assert plan.bars == bars
    assert plan.onsets and min(plan.onsets) >= 0 and plan.length <= bars * 4 + 1e-9
    assert max(plan.onsets) >= (bars - 1) * 4  # it fills its last bar too


def test_a_long_phrase_is_answered_with_its_last_bars():
    pitches = [60 + i for i in range(24)]  # six bars rising a semitone a beat
    p = phrase(pitches)
    assert p.bars == 4
    plans = [vary(p, 4, seed=s) for s in range(20)]
    plain = [pl for pl in plans if pl.rhythm == "kept" and pl.contour == "kept"]
    assert plain and all(pl.targets[:2] == (68, 69) for pl in plain)  # bars 3..6 of the phrase


def test_variations_are_seeded_and_varied():
    notes = [Note(i * 0.5, i * 0.5 + 0.4, pch, 90) for i, pch in enumerate([72, 74, 76, 72, 79, 77])]
    notes.append(Note(3.0, 4.9, 76, 90))  # eighth notes to merge, a long note to split
    p = phrase_end(notes, 6.0, 4, c_major, tonic=0)
    assert vary(p, 4, seed=5) == vary(p, 4, seed=5)
    plans = [vary(p, 4, seed=s) for s in range(40)]
    assert {pl.contour for pl in plans} == {"kept", "inverted"}
    assert {pl.rhythm for pl in plans} == {"kept", "merged", "split"}


def test_contour_kept_or_inverted_and_transposed():
    p = phrase([72, 76, 79, 74])
    for seed in range(30):
        plan = vary(p, 4, seed=seed, transpose=5)
        if plan.rhythm != "kept":
            continue
        steps = [t - plan.targets[0] for t in plan.targets]
        want = [0, 4, 7, 2] if plan.contour == "kept" else [0, -4, -7, -2]
        assert steps == want and plan.targets[0] == 72 + 5
        assert plan.onsets == (0.0, 1.0, 2.0, 3.0) and plan.durations == (1.0, 1.0, 1.0, 1.0)


def test_an_off_beat_phrase_is_answered_off_the_beat():
    notes = [Note(0.5 + i, 1.3 + i, p, 90) for i, p in enumerate([72, 76, 79, 72])]
    p = phrase_end(notes, 5.5, 4, c_major, tonic=0)
    plan = vary(p, 4, seed=2)
    assert plan.onsets[0] == 0.5


def test_answer_notes_are_chord_tones_on_strong_beats_and_fit_the_range():
    changes = {0: parse_chord("C"), 1: parse_chord("Am7"), 2: parse_chord("Dm7"), 3: parse_chord("G7")}

    def chord_at(beat):
        return changes[int(beat // 4) % 4]

    rng = np.random.default_rng(0)
    for seed in range(25):
        pitches = [int(x) for x in rng.integers(55, 90, size=16)]
        notes = [Note(i * 0.5, i * 0.5 + 0.4, pch, 90) for i, pch in enumerate(pitches)]
        p = phrase_end(notes, 9.0, 4, c_major, tonic=0)
        assert p is not None
        plan = vary(p, 4, seed=seed, transpose=transposition(0, 9))
        played = answer_notes(plan, 16.0, chord_at, 4, 60, 84)
        assert played and all(60 <= n <= 84 for _, _, n, _ in played)
        for i, (beat, _dur, note, _vel) in enumerate(played):
            chord = chord_at(beat)
            if strong_beat(beat, 4) or i == len(played) - 1:
                assert note % 12 in set(chord_tones(chord).tolist()), (seed, beat, note, chord)
            else:
                assert note % 12 in set(scale_of(chord).tolist())


def test_fit_pitch_without_a_chord_uses_the_key_or_stays():
    assert fit_pitch(61, NO_CHORD, True, 48, 84, key=(0, 0)) in (60, 62)
    assert fit_pitch(61, NO_CHORD, True, 48, 84) == 61
    assert fit_pitch(24, Chord(0, 0), True, 60, 84) == 60  # folded up by octaves into the range
    assert fit_pitch(30, Chord(0, 0), True, 60, 84) == 67  # F# -> 66, and the nearest chord tone is G
    assert transposition(0, 7) == -5 and transposition(0, 5) == 5 and transposition(-1, 5) == 0


# --- the accompanist, slot by slot ----------------------------------------------------------------

FPB = 24000.0  # frames per beat: 120 bpm at 48 kHz
LEAD = 3


def snapshot(notes, frame):
    """The listener as the planner would see it at ``frame``: notes are (on, off) beats + pitch."""
    heard = [(int(on * FPB), int(off * FPB), p) for on, off, p in notes if on * FPB <= frame]
    onsets = np.array([[f, p, 90] for f, _, p in heard], np.int64).reshape(-1, 3)
    offs = np.array([off if off <= frame else -1 for _, off, _ in heard], np.int64)
    return Snapshot(version=len(heard), chord_zone=np.zeros(12), chord_bass=-1, melody_note=-1, onsets=onsets,
                    n_on=len(heard), last_onset_frame=heard[-1][0] if heard else -1, melody_min=60, offs=offs)


def drive(notes, slots, seed=0):
    """Decide and commit ``slots`` slots of a duet over the rule band: (events, cut slots)."""
    parts = [PartInfo(0, "bass", 28, 55), PartInfo(1, "comp", 52, 76), PartInfo(2, "drums", 35, 81),
             PartInfo(LEAD, "lead", 60, 84)]
    duet = DuetAccompanist(parts, RuleAccompanist(parts, seed=seed), seed=seed)
    events, cuts = [], []
    for slot in range(slots):
        frame = int(slot * FPB / SLOTS_PER_BEAT)
        ctx = SlotContext(slot=slot, meter=4, style="pop", swing=0.0, mode="duet", snapshot=snapshot(notes, frame),
                          key=(0, 0), frames_per_beat=FPB, frame=frame)
        d = duet.decide(ctx)
        duet.commit(d)
        events += [e for e in d.events if e.part == LEAD]
        if LEAD in d.cut_parts:
            cuts.append(slot)
    return duet, events, cuts


PHRASE = [(i, i + 0.9, p) for i, p in enumerate([72, 76, 79, 76, 77, 74, 71, 72])]  # two bars, home on C


def test_the_duet_answers_after_the_phrase_and_only_then():
    duet, events, cuts = drive(PHRASE, 24 * SLOTS_PER_BEAT)
    assert not cuts and len(duet.log.answers) == 1
    start, bars, _contour, _rhythm = duet.log.answers[0]
    assert start == 9.0  # the last note ends at 7.9: a beat's rest is heard on beat 9
    assert events and min(e.beat for e in events) >= 8.9  # nothing while the musician plays
    assert bars == 2 and max(e.beat + e.duration for e in events) <= start + 8 + 1e-6


def test_a_cut_in_withdraws_the_rest_of_the_answer():
    _, full, _ = drive(PHRASE, 24 * SLOTS_PER_BEAT)
    start = min(e.beat for e in full)
    cut_at = start + 2.3
    assert any(e.beat > cut_at + 0.25 for e in full), "nothing left to withdraw: a weak test"
    duet, events, cuts = drive(PHRASE + [(cut_at, cut_at + 0.5, 74)], 24 * SLOTS_PER_BEAT)
    # the first slot decided after the musician's note cuts the lead part
    assert cuts == [math.ceil(cut_at * SLOTS_PER_BEAT)]
    assert [e for e in events if e.beat >= cut_at] == []
    assert events == [e for e in full if e.beat < cut_at]
    assert duet.log.cuts == [pytest.approx(cut_at)]
    # and the musician's new phrase (a single note) is listened to afresh
    assert duet.state.plan is None and duet.state.listen_from <= cut_at


def test_the_band_keeps_time_under_the_duet():
    parts = [PartInfo(0, "bass", 28, 55), PartInfo(2, "drums", 35, 81), PartInfo(LEAD, "lead", 60, 84)]
    duet = DuetAccompanist(parts, RuleAccompanist(parts, seed=0), seed=0)
    drums = 0
    for slot in range(16 * SLOTS_PER_BEAT):
        frame = int(slot * FPB / SLOTS_PER_BEAT)
        ctx = SlotContext(slot=slot, meter=4, style="pop", swing=0.0, mode="duet",
                          snapshot=snapshot(PHRASE, frame), key=(0, 0), frames_per_beat=FPB, frame=frame)
        d = duet.decide(ctx)
        duet.commit(d)
        drums += sum(e.part == 2 for e in d.events)
    assert drums >= 16 * 2


# --- duet rigs ---------------------------------------------------------------------------------


def test_a_duet_rig_gets_a_lead_voice():
    rig = load_rig_text("mode: duet\n", source="<t>")
    lead = rig.part("lead")
    assert (lead.role, lead.instrument, lead.channel, lead.program, lead.low, lead.high) == ("lead", "lead", 5, 12,
                                                                                            60, 84)
    rig = load_rig_text("mode: duet\nband:\n  bass: {}\n  flute: {role: lead, program: 74, channel: 6}\n",
                        source="<t>")
    assert rig.part("flute").program == 74
    with pytest.raises(RigError, match="<t>:2 band must have an enabled part with role lead in mode duet"):
        load_rig_text("mode: duet\nband:\n  bass: {}\n  lead: {enabled: false}\n", source="<t>")


# --- the engine, block by block -------------------------------------------------------------------




def duet_engine(extra=""):
    rig = load_rig_text("mode: duet\nstyle: pop\ntempo: 120\naccompanist: rules\ninput: {split: 60}\n" + extra,
                        source="<test>")
    setup = band_setup(rig, seed=1)
    eng = Engine(rig, sr=SR, block=BLOCK, parts=[None] * len(rig.band), musician_part=None,
                 accompanist=setup.accompanist, seed=1)
    setup.install(eng)
    return eng


def run(eng, notes, seconds):
    return play(eng, seconds, perf_from(notes, seconds))


B = 0.5  # seconds per beat
MELODY = [(i * B, i * B + 0.45, p, 90) for i, p in enumerate([72, 76, 79, 76, 77, 74, 71])] + [(3.5, 4.4, 72, 90)]




def test_engine_duet_answers_a_phrase_over_the_bands_chords():
    eng = duet_engine()
    events = run(eng, MELODY, 12.0)
    spans = note_spans(events, SR)
    lead = sorted((s, e, n) for tr, n, s, e, v in spans if tr == 3)
    phrase_end_s = 4.4
    assert lead, "no answer"
    assert phrase_end_s + B * 0.9 <= lead[0][0] <= phrase_end_s + 2.5 * B  # on a beat after a beat's rest
    assert lead[-1][1] <= lead[0][0] + 2 * 4 * B + 0.05  # two bars, like the phrase
    # the band keeps time all along: drums in every bar
    drums = events[(events[:, 1] == 2) & (events[:, 2] == 0x90), 0] / SR
    assert all(((drums >= b * 2.0) & (drums < (b + 1) * 2.0)).any() for b in range(6))
    # strong-beat notes are tones of the chord the band plays under them
    t = eng.planner.transport
    log = eng.planner.chord_log
    for s, _e, n in lead:
        beat = t.beat_at(int(s * SR))
        if strong_beat(round(beat * 4) / 4, 4):
            chord = [c for _slot, f, c in log if f <= s * SR + 1][-1]
            assert n % 12 in set(chord_tones(chord).tolist()), (beat, n, chord)
    assert eng.stats.late_events == 0
    assert_every_note_ends(events)


def test_engine_duet_yields_within_a_beat_when_the_musician_cuts_in():
    eng = duet_engine()
    full = run(eng, MELODY, 12.0)
    lead_full = [(s, e) for tr, n, s, e, v in note_spans(full, SR) if tr == 3]
    cut = lead_full[0][0] + 1.15  # a second into the answer
    assert any(s > cut + B for s, e in lead_full), "nothing left to withdraw: a weak test"
    eng = duet_engine()
    events = run(eng, MELODY + [(cut, cut + 0.3, 79, 100)], 12.0)
    spans = note_spans(events, SR)
    lead = [(s, e) for tr, n, s, e, v in spans if tr == 3]
    assert lead and all(s < cut for s, e in lead), "a lead note started after the musician cut in"
    assert max(e for s, e in lead) <= cut + B, "a lead note kept sounding more than a beat after the cut-in"
    drums = events[(events[:, 1] == 2) & (events[:, 2] == 0x90), 0] / SR
    assert (drums > cut + 2.0).any(), "the band stopped with the lead"
    assert_every_note_ends(events)


def test_engine_duet_with_left_hand_chords_answers_without_doubled_or_hanging_notes():
    eng = duet_engine()
    left = [(0.0, 3.98, n, 80) for n in (48, 52, 55)] + [(4.0, 9.0, n, 80) for n in (41, 45, 48)]
    events = run(eng, MELODY + left, 10.0)
    lead = [(s, n) for tr, n, s, e, v in note_spans(events, SR) if tr == 3]
    assert lead and len(lead) == len(set(lead)), "a lead note was struck twice"
    assert eng.planner.stats.corrections >= 1  # the chords played on the beat were heard late and re-struck
    assert all(s >= 4.4 for s, _ in lead)
    assert_every_note_ends(events)


def test_engine_duet_over_a_chart_answers_on_the_charts_chords(tmp_path):
    chart = tmp_path / "tune.yaml"
    chart.write_text('tempo: 120\nstyle: pop\nchoruses: 4\nsections:\n  A: "| C | C | F | G7 |"\n')
    eng = duet_engine(f"chart: {chart}\n")
    assert eng.planner.accompanist.name == "duet (chart)"
    events = run(eng, MELODY, 12.0)
    spans = note_spans(events, SR)
    lead = [(s, n) for tr, n, s, e, v in spans if tr == 3]
    assert lead
    t = eng.planner.transport
    chords = {0: {0, 4, 7}, 1: {0, 4, 7}, 2: {5, 9, 0}, 3: {7, 11, 2, 5}}
    for s, n in lead:
        beat = round(t.beat_at(int(s * SR)) * 4) / 4
        if strong_beat(beat, 4):
            assert n % 12 in chords[int(beat // 4) % 4], (beat, n)
    assert_every_note_ends(events)
