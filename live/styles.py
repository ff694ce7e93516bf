"""Band styles: the grooves the rule-based band plays, as YAML files a musician can add to.

A style is one YAML file (the format is documented, with a full annotated example, in
docs/styles.md). Its file name is its name: ``funk.yaml`` is the style ``funk``. It
says how the band's four roles (bass, comp, drums, pad) play in each *section* of a
song: ``intro``, ``main_a``, ``main_b``, ``fill``, ``break``, ``ending``, each a bar or
a few bars of patterns on a 16th-note grid. Drums are written as step grids (a
velocity, optionally with a probability, or ``.``, on every 16th); bass, comp and pad as
lists of hits placed by count (``1``, ``2&``, ``3e``, ``4a``), the bass naming a degree
of the chord (``root``, ``fifth``, ``approach``, ``walk``...) rather than a note, so one
pattern fits every chord.

Where styles come from (the first folder that has a file of the name wins, so a user's
``pop.yaml`` replaces the shipped one):

1. the folder given with ``--styles DIR``, or the rig's ``styles:`` field;
2. ``~/.config/sideman/styles`` (``$XDG_CONFIG_HOME/sideman/styles``);
3. the styles shipped with Sideman (``live/styles/``).

Loading checks the whole file and builds frozen objects whose pattern tables are
indexed by step, so the band looks a slot up instead of searching. Every mistake is a
:class:`StyleError` naming the file, the line, the field, what is allowed and what was
found::

    styles/funk.yaml:31 sections.main_a.bass[2].at must be a count such as 1, 2&, 3e, 4a (beats 1..4), got '5'

Threading model: loading (files, YAML, allocation) runs on the control thread when a
rig loads (``Engine`` calls :func:`open_style` and :func:`activate`). A loaded
:class:`Style` is immutable and any thread may read it. The planner thread finds the
style of a slot with :func:`active_style`, a dict lookup; only a name that was never
activated is loaded there, once (benchmarks and tests that build an accompanist without
an engine). :class:`Arrangement` belongs to the planner thread.
"""

from __future__ import annotations

import difflib
import importlib.resources
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from live.errors import StyleError
from live.rig import INSTRUMENTS, ROLE_DEFAULTS
from live.yamlcheck import (Bad, Doc, Entries, check_bool, check_choice, check_int, check_num, check_str, parse_node,
                            shown)

SLOTS_PER_BEAT = 4
SECTIONS = ("intro", "main_a", "main_b", "fill", "break", "ending")
ROLES = ("bass", "comp", "drums", "pad")
PITCHED = ("bass", "comp", "pad")
DEGREES = ("root", "bass", "third", "fifth", "seventh", "octave", "approach", "scale_approach", "walk")
#: how a comp or pad part voices each chord (kernels.voicing: KINDS, and "satb" for
#: four-part chorale writing); a part names one, a hit may name another for itself
VOICINGS = ("close", "open", "drop2", "shell", "rootless", "satb")
VOICED = ("comp", "pad")  # the roles that have a voicing
MAX_BARS = 8
DEFAULT_STYLE = "pop"

#: Drum names a style may use, as General MIDI notes (a GM note number 27..87 works too).
DRUM_NOTES = {
    "kick": 36, "kick2": 35, "stick": 37, "snare": 38, "clap": 39, "snare2": 40,
    "tom_floor": 41, "hat": 42, "pedal": 44, "tom_low": 45, "open": 46, "tom_mid": 47,
    "tom_high": 50, "crash": 49, "ride": 51, "bell": 53, "tambourine": 54, "cowbell": 56,
    "crash2": 57, "ride2": 59, "bongo_high": 60, "bongo_low": 61, "conga_mute": 62,
    "conga_high": 63, "conga_low": 64, "cabasa": 69, "shaker": 70, "claves": 75,
    "block_high": 76, "block_low": 77, "triangle": 81,
    # the brush kit's names for the snare's notes (drums `instrument: brushes`, live.instruments)
    "brush_tap": 38, "brush_slap": 39, "brush_swirl": 40,
}
DRUM_KITS = ("kit", "brushes")  # the drums' instruments: the plain kit, or the snare played with brushes
GM_DRUM_RANGE = (27, 87)

_TOP_KEYS = ("name", "description", "meter", "tempo", "swing", "humanize", "parts", "restrike",
             "crash_every", "crash_after_fill", "demo_chords", "sections")
_HUMANIZE_KEYS = ("timing", "velocity")
_PART_KEYS = ("instrument", "program", "voicing")
_SECTION_KEYS = ("bars", "like", "drums", "bass", "comp", "pad")
_BASS_KEYS = ("at", "play", "len", "vel", "bar")
_CHORD_KEYS = ("at", "len", "vel", "voicing", "voices", "bar")
_COUNT = re.compile(r"([1-9])(e|&|\+|a)?")
_SUB = {None: 0, "e": 1, "&": 2, "+": 2, "a": 3}
_TOKEN = re.compile(r"(\d+)(?:\?(\d+))?")


# --- the loaded form: frozen, indexed by step


@dataclass(frozen=True, slots=True)
class DrumHit:
    note: int  # GM drum note
    velocity: int
    probability: float  # 0 < p <= 1


@dataclass(frozen=True, slots=True)
class BassHit:
    degree: str  # one of DEGREES, or "semitones"
    semitones: int  # with degree "semitones": pitch class = root + semitones
    duration: float  # beats
    velocity: int


@dataclass(frozen=True, slots=True)
class ChordHit:
    duration: float  # beats
    velocity: int
    voicing: str = ""  # one of VOICINGS; "" = the part's own (Style.voicing)
    voices: tuple[int, ...] = ()  # 1-based voices from the bottom; empty = all


Steps = tuple[tuple[Any, ...], ...]  # [bar * steps_per_bar + step] -> hits at that step


@dataclass(frozen=True, slots=True)
class Section:
    """One section's patterns: for each role, the hits at each step of its bars."""

    name: str
    bars: int
    drums: Steps
    bass: Steps
    comp: Steps
    pad: Steps
    plays: frozenset[str] = frozenset()  # the roles with any notes in this section

    def __post_init__(self) -> None:
        object.__setattr__(self, "plays", frozenset(r for r in ROLES if any(getattr(self, r))))

    def hits(self, role: str) -> Steps:
        return getattr(self, role)


@dataclass(frozen=True, slots=True)
class PartSound:
    instrument: str  # one of live.rig.INSTRUMENTS
    program: int  # General MIDI program 1..128
    voicing: str = "close"  # comp and pad: one of VOICINGS


@dataclass(frozen=True)
class Style:
    """A band style, checked. ``source`` is the file it came from."""

    name: str
    description: str
    source: str
    meter: int
    tempo: float
    swing: float
    timing_ms: float  # humanize: timing jitter, +- ms
    velocity_jitter: int  # humanize: velocity jitter, +-
    crash_every: int  # a crash on the downbeat every N bars of a main section; 0 = never
    crash_after_fill: bool  # a crash on the downbeat after a fill or a break
    restrike: frozenset[str]  # roles that play the new chord at once when it changes between their hits
    parts: Mapping[str, PartSound]
    demo_chords: tuple[tuple[tuple[int, int, int], ...], ...]  # bars of (root, quality, bass pc)
    sections: Mapping[str, Section] = field(default_factory=dict)

    @property
    def steps_per_bar(self) -> int:
        return self.meter * SLOTS_PER_BEAT

    def section(self, name: str) -> Section | None:
        """The section called ``name``; None when the style has none (intro, fill, ending)."""
        return self.sections.get(name)

    def plays(self, role: str) -> bool:
        """Whether any section has notes for ``role``."""
        return any(role in sec.plays for sec in self.sections.values())

    def voicing(self, role: str) -> str:
        """How the ``role`` part voices its chords: one of VOICINGS (default close)."""
        p = self.parts.get(role)
        return p.voicing if p is not None else "close"

    def sound(self, role: str) -> PartSound:
        d = ROLE_DEFAULTS[role]
        return self.parts.get(role) or PartSound(d.instrument, d.program)


# --- where styles live


def shipped_styles_dir() -> Path:
    """The folder of the styles that ship with Sideman."""
    try:
        res = importlib.resources.files("live") / "styles"
    except (ImportError, TypeError):
        res = None
    if isinstance(res, Path) and res.is_dir():
        return res
    return Path(__file__).resolve().parent / "styles"


def user_styles_dir() -> Path:
    """``$XDG_CONFIG_HOME/sideman/styles``, by default ``~/.config/sideman/styles``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "sideman" / "styles"


def search_path(extra: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for styles, first wins: ``extra``, the user's, the shipped ones.

    Raises:
        StyleError: ``extra`` is given but is not a folder.
    """
    dirs = []
    if extra is not None:
        p = Path(extra)
        if not p.is_dir():
            raise StyleError(f"styles folder not found: {extra}")
        dirs.append(p)
    dirs += [user_styles_dir(), shipped_styles_dir()]
    return dirs


def style_files(extra: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Style name -> its file, over the search path (earlier folders win), sorted by name."""
    found: dict[str, Path] = {}
    for d in search_path(extra):
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.yaml")):
            if not p.name.startswith("."):
                found.setdefault(p.stem, p)
    return dict(sorted(found.items()))


def style_names(extra: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of every available style, sorted."""
    return list(style_files(extra))


def find_style(name: str, extra: str | os.PathLike[str] | None = None) -> Path:
    """The file of the style called ``name``.

    Raises:
        StyleError: no such style; the message lists the available ones and the folders.
    """
    files = style_files(extra)
    if name in files:
        return files[name]
    close = difflib.get_close_matches(name, list(files), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise StyleError(f"style {name!r} not found (available: {', '.join(files)}; searched "
                     f"{', '.join(str(d) for d in search_path(extra))}){hint}")


_CACHE: dict[Path, tuple[tuple[int, int], Style]] = {}


def load_style(path: str | os.PathLike[str]) -> Style:
    """Check and load the style file at ``path`` (cached until the file changes).

    Raises:
        StyleError: missing or unreadable file, bad YAML, or any bad value.
    Thread: control thread (reads the file).
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise StyleError(f"{path}: cannot read style file: {e.strerror}") from e
    key = p.resolve()
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise StyleError(f"{path}: a style must be a UTF-8 text file, got a byte {e.object[e.start]:#04x} "
                         f"at position {e.start}") from e
    except OSError as e:
        raise StyleError(f"{path}: cannot read style file: {e.strerror}") from e
    style = load_style_text(text, source=str(path), name=p.stem)
    _CACHE[key] = (stamp, style)
    return style


def open_style(name: str, extra: str | os.PathLike[str] | None = None) -> Style:
    """``load_style(find_style(name, extra))``."""
    return load_style(find_style(name, extra))


def load_style_text(text: str, source: str = "<string>", name: str | None = None) -> Style:
    """Check and load a style from YAML text; ``source`` names it in errors.

    Raises:
        StyleError: bad YAML or any bad value, as ``SOURCE:LINE FIELD must be ..., got ...``.
    """
    root = parse_node(text, source, StyleError)
    if root is None:
        raise StyleError(f"{source}:1 style is empty; it must be a mapping of "
                         f"{', '.join(_TOP_KEYS)}, got nothing")
    stem = name if name is not None else (Path(source).stem if not source.startswith("<") else "style")
    return _build(Doc(source, root, StyleError), source, stem)


# --- the styles the band plays now

_ACTIVE: dict[str, Style] = {}


def activate(style: Style) -> Style:
    """Make ``style`` the one the band plays for its name. Thread: control (rig load)."""
    _ACTIVE[style.name] = style
    return style


def active_style(name: str) -> Style:
    """The style the band plays for ``name``: the activated one, else the file found by
    name (loaded once), else the shipped default. Never raises for an unknown name: the
    band keeps playing.

    Thread: planner (a dict lookup once the style is active).
    """
    style = _ACTIVE.get(name)
    if style is not None:
        return style
    try:
        style = open_style(name)
    except StyleError:
        style = load_style(shipped_styles_dir() / f"{DEFAULT_STYLE}.yaml")
    _ACTIVE.setdefault(name, style)
    return _ACTIVE[name]


# --- reading a style file


def _build(doc: Doc, source: str, stem: str) -> Style:
    top = doc.mapping(doc.root, "style", _TOP_KEYS)
    g = doc.get
    name = g(top, "", "name", stem, check_str)
    if name != stem:
        doc.fail(doc.nodes["name"], f"name must be the file's name {stem!r} (a style is called by its "
                                    f"file name), got {name!r}")
    meter = g(top, "", "meter", 4, check_int, 2, 7)
    hum = doc.section(top, "humanize", _HUMANIZE_KEYS)
    if "sections" not in top:
        doc.fail(doc.root, f"sections must be a mapping of {', '.join(SECTIONS)} with at least main_a, "
                           "got nothing")
    restrike = _read_restrike(doc, top)
    return Style(
        name=name,
        description=g(top, "", "description", "", check_str),
        source=source,
        meter=meter,
        tempo=g(top, "", "tempo", 100.0, check_num, 30, 300),
        swing=g(top, "", "swing", 0.0, check_num, 0.0, 0.75),
        timing_ms=g(hum, "humanize", "timing", 0.0, check_num, 0, 15),
        velocity_jitter=g(hum, "humanize", "velocity", 4, check_int, 0, 30),
        crash_every=g(top, "", "crash_every", 0, check_int, 0, 64),
        crash_after_fill=g(top, "", "crash_after_fill", False, check_bool),
        restrike=restrike,
        parts=MappingProxyType(_read_parts(doc, top)),
        demo_chords=_read_demo_chords(doc, top, meter),
        sections=MappingProxyType(_read_sections(doc, *top["sections"], meter)),
    )


def _read_restrike(doc: Doc, top: Entries) -> frozenset[str]:
    if "restrike" not in top:
        return frozenset(PITCHED)
    node = top["restrike"][1]
    doc.nodes["restrike"] = node
    v = doc.value(node)
    if not isinstance(v, list) or any(r not in PITCHED for r in v):
        doc.fail(node, f"restrike must be a list of roles from {', '.join(PITCHED)} (such as [bass, comp]), "
                       f"got {shown(v)}")
    return frozenset(v)


def _read_parts(doc: Doc, top: Entries) -> dict[str, PartSound]:
    parts: dict[str, PartSound] = {}
    for role, (knode, vnode) in doc.section(top, "parts", ROLES).items():
        fld = f"parts.{role}"
        doc.nodes[fld] = knode
        m = doc.mapping(vnode, fld, _PART_KEYS)
        d = ROLE_DEFAULTS[role]
        allowed = DRUM_KITS if role == "drums" else tuple(i for i in INSTRUMENTS if i not in DRUM_KITS)
        if "voicing" in m and role not in VOICED:
            doc.fail(m["voicing"][1], f"{fld}.voicing is for {' and '.join(VOICED)} parts only (the {role} "
                                      f"part has no chords to voice), got {shown(doc.value(m['voicing'][1]))}")
        parts[role] = PartSound(
            instrument=doc.get(m, fld, "instrument", d.instrument, check_choice, allowed),
            program=doc.get(m, fld, "program", d.program, check_int, 1, 128),
            voicing=doc.get(m, fld, "voicing", "close", check_choice, VOICINGS),
        )
    return parts


def _read_demo_chords(doc: Doc, top: Entries, meter: int) -> tuple[tuple[tuple[int, int, int], ...], ...]:
    from kernels import parse_chord_symbol

    if "demo_chords" not in top:
        return (((0, 0, -1),),)  # C major: a style demo needs some harmony
    node = top["demo_chords"][1]
    text = doc.check(node, "demo_chords", check_str)
    cells = [c.split() for c in text.split("|")] if "|" in text else [[c] for c in text.split()]
    bars = []
    for i, cell in enumerate(cells, 1):
        if not cell:
            doc.fail(node, f"demo_chords bar {i} must hold a chord, got nothing between bar lines")
        if meter % len(cell):
            ok = ", ".join(str(n) for n in range(1, meter + 1) if meter % n == 0)
            doc.fail(node, f"demo_chords bar {i} must split its {meter} beats evenly ({ok} chords), "
                           f"got {len(cell)}: {' '.join(cell)}")
        chords = []
        for sym in cell:
            try:
                root, quality, bass = parse_chord_symbol(sym)
            except ValueError as e:
                doc.fail(node, f"demo_chords bar {i}: {e}")
            if root < 0:
                doc.fail(node, f"demo_chords bar {i} must hold chords, got {sym!r} (no chord)")
            chords.append((root, quality, bass))
        bars.append(tuple(chords))
    return tuple(bars)


def _read_sections(doc: Doc, knode: yaml.Node, node: yaml.Node, meter: int) -> dict[str, Section]:
    doc.nodes["sections"] = knode
    entries = doc.mapping(node, "sections", SECTIONS)
    if "main_a" not in entries:
        doc.fail(knode, f"sections must have main_a (the groove the band plays by default), "
                       f"got {', '.join(entries) or 'nothing'}")
    raw: dict[str, Entries] = {}
    for name, (sk, sv) in entries.items():
        doc.nodes[f"sections.{name}"] = sk
        raw[name] = doc.mapping(sv, f"sections.{name}", _SECTION_KEYS)
    built: dict[str, Section] = {}

    def build(name: str, chain: tuple[str, ...]) -> Section:
        if name in built:
            return built[name]
        m = raw[name]
        fld = f"sections.{name}"
        base = None
        if "like" in m:
            like = doc.check(m["like"][1], f"{fld}.like", check_choice, tuple(s for s in SECTIONS if s != name))
            if like not in raw:
                doc.fail(m["like"][1], f"{fld}.like must name a section this style has "
                                       f"({', '.join(s for s in raw if s != name)}), got {like!r}")
            if like in chain:
                doc.fail(m["like"][1], f"{fld}.like must not go round in a circle "
                                       f"({' -> '.join(chain + (name, like))}), got {like!r}")
            base = build(like, chain + (name,))
        bars = doc.get(m, fld, "bars", base.bars if base else 1, check_int, 1, MAX_BARS)
        n = bars * meter * SLOTS_PER_BEAT

        def part(role: str, reader) -> Steps:
            if role in m:
                return reader(doc, m[role][1], f"{fld}.{role}", meter, bars)
            if base is None:
                return ((),) * n
            old = base.hits(role)
            return tuple(old[i % len(old)] for i in range(n))  # base's bars repeat over ours

        sec = Section(name, bars,
                      drums=part("drums", _read_drums),
                      bass=part("bass", _read_bass),
                      comp=part("comp", _read_chordal),
                      pad=part("pad", _read_chordal))
        built[name] = sec
        return sec

    for name in raw:
        build(name, ())
    # A style without main_b plays main_a for it; without a break, the band rests a bar.
    built.setdefault("main_b", built["main_a"])
    if "break" not in built:
        empty = ((),) * (meter * SLOTS_PER_BEAT)
        built["break"] = Section("break", 1, empty, empty, empty, empty)
    return built


def _read_drums(doc: Doc, node: yaml.Node, fld: str, meter: int, bars: int) -> Steps:
    steps = meter * SLOTS_PER_BEAT
    n = steps * bars
    table: list[list[DrumHit]] = [[] for _ in range(n)]
    for key, (knode, vnode) in doc.mapping(node, fld, None).items():
        note = _drum_note(doc, knode, key, fld)
        line = f"{fld}.{key}"
        doc.nodes[line] = vnode
        items = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
        tokens: list[tuple[str, yaml.Node]] = []
        for item in items:
            if not isinstance(item, yaml.ScalarNode) or doc.is_null(item):
                doc.fail(item, f"{line} must be a grid of {steps} steps per bar such as "
                               f"\"100 . . . 90 . . .\" (or a list of them, one per bar), got {shown(doc.value(item))}")
            tokens += [(t, item) for t in str(item.value).split() if t != "|"]
        if len(tokens) not in (steps, n):
            per = f"{steps} steps (a bar of {meter}/4 in 16ths)"
            alt = f", or {n} for the section's {bars} bars" if bars > 1 else ""
            doc.fail(vnode, f"{line} must have {per}{alt}, got {len(tokens)}")
        for i in range(n):
            tok, tnode = tokens[i % len(tokens)]
            if tok == ".":
                continue
            m = _TOKEN.fullmatch(tok)
            vel = int(m.group(1)) if m else -1
            pct = int(m.group(2)) if m and m.group(2) else 100
            if not 1 <= vel <= 127 or not 1 <= pct <= 100:
                doc.fail(tnode, f"{line} step {i % len(tokens) + 1} must be . (rest) or a velocity 1..127, "
                                f"optionally with ?percent 1..100 (such as 90 or 60?50), got {tok!r}")
            table[i].append(DrumHit(note, vel, pct / 100.0))
    return tuple(tuple(t) for t in table)


def _drum_note(doc: Doc, knode: yaml.Node, key: Any, fld: str) -> int:
    if isinstance(key, str) and key in DRUM_NOTES:
        return DRUM_NOTES[key]
    lo, hi = GM_DRUM_RANGE
    if isinstance(key, int) and not isinstance(key, bool) and lo <= key <= hi:
        return key
    close = difflib.get_close_matches(str(key), list(DRUM_NOTES), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    doc.fail(knode, f"{fld} drum must be a GM drum note {lo}..{hi} or one of {', '.join(DRUM_NOTES)}, "
                    f"got {shown(key)}{hint}")


def _hit_list(doc: Doc, node: yaml.Node, fld: str, keys: tuple[str, ...]) -> list[tuple[str, Entries, yaml.Node]]:
    if doc.is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        doc.fail(node, f"{fld} must be a list of hits such as [{{at: 1, len: 1, vel: 90}}] (or [] to rest), "
                       f"got {shown(doc.value(node))}")
    out = []
    for i, item in enumerate(node.value):
        f = f"{fld}[{i}]"
        doc.nodes[f] = item
        m = doc.mapping(item, f, keys)
        if "at" not in m:
            doc.fail(item, f"{f}.at must be a count such as 1, 2&, 3e, 4a, got nothing")
        out.append((f, m, item))
    return out


def _counts(v: Any, fld: str, meter: int) -> list[int]:
    """Steps (0-based 16ths in a bar) for a count, a list of counts or a string of them."""
    items = v if isinstance(v, list) else v.split() if isinstance(v, str) else [v]
    if not items:
        raise Bad(f"{fld} must be a count such as 1, 2&, 3e, 4a, got {shown(v)}")
    steps = []
    for c in items:
        m = None if c is None or isinstance(c, (bool, float)) else _COUNT.fullmatch(str(c))
        if m is None or not 1 <= int(m.group(1)) <= meter:
            raise Bad(f"{fld} must be a count such as 1, 2&, 3e, 4a (beats 1..{meter}; several as "
                      f"\"1 2& 4\"), got {shown(c)}")
        steps.append((int(m.group(1)) - 1) * SLOTS_PER_BEAT + _SUB[m.group(2)])
    return steps


def _place(doc: Doc, m: Entries, f: str, item: yaml.Node, meter: int, bars: int) -> list[int]:
    """Table indexes a hit goes to: its steps in its bar, or in every bar of the section."""
    steps = doc.check(m["at"][1], f"{f}.at", _counts, meter)
    bar = doc.get(m, f, "bar", None, check_int, 1, bars, null_ok=True)
    spb = meter * SLOTS_PER_BEAT
    in_bars = range(bars) if bar is None else [bar - 1]
    return [b * spb + s for b in in_bars for s in steps]


def _degree(v: Any, fld: str) -> tuple[str, int]:
    if isinstance(v, int) and not isinstance(v, bool) and -11 <= v <= 11:
        return "semitones", v
    if isinstance(v, str) and v in DEGREES:
        return v, 0
    raise Bad(f"{fld} must be one of {', '.join(DEGREES)} or semitones from the root -11..11, got {shown(v)}")


def _read_bass(doc: Doc, node: yaml.Node, fld: str, meter: int, bars: int) -> Steps:
    table: list[list[BassHit]] = [[] for _ in range(bars * meter * SLOTS_PER_BEAT)]
    for f, m, item in _hit_list(doc, node, fld, _BASS_KEYS):
        degree, semis = doc.get(m, f, "play", ("root", 0), _degree)
        hit = BassHit(degree, semis, doc.get(m, f, "len", 1.0, check_num, 0.05, 32),
                      doc.get(m, f, "vel", 90, check_int, 1, 127))
        for i in _place(doc, m, f, item, meter, bars):
            table[i].append(hit)
    return tuple(tuple(t) for t in table)


def _voices(v: Any, fld: str) -> tuple[int, ...]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 8
                                                   for x in v):
        raise Bad(f"{fld} must be a voice number 1..8 (1 = lowest) or a list of them such as [1, 3], got {shown(v)}")
    return tuple(sorted(set(v)))


def _read_chordal(doc: Doc, node: yaml.Node, fld: str, meter: int, bars: int) -> Steps:
    table: list[list[ChordHit]] = [[] for _ in range(bars * meter * SLOTS_PER_BEAT)]
    for f, m, item in _hit_list(doc, node, fld, _CHORD_KEYS):
        hit = ChordHit(doc.get(m, f, "len", 1.0, check_num, 0.05, 32),
                       doc.get(m, f, "vel", 80, check_int, 1, 127),
                       doc.get(m, f, "voicing", "", check_choice, VOICINGS),
                       doc.get(m, f, "voices", (), _voices))
        for i in _place(doc, m, f, item, meter, bars):
            table[i].append(hit)
    return tuple(tuple(t) for t in table)


# --- which section plays when


class Arrangement:
    """Which section of a style plays in each bar: an arranger keyboard's buttons.

    Bars count from the band's first bar (0). The plan is a list of marks, (first bar,
    section), each in force until the next; a request changes the plan from a bar on:

    - ``fill`` / ``break``: that section for its bars, then back to the main variation;
    - ``next_variation``: the fill (when the style has one), then the other main
      variation (main_a <-> main_b) from then on;
    - ``ending``: the ending, after which the band stops (``end_bar``).

    Threading model: planner thread only. Control requests reach it through
    ``Planner.request_section``, which the planner applies at the next bar line.
    """

    ACTIONS = ("fill", "break", "next_variation", "ending")

    def __init__(self, style: Style | None = None, *, intro: bool = False) -> None:
        self.style = style
        self.main = "main_a"
        self.end_bar = -1  # the band stops at this bar line; -1 = no ending planned
        self.marks: list[tuple[int, str]] = [(0, "main_a")]
        sec = style.section("intro") if style is not None and intro else None
        if sec is not None:
            self.marks = [(0, "intro"), (sec.bars, "main_a")]

    def _bars(self, name: str) -> int:
        sec = self.style.section(name) if self.style is not None else None
        return sec.bars if sec is not None else 0

    def at(self, bar: int) -> tuple[str, int]:
        """(section, bar within it) for a bar; ``("end", 0)`` once the ending is over."""
        if 0 <= self.end_bar <= bar:
            return "end", 0
        for start, name in reversed(self.marks):
            if bar >= start:
                return name, bar - start
        return self.marks[0][1], 0

    def request(self, action: str, bar: int) -> None:
        """Change the plan from ``bar`` on. Unknown actions and requests after the ending
        has been asked for are ignored (a control pressed twice does no harm)."""
        if self.end_bar >= 0 or action not in self.ACTIONS:
            return
        self.marks = [mk for mk in self.marks if mk[0] < bar]
        if action == "next_variation":
            self.main = "main_b" if self.main == "main_a" else "main_a"
            action = "fill"
        n = self._bars(action)
        if action == "ending":
            if n:
                self.marks.append((bar, "ending"))
            self.end_bar = bar + n
            return
        if n:
            self.marks.append((bar, action))
        self.marks.append((bar + n, self.main))

    @classmethod
    def scripted(cls, style: Style, plan: list[tuple[str, int]]) -> Arrangement:
        """A fixed plan: (section, bars) in order; the band stops after the last entry."""
        arr = cls(style)
        arr.marks = []
        bar = 0
        for name, bars in plan:
            if bars > 0:
                arr.marks.append((bar, name))
                bar += bars
        if not arr.marks:
            arr.marks = [(0, "main_a")]
        arr.end_bar = bar
        return arr
