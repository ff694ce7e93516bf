"""Chord charts: the songs a musician practises over (rig ``mode: chart``).

A chart is a small YAML file (the format, with examples, is in docs/charts.md)::

    title: Blues for Practice
    tempo: 120
    style: swing
    choruses: 3
    sections:
      A: |
        | F7  | Bb7 | F7    | %      |
        | Bb7 | %   | F7    | D7     |
        | Gm7 | C7  | F7 D7 | Gm7 C7 |
    form: [A]

Bars are written as on a lead sheet or in iReal Pro: ``|`` between bars, several
chords in a bar split it evenly (``/`` holds the chord a beat longer), ``%`` (or
iReal's ``x``) repeats the previous bar, ``|: ... :|`` or ``{ ... }`` repeat a stretch
(``:| x3`` three times), ``n`` or ``N.C.`` is no chord. Chord symbols are read in the
usual spellings and iReal's (``C-7``, ``C^7``, ``Ch7``, ``Co7``, ``C7b9``, ``C7sus``),
each played as the nearest of the band's 13 chord qualities.

What is here:

- :func:`load_chart`, :func:`find_chart`: reading and checking a chart file. Every
  mistake is a :class:`~live.errors.ChartError` naming the file, the line, the field,
  what is allowed and what was found::

      charts/blues.yaml:9 sections.A bar 3: unknown chord symbol 'H7' (...)

- :func:`build_plan`: a chart as the band plays it, bar by bar: the intro, the form
  as many choruses as asked (or one section looped), the ending; which section of the
  style plays in each bar (main A and main B by chorus, a fill into each new chorus,
  the style's ending at the end).
- :class:`ChartAccompanist`: the rule-based band reading the chords off the plan (also
  what ``sideman render`` uses for its demos), and :class:`ChartArrangement`, the
  style sections of the plan with the rig's fill/break/ending controls on top.

Threading model: loading and planning (files, YAML, allocation) run on the control
thread when a rig loads. A :class:`Chart` and a :class:`ChartPlan` are immutable and
any thread may read them. ``ChartAccompanist`` and ``ChartArrangement`` belong to the
planner thread, like every accompanist and arrangement.
"""

from __future__ import annotations

import bisect
import difflib
import importlib.resources
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from live.accompanist import NO_CHORD, SLOTS_PER_BEAT, Chord, PartInfo, RuleAccompanist, SlotContext
from live.errors import ChartError
from live.styles import Arrangement, Style
from live.yamlcheck import Bad, Doc, check_int, check_num, check_str, parse_node, shown

#: Sections played once, outside the form: before the first chorus, after the last.
INTRO, ENDING = "intro", "ending"
MAX_CHORUSES = 99
MAX_BARS = 512  # in one section, repeats written out
SECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_'-]*")
_TOP_KEYS = ("title", "tempo", "meter", "style", "swing", "key", "choruses", "sections", "form")
_REPEAT_COUNT = re.compile(r"x(\d+)")
_TOKEN = re.compile(r"\|\||\|:|:\||\||\{|\}|\[|\]|,|[^\s|{}\[\],]+")
_BAR_LINES = ("|", "||", "[", "]", "Z")
_HOLD = ("/", "p")  # the chord before goes on for this share of the bar
_NO_CHORD = ("n", "N", "NC", "N.C.")
_SAME_BAR = ("%", "x")

CHORD_HELP = ("a root A-G with # or b, a quality such as m, 7, maj7, m7, m7b5, dim7, sus4, 6, 9, 13, "
              "or iReal's -7, ^7, h7, o7, 7b9, 7sus, and an optional /bass")


# --- chord symbols, lead-sheet and iReal spellings -----------------------------------

# The band plays 13 chord qualities (kernels.QUALITIES); richer symbols are played as
# the nearest of them. Checked in order, on the suffix after the root (parentheses and
# spaces removed).
_SIMPLIFY = (
    (re.compile(r"(?:-|m|mi|min)(?:\^|maj|M|ma|Δ)7?.*"), "m"),  # minor-major seventh: a minor triad
    (re.compile(r"(?:-|m|mi|min)6/?9"), "m6"),
    (re.compile(r"(?:-|m|mi|min)(?:9|11|13)(?!b5).*"), "m7"),
    (re.compile(r"(?:-|m|mi|min)7(?!b5).+"), "m7"),
    (re.compile(r"(?:-|m|mi|min)add9|(?:-|m|mi|min)2"), "m"),
    (re.compile(r"(?:-|m|mi|min)7?b5"), "m7b5"),
    (re.compile(r"h7?|ø7?"), "m7b5"),
    (re.compile(r"(?:o|°|dim)(?:\^|maj)7"), "dim7"),
    (re.compile(r"(?:\^|maj|M|ma|Δ)(?:7|9|11|13).*|\^"), "maj7"),
    (re.compile(r"6/?9|69|M6|maj6"), "6"),
    (re.compile(r"add9|add2|2|5"), ""),
    (re.compile(r"(?:7|9|11|13)?sus[24]?.*|(?:9|11|13)sus"), "sus4"),
    (re.compile(r"(?:\+|aug)7.*|7(?:\+|#5|aug).*"), "aug"),
    (re.compile(r"(?:7|9|11|13)(?:alt|[b#](?:5|9|11|13))*.*|alt|(?:[b#](?:5|9|11|13))+"), "7"),
)
_ROOT = re.compile(r"([A-G][#b♯♭]*)(.*?)(?:/([A-G][#b♯♭]*|[#b]*[1-7]))?$")


def parse_chord(sym: str) -> Chord:
    """A chord symbol as the band plays it: ``Am7`` -> Chord(9, min7); ``N.C.`` -> no chord.

    Lead-sheet spellings (``Cmaj7``, ``Cm7b5``, ``C/E``), iReal Pro's (``C-7``, ``C^7``,
    ``Ch7``, ``Co7``, ``C7b9``, ``C7sus``) and Harte's (``C:min7``) are read; extensions
    and alterations beyond the band's 13 qualities are played as the nearest one
    (``C13`` as C7, ``Cmaj9`` as Cmaj7, ``C7sus4`` as Csus4, ``C7#5`` as Caug).

    Raises:
        ValueError: the symbol is not a chord; the message says what is allowed.
    """
    from kernels import parse_chord_symbol

    if sym in _NO_CHORD:
        return NO_CHORD
    try:
        root, quality, bass = parse_chord_symbol(sym)
    except ValueError:
        m = _ROOT.match(sym.replace("6/9", "69"))
        if m is None:
            raise ValueError(f"unknown chord symbol {sym!r} (expected {CHORD_HELP})") from None
        suffix = re.sub(r"[()\s,]", "", m.group(2))
        quality_suffix = next((q for pattern, q in _SIMPLIFY if pattern.fullmatch(suffix)), None)
        if "/" in suffix:
            raise ValueError(f"unknown chord symbol {sym!r}: the bass after / must be a note such as E or "
                             f"Bb, got {suffix.split('/', 1)[1]!r}") from None
        if quality_suffix is None:
            raise ValueError(f"unknown chord symbol {sym!r}: quality {m.group(2)!r} is not known "
                             f"(expected {CHORD_HELP})") from None
        plain = m.group(1) + quality_suffix + (f"/{m.group(3)}" if m.group(3) else "")
        try:
            root, quality, bass = parse_chord_symbol(plain)
        except ValueError:
            raise ValueError(f"unknown chord symbol {sym!r} (expected {CHORD_HELP})") from None
    if root < 0:
        return NO_CHORD
    return Chord(int(root), int(quality), int(bass) if bass >= 0 and bass != root else -1)


# --- the loaded chart ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChartBar:
    """One bar: its chords, each from a beat of the bar on (the first from beat 0)."""

    chords: tuple[tuple[float, Chord], ...]
    line: int = 0  # where it is written in the chart file (1-based; 0 unknown)
    text: str = ""  # as written, for display

    def chord_at(self, beat: float) -> Chord:
        """The chord in force ``beat`` beats into the bar."""
        chord = self.chords[0][1]
        for b, c in self.chords:
            if b <= beat + 1e-9:
                chord = c
        return chord


@dataclass(frozen=True)
class Chart:
    """A chord chart, checked. ``source`` is the file it came from."""

    title: str
    source: str
    meter: int  # beats per bar
    tempo: float | None  # None: the rig's
    style: str | None  # None: the rig's
    swing: float | None  # None: the style's
    key: tuple[int, int] | None  # (tonic pitch class, 0 major / 1 minor)
    choruses: int  # how many times the form is played
    sections: Mapping[str, tuple[ChartBar, ...]]  # in the file's order, repeats written out
    form: tuple[str, ...]  # one chorus: section names in order, repeats written out
    lines: Mapping[str, int] = field(default_factory=dict)  # field -> line, for later messages

    def form_bars(self) -> int:
        """Bars in one chorus."""
        return sum(len(self.sections[s]) for s in self.form)

    def home(self) -> Chord:
        """The chord the tune starts on (and the band ends on when the chart has no ending)."""
        for bar in self.sections[self.form[0]]:
            for _, c in bar.chords:
                if c.root >= 0:
                    return c
        return NO_CHORD

    def describe(self) -> str:
        """``A A B A (32 bars) x 2 choruses`` and the like, for the stage."""
        text = f"{' '.join(self.form)} ({self.form_bars()} bars)"
        if self.choruses > 1:
            text += f" x {self.choruses} choruses"
        if INTRO in self.sections:
            text = f"intro ({len(self.sections[INTRO])} bars), {text}"
        if ENDING in self.sections:
            text += f", ending ({len(self.sections[ENDING])} bars)"
        return text


# --- where charts live -------------------------------------------------------------


def charts_dir() -> Path:
    """The folder of the charts that ship with Sideman (``charts/``, package ``live.charts``)."""
    try:
        res = importlib.resources.files("live.charts")
    except (ImportError, TypeError):  # not installed as a package: running from the repo
        res = None
    if isinstance(res, Path) and res.is_dir():
        return res
    return Path(__file__).resolve().parent.parent / "charts"


def builtin_chart_names() -> list[str]:
    """Names of the charts that ship with Sideman, sorted."""
    return sorted(p.stem for p in charts_dir().glob("*.yaml"))


def find_chart(name_or_path: str | os.PathLike[str], base: str | os.PathLike[str] | None = None) -> Path:
    """The chart file for a path (relative to ``base``, else the current folder) or the
    name of a shipped chart (``blues-in-f``). An existing file wins over a shipped chart.

    Raises:
        ChartError: neither a file nor a shipped chart; the message lists the shipped ones.
    """
    text = os.path.expanduser(str(name_or_path))
    p = Path(text)
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    if p.is_file():
        return p
    stem = Path(text).stem if Path(text).suffix == ".yaml" and "/" not in text else text
    if stem in builtin_chart_names():
        return charts_dir() / f"{stem}.yaml"
    close = difflib.get_close_matches(stem, builtin_chart_names(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ChartError(f"chart file not found: {name_or_path} (looked for {p}; shipped charts: "
                     f"{', '.join(builtin_chart_names())}){hint}")


def load_chart(path: str | os.PathLike[str]) -> Chart:
    """Check and load the chart file at ``path``.

    Raises:
        ChartError: missing or unreadable file, bad YAML, or any bad value; the message
            names the file, the line and the field.
    Thread: control thread (reads the file).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ChartError(f"{path}: a chart must be a UTF-8 text file, got a byte {e.object[e.start]:#04x} "
                         f"at position {e.start}") from e
    except OSError as e:
        raise ChartError(f"{path}: cannot read chart file: {e.strerror}") from e
    return load_chart_text(text, source=str(path), title=p.stem)


def load_chart_text(text: str, source: str = "<string>", title: str | None = None) -> Chart:
    """Check and load a chart from YAML text; ``source`` names it in errors.

    Raises:
        ChartError: bad YAML or any bad value, as ``SOURCE:LINE FIELD must be ..., got ...``.
    """
    root = parse_node(text, source, ChartError)
    if root is None:
        raise ChartError(f"{source}:1 chart is empty; it must be a mapping of {', '.join(_TOP_KEYS)} "
                         "with at least sections, got nothing")
    doc = Doc(source, root, ChartError)
    top = doc.mapping(root, "chart", _TOP_KEYS)
    g = doc.get
    if "sections" not in top:
        doc.fail(root, "sections must be a mapping of section names to bars such as "
                       "{A: \"C | Am7 | Dm7 G7 | C\"}, got nothing")
    meter = g(top, "", "meter", 4, check_int, 2, 7)
    sections = _read_sections(doc, *top["sections"], meter)
    form = _read_form(doc, top, sections)
    lines = {k: v[0].start_mark.line + 1 for k, v in top.items() if isinstance(k, str)}
    return Chart(
        title=g(top, "", "title", title or "chart", check_str),
        source=source,
        meter=meter,
        tempo=g(top, "", "tempo", None, check_num, 30, 300),
        style=g(top, "", "style", None, check_str),
        swing=g(top, "", "swing", None, check_num, 0.0, 0.75),
        key=g(top, "", "key", None, _key),
        choruses=g(top, "", "choruses", 1, check_int, 1, MAX_CHORUSES),
        sections=MappingProxyType(sections),
        form=form,
        lines=MappingProxyType(lines),
    )


def _key(v: Any, fld: str) -> tuple[int, int]:
    from kernels import parse_chord_symbol

    try:
        root, quality, bass = parse_chord_symbol(v) if isinstance(v, str) else (-1, -1, -1)
    except ValueError:
        root, quality, bass = -1, -1, -1
    if root < 0 or quality not in (0, 1) or bass >= 0:
        raise Bad(f"{fld} must be a key such as C, Eb, F#m or Dm (a major or minor tonic), got {shown(v)}")
    return root, quality


def _read_sections(doc: Doc, knode: yaml.Node, node: yaml.Node, meter: int) -> dict[str, tuple[ChartBar, ...]]:
    doc.nodes["sections"] = knode
    entries = doc.mapping(node, "sections", None)
    if not entries:
        doc.fail(knode, "sections must name at least one section of bars such as {A: \"C | Am7 | Dm7 G7 | C\"}, "
                        "got nothing")
    out: dict[str, tuple[ChartBar, ...]] = {}
    for name, (sk, sv) in entries.items():
        if not isinstance(name, str) or not SECTION_NAME.fullmatch(name):
            doc.fail(sk, f"sections names must be a letter or digit, then letters, digits, _, ' or - "
                         f"(such as A, B, intro, verse, chorus), got {shown(name)}")
        fld = f"sections.{name}"
        doc.nodes[fld] = sk
        out[name] = _read_bars(doc, sv, fld, meter)
    return out


def _lines_of(doc: Doc, node: yaml.Node, fld: str) -> list[tuple[int, str]]:
    """(line number, text) for each line of a section's bars, from a string or a list of them."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    out: list[tuple[int, str]] = []
    for item in items:
        if not isinstance(item, yaml.ScalarNode) or doc.is_null(item) or not str(item.value).strip():
            doc.fail(item, f"{fld} must be bars of chords such as \"C | Am7 | Dm7 G7 | C\" (or a list of such "
                           f"lines), got {shown(doc.value(item))}")
        first = item.start_mark.line + 1
        text = str(item.value)
        if item.style == "|":  # a literal block: its lines are the file's, from the next line on
            out += [(first + 1 + i, ln) for i, ln in enumerate(text.split("\n"))]
        else:  # folded or flow scalars lose their line breaks: the whole value is on its first line
            out.append((first, text))
    return out


def _read_bars(doc: Doc, node: yaml.Node, fld: str, meter: int) -> tuple[ChartBar, ...]:
    """A section's bars, repeats written out. Errors name the line and the bar (1-based, as written)."""
    bars: list[ChartBar] = []
    cell: list[str] = []
    cell_line = 0
    written = 0  # bars as written (for messages), before repeats are expanded
    repeat_from: int | None = None
    repeat_line = 0
    last_repeat: tuple[int, int] | None = None  # (first bar, bars) of the repeat just closed

    def fail(line: int, msg: str):
        raise ChartError(f"{doc.label}:{line} {fld} {msg}")

    def close(line: int) -> None:
        nonlocal cell, written, last_repeat
        if not cell:
            return
        written += 1
        bars.append(_make_bar(cell, bars, meter, cell_line, lambda m: fail(cell_line, f"bar {written}: {m}")))
        cell = []
        last_repeat = None
        if len(bars) > MAX_BARS:
            fail(line, f"must have at most {MAX_BARS} bars (repeats written out), got more")

    for line, text in _lines_of(doc, node, fld):
        for tok in _TOKEN.findall(text):
            if tok in _BAR_LINES:
                close(line)
            elif tok in ("|:", "{"):
                close(line)
                if repeat_from is not None:
                    fail(line, f"bar {written + 1}: a repeat must be closed (:| or }}) before the next one opens, "
                               f"got {tok!r} inside the repeat opened on line {repeat_line}")
                repeat_from, repeat_line, last_repeat = len(bars), line, None
            elif tok in (":|", "}"):
                close(line)
                start = repeat_from if repeat_from is not None else 0
                if len(bars) == start:
                    fail(line, f"bar {written}: a repeat must hold at least one bar, got {tok!r} with none before it")
                bars.extend(bars[start:])
                last_repeat, repeat_from = (start, (len(bars) - start) // 2), None
            elif _REPEAT_COUNT.fullmatch(tok):
                n = int(tok[1:])
                if cell or last_repeat is None:
                    fail(line, f"bar {written + 1}: {tok} must follow the end of a repeat (:| or }}) to play it "
                               f"{n} times; write x or % alone in a bar to repeat the bar before, got {tok!r} "
                               f"after {'a chord' if cell else 'no repeat'}")
                if not 2 <= n <= 16:
                    fail(line, f"bar {written}: a repeat count must be x2..x16, got {tok!r}")
                start, length = last_repeat
                bars.extend(bars[start:start + length] * (n - 2))
                last_repeat = None
            elif tok == ",":
                continue
            else:
                if not cell:
                    cell_line = line
                cell.append(tok)
        # a line break ends a bar too: "| C | F |" and "C | F" on the next line are both whole bars
        close(line)
    if repeat_from is not None:
        fail(repeat_line, f"a repeat opened here must be closed with :| or }}, got the end of {fld}")
    if not bars:
        doc.fail(node, f"{fld} must hold at least one bar of chords such as \"C | Am7\", got none")
    return tuple(bars)


def _make_bar(cell: list[str], before: list[ChartBar], meter: int, line: int, fail) -> ChartBar:
    text = " ".join(cell)
    if len(cell) == 1 and cell[0] in _SAME_BAR:
        if not before:
            fail(f"{cell[0]} repeats the bar before, got it in the first bar")
        return ChartBar(before[-1].chords, line, cell[0])
    if any(t in _SAME_BAR for t in cell):
        fail(f"% (or x) must stand alone in its bar (it repeats the whole bar before), got {text!r}")
    n = len(cell)
    if meter % n:
        ok = ", ".join(str(k) for k in range(1, meter + 1) if meter % k == 0)
        fail(f"must split its {meter} beats evenly: {ok} chords, with / for a chord held a share longer "
             f"(such as \"C / / G\"), got {n}: {text}")
    share = meter / n
    chords: list[tuple[float, Chord]] = []
    for i, tok in enumerate(cell):
        if tok in _HOLD:
            if i == 0 and not before:
                fail(f"{tok} holds the chord before, got it at the start of the section")
            continue
        try:
            chord = parse_chord(tok)
        except ValueError as e:
            fail(str(e))
        chords.append((i * share, chord))
    if not chords or chords[0][0] > 0:  # the bar starts with a held chord: the previous bar's last
        chords.insert(0, (0.0, before[-1].chords[-1][1]))
    return ChartBar(tuple(chords), line, text)


def _read_form(doc: Doc, top, sections: dict[str, tuple[ChartBar, ...]]) -> tuple[str, ...]:
    playable = [s for s in sections if s not in (INTRO, ENDING)]
    if "form" not in top:
        if not playable:
            doc.fail(doc.nodes["sections"], f"sections must have a section besides {INTRO} and {ENDING} "
                                            f"(the form), got {', '.join(sections)}")
        return tuple(playable)
    knode, vnode = top["form"]
    doc.nodes["form"] = knode
    v = doc.value(vnode)
    allowed = f"a list of sections such as [A, A, B, A] or [verse x2, chorus] (sections: {', '.join(playable)})"
    if isinstance(v, str):
        words = v.replace(",", " ").split()
    elif isinstance(v, list) and all(isinstance(x, str) for x in v):
        words = " ".join(v).split()
    else:
        words = []
    if not words:
        doc.fail(vnode, f"form must be {allowed}, got {shown(v)}")
    items: list[tuple[str, int]] = []  # (section, times); "A x2" may come as one word or two
    for w in words:
        m = _REPEAT_COUNT.fullmatch(w)
        if m and items:
            n = int(m.group(1))
            if not 1 <= n <= 16:
                doc.fail(vnode, f"form repeats must be x1..x16, got {w!r} after {items[-1][0]}")
            items[-1] = (items[-1][0], items[-1][1] * n)
            continue
        if w not in playable:
            close = difflib.get_close_matches(w, playable, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            why = f" ({w} plays once by itself, outside the form)" if w in (INTRO, ENDING) else ""
            doc.fail(vnode, f"form must be {allowed}, got {w!r}{why}{hint}")
        items.append((w, 1))
    return tuple(name for name, n in items for _ in range(n))


# --- the chart as the band plays it -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanBar:
    """One bar the band plays: its chords, where it is in the chart, the style's section."""

    bar: ChartBar
    label: str  # the chart's section ("A", "intro", "ending")
    chorus: int  # 1-based; 0 for the intro and the ending
    section: str  # the style's section: intro, main_a, main_b, fill, ending
    section_bar: int  # bar within that run of the style's section


@dataclass(frozen=True)
class ChartPlan:
    """The bars of a take, from the band's first bar (0) on.

    Bars from ``loop_from`` on repeat for ever (a looped section); otherwise the band
    stops at the bar line ``end_bar``.
    """

    chart: Chart
    bars: tuple[PlanBar, ...]
    loop_from: int = -1
    loop: str | None = None  # the looped chart section

    @property
    def end_bar(self) -> int:
        return -1 if self.loop_from >= 0 else len(self.bars)

    def at(self, bar: int) -> PlanBar:
        """The plan's bar ``bar`` (looped sections wrap round)."""
        n = len(self.bars)
        if bar >= n and self.loop_from >= 0:
            bar = self.loop_from + (bar - self.loop_from) % (n - self.loop_from)
        return self.bars[min(max(bar, 0), n - 1)]

    def chord_at(self, slot: int, meter: int) -> Chord:
        """The chord the chart has at a slot (a 16th note) of the take; no chord before bar 0."""
        if slot < 0:
            return NO_CHORD
        bar_slots = meter * SLOTS_PER_BEAT
        bar, s = divmod(slot, bar_slots)
        return self.at(bar).bar.chord_at(s / SLOTS_PER_BEAT)

    def seconds(self, tempo: float, count_in: int = 0, passes: int = 1) -> float:
        """How long the take lasts (a loop: ``passes`` times round), count-in included."""
        bars = len(self.bars) if self.loop_from < 0 else self.loop_from + passes * (len(self.bars) - self.loop_from)
        return (bars + count_in) * self.chart.meter * 60.0 / tempo


def build_plan(chart: Chart, style: Style | None = None, *, loop: str | None = None,
               choruses: int | None = None) -> ChartPlan:
    """The chart as the band plays it.

    Without ``loop``: the chart's intro (the style's intro over it, when the style has
    one), the form ``choruses`` times (default: the chart's) in main A and main B by
    turns, each chorus but the last closing on the style's fill, then the ending: the
    chart's ``ending`` section, else the tune's first chord for as many bars as the
    style's ending, with the style's ending over it. With ``loop``: that section over
    and over in main A, closing each pass on the fill, until the musician stops.

    Raises:
        ChartError: ``loop`` names no section of the chart.
    """
    def sec_bars(name: str) -> int:
        sec = style.section(name) if style is not None else None
        return sec.bars if sec is not None else 0

    fill = sec_bars("fill")
    out: list[tuple[ChartBar, str, int, str]] = []
    if loop is not None:
        if loop not in chart.sections:
            raise ChartError(f"{chart.source} has no section {loop!r} to loop (sections: "
                             f"{', '.join(chart.sections)})")
        bars = chart.sections[loop]
        for i, b in enumerate(bars):
            closing = fill and len(bars) >= 4 and i >= len(bars) - fill
            out.append((b, loop, 1, "fill" if closing else "main_a"))
        return ChartPlan(chart, _runs(out), loop_from=0, loop=loop)
    for b in chart.sections.get(INTRO, ()):
        out.append((b, INTRO, 0, "intro" if sec_bars("intro") else "main_a"))
    n = choruses if choruses is not None else chart.choruses
    form = [(name, b) for name in chart.form for b in chart.sections[name]]
    for k in range(n):
        main = "main_a" if k % 2 == 0 else "main_b"
        for i, (name, b) in enumerate(form):
            closing = fill and k < n - 1 and len(form) > fill and i >= len(form) - fill
            out.append((b, name, k + 1, "fill" if closing else main))
    ending = sec_bars("ending")
    if ENDING in chart.sections:  # the style's ending over its last bars, the groove before
        bars = chart.sections[ENDING]
        last_main = "main_b" if n % 2 == 0 else "main_a"
        for i, b in enumerate(bars):
            out.append((b, ENDING, 0, "ending" if ending and i >= len(bars) - ending else last_main))
    elif ending:
        home = ChartBar(((0.0, chart.home()),), 0, "home")
        out += [(home, ENDING, 0, "ending")] * ending
    return ChartPlan(chart, _runs(out))


def _runs(bars: list[tuple[ChartBar, str, int, str]]) -> tuple[PlanBar, ...]:
    """PlanBars, each style section's bars counted from the start of its run."""
    out: list[PlanBar] = []
    run = 0
    for i, (b, label, chorus, section) in enumerate(bars):
        run = run + 1 if i and bars[i - 1][3] == section else 0
        out.append(PlanBar(b, label, chorus, section, run))
    return tuple(out)


class ChartArrangement(Arrangement):
    """The style's sections as the chart plan has them, with the rig's controls on top.

    ``fill`` and ``break`` play over the chart from the next bar line, then the plan
    goes on; ``next_variation`` plays the fill and swaps main A and main B from then on;
    ``ending`` plays the style's ending over the chart's bars and ends the take there.

    Threading model: planner thread only, like :class:`~live.styles.Arrangement`.
    """

    def __init__(self, style: Style, plan: ChartPlan) -> None:
        super().__init__(style)
        self.plan = plan
        self.end_bar = plan.end_bar
        self._ending_asked = False
        self._over: list[tuple[int, int, str]] = []  # (first bar, bars, section) the controls asked for
        self._swaps: list[int] = []  # bars from which main A and main B trade places

    def at(self, bar: int) -> tuple[str, int]:
        if 0 <= self.end_bar <= bar:
            return "end", 0
        for start, n, name in reversed(self._over):
            if start <= bar < start + n:
                return name, bar - start
        pb = self.plan.at(bar)
        name = pb.section
        if name in ("main_a", "main_b") and sum(1 for s in self._swaps if s <= bar) % 2:
            name = "main_b" if name == "main_a" else "main_a"
        return name, pb.section_bar

    def request(self, action: str, bar: int) -> None:
        if self._ending_asked or action not in self.ACTIONS or 0 <= self.end_bar <= bar:
            return
        if action == "next_variation":
            n = self._bars("fill")
            self._swaps.append(bar + n)
            action = "fill"
        n = self._bars(action)
        if action == "ending":
            self._ending_asked = True
            if n:
                self._over.append((bar, n, "ending"))
            self.end_bar = bar + n if self.end_bar < 0 else min(self.end_bar, bar + n)
            return
        if n:
            self._over.append((bar, n, action))


class ChartAccompanist(RuleAccompanist):
    """The rule-based band reading a chart: the chords come from the chart, not the hands.

    ``chart``: a :class:`ChartPlan`, or (first slot, chord) pairs in
    ascending slot order (``sideman render``'s demos). Knowing the chart, the band also
    knows what comes next, so approach notes and walks aim at the next chord.
    """

    name = "chart"

    def __init__(self, parts: list[PartInfo], chart: ChartPlan | list[tuple[int, Chord]], seed: int = 0) -> None:
        super().__init__(parts, seed=seed)
        self._plan = chart if isinstance(chart, ChartPlan) else None
        self._meter = self._plan.chart.meter if self._plan is not None else 4
        pairs = [] if self._plan is not None else list(chart)
        self._slots = [slot for slot, _ in pairs]
        self._chart = [c for _, c in pairs]

    def _chord_at(self, slot: int) -> Chord:
        if self._plan is not None:
            return self._plan.chord_at(slot, self._meter)
        i = bisect.bisect_right(self._slots, slot) - 1
        return self._chart[i] if i >= 0 else NO_CHORD

    def _choose_chord(self, ctx: SlotContext) -> Chord:
        return self._chord_at(ctx.slot)

    def _upcoming(self, ctx: SlotContext) -> Chord | None:
        return self._chord_at((ctx.slot // SLOTS_PER_BEAT + 1) * SLOTS_PER_BEAT)
