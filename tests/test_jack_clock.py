"""MIDI clock in, through JACK, from a real clock source: jackd2's transport rolls and
jack_midi_clock (a Debian package) sends MIDI beat clock at 120 bpm to Sideman, whose rig
says 100 bpm. The band must start with the clock's Start, put its beats on every 24th
tick, and stop at the clock's Stop; jack_transport's stop/play/locate make
jack_midi_clock send Stop, Continue (rolling on from where it stopped) and Start (from 0)."""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np
import pytest
from test_jack_live import (DRUMS, PERIOD, SR, THRU, hanging_notes, heard_events,  # noqa: F401 (live_jam: a fixture)
                            jack_connect, live_jam, sideman_xruns, write_rig)

pytestmark = [pytest.mark.jack,
              pytest.mark.skipif(shutil.which("jack_midi_clock") is None or shutil.which("jack_transport") is None,
                                 reason="jack_midi_clock (apt: jack-midi-clock) or jack_transport is missing")]


def transport(env: dict, command: str) -> None:
    subprocess.run(["jack_transport"], input=f"{command}\nquit\n", env=env, text=True, capture_output=True,
                   timeout=10, check=False)


def clock_jam(live_jam, tmp_path):  # noqa: F811 (the fixture imported above)
    """Sideman following MIDI clock (input.clock) and jack_midi_clock wired into its input
    and the listener, the transport stopped at 0. Returns (jam, the clock's process)."""
    rig = write_rig(tmp_path / "clock.yaml", mode="chords", tempo=100)
    # input.clock: true (write_rig owns the input section)
    rig.write_text(rig.read_text().replace("  thru_channel: 1\n", "  thru_channel: 1\n  clock: true\n"))
    jam = live_jam(rig, seconds=40)
    env = jam.env
    transport(env, "stop")
    transport(env, "locate 0")
    # -P: no Song Position; Start when the transport rolls from 0, Continue from elsewhere
    clock = subprocess.Popen(["jack_midi_clock", "-b", "120", "-B", "-P"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    jam.extra.append(clock)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ports = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True).stdout
        if "jack_midi_clock:mclk_out" in ports:
            break
        time.sleep(0.1)
    # into the same Sideman input the controller plays into
    lines = subprocess.run(["jack_lsp", "-c", f"{jam.ctl.name}:keys"], env=env, capture_output=True,
                           text=True).stdout.splitlines()
    sideman_in = [ln.strip() for ln in lines[1:] if ln.startswith((" ", "\t")) and "sideman" in ln]
    assert sideman_in, lines
    jack_connect(env, "jack_midi_clock:mclk_out", sideman_in[0])
    jack_connect(env, "jack_midi_clock:mclk_out", f"{jam.listener.name}:input")  # hear the ticks too
    return jam, clock


def stop_clock(jam, clock) -> None:
    if clock.poll() is None:
        clock.terminate()
        clock.wait(timeout=5)
    transport(jam.env, "stop")


def test_the_band_follows_jack_midi_clock(live_jam, tmp_path):  # noqa: F811 (the fixture imported above)
    jam, clock = clock_jam(live_jam, tmp_path)
    env = jam.env
    try:
        jam.ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90])  # a chord: the band waits for Start
        time.sleep(1.0)
        assert not [h for h in jam.listener.snapshot() if h.is_on and h.ch == DRUMS], \
            "the band started before the clock's Start"
        transport(env, "play")
        time.sleep(4.0)
        transport(env, "stop")
        time.sleep(1.0)
        heard = jam.listener.snapshot()
    finally:
        stop_clock(jam, clock)
    jam.ctl.send([0xB0, 20, 127])
    assert jam.wait_exit(20) == 0, jam.stderr()
    ticks = np.array([h.t for h in heard if h.msg == [0xF8]])
    starts = [h.t for h in heard if h.msg[0] in (0xFA, 0xFB)]
    stops = [h.t for h in heard if h.msg == [0xFC]]
    assert len(ticks) > 48 and starts and stops, (len(ticks), starts, stops)
    beats = ticks[ticks >= starts[0]][::24]
    drums = np.array([h.t for h in heard if h.is_on and h.ch == DRUMS])
    assert len(drums) > 8, jam.stdout()
    assert abs(drums.min() - beats[0]) < 0.03, (drums.min(), beats[0])
    # the clock's ticks arrive block-quantized (64 frames) and jack_midi_clock's own
    # timing is per period: a few ms is the honest bound (p50 0 ms and a max of 8.0-8.5 ms,
    # six periods, seen on a slow 2-vCPU VM). Sideman's clock counts its own blocks, so every
    # cycle its client misses puts the band a period behind until the clock re-anchors it:
    # on that VM a take with many late cycles read p50 8 ms, max 12.3 ms; a period per late
    # cycle is allowed for (the Start/Stop checks catch a band that ignores the clock)
    xruns = sideman_xruns(jam.server, jam.xrun_mark)
    slack = xruns * PERIOD / SR * 1000.0
    err_ms = np.array([np.abs(drums - b).min() for b in beats[1:-1] if b < stops[0] - 0.05]) * 1000.0
    print(f"band vs jack_midi_clock beats: p50 {np.median(err_ms):.2f} ms, max {err_ms.max():.2f} ms, "
          f"{xruns} sideman xruns")
    assert np.median(err_ms) < 3.0 + slack and err_ms.max() < 12.0 + slack, (err_ms.round(2), xruns)
    assert drums.max() < stops[0] + 0.05, "the band played on after the clock's Stop"


def test_the_band_follows_jack_transport_stop_continue_and_start_again(live_jam, tmp_path):  # noqa: F811
    """jackd2's transport rolls, stops, rolls on (jack_midi_clock: Continue), stops, goes back
    to 0 and rolls (Start). The band ends its notes at each Stop and is silent while stopped,
    resumes in its place in the bar on Continue (its drums on the song's 16th grid, counted
    in ticks from the Start), and comes in on bar 1 again with the second Start."""
    jam, clock = clock_jam(live_jam, tmp_path)
    env = jam.env
    try:
        jam.ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90])  # a chord, held all along
        time.sleep(0.5)
        for command, seconds in (("play", 2.2), ("stop", 1.0), ("play", 2.2), ("stop", 0.3), ("locate 0", 0.7),
                                 ("play", 2.2), ("stop", 1.0)):
            transport(env, command)
            time.sleep(seconds)
        heard = jam.listener.snapshot()
    finally:
        stop_clock(jam, clock)
    jam.ctl.send([0xB0, 20, 127])
    assert jam.wait_exit(20) == 0, jam.stderr()
    rt = [h for h in heard if h.msg[0] in (0xF8, 0xFA, 0xFB, 0xFC)]
    kinds = [h.msg[0] for h in rt if h.msg[0] != 0xF8]
    assert kinds == [0xFA, 0xFC, 0xFB, 0xFC, 0xFA, 0xFC], [hex(k) for k in kinds]
    # song position of each tick: ticks counted from the last Start (a Continue goes on counting)
    pos, runs, cur = [], [], None
    n = 0
    for h in rt:
        if h.msg[0] == 0xFA:
            n, cur = 0, [h.msg[0], None, None]
        elif h.msg[0] == 0xFB:
            cur = [h.msg[0], None, None]
        elif h.msg[0] == 0xFC:
            cur[2] = h.t
            runs.append(cur)
        elif h.msg[0] == 0xF8:
            if cur[1] is None:
                cur[1] = h.t
            pos.append((h.t, n))
            n += 1
    tick_t = np.array([t for t, _ in pos])
    tick_pos = np.array([p for _, p in pos])
    band = [h for h in heard if h.ch != THRU and (h.is_on or h.is_off)]
    drums = [h for h in heard if h.is_on and h.ch == DRUMS]
    gaps = [(runs[i][2], runs[i + 1][1]) for i in range(len(runs) - 1)] + [(runs[-1][2], 1e9)]
    for stop, go in gaps:
        late_on = [round(h.t - stop, 3) for h in band if h.is_on and stop + 0.04 < h.t < go - 0.005]
        assert not late_on, f"band notes started while the clock was stopped (s after Stop): {late_on}"
    hang = hanging_notes(heard_events([h for h in heard if h.ch != THRU]))
    assert not hang, f"notes left hanging: {[(c + 1, n) for c, n in hang]}"
    # every band note sounding at a Stop ends with it (a few periods: Sideman hears the Stop
    # in the block after it left jack_midi_clock and answers in the next)
    sounding = {}
    for h in band:
        key = (h.ch, h.msg[1])
        if h.is_on:
            sounding[key] = h.t
        elif key in sounding:
            on = sounding.pop(key)
            for stop, _ in gaps:
                assert not (on < stop and h.t > stop + 0.01), \
                    f"channel {h.ch + 1} note {h.msg[1]} ended {h.t - stop:.3f} s after the Stop"
    xruns = sideman_xruns(jam.server, jam.xrun_mark)
    tol_ms = 8.0 + xruns * PERIOD * 1000.0 / SR
    kicks_in_bar: list[set[int]] = []
    for i, (kind, first, stop) in enumerate(runs):
        hits = [h for h in drums if first - 0.005 <= h.t < stop]
        assert hits, f"no drums in run {i + 1}"
        # each hit against its 16th on the song's grid (6 ticks, counted from the Start): the
        # tick heard there (a cycle JACK missed delays the clock and the band alike), or, for a
        # 16th the band had committed before the transport stopped, where the run's ticks put
        # it: that tick never comes (jack_midi_clock sends none once stopped, and the Stop
        # itself arrives a cycle or more later on a VM that misses periods)
        run = (tick_t >= first - 1e-6) & (tick_t <= stop)
        per_tick, at0 = np.polyfit(tick_pos[run], tick_t[run], 1)
        heard_at = dict(zip(tick_pos[run].tolist(), tick_t[run].tolist(), strict=True))
        pos16 = [int(round((h.t - at0) / per_tick / 6.0)) * 6 for h in hits]
        err_ms = np.array([abs(heard_at.get(p, at0 + per_tick * p) - h.t)
                           for p, h in zip(pos16, hits, strict=True)]) * 1000.0
        first_pos = int(tick_pos[run][0])
        print(f"run {i + 1} ({'Start' if kind == 0xFA else 'Continue'}): {len(hits)} drum hits, first at position "
              f"{pos16[0]} ticks, max {err_ms.max():.2f} ms from the 16th grid ({xruns} sideman xruns)")
        # the hits on a run's first tick go out once Sideman has heard it (a block, a period
        # and the planner's reaction later, as in the test above); the rest are planned
        # ahead on the fitted ticks
        on_first = np.array([p == first_pos for p in pos16])
        assert err_ms[on_first].max(initial=0.0) < 30.0 and err_ms[~on_first].max() < tol_ms, err_ms.round(2)
        kicks_in_bar.append({p % 96 for p, h in zip(pos16, hits, strict=True) if h.msg[1] == 36})
        if kind == 0xFA:  # bar 1: in with the first tick
            assert pos16[0] == 0 and abs(hits[0].t - first) < 0.03, (pos16[0], hits[0].t - first)
        else:  # Continue: in place, not from the top
            assert pos16[0] > 24, pos16[0]
    # the kick keeps its place in the bar across the Continue
    assert kicks_in_bar[1] <= kicks_in_bar[0] | kicks_in_bar[2], kicks_in_bar
