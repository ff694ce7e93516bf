"""``sideman arrange``: melody kept on top, ranges, SATB rules, tracks and programs."""

from __future__ import annotations

import itertools

import mido
import numpy as np
import pytest

from kernels.ensemble import is_parallel, is_parallel_ref, voice_inner, voice_inner_ref
from live.cli import main
from live.errors import InputFileError
from live.studio.arrange import ENSEMBLES, FRAME, INSTRUMENTS, LINEUP, arrange, chord_weights, write_outputs

MELODY = [(72, 1), (74, 1), (76, 1), (72, 1), (69, 2), (72, 2), (77, 1), (76, 1), (74, 1), (72, 1), (71, 2),
          (67, 2), (72, 4)]
LEFT = [[48, 52, 55], [45, 48, 52], [41, 45, 48], [43, 47, 50], [48, 52, 55]]


def piano_file(path, left=True, tempo=100):
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo)))
    ev, t = [], 0
    for p, d in MELODY:
        ev += [(t * 480, 1, p, 90), ((t + d) * 480 - 10, 0, p, 0)]
        t += d
    if left:
        for i, c in enumerate(LEFT):
            for p in c:
                ev += [(i * 1920, 1, p, 70), ((i + 1) * 1920 - 10, 0, p, 0)]
    ev.sort(key=lambda e: (e[0], e[1]))
    last = 0
    for tick, on, p, v in ev:
        tr.append(mido.Message("note_on" if on else "note_off", note=p, velocity=v, time=tick - last))
        last = tick
    mid.save(path)
    return path


@pytest.fixture(scope="module")
def piano(tmp_path_factory):
    return piano_file(tmp_path_factory.mktemp("arr") / "piano.mid")


@pytest.fixture(scope="module")
def tune(tmp_path_factory):
    return piano_file(tmp_path_factory.mktemp("arr") / "tune.mid", left=False)


def outer_states(top, bass):
    """(soprano, bass) at every onset of either, each held through rests."""
    times = sorted({n.onset for n in top} | {n.onset for n in bass})

    def at(notes, t):
        p = -1
        for n in sorted(notes, key=lambda n: n.onset):
            if n.onset <= t + 1e-9:
                p = n.pitch
        return p

    return [(at(top, t), at(bass, t)) for t in times]


# --- the kernel ------------------------------------------------------------------


def test_parallel_rule():
    assert is_parallel(72, 60, 74, 62) and is_parallel(67, 60, 69, 62)  # octaves, fifths
    assert is_parallel(72, 48, 74, 38)  # octave to compound octave by contrary motion
    assert not is_parallel(72, 60, 72, 62) and not is_parallel(72, 60, 76, 64 - 1)
    for args in itertools.product([60, 64, 67], [48, 53, 55], [62, 67], [50, 55, 48]):
        assert is_parallel(*args) == is_parallel_ref(*args)


@pytest.mark.parametrize("root,quality", [(0, 0), (9, 1), (7, 6), (2, 8), (11, 2)])
def test_voice_inner_matches_reference(root, quality):
    w = chord_weights(root, quality)
    lows, highs = np.array([55, 48], np.int64), np.array([74, 67], np.int64)
    for top, bass, prev in [(72, 48, (-1, -1)), (76, 43, (64, 55)), (69, 45, (65, 57)), (62, 40, (60, 52))]:
        out = np.empty(2, np.int64)
        cost = voice_inner(w, top, bass, 74, 47, lows, highs, np.array(prev, np.int64), out)
        ref = voice_inner_ref(w, top, bass, 74, 47, lows, highs, prev)
        assert (cost, int(out[0]), int(out[1])) == ref


# --- arrangements ----------------------------------------------------------------


@pytest.mark.parametrize("ensemble", ENSEMBLES)
def test_melody_on_top_and_every_part_in_range(piano, ensemble):
    arr = arrange(piano, ensemble, progress=None)
    top = arr.parts[FRAME[ensemble][0]]
    assert [(round(n.onset, 6), n.pitch - 12 * arr.octave_shift) for n in top] == \
        [(float(sum(d for _, d in MELODY[:i])), p) for i, (p, _) in enumerate(MELODY)]
    for name in LINEUP[ensemble]:
        inst = INSTRUMENTS[name]
        assert arr.parts[name], name
        if inst.program >= 0:
            assert all(inst.low <= n.pitch <= inst.high for n in arr.parts[name]), name
    if ensemble != "band":  # no part above the melody
        for name in LINEUP[ensemble]:
            if name not in ("flute", FRAME[ensemble][0]):
                for n in arr.parts[name]:
                    over = [m for m in top if m.onset < n.end and m.end > n.onset]
                    assert all(n.pitch < m.pitch for m in over), name


def test_chords_come_from_the_left_hand(piano):
    arr = arrange(piano, "choir", progress=None)
    assert arr.chord_source == "left hand"
    assert [(c[2], c[3]) for c in arr.chords] == [(0, 0), (9, 1), (5, 0), (7, 0), (0, 0)]


@pytest.mark.parametrize("source", ["piano", "tune"])
def test_choir_has_no_parallel_fifths_or_octaves_between_outer_voices(piano, tune, source):
    arr = arrange(piano if source == "piano" else tune, "choir", progress=None)
    if source == "tune":
        assert "model" in arr.chord_source
    states = outer_states(arr.parts["soprano"], arr.parts["bass voice"])
    for (s0, b0), (s1, b1) in zip(states, states[1:], strict=False):
        assert not is_parallel_ref(s0, b0, s1, b1), (s0, b0, s1, b1)
    sat = zip(arr.parts["alto"], arr.parts["tenor"], arr.parts["bass voice"], strict=True)
    assert all(a.pitch > t.pitch > b.pitch for a, t, b in sat)  # no crossing


@pytest.mark.parametrize("ensemble", ENSEMBLES)
def test_one_track_per_instrument_with_its_program_and_channel(piano, tmp_path, ensemble):
    arr = arrange(piano, ensemble, progress=None)
    r = write_outputs(arr, tmp_path / "out", render=False)
    mid = mido.MidiFile(r["mid"])
    tracks = [t for t in mid.tracks[1:]]
    assert [t.name for t in tracks] == list(LINEUP[ensemble])
    chans = set()
    for t, name in zip(tracks, LINEUP[ensemble], strict=True):
        progs = [m.program for m in t if m.type == "program_change"]
        notes = [m for m in t if m.type == "note_on"]
        ch = {m.channel for m in notes}
        assert len(ch) == 1
        chans |= ch
        if INSTRUMENTS[name].program < 0:
            assert ch == {9} and not progs
        else:
            assert progs == [INSTRUMENTS[name].program] and ch != {9}
    assert len(chans) == len(tracks)
    assert (tmp_path / "out.png").stat().st_size > 1000


def test_arrange_command_renders_faster_than_real_time(piano, tmp_path, capsys):
    assert main(["arrange", str(piano), "--ensemble", "strings", "--out", str(tmp_path), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "x real time" in out
    from live.studio.audiofile import read_wav

    a = read_wav(tmp_path / "piano-strings.wav")
    assert a.seconds > 12.0 and np.abs(a.data).max() > 0.01
    assert main(["arrange", str(piano), "--ensemble", "strings", "--out", str(tmp_path)]) == 2  # no --force
    first = (tmp_path / "piano-strings.mid").read_bytes()
    assert main(["arrange", str(piano), "--ensemble", "strings", "--out", str(tmp_path), "--seed", "3",
                 "--force", "--no-audio"]) == 0
    assert (tmp_path / "piano-strings.mid").read_bytes() == first  # reproducible for a seed


def test_not_midi_is_a_clear_error(tmp_path):
    bad = tmp_path / "song.mid"
    bad.write_bytes(b"RIFF....WAVEfmt ")
    with pytest.raises(InputFileError, match="song.mid: not a Standard MIDI File"):
        arrange(bad, "choir", progress=None)
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    assert main(["arrange", str(empty), "--out", str(tmp_path)]) == 2
