"""sideman vary: distinct, related variations of an idea, scored, rendered, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from live.errors import InputFileError, OutputExistsError
from live.studio.common import MNote, quantize, write_melody_midi
from live.studio.vary import TECHNIQUES, make_variations, prepare_idea, run_vary, similarity

LOW, HIGH = 0.5, 0.98  # every variation's similarity to its idea lies in here (a displaced riff of eighths: 0.968)
PAIR_HIGH = 0.95  # two variations are never this alike


def ode() -> list[MNote]:
    out, t = [], 0.0
    for p, d in [(64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1), (60, 1), (60, 1),
                 (62, 1), (64, 1), (64, 1.5), (62, .5), (62, 2)]:
        out.append(MNote(t, d, p, 90))
        t += d
    return out


def riff() -> list[MNote]:  # a syncopated minor riff with eighths and a leap
    spec = [(0, .5, 57), (.5, .5, 60), (1, .5, 64), (1.5, 1, 62), (2.5, .5, 60), (3, 1, 57), (4, .5, 69),
            (4.5, .5, 67), (5, .5, 64), (5.5, .5, 62), (6, 2, 64)]
    return [MNote(o, d, p, 96) for o, d, p in spec]


def idea_file(tmp_path: Path, notes, name="idea") -> Path:
    path = tmp_path / f"{name}.mid"
    write_melody_midi(path, [("melody", notes, 0, 0)], 120, 4)
    return path


@pytest.mark.parametrize("make", [ode, riff])
def test_variations_are_related_to_the_idea_and_distinct_from_each_other(make):
    idea, length = prepare_idea(make(), 4)
    vs = make_variations(idea, length, 4, len(TECHNIQUES), seed=0)
    assert len({v.label for v in vs}) == len({v.style for v in vs}) == len(TECHNIQUES)
    scores = [similarity(idea, v.notes)["total"] for v in vs]
    assert all(LOW <= s <= HIGH for s in scores), dict(zip([v.label for v in vs], scores, strict=True))
    for i in range(len(vs)):
        for j in range(i + 1, len(vs)):
            assert similarity(vs[i].notes, vs[j].notes)["total"] < PAIR_HIGH, (vs[i].label, vs[j].label)
    # unrelated random melodies score lower than the variations do
    rng = np.random.default_rng(0)
    rand = []
    for _ in range(20):
        notes = quantize(sorted((MNote(float(rng.integers(0, 32)) / 4, 0.5, int(rng.integers(55, 80))) for _ in
                                range(12)), key=lambda n: n.onset))
        rand.append(similarity(idea, notes)["total"])
    assert np.mean(rand) < min(scores) and np.mean(rand) < np.mean(scores) - 0.2


def test_similarity_is_one_for_the_same_melody_and_symmetric_enough():
    a = ode()
    assert similarity(a, a)["total"] == 1.0
    b = riff()
    assert abs(similarity(a, b)["total"] - similarity(b, a)["total"]) < 0.05


def test_the_techniques_do_what_their_labels_say():
    idea, length = prepare_idea(ode(), 4)
    v = {x.label: x for x in make_variations(idea, length, 4, len(TECHNIQUES))}
    assert [n.onset for n in v["displaced"].notes][:3] == [0.5, 1.5, 2.5]
    assert [n.onset for n in v["augmented"].notes][:3] == [0.0, 2.0, 4.0]
    assert v["waltz"].meter == 3 and max(n.end for n in v["waltz"].notes) <= 12.0 + 1e-9
    assert [n.pitch for n in v["octave"].notes] == [n.pitch + 12 for n in idea]
    inv = [n.pitch for n in v["inverted"].notes]
    assert inv[0] == idea[0].pitch and inv[2] < inv[0]  # the idea rises from E to F; its mirror falls
    assert [n.pitch for n in v["retrograde"].notes] == [n.pitch for n in reversed(idea)]
    assert len(v["ornamented"].notes) > len(idea)
    assert any(abs(n.onset % 1 - 2 / 3) < 1e-6 for n in v["swing"].notes)


def test_reproducible_for_a_seed():
    idea, length = prepare_idea(riff(), 4)
    a = make_variations(idea, length, 4, 10, seed=3)
    b = make_variations(idea, length, 4, 10, seed=3)
    assert [x.notes for x in a] == [x.notes for x in b]


def test_renders_midi_wav_png_json_and_refuses_to_overwrite(tmp_path):
    path = idea_file(tmp_path, riff())
    out = tmp_path / "out"
    doc = run_vary(str(path), out, n=3, seed=1, progress=None)
    assert [v["label"] for v in doc["variations"]] == ["displaced", "modal", "ornamented"]
    from live.studio.audiofile import read_wav

    for v in doc["variations"]:
        assert (out / v["file"]).stat().st_size > 100 and (out / v["wav"]).stat().st_size > 10000
        assert LOW <= v["similarity"]["total"] <= HIGH
        peak = float(abs(read_wav(out / v["wav"]).data).max())
        assert 0.05 < peak < 1.0, f"{v['wav']}: peak {peak}"  # heard, not clipped
    assert (out / "idea-variations.png").stat().st_size > 1000
    assert json.loads((out / "idea-variations.json").read_text())["render"]["ratio"] > 1.0
    with pytest.raises(OutputExistsError):
        run_vary(str(path), out, n=3, progress=None)


def test_bad_inputs_name_the_file(tmp_path):
    text = tmp_path / "notes.mid"
    text.write_text("not midi at all")
    with pytest.raises(InputFileError, match="notes.mid.*not a Standard MIDI File"):
        run_vary(str(text), tmp_path, progress=None)
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match="empty"):
        run_vary(str(empty), tmp_path, progress=None)
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x05\x01")
    with pytest.raises(InputFileError, match="corrupt"):
        run_vary(str(corrupt), tmp_path, progress=None)
    two = idea_file(tmp_path, ode()[:2], "two")
    with pytest.raises(InputFileError, match="at least 3 notes"):
        run_vary(str(two), tmp_path, progress=None)
    huge = idea_file(tmp_path, [MNote(i * 0.25, 0.25, 60 + i % 12) for i in range(4100)], "huge")
    with pytest.raises(InputFileError, match="more than"):
        run_vary(str(huge), tmp_path, progress=None)
