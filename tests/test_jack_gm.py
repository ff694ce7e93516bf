"""A General MIDI synth as the band's peer, through JACK: fluidsynth (a JACK MIDI in, JACK
audio out) with the TimGM6mb soundfont plays Sideman's band port, as any GM synth or DAW
would. The rig's ``midi_out.port`` connects Sideman to it before the band's clock runs, so
the program changes Sideman sends at start reach the synth.

What is checked, from outside Sideman:
- fluidsynth's own account (``-v`` prints every program change and note-on it applies; its
  shell's ``channels -verbose`` the preset each channel ends on): the bass and keys
  programs of the rig on their channels, the GM drum kit (bank 128) on channel 10, and
  notes played on exactly the rig's channels;
- the band port (jack_midi_dump): each part's notes on its rig channel, and every note-on
  has its own note-off (not only the All Notes Off Sideman sends at the end);
- fluidsynth's audio (jack_rec): sound while the band plays, silence (a decayed tail)
  after the take ends: no note left hanging in the synth.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_jack_live import (BASS, DRUMS, KEYS, THRU, _wait, heard_events, jack_lsp,  # noqa: F401 (live_jam: a fixture)
                            live_jam, read_wav, write_rig)

SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")

pytestmark = [pytest.mark.jack,
              pytest.mark.skipif(shutil.which("fluidsynth") is None,
                                 reason="fluidsynth is not installed (apt-get install fluidsynth)"),
              pytest.mark.skipif(not SOUNDFONT.is_file(),
                                 reason=f"{SOUNDFONT} is missing (apt-get install timgm6mb-soundfont)"),
              pytest.mark.skipif(shutil.which("jack_rec") is None, reason="jack_rec (jackd2) is missing")]


class FluidSynth:
    """fluidsynth as a JACK client (MIDI in, audio out), its shell on a pipe, its verbose
    output collected line by line. Started and ended by PID."""

    def __init__(self, name: str, env: dict) -> None:
        self.name = name
        self.lines: list[str] = []
        self._lock = threading.Lock()
        # no -i: the shell reads the pipe (and keeps fluidsynth running until it closes);
        # audio and MIDI share one JACK client named by midi.jack.id
        self.proc = subprocess.Popen(
            ["fluidsynth", "-v", "-a", "jack", "-m", "jack", "-o", "midi.driver=jack", "-o", f"audio.jack.id={name}",
             "-o", f"midi.jack.id={name}", "-o", "synth.sample-rate=48000", str(SOUNDFONT)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        ports = _wait(lambda: self._ports(env), 20, f"fluidsynth's JACK ports ({name})", self.proc)
        self.midi_in, self.audio = ports

    def _ports(self, env: dict):
        ports = [p.strip() for p in jack_lsp(env).splitlines() if p.strip().startswith(f"{self.name}:")]
        midi = [p for p in ports if "midi" in p.partition(":")[2]]
        audio = sorted(p for p in ports if p not in midi)
        return (midi[0], audio) if midi and len(audio) == 2 else None

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def command(self, cmd: str, expect: str, timeout: float = 5.0) -> list[str]:
        """Send one shell command; the lines printed once ``expect`` appears."""
        mark = len(self.output())
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        _wait(lambda: any(expect in ln for ln in self.output()[mark:]), timeout, f"fluidsynth's answer to {cmd!r}")
        time.sleep(0.2)  # the rest of the answer
        return self.output()[mark:]

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._thread.join(timeout=5)


def strict_hanging(events: list[tuple[int, int, int, int]]) -> list[tuple[int, int]]:
    """(channel, note) whose note-on never got a note-off of its own (All Notes Off not counted)."""
    sounding: dict[tuple[int, int], int] = {}
    for kind, ch, d1, d2 in events:
        if kind == 0x90 and d2 > 0:
            sounding[(ch, d1)] = sounding.get((ch, d1), 0) + 1
        elif (kind == 0x80 or kind == 0x90) and sounding.get((ch, d1), 0) > 0:
            sounding[(ch, d1)] -= 1
    return sorted(k for k, v in sounding.items() if v > 0)


def test_a_gm_synth_plays_the_band_with_the_rigs_programs(live_jam, jack_server, tmp_path):  # noqa: F811
    from live.rig import load_rig

    name = f"gmsynth{os.getpid()}"
    synth = FluidSynth(name, dict(jack_server["env"]))
    try:
        rig_path = write_rig(tmp_path / "gm.yaml", mode="chords", tempo=120, extra=f"midi_out: {{port: {name}}}\n")
        rig = load_rig(rig_path)
        parts = {p.name: p for p in rig.band if p.enabled}  # the default band: bass, keys, drums
        assert parts["bass"].channel - 1 == BASS and parts["keys"].channel - 1 == KEYS
        assert parts["drums"].channel - 1 == DRUMS
        jam = live_jam(rig_path, seconds=40)
        # midi_out.port: a MIDI out of Sideman's own (beside the band port, the same messages)
        wired = jack_lsp(jam.env, "-c", synth.midi_in)
        assert "sideman" in wired, f"midi_out.port did not connect Sideman to fluidsynth:\n{wired}"
        wav = tmp_path / "fluidsynth.wav"
        rec = subprocess.Popen(["jack_rec", "-f", str(wav), "-d", "7", *synth.audio], env=jam.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        jam.extra.append(rec)
        t_rec = time.monotonic()
        time.sleep(0.5)  # silence before the band: the reference floor
        t_play = time.monotonic() - t_rec
        jam.ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90])  # C: the band comes in (sync start)
        time.sleep(3.0)
        jam.ctl.send([0x80, 48, 0], [0x80, 52, 0], [0x80, 55, 0], [0xB0, 20, 127])  # stop: the take ends
        t_stop = time.monotonic() - t_rec
        assert jam.wait_exit(20) == 0, jam.stderr()
        rec.wait(timeout=20)
        state = synth.command("channels -verbose", "chan 15,")
        log = synth.output()
    finally:
        synth.close()

    # 1. the synth applied the rig's programs: its own account of each channel
    preset = {}
    for ln in state:
        m = re.match(r"chan (\d+), sfont \d+, bank (\d+), preset (\d+), (.*)", ln.strip())
        if m:
            preset[int(m.group(1))] = (int(m.group(2)), int(m.group(3)), m.group(4))
    for role in ("bass", "keys"):
        p = parts[role]
        assert preset[p.channel - 1][:2] == (0, p.program - 1), \
            f"{role}: fluidsynth's channel {p.channel} has {preset[p.channel - 1]}, the rig says program {p.program}"
    assert preset[DRUMS][0] == 128, f"channel 10 is not a GM drum kit in fluidsynth: {preset[DRUMS]}"
    # the program changes themselves, as fluidsynth logged them ("prog chan bank program")
    # (a line may follow the shell's "> " prompt)
    prog_line = re.compile(r"fluidsynth: prog\s+(\d+)\s+(\d+)\s+(\d+)")
    progs = [tuple(int(x) for x in m.groups()) for ln in log if (m := prog_line.search(ln))]
    for role in ("bass", "keys"):
        p = parts[role]
        assert (p.channel - 1, 0, p.program - 1) in progs, (role, progs[16:])
    # 2. the notes: fluidsynth played on exactly the rig's channels (and the musician's thru)
    played = {int(m.group(1)) for ln in log if (m := re.search(r"fluidsynth: noteon\s+(\d+)", ln))}
    assert played == {THRU, BASS, KEYS, DRUMS}, f"fluidsynth played channels {sorted(c + 1 for c in played)}"
    heard = jam.listener.snapshot()
    ons = [h for h in heard if h.is_on]
    for ch in (BASS, KEYS, DRUMS):
        assert sum(h.ch == ch for h in ons) >= 3, f"few notes on channel {ch + 1}: {len(ons)} in all"
    hang = strict_hanging(heard_events(heard))
    assert not hang, f"note-ons without their own note-off (channel 1..16, note): {[(c + 1, n) for c, n in hang]}"
    # 3. the sound: silent before, loud while the band plays, decayed after the take ends
    x, sr = read_wav(wav)
    assert x.shape[0] >= 6 * sr, f"jack_rec captured {x.shape[0] / sr:.2f} s"
    mono = np.abs(x).max(axis=1)

    def rms(a: float, b: float) -> float:
        seg = x[int(a * sr):int(b * sr)]
        return math.sqrt(float((seg ** 2).mean()))

    # jack_rec starts within a few tenths of a second of t_rec: windows keep clear of the edges
    before = mono[: int(max(0.0, t_play - 0.3) * sr)].max() if t_play > 0.35 else 0.0
    playing = rms(t_play + 0.5, t_stop - 0.2)
    tail = rms(t_stop + 2.5, x.shape[0] / sr)
    print(f"fluidsynth: peak before {before:.5f}, rms while playing {playing:.4f}, rms 2.5 s after the stop "
          f"{tail:.6f} ({20 * math.log10(max(tail, 1e-9) / playing):.0f} dB)")
    assert before < 1e-3, f"fluidsynth sounded before the band came in ({before:.4f})"
    assert playing > 0.005 and mono.max() < 1.0, (playing, mono.max())
    assert tail < playing * 0.01, f"fluidsynth still sounds 2.5 s after the take ended: a hanging note? " \
                                  f"(rms {tail:.5f} vs {playing:.4f} while playing)"
