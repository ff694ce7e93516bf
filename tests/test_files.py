"""Files (issue 7): bad inputs give a clear error naming the file (exit 2, no traceback);
outputs are never half-written (a temporary file, fsync, rename); an unwritable --out is
refused before the work; a full disk mid-take is said once, the music goes on and what
was recorded is kept; a killed jam loses at most the last half second of its take.

A full disk is simulated without root: a subprocess whose file size limit
(RLIMIT_FSIZE) is small, so writes past it fail with EFBIG (Python ignores SIGXFSZ).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from live.atomicfile import atomic_write, check_out_dir, write_bytes, write_text
from live.errors import OutputFileError
from live.midifile import TakeJournal, read_journal

REPO = Path(__file__).resolve().parent.parent
ROOT = os.geteuid() == 0
SR = 48000


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), JACK_DEFAULT_SERVER="sideman-no-such-server")


def _py(code: str, cwd: Path, fsize: int | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python, with the file size limit ``fsize`` (soft; the hard
    limit stays, so the code may lift it again)."""
    pre = "import resource, sys\n"
    if fsize is not None:
        pre += f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
    return subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _sideman(args: list[str], cwd: Path, fsize: int | None = None) -> subprocess.CompletedProcess:
    return _py(f"from live.cli import main\nsys.exit(main({args!r}))", cwd, fsize)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# -- the writer -----------------------------------------------------------------------------

def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    p = tmp_path / "out.json"
    write_text(p, "old")
    assert p.read_text() == "old" and _files(tmp_path) == ["out.json"]

    def half(tmp: Path) -> None:
        tmp.write_text("half a fi")
        raise RuntimeError("crashed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(p, half)
    assert p.read_text() == "old" and _files(tmp_path) == ["out.json"], "no temporary file left"
    write_bytes(p, b"new")
    assert p.read_bytes() == b"new" and _files(tmp_path) == ["out.json"]


def test_atomic_write_under_a_file_or_in_a_missing_folder_says_which_path(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputFileError, match=r"a part of the path is a file, not a folder while writing "
                                              r".*a_file/x.mid"):
        write_text(tmp_path / "a_file" / "x.mid", "data")
    with pytest.raises(OutputFileError, match=r"no such folder while writing .*nowhere/x.json"):
        write_text(tmp_path / "nowhere" / "x.json", "data")


@pytest.mark.skipif(ROOT, reason="running as root: chmod 0o500 does not stop root from writing; the "
                                 "path-under-a-file and file-size-limit tests cover this for root too")
def test_no_permission_names_the_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputFileError, match=f"no permission to write in {ro}"):
            write_text(ro / "x.json", "data")
        with pytest.raises(OutputFileError, match=f"--out {ro}: no permission to write in this folder"):
            check_out_dir(ro)
    finally:
        ro.chmod(0o700)


def test_check_out_dir(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputFileError, match=r"--out .*f/take: cannot make the folder: a part of the path is a file"):
        check_out_dir(tmp_path / "f" / "take")
    with pytest.raises(OutputFileError, match=r"--out .*/f: not a folder"):
        check_out_dir(tmp_path / "f")
    with pytest.raises(OutputFileError, match=r"MB free on its disk, \d+ MB needed"):
        check_out_dir(tmp_path / "new", need_bytes=1 << 62)
    assert check_out_dir(tmp_path / "a" / "b").is_dir()
    assert _files(tmp_path) == ["f"], "the write test leaves nothing behind"


def test_a_full_disk_mid_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "take.wav"
    p.write_bytes(b"the earlier take")
    r = _py(f"""
        from live.atomicfile import write_bytes
        from live.errors import OutputFileError
        try:
            write_bytes({str(p)!r}, bytes(1_000_000))
        except OutputFileError as exc:
            print(exc)
        """, tmp_path, fsize=100_000)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"the file size limit was reached (ulimit -f) while writing {p}"
    assert p.read_bytes() == b"the earlier take" and _files(tmp_path) == ["take.wav"]


# -- the journal ------------------------------------------------------------------------------

def test_the_journal_on_a_full_disk_holds_whole_records_and_catches_up(tmp_path):
    """The disk refuses a flush: the file is cut back to its last whole record, the
    events stay in memory, and once there is room again the next flush writes them all."""
    j = tmp_path / "jam.journal"
    r = _py(f"""
        import resource
        from pathlib import Path
        from live.engine import MUSICIAN, Recorder
        from live.midifile import TakeJournal, read_journal
        rec = Recorder(capacity=10_000)
        jr = TakeJournal(Path({str(j)!r}), rec, {{"sr": 48000, "tempo": 120, "meter": 4, "tracks": []}})
        head = Path({str(j)!r}).stat().st_size
        for i in range(100):
            rec.add(i, MUSICIAN, 0x90, 60, 100)
        jr.flush()
        for i in range(100, 400):
            rec.add(i, MUSICIAN, 0x80, 60, 0)
        try:
            jr.flush()
            print("no error")
        except OSError as exc:
            print("refused", exc.errno)
        size = Path({str(j)!r}).stat().st_size
        print("whole", (size - head) % 12 == 0, (size - head) // 12)
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        print("caught up", jr.flush())
        jr.crash()
        _, ev = read_journal(Path({str(j)!r}))
        print("events", len(ev), ev[:, 0].tolist() == list(range(400)))
        """, tmp_path, fsize=3000)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "refused 27", lines  # EFBIG
    assert lines[1] == "whole True 100", "cut back to the records of the first flush"
    assert lines[2] == "caught up 300" and lines[3] == "events 400 True"


def test_the_journal_keeps_up_with_the_take(tmp_path):
    """Offline the journal is appended every half second of audio: whenever the process
    dies, the file on disk holds every event older than that."""
    from test_engine import chord_perf, make_engine

    from live.session import JOURNAL_PERIOD_S, JournalWriter

    eng = make_engine(mode="chords")
    perf, dur = chord_perf(1)
    from live.midifile import FileInput

    src = FileInput(perf, SR, lead_in_s=0.0)
    src.start(0)
    eng.file_source = src
    path = tmp_path / "jam.journal"
    journal = TakeJournal(path, eng.recorder, {"sr": SR, "tempo": 120, "meter": 4, "tracks": []})
    writer = JournalWriter(journal)
    eng.start()
    every, next_flush, worst = int(JOURNAL_PERIOD_S * SR), int(JOURNAL_PERIOD_S * SR), 0
    rng = np.random.default_rng(3)
    checks = set(rng.integers(100, int(dur * SR / eng.clock.block), size=40).tolist())
    for b in range(int(dur * SR / eng.clock.block)):
        eng.tick()
        eng.planner.step()
        now = eng.clock.block_end
        if now >= next_flush:  # as run_offline does
            writer.flush()
            next_flush = now + every
        if b in checks:  # the process "dies" here: what is on disk?
            _, on_disk = read_journal(path)
            ev = eng.recorder.events()
            missing = ev[len(on_disk):]
            assert on_disk.tolist() == ev[: len(on_disk)].tolist()
            if len(missing):
                worst = max(worst, now - int(missing[:, 0].min()))
    journal.close()
    print(f"the journal lags the take by at most {worst / SR * 1000:.0f} ms (period {JOURNAL_PERIOD_S} s)")
    assert worst <= (JOURNAL_PERIOD_S + 0.1) * SR


# -- jams: kill -9, a full disk, no place to write ----------------------------------------------

def test_a_jam_killed_mid_take_loses_at_most_the_last_second(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "live.cli", "jam", "--audio", "offline", "--no-view", "--out",
                             "take", "--chart", "blues-in-f", "--loop", "A", "--seconds", "120"],
                            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = tmp_path / "take" / ".jam.part.wav"
    journal = tmp_path / "take" / "jam.journal"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if part.exists() and part.stat().st_size > 6 * SR * 4 and journal.exists():
                break  # more than 4 s recorded
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wav_s = (part.stat().st_size - 44) / 6 / SR
    _, ev = read_journal(journal)
    journal_s = ev[:, 0].max() / SR
    print(f"killed at {wav_s:.2f} s of audio; the journal's last event at {journal_s:.2f} s")
    assert journal_s >= wav_s - 1.0
    r = _sideman(["takes", "--recover", "--folder", "take"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "recovered the take a crash left in take" in r.stdout
    mids = sorted((tmp_path / "take").glob("jam-recovered-*.mid"))
    wavs = sorted((tmp_path / "take").glob("jam-recovered-*.wav"))
    assert len(mids) == 1 and len(wavs) == 1 and not journal.exists() and not part.exists()
    import mido

    assert mido.MidiFile(mids[0]).length >= wav_s - 1.0
    with wave.open(str(wavs[0])) as w:
        assert abs(w.getnframes() / SR - wav_s) < 0.01  # the header repaired: all of it plays


def test_a_full_disk_while_recording_keeps_the_take_and_the_music_goes_on(tmp_path):
    r = _sideman(["jam", "--audio", "offline", "--no-view", "--out", "take", "--seconds", "4"], tmp_path,
                 fsize=300_000)  # ~1 s of 24-bit stereo at 48 kHz
    out = tmp_path / "take"
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if "sideman: error:" in line]
    assert errors == [line for line in r.stderr.splitlines() if line.strip()], r.stderr
    assert len(errors) == 1
    assert ("the file size limit was reached (ulimit -f) while writing take/jam.wav: the recording stops at "
            in errors[0]) and "what was recorded before is kept and plays" in errors[0]
    assert "the music was not stopped" in errors[0] and "take/jam.mid and take/jam.png are complete" in errors[0]
    assert _files(out) == ["jam.mid", "jam.png", "jam.wav"], "no temporary file, no journal left"
    with wave.open(str(out / "jam.wav")) as w:
        kept = w.getnframes() / SR
    assert 0.5 < kept < 1.2
    import mido

    assert mido.MidiFile(out / "jam.mid").length > 3.5, "the band played on to the end"


@pytest.mark.parametrize("cmd", [
    ["jam", "--audio", "offline", "--no-view", "--seconds", "2"],
    ["harmonize", "MELODY", "--rules"],
    ["vary", "MELODY", "-n", "1"],
    ["chords", "MELODY", "-k", "1"],
    ["groove", "--bars", "1"],
    ["arrange", "MELODY", "--no-audio"],
    ["soundscape", "--minutes", "0.05"],
    ["sketch", "a short calm piano tune"],
    ["render", "--style", "pop"],
    ["master", "IN.wav"],
], ids=lambda c: c[0])
def test_an_unwritable_out_is_refused_before_the_work(tmp_path, cmd):
    from live.demo import build

    build(tmp_path / "melody.mid")
    _write_wav(tmp_path / "in.wav")
    (tmp_path / "a_file").write_text("x")
    args = [{"MELODY": "melody.mid", "IN.wav": "in.wav"}.get(a, a) for a in cmd] + ["--out", "a_file/out"]
    if cmd[0] == "master":
        args[-1] = "a_file/out/mastered.wav"
    t0 = time.perf_counter()
    r = _sideman(args, tmp_path)
    wall = time.perf_counter() - t0
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "a_file/out" in r.stderr and "a part of the path is a file" in r.stderr, r.stderr
    assert "rendering" not in r.stdout and "synthesizing" not in r.stdout, "refused before the work"
    assert _files(tmp_path) == ["a_file", "in.wav", "melody.mid"]
    print(f"{cmd[0]}: refused in {wall:.1f} s")


# -- bad inputs --------------------------------------------------------------------------------

def _write_wav(path: Path, seconds: float = 1.0) -> None:
    t = np.arange(int(seconds * SR)) / SR
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(x.tobytes())


def _bad(tmp: Path, kind: str, real: Path) -> Path:
    """A bad stand-in for the file ``real``, of the same name in ``tmp``/bad."""
    p = tmp / "bad" / real.name
    p.parent.mkdir(exist_ok=True)
    if kind == "missing":
        return p
    if kind == "folder":
        p.mkdir()
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        raw = real.read_bytes()
        # YAML cut at a line end can still be a valid file (and is loaded as one): cut it
        # inside its last [...] or {...}; binary files three quarters in
        cut = max(raw.rfind(b"["), raw.rfind(b"{")) + 2 if real.suffix == ".yaml" else len(raw) * 3 // 4
        p.write_bytes(raw[: max(6, cut)])
    elif kind == "garbage":
        p.write_bytes(bytes(np.random.default_rng(5).integers(0, 256, 2000, dtype=np.uint8)))
    elif kind == "wrong-type":  # a MIDI file where YAML or WAV is wanted; a WAV where MIDI is
        src = tmp / ("in.wav" if real.suffix == ".mid" else "melody.mid")
        p.write_bytes(src.read_bytes())
    return p


# (command, the argument that is a file, the real file it stands for, the file's kind)
READERS = [
    (["jam", "--audio", "offline", "--no-view", "--seconds", "2", "--rig"], "rig.yaml"),
    (["jam", "--audio", "offline", "--no-view", "--seconds", "2", "--chart"], "chart.yaml"),
    (["jam", "--audio", "offline", "--no-view", "--seconds", "2", "--input"], "melody.mid"),
    (["render", "--style", "mine", "--styles", "bad"], "mine.yaml"),
    (["harmonize", "--rules"], "melody.mid"),
    (["vary", "-n", "1"], "melody.mid"),
    (["chords", "-k", "1"], "melody.mid"),
    (["arrange", "--no-audio"], "melody.mid"),
    (["master"], "in.wav"),
    (["mix"], "in.wav"),
]
KINDS = ["missing", "folder", "empty", "truncated", "garbage", "wrong-type"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    from live.demo import build

    build(d / "melody.mid")
    _write_wav(d / "in.wav")
    (d / "rig.yaml").write_text("name: gig\nstyle: rock\nmode: chords\ntempo: 110\nband:\n"
                                "  bass: {role: bass, instrument: bass, channel: 2}\n")
    from live.chart import charts_dir
    from live.styles import shipped_styles_dir

    (d / "chart.yaml").write_text((charts_dir() / "blues-in-f.yaml").read_text())
    (d / "mine.yaml").write_text((shipped_styles_dir() / "pop.yaml").read_text().replace("name: pop", "name: mine"))
    from live.styles import load_style

    from live.chart import load_chart
    from live.rig import load_rig

    assert load_style(d / "mine.yaml").name == "mine", "the good files load: only their bad copies fail"
    assert load_rig(d / "rig.yaml").name == "gig" and load_chart(d / "chart.yaml").title
    return d


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cmd,real", READERS, ids=[f"{c[0]}{'-' + c[-1] if c[-1].startswith('--') else ''}"
                                                   for c, _ in READERS])
def test_a_bad_input_names_the_file_and_writes_nothing(tmp_path, monkeypatch, capsys, inputs, cmd, real, kind):
    from live.cli import main

    if cmd[0] == "render" and kind == "folder":
        pytest.skip("a style is looked up by name in --styles: a folder there is not a style file")
    for f in inputs.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    monkeypatch.chdir(tmp_path)
    bad = _bad(tmp_path, kind, tmp_path / real).relative_to(tmp_path)
    if cmd[0] == "render":
        args = cmd + ["--out", "out"]
    elif cmd[0] == "master":
        args = cmd + [str(bad), "out/mastered.wav"]
    elif cmd[0] == "mix":
        args = cmd + ["in.wav", str(bad), "--out", "out/mix.wav"]
    elif cmd[-1].startswith("--"):
        args = cmd + [str(bad), "--out", "out"]
    else:
        args = cmd + [str(bad), "--out", "out"]
    if cmd[0] == "render" and kind == "missing":
        bad = Path("bad")  # a style is found by name in --styles: the message names the folder searched
    before = _files(tmp_path)
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("sideman: error: ") and "Traceback" not in err
    assert str(bad) in err, f"the message names the file: {err}"
    assert _files(tmp_path) == before, "nothing written, not even half a file"
    print(f"{cmd[0]} {kind}: {err.strip()}")


def test_a_full_disk_during_a_live_take_is_said_once_and_the_writer_goes_on(tmp_path):
    """Live, the journal writer thread meets the full disk (the audio clock never
    writes): one note, then it keeps trying; the WAV's stall is noticed from its size."""
    from live.engine import MUSICIAN, Recorder
    from live.session import DiskTrouble, JournalWriter

    class FullDisk:
        path = tmp_path / "jam.journal"

        def flush(self):
            raise OSError(28, "No space left on device")

    class StalledWav:
        path = tmp_path / "jam.wav"

        def sync(self):
            pass

        def stalled(self):
            return True

        def why(self):
            return "no space left on device"

        def on_disk_s(self):
            return 12.5

    said: list[str] = []
    disk = DiskTrouble(said.append)
    w = JournalWriter(FullDisk(), disk=disk, wav=StalledWav())
    for _ in range(5):
        w.flush()
    assert w.errors == 5 and disk.count == 10
    assert said == [f"note: no space left on device while writing {tmp_path / 'jam.journal'}: the band plays on; "
                    "what was recorded before is kept"]
    rec = Recorder(capacity=100)
    rec.add(1, MUSICIAN, 0x90, 60, 100)
    j = TakeJournal(tmp_path / "ok.journal", rec, {"sr": SR, "tracks": []})
    with JournalWriter(j, period=0.01):  # the thread: flushes on its own, and once more at the end
        rec.add(2, MUSICIAN, 0x80, 60, 0)
    assert len(read_journal(tmp_path / "ok.journal")[1]) == 2
    j.close(remove=True)


def test_a_model_card_section_is_set_and_the_rest_kept(tmp_path):
    """The training stages and `sideman eval --card` record their section in the card
    (live.atomicfile.update_json): the other sections stay, a missing card is started only
    where asked, and the file is replaced whole."""
    import json

    from live.atomicfile import update_json

    card = tmp_path / "accompanist.json"
    assert not update_json(card, "packed", {"a": 1}) and not card.exists()
    assert update_json(card, "evaluation", {"pieces": 3}, create=True)
    assert update_json(card, "packed", {"a": 1})
    assert update_json(card, "evaluation", {"pieces": 4})
    assert json.loads(card.read_text()) == {"evaluation": {"pieces": 4}, "packed": {"a": 1}}
    assert [p.name for p in tmp_path.iterdir()] == ["accompanist.json"]  # no temp file left
