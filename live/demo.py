"""The demo performance shipped with Sideman: a melody over left-hand chords.

``python -m live.demo`` rebuilds ``live/data/demo.mid`` from this code (the test
suite checks the shipped file matches). 16 bars at 100 bpm in C major, I-vi-IV-V
twice, then ii-V-I-IV and a cadence, with the left hand below middle C.
"""

from __future__ import annotations

from pathlib import Path

TEMPO = 100
PROGRESSION = ["C", "Am", "F", "G", "C", "Am", "F", "G", "Dm", "G", "C", "F", "Dm", "G", "C", "C"]
CHORDS = {"C": (48, 52, 55), "Am": (45, 48, 52), "F": (41, 45, 48), "G": (43, 47, 50),
          "Dm": (50, 53, 57)}
# (beat offset in bar, duration in beats, note) for each bar
MELODY = [
    [(0, 1, 72), (1, 1, 76), (2, 1.5, 79), (3.5, 0.5, 76)],
    [(0, 2, 76), (2, 1, 72), (3, 1, 69)],
    [(0, 1, 69), (1, 1, 72), (2, 1.5, 77), (3.5, 0.5, 76)],
    [(0, 3, 74), (3, 1, 71)],
    [(0, 1, 72), (1, 1, 76), (2, 1.5, 79), (3.5, 0.5, 81)],
    [(0, 2, 81), (2, 1, 76), (3, 1, 72)],
    [(0, 1, 77), (1, 1, 76), (2, 1, 74), (3, 1, 72)],
    [(0, 4, 74)],
    [(0, 1, 74), (1, 1, 77), (2, 1, 81), (3, 1, 77)],
    [(0, 1.5, 79), (1.5, 0.5, 77), (2, 1, 74), (3, 1, 71)],
    [(0, 2, 72), (2, 1, 76), (3, 1, 79)],
    [(0, 3, 77), (3, 1, 76)],
    [(0, 1, 74), (1, 1, 77), (2, 1, 81), (3, 1, 79)],
    [(0, 2, 79), (2, 1, 77), (3, 1, 74)],
    [(0, 4, 72)],
    [(0, 2, 72), (2, 2, 67)],
]


def build(path: Path) -> None:
    import mido

    tpb = 480
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack([
        mido.MetaMessage("track_name", name="Sideman demo", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(TEMPO), time=0),
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
    ])
    mid.tracks.append(meta)
    for name, events in (("right hand", _melody()), ("left hand", _chords())):
        tr = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        last = 0
        for tick, kind, note, vel in sorted(events, key=lambda e: (e[0], e[1] == "note_on")):
            tr.append(mido.Message(kind, note=note, velocity=vel, time=tick - last))
            last = tick
        mid.tracks.append(tr)
    from live.atomicfile import atomic_write

    atomic_write(path, lambda tmp: mid.save(tmp))


def _melody():
    ev = []
    for bar, notes in enumerate(MELODY):
        for beat, dur, note in notes:
            on = int((bar * 4 + beat) * 480)
            ev.append((on, "note_on", note, 84 if beat == 0 else 72))
            ev.append((on + int(dur * 480) - 24, "note_off", note, 0))
    return ev


def _chords():
    ev = []
    for bar, name in enumerate(PROGRESSION):
        for beat in (0, 2):
            on = int((bar * 4 + beat) * 480)
            for note in CHORDS[name]:
                ev.append((on, "note_on", note, 62))
                ev.append((on + 2 * 480 - 30, "note_off", note, 0))
    return ev


if __name__ == "__main__":
    target = Path(__file__).parent / "data" / "demo.mid"
    build(target)
    print(f"wrote {target}")
