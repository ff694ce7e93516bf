"""Tempo kernels: the oscillator follows a drifting musician; tap tempo; numpy parity.
MIDI clock in through the engine: Start, Stop, Continue and Song Position, any number of times."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.tempo import (ANCHOR, IGNORED, PERIOD, next_beat, next_beat_ref, tap_tempo, tap_tempo_ref,
                           tempo_state, tempo_update, tempo_update_ref)
from live.midifile import Performance

SR = 48000.0


def drifting_performance(bpm0: float, bpm1: float, beats: int, rng, jitter_ms: float = 8.0,
                         ornaments: float = 0.1):
    """(beat frames, onset frames): a tempo ramp from bpm0 to bpm1; notes on beats and
    eighths with human timing jitter, some beats silent, some off-grid grace notes."""
    bpm = np.linspace(bpm0, bpm1, beats)
    beat_frames = np.concatenate([[0.0], np.cumsum(SR * 60.0 / bpm[:-1])])
    onsets = []
    for i in range(beats - 1):
        a, b = beat_frames[i], beat_frames[i + 1]
        if rng.random() < 0.85:
            onsets.append(a)
        if rng.random() < 0.5:
            onsets.append((a + b) / 2)
        if rng.random() < ornaments:
            onsets.append(a + (b - a) * 0.2)  # a grace note: off the grid
    onsets = np.array(onsets) + rng.normal(0.0, jitter_ms * SR / 1000.0, len(onsets))
    return beat_frames, np.sort(onsets)


def follow(beat_frames, onsets, bpm0, alpha=0.25, beta=0.15):
    """Run the tracker; for each true beat, the band's beat predicted just before it
    (from the onsets heard up to 30 ms earlier, as the planner commits)."""
    state = tempo_state(0.0, SR * 60.0 / bpm0)
    j = 0
    errs = []
    for b in beat_frames[1:]:
        while j < len(onsets) and onsets[j] < b - 0.03 * SR:
            tempo_update(state, onsets[j], 2, alpha, beta)
            j += 1
        errs.append(next_beat(state, b - 0.1 * SR * 60.0 / 100) - b)
    return np.array(errs) * 1000.0 / SR, state


def test_the_band_follows_a_musician_drifting_from_100_to_112_bpm():
    rng = np.random.default_rng(1)
    beats, onsets = drifting_performance(100.0, 112.0, 96, rng)
    err_ms, state = follow(beats, onsets, 100.0)
    settled = np.abs(err_ms[8:])  # two bars to lock on
    print(f"beat error after 2 bars: p50 {np.median(settled):.1f} ms, max {settled.max():.1f} ms")
    assert settled.max() < 20.0, settled
    assert abs(SR * 60.0 / state[PERIOD] - 112.0) < 3.0, SR * 60.0 / state[PERIOD]
    assert state[IGNORED] > 0  # the grace notes were not taken for beats


def test_a_band_that_does_not_follow_drifts_away():
    """The same performance against a fixed 100 bpm grid: the test above can fail."""
    rng = np.random.default_rng(1)
    beats, onsets = drifting_performance(100.0, 112.0, 96, rng)
    err_ms, _ = follow(beats, onsets, 100.0, alpha=0.0, beta=0.0)
    assert np.abs(err_ms[8:]).max() > 200.0


def test_steady_tempo_stays_put_under_jitter():
    rng = np.random.default_rng(2)
    beats, onsets = drifting_performance(120.0, 120.0, 64, rng, jitter_ms=10.0)
    err_ms, state = follow(beats, onsets, 120.0)
    assert abs(SR * 60.0 / state[PERIOD] - 120.0) < 2.0
    assert np.abs(err_ms).max() < 20.0


def test_tempo_is_clamped_to_its_range():
    state = tempo_state(0.0, 24000.0, lo=0.9, hi=1.1)
    for i in range(1, 200):  # a musician at twice the tempo, on the eighth grid: accepted, clamped
        tempo_update(state, i * 12000.0 * 0.95, 2, 0.3, 0.3)
    assert 24000.0 * 0.9 - 1e-6 <= state[PERIOD] <= 24000.0 * 1.1 + 1e-6


@pytest.mark.parametrize("seed", range(5))
def test_kernels_match_their_references(seed):
    rng = np.random.default_rng(seed)
    beats, onsets = drifting_performance(90.0, 130.0, 40, rng, jitter_ms=20.0, ornaments=0.3)
    a, b = tempo_state(0.0, SR * 60 / 90.0), tempo_state(0.0, SR * 60 / 90.0)
    for t in onsets:
        ea = tempo_update(a, t, 2, 0.3, 0.2)
        eb = tempo_update_ref(b, t, 2, 0.3, 0.2)
        assert ea == pytest.approx(eb, abs=1e-6)
        np.testing.assert_allclose(a, b, atol=1e-6)
        f = t + rng.uniform(0, 50000)
        assert next_beat(a, f) == pytest.approx(next_beat_ref(b, f), abs=1e-6)
    assert a[ANCHOR] > 0


def test_tap_tempo():
    taps = np.zeros(16)
    t = [0, 1000, 30000, 54000, 78100, 101900, 126000]  # an old tap, a pause, then ~24000 apart
    taps[:len(t)] = t
    got = tap_tempo(taps, len(t), 48000.0)
    assert got == pytest.approx(24000.0, abs=150)
    assert got == tap_tempo_ref(taps, len(t), 48000.0)
    assert tap_tempo(taps, 1, 48000.0) == 0.0
    assert tap_tempo(taps, 3, 10000.0) == 0.0  # the last gap was a pause: one tap in the new run


# -- MIDI clock in: Start, Stop, Continue, Song Position, any number of times ----------------

CLOCK_RIG = ("mode: chords\nstyle: pop\ntempo: 100\naccompanist: rules\nintro: true\n"
             "input: {split: 60, clock: true}\nband: {bass: {}, keys: {}, drums: {}}\n")
TICK = 1000  # frames between MIDI clock ticks at 120 bpm (48000 * 0.5 / 24)
F0 = 14400  # the clock's tick 0 (0.3 s)


def clock_script(n_ticks: int, transport: list[tuple[int, tuple]], chord: bool = True):
    """A clock that ticks all along (as most devices do, stopped or not); each transport
    message (Start, Stop, Continue, Song Position) 300 frames before the tick it names."""
    ev = [(F0 + k * TICK, (0xF8,)) for k in range(n_ticks)]
    ev += [(F0 + k * TICK - 300, msg) for k, msg in transport]
    if chord:  # a C chord held all along: the band has something to play
        ev += [(1000, (0x90, n, 90)) for n in (48, 52, 55)]
    ev.sort(key=lambda e: e[0])
    frames = np.array([f for f, _ in ev], np.float64)
    return Performance("<clock>", frames / SR, [m for _, m in ev], 120.0, 4, 480, frames[-1] / SR + 1)


def run_clock(perf):
    from enginetools import play
    from live.engine import Engine
    from live.rig import load_rig_text

    rig = load_rig_text(CLOCK_RIG, source="<test>")
    eng = Engine(rig, sr=int(SR), block=64, parts=[None] * 3, musician_part=None, seed=1)
    events = play(eng, perf.duration, perf)
    return eng, events


def song_positions(events, runs):
    """{(slot, track, note)} of the band's note-ons in each run (first tick, its song
    position in ticks, the tick of the Stop), in slots (16ths) from the top of the song."""
    out = []
    for first, pos, stop in runs:
        a, b = F0 + first * TICK, F0 + stop * TICK - 300
        got = set()
        for frame, track, status, d1, d2 in events:
            if status == 0x90 and d2 > 0 and track >= 0 and a - 64 <= frame < b:
                ticks = pos + (frame - a) / TICK
                got.add((round(ticks / 6), int(track), int(d1)))
        out.append(got)
    return out


def test_the_band_follows_start_stop_continue_start_and_song_position():
    """Start, Stop mid-bar, Continue (resumes in place, mid-slot), Stop, Start (from the top:
    the intro again), Stop, Song Position to bar 2, Continue. Each run's notes are the ones a
    clock never stopped gives at the same song positions; nothing sounds while stopped."""
    from enginetools import assert_every_note_ends

    runs = [(0, 0, 219), (267, 219, 467), (515, 0, 665), (700, 96, 800)]  # (first tick, position, Stop)
    script = [(0, (0xFA,)), (219, (0xFC,)), (267, (0xFB,)), (467, (0xFC,)), (515, (0xFA,)),
              (665, (0xFC,)), (690, (0xF2, 16, 0)), (700, (0xFB,)), (800, (0xFC,))]
    eng, events = run_clock(clock_script(850, script))
    _, ref_events = run_clock(clock_script(850, [(0, (0xFA,))]))
    ref = song_positions(ref_events, [(0, 0, 850)])[0]
    for (first, pos, stop), got in zip(runs, song_positions(events, runs), strict=True):
        lo, hi = -(-pos // 6), pos + stop - first  # slots played in this run (ticks for hi)
        want = {e for e in ref if lo <= e[0] and e[0] * 6 < hi}
        assert got, f"the band did not play in the run from tick {first}"
        missing, extra = want - got, got - want
        # the last slot before a Stop may be cut by it: only compare what both had time for
        assert not {e for e in missing if e[0] * 6 < hi - 6} and not extra, \
            f"run from tick {first} (position {pos}): missing {sorted(missing)[:6]}, extra {sorted(extra)[:6]}"
        assert min(e[0] for e in got) == lo or pos % 24, "a Start does not come in on bar 1"
    # nothing sounds while the clock is stopped: the engine ends every band note at the Stop
    horizon = 64
    on = {}
    stops = [F0 + s * TICK - 300 for _, _, s in runs]
    goes = [F0 + f * TICK for f, _, _ in runs[1:]] + [10 ** 12]
    for frame, track, status, d1, d2 in events:
        if track < 0:
            continue
        if status == 0x90 and d2 > 0:
            on[(track, d1)] = frame
            stopped = any(s <= frame < g for s, g in zip(stops, goes, strict=True))
            assert not stopped, f"a note-on while the clock was stopped, at frame {frame}"
        elif status in (0x80, 0x90) and (track, d1) in on:
            started = on.pop((track, d1))
            for s in stops:
                assert not (started < s and frame > s + horizon), \
                    f"track {track} note {d1} sounded {(frame - s) / SR * 1000:.0f} ms past the Stop"
    assert_every_note_ends(events)
    # the first tick of a run is heard in the block it falls in: the notes on it go out at the
    # start of the next block (as after the take's first Start), never later
    assert eng.stats.late_max_frames <= 64 and eng.planner.stats.errors == 0
