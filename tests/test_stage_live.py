"""The stage view and the computer keyboard as a musician meets them: ``sideman jam`` in a
real terminal (a detached tmux session on a private tmux server), live on a real JACK
server (dummy backend). The test reads the screen with ``capture-pane`` and types with
``send-keys``; the take on disk is the proof of what was played.

Every tmux server here has its own socket name and is stopped by that name (and its PID).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
mido = pytest.importorskip("mido")
pytestmark = pytest.mark.jack

_N = [0]


class Tmux:
    """One command in a detached tmux session of 110x40 on a private tmux server.

    The command's exit status is written to ``rc_file``; the pane then stays open (the
    shell sleeps) so the screen after the command can still be read.
    """

    def __init__(self, tmp: Path, env: dict, argv: list[str], width: int = 110, height: int = 40) -> None:
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed (apt-get install tmux)")
        _N[0] += 1
        self.sock = f"sideman-test-{os.getpid()}-{_N[0]}"
        self.rc_file = tmp / f"rc{_N[0]}"
        keep = ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION", "PYTHONPATH", "PATH", "HOME", "TMPDIR",
                "NUMBA_CACHE_DIR")
        exports = "".join(f"export {k}={shlex.quote(env[k])}\n" for k in keep if k in env)
        script = tmp / f"run{_N[0]}.sh"
        script.write_text("#!/bin/bash\n" + exports + "export PYTHONUNBUFFERED=1\n"
                          f"cd {shlex.quote(str(REPO))}\n{shlex.join(argv)}\n"
                          f"echo $? > {shlex.quote(str(self.rc_file))}\nsleep 600\n")
        script.chmod(0o755)
        self.env = env
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "jam", "-x", str(width), "-y", str(height),
                   str(script))
        pid, self.socket_path = self._tmux("display-message", "-p", "-t", "jam", "#{pid} #{socket_path}").split()
        self.server_pid = int(pid)

    def _tmux(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-L", self.sock, *args], env=self.env, capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 0, f"tmux {' '.join(args)}: {r.stderr}"
        return r.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "jam")

    def keys(self, *keys: str) -> None:
        for k in keys:
            self._tmux("send-keys", "-t", "jam", "-l", k)

    def wait_screen(self, pred, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            s = self.screen()
            if pred(s):
                return s
            if self.rc_file.exists():
                raise AssertionError(f"sideman exited ({self.rc_file.read_text().strip()}) while waiting for "
                                     f"{what}:\n{s}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{s}")
            time.sleep(0.2)

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while not self.rc_file.exists() or not self.rc_file.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"sideman did not exit within {timeout} s:\n{self.screen()}")
            time.sleep(0.2)
        return int(self.rc_file.read_text())

    def close(self) -> None:
        """Stop this tmux server (and the jam in it, if still running) by its socket name and PID."""
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], env=self.env, capture_output=True, timeout=10)
        deadline = time.monotonic() + 3
        while _alive(self.server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(self.server_pid):
            os.kill(self.server_pid, signal.SIGKILL)
        Path(self.socket_path).unlink(missing_ok=True)  # tmux leaves its socket file behind


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def jam_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "live.cli", "jam", "--audio", "jack", "--force", *args]


def write_rig(path: Path, mode: str) -> Path:
    path.write_text(f"name: stagetest\nmode: {mode}\nstyle: pop\ntempo: 120\nmeter: 4\ninput:\n  split: 60\n")
    return path


def chords_file(path: Path) -> Path:
    """Am, F, G, C, a bar each at 120 bpm, twice (16 s)."""
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120)))
    for tones in [(45, 48, 52), (41, 45, 48), (43, 47, 50), (48, 52, 55)] * 2:
        for n in tones:
            tr.append(mido.Message("note_on", note=n, velocity=90, time=0))
        for i, n in enumerate(tones):
            tr.append(mido.Message("note_off", note=n, velocity=0, time=1910 if i == 0 else 0))
        tr.append(mido.MetaMessage("marker", text="", time=10))
    mid.save(path)
    return path


def musician_notes(mid_path: Path) -> list[tuple[float, str, int, int]]:
    """(seconds, on/off, note, velocity) of the musician's track, in order."""
    mid = mido.MidiFile(mid_path)
    tempo = next((m.tempo for m in mid.tracks[0] if m.type == "set_tempo"), 500000)
    for tr in mid.tracks:
        if next((m.name for m in tr if m.type == "track_name"), "") != "musician":
            continue
        out, tick = [], 0
        for m in tr:
            tick += m.time
            if m.type in ("note_on", "note_off"):
                on = m.type == "note_on" and m.velocity > 0
                out.append((mido.tick2second(tick, mid.ticks_per_beat, tempo), "on" if on else "off", m.note,
                            m.velocity))
        return out
    raise AssertionError(f"{mid_path}: no musician track")


@pytest.fixture
def tmux_jam(jack_server, tmp_path):
    env = dict(jack_server["env"], PYTHONPATH=str(REPO))
    started: list[Tmux] = []

    def start(argv: list[str]) -> Tmux:
        t = Tmux(tmp_path, env, argv)
        started.append(t)
        return t

    yield start
    for t in started:
        t.close()


def test_stage_view_shows_the_band_and_q_ends_the_take(tmux_jam, tmp_path):
    from live.bigfont import big

    out = tmp_path / "take"
    rig = write_rig(tmp_path / "rig.yaml", "chords")
    song = chords_file(tmp_path / "chords.mid")
    t = tmux_jam(jam_argv("--rig", str(rig), "--input", str(song), "--out", str(out), "--seconds", "60"))
    screen = t.wait_screen(lambda s: "Sideman · stagetest" in s and "NOW  Am" in s, 40, "the view with Am")
    for want in ("Tempo 120 bpm", "Style pop", "Mode chords", "Section Main A", "jack 48000 Hz / 64 fr = 1.33 ms",
                 "callback p99", "xruns", "late events", "MIDI in ●", "bass", "drums", "q quit the take"):
        assert want in screen, f"{want!r} not on the screen:\n{screen}"
    art = big("Am")
    rows = screen.splitlines()
    assert any(all(a.rstrip() in rows[i + k] for k, a in enumerate(art)) for i in range(len(rows) - 5)), \
        f"no big Am on the screen:\n{screen}"
    seen = set()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and len(seen) < 3:
        for line in t.screen().splitlines():
            if "NOW  " in line:
                seen.add(line.split("NOW  ")[1].split()[0])
        time.sleep(0.2)
    assert {"F", "G", "C"} & seen, f"the chord never moved on from Am: {seen}"
    t.keys("f")
    t.wait_screen(lambda s: "Section Fill" in s, 6, "the fill")
    t.keys("q")
    assert t.wait_exit(30) == 0, t.screen()
    screen = t.screen()
    for name in ("jam.wav", "jam.mid", "jam.png", "jam.take.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
        assert f"wrote {out / name}" in screen.replace("\n", ""), screen
    assert "Sideman · stagetest" not in screen, "the view gives the screen back when the take ends"
    played = mido.MidiFile(out / "jam.mid").length
    assert 4 < played < 16, f"q should end the take mid-song, it lasted {played:.1f} s"
    r = subprocess.run([sys.executable, "-m", "live.cli", "takes", "--folder", str(tmp_path)], cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stdout + r.stderr
    assert "pop" in r.stdout and "stagetest" in r.stdout and str(out / "jam.png") in r.stdout


def test_computer_keyboard_plays_real_notes(tmux_jam, tmp_path):
    from live.keyboard import HOLD_S, VELOCITIES

    out = tmp_path / "keys"
    rig = write_rig(tmp_path / "rig.yaml", "lead")
    t = tmux_jam(jam_argv("--keys", "--rig", str(rig), "--out", str(out), "--seconds", "60"))
    t.wait_screen(lambda s: "computer keys C4..E5" in s and "waiting for your first note" in s, 40, "the --keys view")
    for k in ("a", "d", "g"):  # C4 E4 G4, each ended by its hold time
        t.keys(k)
        time.sleep(0.7)
    t.keys("x")  # an octave up: a = C5
    t.keys("a")
    time.sleep(0.7)
    t.keys("c", "c", "z", "s")  # softer, back down: D4
    t.wait_screen(lambda s: "D4 (62)" in s and "velocity 72" in s, 5, "the last key on the view")
    time.sleep(0.7)
    t.wait_screen(lambda s: "playing" in s, 5, "the band, started by the first key")
    t.keys("q")
    assert t.wait_exit(30) == 0, t.screen()
    notes = musician_notes(out / "jam.mid")
    ons = [(n, v) for _, kind, n, v in notes if kind == "on"]
    assert ons == [(60, 100), (64, 100), (67, 100), (72, 100), (62, VELOCITIES[3])], notes
    for i, (t_on, kind, n, _) in enumerate(notes):
        if kind != "on":
            continue
        offs = [t_off for t_off, k2, n2, _ in notes[i + 1:] if k2 == "off" and n2 == n]
        assert offs, f"note {n} has no note-off"
        held = offs[0] - t_on
        assert HOLD_S - 0.1 < held < HOLD_S + 0.3, f"note {n} held {held:.3f} s, expected about {HOLD_S} s"
