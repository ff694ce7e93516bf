"""sideman chords: k distinct progressions from the model, sorted, fitting the melody."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from live.model import default_model_path  # noqa: E402
from live.studio.chords import (beam_search, character, k_best, run_chords, strong_beat_fit,  # noqa: E402
                                suggest, Progression)
from live.studio.common import Melody, MNote, write_melody_midi  # noqa: E402

if not default_model_path().is_file():
    pytest.skip("the shipped model is not there", allow_module_level=True)


def tune() -> Melody:
    spec = [(64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1), (60, 1), (60, 1), (62, 1),
            (64, 1), (64, 1.5), (62, .5), (62, 2), (64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1),
            (62, 1), (60, 1), (60, 1), (62, 1), (64, 1), (62, 1.5), (60, .5), (60, 2)]
    notes, t = [], 0.0
    for p, d in spec:
        notes.append(MNote(t, d * 0.95, p, 90))
        t += d
    return Melody("tune", tuple(notes), 110.0, 4)


@pytest.fixture(scope="module")
def five():
    return suggest(tune(), 5, seed=0)


def test_k_progressions_distinct_and_sorted_by_likelihood(five):
    progs, key, beats = five
    assert len(progs) == 5 and key == (0, 0) and beats == 32
    lls = [p.loglik for p in progs]
    assert lls == sorted(lls, reverse=True)
    for i in range(5):
        for j in range(i + 1, 5):
            differ = np.mean(np.array(progs[i].chords) != np.array(progs[j].chords))
            assert differ >= 0.25
    assert all(p.label for p in progs)


def test_chords_hold_the_melody_on_strong_beats_more_than_random(five):
    from live.model import class_chord

    progs, _, _ = five
    notes = tune().notes
    fits = [strong_beat_fit(notes, [(b, *class_chord(c)) for b, c in p.changes()], 4) for p in progs]
    rng = np.random.default_rng(0)
    rand = [strong_beat_fit(notes, [(b * 2.0, int(rng.integers(12)), int(rng.integers(13))) for b in range(16)], 4)
            for _ in range(50)]
    assert np.mean(fits) > np.mean(rand) + 0.2 and min(fits) > np.mean(rand)


def test_reproducible(five):
    again, _, _ = suggest(tune(), 5, seed=0)
    assert [p.chords for p in again] == [p.chords for p in five[0]]


def test_beam_search_finds_the_best_path_with_change_costs():
    seg = np.log(np.full((4, 3), 0.1))
    seg[:, 0] = np.log(0.5)
    seg[2, 1] = np.log(0.6)  # a slightly better chord for one segment: not worth two changes
    assert beam_search(seg, np.zeros_like(seg), change_cost=0.6) == (0, 0, 0, 0)
    assert beam_search(seg, np.zeros_like(seg), change_cost=0.0) == (0, 0, 1, 0)


def test_k_best_pushes_away_from_kept_progressions():
    rng = np.random.default_rng(1)
    lp = np.log(rng.dirichlet(np.ones(20), size=32))
    progs = k_best(lp, 4, 4)
    assert len(progs) == 4 and len({p.chords for p in progs}) == 4


def test_character_labels():
    c, f, g, am = 0 * 13, 5 * 13, 7 * 13, 9 * 13 + 1
    assert character(Progression((c, f, g, c), 2, 0, 8), (0, 0)) == "bright-diatonic"
    assert character(Progression((c, c, c, c, c, g), 2, 0, 8), (0, 0)) == "pedal-static"
    d7, g7 = 2 * 13 + 6, 7 * 13 + 6
    assert character(Progression((c, d7, g7, c), 2, 0, 8), (0, 0)) == "jazz-reharmonisation"
    bb = 10 * 13
    assert character(Progression((c, bb, f, c, bb, c), 2, 0, 8), (0, 0)) == "modal"
    assert character(Progression((am, 2 * 13 + 1, 4 * 13 + 1, am), 2, 0, 8), (9, 1)) == "minor"


def test_renders_each_progression_and_writes_json(tmp_path):
    path = tmp_path / "tune.mid"
    write_melody_midi(path, [("melody", tune().notes[:15], 0, 0)], 110, 4)
    doc = run_chords(str(path), tmp_path / "o", k=2, seed=0, progress=None)
    assert len(doc["progressions"]) == 2 and doc["render"]["ratio"] > 1.0
    for p in doc["progressions"]:
        assert p["chords"][0]["onset_beats"] == 0.0 and p["chords"][0]["symbol"]
        for k in ("mid", "wav", "png"):
            assert (tmp_path / "o" / p[k]).stat().st_size > 100
    assert json.loads((tmp_path / "o" / "tune-chords.json").read_text())["progressions"][0]["rank"] == 1
