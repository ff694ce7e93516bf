"""The rig schema: every field a rig file may hold, as data.

This is the single source of truth for what a rig accepts. ``live.rig`` takes its key
lists, plain defaults, ranges and choices from here (so the reader cannot drift from
this list), and ``sideman rig docs`` writes the field tables of docs/rigs.md from it
(so the reference cannot drift either). tests/test_rigschema.py checks both ways: every
field here is read, every key the reader accepts is here, the defaults here are what a
rig that leaves the key out gets, and every range here is enforced.

A field has a ``kind`` that says how it is checked:

``int``, ``number``, ``power2``
    a whole number / any number / a power of two in ``lo..hi`` (``null_ok``: or null)
``bool``
    ``true`` or ``false``
``text``
    a non-empty string (``null_ok``: or null)
``choice``
    one of ``choices``
``style``, ``folder``, ``chart``, ``loop``, ``channels``, ``section``, ``band``, ``controls``,
``style_list``, ``setlist``
    read by code of its own in live/rig.py; ``allowed_doc`` says in words what is allowed

and a ``default``: a plain value (what the reader uses when the key is left out),
:data:`REQUIRED`, or a :class:`Computed` that describes in words a default the reader
works out (the style's tempo, the role's channel); the reader passes that value in.

How to add a rig field:

1. Add a :class:`Field` to its section below (the order is the order of the docs table
   and of the "allowed:" list in errors), with its kind, range or choices, default,
   doc text and an ``example`` (a valid value other than the default, used by the tests).
2. Add the attribute to the matching dataclass in live/rig.py (``Rig``, ``InputCfg``,
   ``AudioCfg``, ``MidiOutCfg``, ``PartCfg``, ``ControlCfg``, ``RecordCfg``), with a default
   if code builds that dataclass by hand. Plain fields of ``input``, ``audio``,
   ``midi_out``, ``record``, band parts and controls are then read with no more code; a
   top-level field is passed to ``Rig(...)`` in ``live.rig._build`` (one line); a field
   of a special kind needs its reading code.
3. Run ``sideman rig docs`` to regenerate docs/rigs.md, and the tests.

Threading model: constants only; any thread may read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MODES = ("lead", "chords", "chart", "duet")
ACCOMPANISTS = ("model", "rules")
ROLES = ("bass", "comp", "drums", "pad", "lead")
INSTRUMENTS = ("piano", "epiano", "organ", "pad", "strings", "bass", "upright", "kit", "brushes", "lead")
ACTIONS = ("start", "stop", "panic", "tempo_up", "tempo_down", "tap_tempo", "fill", "break", "next_variation",
           "ending", "mode", "style_next", "style_prev", "adventurousness", "energy")
#: actions that take the control's value (a CC's value, a note's velocity) instead of firing on a press
VALUE_ACTIONS = ("adventurousness", "energy")
#: the modes the ``mode`` action cycles through (the same band plays them; chart and duet need their own)
SWITCHABLE_MODES = ("lead", "chords")
CHORD_DETECT = ("fingered", "single_finger", "full")
CONTROL_TYPES = ("cc", "note", "program")
BACKENDS = ("auto", "jack", "portaudio", "offline")
SAMPLE_RATES = (44100, 48000, 88200, 96000)
MAX_PARTS = 8
DEFAULT_RIG = "pop-band"
PART_NAME = re.compile(r"[a-z][a-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class RoleDefaults:
    """What a band part gets for each field it leaves out, by role."""

    instrument: str
    channel: int
    program: int
    low: int
    high: int


ROLE_DEFAULTS = {
    "bass": RoleDefaults("bass", 2, 34, 28, 55),
    "comp": RoleDefaults("epiano", 3, 5, 52, 76),
    "pad": RoleDefaults("pad", 4, 89, 48, 84),
    "drums": RoleDefaults("kit", 10, 1, 35, 81),
    "lead": RoleDefaults("lead", 5, 12, 60, 84),  # the duet's voice: GM 12 = vibraphone
}
# The General MIDI sounds of the role defaults' programs (for the docs); drums on channel 10 by kit.
ROLE_PROGRAM_NAMES = {"bass": "fingered bass", "comp": "electric piano", "pad": "warm pad",
                      "drums": "standard kit", "lead": "vibraphone"}
# Parts with these names may leave out `role`.
NAME_ROLES = {"bass": "bass", "keys": "comp", "comp": "comp", "drums": "drums", "pad": "pad", "lead": "lead"}
# The band used when a rig has no `band:` key at all.
DEFAULT_BAND = ("bass", "keys", "drums")
# ... and in duet mode the voice that answers the musician.
DUET_BAND = DEFAULT_BAND + ("lead",)

#: Kinds the reader checks from the schema alone; the others have reading code of their own.
PLAIN_KINDS = ("int", "number", "power2", "bool", "text", "choice")
KINDS = PLAIN_KINDS + ("style", "folder", "chart", "loop", "channels", "section", "band", "controls", "style_list",
                      "setlist")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a field that must be given.
REQUIRED: Any = _Required()


@dataclass(frozen=True, slots=True)
class Computed:
    """A default the reader works out (from the style, the role, the mode...), in words."""

    words: str


_NO_EXAMPLE: Any = object()


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a rig section."""

    name: str
    kind: str  # one of KINDS
    default: Any  # a plain value, REQUIRED or Computed(words)
    doc: str = ""  # the Notes column (markdown)
    lo: float | None = None  # the range of int, number and power2, inclusive
    hi: float | None = None
    choices: tuple[Any, ...] = ()  # the values of a choice
    null_ok: bool = False  # null is also allowed (and means what ``doc`` says)
    what: str = ""  # words before the range in the Allowed column ("MIDI note 0..127")
    allowed_doc: str = ""  # the Allowed column in words, for the kinds with reading code of their own
    default_doc: str = ""  # words after a plain default ("`1` in chart mode")
    example: Any = _NO_EXAMPLE  # a valid value other than the default (sections: built from their fields)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"rig schema field {self.name}: kind must be one of {', '.join(KINDS)}, got {self.kind}")
        if self.kind in ("int", "number", "power2") and (self.lo is None or self.hi is None):
            raise ValueError(f"rig schema field {self.name}: a {self.kind} needs lo and hi")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"rig schema field {self.name}: a choice needs choices")

    @property
    def plain(self) -> bool:
        """Checked from the schema alone (kind, range, choices)."""
        return self.kind in PLAIN_KINDS

    @property
    def computed(self) -> bool:
        return isinstance(self.default, Computed)

    def allowed_words(self) -> str:
        """What is allowed, in plain words as error messages put it ("0..127", "one of cc, note")."""
        if self.kind == "choice":
            return f"one of {', '.join(map(str, self.choices))}"
        return f"{_num(self.lo)}..{_num(self.hi)}"


@dataclass(frozen=True, slots=True)
class Section:
    """The fields of one part of a rig file: the top level, a mapping, a band part or a control."""

    name: str  # "" for the top level
    title: str  # how the docs name it
    fields: tuple[Field, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys allowed, in order (as listed in "unknown key" errors)."""
        return tuple(f.name for f in self.fields)

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"no field {name!r} in rig section {self.name or 'rig'}")


def _num(v: float | None) -> str:
    return str(v)


def _role_words() -> str:
    named = ", ".join(f"`{name}` ({role})" for name, role in NAME_ROLES.items())
    return f"required, except for parts named {named}"


INPUT = Section("input", "`input`", (
    Field("port", "text", None, null_ok=True, example="Keystation",
          doc="connect to MIDI inputs whose name contains this; `null`: connect to none"),
    Field("channels", "channels", "all", allowed_doc="`all` or a list of channels 1..16", example=[1, 2],
          doc="e.g. `[1, 2]`"),
    Field("split", "int", None, lo=0, hi=127, null_ok=True, what="MIDI note", example=48,
          doc="notes below it are the chord zone, at/above it the melody zone; 60 = middle C"),
    Field("thru", "bool", True, example=False, doc="echo your notes on MIDI out"),
    Field("thru_channel", "int", 1, lo=1, hi=16, what="MIDI channel", example=16,
          doc="while `thru` is true no band part may use this channel"),
    Field("instrument", "choice", "piano", choices=INSTRUMENTS, allowed_doc="an instrument ([below](#instruments))",
          example="organ", doc="the sound of your own playing"),
    Field("program", "int", 1, lo=1, hi=128, what="General MIDI program", example=17),
    Field("volume", "number", 0.8, lo=0, hi=1, example=0.5),
    Field("reverb", "number", 0.18, lo=0, hi=1, example=0.1, doc="your sound's reverb send: 0 dry, 1 the most"),
    Field("chord_detect", "choice", "fingered", choices=CHORD_DETECT, example="single_finger",
          doc="how your chords are read ([below](#chord-detection)): fingered: the chord you hold below `split`; "
              "single_finger: the highest key held below `split` is the root, a black key held below it makes it "
              "minor, a white key a 7th, both a m7; full: in chords mode, every note held anywhere on the "
              "keyboard, the bass the lowest (no split)"),
    Field("clock", "bool", False, example=True,
          doc="follow MIDI clock from the input (a DAW, a drum machine, `jack_midi_clock`): the band starts on "
              "Start, puts its beats on every 24th tick (the clock's tempo, not the rig's), ends its notes and "
              "waits on Stop, comes in again from bar 1 on Start and from where it stopped (its place in the "
              "bar kept) on Continue, or from a Song Position Pointer sent while stopped; any number of times"),
))

AUDIO = Section("audio", "`audio`", (
    Field("backend", "choice", "auto", choices=BACKENDS, example="offline",
          doc="auto: JACK if it is running, else a sound card (PortAudio), else offline"),
    Field("sample_rate", "choice", 48000, choices=SAMPLE_RATES, example=44100, doc="frames per second"),
    Field("buffer", "power2", 64, lo=16, hi=4096, example=128,
          doc="frames per block; smaller is snappier, larger is safer"),
    Field("device", "text", None, null_ok=True, example="hw:1", doc="`null`: the system default"),
))

MIDI_OUT = Section("midi_out", "`midi_out`", (
    Field("port", "text", None, null_ok=True, example="Synth",
          doc="connect the band's MIDI out to existing outputs whose name contains this; `null`: connect to none"),
    Field("clock", "bool", False, example=True,
          doc="send MIDI clock on the band port: Start on the band's first beat, 24 ticks a beat on the band's "
              "own grid (following tempo changes), Stop when the take ends"),
))

PART = Section("band", "band part", (
    Field("role", "choice", Computed(_role_words()), choices=ROLES, example="lead",
          doc="what the part plays; `lead` plays only in duet mode"),
    Field("instrument", "choice", Computed("the style's for the role"), choices=INSTRUMENTS,
          allowed_doc="an instrument ([below](#instruments))", example="strings"),
    Field("channel", "int", Computed("by role"), lo=1, hi=16, what="MIDI channel", example=6,
          doc="each part needs its own ([below](#band))"),
    Field("program", "int", Computed("the style's for the role"), lo=1, hi=128, what="General MIDI program",
          example=74),
    Field("volume", "number", 0.7, lo=0, hi=1, example=0.5),
    Field("pan", "number", 0.0, lo=-1, hi=1, example=-0.5, doc="-1 left, 0 centre, 1 right"),
    Field("reverb", "number", 0.18, lo=0, hi=1, example=0.4,
          doc="the part's reverb send: 0 dry, 1 the most (the same room for every part)"),
    Field("low", "int", Computed("by role"), lo=0, hi=127, what="MIDI note", example=50,
          doc="the lowest note the part plays; below `high`"),
    Field("high", "int", Computed("by role"), lo=0, hi=127, what="MIDI note", example=90,
          doc="the highest note the part plays"),
    Field("enabled", "bool", True, example=False, doc="`false`: the part is silent (and keeps its channel)"),
))

CONTROL = Section("controls", "control", (
    Field("action", "choice", REQUIRED, choices=ACTIONS, example="tap_tempo",
          doc="what it does ([below](#controls)); `adventurousness` and `energy` take the CC's value (or the "
              "note's velocity) and need type `cc` or `note`"),
    Field("type", "choice", REQUIRED, choices=CONTROL_TYPES, example="note", doc="the kind of MIDI message"),
    Field("number", "int", REQUIRED, lo=0, hi=127, what="", example=64,
          doc="the CC number, note number or program number"),
    Field("channel", "int", None, lo=1, hi=16, null_ok=True, what="MIDI channel", example=2,
          doc="`null`: any channel"),
))

RECORD = Section("record", "`record`", (
    Field("enabled", "bool", True, example=False, doc="write each take to a MIDI file"),
    Field("folder", "text", ".", example="takes", doc="relative to the folder Sideman starts in"),
))

TOP = Section("", "top level", (
    Field("name", "text", Computed("the file name"), example="Friday gig",
          doc="shown when a jam starts, in the stage view and in each take's title"),
    Field("mode", "choice", "lead", choices=MODES, example="chords",
          doc="lead: you play the melody and the band harmonises it. chords: your chords (below `input.split`) "
              "drive the band. chart: the band plays a chord chart (`chart`) and you practise over it. duet: a "
              "lead voice answers each of your phrases ([below](#modes-chart-and-duet))"),
    Field("style", "style", "pop", allowed_doc="a style name ([above](#styles))", example="swing",
          doc="how the band plays: [docs/styles.md](styles.md)"),
    Field("styles", "folder", None, null_ok=True, allowed_doc="a folder or `null`", example=".",
          doc="your own style files, searched first; relative to the rig file"),
    Field("tempo", "number", Computed("the style's"), lo=30, hi=300, example=123, doc="beats per minute"),
    Field("meter", "int", Computed("the style's"), lo=2, hi=7, example=3, doc="beats per bar"),
    Field("swing", "number", Computed("the style's"), lo=0.0, hi=0.75, example=0.5,
          doc="0 straight; 0.33 a triplet feel on eighth notes"),
    Field("count_in", "int", 0, lo=0, hi=4, default_doc="`1` in chart mode", example=2,
          doc="bars counted in before the band plays"),
    Field("intro", "bool", False, example=True, doc="the band comes in with the style's intro"),
    Field("sync_start", "bool", True, example=False,
          doc="the band starts on your first note (with a count-in it counts in and starts by itself; in chart "
              "mode your first note starts the count-in). `false`: at once"),
    Field("follow_tempo", "bool", False, example=True,
          doc="the band follows your tempo and beat as you play (it holds its tempo while you rest two bars); "
              "a tempo you ask for (tap, tempo up/down) starts it afresh"),
    Field("accompanist", "choice", "model", choices=ACCOMPANISTS, example="rules",
          doc="who picks chords for your melody: the trained model (the rule-based band steps in if its file is "
              "missing or broken) or the rules"),
    Field("fix_clashes", "bool", True, example=False,
          doc="the model band (lead and duet modes) chooses each chord before the melody note on it; where that "
              "note then clashes with it, it strikes a chord that holds the note a few ms later (a note a little "
              "early is heard before the chord sounds). `false`: every chord stays as chosen before its note"),
    Field("chart", "chart", None, null_ok=True, allowed_doc="a chart file, a shipped chart's name, or `null`",
          example="aaba-in-eb",
          doc="the chord chart chart mode plays ([docs/charts.md](charts.md)); a path is read relative to the rig "
              "file; `sideman charts` lists the shipped ones (`blues-in-f`, `aaba-in-eb`, `pop-in-g`). In duet "
              "mode a chart gives the harmony. Its `tempo`, `meter`, `style` and `swing` win over the rig's"),
    Field("loop", "loop", None, null_ok=True, allowed_doc="a section of the chart, or `null`", example="B",
          doc="play that section over and over (no intro, no ending) until you stop"),
    Field("style_list", "style_list", None, null_ok=True, example=["pop", "rock"],
          allowed_doc="a list of style names in the rig's meter, or `null`",
          doc="the styles `style_next`/`style_prev` step through ([below](#controls)); `null`: every style found "
              "in the rig's meter, by name. All are loaded when the jam starts"),
    Field("adventurousness", "int", 64, lo=0, hi=127, example=100,
          doc="how adventurous the band is, as the `adventurousness` control sets it: 64 plays the style as "
              "written; above, more fills, variations, pushed hits and richer chords (and the model's chords "
              "drawn more freely); below, plainer"),
    Field("energy", "int", 64, lo=0, hi=127, example=30,
          doc="how hard and busy the band plays, as the `energy` control sets it: 64 as written; above, louder "
              "and denser (ghost notes all in, added hi-hats); below, softer and sparser"),
    Field("stop_ends_take", "bool", True, example=False,
          doc="`true`: the `stop` control ends the take. `false`: it stops the band at the next bar line (the "
              "take goes on recording you) and `start` brings the band in again from the top"),
    Field("setlist", "setlist", None, null_ok=True, example={2: "jazz-trio"},
          allowed_doc="a mapping of program numbers 0..127 to rig files or built-in rig names, or `null`",
          doc="songs a program change switches to at the next bar line ([below](#setlists)); a path is read "
              "relative to the rig file"),
    Field("input", "section", {}, allowed_doc="mapping, [below](#input)", doc="your keyboard"),
    Field("audio", "section", {}, allowed_doc="mapping, [below](#audio)", doc="the sound Sideman makes"),
    Field("midi_out", "section", {}, allowed_doc="mapping, [below](#midi_out)", doc="the band's MIDI out"),
    Field("band", "band", Computed("`bass`, `keys`, `drums` (and `lead` in duet mode)"),
          allowed_doc=f"mapping of at most {MAX_PARTS} parts, [below](#band)", doc="who plays with you"),
    Field("controls", "controls", [], allowed_doc="list, [below](#controls)",
          doc="pedals, pads and buttons that steer Sideman"),
    Field("record", "section", {}, allowed_doc="mapping, [below](#record)", doc="where takes go"),
))

#: The sections whose fields are a mapping under one top-level key.
SUBSECTIONS: dict[str, Section] = {"input": INPUT, "audio": AUDIO, "midi_out": MIDI_OUT, "record": RECORD}
#: Every section, by the name the docs and tests use.
SECTIONS: dict[str, Section] = {"rig": TOP, "input": INPUT, "audio": AUDIO, "midi_out": MIDI_OUT, "band": PART,
                                "controls": CONTROL, "record": RECORD}


# --- examples (the tests load them)


def example(f: Field) -> Any:
    """A valid value of ``f`` other than its default; a section's is every field of it set."""
    if f.kind == "section":
        return {g.name: example(g) for g in SUBSECTIONS[f.name].fields}
    if f.kind == "band":
        return {"bass": {g.name: example(g) for g in PART.fields}}
    if f.kind == "controls":
        return [{g.name: example(g) for g in CONTROL.fields}]
    if f.example is _NO_EXAMPLE:
        raise ValueError(f"rig schema field {f.name} has no example")
    return f.example


def example_rig() -> dict[str, Any]:
    """A rig with every field of the schema set to its example (it loads: the tests check).

    Mode chart with a chart and a loop, so that the fields which need each other are all set.
    """
    rig = {f.name: example(f) for f in TOP.fields}
    rig["mode"] = "chart"
    return rig


# --- the reference (docs/rigs.md)


def _code(v: Any) -> str:
    if v is None:
        return "`null`"
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    if isinstance(v, str):
        return f"`{v}`" if re.fullmatch(r"[A-Za-z_][\w-]*", v) else f'`"{v}"`'
    if isinstance(v, (list, tuple)) and not v:
        return "none"
    if isinstance(v, dict) and not v:
        return "each field's default"
    return f"`{v}`"


def allowed_cell(f: Field) -> str:
    """The Allowed column of ``f``."""
    null = " or `null`" if f.null_ok else ""
    if f.allowed_doc:
        return f.allowed_doc
    if f.kind == "bool":
        return "`true`, `false`"
    if f.kind == "text":
        return f"text{null}"
    if f.kind == "choice":
        return ", ".join(_code(c) for c in f.choices) + null
    what = {"int": f.what if f.what else "whole number", "number": "number", "power2": "power of two"}[f.kind]
    return f"{what} {_num(f.lo)}..{_num(f.hi)}{null}"


def default_cell(f: Field) -> str:
    """The Default column of ``f``."""
    if f.default is REQUIRED:
        return "required"
    if isinstance(f.default, Computed):
        return f.default.words
    shown = _code(f.default)
    return f"{shown}; {f.default_doc}" if f.default_doc else shown


_PAD = 40  # cells longer than this are not padded to: one long cell would widen every line


def _row(cells: list[str], widths: list[int]) -> str:
    return ("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))).rstrip() + " |"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table, its columns padded so that the source reads as a table too."""
    widths = [max(len(c) for c in (r[i] for r in [header] + rows) if len(c) <= _PAD) for i in range(len(header))]
    widths[-1] = len(header[-1])  # the last column runs on
    lines = [_row(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [_row(r, widths) for r in rows]
    return "\n".join(lines)


def field_table(section: Section) -> str:
    """The reference table of one section: Field, Allowed, Default, Notes."""
    rows = [[f"`{f.name}`", allowed_cell(f), default_cell(f), f.doc] for f in section.fields]
    return table(["Field", "Allowed", "Default", "Notes"], rows)


def role_table() -> str:
    """The defaults a band part gets by role."""
    rows = [[f"`{role}`", f"`{d.instrument}`", str(d.channel), f"{d.program} ({ROLE_PROGRAM_NAMES[role]})",
             f"{d.low}..{d.high}"] for role, d in ROLE_DEFAULTS.items()]
    return table(["Role", "instrument", "channel", "program", "low..high"], rows)


def instruments_list() -> str:
    return ", ".join(f"`{i}`" for i in INSTRUMENTS) + "."


#: The generated blocks of docs/rigs.md, by name.
BLOCKS: dict[str, Any] = {
    "rig": lambda: field_table(TOP),
    "input": lambda: field_table(INPUT),
    "audio": lambda: field_table(AUDIO),
    "midi_out": lambda: field_table(MIDI_OUT),
    "band": lambda: field_table(PART),
    "roles": role_table,
    "controls": lambda: field_table(CONTROL),
    "record": lambda: field_table(RECORD),
    "instruments": instruments_list,
}
