"""Tempo kernels: the oscillator follows a drifting musician; tap tempo; numpy parity."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.tempo import (ANCHOR, IGNORED, PERIOD, next_beat, next_beat_ref, tap_tempo, tap_tempo_ref,
                           tempo_state, tempo_update, tempo_update_ref)

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
