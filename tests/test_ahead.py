"""The look-ahead head (live.train.ahead): its targets, the graft into the ONNX graph, the
runtime that reads it, and the decoder that mixes it into the forecast."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training extra (torch) is not installed")
pytest.importorskip("onnx")

from live.train.ahead import ahead_targets, graft, soft_nll  # noqa: E402
from live.train.train import Piece  # noqa: E402
from modeltools import toy_model  # noqa: E402 (tests/)

RNG = np.random.default_rng(3)


def scale_piece(bars: int) -> Piece:
    """A melody that walks up the C major scale, an eighth per step: what comes next is
    knowable from what came before, so a head that learns anything learns it."""
    T = bars * 8
    mel = np.array([0, 2, 4, 5, 7, 9, 11])[(np.arange(T) + RNG.integers(7)) % 7]
    mel[RNG.random(T) < 0.05] = -1
    chords = np.zeros(T, np.int64)
    return Piece(mel, np.ones(T, np.int64), chords, chords, np.tile(np.arange(8), bars), 0, True,
                 f"toy/{RNG.integers(1 << 30)}")


@pytest.fixture(scope="module")
def grafted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ahead")
    pieces = [scale_piece(8) for _ in range(8)]
    plain, head, states = toy_model(out, pieces, hidden=32, head_epochs=150)
    with_head = out / "with_head.onnx"
    err = graft(plain, head, with_head)
    return plain, with_head, head, pieces, states, err


def test_targets_are_the_shares_of_the_coming_steps_pitch_classes():
    q, mask = ahead_targets(np.array([0, 0, -1, 4, 7, -1, -1, -1, -1]), steps=4)
    np.testing.assert_allclose(q[0, [0, 4]], [2 / 3, 1 / 3])  # 0, 0, (rest), 4
    np.testing.assert_allclose(q[1, [0, 4, 7]], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(q[4, 7], 1.0)  # 7 and three rests
    assert mask.tolist() == [True] * 5 + [False] * 4  # only rests ahead: nothing to learn
    assert np.allclose(q[mask].sum(axis=1), 1.0) and not q[~mask].any()


def test_the_states_are_the_top_layer_the_runtime_steps_through(grafted):
    from live.model import ModelRuntime

    plain, _, _, pieces, states, _ = grafted
    p = pieces[0]
    rt = ModelRuntime(plain, batch=1)
    h = rt.zero_state()
    f = rt.feeds
    for t in range(12):
        f["prev_mel"][0] = p.mel[t - 1] + 1 if t else 0
        f["prev_on"][0] = p.mel_on[t - 1] if t else 0
        f["pos"][0] = p.pos[t]
        f["style"][0] = p.style
        h = rt.step(h)[3]
        np.testing.assert_allclose(states[0][t], h[-1, 0], atol=1e-5)


def test_the_head_learns_what_comes_next(grafted):
    _, _, head, pieces, states, _ = grafted
    uniform = float(np.log(12))
    assert soft_nll(head, states, pieces, 4) < uniform - 0.5, "the head learned nothing of a scale"


def test_the_grafted_output_agrees_with_pytorch_and_leaves_the_rest_alone(grafted):
    from live.model import ModelRuntime

    plain, with_head, head, pieces, _, err = grafted
    assert err < 1e-5, err
    a, b = ModelRuntime(plain, batch=1), ModelRuntime(with_head, batch=1)
    assert not a.has_ahead and b.has_ahead
    ha, hb = a.zero_state(), b.zero_state()
    p = pieces[1]
    for t in range(10):
        for rt in (a, b):
            rt.feeds["prev_mel"][0] = p.mel[t - 1] + 1 if t else 0
            rt.feeds["pos"][0] = p.pos[t]
        *base_a, ha = a.step(ha)
        out_b = b.step_ahead(hb)
        base_b, hb, ahead = out_b[:3], out_b[3], out_b[4]
        for x, y in zip(base_a, base_b, strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_allclose(ha, hb)
        with torch.no_grad():
            np.testing.assert_allclose(ahead[0], head(torch.from_numpy(hb[-1]))[0].numpy(), atol=1e-5)


def test_grafting_twice_is_refused(grafted, tmp_path):
    _, with_head, head, *_ = grafted
    with pytest.raises(ValueError, match="already has"):
        graft(with_head, head, tmp_path / "twice.onnx")


def test_the_decoder_reads_the_head_only_where_the_policy_asks(grafted):
    from live.model import ChordDecoder, ModelRuntime

    plain, with_head, _, pieces, _, _ = grafted

    def run(path, **policy):
        rt = ModelRuntime(path, batch=1)
        dec = ChordDecoder(rt, 0, fit=40.0, stay=0.0, stay_offbeat=0.0, **policy)
        out, p = [], pieces[2]
        for t in range(40):
            c, _, _, h = dec.propose(int(p.mel[t - 1]) if t else -1, 1, int(p.pos[t]))
            dec.commit(c, h)
            out.append(c)
        return out

    assert run(with_head, ahead=0.0) == run(plain, ahead=0.0)
    assert run(plain, ahead=0.5) == run(plain, ahead=0.0), "a model without the head plays as before"
    assert run(with_head, ahead=0.5) != run(with_head, ahead=0.0), "the head changed no decision"


def test_a_fifth_output_of_another_name_is_refused(grafted, tmp_path):
    import onnx

    from live.errors import ModelError
    from live.model import ModelRuntime

    _, with_head, *_ = grafted
    m = onnx.load(str(with_head))
    m.graph.output[4].name = "something_else"
    m.graph.node[-1].output[0] = "something_else"
    bad = tmp_path / "bad.onnx"
    onnx.save(m, str(bad))
    with pytest.raises(ModelError, match="ahead_logits"):
        ModelRuntime(bad)


def test_the_shipped_model_has_the_head_and_its_card_says_how_it_was_made():
    from live.model import POLICIES, ModelRuntime, default_model_path

    rt = ModelRuntime(default_model_path())
    assert rt.has_ahead
    card = json.loads(default_model_path().with_suffix(".json").read_text())
    sec = card["ahead"]
    assert sec["steps"] == 4 and sec["onnx_vs_torch_max_abs"] < 1e-4
    assert "python -m live.train.ahead" in sec["reproduce"]
    assert any(p.ahead > 0 for p in POLICIES.values()), "no style reads the head"


def test_add_ahead_writes_the_model_and_its_card(grafted, tmp_path):
    from live.model import ModelRuntime
    from live.train.ahead import add_ahead
    from live.train.data import Piece as DataPiece
    from live.train.data import _STEP_DTYPES, FORMAT_VERSION, _to_arrays

    plain, *_ = grafted
    model = tmp_path / "accompanist.onnx"
    shutil.copy(plain, model)
    (tmp_path / "accompanist.json").write_text(json.dumps({"model": "accompanist.onnx"}))
    # a dataset file of scale tunes, split by piece as the data pipeline does
    pieces = []
    for i in range(40):
        sp = scale_piece(2)
        steps = {"mel": sp.mel, "mel_on": sp.mel_on, "mel_pitch": np.where(sp.mel >= 0, sp.mel + 60, -1),
                 "chord": sp.chord, "bass": sp.bass, "pos": sp.pos}
        pieces.append(DataPiece("toy", f"toy/{i}", 8, 0, 0, True,
                                {k: v.astype(_STEP_DTYPES[k]) for k, v in steps.items()}))
    data = tmp_path / "data.npz"
    np.savez(data, meta=json.dumps({"version": FORMAT_VERSION}), **_to_arrays(pieces))
    sec = add_ahead(model, data, steps=4, hidden=8, epochs=1, progress=lambda *_: None)
    assert ModelRuntime(model).has_ahead
    assert json.loads((tmp_path / "accompanist.json").read_text())["ahead"] == sec
