"""The engine's two clocks: audio frames (the heartbeat) and musical time (beats).

Threading model
---------------
- ``FrameClock`` is written only by the audio-clock callback (one ``advance`` per
  block) and read by every other thread. Its fields are plain ints; a reader may see
  the previous block, never a torn value (the GIL makes each store atomic).
- ``Transport`` is owned by the planner thread: it maps beats to frames through a
  tempo anchor. The audio thread never calls it; it only reads ``FrameClock``.

Every event in the engine carries its time in frames of the one ``FrameClock``.
Wall-clock time is only for display.
"""

from __future__ import annotations

import time


class FrameClock:
    """Counts audio frames, one block at a time, and stays with the audio server.

    ``block_start`` is the frame at which the block being processed starts;
    ``block_end`` is one past its last frame. ``block_ns`` is ``perf_counter_ns`` at
    the start of the block, for display and for input timestamps only.

    Live (``follow_wall=True``), a block the server dropped in an xrun never reaches
    us, so counting callbacks alone would leave the band one block late for the rest of
    the gig. We compare the count with the wall clock: when the callbacks have been
    more than 1.5 blocks behind their usual lateness for ``XRUN_CONFIRM`` blocks in a
    row, whole blocks were lost and the count jumps forward by them. A single late
    callback (the next ones catch up) is not a loss. The usual lateness is the minimum
    over the previous window of ``WINDOW`` blocks, so a sound card whose clock drifts
    from the wall clock is followed, not corrected.
    """

    WINDOW = 1024
    XRUN_CONFIRM = 3

    __slots__ = ("sr", "block", "block_start", "block_end", "block_ns", "blocks", "follow_wall",
                 "lost_blocks", "_t0", "_base", "_win_min", "_late_run")

    def __init__(self, sr: int, block: int, follow_wall: bool = False) -> None:
        self.sr = int(sr)
        self.block = int(block)
        self.block_start = 0
        self.block_end = self.block
        self.block_ns = time.perf_counter_ns()
        self.blocks = 0
        self.follow_wall = follow_wall
        self.lost_blocks = 0
        self._t0 = 0
        self._base = 0
        self._win_min = 0
        self._late_run = 0

    def advance(self) -> None:
        """Called once per block by the audio-clock callback, before dispatch."""
        now = time.perf_counter_ns()
        if self.blocks:
            self.block_start += self.block
        else:
            self._t0 = now
        if self.follow_wall:
            lateness = (now - self._t0) * self.sr // 1_000_000_000 - self.block_start
            if lateness < self._win_min:
                self._win_min = lateness
            if self.blocks % self.WINDOW == self.WINDOW - 1:
                self._base, self._win_min = self._win_min, lateness
            behind = lateness - self._base
            if 2 * behind > 3 * self.block:
                self._late_run += 1
                if self._late_run >= self.XRUN_CONFIRM:
                    lost = (behind + self.block // 2) // self.block
                    self.block_start += lost * self.block
                    self.lost_blocks += lost
                    self._late_run = 0
            else:
                self._late_run = 0
        self.block_end = self.block_start + self.block
        self.block_ns = now
        self.blocks += 1

    def seconds(self, frames: int) -> float:
        return frames / self.sr


class Transport:
    """Beats <-> frames for one tempo anchor; tempo changes move the anchor.

    Beat 0 is wherever the caller starts the transport (after any count-in); the
    transport itself only knows ``(anchor_frame, anchor_beat, bpm)``. Changing the
    tempo at beat ``b`` keeps every earlier beat where it was.
    """

    __slots__ = ("sr", "bpm", "meter", "anchor_frame", "anchor_beat", "running", "_past")

    def __init__(self, sr: int, bpm: float, meter: int) -> None:
        if not 20.0 <= bpm <= 400.0:
            raise ValueError(f"tempo must be 20..400 bpm, got {bpm}")
        self.sr = int(sr)
        self.bpm = float(bpm)
        self.meter = int(meter)
        self.anchor_frame = 0
        self.anchor_beat = 0.0
        self.running = False
        self._past: list[tuple[float, int, float]] = []  # earlier (beat, frame, bpm) anchors

    @property
    def frames_per_beat(self) -> float:
        return self.sr * 60.0 / self.bpm

    def start(self, frame: int, beat: float = 0.0) -> None:
        self.anchor_frame = int(frame)
        self.anchor_beat = float(beat)
        self._past.clear()
        self.running = True

    def frame_at(self, beat: float) -> int:
        if beat < self.anchor_beat and self._past:
            for b, f, bpm in reversed(self._past):
                if beat >= b or b == self._past[0][0]:
                    return f + int(round((beat - b) * self.sr * 60.0 / bpm))
        return self.anchor_frame + int(round((beat - self.anchor_beat) * self.frames_per_beat))

    def beat_at(self, frame: int) -> float:
        if frame < self.anchor_frame and self._past:
            for b, f, bpm in reversed(self._past):
                if frame >= f or b == self._past[0][0]:
                    return b + (frame - f) * bpm / (self.sr * 60.0)
        return self.anchor_beat + (frame - self.anchor_frame) / self.frames_per_beat

    def set_tempo(self, bpm: float, at_beat: float) -> None:
        """Change tempo from ``at_beat`` on; beats before it keep their frames."""
        if not 20.0 <= bpm <= 400.0:
            raise ValueError(f"tempo must be 20..400 bpm, got {bpm}")
        frame = self.frame_at(at_beat)
        self._past.append((self.anchor_beat, self.anchor_frame, self.bpm))
        del self._past[:-16]  # only the recent past is ever asked about
        self.anchor_frame = frame
        self.anchor_beat = float(at_beat)
        self.bpm = float(bpm)

    def retime(self, beat: float, frame: int, bpm: float) -> None:
        """From ``beat`` on, put ``beat`` at ``frame`` and beats ``bpm`` apart: tempo
        following moves the phase as well as the tempo. Beats before it keep their frames
        (the caller never moves a beat before one already committed)."""
        if not 20.0 <= bpm <= 400.0:
            raise ValueError(f"tempo must be 20..400 bpm, got {bpm}")
        self._past.append((self.anchor_beat, self.anchor_frame, self.bpm))
        del self._past[:-16]
        self.anchor_frame = int(frame)
        self.anchor_beat = float(beat)
        self.bpm = float(bpm)

    def bar_beat(self, beat: float) -> tuple[int, float]:
        """(bar index, beat within bar) for a beat position."""
        bar = int(beat // self.meter)
        return bar, beat - bar * self.meter
