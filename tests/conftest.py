"""Shared fixtures: a real JACK server (dummy backend) started and stopped by PID."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SR, PERIOD = 48000, 64


def _jack_up(env: dict) -> bool:
    return subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=5).returncode == 0


@pytest.fixture(scope="session")
def jack_server():
    """`jackd -d dummy -r 48000 -p 64` under a private server name; yields its env.

    The name keeps tests away from a JACK server the user may be running; every
    client in the tests (pyo, python-rtmidi, jack_* tools) finds it through
    JACK_DEFAULT_SERVER.
    """
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    name = f"sideman-test-{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}.log", "w")
    # real-time scheduling where we may (root, or rtprio): far fewer xruns on a busy box
    rt = os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] > 0
    proc = subprocess.Popen(["jackd", "-R" if rt else "--no-realtime", "-n", name, "-d", "dummy", "-r", str(SR),
                             "-p", str(PERIOD)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 10
    while not _jack_up(env):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"jackd did not start (see {log.name})")
        time.sleep(0.1)
    old = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    try:
        yield {"env": env, "pid": proc.pid, "name": name, "log": log.name}
    finally:
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
