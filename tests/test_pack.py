"""The packed step model (live.train.pack): the lean graph equals the export, the GRU written
out as its cell equals the GRU op, the 8-bit weights stand for the float ones, and the shipped
packed model plays like the float model it was packed from."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training extra (torch) is not installed")
onnx = pytest.importorskip("onnx")

from live.train.ahead import graft  # noqa: E402
from live.train.pack import (  # noqa: E402
    BITS,
    agreement,
    dequantize_blocks,
    pack,
    pack_graph,
    quantize_blocks,
)
from live.model import FLOAT_MODEL  # noqa: E402
from live.train.train import Piece  # noqa: E402
from modeltools import toy_model, write_songs  # noqa: E402 (tests/)

RNG = np.random.default_rng(11)
NAMES = ["chord_logits", "bass_logits", "mel_logits", "h_out", "ahead_logits"]


def tune(bars: int) -> Piece:
    """Arpeggios of I-IV-V-I in a random key, with rests: a model trained a few steps on it
    has weights that are not all near zero."""
    key = int(RNG.integers(12))
    roots = np.repeat(np.array([0, 5, 7, 0])[np.arange(bars) % 4], 8)
    mel = (key + roots + np.array([0, 4, 7])[RNG.integers(0, 3, len(roots))]) % 12
    mel[RNG.random(len(mel)) < 0.1] = -1
    chords = ((key + roots) % 12) * 13
    return Piece(mel, (RNG.random(len(mel)) < 0.7).astype(np.int64), chords, chords // 13,
                 np.tile(np.arange(8), bars), int(RNG.integers(3)), True, f"toy/{RNG.integers(1 << 30)}")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny exported model with the look-ahead head, and its two packings."""
    out = tmp_path_factory.mktemp("pack")
    plain, head, _ = toy_model(out, [tune(8) for _ in range(8)], hidden=64, head_epochs=20)
    fp32 = out / FLOAT_MODEL
    graft(plain, head, fp32)
    (out / "accompanist.json").write_text(json.dumps({"model": "accompanist.onnx"}))
    section = pack(fp32, out / "accompanist.onnx", progress=lambda *_: None)
    return out, plain, fp32, section


def run(model, feeds):
    import onnxruntime as ort

    data = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))


def random_feeds(layers: int, hidden: int, batch: int = 5, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    f = {"prev_mel": rng.integers(0, 13, batch), "prev_on": rng.integers(0, 2, batch),
         "prev_chord": rng.integers(0, 157, batch), "pos": rng.integers(0, 16, batch),
         "style": rng.integers(0, 4, batch), "cur_mel": rng.integers(0, 13, batch)}
    f = {k: v.astype(np.int64) for k, v in f.items()}
    f["h"] = rng.uniform(-0.9, 0.9, (layers, batch, hidden)).astype(np.float32)
    return f


def test_block_quantisation_round_trips_within_half_a_step():
    w = RNG.normal(0, 0.2, (70, 24)).astype(np.float32)  # K not a whole number of blocks
    w[:, 3] = 0.0  # an all-zero column: scale 1, codes 128
    q, s = quantize_blocks(w)
    assert q.shape == (24, 3, 32) and q.dtype == np.uint8 and s.shape == (24, 3)
    back = dequantize_blocks(q, s, 70)
    step = np.repeat(s, 32, axis=1)[:, :70].T  # each weight's block scale
    assert np.all(np.abs(back - w) <= step / 2 + 1e-7)
    assert np.all(back[:, 3] == 0.0) and np.all(q[3] == 128)
    assert q.min() >= 1  # symmetric: -127..127 around the zero point 128
    with pytest.raises(ValueError, match="bits must be 8"):
        quantize_blocks(w, bits=4)


@pytest.mark.parametrize("batch", [1, 8])
def test_the_lean_float_graph_is_the_export_exactly(models, batch):
    _, plain, fp32, _ = models
    for src in (plain, fp32):  # without and with the look-ahead head
        m = onnx.load(str(src))
        lean = pack_graph(m, bits=None)
        assert len(lean.graph.node) < len(m.graph.node) * 0.6
        f = random_feeds(2, 64, batch)
        want, got = run(m, f), run(lean, f)
        assert list(got) == list(want)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_the_gru_cell_written_out_equals_the_gru_op(models):
    _, _, fp32, _ = models
    m = onnx.load(str(fp32))
    f = random_feeds(2, 64, 6, seed=4)
    want, got = run(m, f), run(pack_graph(m, bits=None, cells=True), f)
    for k in NAMES:
        np.testing.assert_allclose(got[k], want[k], atol=2e-6, err_msg=k)


def test_eight_bit_weights_follow_the_float_model(models):
    """The packed cell against numpy on the dequantised weights: equal up to the 8-bit
    quantisation of the input that accuracy_level 4 adds; and against the float model."""
    out, _, fp32, section = models
    packed = out / "accompanist.onnx"
    m = onnx.load(str(packed))
    # every matrix but the input layer's (lookup tables): x and h products of 2 layers, the melody
    # head with the look-ahead's first layer, cur, the chord and bass heads, the look-ahead's second
    assert sum(n.op_type == "MatMulNBits" for n in m.graph.node) == 8
    assert not any(n.op_type in ("Gemm", "MatMul", "GRU") for n in m.graph.node)
    assert packed.stat().st_size < fp32.stat().st_size * 0.5
    f = random_feeds(2, 64, 4, seed=5)
    got, want = run(packed, f), run(fp32, f)
    # the float cell in numpy, on the weights the packed graph holds
    from onnx import numpy_helper

    w = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    x = np.tanh(sum(w[f"inp/{n}"][f[n]] for n in ("prev_mel", "prev_on", "prev_chord", "pos", "style")))
    H = 64
    for i in range(2):
        h = f["h"][i]
        gx = x @ dequantize_blocks(w[f"gru{i}/x.q8"], w[f"gru{i}/x.scales"], x.shape[1]) + w[f"gru{i}/x.b"]
        gh = h @ dequantize_blocks(w[f"gru{i}/h.q8"], w[f"gru{i}/h.scales"], H) + w[f"gru{i}/h.b"]
        z = 1 / (1 + np.exp(-(gx[:, :H] + gh[:, :H])))
        r = 1 / (1 + np.exp(-(gx[:, H:2 * H] + gh[:, H:2 * H])))
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        x = (1 - z) * n + z * h
        np.testing.assert_allclose(got["h_out"][i], x, atol=0.02)
    for k in NAMES:
        assert np.abs(got[k] - want[k]).max() < 0.1, k
    a = section["agreement"]
    assert a["chord_top1_agree"] >= 0.95 and a["steps"] == 512
    # a model without the look-ahead head packs too, to its four outputs
    _, plain, _, _ = models
    m_plain = onnx.load(str(plain))
    got, want = run(pack_graph(m_plain, BITS), f), run(m_plain, f)
    assert list(got) == NAMES[:4] and all(np.abs(got[k] - want[k]).max() < 0.1 for k in NAMES[:4])
    card = json.loads((out / "accompanist.json").read_text())
    assert card["packed"] == section and "python -m live.train.pack" in section["reproduce"]


def test_the_fused_products_are_the_separate_ones(models):
    """The packed graph's fusions change no arithmetic but the float rounding (and the input
    layer's 8-bit rounding, gone): the input layer's lookup tables against the concatenated
    embeddings' product, heads side by side against each alone."""
    from live.train.pack import input_tables

    B = 5
    # the tables: the input layer's product of the looked-up embeddings, bias included
    _, _, fp32, _ = models
    from onnx import numpy_helper

    src = onnx.load(str(fp32))
    wts = {i.name: numpy_helper.to_array(i) for i in src.graph.initializer}
    mat = next(wts[n.input[1]] for n in src.graph.node if n.name == "/net/inp/MatMul")
    names = ("prev_mel", "prev_on", "prev_chord", "pos", "style")
    tables = dict(input_tables(wts, mat, wts["net.inp.bias"], names))
    f = random_feeds(2, 64, B, seed=8)
    emb = {"prev_mel": "net.e_prev_mel.weight", "prev_on": "net.e_prev_on.weight", "prev_chord": "net.e_chord.weight",
           "pos": "net.e_pos.weight", "style": "net.e_style.weight"}
    want = np.concatenate([wts[emb[n]][f[n]] for n in names], axis=1) @ mat + wts["net.inp.bias"]
    np.testing.assert_allclose(sum(tables[n][f[n]] for n in names), want, atol=1e-5)
    with pytest.raises(ValueError, match="wide"):
        input_tables(wts, mat, wts["net.inp.bias"], names[:4])
    # fused and separate 8-bit graphs: the same model within the input layer's 8-bit rounding
    a, b = run(pack_graph(src, BITS, fuse=True), f), run(pack_graph(src, BITS, fuse=False), f)
    assert list(a) == list(b) == NAMES
    for k in NAMES:
        assert np.abs(a[k] - b[k]).max() < 0.05, k


def test_agreement_notices_another_model(models, tmp_path):
    out, plain, fp32, _ = models
    with pytest.raises(ValueError, match="not the same model"):
        agreement(fp32, plain)  # one has the look-ahead head, one not
    # a packed model whose weights were damaged disagrees, and agreement says so
    m = onnx.load(str(out / "accompanist.onnx"))
    for init in m.graph.initializer:
        if init.name == "gru1/h.scales":
            arr = onnx.numpy_helper.to_array(init) * 3.0
            init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(m, str(bad))
    assert agreement(fp32, bad)["max_abs_diff"]["h_out"] > 0.1


def test_not_an_accompanist_graph_is_refused_by_name(tmp_path):
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    with pytest.raises(ValueError, match="not an exported AccompanistNet step graph"):
        pack_graph(helper.make_model(g))


def test_the_shipped_model_is_packed_from_the_shipped_float_model():
    from live.model import ModelRuntime, default_model_path

    packed = default_model_path()
    fp32 = packed.with_name(FLOAT_MODEL)
    assert fp32.is_file(), "the float model the packed one is made from is shipped beside it"
    card = json.loads(packed.with_suffix(".json").read_text())
    sec = card["packed"]
    assert sec["from"] == FLOAT_MODEL and f"{BITS}-bit" in sec["weights"]
    m = onnx.load(str(packed))
    assert any(n.op_type == "MatMulNBits" for n in m.graph.node)
    a = agreement(fp32, packed, steps=256)
    assert a["chord_top1_agree"] >= 0.97 and a["max_abs_diff"]["chord_logits"] < 0.2, a
    assert ModelRuntime(packed).has_ahead


def test_training_writes_the_float_model_the_packed_model_and_one_card(tmp_path):
    """``python -m live.train.train`` end to end on a folder of MIDI files: export, the
    look-ahead head, the packing; the packed model is the one the engine loads."""
    from live.model import ModelRuntime
    from live.train.train import main

    songs = write_songs(tmp_path / "songs")
    out = tmp_path / "models"
    assert main(["--sources", f"folder:{songs}", "--data", str(tmp_path / "data.npz"), "--out", str(out),
                 "--minutes", "0.5", "--max-steps", "4", "--hidden", "32", "--batch", "4"]) == 0
    card = json.loads((out / "accompanist.json").read_text())
    assert card["packed"]["from"] == FLOAT_MODEL and card["ahead"]["steps"] == 4
    assert ModelRuntime(out / "accompanist.onnx").has_ahead and ModelRuntime(out / FLOAT_MODEL).has_ahead
    assert any(n.op_type == "MatMulNBits" for n in onnx.load(str(out / "accompanist.onnx")).graph.node)
    assert not any(n.op_type == "MatMulNBits" for n in onnx.load(str(out / FLOAT_MODEL)).graph.node)


def test_where_the_packed_model_does_not_load_its_float_twin_plays_and_says_so(models, tmp_path, monkeypatch):
    """An onnxruntime without 8-bit MatMulNBits (before 1.22) cannot load the shipped model;
    the float model beside it is the same band. A model the user names gets no such help."""
    import shutil
    from types import SimpleNamespace

    import live.model as lm
    from live.errors import ModelError

    _, _, fp32, _ = models
    packed = tmp_path / "accompanist.onnx"
    packed.write_bytes(b"not a model an old onnxruntime can read")
    monkeypatch.setattr(lm, "default_model_path", lambda: packed)
    with pytest.raises(ModelError, match="the float model|not a valid ONNX model"):
        lm.ModelRuntime()  # no float twin beside it: the error as before
    shutil.copy(fp32, tmp_path / FLOAT_MODEL)
    rt = lm.ModelRuntime()
    assert rt.path == tmp_path / FLOAT_MODEL and "accompanist.onnx did not load" in rt.note
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        lm.ModelRuntime(packed)  # named by the user: no substitute
    messages: list[str] = []
    make = lm.model_factory(SimpleNamespace(accompanist="model", style="folk", fix_clashes=True),
                              messages=messages)
    assert make is not None and make.runtime.path.name == FLOAT_MODEL
    assert len(messages) == 1 and FLOAT_MODEL in messages[0]
    from live import doctor

    (check,) = doctor.check_model()
    assert check.level == doctor.WARN and FLOAT_MODEL in check.detail and "onnxruntime>=1.22" in check.fix


def test_sideman_train_on_a_folder_and_on_the_dataset_it_built(tmp_path):
    """``sideman train --data DIR`` trains on a folder of MIDI files (issue 3; it crashed,
    writing the default corpora's dataset over the folder), and an existing dataset given
    without --sources is read as built, not rebuilt from the default corpora."""
    from live.cli import main as sideman
    from live.model import ModelRuntime
    from live.train.train import main

    songs = write_songs(tmp_path / "songs", 12)
    out = tmp_path / "models"
    assert sideman(["train", "--data", str(songs), "--out", str(out), "--minutes", "0.5", "--max-steps", "2"]) == 0
    card = json.loads((out / "accompanist.json").read_text())
    assert card["data"]["sources"] == [f"folder:{songs.resolve()}"]
    assert sum(c["pieces"] for c in card["data"]["counts"].values()) == 12
    assert "--max-steps 2" in card["reproduce"]
    assert ModelRuntime(out / "accompanist.onnx").has_ahead
    again = tmp_path / "again"
    assert main(["--data", str(out / "data.npz"), "--out", str(again), "--max-steps", "1", "--hidden", "16",
                 "--batch", "2", "--ahead-steps", "0"]) == 0
    assert json.loads((again / "accompanist.json").read_text())["data"]["sources"] == [f"folder:{songs.resolve()}"]
