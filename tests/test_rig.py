"""Rig loading: the built-in rigs, defaults, and every kind of error a musician can make."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from live.errors import RigError, SidemanError
from live.styles import style_names
from live.rig import (
    ACTIONS,
    INSTRUMENTS,
    MODES,
    ROLES,
    ControlCfg,
    Rig,
    builtin_rig_names,
    find_rig,
    load_rig,
    load_rig_text,
    open_rig,
    rig_to_dict,
)

BUILTINS = ["jazz-trio", "pop-band", "practice", "solo-keys"]


def write(tmp_path: Path, text: str, name: str = "gig.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> tuple[str, Path]:
    path = write(tmp_path, text)
    with pytest.raises(RigError) as info:
        load_rig(path)
    return str(info.value), path


def assert_error(tmp_path: Path, text: str, line: int, *parts: str) -> str:
    """Loading ``text`` fails at ``line``, and the message holds every one of ``parts``."""
    message, path = error(tmp_path, text)
    assert message.startswith(f"{path}:{line} "), message
    for part in parts:
        assert part in message, (part, message)
    return message


# --- built-in rigs


def test_builtin_names():
    assert builtin_rig_names() == BUILTINS


@pytest.mark.parametrize("name", BUILTINS)
def test_each_builtin_loads_and_round_trips(name):
    rig = open_rig(name)
    assert rig.name == name
    assert rig.source == f"<built-in {name}>"
    again = load_rig_text(yaml.safe_dump(rig_to_dict(rig), sort_keys=False), source=rig.source)
    assert again == rig


def test_default_rig_is_pop_band():
    assert find_rig(None).name == "pop-band.yaml"
    rig = open_rig()
    assert (rig.mode, rig.style, rig.tempo, rig.input.split) == ("lead", "pop", 100.0, 60)
    assert [p.name for p in rig.band] == ["bass", "keys", "drums", "pad"]
    assert [p.enabled for p in rig.band] == [True, True, True, False]
    assert rig.part("keys").role == "comp"
    assert rig.controls == (
        ControlCfg("stop", "cc", 20, None),
        ControlCfg("start", "cc", 21, None),
        ControlCfg("panic", "cc", 22, None),
        ControlCfg("fill", "cc", 23, None),
        ControlCfg("next_variation", "cc", 24, None),
        ControlCfg("ending", "cc", 25, None),
    )


def test_solo_keys():
    rig = open_rig("solo-keys")
    assert (rig.mode, rig.style, rig.tempo, rig.input.split, rig.input.thru) == ("lead", "ballad", 72.0, None, True)
    assert sorted((p.name, p.role) for p in rig.band) == [("bass", "bass"), ("pad", "pad")]


def test_jazz_trio():
    rig = open_rig("jazz-trio")
    assert (rig.mode, rig.style, rig.swing, rig.input.split, rig.tempo) == ("chords", "swing", 0.33, 60, 140.0)
    bass, keys = rig.part("bass"), rig.part("keys")
    assert (bass.instrument, bass.program) == ("upright", 33)
    assert (keys.instrument, keys.program) == ("piano", 1)
    assert rig.part("drums").channel == 10


def test_practice():
    rig = open_rig("practice")
    # chart mode: the shipped blues's style and tempo win over the rig's rock
    assert (rig.mode, rig.style, rig.tempo, rig.count_in, rig.input.split) == ("chart", "swing", 120.0, 1, None)
    assert rig.chart.endswith("blues-in-f.yaml") and rig.loop is None and rig.sync_start
    assert rig.record.folder == "takes"
    assert [p.name for p in rig.band] == ["bass", "keys", "drums"]


def test_constants_are_exposed():
    assert MODES == ("lead", "chords", "chart", "duet")
    assert {"pop", "rock", "swing", "ballad"} <= set(style_names())
    assert ROLES == ("bass", "comp", "drums", "pad", "lead")
    assert "upright" in INSTRUMENTS and "tempo_down" in ACTIONS


# --- defaults


def test_all_defaults_from_a_one_line_file(tmp_path):
    rig = load_rig(write(tmp_path, "# nothing but a comment\nmode: lead\n", name="duo.yaml"))
    assert rig.name == "duo"
    assert rig.source == str(tmp_path / "duo.yaml")
    assert (rig.style, rig.tempo, rig.meter, rig.swing, rig.count_in, rig.sync_start) == ("pop", 100.0, 4, 0.0, 0, True)
    assert isinstance(rig.tempo, float) and isinstance(rig.swing, float)
    i = rig.input
    assert (i.port, i.channels, i.split, i.thru, i.thru_channel, i.instrument, i.program, i.volume) == (
        None, (), None, True, 1, "piano", 1, 0.8)
    a = rig.audio
    assert (a.backend, a.sample_rate, a.buffer, a.device) == ("auto", 48000, 64, None)
    assert rig.midi_out.port is None
    assert rig.controls == ()
    assert (rig.record.enabled, rig.record.folder) == (True, ".")
    got = {p.name: (p.role, p.instrument, p.channel, p.program, p.volume, p.pan, p.low, p.high, p.enabled)
           for p in rig.band}
    assert got == {
        "bass": ("bass", "bass", 2, 34, 0.7, 0.0, 28, 55, True),
        "keys": ("comp", "epiano", 3, 5, 0.7, 0.0, 52, 76, True),
        "drums": ("drums", "kit", 10, 1, 0.7, 0.0, 35, 81, True),
    }


def test_role_defaults_and_named_roles(tmp_path):
    rig = load_rig(write(tmp_path, "band:\n  pad:\n  comp:\n  lead_line:\n    role: bass\n    channel: 5\n"))
    pad, comp, lead_line = rig.band
    assert (pad.role, pad.instrument, pad.channel, pad.program, pad.low, pad.high) == ("pad", "pad", 4, 89, 48, 84)
    assert (comp.role, comp.channel) == ("comp", 3)
    assert (lead_line.role, lead_line.instrument, lead_line.program, lead_line.channel) == ("bass", "bass", 34, 5)


def test_empty_band_and_null_sections(tmp_path):
    rig = load_rig(write(tmp_path, "band: {}\ninput:\naudio:\ncontrols:\n"))
    assert rig.band == () and rig.controls == () and rig.input.thru_channel == 1


def test_channels_list_and_drums_sharing(tmp_path):
    rig = load_rig(write(tmp_path, "input:\n  channels: [1, 2]\nband:\n  drums:\n  perc:\n    role: drums\n"))
    assert rig.input.channels == (1, 2)
    assert [p.channel for p in rig.band] == [10, 10]


def test_int_accepted_where_number_expected(tmp_path):
    rig = load_rig(write(tmp_path, "tempo: 120\nswing: 0\nband:\n  bass:\n    volume: 1\n"))
    assert rig.tempo == 120.0 and isinstance(rig.tempo, float)
    assert rig.band[0].volume == 1.0


def test_load_rig_text_source():
    rig = load_rig_text("tempo: 90\n")
    assert rig.source == "<string>" and rig.name == "rig"
    with pytest.raises(RigError, match=r"^<string>:1 tempo must be 30\.\.300, got 20$"):
        load_rig_text("tempo: 20\n")


def test_rig_is_frozen():
    rig = open_rig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        rig.tempo = 50  # type: ignore[misc]


# --- overrides


def test_with_overrides_copies_and_checks():
    rig = open_rig()
    faster = rig.with_overrides(tempo=140, input=dataclasses.replace(rig.input, split=60))
    assert (faster.tempo, faster.input.split, faster.source) == (140.0, 60, rig.source)
    assert rig.tempo == 100.0
    with pytest.raises(RigError, match=r"^<built-in pop-band> \(override\) tempo must be 30\.\.300, got 500$"):
        rig.with_overrides(tempo=500)
    with pytest.raises(RigError, match="unknown rig field 'tempp'"):
        rig.with_overrides(tempp=1)
    with pytest.raises(RigError, match=r"band\.bass\.channel must differ from input\.thru_channel.*got 2"):
        rig.with_overrides(input=dataclasses.replace(rig.input, thru_channel=2))


# --- errors


def test_rig_error_is_a_value_error():
    assert issubclass(RigError, SidemanError) and issubclass(RigError, ValueError)


def test_unknown_top_level_key(tmp_path):
    assert_error(tmp_path, "name: gig\nmode: lead\ntempp: 90\n", 3,
                 "unknown key 'tempp' in rig", "allowed: name, mode,", "did you mean 'tempo'?")


def test_unknown_nested_key(tmp_path):
    assert_error(tmp_path, "band:\n  bass:\n    channel: 2\n    chanel: 3\n", 4,
                 "unknown key 'chanel' in band.bass", "allowed: role, instrument, channel")
    assert_error(tmp_path, "audio:\n  buffr: 64\n", 2, "unknown key 'buffr' in audio")
    assert_error(tmp_path, "controls:\n  - action: stop\n    type: cc\n    number: 1\n    chan: 2\n", 5,
                 "unknown key 'chan' in controls[0]")


def test_non_string_key(tmp_path):
    assert_error(tmp_path, "mode: lead\n3: x\n", 2, "unknown key 3 in rig")


def test_duplicate_key(tmp_path):
    assert_error(tmp_path, "tempo: 90\nmode: lead\ntempo: 100\n", 3, "key 'tempo' twice", "first on line 1")


@pytest.mark.parametrize("text, line, field, got", [
    ("tempo: fast\n", 1, "tempo must be a number 30..300", "got 'fast'"),
    ("name: [a]\n", 1, "name must be a non-empty string", "got a list"),
    ("input:\n  port: 5\n", 2, "input.port must be a non-empty string or null", "got 5"),
    ("band:\n  bass:\n    channel: '3'\n", 3, "band.bass.channel must be a whole number 1..16", "got '3'"),
    ("band:\n  bass:\n    channel: 2.5\n", 3, "band.bass.channel must be a whole number 1..16", "got 2.5"),
    ("input: [1]\n", 1, "input must be a mapping of port, channels", "got a list"),
    ("controls:\n  stop: 20\n", 2, "controls must be a list of mappings", "got a mapping"),
    ("input:\n  channels: 3\n", 2, "input.channels must be all or a list of channels 1..16", "got 3"),
    ("input:\n  channels: [1, x]\n", 2, "input.channels[1] must be a whole number 1..16", "got 'x'"),
    ("record:\n  folder: ''\n", 2, "record.folder must be a non-empty string", "got ''"),
])
def test_wrong_type(tmp_path, text, line, field, got):
    assert_error(tmp_path, text, line, field, got)


@pytest.mark.parametrize("text, line, field, got", [
    ("meter: 4\nband:\n  bass:\n    channel: 17\n", 4, "band.bass.channel must be 1..16", "got 17"),
    ("tempo: 301\n", 1, "tempo must be 30..300", "got 301"),
    ("swing: 0.8\n", 1, "swing must be 0.0..0.75", "got 0.8"),
    ("swing: .nan\n", 1, "swing must be 0.0..0.75", "got nan"),
    ("meter: 8\n", 1, "meter must be 2..7", "got 8"),
    ("count_in: -1\n", 1, "count_in must be 0..4", "got -1"),
    ("input:\n  split: 128\n", 2, "input.split must be 0..127", "got 128"),
    ("input:\n  volume: 1.5\n", 2, "input.volume must be 0..1", "got 1.5"),
    ("input:\n  program: 0\n", 2, "input.program must be 1..128", "got 0"),
    ("input:\n  channels: [1, 17]\n", 2, "input.channels[1] must be 1..16", "got 17"),
    ("input:\n  channels: [1, 1]\n", 2, "input.channels[1] must not repeat a channel", "got 1 twice"),
    ("band:\n  keys:\n    pan: -2\n", 3, "band.keys.pan must be -1..1", "got -2"),
    ("audio:\n  buffer: 100\n", 2, "audio.buffer must be a power of two 16..4096", "got 100"),
    ("audio:\n  buffer: 8192\n", 2, "audio.buffer must be a power of two 16..4096", "got 8192"),
    ("audio:\n  sample_rate: 44000\n", 2, "audio.sample_rate must be one of 44100, 48000, 88200, 96000",
     "got 44000"),
    ("controls:\n  - {action: stop, type: cc, number: 128}\n", 2, "controls[0].number must be 0..127", "got 128"),
])
def test_out_of_range(tmp_path, text, line, field, got):
    assert_error(tmp_path, text, line, field, got)


@pytest.mark.parametrize("text, line, field, got", [
    ("sync_start: 1\n", 1, "sync_start must be true or false", "got 1"),
    ("input:\n  thru: 0\n", 2, "input.thru must be true or false", "got 0"),
    ("band:\n  bass:\n    enabled: 'yes'\n", 3, "band.bass.enabled must be true or false", "got 'yes'"),
    ("meter: true\n", 1, "meter must be a whole number 2..7", "got true"),
    ("band:\n  bass:\n    channel: false\n", 3, "band.bass.channel must be a whole number 1..16", "got false"),
    ("tempo: true\n", 1, "tempo must be a number 30..300", "got true"),
    ("audio:\n  sample_rate: true\n", 2, "audio.sample_rate must be one of", "got true"),
])
def test_bool_versus_int(tmp_path, text, line, field, got):
    assert_error(tmp_path, text, line, field, got)


@pytest.mark.parametrize("text, line, field, got", [
    ("name: x\nstyle: pop\nmode: jaz\n", 3, "mode must be one of lead, chords", "got 'jaz'"),
    ("style: Swing\n", 1, "style must be one of ambient, ballad, bossa-nova", "got 'Swing'; did you mean 'swing'?"),
    ("band:\n  bass:\n    instrument: tuba\n", 3, "band.bass.instrument must be one of piano, epiano", "got 'tuba'"),
    ("band:\n  x1:\n    role: solo\n", 3, "band.x1.role must be one of bass, comp, drums, pad, lead", "got 'solo'"),
    ("audio:\n  backend: alsa\n", 2, "audio.backend must be one of auto, jack, portaudio, offline", "got 'alsa'"),
    ("controls:\n  - {action: go, type: cc, number: 1}\n", 2, "controls[0].action must be one of start, stop",
     "got 'go'"),
    ("controls:\n  - {action: stop, type: sysex, number: 1}\n", 2, "controls[0].type must be one of cc, note, program",
     "got 'sysex'"),
])
def test_bad_enum(tmp_path, text, line, field, got):
    assert_error(tmp_path, text, line, field, got)


def test_missing_required(tmp_path):
    assert_error(tmp_path, "band:\n  bass:\n  lead_line:\n    channel: 5\n", 3,
                 "band.lead_line.role must be one of bass, comp, drums, pad, lead, got nothing")
    assert_error(tmp_path, "controls:\n  - action: stop\n    type: cc\n", 2,
                 "controls[0].number must be 0..127, got nothing")


def test_bad_part_name_and_too_many_parts(tmp_path):
    assert_error(tmp_path, "band:\n  bass:\n  Lead:\n    role: pad\n", 3,
                 "band part names must match [a-z][a-z0-9_-]*", "got 'Lead'")
    parts = "".join(f"  p{i}:\n    role: comp\n    channel: {i + 2}\n" for i in range(9))
    assert_error(tmp_path, "input:\n  thru: false\nband:\n" + parts, 3, "band must have at most 8 parts, got 9")


def test_low_not_below_high(tmp_path):
    assert_error(tmp_path, "band:\n  bass:\n    low: 60\n    high: 40\n", 3,
                 "band.bass.low must be below band.bass.high", "got low 60, high 40")
    # Only low given: the message still names both, with the role's default high.
    assert_error(tmp_path, "band:\n  bass:\n    low: 55\n", 3,
                 "band.bass.low must be below band.bass.high", "got low 55, high 55")
    # Only high given: the error sits on the high line.
    assert_error(tmp_path, "band:\n  pad:\n    volume: 0.5\n    high: 20\n", 4,
                 "band.pad.low must be below band.pad.high", "got low 48, high 20")


def test_channel_collision(tmp_path):
    assert_error(tmp_path, "band:\n  bass:\n    channel: 5\n  keys:\n    channel: 5\n", 5,
                 "band.keys.channel must differ from band.bass.channel", "only drums parts may share", "got 5")
    # A defaulted channel: the error sits on the part's name.
    assert_error(tmp_path, "band:\n  keys:\n  comp:\n", 3,
                 "band.comp.channel must differ from band.keys.channel", "got 3 for both")
    # Drums may share only with drums.
    assert_error(tmp_path, "band:\n  drums:\n  keys:\n    channel: 10\n", 4,
                 "band.keys.channel must differ from band.drums.channel", "got 10 for both")


def test_thru_channel_collision(tmp_path):
    assert_error(tmp_path, "input:\n  thru_channel: 2\n", 2,
                 "input.thru_channel must differ from every band channel", "band.bass uses 2", "got 2")
    assert_error(tmp_path, "input:\n  thru: true\nband:\n  bass:\n    channel: 1\n", 5,
                 "band.bass.channel must differ from input.thru_channel", "got 1 for both")
    # With thru off the channel is free.
    rig = load_rig(write(tmp_path, "input:\n  thru: false\n  thru_channel: 2\n"))
    assert rig.input.thru_channel == 2


def test_control_collision(tmp_path):
    text = ("controls:\n  - {action: stop, type: cc, number: 20}\n"
            "  - {action: start, type: cc, number: 20, channel: 3}\n")
    assert_error(tmp_path, text, 3, "controls[1] must bind a different message than controls[0]", "got cc 20")
    ok = ("controls:\n  - {action: stop, type: cc, number: 20, channel: 2}\n"
          "  - {action: start, type: cc, number: 20, channel: 3}\n"
          "  - {action: panic, type: note, number: 20}\n")
    assert len(load_rig(write(tmp_path, ok)).controls) == 3


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RigError) as info:
        load_rig(missing)
    assert str(info.value) == (f"rig file not found: {missing} "
                               "(built-in rigs: jazz-trio, pop-band, practice, solo-keys)")


def test_find_rig(tmp_path):
    assert find_rig("jazz-trio").name == "jazz-trio.yaml"
    mine = write(tmp_path, "tempo: 90\n")
    assert find_rig(str(mine)) == mine
    with pytest.raises(RigError, match=r"^rig file not found: jaz \(built-in rigs: jazz-trio, pop-band, "):
        find_rig("jaz")


@pytest.mark.parametrize("text, line, words", [
    ("name: x\ntempo 100\nmode: lead\n", 3, ["could not find expected ':'", "line 2"]),
    ("name: x\n  tempo: 1\n", 2, ["mapping values are not allowed here"]),
    ("band: [bass, keys\nmode: lead\n", 2, ["expected ',' or ']'"]),
    ("tempo: 90\n---\nmode: lead\n", 2, ["but found another document"]),
    ("tempo: 90\nname: \x07\n", 2, ["character '\\x07' (#x0007) is not allowed"]),
])
def test_yaml_syntax_error(tmp_path, text, line, words):
    assert_error(tmp_path, text, line, "YAML syntax error", *words)


@pytest.mark.parametrize("text", ["", "\n\n", "# only comments\n"])
def test_empty_file(tmp_path, text):
    assert_error(tmp_path, text, 1, "rig is empty", "got nothing")


@pytest.mark.parametrize("text, got", [("- tempo: 90\n", "got a list"), ("hello\n", "got 'hello'")])
def test_top_level_not_a_mapping(tmp_path, text, got):
    assert_error(tmp_path, text, 1, "rig must be a mapping of name, mode", got)


def test_unsafe_tag_is_refused(tmp_path):
    assert_error(tmp_path, "name: !!python/object:os.system x\n", 1, "cannot read value")


def test_not_utf8(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(RigError, match="must be a UTF-8 text file"):
        load_rig(path)


def test_rig_type_is_exported():
    assert isinstance(open_rig(), Rig)
