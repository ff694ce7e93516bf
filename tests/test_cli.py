"""The command line as a user meets it (no JACK server needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sideman(*args, cwd=None, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("JACK_DEFAULT_SERVER", None)
    env["JACK_DEFAULT_SERVER"] = "sideman-no-such-server"  # never see a user's JACK here
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "live.cli", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_devices_without_jack_says_what_it_would_use():
    r = sideman("devices")
    assert r.returncode == 0, r.stderr
    assert "JACK server: not running" in r.stdout
    assert "audio: offline" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_rigs_lists_the_built_in_rigs():
    r = sideman("rigs")
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert names == ["jazz-trio", "pop-band", "practice", "solo-keys"]


def test_a_bad_rig_is_a_clear_error(tmp_path):
    bad = tmp_path / "duo.yaml"
    bad.write_text("tempo: 120\nband:\n  bass:\n    channel: 17\n")
    r = sideman("jam", "--rig", str(bad), "--audio", "offline", "--out", str(tmp_path))
    assert r.returncode == 2
    assert f"{bad}:4 band.bass.channel must be 1..16, got 17" in r.stderr
    r = sideman("jam", "--rig", str(tmp_path / "nope.yaml"), "--audio", "offline")
    assert r.returncode == 2 and "rig file not found" in r.stderr


def test_a_bad_input_file_is_a_clear_error(tmp_path):
    notmidi = tmp_path / "song.mid"
    notmidi.write_text("hello")
    r = sideman("jam", "--audio", "offline", "--input", str(notmidi), "--out", str(tmp_path))
    assert r.returncode == 2
    assert str(notmidi) in r.stderr and "not a Standard MIDI File" in r.stderr
    assert not (tmp_path / "jam.wav").exists(), "a failed jam must not leave a take behind"
