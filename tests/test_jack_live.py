"""Integration tests: Sideman live on a real JACK server (dummy backend), played by a real
MIDI controller port, listened to on its real MIDI out and audio out.

Every live test runs ``python -m live.cli jam --audio jack`` as a subprocess, exactly as a
musician would, and talks to it only through JACK: a python-rtmidi "controller" plays it,
jackd2's ``jack_midi_dump`` hears its band port, and a pyo "probe" client (or jack_rec)
records its audio. Timings come from those clients, never from Sideman's own counters.

Timing notes for this machine (2 cores, other jobs may be running):
- jackd runs --no-realtime with 64-frame periods (1.33 ms); with more than one client
  it misses deadlines (xruns) several times a second here. Timing checks use JACK frame
  stamps and allow one period per xrun of a Sideman client, counted from jackd's log.
- Sideman needs 1-3 s to start (numba cache, pyo boot); tests wait for its ports and
  its "sideman jam:" line, never for a fixed time.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SR, PERIOD = 48000, 64

rtmidi = pytest.importorskip("rtmidi")
mido = pytest.importorskip("mido")

# Band channels of the rigs below (0-based, as on the wire): musician thru 1, bass 2,
# keys 3, drums 10.
THRU, BASS, KEYS, DRUMS = 0, 1, 2, 9


# -- helpers ------------------------------------------------------------------------

def _wait(pred, timeout: float, what: str, proc: subprocess.Popen | None = None, poll: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"sideman exited with {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def jack_lsp(env: dict, *args: str) -> str:
    """jack_lsp's listing; "" where it did not answer in 10 s (seen once, with the machine's two
    cores saturated by another job while Sideman started): the caller's own deadline decides."""
    try:
        return subprocess.run(["jack_lsp", *args], env=env, capture_output=True, text=True, timeout=10).stdout
    except subprocess.TimeoutExpired:
        return ""


def sideman_ports(env: dict) -> set[str]:
    return {p.strip() for p in jack_lsp(env).splitlines() if p.strip().startswith("sideman")}


def settle_sideman_ports(env: dict, timeout: float = 5.0) -> set[str]:
    """Wait (briefly) for an earlier Sideman's ports to leave JACK; return any that stay.

    A stale client keeps its name, so the next Sideman's clients get suffixes: ports are
    always found as the ones that are new, never by a fixed name.
    """
    deadline = time.monotonic() + timeout
    while (left := sideman_ports(env)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def new_port(env: dict, before: set[str], port: str) -> str | None:
    for p in sorted(sideman_ports(env) - before):
        if p.partition(":")[2] == port:
            return p
    return None


def jack_connect(env: dict, src: str, dst: str) -> None:
    r = subprocess.run(["jack_connect", src, dst], env=env, capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, f"jack_connect {src} {dst}: {r.stderr}"


def write_rig(path: Path, *, mode: str = "lead", tempo: float = 120, band: str | None = None,
              extra: str = "") -> Path:
    """A small rig file; without ``band`` the default band plays (bass 2, keys 3, drums 10)."""
    text = (f"name: test\nmode: {mode}\nstyle: pop\ntempo: {tempo}\nmeter: 4\nsync_start: true\n"
            "input:\n  split: 60\n  thru: true\n  thru_channel: 1\n"
            "controls:\n  - {action: stop, type: cc, number: 20}\n"
            "  - {action: panic, type: cc, number: 22}\n")
    if band is not None:
        text += f"band: {band}\n"
    path.write_text(text + extra)
    return path


@dataclass
class Heard:
    """One MIDI message on the band port: JACK time in seconds (frame / SR) and its bytes."""

    t: float
    msg: list[int]

    @property
    def kind(self) -> int:
        return self.msg[0] & 0xF0

    @property
    def ch(self) -> int:
        return self.msg[0] & 0x0F

    @property
    def is_on(self) -> bool:
        return self.kind == 0x90 and len(self.msg) == 3 and self.msg[2] > 0

    @property
    def is_off(self) -> bool:
        return self.kind == 0x80 or (self.kind == 0x90 and len(self.msg) == 3 and self.msg[2] == 0)


class BandListener:
    """Everything Sideman's band port sends, heard by jackd2's own ``jack_midi_dump -a``.

    A separate C process, so nothing in the test process can make it late, and each
    message carries its JACK frame (exact, whatever the machine's load). An in-process
    python-rtmidi input was tried first: on this 2-core box its JACK thread sometimes
    stayed behind for tens of seconds and heard nothing.
    """

    def __init__(self, name: str, env: dict) -> None:
        self.name = name
        self.heard: list[Heard] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(["stdbuf", "-oL", "jack_midi_dump", "-a", name], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        _wait(lambda: f"{name}:input" in jack_lsp(env), 15, f"{name}:input")

    def _read(self) -> None:
        for line in self.proc.stdout:
            m = re.match(r"\s*(\d+):((?: [0-9a-f]{2})+)", line)
            if m:
                with self._lock:
                    self.heard.append(Heard(int(m.group(1)) / SR, [int(b, 16) for b in m.group(2).split()]))

    def snapshot(self) -> list[Heard]:
        """Everything heard so far, in order; ``t`` is the JACK frame / SR."""
        with self._lock:
            return list(self.heard)

    def clear(self) -> None:
        with self._lock:
            self.heard.clear()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._thread.join(timeout=5)


class Controller:
    """The musician's keyboard: a python-rtmidi virtual output Sideman connects to."""

    def __init__(self, name: str) -> None:
        from live.midi_io import new_stale_futexes, stale_jack_futexes

        self.name = name
        # the test process opens and closes many JACK clients: libjack's client-table race
        # (live/midi_io.py) can leave a new one asleep on a dead futex; Sideman checks for
        # it and so does the test's keyboard
        for attempt in range(3):
            before = set(stale_jack_futexes())
            self.port = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=name)
            self.port.open_virtual_port("keys")
            # the last try's port is kept whatever it says: the handshake (live_jam) finds
            # a keyboard that really is asleep, and a deleted port must never be used again
            if attempt == 2 or not new_stale_futexes(before):
                break
            self.close()

    def send(self, *msgs: list[int]) -> None:
        for m in msgs:
            self.port.send_message(m)

    def close(self) -> None:
        """Close and free the port; again is a no-op (rtmidi's C++ object is gone after
        ``delete``: touching it then is a segfault, which took a whole CI run down)."""
        if self.port.is_deleted:
            return
        self.port.close_port()
        self.port.delete()


_UID = [0]


class HandshakeError(AssertionError):
    """Sideman started but the controller -> Sideman -> listener path never came alive."""


@dataclass
class LiveJam:
    """Sideman running live on JACK, with a controller, a listener and the take folder."""

    env: dict
    out: Path
    proc: subprocess.Popen
    ctl: Controller
    listener: BandListener
    stdout_path: Path
    stderr_path: Path
    server: dict = field(default_factory=dict)
    band_port: str = ""
    audio_ports: list = field(default_factory=list)
    extra: list = field(default_factory=list)
    xrun_mark: int = 0

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"sideman did not exit within {timeout} s\n{self.stdout()}\n{self.stderr()}") from None


def _sideman_cmd(rig: Path | str, out: Path, seconds: float, midi_in: str) -> list[str]:
    return [sys.executable, "-m", "live.cli", "jam", "--audio", "jack", "--midi-in", midi_in,
            "--rig", str(rig), "--out", str(out), "--force", "--seconds", str(seconds)]


@pytest.fixture
def live_jam(jack_server, tmp_path):
    """Factory: start Sideman on the test JACK server, wired to a fresh controller and listener.

    Returns once Sideman's clock runs, its band port is connected to the listener and
    the controller is connected to Sideman. Everything started here is stopped here.
    """
    env = dict(jack_server["env"], PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    jams: list[LiveJam] = []

    def start_once(rig: Path | str, seconds: float) -> LiveJam:
        _UID[0] += 1
        uid = f"{os.getpid()}x{_UID[0]}"
        # unique client names: a client left by an earlier test can never match --midi-in
        ctl = Controller(f"controller{uid}")
        listener = BandListener(f"listener{uid}", env)
        out = tmp_path / "take"
        so, se = tmp_path / "sideman.out", tmp_path / "sideman.err"
        before = settle_sideman_ports(env)
        mark = jackd_log_size(jack_server)
        with open(so, "w") as fo, open(se, "w") as fe:
            proc = subprocess.Popen(_sideman_cmd(rig, out, seconds, f"controller{uid}"), cwd=REPO,
                                    env=env, stdout=fo, stderr=fe)
        jam = LiveJam(env, out, proc, ctl, listener, so, se, server=jack_server)
        jams.append(jam)
        # Sideman's ports all exist once its clock runs; no jack_lsp before that: every
        # short-lived client opened while Sideman opens its own feeds libjack's
        # client-table race (live/midi_io.py)
        _wait(lambda: "sideman jam:" in jam.stdout(), 60, "Sideman's clock to start", proc, poll=0.1)
        jam.band_port = _wait(lambda: new_port(env, before, "band"), 30, "Sideman's band port", proc, poll=0.2)
        jam.audio_ports = [_wait(lambda i=i: new_port(env, before, f"output_{i}"), 30, "Sideman's audio ports",
                                 proc, poll=0.2) for i in (1, 2)]
        _wait(lambda: "sideman" in jack_lsp(env, "-c", f"{ctl.name}:keys"), 30,
              "Sideman to connect to the controller", proc, poll=0.2)
        jack_connect(env, jam.band_port, f"{listener.name}:input")

        # Handshake: a pitch bend is echoed on the thru channel without starting the band.
        # Hearing it proves controller -> Sideman -> listener is live before the test's
        # clock starts; a fixed sleep cannot (JACK applies connections at a graph switch).
        def echoed():
            ctl.send([0xE0, 0, 64])
            return any(h.msg[0] == 0xE0 | THRU for h in listener.snapshot())

        try:
            _wait(echoed, 8, "the thru echo of a pitch bend on the band port", proc, poll=0.2)
        except AssertionError as exc:
            raise HandshakeError(f"{exc}\n{jack_diagnosis(jack_server, mark, env)}\n{jam.stdout()}") from None
        listener.clear()
        jam.xrun_mark = jackd_log_size(jack_server)
        return jam

    def start(rig: Path | str, seconds: float) -> LiveJam:
        # Known stall (see the report): now and then Sideman's rtmidi band-out client never
        # runs a JACK cycle ("sideman-NN was not finished, state = Triggered" on every cycle
        # in jackd's log) and nothing leaves the band port for the whole take. It is
        # per-process, so up to two fresh Sidemans are tried; a third stall fails the test.
        for attempt in range(3):
            try:
                return start_once(rig, seconds)
            except HandshakeError as exc:
                if attempt == 2:
                    raise
                jam = jams[-1]
                jam.proc.kill()
                jam.proc.wait()
                sys.stderr.write(f"live_jam: retrying after a stalled start:\n{exc}\n")
        raise AssertionError("unreachable")

    yield start
    for jam in jams:
        if jam.proc.poll() is None:
            jam.proc.kill()
            jam.proc.wait()
        for x in jam.extra:
            if isinstance(x, subprocess.Popen) and x.poll() is None:
                x.kill()
                x.wait()
        jam.listener.close()
        jam.ctl.close()


def jackd_log_size(server: dict) -> int:
    return Path(server["log"]).stat().st_size


def band_bar_lines(drum_times: list[float], first: float, bar: float, n: int) -> np.ndarray:
    """The band's own bar lines, bar by bar from ``first``: each is the drum hit nearest to
    the previous line plus a bar (within 50 ms), else that prediction. The dummy driver's
    clock drifts from this process's (5 ms a bar on a slow VM) and every cycle Sideman's
    client misses moves its later events a period on (hundreds in a take there): the
    band's grid, not the wall clock's, is what its parts follow."""
    drums = np.array(sorted(drum_times))
    lines = [first]
    for _ in range(n - 1):
        pred = lines[-1] + bar
        near = drums[np.argmin(np.abs(drums - pred))]
        lines.append(float(near) if abs(near - pred) < 0.05 else pred)
    return np.array(lines)


def sideman_xruns(server: dict, since: int) -> int:
    """Cycles in which a Sideman JACK client did not finish, from jackd's log."""
    with open(server["log"], "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return len(re.findall(r"client = sideman[^ ]* was not finished", text))


def jack_diagnosis(server: dict, since: int, env: dict) -> str:
    """What jackd said since ``since``: clients that missed cycles, and the graph now."""
    with open(server["log"], "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    late: dict[str, int] = {}
    for name in re.findall(r"client = (\S+) was not finished", text):
        late[name] = late.get(name, 0) + 1
    other = [ln for ln in text.splitlines() if "Process error" not in ln and "not finished" not in ln]
    return (f"jackd: {text.count('Process error')} late cycles; late clients {late}; "
            f"other: {other[-8:]}\nports:\n{jack_lsp(env, '-c')}")


def hanging_notes(events: list[tuple[int, int, int, int]]) -> list[tuple[int, int]]:
    """(channel, note) pairs left sounding by (kind, ch, d1, d2) messages in order.

    A note-off, a note-on with velocity 0, or CC123 (all notes off) on the channel ends
    notes; a repeated note-on counts as a new sounding note (it needs its own note-off).
    """
    sounding: dict[tuple[int, int], int] = {}
    for kind, ch, d1, d2 in events:
        if kind == 0x90 and d2 > 0:
            sounding[(ch, d1)] = sounding.get((ch, d1), 0) + 1
        elif kind == 0x80 or (kind == 0x90 and d2 == 0):
            if sounding.get((ch, d1), 0) > 0:
                sounding[(ch, d1)] -= 1
        elif kind == 0xB0 and d1 == 123:
            for key in [k for k in sounding if k[0] == ch]:
                sounding[key] = 0
    return sorted(k for k, v in sounding.items() if v > 0)


def heard_events(heard: list[Heard]) -> list[tuple[int, int, int, int]]:
    return [(h.kind, h.ch, h.msg[1] if len(h.msg) > 1 else 0, h.msg[2] if len(h.msg) > 2 else 0)
            for h in heard if 0x80 <= h.msg[0] <= 0xEF]


def midi_file_events(path: Path) -> list[tuple[int, int, int, int]]:
    """Channel events of a MIDI file in time order, as (kind, ch, d1, d2)."""
    mid = mido.MidiFile(path)
    out = []
    for msg in mid:  # merged tracks, time order
        if msg.type == "note_on":
            out.append((0x90, msg.channel, msg.note, msg.velocity))
        elif msg.type == "note_off":
            out.append((0x80, msg.channel, msg.note, 0))
        elif msg.type == "control_change":
            out.append((0xB0, msg.channel, msg.control, msg.value))
    return out


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """(frames, channels) float64 in -1..1 and the sample rate; 16, 24 or 32-bit PCM."""
    with wave.open(str(path), "rb") as w:
        sr, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        x = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16))
        x = np.where(x >= 1 << 23, x - (1 << 24), x) / float(1 << 23)
    elif width == 2:
        x = np.frombuffer(raw, "<i2") / 32768.0
    elif width == 4:
        x = np.frombuffer(raw, "<i4") / float(1 << 31)
    else:
        raise AssertionError(f"{path}: unexpected sample width {width}")
    return x.reshape(-1, ch), sr


def assert_take_written(out: Path, stdout: str) -> None:
    for name in ("jam.wav", "jam.mid", "jam.png"):
        p = out / name
        assert p.is_file() and p.stat().st_size > 0, f"{p} missing or empty"
        assert f"wrote {p}" in stdout
    mid = mido.MidiFile(out / "jam.mid")
    assert mid.length > 0
    x, sr = read_wav(out / "jam.wav")
    assert sr == SR and x.shape[1] == 2 and x.shape[0] > SR // 2


# -- 1. the musician is heard at once ------------------------------------------------

class AudioProbe:
    """A pyo JACK client in the test process that records Sideman's audio together with a
    marker channel raised the moment the test sends a note, so onsets are measured on one
    sample clock (the marker and the MIDI leave within the same JACK period)."""

    def __init__(self, seconds: float) -> None:
        from live.quiet import import_pyo, quiet_fds

        pyo = import_pyo()
        self.server = pyo.Server(sr=SR, nchnls=2, buffersize=PERIOD, duplex=1, audio="jack",
                                 jackname="probe")
        self.server.setJackAuto(False, False)
        self.server.deactivateMidi()
        with quiet_fds():
            self.server.boot()
        assert self.server.getIsBooted(), "the probe's pyo JACK client did not start"
        self.server.start()
        self.inp = pyo.Input(chnl=[0, 1])
        self.peak = pyo.PeakAmp(self.inp)
        self.marker = pyo.Sig(0.0)
        self.table = pyo.NewTable(length=seconds, chnls=3)
        self.rec = pyo.TableRec([self.inp[0], self.inp[1], self.marker], table=self.table)

    def data(self) -> np.ndarray:
        return np.asarray(self.table.getTable(all=True), np.float64)

    def close(self) -> None:
        from live.quiet import quiet_fds

        with quiet_fds():
            self.server.stop()
            self.server.shutdown()


@pytest.fixture(scope="module")
def musician_take(jack_server, tmp_path_factory):
    """One live take with no band: play three notes, record Sideman's output and a marker."""
    tmp = tmp_path_factory.mktemp("musician")
    env = dict(jack_server["env"], PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    rig = write_rig(tmp / "solo.yaml", band="{}")
    probe = AudioProbe(seconds=6.0)
    ctl = Controller(f"controller{os.getpid()}solo")
    so, se = tmp / "sideman.out", tmp / "sideman.err"
    before = settle_sideman_ports(env)
    with open(so, "w") as fo, open(se, "w") as fe:
        proc = subprocess.Popen(_sideman_cmd(rig, tmp / "take", 30, ctl.name), cwd=REPO, env=env,
                                stdout=fo, stderr=fe)
    try:
        outs = [_wait(lambda i=i: new_port(env, before, f"output_{i}"), 30, "Sideman's audio ports", proc)
                for i in (1, 2)]
        _wait(lambda: "sideman" in jack_lsp(env, "-c", f"{ctl.name}:keys"), 30, "controller connection", proc)
        _wait(lambda: "sideman jam:" in so.read_text(), 30, "Sideman's clock", proc)
        threads = thread_priorities(proc.pid)
        jack_connect(env, outs[0], "probe:input_1")
        jack_connect(env, outs[1], "probe:input_2")
        # warm-up note: proves controller -> Sideman -> probe is live (see live_jam's handshake)
        ctl.send([0x90, 84, 100])
        _wait(lambda: max(probe.peak.get(all=True)) > 0.01, 30, "the warm-up note at the probe", proc, poll=0.05)
        ctl.send([0x80, 84, 0])
        time.sleep(2.0)  # release and reverb tail
        probe.rec.play()
        time.sleep(1.0)  # a second of what Sideman plays before any note: must be silence
        ctl.send([0x90, 72, 100])
        probe.marker.value = 1.0
        time.sleep(0.6)
        ctl.send([0x80, 72, 0], [0x90, 76, 90])
        time.sleep(0.6)
        ctl.send([0x80, 76, 0], [0x90, 79, 110])
        time.sleep(0.6)
        ctl.send([0x80, 79, 0])
        time.sleep(0.5)
        probe.rec.stop()
        ctl.send([0xB0, 20, 127])
        rc = proc.wait(timeout=30)
        data = probe.data()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ctl.close()
        probe.close()
    return {"rc": rc, "audio": data, "out": tmp / "take", "stdout": so.read_text(), "stderr": se.read_text(),
            "threads": threads}


def thread_priorities(pid: int) -> list[tuple[int, int]]:
    """(scheduling policy, real-time priority) of each thread of process ``pid``."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out.append((os.sched_getscheduler(int(tid)), os.sched_getparam(int(tid)).sched_priority))
        except OSError:  # the thread ended meanwhile
            pass
    return out


@pytest.mark.jack
def test_sidemans_own_threads_run_just_below_the_audio_threads(musician_take):
    """The planner, journal writer, MIDI supervisor and control loop run SCHED_FIFO at
    priority 1: no ordinary program pre-empts them while they hold the GIL that pyo's
    audio thread needs every block; JACK's own threads stay above them."""
    threads = musician_take["threads"]
    helpers = [t for t in threads if t == (os.SCHED_FIFO, 1)]
    jack = [p for pol, p in threads if pol == os.SCHED_FIFO and p > 1]
    assert len(helpers) >= 4, threads
    assert jack and min(jack) > 1, threads


@pytest.mark.jack
def test_musician_notes_sound_without_clipping(musician_take):
    t = musician_take
    assert t["rc"] == 0, t["stderr"]
    a = t["audio"]
    mk = int(np.flatnonzero(a[2] > 0.5)[0])
    x = np.abs(a[:2])
    assert mk > SR // 2, "the probe recorded less than half a second before the first note"
    before = x[:, :mk].max()
    assert before < 1e-3, f"Sideman is not silent before the first note (peak {before:.4f})"
    after = x[:, mk:mk + int(1.8 * SR)]
    # each of the three notes is heard: 0.6 s windows from each send
    for i in range(3):
        w = x[:, mk + int(i * 0.6 * SR): mk + int((i + 1) * 0.6 * SR)]
        assert w.max() > 0.05, f"note {i + 1} is not heard (peak {w.max():.4f})"
    assert after.max() < 1.0, f"Sideman's output clips (peak {after.max():.3f})"
    # the take Sideman wrote itself: silent start, the notes, not clipped
    assert_take_written(t["out"], t["stdout"])
    y, _ = read_wav(t["out"] / "jam.wav")
    env = np.abs(y).max(axis=1)
    mid = mido.MidiFile(t["out"] / "jam.mid")
    now, first = 0.0, None
    for m in mid:
        now += m.time
        if m.type == "note_on" and m.velocity > 0 and first is None:
            first = now
    assert first is not None and first > 0.02
    before = env[: int((first - 0.01) * SR)].max()
    assert before < 1e-3, f"jam.wav is not silent before the first note ({before:.4f})"
    assert env[int(first * SR): int((first + 0.15) * SR)].max() > 0.05, "jam.wav: the first note is missing"
    assert 0.05 < env.max() < 1.0, env.max()
    notes = [m.note for m in mid if m.type == "note_on" and m.velocity > 0]
    assert notes == [84, 72, 76, 79]  # the warm-up note, then the three


@pytest.mark.jack
def test_musician_onset_within_20ms(musician_take):
    a = musician_take["audio"]
    mk = int(np.flatnonzero(a[2] > 0.5)[0])
    x = np.abs(a[:2]).max(axis=0)
    # the warm-up note's reverb tail may still whisper (< 1e-3): the onset is where the
    # note clearly rises above it
    floor = x[mk - SR // 2:mk].max()
    assert floor < 1e-3, "not quiet before the note: no onset to measure"
    onset = mk + int(np.flatnonzero(x[mk:] > max(0.01, 10 * floor))[0])
    latency_ms = (onset - mk) * 1000.0 / SR
    print(f"musician onset latency {latency_ms:.2f} ms")
    # MIDI in -> next block -> out is 1-3 periods (measured 0.1-3 ms); 20 ms leaves room for
    # late cycles on a busy machine. (Before e5f57b0, pyo's lookahead=0 made this 50 ms.)
    assert latency_ms < 20.0, f"the first note sounds {latency_ms:.1f} ms after it was played"


# -- 2. the band plays, on the grid ----------------------------------------------------

@pytest.mark.jack
def test_band_midi_out_on_16th_grid(live_jam, tmp_path):
    rig = write_rig(tmp_path / "band.yaml", mode="chords", tempo=120, extra="midi_out: {clock: true}\n")
    jam = live_jam(rig, seconds=30)
    jam.ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90])
    time.sleep(3.2)
    jam.ctl.send([0xB0, 20, 127])  # stop
    assert jam.wait_exit(20) == 0, jam.stderr()
    xruns = sideman_xruns(jam.server, jam.xrun_mark)
    heard = jam.listener.snapshot()
    ons = [h for h in heard if h.is_on]
    chans = {h.ch for h in ons}
    assert {THRU, BASS, KEYS, DRUMS} <= chans, \
        f"band channels heard: {sorted(c + 1 for c in chans)} ({len(heard)} messages)\n{jam.stdout()}"
    sixteenth = SR * 60.0 / 120 / 4  # frames
    # Each message carries its JACK frame. Sideman dispatches an event in the block that
    # contains its frame and rtmidi writes it at the start of the next period, so onsets
    # sit on the 64-frame grid: an interval may be off by one period (1.33 ms), two if
    # the graph order of Sideman's clients changed between the hits. Sideman's clock
    # counts its own blocks, so a cycle its client misses (an xrun, frequent with
    # --no-realtime on 2 cores) moves every later event one period later in JACK frames:
    # those are counted from jackd's log and allowed for, one period each.
    drum_frames = np.unique([round(h.t * SR) for h in ons if h.ch == DRUMS])
    assert len(drum_frames) >= 10, drum_frames
    # from the second hit on: the sync-start downbeat comes after the musician's chord is
    # heard (4-6 ms late, checked below and in benchmarks.jitter), so its interval is not
    # the grid's (CI saw 6.0 ms there with every other interval at 0.67 ms)
    ioi = np.diff(drum_frames[1:])
    steps = np.round(ioi / sixteenth)
    err_ms = np.abs(ioi - steps * sixteenth) * 1000.0 / SR
    assert (steps >= 1).all(), f"two drum hits closer than a 16th: {ioi} frames"
    period_ms = PERIOD * 1000.0 / SR
    print(f"grid error: max {err_ms.max():.2f} ms over {len(drum_frames)} hits, {xruns} sideman xruns")
    # Most intervals are exact to the period quantization; on a loaded 2-core CI machine one
    # interval now and then lands a couple of periods late without jackd logging an xrun for
    # Sideman (CI once saw 3.33 ms on one interval). A scheduling regression (events sent at
    # planning time, or quantized to the planner's horizon) shows as 10+ ms on many intervals.
    # On a slow 2-vCPU VM (Sideman's client late in 16-49 cycles of this 3 s take, each
    # moving every later event a period on) 58-67% of the intervals were within one period
    # and the median stayed at 0.67 ms: with that many late cycles, half is the bound, and
    # the median still catches a band sent off its grid (10+ ms on most intervals).
    on_grid = (err_ms <= period_ms + 0.01).mean()
    assert np.median(err_ms) <= period_ms + 0.01, f"median drum interval off the grid by {np.median(err_ms):.2f} ms"
    need = 0.8 if xruns <= 3 else 0.5
    assert on_grid >= need, f"only {on_grid:.0%} of drum intervals within one period ({xruns} xruns): {err_ms}"
    assert err_ms.max() <= (4 + xruns) * period_ms + 0.01, \
        f"drum onsets off the 16th grid by up to {err_ms.max():.2f} ms ({xruns} xruns): {err_ms}"
    # the first band notes start with the musician's first note (sync start), within a few periods
    first_thru = min(h.t for h in ons if h.ch == THRU)
    first_band = min(h.t for h in ons if h.ch != THRU)
    assert 0 <= first_band - first_thru < 0.02, (first_thru, first_band)
    # MIDI clock (the rig's midi_out.clock): Start with the band's first downbeat, 24 ticks
    # a beat on the same grid, Stop when the take ends
    rt = [h for h in heard if h.msg[0] in (0xFA, 0xF8, 0xFC)]
    kinds = [h.msg[0] for h in rt]
    assert kinds and kinds[0] == 0xFA and kinds.count(0xFA) == 1, kinds[:5]
    assert kinds[-1] == 0xFC and kinds.count(0xFC) == 1, kinds[-5:]
    ticks = np.array([round(h.t * SR) for h in rt if h.msg[0] == 0xF8])
    per_tick = SR * 60.0 / 120 / 24
    assert len(ticks) >= 24 * 5, len(ticks)
    iv = np.diff(ticks)
    assert abs(np.median(iv) - per_tick) <= PERIOD, np.median(iv)
    assert (np.abs(iv - per_tick) <= (4 + xruns) * PERIOD).mean() >= 0.95, iv
    assert abs(rt[1].t - first_band) < 0.003, (rt[1].t, first_band)


# -- 3. the band follows the chords ------------------------------------------------------

@pytest.mark.jack
def test_band_follows_held_chords(live_jam, tmp_path):
    rig = write_rig(tmp_path / "chords.yaml", mode="chords", tempo=120)
    jam = live_jam(rig, seconds=30)
    c_major, f_major = (48, 52, 55), (41, 45, 48)  # C3 E3 G3, then F2 A2 C3: below the split
    jam.ctl.send(*[[0x90, n, 90] for n in c_major])
    time.sleep(4.0)  # two bars at 120 bpm
    jam.ctl.send(*[[0x80, n, 0] for n in c_major], *[[0x90, n, 90] for n in f_major])
    time.sleep(4.0)
    jam.ctl.send([0xB0, 20, 127])
    assert jam.wait_exit(20) == 0, jam.stderr()
    heard = jam.listener.snapshot()
    ons = [h for h in heard if h.is_on]
    t_c = min(h.t for h in ons if h.ch == THRU and h.msg[1] in c_major)
    t_f = min(h.t for h in ons if h.ch == THRU and h.msg[1] == f_major[0])
    t_end = max(h.t for h in heard)
    beat = 0.5
    # the band's bar lines, from its own drum hits
    drum_t = [h.t for h in ons if h.ch == DRUMS]
    lines = band_bar_lines(drum_t, min(drum_t), 4 * beat, int((t_end - min(drum_t)) / (4 * beat)) + 2)
    spans = {"C": (t_c + beat, t_f, {0, 4, 7}, 0), "F": (t_f + beat, t_end, {5, 9, 0}, 5)}
    for name, (a, b, pcs, root) in spans.items():
        comp = {h.msg[1] % 12 for h in ons if h.ch == KEYS and a <= h.t < b}
        assert comp == pcs, f"comping during {name}: pitch classes {sorted(comp)}, expected {sorted(pcs)}"
        bass = [h for h in ons if h.ch == BASS and a <= h.t < b]
        assert bass, f"no bass during {name}"
        # the bass's downbeat notes are the root: take the notes on each bar line
        offsets = [h.t - lines[np.argmin(np.abs(lines - h.t))] for h in bass]
        downbeats = [h.msg[1] % 12 for h, off in zip(bass, offsets, strict=True) if abs(off) < 0.01]
        offsets = [round(off * 1000, 1) for off in offsets]
        assert downbeats and all(pc == root for pc in downbeats), \
            f"bass on the bar lines during {name}: {downbeats}, expected root {root} " \
            f"(bass notes' ms from the nearest bar line: {offsets})"
        bass_pcs = {h.msg[1] % 12 for h in bass}
        assert root in bass_pcs


# -- 4. stop leaves nothing hanging -------------------------------------------------------

@pytest.mark.jack
def test_stop_control_ends_every_note(live_jam, tmp_path):
    rig = write_rig(tmp_path / "stop.yaml", mode="lead", tempo=120)
    seconds = 30
    jam = live_jam(rig, seconds=seconds)
    jam.ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90], [0x90, 72, 100])
    time.sleep(2.0 + 0.3)  # one bar and a bit: mid-bar, with chords and melody held
    jam.ctl.send([0xB0, 20, 127])
    t_stop = time.monotonic()
    rc = jam.wait_exit(15)
    after_stop = time.monotonic() - t_stop
    assert rc == 0, jam.stderr()
    played = float(re.search(r"played ([\d.]+) s", jam.stdout()).group(1))
    # writing the take (wav, mid, png) takes a second or two after the band stops
    assert after_stop < 8 and played < seconds - 10, \
        f"Sideman did not stop on CC20 (played {played} s, exited {after_stop:.1f} s after CC20)"
    heard = jam.listener.snapshot()
    assert sum(h.is_on for h in heard if h.ch != THRU) >= 5
    hang = hanging_notes(heard_events(heard))
    assert not hang, f"notes left hanging on the band port (channel 1..16, note): " \
                     f"{[(c + 1, n) for c, n in hang]}"
    assert_take_written(jam.out, jam.stdout())
    hang = hanging_notes(midi_file_events(jam.out / "jam.mid"))
    assert not hang, f"notes left hanging in jam.mid: {[(c + 1, n) for c, n in hang]}"


# -- 5. Ctrl-C -------------------------------------------------------------------------------

@pytest.mark.jack
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_ends_notes_and_writes_take(live_jam, tmp_path, sig):
    rig = write_rig(tmp_path / "sigint.yaml", mode="chords", tempo=120)
    jam = live_jam(rig, seconds=30)
    jam.ctl.send([0x90, 48, 90], [0x90, 52, 90], [0x90, 55, 90])
    time.sleep(0.3)
    # jack_rec hears the band from outside Sideman while it plays
    wav = tmp_path / "jack_rec.wav"
    rec = subprocess.Popen(["jack_rec", "-f", str(wav), "-d", "1.5", *jam.audio_ports],
                           env=jam.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    jam.extra.append(rec)
    rec.wait(timeout=15)
    time.sleep(0.37)  # mid-beat
    jam.proc.send_signal(sig)  # SIGTERM (kill, a service manager) ends the jam as Ctrl-C does
    rc = jam.wait_exit(15)
    assert rc == 0, f"exit {rc}\n{jam.stderr()}"
    assert "stopping (Ctrl-C)" in jam.stdout()
    x, sr = read_wav(wav)
    assert sr == SR and x.shape[0] >= SR, f"jack_rec captured {x.shape[0]} frames"
    peak, rms = np.abs(x).max(), math.sqrt(float((x ** 2).mean()))
    assert 0.05 < peak < 1.0 and rms > 0.005, (peak, rms)
    heard = jam.listener.snapshot()
    hang = hanging_notes(heard_events(heard))
    assert not hang, f"notes left hanging after Ctrl-C: {[(c + 1, n) for c, n in hang]}"
    assert_take_written(jam.out, jam.stdout())
    ev = midi_file_events(jam.out / "jam.mid")
    assert sum(1 for k, c, n, v in ev if k == 0x90 and v > 0 and c != THRU) >= 5
    assert not hanging_notes(ev)


# -- 6. bad input ------------------------------------------------------------------------------

@pytest.mark.jack
def test_malformed_input_and_burst(live_jam, tmp_path):
    rig = write_rig(tmp_path / "bad.yaml", mode="lead", tempo=120)
    jam = live_jam(rig, seconds=30)
    malformed = [[0x90, 200, 10], [0x90], [0xF7], [60, 100], [0x90, 60, 100], [62, 100], [62, 0],
                 [0x80, 61], [0x91, 64, 255]]
    # every message above but the complete note-on is dropped and counted; the sysex below
    # is filtered by rtmidi (ignore_types) before Sideman sees it, so it is not counted
    n_bad = len(malformed) - 1
    for m in malformed:
        jam.ctl.send(m)
        time.sleep(0.005)
    jam.ctl.send([0xF0, 1, 2, 0xF7], [0x80, 90, 0], [0x80, 91, 64])  # sysex; note-offs without note-ons
    jam.ctl.send([0x80, 60, 0])
    # a burst: 2,000 note on/off events per second for 2 s, sent in 10 ms slices
    t0 = time.monotonic()
    sent = 0
    for i in range(200):
        for j in range(5):
            note = 62 + (i * 5 + j) % 24
            jam.ctl.send([0x90, note, 80], [0x80, note, 0])
            sent += 2
        while time.monotonic() < t0 + (i + 1) * 0.01:
            time.sleep(0.001)
    time.sleep(0.5)
    assert jam.proc.poll() is None, "Sideman died during the burst"
    jam.ctl.send([0xB0, 20, 127])
    rc = jam.wait_exit(20)
    out = jam.stdout()
    assert rc == 0, jam.stderr()
    m = re.search(r"input dropped (\d+)", out)
    assert m, out
    dropped = int(m.group(1))
    print(f"input dropped {dropped}; {out.splitlines()[-4]}")
    assert dropped == n_bad, f"input dropped {dropped}, expected {n_bad}\n{out}"
    heard = jam.listener.snapshot()
    thru_on = sum(1 for h in heard if h.is_on and h.ch == THRU)
    assert thru_on >= sent // 2 * 0.99, f"only {thru_on} of {sent // 2} notes came through"
    hang = hanging_notes(heard_events(heard))
    assert not hang, f"notes left hanging: {[(c + 1, n) for c, n in hang]}"
    assert not hanging_notes(midi_file_events(jam.out / "jam.mid"))


# -- 7. user errors -------------------------------------------------------------------------------

def _run_cli(args: list[str], env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.jack
def test_unknown_midi_in_port(jack_server, tmp_path):
    env = dict(jack_server["env"], PYTHONPATH=str(REPO))
    ctl = Controller(f"controller{os.getpid()}named")
    try:
        r = _run_cli(["jam", "--audio", "jack", "--midi-in", "nosuchkeyboard", "--out", str(tmp_path),
                      "--force", "--seconds", "3"], env)
    finally:
        ctl.close()
    assert r.returncode == 2, r.stdout + r.stderr
    assert "sideman: error:" in r.stderr
    assert "'nosuchkeyboard'" in r.stderr and "available:" in r.stderr
    assert f"{ctl.name}:keys" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "jam.wav").exists()


def test_rig_with_wrong_type(tmp_path):
    rig = tmp_path / "bad.yaml"
    rig.write_text("name: bad\nmode: lead\ntempo: fast\n")
    r = _run_cli(["jam", "--audio", "offline", "--rig", str(rig), "--out", str(tmp_path), "--force"],
                 dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("sideman: error:")
    assert f"{rig}:3" in r.stderr and "tempo" in r.stderr and "'fast'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_missing_rig_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    r = _run_cli(["jam", "--audio", "offline", "--rig", str(missing), "--out", str(tmp_path)],
                 dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(missing) in r.stderr and "not found" in r.stderr and "pop-band" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# -- 8. the offline demo --------------------------------------------------------------------------

def test_offline_demo_through_cli(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("JACK_DEFAULT_SERVER", None)
    out = tmp_path / "demo"
    r = _run_cli(["jam", "--audio", "offline", "--out", str(out)], env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert_take_written(out, r.stdout)
    x, sr = read_wav(out / "jam.wav")
    dur = x.shape[0] / sr
    assert 40.0 <= dur <= 50.0, f"jam.wav is {dur:.1f} s"
    peak, rms = np.abs(x).max(), math.sqrt(float((x ** 2).mean()))
    assert 0.05 < peak < 1.0, peak
    assert rms > 0.01, rms
    # onsets: 50 ms frames whose energy jumps well above the frame before
    hop = sr // 20
    e = (x[: x.shape[0] // hop * hop].reshape(-1, hop, 2) ** 2).mean(axis=(1, 2))
    onsets = np.flatnonzero((e[1:] > 2.0 * e[:-1]) & (e[1:] > 1e-4))
    assert len(onsets) >= 20, f"only {len(onsets)} onsets in the demo"
    mid = mido.MidiFile(out / "jam.mid")
    names = {}
    for tr in mid.tracks:
        name = next((m.name for m in tr if m.type == "track_name"), None)
        names[name] = sum(1 for m in tr if m.type == "note_on" and m.velocity > 0)
    for part in ("musician", "bass", "keys", "drums"):
        assert names.get(part, 0) > 10, f"track {part}: {names}"
    assert not hanging_notes(midi_file_events(out / "jam.mid"))
    again = _run_cli(["jam", "--audio", "offline", "--out", str(out)], env)
    assert again.returncode == 2, again.stdout + again.stderr
    assert "--force" in again.stderr and "exists" in again.stderr


# -- 9. chart mode: the band plays a chord chart ------------------------------------------------

LEAD = 4  # the duet's lead part: channel 5


@pytest.mark.jack
def test_chart_mode_bass_roots_follow_the_chart(live_jam, tmp_path):
    chart = tmp_path / "tune.yaml"
    chart.write_text('title: Tune\ntempo: 150\nstyle: pop\nchoruses: 2\nsections:\n  A: "| C | Am7 | F | G7 |"\n')
    rig = write_rig(tmp_path / "chart.yaml", mode="chart", tempo=150, extra=f"chart: {chart}\ncount_in: 1\n")
    jam = live_jam(rig, seconds=60)
    time.sleep(0.3)
    jam.ctl.send([0x90, 72, 90])  # the first note starts the count-in (sync start)
    time.sleep(0.2)
    jam.ctl.send([0x80, 72, 0])
    # count-in, 2 choruses of 4 bars and the style's 2-bar ending at 1.6 s a bar: the take
    # ends by itself
    rc = jam.wait_exit(45)
    assert rc == 0, jam.stderr()
    out = jam.stdout()
    assert "chart: Tune: A (4 bars) x 2 choruses" in out and "the chart is over" in out, out
    xruns = sideman_xruns(jam.server, jam.xrun_mark)
    heard = jam.listener.snapshot()
    ons = [h for h in heard if h.is_on]
    t_go = min(h.t for h in ons if h.ch == THRU)
    clicks = [h for h in ons if h.ch == DRUMS and h.msg[1] == 37]  # the count-in's side stick
    bass = [h for h in ons if h.ch == BASS]
    assert bass, f"no bass heard ({len(heard)} messages)\n{out}"
    t0 = bass[0].t  # the band's first bar line
    bar, tol = 4 * 60.0 / 150, 0.01 + xruns * PERIOD / SR
    assert len([c for c in clicks if c.t < t0 - 0.01]) == 4, [round(c.t - t0, 3) for c in clicks]
    assert 0 <= clicks[0].t - t_go < 0.1 and abs(t0 - clicks[0].t - bar) < tol
    # the bar lines from the band's own drum hits after the count-in: with many late cycles
    # (183-373 on a slow VM) a tolerance grown by a period per late cycle reached the
    # approach note an eighth before the bar line; the nearest bass note to the band's
    # own bar line does not
    lines = band_bar_lines([h.t for h in ons if h.ch == DRUMS and h.t >= t0 - 0.01], t0, bar, 10)
    roots = []
    for line in lines:
        near = min(bass, key=lambda h, line=line: abs(h.t - line))
        roots.append(near.msg[1] % 12 if abs(near.t - line) < 0.03 else None)
    print(f"bass on the bar lines: {roots} ({xruns} sideman xruns)")
    assert roots == [0, 9, 5, 7, 0, 9, 5, 7, 0, 0], roots  # C Am7 F G7 twice, the ending on C
    band_on = [h.t for h in ons if h.ch != THRU]
    assert max(band_on) < t0 + 10 * bar, "the band played on after the ending"
    hang = hanging_notes(heard_events(heard))
    assert not hang, f"notes left hanging: {[(c + 1, n) for c, n in hang]}"
    assert_take_written(jam.out, out)
    assert not hanging_notes(midi_file_events(jam.out / "jam.mid"))


# -- 10. duet mode: an answer that yields ---------------------------------------------------------

@pytest.mark.jack
def test_duet_answers_a_phrase_and_yields_when_cut_in(live_jam, tmp_path):
    rig = write_rig(tmp_path / "duet.yaml", mode="duet", tempo=120, extra="accompanist: rules\n")
    jam = live_jam(rig, seconds=60)
    beat = 0.5
    phrase = [72, 76, 79, 76, 77, 74, 71, 72]  # two bars of quarter notes, home on C
    t_start = time.monotonic()
    for i, note in enumerate(phrase):
        while time.monotonic() < t_start + i * beat:
            time.sleep(0.001)
        jam.ctl.send([0x90, note, 90])
        time.sleep(0.45 if i < len(phrase) - 1 else 0.9)
        jam.ctl.send([0x80, note, 0])

    def lead_on():
        return [h for h in jam.listener.snapshot() if h.is_on and h.ch == LEAD]

    first = _wait(lead_on, 8, "the lead part's answer", jam.proc)[0]
    time.sleep(1.0)  # a second into the answer, the musician plays again
    jam.ctl.send([0x90, 79, 100])
    time.sleep(0.3)
    jam.ctl.send([0x80, 79, 0])
    time.sleep(2.0)
    jam.ctl.send([0xB0, 20, 127])
    assert jam.wait_exit(20) == 0, jam.stderr()
    xruns = sideman_xruns(jam.server, jam.xrun_mark)
    heard = jam.listener.snapshot()
    thru_off = [h.t for h in heard if h.ch == THRU and h.is_off and h.msg[1] == phrase[-1]]
    t_phrase_end = max(thru_off)  # the last note's release (72 opens the phrase too)
    t_cut = min(h.t for h in heard if h.ch == THRU and h.is_on and h.msg[1] == 79 and h.t > first.t)
    lead = [h for h in heard if h.ch == LEAD and (h.is_on or h.is_off)]
    lead_ons = [h.t for h in lead if h.is_on]
    slack = xruns * PERIOD / SR
    print(f"phrase ends {t_phrase_end:.3f}, answer {lead_ons[0] - t_phrase_end:.3f} s later, cut-in "
          f"{t_cut - lead_ons[0]:.3f} s into it, last lead note off {max(h.t for h in lead) - t_cut:.3f} s "
          f"after the cut ({xruns} sideman xruns)")
    # the answer comes after the phrase, on a beat after a beat's rest: 1..2.5 beats
    assert beat * 0.9 <= lead_ons[0] - t_phrase_end <= 2.5 * beat + slack, lead_ons[0] - t_phrase_end
    assert all(t >= t_phrase_end for t in lead_ons)
    # and yields within a beat of the cut-in: nothing starts after it (a note committed
    # within the 30 ms horizon may), and what sounds ends
    assert all(t < t_cut + 0.05 + slack for t in lead_ons), [round(t - t_cut, 3) for t in lead_ons]
    assert max(h.t for h in lead) <= t_cut + beat + slack
    drums_after = [h for h in heard if h.is_on and h.ch == DRUMS and h.t > t_cut + 1.0]
    assert drums_after, "the band stopped with the lead voice"
    hang = hanging_notes(heard_events(heard))
    assert not hang, f"notes left hanging: {[(c + 1, n) for c, n in hang]}"
    assert not hanging_notes(midi_file_events(jam.out / "jam.mid"))
