"""MIDI clock in, through JACK, from a real clock source: jackd2's transport rolls and
jack_midi_clock (a Debian package) sends MIDI beat clock at 120 bpm to Sideman, whose rig
says 100 bpm. The band must start with the clock's Start, put its beats on every 24th
tick, and stop at the clock's Stop."""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np
import pytest
from test_jack_live import DRUMS, jack_connect, live_jam, write_rig  # noqa: F401 (live_jam: a fixture)

pytestmark = [pytest.mark.jack,
              pytest.mark.skipif(shutil.which("jack_midi_clock") is None or shutil.which("jack_transport") is None,
                                 reason="jack_midi_clock (apt: jack-midi-clock) or jack_transport is missing")]


def transport(env: dict, command: str) -> None:
    subprocess.run(["jack_transport"], input=f"{command}\nquit\n", env=env, text=True, capture_output=True,
                   timeout=10, check=False)


def test_the_band_follows_jack_midi_clock(live_jam, tmp_path):  # noqa: F811 (the fixture imported above)
    rig = write_rig(tmp_path / "clock.yaml", mode="chords", tempo=100)
    # input.clock: true (write_rig owns the input section)
    rig.write_text(rig.read_text().replace("  thru_channel: 1\n", "  thru_channel: 1\n  clock: true\n"))
    jam = live_jam(rig, seconds=40)
    env = jam.env
    transport(env, "stop")
    transport(env, "locate 0")
    clock = subprocess.Popen(["jack_midi_clock", "-b", "120", "-B", "-P"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
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
        clock.terminate()
        clock.wait(timeout=5)
        transport(env, "stop")
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
    # timing is per period: a few ms is the honest bound
    err_ms = np.array([np.abs(drums - b).min() for b in beats[1:-1] if b < stops[0] - 0.05]) * 1000.0
    print(f"band vs jack_midi_clock beats: p50 {np.median(err_ms):.2f} ms, max {err_ms.max():.2f} ms")
    assert np.median(err_ms) < 3.0 and err_ms.max() < 8.0, err_ms.round(2)
    assert drums.max() < stops[0] + 0.05, "the band played on after the clock's Stop"
