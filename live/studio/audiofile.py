"""WAV files in and out for the studio: PCM 8/16/24/32-bit and IEEE float 32/64, mono
or more channels, plain or WAVE_FORMAT_EXTENSIBLE; checked at the boundary.

Control thread only. Writing goes to a temporary file renamed into place
(``live.atomicfile.atomic_write``): a crash never leaves half a file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.atomicfile import atomic_write
from live.errors import InputFileError

MAX_WAV_BYTES = 2 * 1024 ** 3  # 2 GiB: about 3 hours of 48 kHz 24-bit stereo
MAX_CHANNELS = 8
PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE


@dataclass(frozen=True)
class Audio:
    """Samples as float64 (frames, channels), full scale 1.0."""

    path: str
    data: np.ndarray
    sr: int
    bits: int
    is_float: bool

    @property
    def seconds(self) -> float:
        return self.data.shape[0] / self.sr

    @property
    def channels(self) -> int:
        return self.data.shape[1]

    def describe(self) -> str:
        kind = f"{self.bits}-bit float" if self.is_float else f"{self.bits}-bit"
        chans = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} channels")
        return f"{self.seconds:.1f} s, {self.sr} Hz, {kind}, {chans}"


def read_wav(path: str | Path) -> Audio:
    """Read a WAV file.

    Raises:
        InputFileError: missing, empty, too big, not RIFF/WAVE, an unsupported encoding,
            no audio, or truncated; the message names the file and what is wrong.
    """
    from live.midifile import check_input_file

    p = check_input_file(path, "a WAV file", MAX_WAV_BYTES)
    raw = p.read_bytes()
    if len(raw) < 12 or raw[:4] not in (b"RIFF", b"RIFX") or raw[8:12] != b"WAVE":
        raise InputFileError(f"{p}: not a WAV file (starts with {raw[:12]!r}, expected b'RIFF....WAVE')")
    if raw[:4] == b"RIFX":
        raise InputFileError(f"{p}: big-endian RIFX WAV is not supported; convert it to a plain WAV")
    fmt, data = None, None
    pos = 12
    while pos + 8 <= len(raw):
        cid, clen = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        body = raw[pos + 8:pos + 8 + clen]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            data = body
            if len(body) < clen:
                if len(body) == 0:
                    raise InputFileError(f"{p}: truncated WAV file (the data chunk is empty)")
                if clen not in (0, 0xFFFFFFFF):  # a streaming writer's "size unknown" is not a cut
                    raise InputFileError(f"{p}: truncated WAV file: its header says {clen} bytes of audio, the "
                                         f"file holds {len(body)} (cut off while it was written or copied?)")
                break  # a streaming writer's file: take what is there
        pos += 8 + clen + (clen & 1)
    if fmt is None or len(fmt) < 16:
        raise InputFileError(f"{p}: corrupt WAV file: no valid 'fmt ' chunk")
    if data is None:
        raise InputFileError(f"{p}: corrupt WAV file: no 'data' chunk")
    tag, ch, sr, _rate, align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    if tag not in (PCM, FLOAT):
        raise InputFileError(f"{p}: WAV encoding {tag:#x} is not supported (PCM or IEEE float only)")
    if not 1 <= ch <= MAX_CHANNELS:
        raise InputFileError(f"{p}: {ch} channels; 1..{MAX_CHANNELS} are supported")
    if not 8000 <= sr <= 384000:
        raise InputFileError(f"{p}: sample rate {sr} Hz is out of range (8000..384000)")
    ok = {PCM: (8, 16, 24, 32), FLOAT: (32, 64)}[tag]
    if bits not in ok or align != ch * bits // 8:
        raise InputFileError(f"{p}: {bits}-bit {'float' if tag == FLOAT else 'PCM'} with block align {align} "
                             f"is not supported (bits {ok})")
    frames = len(data) // align
    if frames == 0:
        raise InputFileError(f"{p}: no audio in the file (0 frames)")
    buf = np.frombuffer(data[:frames * align], np.uint8)
    if tag == FLOAT:
        x = buf.view("<f4" if bits == 32 else "<f8").astype(np.float64)
        if not np.isfinite(x).all():
            raise InputFileError(f"{p}: corrupt float WAV (NaN or infinite samples)")
    elif bits == 8:
        x = (buf.astype(np.float64) - 128.0) / 128.0
    elif bits == 24:
        b = buf.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    else:
        x = buf.view("<i2" if bits == 16 else "<i4").astype(np.float64) / float(1 << (bits - 1))
    return Audio(str(p), x.reshape(frames, ch), int(sr), int(bits), tag == FLOAT)


def write_wav(path: str | Path, x: np.ndarray, sr: int, bits: int = 24) -> None:
    """Write (frames, channels) float samples as PCM ``bits`` 16 or 24 (clipped to full
    scale), or 32 for IEEE float."""
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    frames, ch = x.shape
    if bits == 32:
        tag, payload = FLOAT, x.astype("<f4").tobytes()
    elif bits in (16, 24):
        tag = PCM
        full = float(1 << (bits - 1))
        q = np.clip(np.round(x * full), -full, full - 1).astype(np.int32)
        if bits == 16:
            payload = q.astype("<i2").tobytes()
        else:
            b = q.reshape(-1).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
            payload = b.tobytes()
    else:
        raise ValueError(f"bits must be 16, 24 or 32 (float), got {bits}")
    width = bits // 8
    fmt = struct.pack("<HHIIHH", tag, ch, sr, sr * ch * width, ch * width, bits)
    head = b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(payload)) + b"WAVE"
    blob = head + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    if len(payload) & 1:
        blob += b"\0"
    atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(blob))
