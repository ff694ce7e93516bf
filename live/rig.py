"""Rigs: how Sideman is wired for one song or gig, read from a YAML file.

A rig is a YAML file a musician copies and edits (the fields are listed in
docs/rigs.md; the built-in rigs live in the top-level ``rigs/`` folder, installed
as the package ``live.rigs``). The fields themselves, with their kinds, ranges,
choices and defaults, are data in live/rigschema.py: the key lists, plain defaults
and ranges used here come from there, and so does the reference in docs/rigs.md
(``sideman rig docs``). live/rigschema.py says how to add a field. A rig is read once, checked completely and turned
into frozen dataclasses. After that its values are trusted: nothing downstream
re-checks them. Every problem is a :class:`RigError` that names the file, the
line, the dotted field, what is allowed and what was received::

    rigs/duo.yaml:14 band.bass.channel must be 1..16, got 17

Threading model: loading reads files and allocates, so it runs on the control
thread before going live, never on the midi or audio thread. A loaded
:class:`Rig` is immutable and any thread may read it. To change one, build a new
copy with :meth:`Rig.with_overrides`, which checks the copy just as a file is
checked, and publish the new reference.

The ``style`` is the name of a band style file (live/styles.py, docs/styles.md),
looked up in the rig's ``styles`` folder, the user's styles folder and the shipped
styles. The style also gives the defaults for what the rig leaves out: tempo, meter,
swing, and each band part's instrument and program.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from live.errors import RigError
from live.yamlcheck import Bad as _Bad
from live.yamlcheck import Doc as _Doc
from live.yamlcheck import Entries as _Entries
from live.yamlcheck import check_bool as _bool
from live.yamlcheck import check_choice as _choice
from live.yamlcheck import check_int as _int
from live.yamlcheck import check_num as _num
from live.yamlcheck import check_str as _str
from live.yamlcheck import is_int as _is_int
from live.yamlcheck import parse_node
from live.yamlcheck import shown as _shown

# The schema (live/rigschema.py) owns the fields, their ranges and defaults; its constants are
# re-exported here, where the rest of Sideman has always found them.
from live import rigschema as S
from live.rigschema import ACCOMPANISTS as ACCOMPANISTS
from live.rigschema import ACTIONS as ACTIONS
from live.rigschema import BACKENDS as BACKENDS
from live.rigschema import CHORD_DETECT as CHORD_DETECT
from live.rigschema import CONTROL_TYPES as CONTROL_TYPES
from live.rigschema import DEFAULT_BAND as DEFAULT_BAND
from live.rigschema import DEFAULT_RIG as DEFAULT_RIG
from live.rigschema import DUET_BAND as DUET_BAND
from live.rigschema import INSTRUMENTS as INSTRUMENTS
from live.rigschema import MAX_PARTS as MAX_PARTS
from live.rigschema import MODES as MODES
from live.rigschema import NAME_ROLES as NAME_ROLES
from live.rigschema import PART_NAME as PART_NAME
from live.rigschema import ROLE_DEFAULTS as ROLE_DEFAULTS
from live.rigschema import ROLES as ROLES
from live.rigschema import SAMPLE_RATES as SAMPLE_RATES
from live.rigschema import VALUE_ACTIONS as VALUE_ACTIONS
from live.rigschema import RoleDefaults as RoleDefaults

#: Fields a chart sets for the rig (its own, unless the caller forces them: --tempo).
CHART_FIELDS = ("tempo", "style", "swing")


@dataclass(frozen=True, slots=True)
class PartCfg:
    """One band part (a voice the band plays)."""

    name: str
    role: str  # one of ROLES
    instrument: str  # one of INSTRUMENTS
    channel: int  # MIDI channel 1..16
    program: int  # GM program 1..128
    volume: float  # 0..1
    pan: float  # -1 (left) .. 1 (right)
    low: int  # lowest MIDI note the part plays, < high
    high: int
    enabled: bool
    reverb: float = 0.18  # reverb send 0..1


@dataclass(frozen=True, slots=True)
class InputCfg:
    """The musician's MIDI input."""

    port: str | None  # connect to inputs whose name contains this; None = connect to none
    channels: tuple[int, ...]  # channels listened to; empty = all
    split: int | None  # below = chord zone, at/above = melody zone; None = no split
    thru: bool  # echo the musician's notes on MIDI out
    thru_channel: int
    instrument: str
    program: int
    volume: float
    clock: bool = False  # follow MIDI clock (start/stop, 24 ticks a beat) from the input
    chord_detect: str = "fingered"  # one of CHORD_DETECT: how the chord zone is read
    reverb: float = 0.18  # the musician's reverb send 0..1


@dataclass(frozen=True, slots=True)
class AudioCfg:
    backend: str  # one of BACKENDS
    sample_rate: int  # one of SAMPLE_RATES
    buffer: int  # frames per block, a power of two 16..4096
    device: str | None


@dataclass(frozen=True, slots=True)
class MidiOutCfg:
    port: str | None
    clock: bool = False  # send MIDI clock (24 per beat) with start/stop on the band port


@dataclass(frozen=True, slots=True)
class ControlCfg:
    """A MIDI message that triggers an action (a pedal, pad or button)."""

    action: str  # one of ACTIONS
    type: str  # one of CONTROL_TYPES
    number: int  # CC number, note number or program number, 0..127
    channel: int | None  # None = any channel


@dataclass(frozen=True, slots=True)
class RecordCfg:
    enabled: bool
    folder: str


@dataclass(frozen=True, slots=True)
class Song:
    """One entry of a rig's setlist: a program change switches the band to this rig."""

    program: int  # the program change's number as sent, 0..127
    path: str  # the song's rig file, absolute
    rig: Rig | None  # loaded when the setlist was read; None: the setlist's own rig


@dataclass(frozen=True, slots=True)
class Rig:
    """A whole rig, checked. ``source`` is the file path or ``"<built-in NAME>"``."""

    name: str
    source: str
    mode: str  # one of MODES
    style: str  # a style name (live.styles.style_names)
    styles: str | None  # a folder searched first for style files (absolute), or None
    tempo: float  # bpm, 30..300; the style's tempo when the rig leaves it out
    meter: int  # beats per bar, 2..7; the style's meter when left out
    swing: float  # 0.0..0.75; the style's swing when left out
    count_in: int  # bars, 0..4
    intro: bool  # the band comes in with the style's intro
    sync_start: bool
    follow_tempo: bool  # the band follows the musician's tempo (and phase)
    accompanist: str  # one of ACCOMPANISTS
    input: InputCfg
    audio: AudioCfg
    midi_out: MidiOutCfg
    band: tuple[PartCfg, ...]
    controls: tuple[ControlCfg, ...]
    record: RecordCfg
    chart: str | None = None  # a chord chart file (absolute path): chart mode plays it
    loop: str | None = None  # a section of the chart to loop
    style_list: tuple[str, ...] | None = None  # styles style_next/style_prev step through; None: all of the meter
    adventurousness: int = 64  # 0..127, 64 = the style as written
    energy: int = 64  # 0..127, 64 = the style as written
    stop_ends_take: bool = True  # False: stop rests the band at the bar line, start brings it back
    fix_clashes: bool = True  # the model band corrects a chord a melody note clashes with (live.planner)
    setlist: tuple[Song, ...] = ()  # program change -> song, loaded with the rig

    def part(self, name: str) -> PartCfg:
        """The band part called ``name``. Raises KeyError when there is none."""
        for p in self.band:
            if p.name == name:
                return p
        raise KeyError(name)

    def with_overrides(self, **changes: Any) -> Rig:
        """A copy with top-level fields replaced, checked exactly as a rig file is.

        Nested sections are replaced whole, e.g.
        ``rig.with_overrides(tempo=120, input=dataclasses.replace(rig.input, split=60))``.

        Raises:
            RigError: an unknown field or a bad value; the message names the field
                and reads ``SOURCE (override) FIELD must be ..., got ...``.
        Thread: control thread; the result is a fresh immutable object to publish.
        """
        label = f"{self.source} (override)"
        fields = [f.name for f in dataclasses.fields(self)]
        for key in changes:
            if key not in fields:
                raise RigError(f"{label} unknown rig field {key!r} (allowed: {', '.join(fields)})")
        draft = dataclasses.replace(self, **changes)
        source = draft.source if isinstance(draft.source, str) else self.source
        data = _to_dict(draft, label)
        dumper = yaml.SafeDumper(io.StringIO(), sort_keys=False)
        root = dumper.represent_data(data)  # nodes without marks, so errors carry no line
        forced = {k: changes[k] for k in CHART_FIELDS if k in changes}  # an override beats the chart
        forced["_own"] = _own_file(self.source)
        return _build(root, label=label, source=source, stem=self.name, base=None, styles=None, forced=forced)


# --- value checks (shared with styles: live/yamlcheck.py)


def _power2(v: Any, field: str, lo: int, hi: int) -> int:
    if not _is_int(v) or not lo <= v <= hi or v & (v - 1):
        raise _Bad(f"{field} must be a power of two {lo}..{hi}, got {_shown(v)}")
    return v


# --- reading YAML nodes, as the schema (live/rigschema.py) says

# The keys each section allows, in the schema's order (also read by older tests and tools).
_TOP_KEYS = S.TOP.keys
_INPUT_KEYS = S.INPUT.keys
_AUDIO_KEYS = S.AUDIO.keys
_MIDI_OUT_KEYS = S.MIDI_OUT.keys
_PART_KEYS = S.PART.keys
_CONTROL_KEYS = S.CONTROL.keys
_RECORD_KEYS = S.RECORD.keys

_NOT_GIVEN: Any = object()


def _get(doc: _Doc, m: _Entries, prefix: str, f: S.Field, default: Any = _NOT_GIVEN) -> Any:
    """The plain field ``f`` read from ``m`` and checked by its kind, range or choices.

    Left out, it is the schema's default; a computed default (``S.Computed``, described in
    the schema in words) is worked out by the caller and passed as ``default``.
    """
    if default is _NOT_GIVEN:
        if isinstance(f.default, S.Computed):
            raise TypeError(f"rig field {prefix}.{f.name} has a computed default: pass it")
        default = None if f.default is S.REQUIRED else f.default
    if f.kind == "int":
        return doc.get(m, prefix, f.name, default, _int, f.lo, f.hi, null_ok=f.null_ok)
    if f.kind == "number":
        return doc.get(m, prefix, f.name, default, _num, f.lo, f.hi)
    if f.kind == "power2":
        return doc.get(m, prefix, f.name, default, _power2, f.lo, f.hi)
    if f.kind == "bool":
        return doc.get(m, prefix, f.name, default, _bool)
    if f.kind == "text":
        return doc.get(m, prefix, f.name, default, _str, null_ok=f.null_ok)
    if f.kind == "choice":
        return doc.get(m, prefix, f.name, default, _choice, f.choices)
    raise TypeError(f"rig field {prefix}.{f.name} of kind {f.kind} has reading code of its own")


def _read_fields(doc: _Doc, section: S.Section, m: _Entries, prefix: str, *,
                 given: dict[str, Any] | None = None, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every field of ``section``, in the schema's order (which is the order errors are found
    in): plain ones read by :func:`_get` (``defaults``: their computed defaults), the others
    taken from ``given`` (a value, or a function that reads it)."""
    given = given or {}
    defaults = defaults or {}
    out: dict[str, Any] = {}
    for f in section.fields:
        if f.name in given:
            v = given[f.name]
            out[f.name] = v() if callable(v) else v
        else:
            out[f.name] = _get(doc, m, prefix, f, defaults.get(f.name, _NOT_GIVEN))
    return out


def _build(root: yaml.Node, *, label: str, source: str, stem: str, base: Path | None,
           styles: str | None, forced: dict[str, Any] | None = None) -> Rig:
    """``forced``: values given outside the file (``--chart``, ``--loop``, ``--tempo``; an
    override's tempo, style, swing) that win over the file's and over its chart's."""
    forced = forced or {}
    doc = _Doc(label, root, RigError)
    top = doc.mapping(root, "rig", _TOP_KEYS)
    T = S.TOP
    g = doc.get
    folder = styles if styles is not None else g(top, "", "styles", T["styles"].default, _folder, base)
    mode = _get(doc, top, "", T["mode"])
    if forced.get("chart") is not None and mode not in ("chart", "duet"):
        mode = "chart"  # sideman jam --chart: play it
    chart_path, chart = _read_chart(doc, top, mode, base, forced)
    style = _read_style(doc, top, folder, chart, forced.get("style"))
    inp = _read_input(doc, doc.section(top, "input", _INPUT_KEYS))
    band = _read_band(doc, top, style, mode)
    tempo = _get(doc, top, "", T["tempo"], style.tempo)
    meter = _get(doc, top, "", T["meter"], style.meter)
    swing = _get(doc, top, "", T["swing"], style.swing)
    if chart is not None:  # the song's tempo, meter and feel: docs/charts.md
        tempo = chart.tempo if chart.tempo is not None else tempo
        meter = chart.meter
        swing = chart.swing if chart.swing is not None else style.swing if chart.style else swing
    tempo = float(forced.get("tempo", tempo))
    swing = float(forced.get("swing", swing))
    style_list = _read_style_list(doc, top, folder, meter)
    controls = _read_controls(doc, top)
    setlist = _read_setlist(doc, top, base, forced)
    rig = Rig(
        name=_get(doc, top, "", T["name"], stem),
        source=source,
        mode=mode,
        style=style.name,
        styles=folder,
        tempo=tempo,
        meter=meter,
        swing=swing,
        count_in=_get(doc, top, "", T["count_in"], 1 if mode == "chart" else T["count_in"].default),
        intro=_get(doc, top, "", T["intro"]),
        sync_start=_get(doc, top, "", T["sync_start"]),
        follow_tempo=_get(doc, top, "", T["follow_tempo"]),
        accompanist=_get(doc, top, "", T["accompanist"]),
        input=inp,
        audio=_read_audio(doc, doc.section(top, "audio", _AUDIO_KEYS)),
        midi_out=_read_midi_out(doc, doc.section(top, "midi_out", _MIDI_OUT_KEYS)),
        band=band,
        controls=controls,
        record=_read_record(doc, doc.section(top, "record", _RECORD_KEYS)),
        chart=chart_path,
        loop=_read_loop(doc, top, chart, forced),
        style_list=style_list,
        adventurousness=_get(doc, top, "", T["adventurousness"]),
        energy=_get(doc, top, "", T["energy"]),
        stop_ends_take=_get(doc, top, "", T["stop_ends_take"]),
        fix_clashes=_get(doc, top, "", T["fix_clashes"]),
        setlist=setlist,
    )
    _check_thru(doc, rig)
    return rig


def _folder(v: Any, field: str, base: Path | None) -> str | None:
    if v is None:
        return None
    _str(v, field)
    p = Path(os.path.expanduser(v))
    if not p.is_absolute() and base is not None:
        p = base / p
    if not p.is_dir():
        raise _Bad(f"{field} must be a folder of style files or null, got {v!r} (no folder {p})")
    return str(p.resolve())


def _read_style(doc: _Doc, top: _Entries, folder: str | None, chart=None, forced: str | None = None):
    """The rig's style, loaded: its name must be one of the style files found. A chart's
    style wins over the rig's, and a forced one (an override) over both."""
    from live.styles import open_style, style_names

    names = tuple(style_names(folder))
    name = doc.get(top, "", "style", S.TOP["style"].default, _choice, names)
    if forced is None and chart is not None and chart.style is not None:
        name = chart.style
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RigError(f"{chart.source}:{chart.lines.get('style', 1)} style must be one of "
                           f"{', '.join(names)}, got {name!r}{hint}")
    elif forced is not None:
        try:
            name = _choice(forced, "style", names)
        except _Bad as e:
            raise RigError(f"{doc.label} {e}") from None
    return open_style(name, folder)


def _read_chart(doc: _Doc, top: _Entries, mode: str, base: Path | None, forced: dict[str, Any]):
    """(absolute path, Chart) of the rig's chord chart, or (None, None).

    A chart is played in chart mode (which needs one) and gives the harmony in duet mode.
    A path is read relative to the rig file (``--chart``: to the current folder); a name
    alone is a chart shipped with Sideman.
    """
    from live.chart import builtin_chart_names, find_chart, load_chart
    from live.errors import ChartError

    shipped = ", ".join(builtin_chart_names())
    if forced.get("chart") is not None:
        text, node, where = forced["chart"], None, None
    elif "chart" in top:
        node = top["chart"][1]
        text = doc.check(node, "chart", _str, null_ok=True)
        where = base
    else:
        text, node, where = None, None, None
    if text is None:
        if mode == "chart":
            doc.fail(doc.locate("mode"), f"mode chart needs a chart: a chord chart file (docs/charts.md) or "
                                         f"a shipped chart's name ({shipped}), got nothing")
        return None, None
    if mode not in ("chart", "duet"):
        doc.fail(node if node is not None else doc.locate("mode"),
                 f"chart is played in mode chart (or gives the harmony in mode duet), got mode {mode}")
    try:
        path = find_chart(text, where)
    except ChartError:
        at = f" (no file {Path(where) / text})" if where is not None and not Path(text).is_absolute() else ""
        msg = (f"chart must be a chord chart file or a shipped chart's name ({shipped}), got {text!r}{at}")
        if node is None:
            raise RigError(f"--chart: {msg}") from None
        doc.fail(node, msg)
    return str(path.resolve()), load_chart(path)


def _read_loop(doc: _Doc, top: _Entries, chart, forced: dict[str, Any]) -> str | None:
    if forced.get("loop") is not None:
        text, node = forced["loop"], None
    elif "loop" in top:
        node = top["loop"][1]
        text = doc.check(node, "loop", _str, null_ok=True)
    else:
        return None
    if text is None:
        return None
    sections = tuple(chart.sections) if chart is not None else ()
    if text in sections:
        return text
    if chart is None:
        msg = f"loop must name a section of the rig's chart (it needs a chart: docs/charts.md), got {text!r}"
    else:
        close = difflib.get_close_matches(str(text), sections, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        msg = f"loop must be one of the chart's sections ({', '.join(sections)}), got {text!r}{hint}"
    if node is None:
        raise RigError(f"--loop: {msg}")
    doc.fail(node, msg)


def _read_input(doc: _Doc, m: _Entries) -> InputCfg:
    return InputCfg(**_read_fields(doc, S.INPUT, m, "input", given={"channels": lambda: _read_channels(doc, m)}))


def _read_channels(doc: _Doc, m: _Entries) -> tuple[int, ...]:
    if "channels" not in m:
        return ()
    node = m["channels"][1]
    doc.nodes["input.channels"] = node
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        v = doc.value(node)
        if v == "all":
            return ()
        doc.fail(node, f"input.channels must be all or a list of channels 1..16 such as [1, 2], got {_shown(v)}")
    channels: list[int] = []
    for i, item in enumerate(node.value):
        ch = doc.check(item, f"input.channels[{i}]", _int, 1, 16)
        if ch in channels:
            doc.fail(item, f"input.channels[{i}] must not repeat a channel, got {ch} twice")
        channels.append(ch)
    return tuple(channels)


def _read_midi_out(doc: _Doc, m: _Entries) -> MidiOutCfg:
    return MidiOutCfg(**_read_fields(doc, S.MIDI_OUT, m, "midi_out"))


def _read_audio(doc: _Doc, m: _Entries) -> AudioCfg:
    return AudioCfg(**_read_fields(doc, S.AUDIO, m, "audio"))


def _read_record(doc: _Doc, m: _Entries) -> RecordCfg:
    return RecordCfg(**_read_fields(doc, S.RECORD, m, "record"))


def _read_band(doc: _Doc, top: _Entries, style, mode: str = "lead") -> tuple[PartCfg, ...]:
    if "band" not in top:
        names = DUET_BAND if mode == "duet" else DEFAULT_BAND
        return tuple(_part_defaults(name, NAME_ROLES[name], style) for name in names)
    knode, vnode = top["band"]
    doc.nodes["band"] = knode
    entries = doc.mapping(vnode, "band", None)
    if len(entries) > MAX_PARTS:
        doc.fail(knode, f"band must have at most {MAX_PARTS} parts, got {len(entries)}")
    parts = []
    for name, (pk, pv) in entries.items():
        if not isinstance(name, str) or not PART_NAME.fullmatch(name):
            doc.fail(pk, f"band part names must match [a-z][a-z0-9_-]*, got {_shown(name)}")
        parts.append(_read_part(doc, name, pk, pv, style))
    _check_channels(doc, parts)
    if mode == "duet" and not any(p.role == "lead" and p.enabled for p in parts):
        doc.fail(knode, f"band must have an enabled part with role lead in mode duet (the voice that answers "
                        f"you), such as `lead: {{program: 74}}`, got {', '.join(p.name for p in parts) or 'none'}")
    return tuple(parts)


def _part_defaults(name: str, role: str, style) -> PartCfg:
    d = ROLE_DEFAULTS[role]
    sound = style.sound(role)  # the style's instrument and program for the role
    computed = {"role": role, "instrument": sound.instrument, "channel": d.channel, "program": sound.program,
                "low": d.low, "high": d.high}
    plain = {f.name: f.default for f in S.PART.fields if f.name not in computed}
    return PartCfg(name=name, **computed, **plain)


def _read_part(doc: _Doc, name: str, knode: yaml.Node, vnode: yaml.Node, style) -> PartCfg:
    field = f"band.{name}"
    doc.nodes[field] = knode
    m = doc.mapping(vnode, field, _PART_KEYS)
    role_field = S.PART["role"]
    role = _get(doc, m, field, role_field, NAME_ROLES.get(name))
    if role is None:
        doc.fail(knode, f"{field}.role must be {role_field.allowed_words()}, got nothing "
                        f"(only parts named {', '.join(NAME_ROLES)} may leave it out)")
    d = dataclasses.asdict(_part_defaults(name, role, style))
    part = PartCfg(name=name, **_read_fields(doc, S.PART, m, field, given={"role": role}, defaults=d))
    if part.low >= part.high:
        at = f"{field}.low" if f"{field}.low" in doc.nodes else f"{field}.high"
        doc.fail(doc.locate(at), f"{field}.low must be below {field}.high, "
                                 f"got low {part.low}, high {part.high}")
    return part


def _check_channels(doc: _Doc, parts: list[PartCfg]) -> None:
    # Disabled parts count too, so enabling one later cannot create a clash.
    first: dict[int, PartCfg] = {}
    for p in parts:
        other = first.setdefault(p.channel, p)
        if other is not p and not (p.role == "drums" and other.role == "drums"):
            doc.fail(doc.locate(f"band.{p.name}.channel"),
                     f"band.{p.name}.channel must differ from band.{other.name}.channel "
                     f"(only drums parts may share a channel), got {p.channel} for both")


def _check_thru(doc: _Doc, rig: Rig) -> None:
    if not rig.input.thru:
        return
    ch = rig.input.thru_channel
    for p in rig.band:
        if p.channel != ch:
            continue
        field = f"band.{p.name}.channel"
        if field in doc.nodes:  # the part's channel was set explicitly: blame that
            doc.fail(doc.nodes[field], f"{field} must differ from input.thru_channel while input.thru "
                                       f"is true, got {ch} for both")
        doc.fail(doc.locate("input.thru_channel"),
                 f"input.thru_channel must differ from every band channel while input.thru is true "
                 f"(band.{p.name} uses {ch}), got {ch}")


def _read_controls(doc: _Doc, top: _Entries) -> tuple[ControlCfg, ...]:
    if "controls" not in top:
        return ()
    knode, vnode = top["controls"]
    doc.nodes["controls"] = knode
    if doc.is_null(vnode):
        return ()
    if not isinstance(vnode, yaml.SequenceNode):
        doc.fail(vnode, f"controls must be a list of mappings of {', '.join(_CONTROL_KEYS)}, "
                        f"got {_shown(doc.value(vnode))}")
    controls: list[ControlCfg] = []
    for i, item in enumerate(vnode.value):
        field = f"controls[{i}]"
        doc.nodes[field] = item
        m = doc.mapping(item, field, _CONTROL_KEYS)
        for f in S.CONTROL.fields:
            if f.default is S.REQUIRED and f.name not in m:
                doc.fail(item, f"{field}.{f.name} must be {f.allowed_words()}, got nothing")
        c = ControlCfg(**_read_fields(doc, S.CONTROL, m, field))
        if c.action in VALUE_ACTIONS and c.type == "program":
            doc.fail(doc.locate(f"{field}.type"), f"{field}.type must be cc or note for action {c.action} (it "
                                                  f"takes the control's value), got program")
        for j, o in enumerate(controls):
            same_channel = o.channel is None or c.channel is None or o.channel == c.channel
            if (o.type, o.number) == (c.type, c.number) and same_channel:
                doc.fail(item, f"{field} must bind a different message than controls[{j}] "
                               f"(a null channel means any), got {c.type} {c.number} in both")
        controls.append(c)
    return tuple(controls)


def _read_style_list(doc: _Doc, top: _Entries, folder: str | None, meter: int) -> tuple[str, ...] | None:
    """The styles style_next/style_prev step through: names of styles in the rig's meter."""
    from live.styles import open_style, style_names

    if "style_list" not in top:
        return None
    knode, vnode = top["style_list"]
    doc.nodes["style_list"] = knode
    if doc.is_null(vnode):
        return None
    names = tuple(style_names(folder))
    if not isinstance(vnode, yaml.SequenceNode) or not vnode.value:
        doc.fail(vnode, f"style_list must be a list of style names such as [pop, rock] (or null), "
                        f"got {_shown(doc.value(vnode))}")
    out: list[str] = []
    for i, item in enumerate(vnode.value):
        name = doc.check(item, f"style_list[{i}]", _choice, names)
        style = open_style(name, folder)
        if style.meter != meter:
            doc.fail(item, f"style_list[{i}] must be a style in {meter}/4 like the rig (the band does not change "
                           f"meter within a song), got {name} in {style.meter}/4")
        if name in out:
            doc.fail(item, f"style_list[{i}] must not repeat a style, got {name} twice")
        out.append(name)
    return tuple(out)


def _own_file(source: str) -> str | None:
    """The rig file a source names (a path, or ``<built-in NAME>``), absolute; None for text."""
    if source.startswith("<built-in ") and source.endswith(">"):
        return str((_builtin_dir() / f"{source[len('<built-in '):-1]}.yaml").resolve())
    if source.startswith("<"):
        return None
    p = Path(source)
    return str(p.resolve()) if p.is_file() else None


def _read_setlist(doc: _Doc, top: _Entries, base: Path | None, forced: dict[str, Any]) -> tuple[Song, ...]:
    """The songs a program change switches to, each rig loaded now (a bad song fails here,
    with its own file and line)."""
    if "setlist" not in top:
        return ()
    knode, vnode = top["setlist"]
    doc.nodes["setlist"] = knode
    if doc.is_null(vnode):
        return ()
    if forced.get("_song"):
        doc.fail(knode, "setlist must be left out of a rig that is itself a song of a setlist (only the rig you "
                        "start with has the setlist), got one")
    own = forced.get("_own")
    songs: list[Song] = []
    for prog, (pk, pv) in doc.mapping(vnode, "setlist", None).items():
        field = f"setlist.{prog}"
        doc.check(pk, field, _int, 0, 127)
        text = doc.check(pv, field, _str)
        p = Path(os.path.expanduser(text))
        if not p.is_absolute() and base is not None:
            p = base / p
        if p.is_file():
            path = p.resolve()
        elif text in builtin_rig_names():
            path = (_builtin_dir() / f"{text}.yaml").resolve()
        else:
            doc.fail(pv, f"{field} must be a rig file or a built-in rig's name ({', '.join(builtin_rig_names())}), "
                         f"got {text!r} (no file {p})")
        if own is not None and str(path) == own:
            songs.append(Song(prog, str(path), None))
            continue
        try:
            song = load_rig(path, _song=True)
        except RigError as e:
            raise RigError(f"{e} (in song {prog} of the setlist at {doc.label}:{pv.start_mark.line + 1})") from None
        songs.append(Song(prog, str(path), song))
    return tuple(songs)


# --- turning a rig back into its file shape


def _as_dict(obj: Any, cls: type, field: str, label: str) -> dict[str, Any]:
    if not isinstance(obj, cls):
        raise RigError(f"{label} {field} must be a {cls.__name__}, got {type(obj).__name__}")
    return dataclasses.asdict(obj)


def _to_dict(rig: Rig, label: str) -> dict[str, Any]:
    inp = _as_dict(rig.input, InputCfg, "input", label)
    inp["channels"] = list(inp["channels"]) if inp["channels"] else "all"
    band: dict[str, Any] = {}
    for i, p in enumerate(rig.band):
        d = _as_dict(p, PartCfg, f"band[{i}]", label)
        name = d.pop("name")
        if name in band:
            raise RigError(f"{label} band part names must be unique, got {name!r} twice")
        band[name] = d
    data = {f.name: getattr(rig, f.name) for f in S.TOP.fields}  # every field, in the schema's order
    data.update(
        input=inp,
        audio=_as_dict(rig.audio, AudioCfg, "audio", label),
        midi_out=_as_dict(rig.midi_out, MidiOutCfg, "midi_out", label),
        band=band,
        controls=[_as_dict(c, ControlCfg, f"controls[{i}]", label) for i, c in enumerate(rig.controls)],
        record=_as_dict(rig.record, RecordCfg, "record", label),
        style_list=list(rig.style_list) if rig.style_list is not None else None,
        setlist={s.program: s.path for s in rig.setlist} or None,
    )
    return data


def rig_to_dict(rig: Rig) -> dict[str, Any]:
    """The rig as plain data in the file's own shape (``source`` left out).

    ``yaml.safe_dump(rig_to_dict(rig), sort_keys=False)`` is a complete rig file that
    loads back to an equal rig.
    """
    return _to_dict(rig, rig.source)


# --- loading


def _load_text(text: str, *, label: str, source: str, stem: str, base: Path | None,
               styles: str | os.PathLike[str] | None, forced: dict[str, Any] | None = None) -> Rig:
    if styles is not None:
        if not Path(styles).is_dir():
            raise RigError(f"styles folder not found: {styles}")
        styles = str(Path(styles).resolve())
    root = parse_node(text, label, RigError)
    if root is None:
        raise RigError(f"{label}:1 rig is empty; it must be a mapping of settings "
                       f"({', '.join(_TOP_KEYS)}), got nothing")
    return _build(root, label=label, source=source, stem=stem, base=base, styles=styles, forced=forced)


def _forced(chart: str | os.PathLike[str] | None, loop: str | None, tempo: float | None) -> dict[str, Any]:
    lo, hi = S.TOP["tempo"].lo, S.TOP["tempo"].hi
    if tempo is not None and not lo <= tempo <= hi:
        raise RigError(f"--tempo must be {lo}..{hi} (beats per minute), got {tempo:g}")
    given = {"chart": None if chart is None else str(chart), "loop": loop, "tempo": tempo}
    return {k: v for k, v in given.items() if v is not None}


def load_rig_text(text: str, source: str = "<string>", *, styles: str | os.PathLike[str] | None = None,
                  chart: str | os.PathLike[str] | None = None, loop: str | None = None,
                  tempo: float | None = None) -> Rig:
    """Check and load a rig from YAML text; ``source`` names it in errors.

    ``styles``: a folder of style files searched first, in place of the rig's own
    ``styles`` field (a relative ``styles`` field is read from the current folder).
    ``chart``, ``loop``, ``tempo``: as :func:`load_rig`.

    Raises:
        RigError: bad YAML or any bad value, as ``SOURCE:LINE FIELD must be ..., got ...``.
        StyleError: the rig's style file is broken (the message names that file).
    Thread: control thread.
    """
    if source.startswith("<built-in ") and source.endswith(">"):
        stem = source[len("<built-in "):-1]
    elif source.startswith("<"):
        stem = "rig"
    else:
        stem = Path(source).stem
    return _load_text(text, label=source, source=source, stem=stem, base=None, styles=styles,
                      forced=_forced(chart, loop, tempo))


def load_rig(path: str | os.PathLike[str], *, styles: str | os.PathLike[str] | None = None,
             chart: str | os.PathLike[str] | None = None, loop: str | None = None,
             tempo: float | None = None, _song: bool = False) -> Rig:
    """Check and load the rig file at ``path`` (use :func:`find_rig` for built-in names).

    A built-in rig's ``source`` is ``"<built-in NAME>"``; errors still name the file.
    ``styles``: a folder of style files searched first, in place of the rig's own
    ``styles`` field (which is read relative to the rig file). ``chart`` (a path from
    the current folder, or a shipped chart's name), ``loop`` and ``tempo`` replace the
    rig's own (``sideman jam --chart/--loop/--tempo``): a chart turns a lead or chords
    rig into a chart rig, and ``tempo`` wins over the chart's.

    Raises:
        RigError: the file is missing or unreadable, bad YAML, or any bad value.
        StyleError: the rig's style file is broken (the message names that file).
    Thread: control thread (reads the file).
    """
    p = Path(path)
    if not p.is_file():
        raise RigError(_not_found(path))
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RigError(f"{path}: a rig must be a UTF-8 text file, got a byte {e.object[e.start]:#04x} "
                       f"at position {e.start}") from e
    except OSError as e:
        raise RigError(f"{path}: cannot read rig file: {e.strerror}") from e
    builtin = _builtin_name(p)
    source = f"<built-in {builtin}>" if builtin else str(path)
    forced = _forced(chart, loop, tempo)
    forced["_own"] = str(p.resolve())
    forced["_song"] = _song  # a song of a setlist: it may not have a setlist of its own
    return _load_text(text, label=str(path), source=source, stem=p.stem, base=p.parent, styles=styles,
                      forced=forced)


def open_rig(name_or_path: str | None = None, *, styles: str | os.PathLike[str] | None = None,
             **given: Any) -> Rig:
    """``load_rig(find_rig(name_or_path))``: a rig by path or built-in name (None = default);
    ``given``: ``chart``, ``loop``, ``tempo`` as :func:`load_rig`."""
    return load_rig(find_rig(name_or_path), styles=styles, **given)


def _builtin_dir() -> Path:
    try:
        res = importlib.resources.files("live.rigs")
    except (ImportError, TypeError):  # not installed as a package: running from the repo
        res = None
    if isinstance(res, Path) and res.is_dir():
        return res
    return Path(__file__).resolve().parent.parent / "rigs"


def _builtin_name(p: Path) -> str | None:
    folder = _builtin_dir()
    try:
        inside = p.resolve().parent == folder.resolve()
    except OSError:
        return None
    return p.stem if inside and p.suffix == ".yaml" else None


def builtin_rig_names() -> list[str]:
    """Names of the rigs that ship with Sideman, sorted."""
    return sorted(p.stem for p in _builtin_dir().glob("*.yaml"))


def _not_found(what: str | os.PathLike[str]) -> str:
    return f"rig file not found: {what} (built-in rigs: {', '.join(builtin_rig_names())})"


def find_rig(name_or_path: str | None) -> Path:
    """The rig file for a path or a built-in name; None gives the default rig (pop-band).

    An existing file wins over a built-in rig of the same name.

    Raises:
        RigError: neither a file nor a built-in rig; the message lists the built-ins.
    """
    if name_or_path is None:
        name_or_path = DEFAULT_RIG
    p = Path(name_or_path)
    if p.is_file():
        return p
    if name_or_path in builtin_rig_names():
        return _builtin_dir() / f"{name_or_path}.yaml"
    raise RigError(_not_found(name_or_path))
