"""Standard MIDI Files in and out: performances to play, takes to keep.

Control thread only. Reading checks the file at the boundary and gives a clear
``InputFileError``; writing goes to a temporary file and is renamed into place, so
a crash never leaves half a take.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.errors import InputFileError

MAX_MIDI_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Performance:
    """A MIDI file as timed channel messages: seconds, and the bytes of each message."""

    path: str
    times: np.ndarray  # float64 seconds, ascending
    messages: list[tuple[int, ...]]
    tempo_bpm: float  # the file's first tempo (120 if none)
    beats_per_bar: int
    ticks_per_beat: int
    duration: float


def read_performance(path: str | os.PathLike) -> Performance:
    """Read a Standard MIDI File; every track merged, channel messages only.

    Raises:
        InputFileError: missing, empty, too big, not MIDI, corrupt, or no notes.
    """
    import mido

    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: no such file")
    if not p.is_file():
        raise InputFileError(f"{p}: not a file")
    size = p.stat().st_size
    if size == 0:
        raise InputFileError(f"{p}: empty file (expected a Standard MIDI File)")
    if size > MAX_MIDI_BYTES:
        raise InputFileError(f"{p}: {size} bytes is too big for a performance (at most {MAX_MIDI_BYTES})")
    with open(p, "rb") as f:
        head = f.read(4)
    if head != b"MThd":
        raise InputFileError(f"{p}: not a Standard MIDI File (starts with {head!r}, expected b'MThd')")
    try:
        mid = mido.MidiFile(p)
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError...
        raise InputFileError(f"{p}: corrupt MIDI file: {exc}") from exc
    if mid.type == 2:
        raise InputFileError(f"{p}: MIDI type 2 (independent sequences) is not supported; use type 0 or 1")
    tempo, meter = 500000, 4
    for msg in mid.tracks[0] if mid.tracks else []:
        if msg.type == "set_tempo":
            tempo = msg.tempo
            break
    for track in mid.tracks:
        for msg in track:
            if msg.type == "time_signature":
                meter = msg.numerator
                break
    times, msgs = [], []
    t = 0.0
    try:
        for msg in mid:  # merged, tempo map applied, .time in seconds
            t += msg.time
            if msg.is_meta or msg.type == "sysex":
                continue
            times.append(t)
            msgs.append(tuple(msg.bytes()))
    except Exception as exc:
        raise InputFileError(f"{p}: corrupt MIDI file: {exc}") from exc
    if not any(m[0] & 0xF0 == 0x90 and m[2] > 0 for m in msgs):
        raise InputFileError(f"{p}: no notes in the file")
    return Performance(str(p), np.asarray(times, np.float64), msgs, 60e6 / tempo, meter,
                       mid.ticks_per_beat, t)


class FileInput:
    """Plays a performance into the engine as if a controller played it.

    Threading: ``poll`` runs on the audio clock (no allocation: messages were built at
    load); ``start`` on the control thread before the clock runs.
    """

    def __init__(self, perf: Performance, sr: int, lead_in_s: float = 0.25) -> None:
        self.frames = np.round((perf.times + lead_in_s) * sr).astype(np.int64)
        self.messages = perf.messages
        self.i = 0
        self.n = len(self.messages)
        self.offset = 0
        self.end_frame = int(self.frames[-1]) if self.n else 0
        self.lookahead = 0  # deliver this many frames early (offline look-ahead), stamped on time

    @property
    def done(self) -> bool:
        return self.i >= self.n

    def start(self, frame: int) -> None:
        self.offset = frame
        self.end_frame = (int(self.frames[-1]) if self.n else 0) + frame

    def poll(self, until: int, sink) -> None:
        i, off, frames = self.i, self.offset, self.frames
        until += self.lookahead
        while i < self.n and frames[i] + off < until:
            sink(self.messages[i], int(frames[i]) + off)
            i += 1
        self.i = i


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: never half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_take(path: Path, events: np.ndarray, sr: int, tracks: list[tuple[int, str, int, int]],
               bpm: float, meter: int) -> None:
    """Write recorded events as a type-1 MIDI file, one track per part.

    ``events``: (n, 5) frame, track, status, d1, d2 (status without channel);
    ``tracks``: (track id, name, channel 0..15, GM program 0..127 or -1 for drums).
    """
    import mido

    tpb = 480
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("track_name", name="sideman", time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=meter, denominator=4, time=0))
    mid.tracks.append(meta)
    ticks_per_frame = bpm / 60.0 * tpb / sr
    for tid, name, ch, program in tracks:
        tr = mido.MidiTrack()
        tr.append(mido.MetaMessage("track_name", name=name, time=0))
        if program >= 0:
            tr.append(mido.Message("program_change", channel=ch, program=program, time=0))
        sel = events[events[:, 1] == tid]
        last = 0
        for frame, _, status, d1, d2 in sel:
            tick = int(round(frame * ticks_per_frame))
            kind = int(status) & 0xF0
            if kind == 0x90:
                msg = mido.Message("note_on", channel=ch, note=int(d1), velocity=int(d2))
            elif kind == 0x80:
                msg = mido.Message("note_off", channel=ch, note=int(d1), velocity=0)
            elif kind == 0xB0:
                msg = mido.Message("control_change", channel=ch, control=int(d1), value=int(d2))
            else:
                continue
            tr.append(msg.copy(time=max(0, tick - last)))
            last = max(last, tick)
        mid.tracks.append(tr)
    atomic_write(Path(path), lambda tmp: mid.save(tmp))


def note_spans(events: np.ndarray, sr: int) -> list[tuple[int, int, float, float, int]]:
    """Pair note-ons with note-offs: (track, note, start s, end s, velocity)."""
    open_: dict[tuple[int, int], tuple[float, int]] = {}
    spans = []
    end = events[-1, 0] / sr if len(events) else 0.0
    for frame, track, status, d1, d2 in events:
        key = (int(track), int(d1))
        kind = int(status) & 0xF0
        if kind == 0x90 and d2 > 0:
            if key in open_:
                s, v = open_.pop(key)
                spans.append((key[0], key[1], s, frame / sr, v))
            open_[key] = (frame / sr, int(d2))
        elif kind in (0x80, 0x90):
            if key in open_:
                s, v = open_.pop(key)
                spans.append((key[0], key[1], s, frame / sr, v))
    for (track, note), (s, v) in open_.items():
        spans.append((track, note, s, end, v))
    return spans
