"""`sideman rig new`: the answers end up in a rig that loads and plays as asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from live.errors import OutputExistsError
from live.rig import MODES, load_rig
from live.rignew import Answers, parse_note, write_rig

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text,note", [("60", 60), ("C4", 60), ("c4", 60), ("F#3", 54), ("Bb2", 46),
                                       ("none", None), ("C-1", 0), ("G9", 127)])
def test_parse_note(text, note):
    assert parse_note(text) == note


@pytest.mark.parametrize("text", ["128", "H4", "C#", "middle C", "G#9"])
def test_parse_note_says_what_is_allowed(text):
    with pytest.raises(ValueError):
        parse_note(text)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_makes_a_rig_that_loads_as_asked(tmp_path, mode):
    a = Answers(name=f"r-{mode}", mode=mode, style="jazz-waltz" if mode == "duet" else "funk", tempo=123,
                port="Keystation", split=None if mode == "lead" else 55, parts=("bass", "drums", "pad"),
                follow_tempo=True, clock_out=True, chart="blues-in-f" if mode == "chart" else None)
    rig = load_rig(write_rig(tmp_path / "r.yaml", a))
    assert (rig.name, rig.mode, rig.input.port, rig.input.split) == (a.name, mode, "Keystation", a.split)
    assert rig.tempo == 123 or mode == "chart"
    if mode != "chart":  # a chart brings its own tempo, meter and style
        assert rig.style == a.style and rig.meter == (3 if a.style == "jazz-waltz" else 4)  # from the style
    enabled = {p.name for p in rig.band if p.enabled}
    assert enabled == {"bass", "drums", "pad"} | ({"lead"} if mode == "duet" else set())
    assert rig.follow_tempo and rig.midi_out.clock


def test_defaults_give_the_default_band_at_the_styles_tempo(tmp_path):
    rig = load_rig(write_rig(tmp_path / "d.yaml", Answers(style="reggae")))
    assert rig.tempo == 76 and rig.mode == "lead" and rig.input.split == 60  # reggae's own tempo
    assert {p.name for p in rig.band if p.enabled} == {"bass", "keys", "drums"}


def test_an_existing_file_is_kept_without_force(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("name: mine\n")
    with pytest.raises(OutputExistsError):
        write_rig(p, Answers())
    assert p.read_text() == "name: mine\n"
    write_rig(p, Answers(), force=True)
    assert load_rig(p).name == "my-rig"


def test_the_command_asks_again_after_a_bad_answer(tmp_path):
    answers = "duo\nduet\nno-such-style\nswing\n140\nnone\nnone\nbass drums\ny\nn\n"
    r = subprocess.run([sys.executable, "-m", "live.cli", "rig", "new"], input=answers, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert "not understood: one of" in r.stdout
    rig = load_rig(tmp_path / "duo.yaml")
    assert (rig.mode, rig.style, rig.tempo, rig.input.split) == ("duet", "swing", 140, None)
    assert rig.follow_tempo and not rig.midi_out.clock


def test_the_rig_reference_documents_every_field_and_action():
    """docs/rigs.md is written by hand: every key the loader accepts, and every control
    action, must be in it (a field added to live/rig.py without its documentation fails)."""
    import re

    from live import rig

    doc = (REPO / "docs" / "rigs.md").read_text()
    sections = {"": rig._TOP_KEYS, "input": rig._INPUT_KEYS, "audio": rig._AUDIO_KEYS,
                "midi_out": rig._MIDI_OUT_KEYS, "band": rig._PART_KEYS, "controls": rig._CONTROL_KEYS,
                "record": rig._RECORD_KEYS}
    for section, keys in sections.items():
        text = doc if not section else doc[doc.index(f"## `{section}`"):]
        text = text if not section else text[:(text.find("\n## ", 4) if text.find("\n## ", 4) > 0 else None)]
        missing = [k for k in keys if not re.search(rf"\|\s*`{k}`", text)]
        assert not missing, f"docs/rigs.md, section {section or 'top level'}: no row for {missing}"
    missing = [a for a in rig.ACTIONS if f"`{a}`" not in doc]
    assert not missing, f"docs/rigs.md does not name the control actions {missing}"
