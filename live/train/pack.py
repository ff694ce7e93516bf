"""Pack the exported step model for the live engine: a lean graph with 8-bit weights.

    python -m live.train.pack --model live/models/accompanist-fp32.onnx --out live/models/accompanist.onnx

The third stage of the pipeline (``live.train.train`` exports the float model, ``live.train.ahead``
grafts the look-ahead head, this packs it). Same inputs and outputs, so ``live.model.ModelRuntime``
loads either file.

Why: one step of the 2x192 GRU reads 2.2 MB of float weights, more than a core's L2 cache on the
machines we measured, and the rest of a planner decision evicts them between steps; the step was
bound by how fast those weights stream in, not by its arithmetic. Packed:

- the graph is rebuilt without the export's plumbing (the batch-of-one sequence axis: Unsqueeze,
  Transpose, Squeeze, Slice and Gather nodes around every op), 59 nodes -> 24 for the float graph,
  which is exactly equal to the export (``bits=None``);
- with ``bits=8`` each GRU layer is written out as its cell (two matrix products and the gates,
  the ONNX GRU's ``linear_before_reset`` form) and every weight matrix (the input layer, the
  GRU's, the heads') becomes an ONNX Runtime ``MatMulNBits`` (com.microsoft): 8-bit weights, one
  float scale per block of 32 inputs, symmetric, ``accuracy_level`` 4 (the input is quantised
  to 8 bits per block too, and the product runs on the CPU's integer dot-product
  instructions). The weights shrink 4x; the embeddings stay float (a row is read per step).
  Measured on the shipped model (2026-12-06, 2-core Intel Xeon VM, models in turns of 50
  decisions in one run): the GRU's matrices in 8 bits took a planner decision's model slots
  from 241 to 150 us p50; every matrix in 8 bits, 148 against the GRU alone's 172 in another
  run. 0.5% (GRU alone) and 0.8% (every matrix) of 34,560 decisions on tune-like melodies
  differed from the float model's.

Fused (the default with ``bits``; 2026-12-07): the heads that read the same vector are one product
split after (the melody head with the look-ahead's first layer, the chord head with the bass head;
each column's blocks quantised as on its own), and the input layer and the current note's and
position's part of ``cur`` are float lookup tables (each embedding already multiplied by its rows
of the layer, ``input_tables``), summed: 11 -> 8 ``MatMulNBits``, the input layer exact in float.
Measured with the pop band's decisions, called in turns of 50 slots with the unfused graph in one
run (2026-12-07, 2-core Intel VM): model slots 154 -> 145 us p50, 281 -> 264 and 285 -> 250 p99 in
two reps. Measured and not shipped: each GRU layer's two products as one, of ``[x, h]`` (z and r
summed, the n-parts side by side): a step alone 52 -> 47 us, but inside the band's decisions no
faster (155 against 155 us p50): its two all-zero quarters are 147 KB more to read each step.

``agreement`` steps the packed and the float model side by side over a melody with carried state
and reports how far they drift apart; ``pack`` records it in the model card.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from live.model import FLOAT_MODEL

BITS, BLOCK, ACCURACY_LEVEL = 8, 32, 4
_EMB = (("prev_mel", "net.e_prev_mel.weight"), ("prev_on", "net.e_prev_on.weight"),
        ("prev_chord", "net.e_chord.weight"), ("pos", "net.e_pos.weight"), ("style", "net.e_style.weight"),
        ("cur_mel", "net.e_cur_mel.weight"))
_HEADS = (("chord_logits", "chord_head"), ("bass_logits", "bass_head"))


def quantize_blocks(w: np.ndarray, bits: int = BITS, block: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """``MatMulNBits``' weight layout for ``x @ w`` (``w`` (K, N) float): the packed weights
    (N, K/block, block) uint8 and the scales (N, K/block) float32, symmetric (the zero point is
    the op's default, 2**(bits-1)). K is padded with zeros to a whole block."""
    if bits != 8:
        raise ValueError(f"bits must be 8, got {bits}")
    k, n = w.shape
    blocks = -(-k // block)
    wt = np.zeros((n, blocks * block), np.float32)
    wt[:, :k] = w.T
    wt = wt.reshape(n, blocks, block)
    scale = np.abs(wt).max(axis=2) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(wt / scale[:, :, None]), -127, 127).astype(np.int16) + 128
    return q.astype(np.uint8), scale.astype(np.float32)


def dequantize_blocks(q: np.ndarray, scale: np.ndarray, k: int) -> np.ndarray:
    """The (K, N) float weights ``quantize_blocks`` stands for (its numpy reference)."""
    n = q.shape[0]
    w = (q.astype(np.float32) - 128.0) * scale[:, :, None]
    return w.reshape(n, -1)[:, :k].T.copy()


class _Graph:
    """A small graph builder: initializers and nodes, named as they are added."""

    def __init__(self) -> None:
        self.inits: list = []
        self.nodes: list = []

    def const(self, name: str, arr) -> str:
        from onnx import numpy_helper

        arr = np.asarray(arr)  # (not ascontiguousarray: it makes a scalar index 1-d)
        self.inits.append(numpy_helper.from_array(arr if arr.flags.c_contiguous else arr.copy(), name))
        return name

    def op(self, op: str, inputs: list[str], outputs: str | list[str], domain: str | None = None, **attrs):
        from onnx import helper

        outs = [outputs] if isinstance(outputs, str) else outputs
        name = next((o for o in outs if o), op)
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, domain=domain, **attrs))
        return outs[0] if isinstance(outputs, str) else outs

    def linear(self, x: str, w: np.ndarray, b: np.ndarray | None, name: str, bits: int | None) -> str:
        """``x @ w + b``: a float ``Gemm``, or with ``bits`` a ``MatMulNBits`` (bias inside)."""
        if bits is None:
            ins = [x, self.const(f"{name}.w", w.astype(np.float32))]
            if b is not None:
                ins.append(self.const(f"{name}.b", b.astype(np.float32)))
            return self.op("Gemm", ins, name)
        q, s = quantize_blocks(w, bits)
        ins = [x, self.const(f"{name}.q{bits}", q), self.const(f"{name}.scales", s), "", ""]
        ins.append(self.const(f"{name}.b", b.astype(np.float32)) if b is not None else "")
        return self.op("MatMulNBits", ins, name, domain="com.microsoft", K=int(w.shape[0]), N=int(w.shape[1]),
                       bits=bits, block_size=BLOCK, accuracy_level=ACCURACY_LEVEL)

    def linears(self, x: str, heads: list[tuple[np.ndarray, np.ndarray, str]], name: str, bits: int | None,
                fuse: bool) -> list[str]:
        """``linear`` for each (w, b, output) reading ``x``; with ``fuse`` and ``bits``, one
        product of the matrices side by side, split into the outputs (the columns each
        quantised as on their own: the packed weights are the same)."""
        if not (fuse and bits) or len(heads) == 1:
            return [self.linear(x, hw, hb, out, bits) for hw, hb, out in heads]
        y = self.linear(x, np.concatenate([hw for hw, _, _ in heads], axis=1),
                        np.concatenate([hb for _, hb, _ in heads]), name, bits)
        sizes = self.const(f"{name}/sizes", np.array([hw.shape[1] for hw, _, _ in heads], np.int64))
        return self.op("Split", [y, sizes], [out for _, _, out in heads], axis=-1)


_X_INPUTS = ("prev_mel", "prev_on", "prev_chord", "pos", "style")  # the input layer's, in its order


def input_tables(w: dict, mat: np.ndarray, bias: np.ndarray, names) -> list[tuple[str, np.ndarray]]:
    """``concat(emb[name][i] for name in names) @ mat + bias`` as one table per input, its
    embedding times its rows of ``mat`` (the first with ``bias``): a lookup per input and
    a sum give the product, in float, for a few KB more of weights."""
    inits = dict(_EMB)
    out, at = [], 0
    for k, name in enumerate(names):
        e = w[inits[name]]
        t = e @ mat[at:at + e.shape[1]]
        out.append((name, (t + bias if k == 0 else t).astype(np.float32)))
        at += e.shape[1]
    if at != mat.shape[0]:
        raise ValueError(f"the embeddings of {list(names)} are {at} wide, the layer reads {mat.shape[0]}")
    return out


def _weights(model) -> tuple[dict, dict, list]:
    """The float model's initializers by name, its nodes by name, and its GRU nodes."""
    from onnx import numpy_helper

    g = model.graph
    w = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = {n.name: n for n in g.node}
    grus = [n for n in g.node if n.op_type == "GRU"]
    need = [e for _, e in _EMB] + ["net.inp.bias", "net.cur.bias"]
    missing = [n for n in need if n not in w] + [n for n in ("/net/inp/MatMul", "/net/cur/MatMul",
                                                             "/net/mel_head/MatMul") if n not in nodes]
    if missing or not grus:
        raise ValueError(f"not an exported AccompanistNet step graph (missing {missing or 'GRU nodes'})")
    return w, nodes, grus


def pack_graph(model, bits: int | None = BITS, cells: bool | None = None, fuse: bool | None = None):
    """The lean step graph of an exported ``live.train.model.StepWrapper`` (with or without the
    look-ahead head): float GRU ops (``bits=None``, equal to the export) or each GRU layer
    written out as its cell (``cells``, the default with ``bits``) with ``bits``-bit weights
    (float with ``bits=None``: the cell's arithmetic, checkable against the GRU op). ``fuse``
    (the default with ``bits`` and cells): the heads that share an input as one product, the
    input layer and ``cur``'s note and position rows as float lookup tables (module doc).
    Returns an ``onnx.ModelProto`` with the same inputs and outputs."""
    import onnx
    from onnx import helper

    w, nodes, grus = _weights(model)
    b = _Graph()

    def mm(node: str) -> np.ndarray:
        return w[nodes[node].input[1]]

    cells = bits is not None if cells is None else cells
    fuse = cells and bits is not None if fuse is None else fuse and cells
    if fuse:  # each input's embedding times its rows of the input layer, looked up and summed
        tables = input_tables(w, mm("/net/inp/MatMul"), w["net.inp.bias"], _X_INPUTS)
        x = b.op("Sum", [b.op("Gather", [b.const(f"inp/{n}", t), n], f"inp/{n}/row") for n, t in tables], "inp")
        emb = {}
    else:
        emb = {name: b.op("Gather", [b.const(init, w[init]), name], f"emb/{name}") for name, init in _EMB}
        x = b.op("Concat", [emb[n] for n in _X_INPUTS], "x/cat", axis=-1)
        x = b.linear(x, mm("/net/inp/MatMul"), w["net.inp.bias"], "inp", bits)
    x = b.op("Tanh", [x], "x")
    hidden = int(next(a.i for a in grus[0].attribute if a.name == "hidden_size"))
    tops = []
    if not cells:  # the ONNX GRU op over a one-step sequence, as exported
        x = b.op("Unsqueeze", [x, b.const("axis0", np.array([0], np.int64))], "x/seq")
        hs = b.op("Split", ["h", b.const("ones", np.ones(len(grus), np.int64))],
                  [f"h/{i}" for i in range(len(grus))], axis=0)
        for i, (gru, h0) in enumerate(zip(grus, hs, strict=True)):
            W, R, B = (w[n] for n in gru.input[1:4])
            x = b.op("GRU", [x, b.const(f"gru{i}.W", W), b.const(f"gru{i}.R", R), b.const(f"gru{i}.B", B), "", h0],
                     ["", f"gru{i}/h"], hidden_size=hidden, linear_before_reset=1)[1]
            tops.append(x)
        b.op("Concat", tops, "h_out", axis=0)
        top = b.op("Squeeze", [tops[-1], "axis0"], "top")
    else:  # each layer's cell: z, r = sigmoid(x W_zr + h R_zr + b), n = tanh(x W_n + r (h R_n + b_Rn) + b_Wn)
        for i, gru in enumerate(grus):
            W, R, B = (w[n][0] for n in gru.input[1:4])
            h = b.op("Gather", ["h", b.const(f"layer{i}", np.array(i, np.int64))], f"h/{i}", axis=0)
            gx = b.linear(x, W.T, B[:3 * hidden], f"gru{i}/x", bits)
            gh = b.linear(h, R.T, B[3 * hidden:], f"gru{i}/h", bits)
            thirds = b.const("thirds", np.full(3, hidden, np.int64)) if i == 0 else "thirds"
            sig = b.op("Sigmoid", [b.op("Add", [gx, gh], f"gru{i}/s")], f"gru{i}/sig")
            z, r, _ = b.op("Split", [sig, thirds], [f"gru{i}/z", f"gru{i}/r", f"gru{i}/sig_n"], axis=-1)
            xn = b.op("Split", [gx, thirds], [f"gru{i}/xz", f"gru{i}/xr", f"gru{i}/xn"], axis=-1)[2]
            hn = b.op("Split", [gh, thirds], [f"gru{i}/hz", f"gru{i}/hr", f"gru{i}/hn"], axis=-1)[2]
            n = b.op("Tanh", [b.op("Add", [xn, b.op("Mul", [r, hn], f"gru{i}/rh")], f"gru{i}/n0")], f"gru{i}/n")
            d = b.op("Mul", [z, b.op("Sub", [h, n], f"gru{i}/d")], f"gru{i}/zd")
            x = b.op("Add", [n, d], f"gru{i}/h_new")
            tops.append(x)
        cat = b.op("Concat", tops, "h/cat", axis=0)
        b.op("Reshape", [cat, b.const("h_shape", np.array([len(grus), -1, hidden], np.int64))], "h_out")
        top = tops[-1]
    mel = (mm("/net/mel_head/MatMul"), w["net.mel_head.bias"], "mel_logits")
    ahead = "ahead.w1" in w
    layer = int(w["ahead.layer"]) if ahead else -1
    # the look-ahead head's first layer reads the top layer too: one product with the melody head's
    b.linears(top, [mel, (w["ahead.w1"], w["ahead.b1"], "ahead/l1")] if ahead and layer == len(grus) - 1 and fuse
              else [mel], "top/heads", bits, fuse)
    wc = mm("/net/cur/MatMul")
    if fuse:  # the top layer's product, plus the current note's and position's rows (as the input layer)
        tables = input_tables(w, wc[hidden:], np.zeros(wc.shape[1], np.float32), ("cur_mel", "pos"))
        z = b.op("Sum", [b.linear(top, wc[:hidden], w["net.cur.bias"], "cur/top", bits)]
                 + [b.op("Gather", [b.const(f"cur/{n}", t), n], f"cur/{n}/row") for n, t in tables], "cur")
    else:
        z = b.op("Concat", [top, emb["cur_mel"], emb["pos"]], "z/cat", axis=-1)
        z = b.linear(z, wc, w["net.cur.bias"], "cur", bits)
    z = b.op("Tanh", [z], "z")
    b.linears(z, [(mm(f"/net/{head}/MatMul"), w[f"net.{head}.bias"], out) for out, head in _HEADS], "z/heads", bits,
              fuse)
    names = ["chord_logits", "bass_logits", "mel_logits", "h_out"]
    if ahead:
        src = tops[layer]
        if not cells and layer != len(grus) - 1:
            src = b.op("Squeeze", [src, "axis0"], "ahead/top")
        elif not cells:
            src = top
        if not (layer == len(grus) - 1 and fuse):
            b.linear(src, w["ahead.w1"], w["ahead.b1"], "ahead/l1", bits)
        a = b.op("Tanh", ["ahead/l1"], "ahead/t1")
        b.linear(a, w["ahead.w2"], w["ahead.b2"], "ahead_logits", bits)
        names.append("ahead_logits")
    outputs = {o.name: o for o in model.graph.output}
    graph = helper.make_graph(b.nodes, "sideman_step", list(model.graph.input), [outputs[n] for n in names],
                              b.inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("com.microsoft", 1)] if bits else [])
    out = helper.make_model(graph, opset_imports=opsets, producer_name="sideman live.train.pack")
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def agreement(reference: str | Path, packed: str | Path, steps: int = 512, seed: int = 0) -> dict:
    """Step both models side by side over ``steps`` eighths of a random tune-like melody (a scale,
    held notes and rests, every style token in turn), each carrying its own state as live:
    the largest difference of each output, and how often the chord and melody heads' top choice
    agree."""
    from live.model import NO_CHORD, ModelRuntime

    ref, got = ModelRuntime(reference), ModelRuntime(packed)
    if ref.has_ahead != got.has_ahead or (ref.layers, ref.hidden) != (got.layers, got.hidden):
        raise ValueError(f"{packed}: not the same model as {reference}")
    rng = np.random.default_rng(seed)
    names = ["chord_logits", "bass_logits", "mel_logits", "h_out"] + (["ahead_logits"] if ref.has_ahead else [])
    diff = dict.fromkeys(names, 0.0)
    same_chord = same_mel = 0
    hr, hg = ref.zero_state(), got.zero_state()
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    key, mel, on = 0, 0, 0
    for t in range(steps):
        if t % 64 == 0:
            key = int(rng.integers(0, 12))
        if rng.random() < 0.6:
            mel, on = (-1, 0) if rng.random() < 0.1 else (int((key + scale[rng.integers(0, 7)]) % 12), 1)
        else:
            on = 0
        outs = []
        for rt, h in ((ref, hr), (got, hg)):
            f = rt.feeds
            f["prev_mel"][0], f["prev_on"][0], f["prev_chord"][0] = mel + 1, on, NO_CHORD
            f["pos"][0], f["style"][0], f["cur_mel"][0] = t % 8, (t // 128) % 3, 0
            outs.append(rt.session.run(None, {**f, "h": h}))
        for name, a, c in zip(names, *outs, strict=True):
            diff[name] = max(diff[name], float(np.abs(a - c).max()))
        same_chord += int(outs[0][0].argmax() == outs[1][0].argmax())
        same_mel += int(outs[0][2].argmax() == outs[1][2].argmax())
        hr, hg = outs[0][3], outs[1][3]
    return {"steps": steps, "max_abs_diff": {k: round(v, 5) for k, v in diff.items()},
            "chord_top1_agree": round(same_chord / steps, 4), "melody_top1_agree": round(same_mel / steps, 4)}


def pack(model: Path, out: Path, card: Path | None = None, bits: int | None = BITS, progress=print) -> dict:
    """Write ``out``, the packed ``model``; check it against ``model`` (``agreement``); add a
    ``packed`` section to the model card (default: the .json beside ``out``, if there is one) and
    return it."""
    import onnx

    t0 = time.monotonic()
    src = onnx.load(str(model))
    packed = pack_graph(src, bits)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.part")
    onnx.save(packed, str(tmp))
    tmp.replace(out)
    check = agreement(model, out)
    section = {"from": Path(model).name, "weights": f"{bits}-bit, blocks of {BLOCK}, symmetric; embeddings and "
               "input tables float"
               if bits else "float", "nodes": [len(src.graph.node), len(packed.graph.node)],
               "bytes": [Path(model).stat().st_size, out.stat().st_size], "agreement": check,
               "wall_s": round(time.monotonic() - t0, 1),
               "reproduce": f"python -m live.train.pack --model {model} --out {out}"
                            + ("" if bits == BITS else " --float")}
    progress(f"packed {model} -> {out}: {section['nodes'][0]} -> {section['nodes'][1]} nodes, "
             f"{section['bytes'][0] / 1e6:.2f} -> {section['bytes'][1] / 1e6:.2f} MB; against the float model "
             f"over {check['steps']} steps: chord top-1 agrees {check['chord_top1_agree']:.1%}, "
             f"max |diff| {check['max_abs_diff']}")
    from live.atomicfile import update_json

    update_json(card or out.with_suffix(".json"), "packed", section)
    return section


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m live.train.pack", description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True, help=f"the exported float model ({FLOAT_MODEL})")
    ap.add_argument("--out", type=Path, required=True, help="where to write the packed model")
    ap.add_argument("--card", type=Path, help="the model card to record it in (default: the .json beside --out)")
    ap.add_argument("--float", action="store_true", help="lean graph only, float weights (equal to the export)")
    args = ap.parse_args(argv)
    pack(args.model, args.out, args.card, None if args.float else BITS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
