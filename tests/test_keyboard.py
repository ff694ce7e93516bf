"""The computer keyboard as a MIDI keyboard: the key map, timed note-offs (a terminal
sends no key-up), and the ring the audio clock polls like a MIDI port. Time is
injected; nothing sleeps."""

from __future__ import annotations

import pytest

from live.engine import Engine
from live.events import MUSICIAN
from live.keyboard import (HOLD_S, VELOCITIES, KeyboardPiano, KeyInput, note_name)
from live.rig import load_rig_text

SR, BLOCK = 48000, 64


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def drain(ki: KeyInput) -> list[tuple[int, int, int]]:
    out = []
    while (m := ki.get_message()) is not None:
        out.append(tuple(m[0]))
    return out


def test_the_rows_play_like_a_piano():
    ki = KeyInput()
    clock = Clock()
    piano = KeyboardPiano(ki, clock=clock)
    for ch in "awsedftgyhujkolp;":
        piano.key(ch)
        clock.t += 0.01
    ons = [m[1] for m in drain(ki) if m[0] == 0x90]
    assert ons == list(range(60, 77)), "a w s e d f t g y h u j k o l p ; = C4 up to E5 chromatically"
    assert not piano.key("1") and not piano.key("q") and not piano.key(" ")


def test_octave_and_velocity_keys():
    ki = KeyInput()
    clock = Clock()
    piano = KeyboardPiano(ki, clock=clock)
    piano.key("z")
    piano.key("c")
    piano.key("a")
    (status, note, vel), = drain(ki)
    assert (status, note) == (0x90, 48) and vel == VELOCITIES[4] < 100
    piano.key("x")
    piano.key("x")
    piano.key("v")
    piano.key("v")
    clock.t += 1.0
    piano.key("a")
    ons = [m for m in drain(ki) if m[0] == 0x90]
    assert ons == [(0x90, 72, VELOCITIES[6])]
    for _ in range(10):
        piano.key("x")
        piano.key("v")
    assert piano.base + 16 <= 127 and piano.velocity == 127
    for _ in range(20):
        piano.key("z")
        piano.key("c")
    assert piano.base == 0 and piano.velocity == VELOCITIES[0]
    assert "C-1" in piano.status() and note_name(60) == "C4"


def test_a_note_ends_after_the_hold_time():
    ki = KeyInput()
    clock = Clock()
    piano = KeyboardPiano(ki, clock=clock)
    piano.key("a")
    clock.t += 0.05
    piano.key("d")
    assert piano.expire() == pytest.approx(HOLD_S - 0.05)
    clock.t += HOLD_S - 0.05 + 1e-9
    assert piano.expire() == pytest.approx(0.05, abs=1e-6)  # C is over, E has 50 ms to go
    assert drain(ki) == [(0x90, 60, 100), (0x90, 64, 100), (0x80, 60, 0)]
    clock.t += 0.05 + 1e-9
    assert piano.expire() is None
    assert drain(ki) == [(0x80, 64, 0)]


def test_a_held_key_repeats_and_keeps_sounding_a_new_press_strikes_again():
    ki = KeyInput()
    clock = Clock()
    piano = KeyboardPiano(ki, clock=clock)
    piano.key("g")
    clock.t += 0.3  # a second press while it sounds: strike again
    piano.key("g")
    assert drain(ki) == [(0x90, 67, 100), (0x80, 67, 0), (0x90, 67, 100)]
    for _ in range(40):  # the terminal's key repeat, every 33 ms for 1.3 s
        clock.t += 0.033
        piano.key("g")
        piano.expire()
    assert drain(ki) == [], "repeats keep the note sounding"
    clock.t += HOLD_S
    piano.expire()
    assert drain(ki) == [(0x80, 67, 0)]


def test_release_all_ends_every_note():
    ki = KeyInput()
    piano = KeyboardPiano(ki, clock=Clock())
    for ch in "adg":
        piano.key(ch)
    piano.release_all()
    msgs = drain(ki)
    assert sorted(m[1] for m in msgs if m[0] == 0x80) == [60, 64, 67]
    assert piano.sounding == [] and piano.expire() is None


def test_key_input_is_a_preallocated_ring():
    ki = KeyInput(8)
    slots = [id(s) for s in ki._slots]
    assert ki.get_message() is None
    for i in range(10):
        ki.push(0x90, 60 + i, 100)
    assert len(ki) == 7 and ki.dropped == 3, "one slot stays free; the rest are dropped and counted"
    got = []
    while (m := ki.get_message()) is not None:
        assert id(m) in slots, "get_message hands out the ring's own slots"
        got.append(m[0][1])
    assert got == list(range(60, 67))
    # a slot handed out stays intact while the producer fills the ring again
    ki.push(0x90, 1, 1)
    m = ki.get_message()
    for i in range(6):
        assert ki.push(0x90, 100 + i, 1)
    assert m[0] == [0x90, 1, 1]
    with pytest.raises(ValueError):
        KeyInput(6)


def test_keys_reach_the_engine_like_a_controller():
    rig = load_rig_text("mode: lead\nstyle: pop\ntempo: 120\ninput:\n  split: 60\n", source="<test>")
    n = len([p for p in rig.band if p.enabled])
    eng = Engine(rig, sr=SR, block=BLOCK, parts=[None] * n, musician_part=None, seed=1)
    ki = KeyInput()
    eng.midi_ins = [ki]
    eng.start()
    clock = Clock()
    piano = KeyboardPiano(ki, clock=clock)
    for _ in range(10):
        eng.tick()
        eng.planner.step()
    piano.key("a")
    piano.key("j")
    eng.tick()
    assert eng.listener.held[60] == 100 and eng.listener.held[71] == 100
    assert eng.planner.start_frame >= 0, "the first key starts the band (sync start)"
    for _ in range(int(1.0 * SR / BLOCK)):
        clock.t += BLOCK / SR
        piano.expire()
        eng.tick()
        eng.planner.step()
    ev = eng.recorder.events()
    mine = ev[ev[:, 1] == MUSICIAN]
    assert [(int(s), int(d1)) for _, _, s, d1, _ in mine] == [(0x90, 60), (0x90, 71), (0x80, 60), (0x80, 71)]
    off_frame = int(mine[2, 0])
    assert abs(off_frame - int(mine[0, 0]) - HOLD_S * SR) <= 2 * BLOCK
    assert eng.stats.band_notes > 0 and eng.stats.input_dropped == 0
