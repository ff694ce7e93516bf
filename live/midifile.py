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

from live.atomicfile import atomic_write  # noqa: F401  (imported from here by older code)
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


def check_input_file(path: str | os.PathLike, expected: str, max_bytes: int, too_big: str = "too big") -> Path:
    """The checks every input file gets before it is read: it exists, is a file, is not
    empty and not bigger than ``max_bytes``. Returns it as a Path.

    Raises:
        InputFileError: naming the file and what is wrong (``expected``: what it should be).
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: no such file")
    if not p.is_file():
        raise InputFileError(f"{p}: not a file")
    size = p.stat().st_size
    if size == 0:
        raise InputFileError(f"{p}: empty file (expected {expected})")
    if size > max_bytes:
        raise InputFileError(f"{p}: {size} bytes is {too_big} (at most {max_bytes})")
    return p


def read_performance(path: str | os.PathLike) -> Performance:
    """Read a Standard MIDI File; every track merged, channel messages only.

    Raises:
        InputFileError: missing, empty, too big, not MIDI, corrupt, or no notes.
    """
    import mido

    p = check_input_file(path, "a Standard MIDI File", MAX_MIDI_BYTES, "too big for a performance")
    with open(p, "rb") as f:
        head = f.read(4)
    if head != b"MThd":
        raise InputFileError(f"{p}: not a Standard MIDI File (starts with {head!r}, expected b'MThd')")
    try:
        mid = mido.MidiFile(p)
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError...
        why = str(exc) or ("it ends in the middle of a track (truncated)" if isinstance(exc, EOFError)
                           else type(exc).__name__)
        raise InputFileError(f"{p}: corrupt MIDI file: {why}") from exc
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


# -- the take's journal: what a crash cannot take away ------------------------------

JOURNAL_MAGIC = b"SMJ1"
#: one recorded message on disk: frame, track (MUSICIAN = -1), status, d1, d2 (12 bytes)
JOURNAL_DTYPE = np.dtype([("frame", "<i8"), ("track", "i1"), ("status", "u1"), ("d1", "u1"), ("d2", "u1")])
JOURNAL_SUFFIX = ".journal"


def journal_path(mid: Path) -> Path:
    return Path(mid).with_suffix(JOURNAL_SUFFIX)


class TakeJournal:
    """An append-only file of the recorder's events, written while the jam runs.

    A header (magic, a JSON length, JSON: sample rate, tempo, meter, tracks, start
    time) and then fixed 12-byte records. Every ``flush`` appends what the recorder
    holds beyond what is already on disk and fsyncs it, so a process killed with
    SIGKILL (or a power cut) loses at most what was recorded since the last flush; a
    record cut short by the kill is ignored when the journal is read.

    When the disk refuses a write (full, file size limit), the file is cut back to its
    last whole record and ``flush`` raises; the events stay in the recorder and the
    next flush tries them again, so the journal never holds a torn record in the middle.

    Threading: the audio clock only appends to the ``Recorder`` (arrays preallocated,
    ``n`` published after the element is written); ``flush`` runs on a writer thread
    (``JournalWriter``), inline between blocks offline, or on the control thread,
    never on the audio clock.
    """

    def __init__(self, path: Path, recorder, header: dict) -> None:
        import json

        from live.atomicfile import describe
        from live.errors import OutputFileError

        self.path = Path(path)
        self.recorder = recorder
        self.written = 0
        self.closed = False
        meta = json.dumps(header).encode()
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise OutputFileError(describe(exc, self.path, "starting the take's journal")) from exc
        self.size = 0
        try:
            self._append(JOURNAL_MAGIC + len(meta).to_bytes(4, "little") + meta)
        except OSError as exc:
            self.close(remove=True)
            raise OutputFileError(describe(exc, self.path, "starting the take's journal")) from exc

    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                k = os.write(self.fd, view)
                view = view[k:]
            os.fsync(self.fd)
        except OSError:
            try:  # no torn record left behind: back to the last whole one
                os.ftruncate(self.fd, self.size)
                os.lseek(self.fd, self.size, os.SEEK_SET)
            except OSError:
                pass
            raise
        self.size += len(data)

    def flush(self) -> int:
        """Append the events recorded since the last flush; returns how many.

        Raises:
            OSError: the disk refused them (they are tried again next time).
        """
        rec = self.recorder
        n = min(rec.n, rec.capacity)
        k = n - self.written
        if k <= 0 or self.closed:
            return 0
        a = np.empty(k, JOURNAL_DTYPE)
        s = slice(self.written, n)
        a["frame"], a["track"], a["status"] = rec.frame[s], rec.track[s], rec.status[s]
        a["d1"], a["d2"] = rec.d1[s], rec.d2[s]
        self._append(a.tobytes())
        self.written = n
        return k

    def crash(self) -> None:
        """Close the file without a last flush: what a killed process leaves (tests)."""
        if not self.closed:
            os.close(self.fd)
            self.closed = True

    def close(self, remove: bool = False, flush: bool = True) -> None:
        if not self.closed:
            try:
                if flush:
                    self.flush()
            finally:
                os.close(self.fd)
                self.closed = True
        if remove:
            self.path.unlink(missing_ok=True)


def read_journal(path: Path) -> tuple[dict, np.ndarray]:
    """(header, (n, 5) int64 events) from a journal, a record cut short at the end ignored.

    Raises:
        InputFileError: not a Sideman journal.
    """
    import json

    raw = Path(path).read_bytes()
    if raw[:4] != JOURNAL_MAGIC or len(raw) < 8:
        raise InputFileError(f"{path}: not a Sideman take journal (starts with {raw[:4]!r})")
    m = int.from_bytes(raw[4:8], "little")
    try:
        header = json.loads(raw[8:8 + m])
    except ValueError as exc:
        raise InputFileError(f"{path}: the journal's header is corrupt: {exc}") from exc
    body = raw[8 + m:]
    rec = np.frombuffer(body[: len(body) // JOURNAL_DTYPE.itemsize * JOURNAL_DTYPE.itemsize], JOURNAL_DTYPE)
    events = np.stack([rec["frame"].astype(np.int64), rec["track"].astype(np.int64),
                       rec["status"].astype(np.int64), rec["d1"].astype(np.int64),
                       rec["d2"].astype(np.int64)], axis=1) if len(rec) else np.zeros((0, 5), np.int64)
    return header, events


def close_open_notes(events: np.ndarray, end_frame: int) -> np.ndarray:
    """``events`` with a note-off at ``end_frame`` for every note still sounding at the end,
    and the sustain pedal lifted: what a crash left open is ended where it stopped."""
    sounding: dict[tuple[int, int], int] = {}
    pedal: set[int] = set()
    for _, track, status, d1, d2 in events.tolist():
        kind = status & 0xF0
        if kind == 0x90 and d2 > 0:
            sounding[(track, d1)] = sounding.get((track, d1), 0) + 1
        elif kind == 0x80 or kind == 0x90:
            if sounding.get((track, d1), 0) > 0:
                sounding[(track, d1)] -= 1
        elif kind == 0xB0 and d1 == 64:
            (pedal.add if d2 >= 64 else pedal.discard)(track)
    extra = [(end_frame, t, 0xB0, 64, 0) for t in sorted(pedal)]
    for (track, note), k in sorted(sounding.items()):
        extra += [(end_frame, track, 0x80, note, 0)] * k
    if not extra:
        return events
    return np.concatenate([events, np.asarray(extra, np.int64).reshape(-1, 5)])


def repair_wav(path: Path) -> bool:
    """Make a WAV file cut off by a crash playable: set the RIFF and data chunk sizes
    from the file's length (pyo's recorder writes samples as it goes and the header
    only when it stops). Returns True if the header was changed."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        head = f.read(4096)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        pos, block_align, data_at = 12, 1, -1
        while pos + 8 <= len(head):
            cid, clen = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
            if cid == b"fmt ":
                block_align = max(1, int.from_bytes(head[pos + 20:pos + 22], "little"))
            if cid == b"data":
                data_at = pos
                break
            pos += 8 + clen + (clen & 1)
        if data_at < 0:
            return False
        data_len = (size - data_at - 8) // block_align * block_align
        riff_len = data_at + 8 + data_len - 8
        old_data = int.from_bytes(head[data_at + 4:data_at + 8], "little")
        old_riff = int.from_bytes(head[4:8], "little")
        if old_data == data_len and old_riff == riff_len:
            return False
        f.seek(4)
        f.write(riff_len.to_bytes(4, "little"))
        f.seek(data_at + 4)
        f.write(data_len.to_bytes(4, "little"))
    return True


def recover_journal(journal: Path, wav: Path | None = None) -> tuple[Path, Path | None, int]:
    """Turn a journal left by a crash into a playable take beside it:
    ``<name>-recovered-<start time>.mid`` (notes left open end where the journal
    ends) and, when ``wav`` was being recorded, the WAV repaired and renamed to match.
    The journal is removed once the take is written. Returns (mid, wav or None, notes).

    Raises:
        InputFileError: the journal is not a Sideman journal.
    """
    header, events = read_journal(journal)
    journal = Path(journal)
    stem = journal.stem
    stamp = str(header.get("started", "")).replace(":", "").replace("-", "").replace("T", "-")[:15] or "unknown"
    mid = journal.with_name(f"{stem}-recovered-{stamp}.mid")
    k = 1
    while mid.exists():
        k += 1
        mid = journal.with_name(f"{stem}-recovered-{stamp}-{k}.mid")
    end = int(events[:, 0].max()) + 1 if len(events) else 0
    events = close_open_notes(events, end)
    tracks = [tuple(t) for t in header["tracks"]]
    write_take(mid, events, int(header["sr"]), tracks, float(header["tempo"]), int(header["meter"]))
    wav_out = None
    started = float(header.get("started_unix", 0.0))
    if wav is not None and Path(wav).exists() and Path(wav).stat().st_mtime >= started - 1.0:
        repair_wav(wav)
        wav_out = mid.with_suffix(".wav")
        os.replace(wav, wav_out)
    journal.unlink()
    notes = int(((events[:, 2] & 0xF0) == 0x90).sum() - ((events[:, 2] == 0x90) & (events[:, 4] == 0)).sum())
    return mid, wav_out, notes
