"""``sideman rig new``: a few questions, then a valid rig file.

The answers are written into a copy of the default rig (rigs/pop-band.yaml), so the new
file keeps every field with its comment and the musician can go on editing it by hand.
The file is checked by loading it before it is kept (written to a temporary name, then
renamed): a rig this command writes always loads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from live.errors import OutputExistsError, RigError

PARTS = ("bass", "keys", "drums", "pad")
NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


@dataclass
class Answers:
    name: str = "my-rig"
    mode: str = "lead"
    style: str = "pop"
    tempo: float | None = None  # None: the style's
    port: str | None = None
    split: int | None = 60
    parts: tuple[str, ...] = ("bass", "keys", "drums")
    follow_tempo: bool = False
    clock_out: bool = False
    chart: str | None = None  # chart mode: a shipped chart's name or a file


def parse_note(text: str) -> int | None:
    """'60', 'C4' (= 60), 'F#3', 'Bb2' or 'none' -> a MIDI note or None.

    Raises ValueError with what is allowed."""
    t = text.strip().lower()
    if t in ("none", "null", "no", "-"):
        return None
    if t.isdigit():
        n = int(t)
        if 0 <= n <= 127:
            return n
        raise ValueError(f"a MIDI note is 0..127, got {n}")
    m = re.fullmatch(r"([a-g])([#b]?)(-?\d)", t)
    if not m:
        raise ValueError(f"expected a note such as 60, C4, F#3 or 'none', got {text!r}")
    n = 12 * (int(m.group(3)) + 1) + NOTE_NAMES[m.group(1)] + {"#": 1, "b": -1, "": 0}[m.group(2)]
    if not 0 <= n <= 127:
        raise ValueError(f"{text} is outside MIDI's notes 0..127")
    return n


def ask_all(ask: Callable[[str, str, Callable[[str], object]], object], styles: list[str],
            ports: list[str]) -> Answers:
    """Ask every question through ``ask(question, default, parse)``; ``parse`` raises
    ValueError on a bad answer (the caller asks again)."""
    from live.rig import MODES

    def choice(options):
        def parse(text):
            t = text.strip().lower()
            if t not in options:
                raise ValueError(f"one of {', '.join(options)}")
            return t
        return parse

    def yes_no(text):
        t = text.strip().lower()
        if t in ("y", "yes", "true"):
            return True
        if t in ("n", "no", "false"):
            return False
        raise ValueError("y or n")

    def tempo(text):
        t = text.strip().lower()
        if t in ("", "style"):
            return None
        v = float(t)
        if not 30 <= v <= 300:
            raise ValueError("30..300 bpm, or 'style' for the style's tempo")
        return v

    def name(text):
        t = text.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", t):
            raise ValueError("letters, digits, '-', '_' and '.', starting with a letter or digit")
        return t

    def parts(text):
        got = tuple(p for p in re.split(r"[\s,]+", text.strip().lower()) if p)
        bad = [p for p in got if p not in PARTS]
        if bad or not got:
            raise ValueError(f"some of {', '.join(PARTS)}, separated by spaces")
        return got

    a = Answers()
    a.name = ask("Name of the rig", a.name, name)
    a.mode = ask(f"Mode ({' | '.join(MODES)})", a.mode, choice(MODES))
    if a.mode == "chart":
        from live.chart import builtin_chart_names

        shipped = builtin_chart_names()

        def chart(text):
            t = text.strip()
            if t in shipped or Path(t).expanduser().is_file():
                return t
            raise ValueError(f"a shipped chart ({', '.join(shipped)}) or an existing chart file")
        a.chart = ask("Chord chart to practise over (docs/charts.md)", shipped[0] if shipped else "", chart)
    a.style = ask(f"Style ({', '.join(styles)})", a.style, choice(styles))
    a.tempo = ask("Tempo in bpm ('style': the style's own)", "style", tempo)
    hint = f" (inputs now: {', '.join(ports)})" if ports else ""
    a.port = ask(f"Your controller: part of its MIDI port name, or 'none' to pick it at the jam{hint}", "none",
                 lambda t: None if t.strip().lower() in ("", "none") else t.strip())
    a.split = ask("Split point: below it your chords, above it your melody (a note such as C4, or 'none')",
                  "C4", parse_note)
    a.parts = ask(f"Band members ({', '.join(PARTS)})", " ".join(a.parts), parts)
    a.follow_tempo = ask("Should the band follow your tempo? (y/n)", "n", yes_no)
    a.clock_out = ask("Send MIDI clock to your other gear? (y/n)", "n", yes_no)
    return a


def rig_text(a: Answers) -> str:
    """The default rig's text with the answers written in (comments kept)."""
    from live.rig import find_rig

    text = find_rig(None).read_text()

    def top(key: str, value: str, txt: str) -> str:
        new, n = re.subn(rf"(?m)^{key}:[ \t]*[^#\n]*?(\s*(#.*)?)$", lambda m: f"{key}: {value}{m.group(1)}", txt,
                         count=1)
        if n != 1:
            raise RigError(f"the default rig has no top-level '{key}:' line to fill in")
        return new

    def nested(section: str, key: str, value: str, txt: str) -> str:
        pat = rf"(?ms)^({section}:.*?^  {key}:[ \t]*)[^#\n]*?(\s*(#.*)?)$"
        new, n = re.subn(pat, lambda m: f"{m.group(1)}{value}{m.group(2)}", txt, count=1)
        if n != 1:
            raise RigError(f"the default rig has no '{section}.{key}:' line to fill in")
        return new

    text = re.sub(r"(?s)\A(#[^\n]*\n)+", f"# {a.name}: made by `sideman rig new`; edit freely (docs/rigs.md).\n",
                  text, count=1)
    text = top("name", a.name, text)
    text = top("mode", a.mode, text)
    text = top("style", a.style, text)
    if a.tempo is None:
        text = re.sub(r"(?m)^tempo:.*\n", "", text, count=1)
    else:
        text = top("tempo", f"{a.tempo:g}", text)
    # meter and swing come from the style unless the musician writes them in later
    text = re.sub(r"(?m)^(meter|swing):.*\n", "", text)
    text = top("follow_tempo", "true" if a.follow_tempo else "false", text)
    if a.chart is not None:
        text = top("chart", f'"{Path(a.chart).expanduser().resolve()}"' if Path(a.chart).expanduser().is_file()
                   else a.chart, text)
    text = nested("input", "port", "null" if a.port is None else f'"{a.port}"', text)
    text = nested("input", "split", "null" if a.split is None else str(a.split), text)
    text = nested("midi_out", "clock", "true" if a.clock_out else "false", text)
    for part in PARTS:
        on = "true" if part in a.parts else "false"
        pat = rf"(?ms)^(  {part}:[^\n]*\n(?:    [^\n]*\n)*?)(    enabled:[^\n]*\n)?(?=  \S|\S|\n|\Z)"

        def fill(m, on=on):
            body = m.group(1)
            return body + f"    enabled: {on}\n"
        text, n = re.subn(pat, fill, text, count=1)
        if n != 1:
            raise RigError(f"the default rig has no band part '{part}' to switch")
    if a.mode == "duet":  # the voice that answers the musician (role defaults: vibraphone)
        text, n = re.subn(r"(?m)^(band:[^\n]*\n)", r"\1  lead: {}            # the voice that answers you in a duet\n",
                          text, count=1)
        if n != 1:
            raise RigError("the default rig has no 'band:' section to add the duet's lead to")
    return text


def write_rig(path: Path, a: Answers, *, force: bool = False) -> Path:
    """Write the rig, checked by loading it first. Raises OutputExistsError, RigError, OutputFileError."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; use --force to overwrite it")
    return write_rig_text(path, rig_text(a), made_by="sideman rig new")


def write_rig_text(path: Path, text: str, *, made_by: str) -> Path:
    """Write rig YAML ``text`` to ``path`` atomically, loading the temporary file first:
    a rig that does not load is never left behind (``made_by`` names the command in the
    error). Shared by ``sideman rig new`` and ``sideman rig learn``.

    Raises:
        RigError: the text does not load. OutputFileError: the folder is not writable.
    """
    from live.atomicfile import atomic_write, check_out_dir
    from live.rig import load_rig

    check_out_dir(path.parent, need_bytes=0, what="rig folder")

    def write_checked(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")
        try:
            load_rig(tmp)
        except RigError as exc:
            raise RigError(f"{made_by} made a rig that does not load ({exc}); please report this") from exc

    return atomic_write(path, write_checked)


def run(path: str | None, *, force: bool = False, defaults: bool = False, read=input, say=print) -> Path:
    """The command: ask (or take every default), write, and say how to play it."""
    from live.midi_io import list_ports, pick_api
    from live.quiet import quiet_fds
    from live.styles import style_names

    ports: list[str] = []
    try:
        api = pick_api(prefer_jack=False)
        if api is not None:
            with quiet_fds():
                ports = list_ports(api)[0]
    except Exception:  # no MIDI system here: the question still works without the hint
        ports = []

    def ask(question: str, default: str, parse):
        if defaults:
            return parse(default)
        for _ in range(5):
            try:
                text = read(f"{question} [{default}]: ")
            except EOFError:
                text = ""
            try:
                return parse(text if text.strip() else default)
            except ValueError as exc:
                say(f"  not understood: {exc}; try again")
        raise RigError(f"{question}: no usable answer after 5 tries")

    answers = ask_all(ask, style_names(), ports)
    out = write_rig(Path(path or f"{answers.name}.yaml"), answers, force=force)
    say(f"wrote {out}; play it with: sideman jam --rig {out}")
    return out


# --- sideman rig docs: the reference tables of docs/rigs.md, from the schema

DOCS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "rigs.md"
_BEGIN = "<!-- generated by: sideman rig docs ({name}); edit live/rigschema.py -->"
_END = "<!-- end generated -->"
_BLOCK = re.compile(r"<!-- generated by: sideman rig docs \((?P<name>[^)]*)\); edit live/rigschema.py -->\n"
                    r"(?P<body>.*?)<!-- end generated -->", re.S)


def _block(name: str) -> str:
    from live.rigschema import BLOCKS

    return f"{_BEGIN.format(name=name)}\n{BLOCKS[name]()}\n{_END}"


def docs_page(page: str, source: str = "docs/rigs.md") -> str:
    """``page`` with every generated block rewritten from the schema (live/rigschema.py).

    The hand-written prose around the blocks is kept as it is. A block is the text between
    ``<!-- generated by: sideman rig docs (NAME); edit live/rigschema.py -->`` and
    ``<!-- end generated -->``; NAME is one of ``live.rigschema.BLOCKS``.

    Raises:
        OutputFileError: a block with an unknown name, a block twice, or a block of the
            schema missing from the page (the message says where it goes).
    """
    from live.errors import OutputFileError
    from live.rigschema import BLOCKS

    seen: list[str] = []

    def fill(m: re.Match[str]) -> str:
        name = m.group("name")
        line = page.count("\n", 0, m.start()) + 1
        if name not in BLOCKS:
            raise OutputFileError(f"{source}:{line} generated block must be one of {', '.join(BLOCKS)}, got {name!r}")
        if name in seen:
            raise OutputFileError(f"{source}:{line} generated block {name!r} must appear once, got it twice")
        seen.append(name)
        return _block(name)

    out = _BLOCK.sub(fill, page)
    missing = [name for name in BLOCKS if name not in seen]
    if missing:
        raise OutputFileError(
            f"{source} must have a generated block for each of {', '.join(missing)}: put the lines "
            f"{_BEGIN.format(name=missing[0])!r} and {_END!r} where its table goes")
    return out


def fresh_page() -> str:
    """A reference page with the generated tables only (for ``--out`` to a new file)."""
    from live.rigschema import BLOCKS

    heads = {"rig": "## Top level", "roles": "Defaults by role:", "instruments": "## Instruments"}
    parts = ["# Rigs\n", "Generated from live/rigschema.py by `sideman rig docs`.\n"]
    for name in BLOCKS:
        parts.append(f"{heads.get(name, f'## `{name}`')}\n\n{_block(name)}\n")
    return "\n".join(parts)


def run_docs(out: str | None = None, *, check: bool = False, say=print) -> int:
    """The command ``sideman rig docs``: rewrite the generated tables of the rig reference.

    ``out``: the page to update (default: docs/rigs.md beside the package); a file that does
    not exist yet gets a fresh page of the tables; ``-`` prints the page. ``check``: write
    nothing, return 1 when the page is not what the schema gives (for CI).

    Raises:
        OutputFileError: the page cannot be read or written, or its blocks are wrong.
    """
    from live.errors import OutputFileError

    if out == "-":
        page = DOCS_PAGE.read_text(encoding="utf-8") if DOCS_PAGE.is_file() else None
        say(docs_page(page, str(DOCS_PAGE)) if page is not None else fresh_page(), end="")
        return 0
    path = Path(out) if out else DOCS_PAGE
    if not out and not path.is_file():
        raise OutputFileError(f"no {path} here (an installed Sideman has no docs folder); use --out FILE")
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else None
    except OSError as exc:
        raise OutputFileError(f"{path}: cannot read: {exc.strerror}") from exc
    new = docs_page(old, str(path)) if old is not None else fresh_page()
    if check:
        if new != old:
            say(f"{path} is out of date with live/rigschema.py: run `sideman rig docs`")
            return 1
        say(f"{path} is up to date")
        return 0
    if new == old:
        say(f"{path} is up to date")
        return 0
    from live.atomicfile import write_text

    write_text(path, new)
    say(f"wrote {path}")
    return 0
