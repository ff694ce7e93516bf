"""Chart mode: the chord chart format and its errors, the plan the band plays (intro,
choruses, fills, ending, loops), chart rigs, and the engine playing a chart block by
block without a sound server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kernels import chord_symbol
from live.chart import (ChartArrangement, build_plan, builtin_chart_names, charts_dir, find_chart, load_chart,
                        load_chart_text, parse_chord)
from live.engine import Engine
from live.errors import ChartError, RigError
from live.midifile import Performance, note_spans
from live.modes import band_setup
from live.rig import load_rig, load_rig_text, open_rig
from live.styles import open_style

from enginetools import assert_every_note_ends, perf_from, play  # noqa: E402 (tests/)

REPO = Path(__file__).resolve().parent.parent
SR, BLOCK = 48000, 64


def sym(chord) -> str:
    return chord_symbol(chord.root, chord.quality, chord.bass)


def bars_of(chart, section) -> list[list[tuple[float, str]]]:
    return [[(b, sym(c)) for b, c in bar.chords] for bar in chart.sections[section]]


def chart_text(body: str, head: str = "title: t\n") -> str:
    return head + "sections:\n" + body


# --- chord symbols ---------------------------------------------------------------------


@pytest.mark.parametrize("written, played", [
    ("C", "C"), ("Am7", "Am7"), ("F#m7b5", "F#m7b5"), ("Bb7", "Bb7"), ("G/B", "G/B"), ("Csus4", "Csus4"),
    # iReal Pro's spellings
    ("C-7", "Cm7"), ("C^7", "Cmaj7"), ("C^", "Cmaj7"), ("Ch7", "Cm7b5"), ("Ch", "Cm7b5"), ("Co7", "Cdim7"),
    ("Co", "Cdim"), ("C-", "Cm"), ("C-6", "Cm6"), ("C7sus", "Csus4"), ("C7b9", "C7"), ("C7#9", "C7"),
    ("C7alt", "C7"), ("C-^7", "Cm"), ("C+", "Caug"), ("C7#5", "Caug"),
    # extensions, played as the nearest of the band's qualities
    ("C9", "C7"), ("C13", "C7"), ("C7(b9)", "C7"), ("Cmaj9", "Cmaj7"), ("Cm9", "Cm7"), ("C-11", "Cm7"),
    ("C6/9", "C6"), ("C69", "C6"), ("Cadd9", "C"), ("Cm(maj7)", "Cm"), ("Ebmaj7/G", "Ebmaj7/G"),
])
def test_chord_spellings(written, played):
    assert sym(parse_chord(written)) == played


@pytest.mark.parametrize("written", ["n", "N.C.", "NC"])
def test_no_chord(written):
    assert parse_chord(written).root < 0


@pytest.mark.parametrize("bad, says", [("H7", "unknown chord symbol 'H7'"), ("Cxyz", "quality 'xyz'"),
                                       ("C/H", "the bass after / must be a note"), ("7", "unknown chord")])
def test_bad_chord_symbols_say_what_is_allowed(bad, says):
    with pytest.raises(ValueError, match="expected a root A-G|must be a note") as e:
        parse_chord(bad)
    assert says in str(e.value)


# --- the format ---------------------------------------------------------------------


def test_bars_chords_splits_and_holds():
    c = load_chart_text(chart_text('  A: "| C | Am7 | Dm7 G7 | C / / G7 | Fmaj7 / |"\n'))
    assert bars_of(c, "A") == [[(0.0, "C")], [(0.0, "Am7")], [(0.0, "Dm7"), (2.0, "G7")],
                               [(0.0, "C"), (3.0, "G7")], [(0.0, "Fmaj7")]]
    assert c.meter == 4 and c.choruses == 1 and c.form == ("A",) and c.tempo is None and c.style is None


def test_percent_and_x_repeat_the_bar_before():
    c = load_chart_text(chart_text('  A: "| C F | % | G | x |"\n'))
    assert bars_of(c, "A") == [[(0.0, "C"), (2.0, "F")]] * 2 + [[(0.0, "G")]] * 2


def test_repeat_signs_and_counts():
    c = load_chart_text(chart_text('  A: "|: C | F :| G | { Am | Dm } x3 | E7"\n'))
    names = [b[0][1] for b in bars_of(c, "A")]
    assert names == ["C", "F", "C", "F", "G", "Am", "Dm", "Am", "Dm", "Am", "Dm", "E7"]


def test_ireal_bar_lines_and_commas():
    c = load_chart_text(chart_text('  A: "[C^7, A-7 | D-7 G7 ] Z"\n'))
    assert bars_of(c, "A") == [[(0.0, "Cmaj7"), (2.0, "Am7")], [(0.0, "Dm7"), (2.0, "G7")]]


def test_a_literal_block_lists_bars_line_by_line_with_their_lines(tmp_path):
    text = ("title: Blues\nmeter: 4\nsections:\n  A: |\n    | F7  | Bb7 | F7 | %  |\n"
            "    | Bb7 | %   | F7 | D7 |\n    | Gm7 | C7  | F7 D7 | Gm7 C7 |\n")
    c = load_chart_text(text)
    bars = c.sections["A"]
    assert len(bars) == 12 and [b.line for b in bars[::4]] == [5, 6, 7]
    assert bars[3].chords == bars[2].chords and bars[3].text == "%"


def test_a_list_of_lines_works_too():
    c = load_chart_text(chart_text("  A:\n    - C | Am\n    - F | G7\n"))
    assert [b[0][1] for b in bars_of(c, "A")] == ["C", "Am", "F", "G7"]
    assert [b.line for b in c.sections["A"]] == [4, 4, 5, 5]


def test_forms_aaba_and_repeats():
    c = load_chart_text(chart_text('  A: "C | C | F | G"\n  B: "F | F | G | G"\n', "form: [A, A, B, A]\n"))
    assert c.form == ("A", "A", "B", "A") and c.form_bars() == 16
    c = load_chart_text(chart_text('  verse: "C | G"\n  chorus: "F | G"\n', "form: [verse x2, chorus]\n"))
    assert c.form == ("verse", "verse", "chorus")
    c = load_chart_text(chart_text('  A: "C | G"\n  B: "F"\n', "form: A x2 B\n"))
    assert c.form == ("A", "A", "B")


def test_without_a_form_the_sections_play_in_order_and_intro_and_ending_stand_apart():
    c = load_chart_text(chart_text('  intro: "G7"\n  A: "C"\n  B: "F"\n  ending: "C"\n'))
    assert c.form == ("A", "B") and set(c.sections) == {"intro", "A", "B", "ending"}


def test_twelve_bar_blues_and_fields():
    c = load_chart(find_chart("blues-in-f"))
    assert (c.title, c.tempo, c.meter, c.style, c.key, c.choruses) == ("Blues in F", 120.0, 4, "swing", (5, 0), 3)
    assert c.form == ("A",) and c.form_bars() == 12
    assert [b[0][1] for b in bars_of(c, "A")] == ["F7", "Bb7", "F7", "Cm7", "Bb7", "Bdim7", "F7", "D7", "Gm7",
                                                  "C7", "F7", "Gm7"]


@pytest.mark.parametrize("name", builtin_chart_names())
def test_every_shipped_chart_loads_and_plays(name):
    c = load_chart(charts_dir() / f"{name}.yaml")
    plan = build_plan(c, open_style(c.style or "pop"))
    assert plan.end_bar == len(plan.bars) >= c.form_bars() * c.choruses
    assert all(pb.bar.chords[0][1].root >= 0 for pb in plan.bars)


def test_the_shipped_charts_cover_blues_aaba_and_verse_chorus():
    assert len(builtin_chart_names()) >= 3
    forms = {load_chart(charts_dir() / f"{n}.yaml").form for n in builtin_chart_names()}
    assert ("A",) in forms and ("A", "A", "B", "A") in forms
    assert any("verse" in f and "chorus" in f for f in forms)


def test_docs_examples_are_valid_charts():
    import re

    text = (REPO / "docs" / "charts.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    for block in blocks:
        load_chart_text(block, source="docs/charts.md")


# --- errors name the file, the line, the field --------------------------------------------


@pytest.mark.parametrize("text, line, parts", [
    ('tempo: fast\nsections:\n  A: "C"\n', 1, ["tempo must be a number 30..300", "got 'fast'"]),
    ('meter: 9\nsections:\n  A: "C"\n', 1, ["meter must be 2..7, got 9"]),
    ('choruses: 0\nsections:\n  A: "C"\n', 1, ["choruses must be 1..99, got 0"]),
    ('key: H\nsections:\n  A: "C"\n', 1, ["key must be a key such as C, Eb, F#m or Dm", "got 'H'"]),
    ('titel: x\nsections:\n  A: "C"\n', 1, ["unknown key 'titel' in chart", "did you mean 'title'?"]),
    ("title: x\n", 1, ["sections must be a mapping of section names to bars"]),
    ('sections:\n  A: "C | H7 | G"\n', 2, ["sections.A bar 2: unknown chord symbol 'H7'", "expected a root A-G"]),
    ('sections:\n  A: |\n    C | F\n    G A Bm | C\n', 4,
     ["sections.A bar 3: must split its 4 beats evenly: 1, 2, 4 chords", "got 3: G A Bm"]),
    ('sections:\n  A: "% | C"\n', 2, ["sections.A bar 1: % repeats the bar before, got it in the first bar"]),
    ('sections:\n  A: "C % | F"\n', 2, ["% (or x) must stand alone in its bar"]),
    ('sections:\n  A: "C | F x2"\n', 2, ["x2 must follow the end of a repeat (:| or }) to play it 2 times"]),
    ('sections:\n  A: "|: C | F"\n', 2, ["a repeat opened here must be closed with :| or }"]),
    ('sections:\n  A: "/ C"\n', 2, ["/ holds the chord before, got it at the start of the section"]),
    ('sections:\n  A: "C"\nform: [A, B]\n', 3, ["form must be a list of sections such as [A, A, B, A]",
                                                 "(sections: A)", "got 'B'"]),
    ('sections:\n  A: "C"\n  intro: "G"\nform: [intro, A]\n', 4, ["got 'intro' (intro plays once by itself"]),
    ('sections:\n  A: ""\n', 2, ["sections.A must be bars of chords such as"]),
    ('sections:\n  A: [1, 2]\n', 2, ["sections.A bar 1: unknown chord symbol '1'"]),
    ('sections:\n  A B: "C"\n', 2, ["sections names must be a letter or digit", "got 'A B'"]),
    ('sections:\n  A: "C"\n  A: "F"\n', 3, ["sections has key 'A' twice (first on line 2)"]),
    ('sections: [C, F]\n', 1, ["sections must be a mapping"]),
    ("sections:\n  A: | C | F\n", 2, ["YAML syntax error"]),
])
def test_errors_name_file_line_and_what_is_allowed(tmp_path, text, line, parts):
    path = tmp_path / "tune.yaml"
    path.write_text(text)
    with pytest.raises(ChartError) as e:
        load_chart(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{line} "), msg
    for p in parts:
        assert p in msg, msg


def test_missing_and_unreadable_charts(tmp_path):
    with pytest.raises(ChartError, match="chart file not found: nosuch .*shipped charts: .*blues-in-f"):
        find_chart("nosuch")
    with pytest.raises(ChartError, match=r"did you mean 'blues-in-f'\?"):
        find_chart("blues-in-g")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ChartError, match="must be a UTF-8 text file"):
        load_chart(bad)
    assert isinstance(ChartError("x"), ValueError)


def test_a_seeded_fuzz_of_the_bar_parser_raises_only_chart_errors():
    rng = np.random.default_rng(7)
    alphabet = ["C", "Am7", "G7", "|", "||", "|:", ":|", "{", "}", "%", "x", "x2", "/", "n", ",", "[", "]", "Z",
                "H", "C-^7", "Bb", "\n"]
    for _ in range(300):
        body = " ".join(rng.choice(alphabet, size=rng.integers(1, 20)))
        try:
            load_chart_text("sections:\n  A: |\n    " + body.replace("\n", "\n    ") + "\n")
        except ChartError:
            pass


# --- the plan: how the band plays a chart ----------------------------------------------------


def test_plan_intro_choruses_fills_and_ending():
    c = load_chart_text(chart_text('  intro: "G7 | G7"\n  A: "C | Am | F | G"\n', "choruses: 3\n"))
    plan = build_plan(c, open_style("pop"))  # pop: a 2-bar intro, a 1-bar fill, a 2-bar ending
    got = [(pb.label, pb.chorus, pb.section) for pb in plan.bars]
    assert got[:2] == [("intro", 0, "intro")] * 2
    assert [s for _, _, s in got[2:14]] == ["main_a"] * 3 + ["fill"] + ["main_b"] * 3 + ["fill"] + ["main_a"] * 4
    assert got[14:] == [("ending", 0, "ending")] * 2 and plan.end_bar == 16
    assert [sym(pb.bar.chords[0][1]) for pb in plan.bars[14:]] == ["C", "C"]  # home: the tune's first chord


def test_plan_with_a_written_ending_and_a_style_without_one():
    c = load_chart_text(chart_text('  A: "C | F"\n  ending: "F | G7 | C"\n'))
    plan = build_plan(c, open_style("pop"))
    assert [pb.section for pb in plan.bars] == ["main_a", "main_a", "main_a", "ending", "ending"]
    plan = build_plan(c, None)  # no style: no fills, no ending section, the chart's ending bars still play
    assert len(plan.bars) == 5 and {pb.section for pb in plan.bars} == {"main_a"}


def test_plan_loops_a_section_for_ever():
    c = load_chart_text(chart_text('  A: "C | F | C | G"\n  B: "Am | Dm | E7 | Am"\n', "form: [A, A, B, A]\n"))
    plan = build_plan(c, open_style("rock"), loop="B")
    assert plan.end_bar == -1 and plan.loop == "B"
    roots = [sym(plan.at(b).bar.chords[0][1]) for b in range(10)]
    assert roots == ["Am", "Dm", "E7", "Am"] * 2 + ["Am", "Dm"]
    assert [plan.at(b).section for b in range(8)] == ["main_a"] * 3 + ["fill"] + ["main_a"] * 3 + ["fill"]
    assert plan.chord_at(5 * 16 + 8, 4) == parse_chord("Dm")  # bar 5 (the second Dm), beat 3
    with pytest.raises(ChartError, match="has no section 'C' to loop"):
        build_plan(c, None, loop="C")


def test_the_arrangement_follows_the_plan_and_the_controls():
    c = load_chart_text(chart_text('  A: "C | F | G | C"\n', "choruses: 2\n"))
    style = open_style("pop")
    arr = ChartArrangement(style, build_plan(c, style))
    assert [arr.at(b)[0] for b in range(11)] == (["main_a"] * 3 + ["fill"] + ["main_b"] * 4 + ["ending"] * 2
                                                 + ["end"])
    assert arr.end_bar == 10
    arr.request("break", 1)
    assert [arr.at(b)[0] for b in range(3)] == ["main_a", "break", "main_a"]
    arr.request("next_variation", 4)  # the fill, then main A and main B trade places
    assert [arr.at(b)[0] for b in range(4, 8)] == ["fill", "main_a", "main_a", "main_a"]
    arr.request("ending", 6)
    assert arr.end_bar == 8 and [arr.at(b)[0] for b in range(6, 9)] == ["ending", "ending", "end"]
    arr.request("fill", 7)  # after the ending was asked for: ignored
    assert arr.at(7)[0] == "ending"


# --- chart rigs ------------------------------------------------------------------------------


def write_chart(folder: Path, name: str = "tune.yaml", text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text or 'title: Tune\ntempo: 132\nstyle: swing\nsections:\n  A: "C | Am7 | Dm7 G7 | C"\n'
                         '  B: "F | F | G | G"\nform: [A, A, B, A]\n')
    return p


def test_a_chart_rig_reads_its_chart_relative_to_the_rig(tmp_path):
    write_chart(tmp_path / "songs")
    rig_path = tmp_path / "rig.yaml"
    rig_path.write_text("mode: chart\nchart: songs/tune.yaml\nstyle: rock\ntempo: 90\nloop: B\n")
    rig = load_rig(rig_path)
    # the chart's style, tempo and feel win over the rig's; count-in defaults to a bar
    assert (rig.mode, rig.style, rig.tempo, rig.meter, rig.count_in) == ("chart", "swing", 132.0, 4, 1)
    assert rig.swing == open_style("swing").swing and rig.loop == "B"
    assert rig.chart == str((tmp_path / "songs" / "tune.yaml").resolve())
    assert load_rig(rig_path, tempo=100).tempo == 100.0  # --tempo wins over both
    assert rig.with_overrides(tempo=110).tempo == 110.0
    assert load_rig(rig_path, loop="A").loop == "A"


def test_a_chart_without_style_or_tempo_takes_the_rigs(tmp_path):
    chart = write_chart(tmp_path, text='sections:\n  A: "C | G"\n')
    rig = load_rig_text(f"mode: chart\nchart: {chart}\nstyle: rock\ntempo: 90\nswing: 0.1\n", source="<t>")
    assert (rig.style, rig.tempo, rig.swing) == ("rock", 90.0, 0.1)


def test_the_shipped_charts_are_found_by_name_and_jam_chart_makes_any_rig_a_chart_rig():
    rig = open_rig("practice")
    assert rig.mode == "chart" and Path(rig.chart) == (charts_dir() / "blues-in-f.yaml").resolve()
    rig = open_rig("pop-band", chart="pop-in-g", tempo=96)
    assert (rig.mode, rig.style, rig.tempo) == ("chart", "pop", 96.0)
    assert open_rig("practice", chart="aaba-in-eb", loop="B").loop == "B"


@pytest.mark.parametrize("text, line, parts", [
    ("mode: chart\n", 1, ["mode chart needs a chart: a chord chart file", "blues-in-f"]),
    ("mode: chart\nchart: nosuch.yaml\n", 2, ["chart must be a chord chart file or a shipped chart's name",
                                              "got 'nosuch.yaml'", "(no file"]),
    ("mode: lead\nchart: blues-in-f\n", 2, ["chart is played in mode chart", "got mode lead"]),
    ("mode: chart\nchart: blues-in-f\nloop: B\n", 3, ["loop must be one of the chart's sections (A), got 'B'"]),
    ("mode: chords\nloop: A\n", 2, ["loop must name a section of the rig's chart"]),
    ("mode: chart\nchart: 12\n", 2, ["chart must be a non-empty string or null, got 12"]),
])
def test_chart_rig_errors(tmp_path, text, line, parts):
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    with pytest.raises(RigError) as e:
        load_rig(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{line} "), msg
    for p in parts:
        assert p in msg, msg


def test_a_broken_chart_names_the_chart_file_and_a_bad_chart_style_its_line(tmp_path):
    chart = write_chart(tmp_path, text='sections:\n  A: "C | Q7"\n')
    with pytest.raises(ChartError, match=f"{chart}:2 sections.A bar 2: unknown chord symbol 'Q7'"):
        load_rig_text(f"mode: chart\nchart: {chart}\n")
    chart = write_chart(tmp_path, "s.yaml", 'style: swung\nsections:\n  A: "C"\n')
    with pytest.raises(RigError, match=f"{chart}:1 style must be one of .*got 'swung'; did you mean 'swing'"):
        load_rig_text(f"mode: chart\nchart: {chart}\n")
    with pytest.raises(RigError, match="--loop: loop must be one of the chart's sections"):
        open_rig("practice", loop="Z")


def test_chart_rigs_round_trip(tmp_path):
    import yaml

    from live.rig import rig_to_dict

    rig = open_rig("practice", loop="A", tempo=100)
    again = load_rig_text(yaml.safe_dump(rig_to_dict(rig), sort_keys=False), source=rig.source, tempo=100)
    assert again == rig


# --- the engine playing a chart, block by block -------------------------------------------------


def chart_engine(tmp_path, chart_body: str, extra: str = "", head: str = "tempo: 120\nstyle: pop\n"):
    chart = write_chart(tmp_path, text=head + "sections:\n" + chart_body)
    rig = load_rig_text(f"mode: chart\nchart: {chart}\naccompanist: rules\n"
                        "band: {bass: {}, keys: {}, drums: {}}\n" + extra, source="<test>")
    setup = band_setup(rig, seed=1)
    eng = Engine(rig, sr=SR, block=BLOCK, parts=[None] * 3, musician_part=None, accompanist=setup.accompanist, seed=1)
    return eng, setup








def bar_roots(eng, events, bars):
    """The bass's pitch class on each bar line from the band's first bar, and the comp's
    pitch classes in each bar."""
    t = eng.planner.transport
    spans = note_spans(events, SR)
    roots, comp = [], []
    for b in range(bars):
        f0, f1 = t.frame_at(b * t.meter) / SR, t.frame_at((b + 1) * t.meter) / SR
        on_one = [n % 12 for tr, n, s, e, v in spans if tr == 0 and abs(s - f0) < 0.01]
        roots.append(on_one[0] if on_one else None)
        comp.append({n % 12 for tr, n, s, e, v in spans if tr == 1 and f0 - 0.01 <= s < f1 - 0.01})
    return roots, comp


def test_chart_mode_plays_the_charts_chords_on_the_right_bars_after_a_count_in(tmp_path):
    eng, setup = chart_engine(tmp_path, '  A: "| C | Am7 | Dm7 G7 | F |"\n', "sync_start: false\n",
                              head="tempo: 120\nstyle: pop\nchoruses: 2\n")
    setup.install(eng)
    events = play(eng, 30, until_ended=True)
    t = eng.planner.transport
    # one bar of count-in: four side-stick clicks on the drums, and nothing else, before bar 1
    before = events[(events[:, 0] < t.frame_at(0)) & (events[:, 2] == 0x90)]
    assert len(before) == 4 and set(before[:, 1]) == {2} and set(before[:, 3]) == {37}
    assert t.frame_at(0) - t.frame_at(-4) == 4 * 24000
    roots, comp = bar_roots(eng, events, 10)
    assert roots[:8] == [0, 9, 2, 5] * 2  # C Am7 Dm7 F, twice
    assert roots[8:] == [0, 0]  # the ending on the home chord
    assert comp[0] == {0, 4, 7} and comp[1] <= {9, 0, 4, 7} and comp[3] == {5, 9, 0}
    assert comp[2] <= {2, 5, 9, 0, 7, 11}  # Dm7 then G7
    # the take ends with the ending: the planner stopped the band at the bar line after it
    assert eng.planner.ended and eng.planner.stop_frame == t.frame_at(10 * 4)
    assert events[events[:, 2] == 0x90, 0].max() < eng.planner.stop_frame
    assert_every_note_ends(events)


def test_a_looped_section_repeats_until_the_musician_stops(tmp_path):
    eng, setup = chart_engine(tmp_path, '  A: "C | F"\n  B: "| Am | D7 | G |"\n',
                              "sync_start: false\ncount_in: 0\nloop: B\n")
    setup.install(eng)
    events = play(eng, 2.0 * 10 + 0.5)  # ten bars at 120 bpm
    roots, _ = bar_roots(eng, events, 10)
    assert roots == [9, 2, 7] * 3 + [9]
    assert not eng.planner.ended and eng.planner.stop_frame < 0
    assert_every_note_ends(events)


def test_the_ending_control_ends_a_chart_early(tmp_path):
    eng, setup = chart_engine(tmp_path, '  A: "C | F | G | C"\n',
                              "sync_start: false\ncount_in: 0\ncontrols: [{action: ending, type: cc, number: 25}]\n",
                              head="tempo: 120\nstyle: pop\nchoruses: 4\n")
    setup.install(eng)
    perf = Performance("<test>", np.array([3.0]), [(0xB0, 25, 127)], 120.0, 4, 480, 3.0)
    events = play(eng, 20, perf, until_ended=True)
    t = eng.planner.transport
    # asked for in the second bar (at 3 s): the 2-bar ending in the third and fourth, then
    # the band stops, twelve bars early
    assert eng.planner.ended and eng.planner.stop_frame == t.frame_at(4 * 4)
    assert events[events[:, 2] == 0x90, 0].max() < eng.planner.stop_frame
    assert_every_note_ends(events)


def test_sync_start_in_chart_mode_counts_in_from_the_first_note(tmp_path):
    eng, setup = chart_engine(tmp_path, '  A: "| G | C |"\n')
    setup.install(eng)
    events = play(eng, 4.5, perf_from([(1.0, 1.2, 72, 90)], 1.2))
    t = eng.planner.transport
    first_click = events[(events[:, 1] == 2) & (events[:, 2] == 0x90), 0].min() / SR
    assert 1.0 <= first_click < 1.05, first_click  # nothing before the note, the count-in right after it
    assert t.frame_at(0) - t.frame_at(-4) == 4 * 24000
    roots, _ = bar_roots(eng, events, 1)
    assert roots == [7]


def test_tempo_control_and_following_work_over_a_chart(tmp_path):
    eng, setup = chart_engine(tmp_path, '  A: "| C | F | G | C |"\n',
                              "sync_start: false\ncount_in: 0\nfollow_tempo: true\n",
                              head="tempo: 100\nstyle: pop\nchoruses: 8\n")
    setup.install(eng)
    # the musician plays quarter notes drifting from 100 to 110 bpm from the band's first beat
    t0 = (BLOCK + eng.planner.horizon) / SR  # the band's downbeat (Planner.begin)
    bpm = np.linspace(100, 110, 40)
    beats = t0 + np.concatenate([[0.0], np.cumsum(60.0 / bpm[:-1])])
    notes = [(b, b + 0.2, 72, 90) for b in beats]
    events = play(eng, beats[-1] + 0.2, perf_from(notes, beats[-1]))
    assert eng.planner.transport.bpm > 105, eng.planner.transport.bpm
    drums = events[(events[:, 1] == 2) & (events[:, 2] == 0x90), 0] / SR
    err_ms = np.array([np.abs(drums - b).min() for b in beats[12:-1]]) * 1000
    assert err_ms.max() < 20, err_ms.round(1)
    # and the chart's chords still change on the band's (moving) bar lines, the bass on their roots
    log = [(slot, frame, c) for slot, frame, c in eng.planner.chord_log if slot >= 0]
    assert [slot for slot, _, _ in log[:6]] == [0, 16, 32, 48, 80, 96]  # C F G C, (C) F G
    assert [c.root for _, _, c in log[:6]] == [0, 5, 7, 0, 5, 7]
    bass_on = {int(f): int(n) % 12 for f, tr, st, n, v in events if tr == 0 and st == 0x90}
    assert all(bass_on.get(frame) == c.root for _, frame, c in log[1:12]), log[:12]


# --- the command line ------------------------------------------------------------------------


def sideman(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO), JACK_DEFAULT_SERVER="sideman-no-such-server")
    return subprocess.run([sys.executable, "-m", "live.cli", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=180)


def test_sideman_charts_lists_the_shipped_charts():
    r = sideman("charts")
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert names == builtin_chart_names()
    assert "Blues in F: A (12 bars) x 3 choruses" in r.stdout


def test_jam_plays_a_looped_chart_offline_as_a_backing_track(tmp_path):
    import mido

    r = sideman("jam", "--rig", "practice", "--chart", "pop-in-g", "--loop", "chorus", "--tempo", "150",
                "--audio", "offline", "--out", str(tmp_path), "--seconds", "8")
    assert r.returncode == 0, r.stderr
    assert "chart: Open Road: looping chorus (8 bars), 4/4, 150 bpm, pop" in r.stdout
    assert "the band alone" in r.stdout
    mid = mido.MidiFile(tmp_path / "jam.mid")
    bass = [m.note % 12 for m in mid.tracks[2] if m.type == "note_on" and m.velocity > 0] if len(mid.tracks) > 2 else []
    assert bass and bass[0] == 0  # the chorus starts on C
    r = sideman("jam", "--rig", "practice", "--loop", "Z", "--audio", "offline", "--out", str(tmp_path))
    assert r.returncode == 2 and "--loop: loop must be one of the chart's sections (A), got 'Z'" in r.stderr
