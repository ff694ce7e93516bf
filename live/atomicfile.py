"""Writing output files so that a crash, a full disk or a missing permission never
leaves half a file under the name a user opens.

Every file Sideman writes for a user (takes, renders, pictures, reports, rigs) goes
through :func:`atomic_write`: the data goes to a hidden temporary file in the same
folder (``.NAME.part``), is flushed and fsynced, and only then renamed over NAME
(``os.replace``, atomic on one file system). On any error the temporary file is
removed, an earlier NAME is left as it was, and :class:`OutputFileError` says which
path failed and why ("no space left on device while writing take/jam.wav").

Recordings that pyo writes itself (its offline and live servers record to a file as
they play) go through :class:`WavRecording`: the same temporary name, and a check at
the end that every frame the server played reached the disk.

Control thread only (the live jam's journal writer thread uses :func:`describe`).
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
from collections.abc import Callable
from pathlib import Path

from live.errors import OutputFileError

#: free space a folder must have before a long job starts writing into it
MIN_FREE_BYTES = 16 * 1024 * 1024
PART_SUFFIX = ".part"
WAV_HEADER_BYTES = 44  # what libsndfile writes before the samples of a plain PCM WAV

_WHY = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "the file size limit was reached (ulimit -f)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "no permission",
    errno.EPERM: "no permission",
    errno.ENOENT: "no such folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.EIO: "an input/output error on the device",
}


def describe(exc: OSError, path: str | os.PathLike, doing: str = "writing") -> str:
    """One line for a user: the cause, and the path it happened to."""
    why = _WHY.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {Path(path).parent or '.'} (while {doing} {path})"
    return f"{why} while {doing} {path}"


def temp_path(path: str | os.PathLike) -> Path:
    """The hidden name a file is written under before it is renamed into place."""
    p = Path(path)
    return p.with_name(f".{p.name}{PART_SUFFIX}")


def recording_path(path: str | os.PathLike) -> Path:
    """The hidden name a recording is written under: ``.NAME.part.wav`` (pyo picks the
    format from the extension, and says so on stdout when it does not know it)."""
    p = Path(path)
    return p.with_name(f".{p.stem}{PART_SUFFIX}{p.suffix}")


def _remove(p: Path) -> None:
    try:  # cleaning up after a failed write must not hide why it failed
        Path(p).unlink(missing_ok=True)
    except OSError:
        pass


def _fsync_path(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:  # the rename itself survives a power cut; best effort (not every file system allows it)
        _fsync_path(folder)
    except OSError:
        pass


def commit(tmp: Path, path: Path) -> None:
    """fsync ``tmp`` and rename it over ``path``.

    Raises:
        OutputFileError: the data does not reach the disk (``tmp`` is removed).
    """
    try:
        _fsync_path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise OutputFileError(describe(exc, path)) from exc
    _fsync_dir(Path(path).parent)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` (it writes the whole file at ``tmp``), then fsync and rename
    ``tmp`` over ``path``: ``path`` is the old file or the whole new one, never half.
    Returns ``path``.

    Raises:
        OutputFileError: the folder is missing or not writable, the disk is full, the
            file size limit is hit...; the message names the path and the cause.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        write(tmp)
    except OSError as exc:
        _remove(tmp)
        raise OutputFileError(describe(exc, path)) from exc
    except BaseException:
        _remove(tmp)
        raise
    commit(tmp, path)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``atomic_write`` of a text file (UTF-8)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """``atomic_write`` of a binary file."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def check_out_dir(folder: str | os.PathLike, need_bytes: int = MIN_FREE_BYTES, what: str = "--out") -> Path:
    """Make ``folder`` if it is missing and check that a file can be written in it and
    that it has ``need_bytes`` free: before a long job, not after it. Returns it as a Path.

    Raises:
        OutputFileError: naming the folder and what is wrong.
    """
    p = Path(folder)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise OutputFileError(f"{what} {p}: not a folder (a file has that name)") from exc
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise OutputFileError(f"{what} {p}: cannot make the folder: a part of the path is a file") from exc
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise OutputFileError(f"{what} {p}: cannot make the folder: {_WHY[exc.errno]}") from exc
        raise OutputFileError(f"{what} {p}: cannot make the folder: {describe(exc, p, 'making')}") from exc
    probe = p / f".sideman-write-test-{os.getpid()}{PART_SUFFIX}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise OutputFileError(f"{what} {p}: no permission to write in this folder"
                                  + (" (read-only file system)" if exc.errno == errno.EROFS else "")) from exc
        raise OutputFileError(f"{what} {p}: cannot write in this folder: {_WHY.get(exc.errno or 0, exc)}") from exc
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    free = shutil.disk_usage(p).free
    if free < need_bytes:
        raise OutputFileError(f"{what} {p}: only {free / 1e6:.1f} MB free on its disk, "
                              f"{need_bytes / 1e6:.0f} MB needed; free some space or choose another folder")
    return p


def why_short(path: str | os.PathLike) -> str:
    """Why a file stopped growing, when the writer (a C library) did not say: a full
    disk, or the file size limit."""
    p = Path(path)
    try:
        free = shutil.disk_usage(p.parent).free
    except OSError:
        free = -1
    if 0 <= free < 1024 * 1024:
        return "no space left on device"
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    size = p.stat().st_size if p.exists() else 0
    if soft != resource.RLIM_INFINITY and size >= soft - 1024 * 1024:
        return "the file size limit was reached (ulimit -f)"
    return "the disk stopped taking writes"


def wav_frames(path: str | os.PathLike) -> int:
    """Frames in a WAV file per its header; 0 if it is missing or unreadable."""
    import wave

    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes()
    except (OSError, EOFError, wave.Error):
        return 0


class WavRecording:
    """A pyo server's recording, written under ``recording_path(path)`` and renamed into
    place when it is complete. Create it before ``server.start()``/``recstart()``
    (it sets the server's record options); call :meth:`finish` after ``recstop()``.

    Thread: control.
    """

    def __init__(self, server, path: str | os.PathLike, sampletype: int = 1) -> None:
        self.server = server
        self.path = Path(path)
        self.tmp = recording_path(self.path)
        _remove(self.tmp)
        self.start = server.getCurrentTimeInSamples()
        self.sr = int(server.getSamplingRate())
        self.frame_bytes = int(server.getNchnls()) * {0: 2, 1: 3, 2: 4, 3: 4, 4: 8}.get(sampletype, 3)
        server.recordOptions(dur=-1, filename=str(self.tmp), fileformat=0, sampletype=sampletype)

    def missing_s(self) -> float:
        """Seconds the server played that are not in the file (0 when complete)."""
        played = self.server.getCurrentTimeInSamples() - self.start
        return max(0.0, (played - wav_frames(self.tmp)) / self.sr)

    def finish(self, keep_partial: bool = False, tolerance_s: float = 0.1) -> float:
        """Rename the complete recording into place. Returns the seconds in the file.

        ``keep_partial``: a recording cut short by the disk is still renamed into place
        (a take: what was played before is kept); the error is raised after.

        Raises:
            OutputFileError: the disk refused part of the recording (the message says how
                much is in the file), or the rename failed.
        """
        missing = self.missing_s()
        got = wav_frames(self.tmp) / self.sr
        if missing > tolerance_s:
            why = why_short(self.tmp)
            msg = f"{why} while writing {self.path}: the recording stops at {got:.1f} s of {got + missing:.1f} s"
            if keep_partial and got > 0:
                commit(self.tmp, self.path)
                raise OutputFileError(msg + " (what was recorded before is kept and plays)")
            _remove(self.tmp)
            raise OutputFileError(msg + "; nothing was written")
        commit(self.tmp, self.path)
        return got

    def on_disk_s(self) -> float:
        """Seconds in the file while pyo writes it (its header is only written at the end)."""
        try:
            size = self.tmp.stat().st_size
        except OSError:
            return 0.0
        return max(0, size - WAV_HEADER_BYTES) / self.frame_bytes / self.sr

    def played_s(self) -> float:
        return (self.server.getCurrentTimeInSamples() - self.start) / self.sr

    def stalled(self, lag_s: float = 1.0) -> bool:
        """The file is more than ``lag_s`` behind what the server played: the disk refuses."""
        return self.played_s() - self.on_disk_s() > lag_s

    def why(self) -> str:
        return why_short(self.tmp)

    def sync(self) -> None:
        """fsync what pyo wrote so far (a power cut keeps it too). Raises OSError."""
        if self.tmp.exists():
            _fsync_path(self.tmp)

    def discard(self) -> None:
        _remove(self.tmp)


def update_json(path: str | os.PathLike, key: str, value, create: bool = False) -> bool:
    """Set ``key`` of the JSON object in ``path`` (a model card) and write it back whole
    (``write_text``); a missing file is started empty with ``create``, else left alone.
    Returns whether it was written."""
    import json

    path = Path(path)
    if not path.is_file() and not create:
        return False
    doc = json.loads(path.read_text()) if path.is_file() else {}
    doc[key] = value
    write_text(path, json.dumps(doc, indent=1))
    return True
