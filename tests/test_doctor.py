"""``sideman doctor``: each check on made-up inputs, and the whole report on this machine."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from live import doctor
from live.doctor import FAIL, OK, WARN, Check, Facts

REPO = Path(__file__).resolve().parent.parent


def run_doctor(env_extra: dict | None = None, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "live.cli", "doctor", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def governors(tmp_path: Path, *names: str) -> Path:
    for i, g in enumerate(names):
        d = tmp_path / f"cpu{i}" / "cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_governor").write_text(g + "\n")
    (tmp_path / "cpuidle").mkdir()
    return tmp_path


def test_cpu_governor(tmp_path):
    (c,) = doctor.check_governor(tmp_path / "none")
    assert c.level == OK and "not exposed" in c.detail
    (c,) = doctor.check_governor(governors(tmp_path / "a", "performance", "performance"))
    assert c.level == OK and "performance on 2 of 2 CPUs" in c.detail
    (c,) = doctor.check_governor(governors(tmp_path / "b", "performance", "powersave"))
    assert c.level == WARN and "powersave on 1 of 2 CPUs" in c.detail
    assert "cpupower frequency-set -g performance" in c.fix


def test_real_time_privileges():
    def limits(rtprio, memlock):
        table = {resource.RLIMIT_RTPRIO: (rtprio, rtprio), resource.RLIMIT_MEMLOCK: (memlock, memlock)}
        return table.__getitem__

    rt, mem = doctor.check_realtime(limits(0, 64 * 1024), euid=1000, fifo=lambda: "Operation not permitted")
    assert rt.level == WARN and "SCHED_FIFO refused" in rt.detail and "rtprio limit 0" in rt.detail
    assert "limits.d" in rt.fix and "audio" in rt.fix
    assert mem.level == WARN and "64 KiB" in mem.detail
    rt, mem = doctor.check_realtime(limits(95, resource.RLIM_INFINITY), euid=1000, fifo=lambda: "")
    assert rt.level == OK and "rtprio limit 95" in rt.detail
    assert mem.level == OK and "unlimited" in mem.detail
    rt, mem = doctor.check_realtime(limits(0, 8 << 20), euid=0, fifo=lambda: "")
    assert rt.level == OK and "root" in rt.detail and mem.level == OK


def test_live_audio_verdict():
    assert doctor.check_live_audio(Facts(jack=False, portaudio_outputs=0))[0].level == FAIL
    assert doctor.check_live_audio(Facts(jack=True))[0].level == OK
    assert doctor.check_live_audio(Facts(portaudio_outputs=2))[0].level == OK


def test_numba_cache_without_a_writable_folder(monkeypatch, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(doctor, "numba_cache_dirs", lambda: [("NUMBA_CACHE_DIR", ro / "x")])
    monkeypatch.setattr(doctor, "_writable", lambda d: False)
    (c,) = doctor.check_numba_cache()
    assert c.level == WARN and "NUMBA_CACHE_DIR" in c.fix
    monkeypatch.setattr(doctor, "_writable", lambda d: True)
    (c,) = doctor.check_numba_cache()
    assert c.level == OK and "writable" in c.detail


def test_the_shipped_model_and_rig_load():
    (m,) = doctor.check_model()
    assert m.level == OK and "accompanist.onnx" in m.detail and "p99" in m.detail
    (r,) = doctor.check_rig(None)
    assert r.level == OK and "pop-band" in r.detail
    (r,) = doctor.check_rig("no-such-rig")
    assert r.level == FAIL and "not found" in r.detail


def test_report_and_exit_status(monkeypatch, capsys):
    checks = [Check("a", OK, "fine"), Check("b", WARN, "slow", "do x"), Check("c", FAIL, "broken", "do y")]
    text = doctor.report(checks)
    assert "fix: do x" in text and "fix: do y" in text and "fine" in text
    assert "1 problem blocks a live jam" in text and "1 warning" in text
    monkeypatch.setattr(doctor, "run_checks", lambda rig=None: checks)
    assert doctor.main() == 1
    monkeypatch.setattr(doctor, "run_checks", lambda rig=None: checks[:2])
    assert doctor.main() == 0
    assert "Nothing blocks a jam; 1 warning." in capsys.readouterr().out


def test_a_check_that_crashes_is_reported_not_raised(monkeypatch):
    def boom():
        raise RuntimeError("kaput")

    monkeypatch.setattr(doctor, "check_governor", boom)
    checks = doctor.run_checks()
    gov = [c for c in checks if c.name == "CPU governor"]
    assert gov and gov[0].level == WARN and "kaput" in gov[0].detail


def _check_output(r: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Sideman doctor"
    for name in ("python", "audio engine", "JACK", "PortAudio", "live audio", "MIDI", "real-time priority",
                 "memory lock", "CPU governor", "rig", "model", "numba cache"):
        assert any(line[8:].startswith(name) for line in lines), f"no {name!r} line in\n{r.stdout}"
    fails = [line for line in lines if line.startswith("  FAIL")]
    assert r.returncode == (1 if fails else 0), r.stdout
    assert ("blocks a live jam" if fails else "Nothing blocks a jam") in lines[-1]
    # every warning and failure says how to fix it
    for i, line in enumerate(lines):
        if line.startswith(("  warn", "  FAIL")):
            rest = lines[i + 1:]
            nxt = next((j for j, x in enumerate(rest) if x.startswith("  ") and x[2:6].strip()), len(rest))
            assert any("fix:" in x for x in rest[:nxt]), f"no fix for: {line}"
    return lines


def test_doctor_on_this_machine_without_jack():
    r = run_doctor({"JACK_DEFAULT_SERVER": "sideman-no-such-server"})
    lines = _check_output(r)
    jack = next(line for line in lines if "JACK server" in line)
    assert "not running" in jack and "sideman-no-such-server" in jack


@pytest.mark.jack
def test_doctor_with_a_jack_server(jack_server):
    r = run_doctor(jack_server["env"])
    lines = _check_output(r)
    text = "\n".join(lines)
    assert "JACK server         running, 48000 Hz, 64 frames per period (1.33 ms)" in text
    assert any(line.startswith("  ok    live audio") for line in lines)
    assert any(line.startswith("  ok    MIDI Jack") for line in lines)
    assert not any(line.startswith("  FAIL") for line in lines), text
    assert r.returncode == 0


def test_a_cold_numba_cache_is_seen_before_the_first_jam_waits_on_it(monkeypatch, tmp_path):
    """``cached_kernels``: 0 in an empty cache folder (the jam then says the first run
    compiles), the count of compiled kernels otherwise, -1 where numba could write nowhere."""
    cache = tmp_path / "nb"
    monkeypatch.setattr(doctor, "numba_cache_dirs", lambda: [("NUMBA_CACHE_DIR", cache)])
    assert doctor.cached_kernels() == 0
    (cache / "choose.fit_scores-42.py311.nbi").write_bytes(b"")
    (cache / "choose.fit_scores-42.py311.1.nbc").write_bytes(b"")
    assert doctor.cached_kernels() == 1
    (c,) = doctor.check_numba_cache()
    assert c.level == OK and "1 kernels cached" in c.detail
    monkeypatch.setattr(doctor, "_writable", lambda d: False)
    assert doctor.cached_kernels() == -1
