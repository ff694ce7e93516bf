"""Recorded takes: the sidecar written beside each take, and ``sideman takes``.

``sideman jam`` writes a take as ``jam.mid`` (a track per part), ``jam.wav`` and
``jam.png`` (its piano roll) in ``--out``; ``write_sidecar`` adds ``jam.take.json``
with what the files do not say (when, rig, style, mode, backend, counters). A take
is a ``.mid`` file whose first track is named ``sideman`` (``live.midifile.write_take``)
or that has a sidecar; older takes without one are listed from the MIDI file alone.

Control thread only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

SIDECAR_SUFFIX = ".take.json"
MAX_DEPTH = 3  # folders below --folder that are searched
STATS_KEPT = ("band_notes", "late_events", "input_events", "input_dropped", "lost_blocks", "callback_errors",
              "callback_us_p99", "slots", "fallback")


@dataclass(frozen=True, slots=True)
class Take:
    mid: Path
    wav: Path | None
    png: Path | None
    recorded: datetime
    seconds: float
    style: str  # "" when unknown (no sidecar)
    rig: str
    mode: str
    tempo: float
    backend: str
    input: str
    notes: int  # note-ons in the file, all tracks

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(mid=str(self.mid), wav=str(self.wav) if self.wav else None, png=str(self.png) if self.png else None,
                 recorded=self.recorded.isoformat(timespec="seconds"))
        return d


def sidecar_path(mid: Path) -> Path:
    return Path(mid).with_suffix(SIDECAR_SUFFIX)


def write_sidecar(result, rig, recorded: datetime | None = None) -> Path:
    """Write ``<take>.take.json`` beside a jam's MIDI file; returns its path.

    ``result`` is a ``live.session.JamResult`` with ``mid`` set.
    """
    from live import __version__
    from live.midifile import atomic_write

    path = sidecar_path(result.mid)
    when = recorded or datetime.now().astimezone()
    doc = {
        "sideman": __version__,
        "recorded": when.isoformat(timespec="seconds"),
        "rig": rig.name, "rig_source": rig.source, "style": rig.style, "mode": rig.mode,
        "tempo": rig.tempo, "meter": rig.meter, "backend": result.backend,
        "input": Path(result.input).name if result.input and result.input != "live" else (result.input or ""),
        "seconds": round(float(result.seconds), 3),
        "files": {k: Path(v).name for k, v in (("mid", result.mid), ("wav", result.wav), ("png", result.png)) if v},
        "stats": {k: result.stats[k] for k in STATS_KEPT if k in result.stats},
    }
    text = json.dumps(doc, indent=1) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def _read_sidecar(mid: Path) -> dict:
    p = sidecar_path(mid)
    if not p.is_file():
        return {}
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def read_take(mid: Path) -> Take | None:
    """A take from its MIDI file (and sidecar); None if it is not a Sideman take or unreadable."""
    import mido

    side = _read_sidecar(mid)
    try:
        f = mido.MidiFile(mid)
    except Exception:
        return None
    first = next((m.name for m in f.tracks[0] if m.type == "track_name"), "") if f.tracks else ""
    if first != "sideman" and not side:
        return None
    try:
        seconds = float(side.get("seconds") or f.length)
    except (TypeError, ValueError):
        seconds = 0.0
    tempo = next((mido.tempo2bpm(m.tempo) for t in f.tracks for m in t if m.type == "set_tempo"), 0.0)
    notes = sum(1 for t in f.tracks for m in t if m.type == "note_on" and m.velocity > 0)
    when = None
    if side.get("recorded"):
        try:
            when = datetime.fromisoformat(str(side["recorded"]))
        except ValueError:
            when = None
    if when is None:
        when = datetime.fromtimestamp(mid.stat().st_mtime).astimezone()
    wav, png = mid.with_suffix(".wav"), mid.with_suffix(".png")
    return Take(mid=mid, wav=wav if wav.is_file() else None, png=png if png.is_file() else None, recorded=when,
                seconds=seconds, style=str(side.get("style", "")), rig=str(side.get("rig", "")),
                mode=str(side.get("mode", "")), tempo=float(side.get("tempo") or round(tempo, 2)),
                backend=str(side.get("backend", "")), input=str(side.get("input", "")), notes=notes)


def find_takes(folder: str | os.PathLike, depth: int = MAX_DEPTH) -> list[Take]:
    """Every take in ``folder`` and up to ``depth`` folders below it, newest first."""
    root = Path(folder)
    found: list[Take] = []

    def walk(d: Path, level: int) -> None:
        try:
            entries = sorted(d.iterdir())
        except OSError:
            return
        for p in entries:
            if p.name.startswith("."):
                continue  # hidden folders, and .part files being written
            if p.is_dir() and level < depth:
                walk(p, level + 1)
            elif p.suffix.lower() in (".mid", ".midi") and p.is_file():
                t = read_take(p)
                if t is not None:
                    found.append(t)

    walk(root, 0)
    found.sort(key=lambda t: (t.recorded.timestamp(), str(t.mid)), reverse=True)
    return found


def format_takes(takes: list[Take]) -> str:
    """A table, newest first: date, length, style, rig, mode, tempo, notes, take, piano roll."""
    if not takes:
        return "no takes"
    rows = [("recorded", "length", "style", "rig", "mode", "bpm", "notes", "take", "piano roll")]
    for t in takes:
        m, s = divmod(int(round(t.seconds)), 60)
        rows.append((t.recorded.strftime("%Y-%m-%d %H:%M"), f"{m}:{s:02d}", t.style or "?", t.rig or "?",
                     t.mode or "?", f"{t.tempo:g}" if t.tempo else "?", str(t.notes), str(t.mid),
                     str(t.png) if t.png else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def main(folder: str | None, as_json: bool = False) -> int:
    """``sideman takes``: print the takes in ``folder`` (default: here). Returns 0."""
    from live.errors import InputFileError

    base = Path(folder or ".")
    if not base.is_dir():
        raise InputFileError(f"--folder {base}: no such folder")
    takes = find_takes(base)
    if as_json:
        print(json.dumps([t.to_json() for t in takes], indent=1))
    else:
        print(format_takes(takes))
    return 0
