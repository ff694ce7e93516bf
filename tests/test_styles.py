"""Band styles: the shipped files, the loader's errors, where styles are found, how the
band moves between sections, and demos rendered through the real engine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from kernels.voicing import KINDS
from live.accompanist import SLOTS_PER_BEAT, PartInfo, SlotContext
from live.errors import RigError, StyleError
from live.rig import load_rig, load_rig_text
from live.styles import (
    SECTIONS,
    VOICINGS,
    Arrangement,
    load_style,
    load_style_text,
    open_style,
    shipped_styles_dir,
    style_files,
    style_names,
    user_styles_dir,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.stem for p in shipped_styles_dir().glob("*.yaml"))
MINIMAL = """\
description: a test style
sections:
  main_a:
    drums:
      kick: 100 . . . . . . . 90 . . . . . . .
    bass:
      - {at: 1, play: root, len: 1, vel: 90}
"""


@pytest.fixture(autouse=True)
def no_user_styles(tmp_path, monkeypatch):
    """Keep the user's own ~/.config/sideman/styles out of these tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped styles


def test_at_least_ten_styles_ship_including_the_issue_list():
    want = {"pop", "rock", "ballad", "funk", "swing", "jazz-waltz", "bossa-nova", "reggae", "country",
            "chorale", "ambient"}
    assert want <= set(SHIPPED) and len(SHIPPED) >= 10


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_style_loads(name):
    s = load_style(shipped_styles_dir() / f"{name}.yaml")
    assert s.name == name and s.description
    assert 2 <= s.meter <= 7 and 30 <= s.tempo <= 300 and 0 <= s.swing <= 0.75
    assert set(s.sections) <= set(SECTIONS) and {"main_a", "main_b", "break"} <= set(s.sections)
    steps = s.meter * SLOTS_PER_BEAT
    for sec in s.sections.values():
        for role in ("drums", "bass", "comp", "pad"):
            assert len(sec.hits(role)) == sec.bars * steps
    assert s.plays("bass") and (s.plays("comp") or s.plays("pad"))
    assert s.demo_chords and all(len(bar) >= 1 for bar in s.demo_chords)


def test_jazz_waltz_is_in_three_and_chorale_has_no_drums():
    assert open_style("jazz-waltz").meter == 3
    assert not open_style("chorale").plays("drums")


def test_docs_example_is_a_valid_style():
    text = (REPO / "docs" / "styles.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    s = load_style_text(block, source="docs/styles.md", name="shuffle")
    assert s.swing == 0.5 and s.section("main_a").bars == 1 and s.section("intro").bars == 2
    hat = s.section("main_a").drums[10]
    assert [(h.note, h.velocity, h.probability) for h in hat if h.note == 42] == [(42, 40, 0.5)]


def test_a_style_reads_as_written():
    s = load_style_text(MINIMAL + """\
    comp:
      - {at: "2 4&", len: 0.5, vel: 70, voicing: shell, voices: [1]}
  main_b:
    like: main_a
    bars: 2
    bass:
      - {at: 3a, play: -2, bar: 2}
""", source="<t>", name="t")
    a, b = s.section("main_a"), s.section("main_b")
    assert [h.note for h in a.drums[0]] == [36] and a.drums[1] == ()
    assert [(h.degree, h.duration) for h in a.bass[0]] == [("root", 1.0)]
    assert [i for i, hits in enumerate(a.comp) if hits] == [4, 14]
    assert a.comp[14][0].voicing == "shell" and a.comp[14][0].voices == (1,)
    assert a.comp[4][0].voicing == "shell" and s.voicing("comp") == "close" and s.voicing("pad") == "close"
    t = load_style_text("parts:\n  comp: {voicing: rootless}\n  pad: {instrument: strings, voicing: satb}\n"
                        + MINIMAL + "    comp:\n      - {at: 1}\n", source="<t>", name="t")
    assert (t.voicing("comp"), t.voicing("pad"), t.sound("pad").instrument) == ("rootless", "satb", "strings")
    assert t.section("main_a").comp[0][0].voicing == ""  # a hit without one plays the part's
    assert b.bars == 2 and len(b.drums) == 32 and b.drums[16] == a.drums[0]  # like: main A's drums, twice
    assert [i for i, hits in enumerate(b.bass) if hits] == [16 + 11]
    assert b.bass[27][0].degree == "semitones" and b.bass[27][0].semitones == -2
    assert s.section("fill") is None and s.section("break").plays == frozenset()


# --- errors name the file, the line and the field


@pytest.mark.parametrize("text, line, parts", [
    ("tempoo: 90\n" + MINIMAL, 1, ["unknown key 'tempoo' in style", "did you mean 'tempo'?"]),
    ("meter: 9\n" + MINIMAL, 1, ["meter must be 2..7, got 9"]),
    ("swing: 1.5\n" + MINIMAL, 1, ["swing must be 0.0..0.75, got 1.5"]),
    ("description: x\nsections:\n  main_b: {}\n", 2, ["sections must have main_a"]),
    (MINIMAL.replace("kick: 100 . . . . . . . 90 . . . . . . .", "kick: 100 . . . 90 . . ."), 5,
     ["sections.main_a.drums.kick must have 16 steps (a bar of 4/4 in 16ths), got 8"]),
    (MINIMAL.replace("kick: 100 . . .", "kick: 100 . x ."), 5,
     ["sections.main_a.drums.kick step 3 must be . (rest) or a velocity 1..127", "got 'x'"]),
    (MINIMAL.replace("kick: 100 . . .", "kick: 100 . 60?0 ."), 5, ["?percent 1..100", "got '60?0'"]),
    (MINIMAL.replace("kick:", "kik:"), 5, ["sections.main_a.drums drum must be a GM drum note 27..87 or one of",
                                           "got 'kik'; did you mean 'kick'?"]),
    (MINIMAL.replace("{at: 1, play: root", "{at: 5, play: root"), 7,
     ["sections.main_a.bass[0].at must be a count such as 1, 2&, 3e, 4a (beats 1..4", "got 5"]),
    (MINIMAL.replace("{at: 1, play: root", "{at: 1x, play: root"), 7, ["bass[0].at must be a count", "got '1x'"]),
    (MINIMAL.replace("play: root", "play: tonic"), 7,
     ["sections.main_a.bass[0].play must be one of root, bass, third, fifth", "got 'tonic'"]),
    (MINIMAL.replace("len: 1, vel: 90", "len: 1, vel: 200"), 7,
     ["sections.main_a.bass[0].vel must be 1..127, got 200"]),
    (MINIMAL.replace("{at: 1, play: root, len: 1, vel: 90}", "{play: root}"), 7, ["bass[0].at must be a count",
                                                                                   "got nothing"]),
    (MINIMAL + "    comp:\n      - {at: 1, voicing: spread}\n", 9,
     ["sections.main_a.comp[0].voicing must be one of close, open, drop2, shell, rootless, satb", "got 'spread'"]),
    (MINIMAL + "    pad:\n      - {at: 1, bar: 2}\n", 9, ["sections.main_a.pad[0].bar must be 1..1, got 2"]),
    ("parts:\n  comp: {voicing: spread}\n" + MINIMAL, 2,
     ["parts.comp.voicing must be one of close, open, drop2, shell, rootless, satb, got 'spread'"]),
    ("parts:\n  pad: {voicing: drop-2}\n" + MINIMAL, 2, ["parts.pad.voicing must be one of", "did you mean 'drop2'?"]),
    ("parts:\n  bass: {program: 34, voicing: close}\n" + MINIMAL, 2,
     ["parts.bass.voicing is for comp and pad parts only", "got 'close'"]),
    (MINIMAL + "  fill:\n    like: main_b\n", 9, ["sections.fill.like must name a section this style has (main_a)",
                                                    "got 'main_b'"]),
    (MINIMAL + "  fill:\n    like: main_b\n  main_b:\n    like: fill\n", 11,
     ["sections.main_b.like must not go round in a circle (fill -> main_b -> fill), got 'fill'"]),
    ('demo_chords: "C H7"\n' + MINIMAL, 1, ["demo_chords bar 2: unknown chord symbol 'H7'"]),
    ('demo_chords: "C G Am | F"\n' + MINIMAL, 1, ["demo_chords bar 1 must split its 4 beats evenly (1, 2, 4 chords)",
                                                  "got 3"]),
    ("parts:\n  bass: {instrument: kit}\n" + MINIMAL, 2, ["parts.bass.instrument must be one of piano"]),
    ("name: other\n" + MINIMAL, 1, ["name must be the file's name 'broken'", "got 'other'"]),
    ("restrike: [drums]\n" + MINIMAL, 1, ["restrike must be a list of roles from bass, comp, pad"]),
    ("humanize: {timing: 50}\n" + MINIMAL, 1, ["humanize.timing must be 0..15, got 50"]),
    ("sections: [1\n", 2, ["YAML syntax error"]),
])
def test_a_broken_style_names_file_line_and_field(tmp_path, text, line, parts):
    path = write(tmp_path, "broken", text)
    with pytest.raises(StyleError) as info:
        load_style(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line} "), message
    for part in parts:
        assert part in message, (part, message)


def test_an_empty_or_unreadable_style(tmp_path):
    with pytest.raises(StyleError, match=r"empty\.yaml:1 style is empty"):
        load_style(write(tmp_path, "empty", "# nothing\n"))
    with pytest.raises(StyleError, match="cannot read style file"):
        load_style(tmp_path / "missing.yaml")


# --- where styles are found


def test_search_order_extra_folder_then_user_then_shipped(tmp_path, monkeypatch):
    assert user_styles_dir() == tmp_path / "config" / "sideman" / "styles"
    mine = write(user_styles_dir(), "pop", MINIMAL.replace("a test style", "my pop"))
    write(user_styles_dir(), "shuffle", MINIMAL)
    files = style_files()
    assert files["pop"] == mine and files["rock"].parent == shipped_styles_dir()
    assert "shuffle" in style_names()
    extra = write(tmp_path / "gig", "pop", MINIMAL.replace("a test style", "gig pop"))
    assert style_files(tmp_path / "gig")["pop"] == extra
    assert open_style("pop", tmp_path / "gig").description == "gig pop"
    assert open_style("pop").description == "my pop"
    with pytest.raises(StyleError, match="styles folder not found"):
        style_files(tmp_path / "nope")
    with pytest.raises(StyleError, match=r"style 'poop' not found \(available: ambient, ballad.*did you mean 'pop'"):
        open_style("poop")


def test_a_rig_validates_its_style_against_the_files_found(tmp_path):
    with pytest.raises(RigError) as info:
        load_rig_text("mode: lead\nstyle: shuffle\n", source="gig.yaml")
    message = str(info.value)
    assert message.startswith("gig.yaml:2 style must be one of ambient, ballad, bossa-nova, chorale, country")
    assert "got 'shuffle'" in message
    write(tmp_path / "rig" / "my-styles", "shuffle", MINIMAL)
    rig_file = tmp_path / "rig" / "gig.yaml"
    rig_file.write_text("style: shuffle\nstyles: my-styles\n")
    rig = load_rig(rig_file)  # the styles folder is read relative to the rig file
    assert rig.style == "shuffle" and rig.styles == str((tmp_path / "rig" / "my-styles").resolve())
    assert load_rig_text("style: shuffle\n", styles=tmp_path / "rig" / "my-styles").style == "shuffle"
    rig_file.write_text("style: pop\nstyles: nowhere\n")
    with pytest.raises(RigError, match=r"gig\.yaml:2 styles must be a folder of style files or null, got 'nowhere'"):
        load_rig(rig_file)


def test_a_broken_style_fails_the_rig_with_the_style_files_line(tmp_path):
    path = write(tmp_path / "styles", "shuffle", MINIMAL.replace("play: root", "play: tonic"))
    with pytest.raises(StyleError, match=rf"^{re.escape(str(path))}:7 sections\.main_a\.bass\[0\]\.play"):
        load_rig_text("style: shuffle\n", styles=tmp_path / "styles")


def test_a_rig_takes_what_it_leaves_out_from_its_style():
    rig = load_rig_text("style: jazz-waltz\nband:\n  bass: {}\n  keys: {}\n  drums: {}\n", source="<t>")
    assert (rig.meter, rig.tempo, rig.swing) == (3, 150.0, 0.33)
    assert (rig.part("bass").instrument, rig.part("bass").program) == ("upright", 33)
    assert (rig.part("keys").instrument, rig.part("keys").program) == ("piano", 1)
    rig = load_rig_text("style: jazz-waltz\ntempo: 90\nmeter: 4\nswing: 0\nband:\n  bass: {program: 34}\n",
                        source="<t>")
    assert (rig.meter, rig.tempo, rig.swing, rig.part("bass").program) == (4, 90.0, 0.0, 34)
    # an override changes the style alone: the rest was already filled in
    funk = rig.with_overrides(style="funk")
    assert (funk.style, funk.meter, funk.tempo, funk.part("bass").program) == ("funk", 4, 90.0, 34)
    with pytest.raises(RigError, match=r"^<t> \(override\) style must be one of ambient, .*got 'fonk'; did you mean"):
        rig.with_overrides(style="fonk")


# --- arrangement: which section plays when


def test_arrangement_follows_requests_at_bar_lines():
    style = open_style("pop")  # intro 2 bars, fill 1, ending 2
    arr = Arrangement(style, intro=True)
    assert [arr.at(b) for b in range(4)] == [("intro", 0), ("intro", 1), ("main_a", 0), ("main_a", 1)]
    arr.request("fill", 4)
    assert [arr.at(b)[0] for b in range(3, 7)] == ["main_a", "fill", "main_a", "main_a"]
    arr.request("next_variation", 8)
    assert [arr.at(b)[0] for b in range(7, 11)] == ["main_a", "fill", "main_b", "main_b"]
    arr.request("break", 12)
    assert [arr.at(b)[0] for b in range(12, 14)] == ["break", "main_b"]
    arr.request("ending", 14)
    assert arr.end_bar == 16 and [arr.at(b) for b in (14, 15, 16)] == [("ending", 0), ("ending", 1), ("end", 0)]
    arr.request("fill", 15)  # too late: the ending is under way
    assert arr.at(15) == ("ending", 1)
    assert Arrangement(style).at(0) == ("main_a", 0)
    assert Arrangement(open_style("chorale"), intro=False).at(5) == ("main_a", 5)


def test_a_control_plays_a_fill_then_the_ending_stops_the_band():
    from test_engine import chord_perf, make_engine, run

    controls = ("controls:\n  - {action: fill, type: cc, number: 23}\n"
                "  - {action: ending, type: cc, number: 25}\n")
    perf, dur = chord_perf(2)  # 8 bars of chords at 120 bpm
    at = 2.05  # just after bar 1 starts (the band starts at 0): the fill plays in bar 2
    msgs = list(zip(perf.times, perf.messages, strict=True)) + [(at, (0xB0, 23, 127)), (8.05, (0xB0, 25, 127))]
    msgs.sort(key=lambda m: m[0])
    perf = type(perf)("<t>", np.array([t for t, _ in msgs]), [m for _, m in msgs], 120.0, 4, 480, dur)
    eng = make_engine(style="pop", extra=controls + "swing: 0.0\n")
    events = run(eng, perf, dur + 1.0)
    t = eng.planner.transport
    bar_frames = 4 * t.frames_per_beat
    drums = events[(events[:, 1] == 2) & (events[:, 2] == 0x90)]
    bar_of = ((drums[:, 0] - t.anchor_frame) // bar_frames).astype(int)
    toms = {45, 47}
    assert {int(n) for n in drums[bar_of == 2, 3]} & toms, "no fill in the bar after the control"
    assert not {int(n) for n in drums[bar_of != 2, 3]} & toms, "the fill must last one bar"
    # ending pressed in bar 4: it plays bars 5-6, the band is silent from bar 7 on
    assert int(bar_of.max()) == 6 and eng.planner.ended
    assert 49 in {int(n) for n in drums[bar_of == 6, 3]}, "the ending's final crash"


# --- voicings: how each style's comp and pad voice the chords


def test_shipped_styles_voice_their_parts_as_their_music_asks():
    want = {"chorale": ("satb", "satb"), "swing": ("shell", "drop2"), "jazz-waltz": ("shell", "drop2"),
            "bossa-nova": ("drop2", "close"), "funk": ("rootless", "open"), "ballad": ("open", "close"),
            "ambient": ("open", "open"), "pop": ("close", "close"), "rock": ("close", "close")}
    for name, (comp, pad) in want.items():
        s = open_style(name)
        assert (s.voicing("comp"), s.voicing("pad")) == (comp, pad), name
    assert set(VOICINGS) == set(KINDS) | {"satb"}


PARTS = [PartInfo(0, "bass", 28, 55), PartInfo(1, "comp", 52, 76), PartInfo(2, "drums", 35, 81),
         PartInfo(3, "pad", 48, 84)]  # the rig's default ranges (live/rig.py ROLE_DEFAULTS)


def play_demo(name: str, bars: int = 16):
    """The demo's chart played slot by slot by the band that ``sideman render`` uses,
    without audio: (decisions, the style)."""
    from live.chart import ChartAccompanist
    from live.listener import Snapshot
    from live.render import demo_chart, demo_plan
    from live.styles import activate

    style = activate(open_style(name))
    acc = ChartAccompanist(PARTS, demo_chart(style, bars), seed=0)
    arr = Arrangement.scripted(style, demo_plan(style, bars))
    snap = Snapshot(0, np.zeros(12), -1, -1, np.zeros((0, 3), np.int64), 0, -1)
    spb = style.meter * SLOTS_PER_BEAT
    out = []
    for slot in range(bars * spb):
        section, section_bar = arr.at(slot // spb)
        ctx = SlotContext(slot, style.meter, name, style.swing, "chords", snap, (-1, 0), 24000.0,
                          section=section, section_bar=section_bar)
        d = acc.decide(ctx)
        out.append((d, {k: v.copy() for k, v in d.voicings.items()}))
        acc.commit(d)
    return out, style


# Movement per voice at each chord change, in semitones. Upper-structure voicings
# (close, open, drop-2, rootless) move each voice to a near tone of the next chord: in
# a triad or a 7th chord neighbouring tones lie at most a fourth apart, so the nearest
# is a step or two away, and only a shape or the range's edge pushes a voice further:
# at most a major third for 95 % of the moves, a fifth at the very most. A shell keeps
# the root in its lowest voice, and SATB's bass sings the chord's bass: that voice moves
# as a bass line does, by up to a tritone (the nearer way round the circle) and more
# where the range turns it back, so a fifth at p95 and never more than an octave.
# Measured on the demos (tests below): upper structures p95 <= 4, max 4; shell and
# satb p95 7, max 10.
MOVE_BOUND = {"close": (4, 7), "open": (4, 7), "drop2": (4, 7), "rootless": (4, 7), "shell": (7, 12),
              "satb": (7, 12)}  # (p95, max)


def voice_moves(decisions) -> dict[tuple[int, str], list[int]]:
    """(part, voicing kind) -> every voice's movement at each change of that voicing."""
    last: dict[int, np.ndarray] = {}
    moves: dict[tuple[int, str], list[int]] = {}
    for _d, voicings in decisions:
        for key, v in voicings.items():
            if v[0] < 0:
                continue
            if key in last and (last[key] != v).any():
                moves.setdefault((key // 8, VOICINGS[key % 8]), []).extend(np.abs(v - last[key]).tolist())
            last[key] = v
    return moves


@pytest.mark.parametrize("name", SHIPPED)
def test_every_style_voice_leads_within_the_bound(name):
    decisions, style = play_demo(name)
    moves = voice_moves(decisions)
    assert {kind for _, kind in moves} >= {style.voicing(r) for r in ("comp", "pad") if style.plays(r)}
    for (part, kind), m in moves.items():
        p95, most = MOVE_BOUND[kind]
        assert np.percentile(m, 95) <= p95 and max(m) <= most, \
            f"{name} part {part} ({kind}): p95 {np.percentile(m, 95):.1f}, max {max(m)} semitones"


def test_the_band_plays_the_voicing_the_style_names():
    from kernels.voicing import satb_rules_ref

    from live.render import demo_chart

    for name in ("chorale", "swing", "funk"):
        decisions, style = play_demo(name)
        chart = demo_chart(style)
        checked = 0
        for d, _ in decisions:
            by_part: dict[int, list[int]] = {}
            for e in d.events:
                by_part.setdefault(e.part, []).append(e.note)
            chord = [c for s, c in chart if s <= d.slot][-1]
            comp = sorted(by_part.get(1, []))
            if not comp:
                continue
            if name == "chorale":  # the choir: four voices by the rules of four-part writing
                assert len(comp) == 4 and not satb_rules_ref(chord.root, chord.quality, chord.bass, comp)[0], \
                    (d.slot, chord, comp)
            elif name == "funk":  # rootless guide tones: the 3rd and the 7th
                assert sorted((n - chord.root) % 12 for n in comp) == [4, 10], (d.slot, chord, comp)
            elif len(comp) == 3:  # swing's shells: the root at the bottom
                assert (comp[0] - chord.root) % 12 == 0, (d.slot, chord, comp)
            else:
                continue
            checked += 1
        assert checked >= 10, f"{name}: only {checked} chords checked"


# --- the command line and demos rendered through the engine


def sideman(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO), JACK_DEFAULT_SERVER="sideman-no-such-server")
    return subprocess.run([sys.executable, "-m", "live.cli", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_sideman_styles_lists_one_a_line(tmp_path):
    r = sideman("styles")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == SHIPPED
    waltz = next(line for line in lines if line.startswith("jazz-waltz "))
    assert re.match(r"jazz-waltz\s+3/4\s+150 bpm\s+\S", waltz), waltz
    write(tmp_path, "shuffle", MINIMAL)
    write(tmp_path, "zz-broken", MINIMAL.replace("play: root", "play: tonic"))
    r = sideman("styles", "--styles", str(tmp_path), "--paths")
    assert r.returncode == 2
    assert f"shuffle     4/4  100 bpm  a test style  ({tmp_path / 'shuffle.yaml'})" in r.stdout.splitlines()
    assert f"({shipped_styles_dir() / 'pop.yaml'})" in r.stdout
    assert f"{tmp_path / 'zz-broken.yaml'}:7 sections.main_a.bass[0].play must be one of" in r.stderr


RENDERED = ("funk", "jazz-waltz", "reggae")  # 4/4 with humanize, 3/4 swung, a lilt and an off-beat comp
# ... and the voicings: the chorale's four parts, swing's shells, rootless and drop-2,
# the ballad's open comp over a close pad (a render takes 1-2 s; 16 bars at 240 bpm)
VOICED = ("chorale", "swing", "ballad")
ALL_RENDERED = RENDERED + VOICED
TEMPO = 240
KEYS_CH, PAD_CH = 2, 3  # MIDI channels (0-based) of the render's keys (comp) and pad


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos")
    r = sideman("render", "--style", ",".join(ALL_RENDERED), "--tempo", str(TEMPO), "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def midi_notes(path: Path):
    """(channel, note, on tick, off tick, velocity) per note, and the file's ticks per beat."""
    import mido

    mid = mido.MidiFile(path)
    notes, programs = [], {}
    for track in mid.tracks:
        tick, open_ = 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "program_change":
                programs[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                assert (msg.channel, msg.note) not in open_, f"note {msg.note} re-struck before its note-off"
                open_[(msg.channel, msg.note)] = (tick, msg.velocity)
            elif msg.type in ("note_off", "note_on"):
                on = open_.pop((msg.channel, msg.note), None)
                if on is not None:
                    notes.append((msg.channel, msg.note, on[0], tick, on[1]))
        assert not open_, f"{path.name}: note-ons without a note-off: {sorted(open_)}"
    return notes, programs, mid.ticks_per_beat


def test_render_prints_progress_and_writes_three_files_per_style(demos):
    out, stdout = demos
    lines = [line for line in stdout.splitlines() if line.startswith("[")]
    assert len(lines) == len(ALL_RENDERED)
    for i, name in enumerate(ALL_RENDERED, 1):
        assert lines[i - 1].startswith(f"[{i}/{len(ALL_RENDERED)}] {name}: {TEMPO} bpm, intro 1, main A ")
        assert lines[i - 1].endswith(" -16.0 LUFS, true peak " + lines[i - 1].split("true peak ")[1])
        for ext in ("wav", "mid", "png"):
            assert (out / f"{name}.{ext}").stat().st_size > 1000


@pytest.mark.parametrize("name", RENDERED)
def test_rendered_midi_plays_the_style(demos, name):
    out, _ = demos
    style = open_style(name)
    notes, programs, tpb = midi_notes(out / f"{name}.mid")  # asserts every note-on has its note-off
    by_ch = {ch: [n for n in notes if n[0] == ch] for ch in {n[0] for n in notes}}
    bass_ch, keys_ch, drum_ch = 1, 2, 9
    assert set(by_ch) >= {bass_ch, keys_ch, drum_ch}
    assert programs[bass_ch] == style.sound("bass").program - 1
    assert programs[keys_ch] == style.sound("comp").program - 1
    # drums on the style's 16th grid: the "&" of each beat swung, every hit humanized
    # by at most the style's timing jitter (plus a tick of rounding)
    sixteenth = tpb / SLOTS_PER_BEAT
    tol = style.timing_ms / 1000.0 * TEMPO / 60.0 * tpb + 1.5
    grid = [0.0, sixteenth, tpb * (0.5 + 0.5 * style.swing), 3 * sixteenth]
    drum_on = np.array([n[2] for n in by_ch[drum_ch]], float)
    assert len(drum_on) > 50
    pos = drum_on % tpb
    dist = np.min([np.abs(pos - g) for g in grid + [float(tpb)]], axis=0)
    assert dist.max() <= tol, f"{name}: drum hits off the grid by {dist.max():.1f} ticks (tolerance {tol:.1f})"
    # bass on beat 1 of each bar: the chord's root or its slash bass
    from live.render import demo_chart

    bar_ticks = style.meter * tpb
    chart = demo_chart(style)
    checked = 0
    for _, note, on, _, _ in by_ch[bass_ch]:
        bar, offset = divmod(on, bar_ticks)
        if min(offset, bar_ticks - offset) > tol:
            continue
        bar = bar + (offset > bar_ticks / 2)
        slot = bar * style.meter * SLOTS_PER_BEAT
        chord = [c for s, c in chart if s <= slot][-1]
        assert note % 12 in (chord.root, chord.bass_pc), f"{name} bar {bar}: bass {note} on {chord}"
        checked += 1
    assert checked >= 10, f"{name}: only {checked} bars start with a bass note"


@pytest.mark.parametrize("name", ALL_RENDERED)
def test_rendered_audio_is_at_the_loudness_target_and_does_not_clip(demos, name):
    from kernels.loudness import measure
    from live.render import RENDER_CEILING, RENDER_LUFS

    out, stdout = demos
    with wave.open(str(out / f"{name}.wav")) as w:
        assert w.getsampwidth() == 3 and w.getframerate() == 48000
        raw = np.frombuffer(w.readframes(w.getnframes()), np.uint8).reshape(-1, 3).astype(np.int32)
        channels = w.getnchannels()
    x = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
    x = (np.where(x >= 1 << 23, x - (1 << 24), x) / float(1 << 23)).reshape(-1, channels)
    m = measure(x, 48000)
    # the acceptance bound is 1 LU; normalising gets within 0.1 LU (live.studio.master)
    assert abs(m["integrated_lufs"] - RENDER_LUFS) <= 1.0, f"{name}: {m['integrated_lufs']:.2f} LUFS"
    # 0.05 dB over the ceiling: what 24-bit rounding and the meter's interpolator allow
    assert m["true_peak_dbtp"] <= RENDER_CEILING + 0.05, f"{name}: true peak {m['true_peak_dbtp']:.2f} dBTP"
    assert 0.05 < np.abs(x).max() < 1.0, f"{name}: silent or clipped"
    assert f"warning: {name}:" not in stdout, f"{name}: the mix reached the master clip before normalising"


def notes_by_onset(notes, channel, tol):
    """Each hit of a channel: its notes (ascending) that start within ``tol`` ticks of one another."""
    groups: list[tuple[int, list[int]]] = []
    for _ch, note, on, _off, _vel in sorted((n for n in notes if n[0] == channel), key=lambda n: (n[2], n[1])):
        if groups and on - groups[-1][0] <= tol:
            groups[-1][1].append(note)
        else:
            groups.append((on, [note]))
    return [sorted(g) for _, g in groups]


def test_rendered_chorale_has_no_parallel_fifths_or_octaves(demos):
    from kernels.ensemble import is_parallel_ref
    from kernels.voicing import satb_rules_ref

    out, _ = demos
    style = open_style("chorale")
    notes, _, tpb = midi_notes(out / "chorale.mid")
    tol = 2 * style.timing_ms / 1000.0 * TEMPO / 60.0 * tpb + 2  # the humanize jitter, both ways
    for ch in (KEYS_CH, PAD_CH):  # the choir, and the organ that doubles it
        chords = notes_by_onset(notes, ch, tol)
        assert len(chords) >= 16 and all(len(c) == 4 for c in chords), chords
        changes = 0
        for prev, cur in zip(chords, chords[1:], strict=False):
            assert satb_rules_ref(0, 0, cur[0] % 12, cur)[0] not in ("range", "crossing", "spacing"), cur
            bad = [(i, j) for i in range(4) for j in range(i + 1, 4)
                   if is_parallel_ref(prev[j], prev[i], cur[j], cur[i])]
            assert not bad, f"channel {ch + 1}: {prev} -> {cur}: parallel 5ths/8ves between voices {bad}"
            changes += prev != cur
        assert changes >= 10


@pytest.mark.parametrize("name", ALL_RENDERED)
def test_rendered_voice_leading_within_the_bound(demos, name):
    """Heard in the MIDI: each hit of the part's own voicing against the one before
    (hits that play only some voices are left out), by MOVE_BOUND."""
    from live.accompanist import voices_for

    out, _ = demos
    style = open_style(name)
    notes, _, tpb = midi_notes(out / f"{name}.mid")
    tol = 2 * style.timing_ms / 1000.0 * TEMPO / 60.0 * tpb + 2
    checked = 0
    for ch, role in ((KEYS_CH, "comp"), (PAD_CH, "pad")):
        kind = style.voicing(role)
        n = voices_for(kind, role)
        full = [c for c in notes_by_onset(notes, ch, tol) if len(c) == n]
        moves = [abs(a - b) for prev, cur in zip(full, full[1:], strict=False) if prev != cur
                 for a, b in zip(cur, prev, strict=True)]
        if not moves:
            continue
        p95, most = MOVE_BOUND[kind]
        assert np.percentile(moves, 95) <= p95 and max(moves) <= most, \
            f"{name} {role} ({kind}): p95 {np.percentile(moves, 95):.1f}, max {max(moves)} semitones"
        checked += 1
    assert checked >= 1


def test_render_refuses_to_overwrite_and_names_unknown_styles(demos):
    out, _ = demos
    r = sideman("render", "--style", "funk", "--out", str(out))
    assert r.returncode == 2 and f"{out / 'funk.wav'} exists; use --force" in r.stderr
    r = sideman("render", "--style", "funk,poop", "--out", str(out / "new"))
    assert r.returncode == 2 and "style 'poop' not found" in r.stderr
    assert not (out / "new" / "funk.wav").exists(), "nothing renders when a name is wrong"


# --- the mix: each part's reverb send (its sound: tests/test_audio.py)


def test_a_rig_sets_each_parts_send_and_the_musicians():
    rig = load_rig_text("style: pop\ninput: {reverb: 0.05}\nband:\n  bass: {reverb: 0}\n  keys: {reverb: 0.6}\n")
    parts = {p.name: p for p in rig.band}
    assert parts["bass"].reverb == 0.0 and parts["keys"].reverb == 0.6 and rig.input.reverb == 0.05
    with pytest.raises(RigError, match=r"band\.keys\.reverb must be"):
        load_rig_text("band:\n  keys: {reverb: 1.5}\n")


def test_the_parts_draws_are_seeded_uniform_and_keyed_by_slot_and_part():
    """Velocity jitter (and every other draw of the parts) comes from a stream keyed by
    (seed, slot, part), computed in blocks into one array: the same seed and stream play
    the same, past several blocks; another seed, slot or part plays otherwise; every value
    of the jitter is used about as often; and drawing allocates no new array."""
    from live.accompanist import DRAW_BLOCK, PartInfo, RuleAccompanist

    def band(seed):
        return RuleAccompanist([PartInfo(0, "bass", 28, 55)], seed=seed)

    def vels(acc, slot, part, n):
        acc._stream(slot, part)
        return [acc._vel(80, 4) for _ in range(n)]

    a, b, c = band(3), band(3), band(4)
    block = a._ublock
    n = 3 * DRAW_BLOCK + 5  # past three blocks
    va = vels(a, 17, 0, n)
    assert va == vels(b, 17, 0, n) == vels(a, 17, 0, n)  # again from the stream's start
    assert va != vels(c, 17, 0, n)
    assert va != vels(a, 18, 0, n) and va != vels(a, 17, 1, n) and va != vels(a, -17, 0, n)
    assert a._ublock is block
    many = np.array([v for slot in range(-8, 400) for v in vels(a, slot, slot % 3, 16)])
    counts = np.bincount(many - 76, minlength=9)
    assert len(counts) == 9 and counts.min() > many.size / 9 * 0.85 and counts.max() < many.size / 9 * 1.15
    assert a._vel(126, 4) <= 127 and a._vel(2, 4) >= 1 and a._vel(80, 0) == 80


def test_deciding_a_slot_again_plays_it_the_same():
    """The planner decides a slot again when the musician plays (and plans the next one
    before this one is final); the humanising of what it commits does not depend on how
    often: a take decided once per slot and one whose every slot was decided three times,
    the next slot planned in between, commit the same notes at the same times and
    velocities. (Until 2026-12-07 the draws came from one generator and shifted.)"""
    from live.chart import ChartAccompanist
    from live.listener import Snapshot
    from live.render import demo_chart
    from live.styles import activate

    style = activate(open_style("funk"))
    assert style.timing_ms > 0 and style.velocity_jitter > 0  # a style that humanises both
    snap = Snapshot(0, np.zeros(12), -1, -1, np.zeros((0, 3), np.int64), 0, -1)
    spb = style.meter * SLOTS_PER_BEAT

    def ctx(slot):
        return SlotContext(slot, style.meter, "funk", style.swing, "chords", snap, (-1, 0), 24000.0)

    def take(revisions):
        acc = ChartAccompanist(PARTS, demo_chart(style, 4), seed=5)
        out = []
        for slot in range(4 * spb):
            for _ in range(revisions):
                acc.decide(ctx(slot))
                acc.decide(ctx(slot + 1))
            d = acc.decide(ctx(slot))
            out.append([(e.beat, e.duration, e.part, e.note, e.velocity) for e in d.events])
            acc.commit(d)
        return out

    once, revised = take(0), take(3)
    assert sum(map(len, once)) > 100
    assert revised == once
    beats = [e[0] for slot in once for e in slot if e[2] == 2]  # the drums
    assert any(b != round(b * 4) / 4 for b in beats), "the timing jitter was drawn"
