"""``sideman eval`` end to end on music21's lead sheets, and the paired bootstrap that says
whether the online band is above the score's chords or only seems so on these pieces."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("music21", reason="music21 is not installed: the eval reads a dataset built with it")

from live.evaluate import against_reference  # noqa: E402


def piece(inside: int, steps: int, changes: int) -> dict:
    return {"inside": inside, "melody_steps": steps, "changes": changes}


def test_the_bootstrap_interval_holds_the_difference_and_is_seeded():
    rng = np.random.default_rng(0)
    ref = [piece(int(rng.integers(60, 90)), 100, int(rng.integers(8, 12))) for _ in range(60)]
    same = against_reference(ref, ref)
    assert same["note_in_chord_diff"] == 0.0 and same["note_in_chord_diff_ci95"] == [0.0, 0.0]
    assert same["changes_ratio"] == 1.0
    # a band 5 points better on every piece, changing chord 1.2x as often: the interval says so
    better = [piece(r["inside"] + 5, 100, round(r["changes"] * 1.2)) for r in ref]
    v = against_reference(better, ref)
    assert v["note_in_chord_diff"] == pytest.approx(0.05)
    lo, hi = v["note_in_chord_diff_ci95"]
    assert lo <= 0.05 <= hi and lo > 0.0
    assert 1.1 < v["changes_ratio_ci95"][0] <= v["changes_ratio"] <= v["changes_ratio_ci95"][1] < 1.3
    # a band better on some pieces and worse on others, by a little: the interval spans 0
    mixed = [piece(r["inside"] + (6 if i % 2 else -5), 100, r["changes"]) for i, r in enumerate(ref)]
    m = against_reference(mixed, ref)
    assert m["note_in_chord_diff_ci95"][0] < 0.0 < m["note_in_chord_diff_ci95"][1]
    assert against_reference(mixed, ref) == m  # seeded
    with pytest.raises(ValueError, match="2 model and 3 reference"):
        against_reference(ref[:2], ref[:3])


def test_sideman_eval_on_a_lead_sheet_writes_the_table_the_json_the_chart_and_the_card(tmp_path):
    from live.model import FLOAT_MODEL, default_model_path
    from live.train.data import build_dataset

    data = build_dataset(["leadsheets"], tmp_path / "lead.npz", progress=None)
    models = tmp_path / "models"
    models.mkdir()
    shipped = default_model_path()
    for f in (shipped, shipped.with_name(FLOAT_MODEL), shipped.with_suffix(".json")):
        shutil.copy(f, models / f.name)
    out = tmp_path / "eval.json"
    r = subprocess.run([sys.executable, "-m", "live.cli", "eval", "--data", str(data), "--split", "val",
                        "--model", str(models / "accompanist.onnx"), "--json", str(out), "--card"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| leadsheets | model (online) |" in r.stdout and "95% CI" in r.stdout
    assert "sources leadsheets (as built" in r.stdout  # the dataset given is read, not rebuilt
    res = json.loads(out.read_text())
    online = res["by_source"]["leadsheets"]["model (online)"]
    ref = res["by_source"]["leadsheets"]["reference"]
    assert res["pieces"] == 1 and ref["note_in_chord"] > 0.5
    v = online["vs_reference"]
    assert v["note_in_chord_diff"] == pytest.approx(online["note_in_chord"] - ref["note_in_chord"])
    assert v["note_in_chord_diff_ci95"][0] == pytest.approx(v["note_in_chord_diff"])  # one piece: no spread
    assert online["note_in_chord"] > res["by_source"]["leadsheets"]["rules"]["note_in_chord"] - 0.2
    assert out.with_suffix(".png").stat().st_size > 1000
    card = json.loads((models / "accompanist.json").read_text())
    assert card["evaluation"]["by_source"] == res["by_source"] and "packed" in card and "ahead" in card


def test_sideman_eval_on_a_folder_of_songs_and_a_split_with_none(tmp_path):
    """``sideman eval --data DIR``: the folder's songs with chords are measured (it used to
    build the default corpora and crash writing their dataset over the folder); a split
    that holds none of them is a clear error."""
    from modeltools import write_songs

    songs = write_songs(tmp_path / "songs", 6)
    out = tmp_path / "eval.json"
    r = subprocess.run([sys.executable, "-m", "live.cli", "eval", "--data", str(songs), "--split", "train",
                        "--limit", "2", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["pieces"] == 2 and len(res["by_source"]) == 1
    row = next(iter(res["by_source"].values()))
    assert row["reference"]["note_in_chord"] > 0.9  # the songs' melodies arpeggiate their chords
    assert not list(songs.glob("*.npz")) and sorted(p.name for p in songs.iterdir())[0] == "song00.mid"
    from live.train.data import build_dataset, load_dataset

    ds = load_dataset(build_dataset([f"folder:{songs}"], tmp_path / "check.npz", progress=None))
    empty = [s for s in ("val", "test") if s not in set(ds.arrays["split"].tolist())]
    assert empty, "six songs all in val and test: pick another count"
    r = subprocess.run([sys.executable, "-m", "live.cli", "eval", "--data", str(songs), "--split", empty[0]],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and f"no piece with chords in its '{empty[0]}' split" in r.stderr, r.stderr[-800:]


def test_a_melody_played_with_a_musicians_timing():
    """``--timing-ms``: each onset moves by a seeded normal draw (about the SD asked for,
    never past 2.5 SD), no two notes overlap, the same seed plays the same, and 0 is the
    grid exactly."""
    from live.evaluate import melody_performance

    rng = np.random.default_rng(0)
    mel = rng.integers(0, 12, 400)
    on = np.ones(400, np.int64)
    grid = melody_performance(mel, on, None, 120.0)
    assert np.allclose([t for t, m in zip(grid.times, grid.messages, strict=True) if m[0] == 0x90],
                       np.arange(400) * 0.25)

    def played(seed):
        return melody_performance(mel, on, None, 120.0, 10.0, np.random.default_rng(seed))

    a, b, c = played(1), played(1), played(2)
    assert np.array_equal(a.times, b.times) and not np.array_equal(a.times, c.times)
    ons = np.array([t for t, m in zip(a.times, a.messages, strict=True) if m[0] == 0x90])
    shift = (ons - np.arange(400) * 0.25)[1:] * 1000.0  # the first may be clipped at 0
    assert 8.5 < shift.std() < 11.5 and np.abs(shift).max() <= 25.0 + 1e-9
    sounding = 0
    for _t, m in zip(a.times, a.messages, strict=True):
        sounding += 1 if m[0] == 0x90 else -1
        assert sounding in (0, 1)  # one note at a time: no overlap
