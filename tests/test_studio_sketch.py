"""``sideman sketch``: the prompt's tempo, length, style and key are honoured, unknown
words reported, the result mastered."""

from __future__ import annotations

import json

import mido
import pytest

from kernels.loudness import measure
from live.cli import main
from live.studio.audiofile import read_wav
from live.studio.sketch import TARGET_LUFS, parse_prompt, sketch

STYLES = ["pop", "ballad", "swing", "bossa-nova", "ambient", "rock", "funk", "jazz-waltz"]


def test_grammar_reads_the_example():
    b = parse_prompt("calm lo-fi piano for a podcast intro, 30 seconds, 80 bpm", STYLES)
    assert (b.tempo, b.seconds, b.mood, b.style) == (80.0, 30.0, "calm", "ballad")
    assert b.instruments == {"comp": ("piano", 0)} and b.unknown == []


@pytest.mark.parametrize("prompt,field,value", [
    ("dark funk in F# minor, 2 minutes", "key", (6, 1)),
    ("happy bossa, key of Bb, 16 bars", "key", (10, 0)),
    ("A minor swing", "key", (9, 1)),
    ("tense track 1:30 at 140 bpm", "seconds", 90.0),
    ("16 bars of jazz waltz", "bars", 16),
    ("slow sad strings without drums", "drums", False),
    ("upbeat rock", "tempo", 120.0),
])
def test_grammar(prompt, field, value):
    assert getattr(parse_prompt(prompt, STYLES), field) == value


def test_unknown_and_unavailable_words_are_reported():
    b = parse_prompt("chill gorbleflax guitar groove, 20 s", STYLES)
    assert b.unknown == ["gorbleflax", "groove"] and b.unavailable == ["guitar"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("sketch")
    lines = []
    r = sketch("calm lo-fi piano for a podcast intro, 30 seconds, 80 bpm in D, wibble", out, name="intro",
               seed=1, progress=lines.append)
    return out, r, lines


def test_prompt_is_honoured(made):
    out, r, lines = made
    assert r["tempo"] == 80.0 and r["style"] == "ballad" and r["key"] == "D major"
    bar = r["meter"] * 60.0 / 80.0
    assert abs(r["bars"] * bar - 30.0) <= bar  # length within a bar
    mid = mido.MidiFile(out / "intro.mid")
    tempos = [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"]
    assert mido.tempo2bpm(tempos[0]) == pytest.approx(80.0)
    notes = [(m.channel, m.note) for t in mid.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    assert notes and mid.length == pytest.approx(30.0, abs=bar + 0.5)
    bass = [m.note for t in mid.tracks if t.name == "bass" for m in t if m.type == "note_on" and m.velocity > 0]
    assert bass and bass[-1] % 12 == 2  # ends home, on D
    a = read_wav(out / "intro.wav")
    assert a.seconds == pytest.approx(30.0, abs=bar + 2.0)  # plus the ring-out
    assert any("did not understand: 'wibble'" in x for x in lines)
    assert any(x.startswith("understood:") and "tempo 80" in x for x in lines)
    assert r["speed"] > 1.0


def test_output_is_mastered(made):
    out, r, _ = made
    a = read_wav(out / "intro.wav")
    m = measure(a.data, a.sr)
    assert abs(m["integrated_lufs"] - TARGET_LUFS) <= 1.0 and m["true_peak_dbtp"] <= -1.0
    assert json.loads((out / "intro.json").read_text())["unknown"] == ["wibble"]
    assert (out / "intro.png").stat().st_size > 1000


def test_loop_and_overrides(tmp_path):
    r = sketch("bright pop 20 seconds", tmp_path, name="loop", tempo=120, style="rock", loop=True, key="E",
               progress=None)
    assert r["tempo"] == 120 and r["style"] == "rock" and r["key"] == "E major"
    assert all(s not in ("intro", "ending") for s, _ in r["form"])
    a = read_wav(tmp_path / "loop.wav")
    assert a.seconds == pytest.approx(r["bars"] * 2.0, abs=0.01)  # exactly the loop, 2 s bars
    assert r["loop"]["end_frame"] == a.data.shape[0]


def test_command_refuses_to_overwrite(made, capsys):
    out, _, _ = made
    assert main(["sketch", "calm piano 10 s", "--name", "intro", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["sketch", "calm piano 10 s", "--tempo", "900", "--out", str(out)]) == 2
