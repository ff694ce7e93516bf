"""Driving the engine block by block in tests, as pyo's offline server does (no audio
server, the planner inline): one copy for every test module that needs it."""

from __future__ import annotations

import numpy as np

from live.midifile import FileInput, Performance

SR, BLOCK = 48000, 64


def perf_from(notes, seconds: float) -> Performance:
    """notes: (start s, end s, note, vel) -> a Performance."""
    ev = []
    for s, e, n, v in notes:
        ev.append((s, (0x90, n, v)))
        ev.append((e, (0x80, n, 0)))
    ev.sort(key=lambda x: (x[0], x[1][0] == 0x90))
    return Performance("<test>", np.array([t for t, _ in ev]), [m for _, m in ev], 120.0, 4, 480, seconds)


def play(eng, seconds: float, perf: Performance | None = None, until_ended: bool = False) -> np.ndarray:
    """Play ``perf`` (if any) into ``eng`` for ``seconds``, then stop; the recorder's events."""
    if perf is not None:
        src = FileInput(perf, eng.clock.sr, lead_in_s=0.0)
        src.start(0)
        eng.file_source = src
    eng.start()
    for _ in range(int(seconds * eng.clock.sr / eng.clock.block)):
        eng.tick()
        eng.planner.step()
        if until_ended and eng.planner.ended and len(eng.ring) == 0:
            break
    eng.request_stop()
    eng.tick()
    return eng.recorder.events()


def assert_every_note_ends(events) -> None:
    sounding: dict[tuple[int, int], int] = {}
    for _frame, track, status, d1, d2 in events:
        key = (int(track), int(d1))
        if status == 0x90 and d2 > 0:
            sounding[key] = sounding.get(key, 0) + 1
        elif status in (0x80, 0x90) and sounding.get(key, 0) > 0:
            sounding[key] -= 1
    assert not {k: v for k, v in sounding.items() if v}, "notes left hanging"
