"""The show goes on (issue 7), through a real JACK server: Sideman is killed, its
controller is unplugged and comes back, a controller floods it, and its audio server
dies. Sideman runs as ``sideman jam`` in a subprocess (test_jack_live's ``live_jam``)
and is watched only from outside: jack_midi_dump on its band port, its files on disk.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import mido
import numpy as np
import pytest
from test_jack_live import (DRUMS, PERIOD, SR, THRU, Controller, _wait, hanging_notes, heard_events,  # noqa: F401
                            jack_diagnosis, jack_lsp, jackd_log_size, live_jam, midi_file_events, read_wav,
                            sideman_xruns, write_rig)

pytestmark = pytest.mark.jack


def _musician_notes(path) -> list[tuple[int, int]]:
    """(note, velocity) of the musician's note-ons in a take (its first named track)."""
    mid = mido.MidiFile(path)
    for tr in mid.tracks:
        if any(m.type == "track_name" and m.name == "musician" for m in tr):
            return [(m.note, m.velocity) for m in tr if m.type == "note_on" and m.velocity > 0]
    raise AssertionError(f"{path}: no musician track")


# -- 1. kill -9: the take survives ------------------------------------------------------

def test_kill_9_loses_at_most_the_last_second(live_jam, tmp_path):  # noqa: F811 (a fixture)
    from live.session import recover_crashed_take

    rig = write_rig(tmp_path / "crash.yaml", mode="chords", tempo=120)
    jam = live_jam(rig, seconds=60)
    jam.ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90])  # a held chord: open at the kill
    sent: list[tuple[float, int, int]] = []  # (monotonic, note, velocity)
    t_end = time.monotonic() + 4.0
    i = 0
    while time.monotonic() < t_end:
        note, vel = 60 + (i * 5) % 24, 40 + i % 80
        jam.ctl.send([0x90, note, vel])
        sent.append((time.monotonic(), note, vel))
        time.sleep(0.1)
        jam.ctl.send([0x80, note, 0])
        time.sleep(0.05)
        i += 1
    jam.ctl.send([0x90, 84, 127])  # held at the kill
    sent.append((time.monotonic(), 84, 127))
    time.sleep(0.05)
    t_kill = time.monotonic()
    jam.proc.send_signal(signal.SIGKILL)
    jam.proc.wait(timeout=10)
    journal = jam.out / "jam.journal"
    assert journal.is_file(), f"no journal after kill -9: {sorted(p.name for p in jam.out.iterdir())}"
    assert not (jam.out / "jam.mid").exists()
    lines: list[str] = []
    mid = recover_crashed_take(jam.out, progress=lines.append)
    assert mid is not None and mid.is_file(), lines
    assert "recovered" in lines[0] and not journal.exists(), lines
    print(lines[0])
    got = _musician_notes(mid)
    due = [(n, v) for t, n, v in sent if t <= t_kill - 1.0]
    # every note played up to 1 s before the kill, in order, with its velocity
    assert got[3:3 + len(due)] == due, (len(got), len(due), got[:8], due[:8])
    late = [(n, v) for t, n, v in sent if t > t_kill - 1.0]
    lost = len(due) + len(late) - (len(got) - 3)
    print(f"recovered {len(got)} musician notes of {len(sent) + 3} played; lost in the last second: {lost}")
    ev = midi_file_events(mid)
    assert sum(1 for k, c, n, v in ev if k == 0x90 and v > 0 and c != THRU) >= 5, "the band is missing"
    assert not hanging_notes(ev), f"notes left open in the recovered take: {hanging_notes(ev)}"
    wav = mid.with_suffix(".wav")
    x, sr = read_wav(wav)  # the header was repaired: a plain WAV reader opens it
    assert x.shape[0] > 4 * sr and np.abs(x).max() > 0.01, x.shape


# -- 2. the controller is unplugged and comes back ----------------------------------------

def test_controller_lost_and_back(live_jam, tmp_path):  # noqa: F811 (a fixture)
    rig = write_rig(tmp_path / "unplug.yaml", mode="chords", tempo=120)
    jam = live_jam(rig, seconds=60)
    jam.ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90], [0x90, 72, 100])  # held when it goes
    time.sleep(1.5)
    name = jam.ctl.name
    mark = jackd_log_size(jam.server)
    # cleared before the unplug, not after: the supervisor may look (every 0.2 s) while close()
    # runs, and note-offs heard before a clear would read as notes left sounding
    jam.listener.clear()
    jam.ctl.close()  # unplugged, with four notes down
    t_gone = time.monotonic()

    def thru_hanging(heard):
        return [(c, n) for c, n in hanging_notes([(0x90, THRU, n, 90) for n in (48, 52, 55, 72)]
                                                 + heard_events(heard)) if c == THRU]

    # the notes held on the lost controller end on the thru channel (the supervisor looks
    # every 0.2 s: within 2 s on a quiet machine, 4 s allowed on a loaded one); the band plays on
    time.sleep(2.0)
    while thru_hanging(jam.listener.snapshot()) and time.monotonic() < t_gone + 4.0:
        time.sleep(0.1)
    gone = jam.listener.snapshot()
    released = time.monotonic() - t_gone
    why = f"\n{jack_diagnosis(jam.server, mark, jam.env)}\n{jam.stdout()}"
    hang = thru_hanging(gone)
    assert not hang, f"notes of the lost controller left sounding {released:.1f} s after it went: {hang}{why}"
    band = [h.t for h in gone if h.is_on and h.ch != THRU]
    assert len(band) >= 8, f"the band stopped when the controller went: {len(band)} notes in {released:.1f} s{why}"
    # its beats are 0.5 s apart; each cycle Sideman's client missed (jackd's log) may put
    # what follows a period later, and a closing JACK client is a graph change
    late = sideman_xruns(jam.server, mark)
    gap = float(np.diff(band).max())
    assert gap < 0.6 + late * PERIOD / SR, f"a {gap:.2f} s gap in the band while the controller was gone ({late} " \
        f"late cycles){why}"
    # back: a fresh port with the same name; a note played reaches Sideman's thru within 1 s
    ctl = Controller(name)
    jam.ctl = ctl  # the fixture closes it
    t_back = time.monotonic()
    jam.listener.clear()
    heard_at = None
    while time.monotonic() < t_back + 5.0:
        ctl.send([0x90, 90, 64], [0x80, 90, 0])
        time.sleep(0.02)
        if any(h.is_on and h.ch == THRU and h.msg[1] == 90 for h in jam.listener.snapshot()):
            heard_at = time.monotonic()
            break
    assert heard_at is not None, f"Sideman did not listen again within 5 s\n{jam.stdout()}"
    reconnect = heard_at - t_back
    print(f"controller gone at +0 s, back at +{t_back - t_gone:.2f} s; a note reached thru {reconnect:.3f} s "
          f"after the port returned")
    assert reconnect < 1.0, f"reconnected after {reconnect:.2f} s"
    assert "went away" in jam.stdout() and "is back" in jam.stdout(), jam.stdout()
    jam.ctl.send([0xB0, 20, 127])
    assert jam.wait_exit(20) == 0, jam.stderr()
    assert not hanging_notes(midi_file_events(jam.out / "jam.mid"))


# -- 4. a flood from the controller --------------------------------------------------------

def test_burst_of_10000_events_a_second(live_jam, tmp_path):  # noqa: F811 (a fixture)
    rig = write_rig(tmp_path / "burst.yaml", mode="chords", tempo=120)
    jam = live_jam(rig, seconds=60)
    jam.ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90])  # the band plays under the flood
    time.sleep(1.0)
    rate, seconds, slice_s = 10_000, 10.0, 0.01
    per_slice = int(rate * slice_s)
    sent = bad = 0
    t0 = time.monotonic()
    for i in range(int(seconds / slice_s)):
        for j in range(per_slice // 2):
            k = i * per_slice + j
            if k % 10 == 0:  # one in ten is broken: counted, not played
                jam.ctl.send([0x90, 200, 10], [0x80, 61])
                bad += 2
            else:
                note = 62 + k % 24
                jam.ctl.send([0x90, note, 80], [0x80, note, 0])
            sent += 2
        while time.monotonic() < t0 + (i + 1) * slice_s:
            time.sleep(0.0005)
    wall = time.monotonic() - t0
    time.sleep(0.5)
    assert jam.proc.poll() is None, "Sideman died in the flood"
    heard = jam.listener.snapshot()
    jam.ctl.send([0x80, 48, 0], [0x80, 52, 0], [0x80, 55, 0], [0xB0, 20, 127])
    # on a loaded box the flood's backlog can still fill a queue when the stop is sent
    # (both python-rtmidi's and JACK's drop silently when full): press it again, as a
    # musician would, until Sideman stops
    for _ in range(10):
        try:
            jam.proc.wait(timeout=3)
            break
        except subprocess.TimeoutExpired:
            jam.ctl.send([0xB0, 20, 127])
    assert jam.wait_exit(30) == 0, jam.stderr()
    out = jam.stdout()
    dropped = int(re.search(r"input dropped (\d+)", out).group(1))
    played = float(re.search(r"played ([\d.]+) s", out).group(1))
    band = np.array([h.t for h in heard if h.is_on and h.ch == DRUMS])
    during = band[(band > band.max() - seconds)]
    thru = sum(1 for h in heard if h.is_on and h.ch == THRU)
    print(f"flood: {sent} messages in {wall:.1f} s ({sent / wall:.0f}/s), {bad} broken; Sideman dropped {dropped}, "
          f"echoed {thru} of {(sent - bad) // 2} notes; drum hits during it {len(during)}, largest gap "
          f"{np.diff(during).max() * 1000:.0f} ms; played {played:.1f} s; Sideman xruns "
          f"{sideman_xruns(jam.server, jam.xrun_mark)}")
    # every broken message Sideman receives is counted; under the flood a few may be lost
    # before it sees them (python-rtmidi's input queue drops silently when full)
    assert bad * 0.95 <= dropped <= bad, (dropped, bad)
    assert np.diff(during).max() < 0.6, "the band stopped in the flood"
    assert played > seconds, "Sideman's clock did not keep up with the wall clock"
    # Echoes can be lost outside Sideman's counters under a flood (python-rtmidi's input
    # queue and the MIDI-out ring buffer drop silently when full): measured 98.6-99.97%
    # on the 2-core VM; a real regression (input stalled, thru broken) loses far more.
    assert thru >= (sent - bad) // 2 * 0.95, (thru, (sent - bad) // 2)
    assert not hanging_notes(heard_events(jam.listener.snapshot()))
    assert not hanging_notes(midi_file_events(jam.out / "jam.mid"))


# -- 5. the audio server dies ------------------------------------------------------------

@pytest.fixture
def private_jack(tmp_path):
    """A JACK server of this test's own (killing the session's would end the other tests)."""
    import os
    import shutil

    from conftest import PERIOD, SR, _jack_up

    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed")
    name = f"sideman-kill-{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    procs = []

    def start():
        log = tmp_path / "private-jackd.log"
        with open(log, "a") as f:
            p = subprocess.Popen(["jackd", "-R" if os.geteuid() == 0 else "--no-realtime", "-n", name, "-d", "dummy",
                                  "-r", str(SR), "-p", str(PERIOD)], env=env, stdout=f, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        procs.append(p)
        try:
            _wait(lambda: _jack_up(env), 30, "the private jackd")
        except AssertionError as exc:  # say why: jackd's own words
            raise AssertionError(f"the private jackd did not start:\n{log.read_text()[-2000:]}") from exc
        return p

    yield env, start
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
    # a killed jackd leaves its semaphores and shared memory behind; left to pile up over
    # many runs they stop later servers from starting on this machine
    from pathlib import Path

    for f in Path("/dev/shm").glob(f"jack*{name}*"):
        f.unlink(missing_ok=True)
    # ... and its entry in JACK's server registry, which holds few servers ("Too many
    # servers already active" after a handful of killed ones): a server started under
    # the same name takes the dead one's entry, and a clean stop gives it back
    p = subprocess.Popen(["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", str(SR), "-p", str(PERIOD)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait(lambda: _jack_up(env), 10, "the private jackd, restarted to unregister")
    except AssertionError:
        pass
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_audio_server_killed(private_jack, tmp_path):
    import os
    import sys

    from test_jack_live import REPO

    env, start = private_jack
    jackd = start()
    env = dict(env, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    out, log = tmp_path / "take", tmp_path / "sideman.out"
    with open(log, "w") as fo:
        proc = subprocess.Popen([sys.executable, "-m", "live.cli", "jam", "--audio", "jack", "--input", "demo",
                                 "--out", str(out), "--force", "--seconds", "60", "--no-view"], cwd=REPO, env=env,
                                stdout=fo, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: "sideman jam:" in log.read_text(), 60, "Sideman's clock", proc)
        time.sleep(4.0)
        os.kill(jackd.pid, signal.SIGKILL)
        t_kill = time.monotonic()
        rc = proc.wait(timeout=20)
        took = time.monotonic() - t_kill
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    print(f"jackd killed: Sideman noticed, saved and exited {took:.2f} s later (rc {rc})\n{text[-800:]}")
    assert "audio server" in text, text
    assert took < 2.0 + 1.5, took  # 2 s to notice and save; the piano roll is skipped
    ev = midi_file_events(out / "jam.mid")
    assert sum(1 for k, c, n, v in ev if k == 0x90 and v > 0) > 10 and not hanging_notes(ev)
    x, sr = read_wav(out / "jam.wav")
    assert x.shape[0] > 3 * sr, x.shape
    assert not (out / "jam.journal").exists()


def test_audio_server_restarted_sideman_resumes(private_jack, tmp_path):
    """jackd is killed mid-take and started again: the take so far is saved and playable,
    Sideman waits for the server, comes back as the take's next part (jam-2.*), connects
    the controller again when it reappears and the band answers it."""
    import os
    import sys

    from test_jack_live import REPO, BandListener

    env, start = private_jack
    jackd = start()
    env = dict(env, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    old_server = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = env["JACK_DEFAULT_SERVER"]  # this process's own clients too
    rig = write_rig(tmp_path / "resume.yaml", mode="chords", tempo=120)
    name = f"ctlresume{os.getpid()}"
    out, log = tmp_path / "take", tmp_path / "sideman.out"
    ctl = Controller(name)
    listener = None
    with open(log, "w") as fo:
        proc = subprocess.Popen([sys.executable, "-m", "live.cli", "jam", "--audio", "jack", "--rig", str(rig),
                                 "--midi-in", name, "--out", str(out), "--force", "--seconds", "60",
                                 "--reconnect", "30", "--no-view"], cwd=REPO, env=env,
                                stdout=fo, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: "sideman jam:" in log.read_text(), 60, "Sideman's clock", proc, poll=0.1)
        _wait(lambda: "sideman" in jack_lsp(env, "-c", f"{name}:keys"), 20, "Sideman to connect", proc, poll=0.2)
        ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90])  # C major, held: the band starts
        time.sleep(3.0)
        os.kill(jackd.pid, signal.SIGKILL)
        jackd.wait()
        ctl.close()  # its client died with the server
        _wait(lambda: "waiting up to" in log.read_text(), 20, "Sideman to save and wait", proc, poll=0.1)
        # the first part is on disk and playable while Sideman waits
        ev = midi_file_events(out / "jam.mid")
        assert sum(1 for k, c, n, v in ev if k == 0x90 and v > 0 and c != THRU) >= 4, ev
        assert not hanging_notes(ev)
        x, sr = read_wav(out / "jam.wav")
        assert x.shape[0] > 2 * sr, x.shape

        time.sleep(1.0)
        jackd = start()  # returns once jack_lsp answers
        t_up = time.monotonic()
        _wait(lambda: log.read_text().count("sideman jam:") >= 2, 30, "Sideman to resume", proc, poll=0.02)
        resumed = time.monotonic() - t_up
        ctl = Controller(name)  # the keyboard is back too
        _wait(lambda: "sideman" in jack_lsp(env, "-c", f"{name}:keys"), 10, "Sideman to reconnect the controller",
              proc, poll=0.2)
        band_port = _wait(lambda: next((p for p in jack_lsp(env).split() if p.startswith("sideman")
                                        and p.endswith(":band")), None), 10, "the band port", proc, poll=0.2)
        listener = BandListener(f"lisresume{os.getpid()}", env)
        subprocess.run(["jack_connect", band_port, f"{listener.name}:input"], env=env, check=True, timeout=10)
        time.sleep(0.3)
        ctl.send([0x90, 50, 90], [0x90, 53, 90], [0x90, 57, 90])  # D minor: the band comes in again
        _wait(lambda: sum(1 for h in listener.snapshot() if h.is_on and h.ch != THRU) >= 4, 10,
              "the resumed band to play", proc, poll=0.1)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if listener is not None:
            listener.close()
        ctl.close()
        if old_server is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old_server
    text = log.read_text()
    print(f"jackd back -> Sideman's clock running again in {resumed:.2f} s\n{text[-1500:]}")
    assert rc == 0, text
    assert resumed < 10.0, resumed  # measured (README); generous here for a loaded CI box
    ev2 = midi_file_events(out / "jam-2.mid")
    assert sum(1 for k, c, n, v in ev2 if k == 0x90 and v > 0 and c != THRU) >= 4, ev2
    assert not hanging_notes(ev2)
    assert midi_file_events(out / "jam.mid") == ev, "the first part was changed by the second"
    x2, _ = read_wav(out / "jam-2.wav")
    assert x2.shape[0] > sr // 2
