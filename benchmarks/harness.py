"""Pieces shared by the live benchmarks: a private JACK server, subprocess clients
(Sideman, a python-rtmidi thru), port discovery, and a frame-accurate JACK client.

Threading model
---------------
- ``JackServer``, ``Proc``, ``wait_ports`` and the analysis helpers run on the
  benchmark's main thread.
- ``FrameHarness._process`` runs on the JACK process thread of the harness client
  (one call per period). It reads its inputs into preallocated arrays, then writes the
  scheduled MIDI events that fall in this period, and returns. The main thread only
  publishes a schedule (one reference swap, before its first frame is due) and reads
  the arrays after ``stop()``.

Every subprocess is started in its own session and ended by its PID, never by name.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RIGS = Path(__file__).resolve().parent / "rigs"
RESULTS = Path(__file__).resolve().parent / "results"
SR, PERIOD = 48000, 64
XRUN_RE = re.compile(r"xrun", re.IGNORECASE)


class BenchError(RuntimeError):
    """A benchmark could not set up its rig (server, client or port missing in time)."""


# -- environment ---------------------------------------------------------------------
def hardware() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "machine": platform.machine(),
            "kernel": platform.release()}


def versions() -> dict:
    v = {"python": platform.python_version()}
    for dist in ("pyo", "python-rtmidi", "numpy", "JACK-Client", "mido"):
        try:
            v[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            v[dist] = None
    try:
        out = subprocess.run(["jackd", "--version"], capture_output=True, text=True, timeout=5).stdout
        m = re.search(r"version\s+(\S+)", out)
        v["jackd"] = m.group(1) if m else out.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        v["jackd"] = None
    return v


def xrun_cycles(lines: list[str]) -> int:
    """jackd's xrun lines -> the periods that went wrong.

    jackd writes one line per client that had not finished, so one late cycle of
    Sideman's audio client (upstream of its MIDI clients) reads as three lines. Lines
    naming different clients one after the other are one cycle; a client named again,
    or the driver's own "Process XRun" line, starts the next."""
    cycles, seen = 0, set()
    for ln in lines:
        m = re.search(r"client = (\S+) was not finished", ln)
        if m is None:
            cycles += 1
            seen = set()
        elif m.group(1) in seen or not seen:
            cycles += 1
            seen = {m.group(1)}
        else:
            seen.add(m.group(1))
    return cycles


def stats(values, goal: float | None = None) -> dict:
    """p50/p99/max (and min, n) of a sample; never the mean alone."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"n": 0, "p50": None, "p99": None, "max": None, "min": None, "goal": goal}
    return {"n": int(a.size), "min": float(a.min()), "p50": float(np.percentile(a, 50)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "mean": float(a.mean()),
            "goal": goal}


# -- subprocesses ----------------------------------------------------------------------
def _stop_pid(proc: subprocess.Popen, sig=signal.SIGTERM, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


class Proc:
    """A subprocess whose stdout+stderr go to a log file; a context manager that
    ends it by PID (``stop_signal`` first, SIGKILL after ``grace`` seconds)."""

    def __init__(self, argv: list[str], env: dict, log: Path, *, stop_signal=signal.SIGTERM,
                 grace: float = 5.0, cwd: Path | None = None) -> None:
        self.argv, self.env, self.log_path = argv, env, log
        self.stop_signal, self.grace, self.cwd = stop_signal, grace, cwd
        self.proc: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> Proc:
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=self.cwd)
        return self

    def text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for_text(self, pattern: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return True
            if not self.alive():
                return bool(re.search(pattern, self.text()))
            time.sleep(0.05)
        return False

    def stop(self) -> int | None:
        if self.proc is not None:
            _stop_pid(self.proc, self.stop_signal, self.grace)
            return self.proc.returncode
        return None

    def wait(self, timeout: float) -> int | None:
        """Wait for a natural exit; past ``timeout``, stop it. Returns the exit code."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.stop()

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            if self._log is not None:
                self._log.close()


def can_realtime() -> bool:
    """Can jackd get SCHED_FIFO here? (root, or an rtprio limit from the audio group)."""
    import resource

    return os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] > 0


class JackServer:
    """``jackd -R -n NAME -d dummy -r SR -p PERIOD`` under a unique name.

    Real-time scheduling (``-R``) where the user may have it, as on a stage rig;
    ``--no-realtime`` otherwise (measured here: 0 xruns in 10 s with -R, 23 without,
    for jackd and one jack_metro client on this 2-core VM).

    ``env`` is the environment every client must get (JACK_DEFAULT_SERVER=NAME).
    Stopped by PID on exit, errors included; ``xruns()`` counts the log's xrun lines.
    """

    def __init__(self, workdir: Path, sr: int = SR, period: int = PERIOD, tag: str = "bench") -> None:
        if shutil.which("jackd") is None:
            raise BenchError("jackd is not installed (apt-get install jackd2)")
        self.name = f"sideman-{tag}-{os.getpid()}-{int(time.monotonic() * 1000) % 100000}"
        self.sr, self.period = sr, period
        self.env = dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_AUDIO_RESERVATION="1",
                        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                        PYO_GUI_WX="0", PYTHONUNBUFFERED="1")
        self.log = workdir / f"jackd-{tag}.log"
        self.realtime = can_realtime()
        rt = "-R" if self.realtime else "--no-realtime"
        self.proc = Proc(["jackd", rt, "-n", self.name, "-d", "dummy", "-r", str(sr), "-p", str(period)],
                         self.env, self.log)
        self._mark = 0

    def __enter__(self) -> JackServer:
        self.proc.__enter__()
        try:
            deadline = time.monotonic() + 10
            while not self.up():
                if not self.proc.alive() or time.monotonic() > deadline:
                    raise BenchError(f"jackd did not start: {self.proc.text()[-400:]}")
                time.sleep(0.1)
        except BaseException:
            self.proc.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.proc.__exit__(*exc)

    def up(self) -> bool:
        try:
            return subprocess.run(["jack_lsp"], env=self.env, capture_output=True, timeout=5).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def xrun_lines(self) -> list[str]:
        return [ln for ln in self.proc.text().splitlines() if XRUN_RE.search(ln)]

    def mark(self) -> None:
        """Count xruns only from here on (setup and warm-up excluded)."""
        self._mark = len(self.xrun_lines())

    def xruns(self) -> int:
        return len(self.xrun_lines()) - self._mark

    def ports(self, *flags: str) -> list[str]:
        r = subprocess.run(["jack_lsp", *flags], env=self.env, capture_output=True, text=True, timeout=5)
        return [ln.strip() for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith(" ")]

    def midi_ports(self) -> list[str]:
        """Names of the MIDI ports (from ``jack_lsp -t``)."""
        r = subprocess.run(["jack_lsp", "-t"], env=self.env, capture_output=True, text=True, timeout=5)
        out, cur = [], None
        for ln in r.stdout.splitlines():
            if not ln.startswith((" ", "\t")):
                cur = ln.strip()
            elif cur and "midi" in ln.lower():
                out.append(cur)
        return out

    def wait_ports(self, patterns: dict[str, str], timeout: float = 20.0, *, midi: set[str] = frozenset(),
                   proc: Proc | None = None) -> dict[str, str]:
        """Poll jack_lsp until every regex in ``patterns`` matches a port; returns key -> port.
        Keys in ``midi`` only match MIDI ports. Raises BenchError on timeout or if ``proc`` dies."""
        deadline = time.monotonic() + timeout
        found: dict[str, str] = {}
        while True:
            names = self.ports()
            mnames = self.midi_ports() if midi else []
            for key, pat in patterns.items():
                pool = mnames if key in midi else names
                hits = [n for n in pool if re.search(pat, n)]
                if hits:
                    found[key] = hits[0]
            if len(found) == len(patterns):
                return found
            if proc is not None and not proc.alive():
                raise BenchError(f"process exited before its ports appeared: {proc.text()[-800:]}")
            if time.monotonic() > deadline:
                missing = sorted(set(patterns) - set(found))
                raise BenchError(f"ports {missing} did not appear within {timeout:.0f} s; have {names}")
            time.sleep(0.2)

    def connect(self, src: str, dst: str) -> None:
        r = subprocess.run(["jack_connect", src, dst], env=self.env, capture_output=True, text=True, timeout=5)
        if r.returncode != 0:
            raise BenchError(f"jack_connect {src} {dst} failed: {r.stderr.strip() or r.stdout.strip()}")


def sideman(server: JackServer, rig: Path, workdir: Path, seconds: float, tag: str, midi_in: str) -> Proc:
    """The real product, `sideman jam --audio jack --midi-in MIDI_IN`, as a subprocess
    (stopped with SIGINT, which it handles like Ctrl-C: silence, write the take, print its
    counters). ``midi_in`` must name a port that exists already: without a live input
    Sideman plays its demo file as the musician."""
    out = workdir / f"take-{tag}"
    argv = [sys.executable, "-m", "live.cli", "jam", "--audio", "jack", "--midi-in", midi_in, "--rig", str(rig),
            "--out", str(out), "--force", "--seconds", f"{seconds:g}"]
    return Proc(argv, server.env, workdir / f"sideman-{tag}.log", stop_signal=signal.SIGINT, grace=60.0,
                cwd=workdir)


def sideman_ports(server: JackServer, proc: Proc, timeout: float = 60.0) -> dict[str, str]:
    """Sideman's audio out, MIDI in and band out (each rtmidi object is its own client,
    so the names may carry a -NN suffix). Waits until its clock runs."""
    ports = server.wait_ports({"audio": r"^sideman[^:]*:output_1$", "in": r"^sideman[^:]*:in$",
                               "band": r"^sideman[^:]*:band$"}, timeout, midi={"in", "band"}, proc=proc)
    if not proc.wait_for_text(r"sideman jam:", timeout):
        raise BenchError(f"sideman did not start its clock: {proc.text()[-800:]}")
    time.sleep(0.5)  # server.start() + the first blocks
    return ports


def thru_client(server: JackServer, workdir: Path, name: str) -> Proc:
    return Proc([sys.executable, "-m", "benchmarks.thru", name], server.env, workdir / f"{name}.log")


def sideman_counters(text: str) -> dict:
    m = re.search(r"band notes (\d+), late events (\d+), input dropped (\d+), callback p99 (\d+) us", text)
    if not m:
        return {}
    keys = ("band_notes", "late_events", "input_dropped", "callback_us_p99")
    out = dict(zip(keys, (int(g) for g in m.groups()), strict=True))
    m = re.search(r"planner: (\d+) decisions, p50 (\d+) us, p99 (\d+) us; the (\d+) that ran the model "
                  r"p50 (\d+) us, p99 (\d+) us, max (\d+) us", text)
    if m:  # the planner's decisions as live: neither the benchmark's hot loop nor its cold one
        keys = ("decisions", "decide_us_p50", "decide_us_p99", "decide_model_n", "decide_model_us_p50",
                "decide_model_us_p99", "decide_model_us_max")
        out |= dict(zip(keys, (int(g) for g in m.groups()), strict=True))
    m = re.search(r"corrections: (\d+) chords struck again after a melody note that clashed \(p50 ([\d.]+) ms, "
                  r"max ([\d.]+) ms after the note\), (\d+) after", text)
    if m:  # the model band's corrections for melody notes heard late (live.planner), as the planner saw them
        out |= {"heard_late": int(m.group(1)), "heard_late_lag_ms_p50": float(m.group(2)),
                "heard_late_lag_ms_max": float(m.group(3)), "corrections": int(m.group(4))}
    return out


# -- the frame-accurate client -------------------------------------------------------------
@dataclass
class Schedule:
    """MIDI events to write, sorted by absolute frame."""

    frames: np.ndarray
    msgs: list[bytes]
    port: np.ndarray  # index into FrameHarness.out_names
    i: int = 0


@dataclass
class Received:
    frame: np.ndarray
    status: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    offset: np.ndarray  # within its period: 0 = on a block boundary
    n: int = 0
    dropped: int = 0

    @classmethod
    def make(cls, cap: int) -> Received:
        return cls(np.zeros(cap, np.int64), np.zeros(cap, np.int16), np.zeros(cap, np.int16),
                   np.zeros(cap, np.int16), np.zeros(cap, np.int16))

    def view(self) -> dict[str, np.ndarray]:
        n = self.n
        return {"frame": self.frame[:n].copy(), "status": self.status[:n].copy(),
                "d1": self.d1[:n].copy(), "d2": self.d2[:n].copy(), "offset": self.offset[:n].copy()}


@dataclass
class HarnessCounters:
    periods: int = 0
    xruns: int = 0
    late_writes: int = 0
    audio_dropped: int = 0
    errors: int = 0
    errors_text: list = field(default_factory=list)


class FrameHarness:
    """A JACK client that writes MIDI at exact frames and timestamps what comes back.

    MIDI outputs ``<name>_out`` and inputs ``<name>_in`` for each name in ``midi``;
    an audio input ``audio_in`` recorded from ``arm_audio()`` on. Inputs are read before
    outputs are written, so a wire from one of its outputs to one of its inputs shows
    the one-period delay every loop through JACK has (the floor).
    """

    def __init__(self, server: JackServer, midi: tuple[str, ...], *, audio: bool = False,
                 audio_seconds: float = 0.0, rx_capacity: int = 1 << 18, name: str = "harness") -> None:
        import jack

        self.jack = jack
        self.client = jack.Client(name, no_start_server=True, servername=server.name)
        self.sr = self.client.samplerate
        self.block = self.client.blocksize
        self.out_names = list(midi)
        self.outs = [self.client.midi_outports.register(f"{m}_out") for m in midi]
        self.ins = [self.client.midi_inports.register(f"{m}_in") for m in midi]
        self.rx = [Received.make(rx_capacity) for _ in midi]
        self.audio_port = self.client.inports.register("audio_in") if audio else None
        self.audio_buf = np.zeros(int(audio_seconds * self.sr) + self.block if audio else 0, np.float32)
        self.audio_origin = -1  # frame of audio_buf[0]; -1: not recording
        self._arm = False
        self.schedule: Schedule | None = None
        self.c = HarnessCounters()
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)

    # -- JACK process thread --
    def _xrun(self, delay_usecs) -> None:
        self.c.xruns += 1

    def _process(self, n: int) -> None:
        try:
            t = self.client.last_frame_time
            self.c.periods += 1
            for port, rx in zip(self.ins, self.rx, strict=False):
                for off, data in port.incoming_midi_events():
                    k = rx.n
                    if k >= len(rx.frame):
                        rx.dropped += 1
                        continue
                    b = bytes(data)
                    rx.frame[k] = t + off
                    rx.offset[k] = off
                    rx.status[k] = b[0]
                    rx.d1[k] = b[1] if len(b) > 1 else -1
                    rx.d2[k] = b[2] if len(b) > 2 else -1
                    rx.n = k + 1
            if self.audio_port is not None:
                if self._arm:
                    self.audio_origin = t
                    self._arm = False
                if self.audio_origin >= 0:
                    i = t - self.audio_origin
                    if i + n <= len(self.audio_buf):
                        self.audio_buf[i:i + n] = self.audio_port.get_array()
                    else:
                        self.c.audio_dropped += n
            for port in self.outs:
                port.clear_buffer()
            s = self.schedule
            if s is not None:
                end = t + n
                fr = s.frames
                while s.i < len(fr) and fr[s.i] < end:
                    off = int(fr[s.i] - t)
                    if off < 0:
                        self.c.late_writes += 1
                        off = 0
                    self.outs[s.port[s.i]].write_midi_event(off, s.msgs[s.i])
                    s.i += 1
        except Exception as exc:  # noqa: BLE001  (the harness keeps running; counted and shown)
            self.c.errors += 1
            if len(self.c.errors_text) < 5:
                self.c.errors_text.append(repr(exc))

    # -- main thread --
    def port(self, kind: str, name: str) -> str:
        """Full JACK name of one of our ports, e.g. port('out', 'dut')."""
        return f"{self.client.name}:{name}_{kind}"

    def __enter__(self) -> FrameHarness:
        self.client.activate()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.client.deactivate()
        finally:
            self.client.close()

    def arm_audio(self) -> None:
        self._arm = True
        deadline = time.monotonic() + 2
        while self.audio_origin < 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        if self.audio_origin < 0:
            raise BenchError("harness process callback is not running")

    def now(self) -> int:
        return self.client.frame_time

    def play(self, events: list[tuple[int, int, bytes]]) -> None:
        """Publish (frame, out_index, message) events; frames must lie in the future."""
        events = sorted(events, key=lambda e: e[0])
        self.schedule = Schedule(np.array([e[0] for e in events], np.int64), [e[2] for e in events],
                                 np.array([e[1] for e in events], np.int64))

    def wait_played(self, timeout: float) -> bool:
        """Wait until every scheduled event has been written (or the timeout)."""
        deadline = time.monotonic() + timeout
        s = self.schedule
        while s is not None and s.i < len(s.frames):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def audio_at(self, frame: int, length: int) -> np.ndarray:
        i = frame - self.audio_origin
        if i < 0 or self.audio_origin < 0:
            return np.zeros(0, np.float32)
        return self.audio_buf[i:i + length]


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="sideman-bench-"))


def note_on(ch: int, note: int, vel: int) -> bytes:
    return bytes((0x90 | (ch - 1), note, vel))


def note_off(ch: int, note: int) -> bytes:
    return bytes((0x80 | (ch - 1), note, 0))
