"""The band's controls, played through the engine block by block (no sound server):
chord detection modes, style and mode switches, adventurousness and energy, stop and
start again, a setlist's program changes, and MIDI learn."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from kernels import chord_symbol
from live.accompanist import SLOTS_PER_BEAT
from live.engine import Engine
from live.errors import OutputExistsError, RigError
from live.midifile import Performance, note_spans
from live.rig import load_rig, load_rig_text
from live.riglearn import learn, listen, pressed, write_rig
from live.styles import open_style

from enginetools import assert_every_note_ends, play  # noqa: E402 (tests/)

SR, BLOCK = 48000, 64
BAR_S = 2.0  # 4/4 at 120 bpm

BASE = """
mode: {mode}
style: pop
tempo: 120
sync_start: false
band: {{bass: {{}}, keys: {{}}, drums: {{}}}}
input:
  split: {split}
"""


def engine(extra: str = "", mode: str = "chords", split: str = "60", seed: int = 1, path=None,
           detect: str = "fingered") -> Engine:
    if path is not None:
        rig = load_rig(path)
    else:
        rig = load_rig_text(BASE.format(mode=mode, split=split) + f"  chord_detect: {detect}\n" + extra,
                            source="<test>")
    n = len([p for p in rig.band if p.enabled])
    return Engine(rig, sr=SR, block=BLOCK, parts=[None] * n, musician_part=None, seed=seed)


def perf(messages, seconds: float) -> Performance:
    """(time s, message) -> a Performance (notes, CCs, program changes alike)."""
    messages = sorted(messages, key=lambda m: m[0])
    return Performance("<test>", np.array([t for t, _ in messages], float), [m for _, m in messages], 120.0, 4, 480,
                       seconds)


def hold(notes, t0: float, t1: float, vel: int = 80):
    return [(t0, (0x90, n, vel)) for n in notes] + [(t1, (0x80, n, 0)) for n in notes]


def chords_at(eng) -> list[str]:
    return [chord_symbol(c.root, c.quality, c.bass) for _slot, _frame, c in eng.planner.chord_log if c.root >= 0]


def band_ons(events, part: int | None = None) -> np.ndarray:
    band = (events[:, 1] >= 0) & (events[:, 2] == 0x90) & (events[:, 4] > 0)
    if part is not None:
        band &= events[:, 1] == part
    return events[band]


# --- chord detection ----------------------------------------------------------------------


def test_single_finger_chords_drive_the_band():
    # C alone, then Bb + C (minor), A + C (7th), A + Bb + C (m7): two bars each
    shapes = [(48,), (46, 48), (45, 48), (45, 46, 48)]
    msgs = []
    for i, keys in enumerate(shapes):
        msgs += hold(keys, i * 2 * BAR_S, (i + 1) * 2 * BAR_S - 0.05)
    eng = engine(detect="single_finger")
    events = play(eng, 8 * BAR_S + 0.5, perf(msgs, 8 * BAR_S))
    assert chords_at(eng) == ["C", "Cm", "C7", "Cm7"]
    spans = note_spans(events, SR)
    start = eng.planner.transport.anchor_frame / SR
    for i, want in enumerate(({0, 4, 7}, {0, 3, 7}, {0, 4, 7, 10}, {0, 3, 7, 10})):
        t0 = start + i * 2 * BAR_S
        comp = {n % 12 for tr, n, s, e, v in spans if tr == 1 and t0 + 0.6 <= s < t0 + 2 * BAR_S - 0.1}
        assert comp and comp <= want, f"bar {2 * i + 1}: the comp played {sorted(comp)} over {sorted(want)}"
    assert_every_note_ends(events)


def test_fingered_reads_the_same_keys_as_a_chord():
    msgs = hold((46, 48), 0, 2 * BAR_S - 0.05)  # Bb C: fingered, that is a C (a 7th without its third)
    eng = engine()
    play(eng, 2 * BAR_S, perf(msgs, 2 * BAR_S))
    assert chords_at(eng)[0] != "Cm"


def test_full_keyboard_reads_notes_anywhere():
    # A in the bass below the split, C E G above it: the full keyboard hears Am7; fingered
    # hears only the A
    msgs = hold((45, 60, 64, 67), 0, 2 * BAR_S - 0.05)
    full = engine(detect="full")
    play(full, 2 * BAR_S, perf(msgs, 2 * BAR_S))
    assert chords_at(full)[0] == "Am7"
    assert full.listener.all_chord
    fingered = engine()
    play(fingered, 2 * BAR_S, perf(msgs, 2 * BAR_S))
    assert chords_at(fingered)[0] == "A"


# --- styles and modes ---------------------------------------------------------------------

CONTROLS = """
controls:
  - {action: style_next, type: cc, number: 20}
  - {action: style_prev, type: cc, number: 21}
  - {action: mode, type: cc, number: 22}
  - {action: adventurousness, type: cc, number: 23}
  - {action: energy, type: cc, number: 24}
  - {action: stop, type: cc, number: 25}
  - {action: start, type: cc, number: 26}
"""


def drums_by_bar(eng, events, bars: int) -> list[set[tuple[int, int]]]:
    """(step in bar, drum note) of each bar's drum hits."""
    t = eng.planner.transport
    d = band_ons(events, 2)
    steps = np.round((d[:, 0] - t.frame_at(0.0)) / (t.frames_per_beat / SLOTS_PER_BEAT)).astype(int)  # humanized
    out: list[set[tuple[int, int]]] = [set() for _ in range(bars)]
    for g, n in zip(steps, d[:, 3], strict=True):
        if 0 <= g < bars * 16:
            out[g // 16].add((int(g % 16), int(n)))
    return out


def test_style_next_changes_the_drums_from_the_next_bar_line():
    chords = hold((48, 52, 55), 0, 8 * BAR_S)
    plain = engine("style_list: [pop, funk]\n" + CONTROLS)
    ev_plain = play(plain, 6 * BAR_S, perf(chords, 6 * BAR_S))
    switched = engine("style_list: [pop, funk]\n" + CONTROLS)
    press = 1.2 * BAR_S + 0.03  # during bar 2 (the band starts ~30 ms in)
    ev_sw = play(switched, 6 * BAR_S, perf(chords + [(press, (0xB0, 20, 127))], 6 * BAR_S))
    assert switched.planner.style == "funk" and plain.planner.style == "pop"
    a, b = drums_by_bar(plain, ev_plain, 5), drums_by_bar(switched, ev_sw, 5)
    assert a[:2] == b[:2], "the bars before the bar line play as before"
    funk = open_style("funk").section("main_a")
    sure = {(s, h.note) for s in range(16) for h in funk.drums[s] if h.probability >= 1.0}
    for bar in (2, 3, 4):
        assert sure <= b[bar], f"bar {bar + 1} is not funk's main A: missing {sorted(sure - b[bar])}"
    assert a[2] != b[2]
    # and style_prev goes back
    back = engine("style_list: [pop, funk]\n" + CONTROLS)
    play(back, 6 * BAR_S, perf(chords + [(press, (0xB0, 20, 127)), (press + BAR_S, (0xB0, 21, 127))], 6 * BAR_S))
    assert back.planner.style == "pop"


def test_style_list_defaults_to_the_styles_in_the_rigs_meter():
    eng = engine(CONTROLS)
    assert "pop" in eng.planner.styles and "rock" in eng.planner.styles
    assert "jazz-waltz" not in eng.planner.styles  # 3/4


def test_mode_switches_lead_and_chords_at_the_bar_line():
    eng = engine(CONTROLS, mode="lead", split="null")
    melody = [(i * 0.5, (0x90, 72 + (i % 3) * 2, 90)) for i in range(8)] + \
             [(i * 0.5 + 0.4, (0x80, 72 + (i % 3) * 2, 0)) for i in range(8)]
    play(eng, 2.5 * BAR_S, perf(melody + [(0.5 * BAR_S, (0xB0, 22, 127))], 2.5 * BAR_S))
    assert eng.planner.mode == "chords"
    assert eng.listener.all_chord  # no split: in chords mode every note is the chord zone


def test_the_mode_control_leaves_a_chart_rig_as_it_is():
    rig = load_rig_text("mode: chart\nchart: blues-in-f\nsync_start: false\n" + CONTROLS, source="<test>")
    from live.modes import band_setup

    setup = band_setup(rig, seed=1)
    eng = Engine(rig, sr=SR, block=BLOCK, parts=[None] * 3, musician_part=None, accompanist=setup.accompanist)
    setup.install(eng)
    play(eng, 4 * BAR_S, perf([(0.5, (0xB0, 22, 127))], 4 * BAR_S))
    assert eng.planner.mode == "chart"
    assert any("only lead and chords switch live" in m for m in eng.planner.stats.messages)


# --- adventurousness and energy -------------------------------------------------------------


def take(value_cc: int | None, value: int, seconds: float = 32 * BAR_S, seed: int = 1, extra: str = ""):
    msgs = []
    for i, shape in enumerate([(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50)] * 4):
        msgs += hold(shape, i * 2 * BAR_S, (i + 1) * 2 * BAR_S - 0.05)
    if value_cc is not None:
        msgs.append((0.0, (0xB0, value_cc, value)))
    eng = engine(CONTROLS + extra, seed=seed)
    events = play(eng, seconds, perf(msgs, seconds))
    return eng, events


def fills(eng, bars: int = 32) -> int:
    return sum(eng.planner.arrangement.at(b)[0] == "fill" for b in range(bars))


TRIADS = [{0, 4, 7}, {9, 0, 4}, {5, 9, 0}, {7, 11, 2}]  # C, Am, F, G: two bars each


def outside(eng, events) -> int:
    """Comp notes that are not in the triad held under them (a 7th the band added)."""
    start = eng.planner.transport.frame_at(0.0)
    n = 0
    for frame, _tr, _st, note, _v in band_ons(events, 1):
        seg = int((frame - start) // (2 * BAR_S * SR)) % 4
        n += note % 12 not in TRIADS[seg]
    return n


def test_adventurousness_high_and_low_differ_measurably_and_repeatably():
    hi, ev_hi = take(23, 127)
    lo, ev_lo = take(23, 0)
    mid, ev_mid = take(None, 64)
    assert hi.planner.adventure == 1.0 and lo.planner.adventure == -1.0
    # fills of its own into new phrases
    assert fills(hi) >= 4 and fills(lo) == fills(mid) == 0
    # richer chords on the comp, plain triads below the middle
    assert outside(hi, ev_hi) > 20 and outside(lo, ev_lo) == outside(mid, ev_mid) == 0
    # pushed kicks and off-beat stabs: more notes
    assert len(band_ons(ev_hi)) > len(band_ons(ev_mid))
    again, ev_again = take(23, 127)
    np.testing.assert_array_equal(ev_hi, ev_again)  # the same seed: the same band
    other, ev_other = take(23, 127, seed=2)
    assert not np.array_equal(ev_hi, ev_other)


def test_adventurousness_sets_the_models_temperature_where_there_is_one():
    class Decoder:
        temperature = 0.5

    eng = engine(CONTROLS)
    eng.planner.accompanist.decoder = Decoder()
    eng.planner.adventure_in = 127
    eng.planner._set_levels()
    assert Decoder.temperature == 0.5 and eng.planner.accompanist.decoder.temperature == pytest.approx(1.3)
    eng.planner.adventure_in = 0
    eng.planner._set_levels()
    assert eng.planner.accompanist.decoder.temperature == 0.0


def test_energy_changes_velocity_and_density():
    hi, ev_hi = take(24, 127, 8 * BAR_S)
    lo, ev_lo = take(24, 0, 8 * BAR_S)
    mid, ev_mid = take(None, 64, 8 * BAR_S)
    vel = [band_ons(e)[:, 4].mean() for e in (ev_lo, ev_mid, ev_hi)]
    assert vel[0] < vel[1] - 10 and vel[2] > vel[1] + 10, vel
    drums = [len(band_ons(e, 2)) for e in (ev_lo, ev_mid, ev_hi)]
    assert drums[0] < drums[1] < drums[2], drums
    assert hi.planner.energy_in == 127


def test_the_rigs_own_levels_and_the_middle_play_as_written():
    _, written = take(None, 64, 4 * BAR_S)
    _, middle = take(24, 64, 4 * BAR_S)
    np.testing.assert_array_equal(written, middle)
    eng, hot = take(None, 64, 4 * BAR_S, extra="energy: 127\n")
    assert eng.planner.energy == 1.0
    assert band_ons(hot)[:, 4].mean() > band_ons(written)[:, 4].mean() + 10


# --- stop and start again -------------------------------------------------------------------


def test_stop_rests_the_band_at_the_bar_line_and_start_brings_it_back():
    chords = hold((48, 52, 55), 0, 12 * BAR_S)
    stop_at, start_at = 2.5 * BAR_S, 5.3 * BAR_S
    msgs = chords + [(stop_at, (0xB0, 25, 127)), (stop_at + 0.1, (0xB0, 25, 0)), (start_at, (0xB0, 26, 127))]
    eng = engine(CONTROLS + "stop_ends_take: false\n")
    t0 = None
    events = play(eng, 8 * BAR_S, perf(msgs, 8 * BAR_S))
    assert not eng.stop_requested or eng.silenced
    ons = band_ons(events)
    first = eng.planner.transport.anchor_frame
    t0 = ons[:, 0].min()
    bar3 = t0 + 3 * BAR_S * SR  # the bar line after the stop
    quiet = ons[(ons[:, 0] >= bar3 + 2) & (ons[:, 0] < start_at * SR)]
    assert len(quiet) == 0, "the band played after it stopped"
    before = ons[ons[:, 0] < bar3 - 2]
    after = ons[ons[:, 0] >= start_at * SR]
    assert len(before) and len(after), "the band came back"
    assert first >= start_at * SR  # the transport starts afresh where start was pressed
    assert after[:, 0].min() - start_at * SR < 0.1 * SR
    # every note the band sounded at the stop ended at the bar line
    offs = events[(events[:, 1] >= 0) & (events[:, 2] == 0x80)]
    assert not len(offs[(offs[:, 0] > bar3 + 2) & (offs[:, 0] < start_at * SR)])
    assert_every_note_ends(events)


def test_stop_ends_the_take_by_default():
    eng = engine(CONTROLS)
    msgs = hold((48, 52, 55), 0, 4 * BAR_S) + [(1.5 * BAR_S, (0xB0, 25, 127))]
    events = play(eng, 3 * BAR_S, perf(msgs, 3 * BAR_S))
    assert eng.stop_requested and eng.silenced
    assert band_ons(events)[:, 0].max() < 1.6 * BAR_S * SR
    assert_every_note_ends(events)


def test_start_after_the_ending_plays_again():
    eng = engine("controls:\n  - {action: ending, type: cc, number: 30}\n  - {action: start, type: cc, number: 26}\n")
    msgs = hold((48, 52, 55), 0, 12 * BAR_S) + [(0.5 * BAR_S, (0xB0, 30, 127)), (5 * BAR_S, (0xB0, 26, 127))]
    events = play(eng, 7 * BAR_S, perf(msgs, 7 * BAR_S))
    assert not eng.planner.ended
    assert len(band_ons(events)[band_ons(events)[:, 0] > 5 * BAR_S * SR]) > 10
    assert_every_note_ends(events)


# --- setlists: program change switches songs ---------------------------------------------------


def write(path, data) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def gig(tmp_path, songs: dict, **more) -> str:
    data = {"name": "gig", "mode": "chords", "style": "pop", "tempo": 120, "sync_start": False,
            "input": {"split": 60}, "band": {"bass": {}, "keys": {}, "drums": {}}, "setlist": songs, **more}
    return write(tmp_path / "gig.yaml", data)


def test_a_program_change_switches_the_song_at_the_bar_line(tmp_path):
    write(tmp_path / "slow.yaml", {"name": "slow", "mode": "chords", "style": "rock", "tempo": 90,
                                   "input": {"split": 55, "chord_detect": "single_finger"},
                                   "band": {"bass": {}, "keys": {"instrument": "organ"}, "drums": {}}})
    eng = engine(path=gig(tmp_path, {0: "gig.yaml", 5: "slow.yaml"}))
    assert [s.name for s in eng.planner.songs] == ["gig", "slow"] and eng.song_of[5] == 1 and eng.song_of[0] == 0
    msgs = hold((48, 52, 55), 0, 10 * BAR_S) + [(1.3 * BAR_S, (0xC0, 5))]
    events = play(eng, 6 * BAR_S, perf(msgs, 6 * BAR_S))
    pl = eng.planner
    assert (pl.style, pl.transport.bpm, pl.listener.split, pl.chord_detect) == ("rock", 90.0, 55, "single_finger")
    assert any("song slow: its band" in m and "does not switch live" in m for m in pl.stats.messages)
    switch = pl.transport.anchor_frame  # slot 0 of the new song
    ons = band_ons(events)
    first = ons[ons[:, 0] < switch][:, 0].min()
    assert (switch - first) / SR == pytest.approx(2 * BAR_S, abs=0.01), "the song came in on a bar line"
    drums = band_ons(events, 2)
    assert drums[drums[:, 0] >= switch][:, 0].min() == switch
    # no note of the first song sounds past the bar line
    for frame, track, status, note, vel in events:
        if track >= 0 and status == 0x90 and vel > 0 and frame < switch:
            offs = events[(events[:, 1] == track) & (events[:, 3] == note) & (events[:, 0] >= frame) &
                          ((events[:, 2] == 0x80) | (events[:, 4] == 0))]
            assert len(offs) and offs[0, 0] <= switch
    assert_every_note_ends(events)
    # and back to the first song
    eng2 = engine(path=gig(tmp_path, {0: "gig.yaml", 5: "slow.yaml"}))
    play(eng2, 6 * BAR_S, perf(msgs + [(3.3 * BAR_S, (0xC0, 0))], 6 * BAR_S))
    assert (eng2.planner.style, eng2.planner.transport.bpm) == ("pop", 120.0)


def test_a_chart_song_plays_its_chart_from_the_top(tmp_path):
    write(tmp_path / "blues.yaml", {"mode": "chart", "chart": "blues-in-f", "band": {"bass": {}, "keys": {},
                                                                                        "drums": {}}})
    eng = engine(path=gig(tmp_path, {1: "blues.yaml"}))
    play(eng, 5 * BAR_S, perf(hold((48, 52, 55), 0, 8 * BAR_S) + [(0.5 * BAR_S, (0xC0, 1))], 5 * BAR_S))
    pl = eng.planner
    assert pl.mode == "chart" and pl.accompanist.name == "chart"
    f = [c for _s, _f, c in pl.chord_log if c.root >= 0]
    assert chord_symbol(f[-1].root, f[-1].quality) in ("F7", "Bb7", "C7")


def test_a_program_change_bound_to_a_control_does_the_control(tmp_path):
    write(tmp_path / "slow.yaml", {"style": "rock", "tempo": 90, "band": {"bass": {}, "keys": {}, "drums": {}}})
    path = gig(tmp_path, {5: "slow.yaml"}, controls=[{"action": "fill", "type": "program", "number": 5}])
    eng = engine(path=path)
    play(eng, 3 * BAR_S, perf(hold((48, 52, 55), 0, 4 * BAR_S) + [(0.5 * BAR_S, (0xC0, 5))], 3 * BAR_S))
    assert eng.planner.style == "pop" and eng.planner.arrangement.at(1)[0] == "fill"


def test_bad_songs_fail_when_the_rig_loads(tmp_path):
    (tmp_path / "bad.yaml").write_text("style: pop\ntempo: 500\n")
    with pytest.raises(RigError, match=r"bad\.yaml:2 tempo must be 30\.\.300.*in song 3 of the setlist at .*gig\.yaml"):
        load_rig(gig(tmp_path, {3: "bad.yaml"}))
    with pytest.raises(RigError, match=r"gig\.yaml:\d+ setlist\.4 must be a rig file .*got 'nope\.yaml'"):
        load_rig(gig(tmp_path, {4: "nope.yaml"}))
    write(tmp_path / "nested.yaml", {"setlist": {1: "jazz-trio"}})
    with pytest.raises(RigError, match=r"nested\.yaml:1 setlist must be left out of a rig that is itself a song"):
        load_rig(gig(tmp_path, {1: "nested.yaml"}))
    with pytest.raises(RigError, match=r"setlist\.200 must be 0\.\.127"):
        load_rig(gig(tmp_path, {200: "jazz-trio"}))


def test_control_and_style_list_checks(tmp_path):
    with pytest.raises(RigError, match=r"controls\[0\]\.type must be cc or note for action energy"):
        load_rig_text("controls: [{action: energy, type: program, number: 3}]\n", source="<t>")
    with pytest.raises(RigError, match=r"<t>:1 style_list\[1\] must be a style in 4/4 like the rig.*jazz-waltz in 3/4"):
        load_rig_text("style_list: [pop, jazz-waltz]\n", source="<t>")
    with pytest.raises(RigError, match=r"style_list\[0\] must be one of"):
        load_rig_text("style_list: [nope]\n", source="<t>")


# --- MIDI learn -------------------------------------------------------------------------


class Script:
    """A MIDI input that plays back a script: messages, and None where the port is quiet."""

    def __init__(self, items) -> None:
        self.items = list(items)

    def get_message(self):
        return self.items.pop(0) if self.items else None


def test_pressed_reads_notes_ccs_and_programs():
    assert str(pressed([0x91, 40, 100])) == "note 40 on channel 2"
    assert str(pressed([0xB0, 64, 127])) == "cc 64 on channel 1"
    assert str(pressed([0xC9, 3])) == "program 3 on channel 10"
    assert pressed([0x80, 40, 0]) is None and pressed([0x90, 40, 0]) is None and pressed([0xF8]) is None


def test_listen_drops_what_came_before_and_what_follows_a_press():
    quiet = [None] * 3
    src = Script([([0xB0, 1, 5], 0.0), None] + quiet + [([0xF8], 0.0), ([0xB0, 20, 127], 0.0),
                                                           ([0xB0, 20, 0], 0.0)] + quiet + [([0x90, 60, 90], 0.0)])
    ticks = iter(range(10000))
    got = listen(src, skipped=lambda: False, sleep=lambda s: None, clock=lambda: next(ticks) * 0.1)
    assert str(got) == "cc 20 on channel 1"
    skipped = listen(Script([]), skipped=lambda: True, sleep=lambda s: None)
    assert skipped is None


def test_learn_writes_a_rig_that_loads_and_maps_what_was_pressed(tmp_path):
    base = load_rig_text(BASE.format(mode="chords", split=60) +
                         "controls: [{action: fill, type: cc, number: 80}, {action: stop, type: note, number: 21}]\n",
                         source="<test>")
    script = [([0xB0, 20, 127], 0.0), ([0xB0, 20, 0], 0.0),   # fill: CC 20
              ([0x90, 21, 100], 0.0),                         # ending: note 21 (stop's): refused
              ([0x90, 22, 100], 0.0),                         # ending: note 22
              ([0xC0, 7], 0.0),                               # energy: a program change is refused
              ([0xB3, 74, 10], 0.0), ([0xB3, 74, 11], 0.0)]   # energy: CC 74 on channel 4
    src = Script([])
    said = []
    pending = list(script)

    def skipped():  # the next scripted message arrives only once the port has been listened to
        if pending:
            src.items.append(pending.pop(0))
            if pending and pending[0][0][0] in (0xB0, 0xB3) and pending[0][0][2] in (0, 11):
                src.items.append(pending.pop(0))
            return False
        return True  # nothing left: Enter

    ticks = iter(range(100000))
    new = learn(base, ["fill", "ending", "energy", "tap_tempo"], src, skipped=skipped, say=said.append,
                sleep=lambda s: None, clock=lambda: next(ticks) * 0.1)
    by = {c.action: (c.type, c.number, c.channel) for c in new.controls}
    assert by == {"fill": ("cc", 20, 1), "stop": ("note", 21, None), "ending": ("note", 22, 1),
                  "energy": ("cc", 74, 4)}
    assert any("already does stop" in s for s in said) and any("has no value" in s for s in said)
    assert said[-1] == "  tap_tempo: skipped"
    out = write_rig(new, tmp_path / "learned.yaml")
    again = load_rig(out)
    assert {(c.action, c.type, c.number, c.channel) for c in again.controls} == \
           {(c.action, c.type, c.number, c.channel) for c in new.controls}
    assert (again.mode, again.style, again.tempo, again.input.split) == ("chords", "pop", 120.0, 60)
    with pytest.raises(OutputExistsError):
        write_rig(new, out)
    # the rig it wrote plays what was pressed
    eng = engine(path=out)
    play(eng, 3 * BAR_S, perf(hold((48, 52, 55), 0, 4 * BAR_S) + [(0.5 * BAR_S, (0xB0, 20, 127)),
                                                                  (0.6 * BAR_S, (0xB3, 74, 100))], 3 * BAR_S))
    assert eng.planner.arrangement.at(1)[0] == "fill" and eng.planner.energy_in == 100


def test_learn_refuses_unknown_actions():
    base = load_rig_text("mode: lead\n", source="<t>")
    with pytest.raises(RigError, match="--actions must be some of"):
        learn(base, ["fil"], Script([]), skipped=lambda: True)


def test_the_stage_view_shows_adventurousness_energy_and_a_resting_band():
    from live.stage import render_text, snapshot

    eng = engine(CONTROLS + "stop_ends_take: false\n")
    msgs = hold((48, 52, 55), 0, 4 * BAR_S) + [(0.2, (0xB0, 23, 100)), (0.3, (0xB0, 24, 20)),
                                                (0.5 * BAR_S, (0xB0, 25, 127))]
    src_perf = perf(msgs, 2 * BAR_S)
    from live.midifile import FileInput

    src = FileInput(src_perf, SR, lead_in_s=0.0)
    src.start(0)
    eng.file_source = src
    eng.start()
    for _ in range(int(1.5 * BAR_S * SR / BLOCK)):
        eng.tick()
        eng.planner.step()
    st = snapshot(eng, now=0.0)
    assert (st.adventurousness, st.energy) == (100, 20)
    assert st.status.startswith("band stopped")
    text = render_text(st)
    assert "Adventure 100" in text and "Energy 20" in text
