"""``sideman takes``: the sidecar beside each take and the listing, newest first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from live.midifile import write_take
from live.rig import load_rig_text
from live.session import JamResult
from live.takes import find_takes, format_takes, read_take, sidecar_path, write_sidecar

REPO = Path(__file__).resolve().parent.parent
SR = 48000


def fake_take(folder: Path, *, style: str = "pop", when: datetime | None = None, sidecar: bool = True,
              seconds: float = 4.0) -> Path:
    """A take as sideman jam leaves it: jam.mid (+ png, wav) and the sidecar."""
    folder.mkdir(parents=True, exist_ok=True)
    ev = []
    for i in range(8):
        f = int(i * 0.5 * SR)
        ev += [(f, -1, 0x90, 60 + i, 90), (f + SR // 4, -1, 0x80, 60 + i, 0)]
    ev.append((int(seconds * SR), 0, 0x80, 36, 0))
    mid = folder / "jam.mid"
    write_take(mid, np.array(ev, np.int64), SR, [(-1, "musician", 0, 0), (0, "bass", 1, 33)], 120.0, 4)
    (folder / "jam.png").write_bytes(b"\x89PNG")
    (folder / "jam.wav").write_bytes(b"RIFF")
    if sidecar:
        rig = load_rig_text(f"name: gig\nstyle: {style}\nmode: chords\ntempo: 120\n", source="<test>")
        res = JamResult("jack", "live", folder / "jam.wav", mid, folder / "jam.png", seconds, seconds + 1,
                        stats={"band_notes": 10, "late_events": 0, "chords": [(0, 0, 0, 0, -1)]})
        write_sidecar(res, rig, recorded=when)
    return mid


def test_the_sidecar_says_what_the_midi_file_does_not(tmp_path):
    when = datetime(2026, 11, 3, 21, 15, tzinfo=timezone.utc)
    mid = fake_take(tmp_path / "a", style="bossa-nova", when=when)
    side = json.loads(sidecar_path(mid).read_text())
    assert sidecar_path(mid).name == "jam.take.json"
    assert side["style"] == "bossa-nova" and side["rig"] == "gig" and side["mode"] == "chords"
    assert side["recorded"] == "2026-11-03T21:15:00+00:00" and side["backend"] == "jack"
    assert side["files"] == {"mid": "jam.mid", "wav": "jam.wav", "png": "jam.png"}
    assert side["stats"] == {"band_notes": 10, "late_events": 0}, "counters only, no chord log"
    t = read_take(mid)
    assert t.style == "bossa-nova" and t.recorded == when and t.seconds == 4.0 and t.tempo == 120.0
    assert t.png == tmp_path / "a" / "jam.png" and t.wav == tmp_path / "a" / "jam.wav" and t.notes == 8


def test_takes_newest_first_in_nested_folders(tmp_path):
    base = datetime(2026, 11, 3, 20, 0, tzinfo=timezone.utc)
    fake_take(tmp_path / "old", style="swing", when=base)
    fake_take(tmp_path / "gig" / "set2", style="funk", when=base + timedelta(hours=2))
    fake_take(tmp_path / "new", style="rock", when=base + timedelta(hours=1))
    legacy = fake_take(tmp_path / "legacy", sidecar=False)  # before sidecars: the file's own date
    os.utime(legacy, (time.time() - 86400 * 400, time.time() - 86400 * 400))
    (tmp_path / "other.mid").write_bytes(b"MThd" + bytes(10))  # not a MIDI file mido reads
    import mido

    m = mido.MidiFile()
    tr = mido.MidiTrack([mido.MetaMessage("track_name", name="piano"), mido.Message("note_on", note=60)])
    m.tracks.append(tr)
    m.save(tmp_path / "song.mid")  # a MIDI file, not a take
    (tmp_path / ".hidden").mkdir()
    fake_take(tmp_path / ".hidden", style="pop")
    takes = find_takes(tmp_path)
    assert [t.style for t in takes] == ["funk", "rock", "swing", ""]
    assert takes[-1].mid == legacy and takes[-1].rig == "" and takes[-1].seconds > 3.9
    text = format_takes(takes)
    lines = text.splitlines()
    assert lines[0].split() == ["recorded", "length", "style", "rig", "mode", "bpm", "notes", "take", "piano", "roll"]
    assert lines[1].startswith("2026-11-03 22:00  0:04    funk")
    assert str(tmp_path / "gig" / "set2" / "jam.png") in lines[1]
    assert "  ?  " in lines[4], "no sidecar: style unknown"
    assert format_takes([]) == "no takes"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), JACK_DEFAULT_SERVER="sideman-no-such-server")
    return subprocess.run([sys.executable, "-m", "live.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)


def test_takes_after_jams(tmp_path):
    r = _cli("jam", "--audio", "offline", "--out", "takes/first", "--seconds", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote takes/first/jam.take.json" in r.stdout
    time.sleep(1.1)  # the listing's dates have a second's resolution
    rig = tmp_path / "ballad.yaml"
    rig.write_text("name: late-show\nstyle: ballad\n")
    r = _cli("jam", "--audio", "offline", "--rig", str(rig), "--out", "takes/second", "--seconds", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _cli("takes", "--folder", "takes", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3, r.stdout
    assert "ballad" in lines[1] and "late-show" in lines[1] and "takes/second/jam.mid" in lines[1]
    assert "takes/second/jam.png" in lines[1]
    assert " pop " in lines[2] and "pop-band" in lines[2] and "takes/first/jam.png" in lines[2]
    r = _cli("takes", "--folder", "takes", "--json", cwd=tmp_path)
    doc = json.loads(r.stdout)
    assert [d["style"] for d in doc] == ["ballad", "pop"] and doc[0]["backend"] == "offline"
    assert doc[0]["png"] == "takes/second/jam.png" and 2.5 < doc[0]["seconds"] < 6
    r = _cli("takes", "--folder", "nowhere", cwd=tmp_path)
    assert r.returncode == 2 and "--folder nowhere: no such folder" in r.stderr
