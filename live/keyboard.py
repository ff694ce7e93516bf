"""The computer keyboard as a MIDI keyboard (``sideman jam --keys``).

Two rows like a piano::

     w e   t y u   o p          black keys: C# D#  F# G# A#  C# D#
    a s d f g h j k l ;         white keys: C D E F G A B C D E

``z``/``x`` move the keyboard an octave down/up, ``c``/``v`` play softer/louder.

A terminal tells us when a key is pressed, never when it is let go. So a note ends
``hold_s`` (0.4 s) after the last press of its key. Holding a key down makes the
terminal repeat it: repeats closer together than ``REPEAT_GAP_S`` keep the note
sounding instead of striking it again (the first repeat, after the terminal's repeat
delay, strikes it again: we cannot tell it from a second press).

Threading model
---------------
- ``KeyboardPiano`` (``key``, ``expire``, ``release_all``) runs on the UI thread (the
  stage view's key loop): the only producer of ``KeyInput``.
- ``KeyInput.get_message`` runs on the audio clock: the engine polls it in its
  ``midi_ins`` exactly like a python-rtmidi input, so the notes take the controller's
  path (listener, musician's voice, thru, recording, sync start, rig controls). It pops
  a preallocated single-producer/single-consumer ring and returns one of the ring's own
  preallocated ``(message, delta)`` pairs: no allocation, no lock, never raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: key -> semitones above the keyboard's C
WHITE_KEYS = {"a": 0, "s": 2, "d": 4, "f": 5, "g": 7, "h": 9, "j": 11, "k": 12, "l": 14, ";": 16}
BLACK_KEYS = {"w": 1, "e": 3, "t": 6, "y": 8, "u": 10, "o": 13, "p": 15}
PIANO_KEYS = {**WHITE_KEYS, **BLACK_KEYS}
OCTAVE_DOWN, OCTAVE_UP, SOFTER, LOUDER = "z", "x", "c", "v"
VELOCITIES = (24, 40, 56, 72, 88, 100, 112, 127)
DEFAULT_VELOCITY = 5  # index into VELOCITIES: 100
DEFAULT_BASE = 60  # the a key plays middle C (C4)
HOLD_S = 0.4
REPEAT_GAP_S = 0.1  # a terminal's key repeat comes every 30-50 ms once it starts
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

HELP = ("keys: a s d f g h j k l ; white, w e t y u o p black, z/x octave down/up, c/v softer/louder; "
        f"a terminal sends no key-up, so a note ends {HOLD_S:g} s after its key (a held key repeats)")


def note_name(note: int) -> str:
    """MIDI note -> "C4" (middle C is C4)."""
    return f"{NOTE_NAMES[note % 12]}{note // 12 - 1}"


class KeyInput:
    """A preallocated SPSC ring of MIDI messages that looks like an rtmidi input.

    ``push`` (UI thread) fills a slot's message list in place and publishes the write
    index; ``get_message`` (audio clock) returns the slot's ``(message, 0.0)`` pair. The
    producer keeps one slot free, so a returned slot is not rewritten before the next
    ``get_message`` call, by which time the engine has read it.
    """

    __slots__ = ("capacity", "mask", "_slots", "write", "read", "dropped")

    def __init__(self, capacity: int = 256) -> None:
        if capacity < 4 or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two >= 4, got {capacity}")
        self.capacity = capacity
        self.mask = capacity - 1
        self._slots = [([0, 0, 0], 0.0) for _ in range(capacity)]
        self.write = 0
        self.read = 0
        self.dropped = 0

    def push(self, status: int, d1: int, d2: int) -> bool:
        """UI thread: queue one 3-byte message. False (and counted) when full."""
        w = self.write
        if w - self.read >= self.capacity - 1:
            self.dropped += 1
            return False
        msg = self._slots[w & self.mask][0]
        msg[0] = status
        msg[1] = d1
        msg[2] = d2
        self.write = w + 1  # publish last
        return True

    def get_message(self):
        """Audio clock: the next ``(message, delta)`` or None, like ``rtmidi.MidiIn``."""
        r = self.read
        if r == self.write:
            return None
        self.read = r + 1
        return self._slots[r & self.mask]

    def __len__(self) -> int:
        return self.write - self.read


class KeyboardPiano:
    """Turns key presses into note-ons and timed note-offs on a ``KeyInput``.

    Time is injectable (``clock``) so tests never sleep. Thread: UI thread only.
    """

    def __init__(self, sink: KeyInput, *, channel: int = 0, hold_s: float = HOLD_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sink = sink
        self.channel = channel
        self.hold_s = hold_s
        self.clock = clock
        self.base = DEFAULT_BASE
        self.vel_index = DEFAULT_VELOCITY
        self.last = ""  # what the last key did, for the stage view
        self._sounding: dict[int, list[float]] = {}  # note -> [last press, note-off time]

    @property
    def velocity(self) -> int:
        return VELOCITIES[self.vel_index]

    def status(self) -> str:
        """One line for the stage view: octave, velocity, the last key."""
        top = self.base + max(PIANO_KEYS.values())
        return (f"computer keys {note_name(self.base)}..{note_name(top)}  velocity {self.velocity}"
                + (f"  {self.last}" if self.last else "")
                + f"  (z/x octave, c/v velocity; a note ends {self.hold_s:g} s after its key)")

    def key(self, ch: str, now: float | None = None) -> bool:
        """Handle one key. Returns False when ``ch`` is not a piano key (the caller may use it)."""
        now = self.clock() if now is None else now
        if ch in PIANO_KEYS:
            note = self.base + PIANO_KEYS[ch]
            if not 0 <= note <= 127:
                return True
            held = self._sounding.get(note)
            if held is not None and now - held[0] < REPEAT_GAP_S:
                held[0] = now  # the terminal repeating a held key: keep it sounding
                held[1] = now + self.hold_s
                return True
            if held is not None:  # pressed again: end it, strike it again
                self.sink.push(0x80 | self.channel, note, 0)
            self.sink.push(0x90 | self.channel, note, self.velocity)
            self._sounding[note] = [now, now + self.hold_s]
            self.last = f"{note_name(note)} ({note})"
            return True
        if ch == OCTAVE_DOWN and self.base - 12 >= 0:
            self.base -= 12
        elif ch == OCTAVE_UP and self.base + 12 + max(PIANO_KEYS.values()) <= 127:
            self.base += 12
        elif ch == SOFTER:
            self.vel_index = max(0, self.vel_index - 1)
        elif ch == LOUDER:
            self.vel_index = min(len(VELOCITIES) - 1, self.vel_index + 1)
        else:
            return False
        return True

    def expire(self, now: float | None = None) -> float | None:
        """Send the note-offs that are due. Returns seconds until the next one, or None."""
        now = self.clock() if now is None else now
        due = [n for n, (_, off) in self._sounding.items() if off <= now]
        for note in due:
            del self._sounding[note]
            self.sink.push(0x80 | self.channel, note, 0)
        if not self._sounding:
            return None
        return max(0.0, min(off for _, off in self._sounding.values()) - now)

    def release_all(self) -> None:
        """End every note now (the take ends)."""
        for note in list(self._sounding):
            self.sink.push(0x80 | self.channel, note, 0)
        self._sounding.clear()

    @property
    def sounding(self) -> list[int]:
        return sorted(self._sounding)
