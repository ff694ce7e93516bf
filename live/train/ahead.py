"""The look-ahead head: which pitch classes the melody will play over the next few steps.

Stage two of training, after ``live.train.train``. The GRU is frozen: the exported model is
stepped over the training pieces exactly as live (melody only, strictly causal), its top
layer's state is collected at every step, and a small head (a 64-unit tanh layer and a
12-way softmax) learns to read from that state the share of the coming
``AHEAD_STEPS`` eighth notes (this one and the next three; rests left out) that each
pitch class will fill. The head is grafted into the ONNX graph as a fifth output,
``ahead_logits`` (B, 12), computed from ``h_out``'s top layer: one more 192x64 and 64x12
product per step.

Why: the chord chosen on a beat sounds for a while, so what counts is not only the note
about to begin (the melody head's forecast) but the notes under the whole chord. The live
decoder (``live.model.ChordDecoder``, policy field ``ahead``) mixes the two forecasts.

    python -m live.train.ahead --data /tmp/sideman-data.npz --model live/models/accompanist.onnx

Thread: offline only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from live.model import AHEAD_OUTPUT as OUTPUT
from live.model import ModelRuntime
from live.train.model import NO_CHORD, POS_CLASSES

#: Steps the head looks ahead: the note about to begin and the three after it (half a bar of 4/4).
AHEAD_STEPS = 4
AHEAD_HIDDEN = 64
AHEAD_EPOCHS = 4
#: Extra random transpositions of every training piece (the pieces' own key is always in).
AHEAD_TRANSPOSE = 0


def ahead_targets(mel: np.ndarray, steps: int = AHEAD_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """(T, 12) share of each pitch class among the melody steps t .. t+steps-1 that are not
    rests, and a (T,) mask of the steps that have any (the head learns from those only)."""
    mel = np.asarray(mel)
    T = len(mel)
    q = np.zeros((T, 12), np.float32)
    for k in range(steps):
        m = mel[k:]
        ok = m >= 0
        q[np.flatnonzero(ok), m[ok]] += 1.0
    s = q.sum(axis=1)
    mask = s > 0
    q[mask] /= s[mask, None]
    return q, mask


def collect_states(model: str | Path, pieces: list, batch: int = 256, progress=print) -> list[np.ndarray]:
    """The top GRU layer's state after each step, per piece ((T, hidden) float32), with the
    inputs the live band gives the model: the previous step's melody, no chord, the data's
    bar position and the piece's style token. Pieces are stepped ``batch`` at a time."""
    rt = ModelRuntime(model, batch=1)
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].mel))
    out: list[np.ndarray | None] = [None] * len(pieces)
    t0 = time.monotonic()
    for g in range(0, len(order), batch):
        idx = order[g:g + batch]
        n, T = len(idx), max(len(pieces[i].mel) for i in idx)
        prev_mel = np.zeros((n, T), np.int64)
        prev_on = np.zeros((n, T), np.int64)
        pos = np.zeros((n, T), np.int64)
        style = np.zeros(n, np.int64)
        for b, i in enumerate(idx):
            p = pieces[i]
            L = len(p.mel)
            prev_mel[b, 1:L] = np.asarray(p.mel[:L - 1]) + 1
            prev_on[b, 1:L] = p.mel_on[:L - 1]
            pos[b, :L] = np.minimum(p.pos, POS_CLASSES - 1)
            style[b] = p.style
        f = rt.feeds_for(n)
        f["prev_chord"][:] = NO_CHORD
        f["cur_mel"][:] = 0
        f["style"][:] = style
        h = rt.zero_state(n)
        Y = np.zeros((n, T, rt.hidden), np.float32)
        for t in range(T):
            f["prev_mel"][:] = prev_mel[:, t]
            f["prev_on"][:] = prev_on[:, t]
            f["pos"][:] = pos[:, t]
            h = rt.step(h, f)[3]
            Y[:, t] = h[-1]
        for b, i in enumerate(idx):
            out[i] = Y[b, :len(pieces[i].mel)].copy()
        progress(f"  states: {g + n}/{len(pieces)} pieces ({time.monotonic() - t0:.0f} s)")
    return out  # type: ignore[return-value]


def transposed(pieces: list, extra: int, seed: int = 0) -> list:
    """``pieces`` and, for each, ``extra`` other transpositions (distinct, drawn with
    ``seed``) of its melody; rests stay rests. Only the melody matters to the head."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    out = list(pieces)
    for p in pieces:
        for k in rng.choice(np.arange(1, 12), size=min(extra, 11), replace=False):
            out.append(replace(p, mel=np.where(p.mel >= 0, (p.mel + k) % 12, -1)))
    return out


def _stack(states: list[np.ndarray], pieces: list, steps: int):
    xs, qs = [], []
    for x, p in zip(states, pieces, strict=True):
        q, m = ahead_targets(p.mel, steps)
        xs.append(x[m])
        qs.append(q[m])
    return np.concatenate(xs), np.concatenate(qs)


def train_head(states: list[np.ndarray], pieces: list, steps: int = AHEAD_STEPS, hidden: int = AHEAD_HIDDEN,
               epochs: int = AHEAD_EPOCHS, seed: int = 0, progress=print):
    """A ``torch.nn.Sequential`` (Linear, Tanh, Linear) trained with Adam on the soft
    cross-entropy against ``ahead_targets``."""
    import torch

    torch.manual_seed(seed)
    x, q = (torch.from_numpy(a) for a in _stack(states, pieces, steps))
    head = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 12))
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), 1024):
            j = perm[i:i + 1024]
            loss = -(q[j] * torch.log_softmax(head(x[j]), -1)).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(j)
        progress(f"  look-ahead head: epoch {epoch + 1}/{epochs}  soft NLL {total / len(x):.4f}")
    return head.eval()


def soft_nll(head, states: list[np.ndarray], pieces: list, steps: int = AHEAD_STEPS) -> float:
    """Mean soft cross-entropy (nats) of the head against the coming steps' pitch classes."""
    import torch

    x, q = _stack(states, pieces, steps)
    with torch.no_grad():
        lp = torch.log_softmax(head(torch.from_numpy(x)), -1).numpy()
    return float(-(q * lp).sum(axis=1).mean())


def graft(model: str | Path, head, out: str | Path) -> float:
    """Write ``out``: the model with ``ahead_logits`` = head(h_out[top layer]) as a fifth
    output. Returns ONNX Runtime's largest difference from PyTorch on random states."""
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(model))
    g = m.graph
    if any(o.name == OUTPUT for o in g.output):
        raise ValueError(f"{model}: already has an {OUTPUT} output")
    hdims = next(i for i in g.input if i.name == "h").type.tensor_type.shape.dim
    layers = hdims[0].dim_value
    lin1, lin2 = head[0], head[2]
    inits = {
        "ahead.layer": np.array(layers - 1, np.int64),
        "ahead.w1": lin1.weight.detach().numpy().T.astype(np.float32),
        "ahead.b1": lin1.bias.detach().numpy().astype(np.float32),
        "ahead.w2": lin2.weight.detach().numpy().T.astype(np.float32),
        "ahead.b2": lin2.bias.detach().numpy().astype(np.float32),
    }
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items())
    g.node.extend([
        helper.make_node("Gather", ["h_out", "ahead.layer"], ["ahead/top"], axis=0),
        helper.make_node("MatMul", ["ahead/top", "ahead.w1"], ["ahead/mm1"]),
        helper.make_node("Add", ["ahead/mm1", "ahead.b1"], ["ahead/a1"]),
        helper.make_node("Tanh", ["ahead/a1"], ["ahead/t1"]),
        helper.make_node("MatMul", ["ahead/t1", "ahead.w2"], ["ahead/mm2"]),
        helper.make_node("Add", ["ahead/mm2", "ahead.b2"], [OUTPUT]),
    ])
    g.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", 12]))
    onnx.checker.check_model(m)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.part")
    onnx.save(m, str(tmp))
    tmp.replace(out)
    # parity: the grafted output against the head in PyTorch, on the model's own h_out
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    B = 5
    hidden = hdims[2].dim_value
    feeds = {i.name: rng.integers(0, 2, B).astype(np.int64) for i in sess.get_inputs() if i.name != "h"}
    feeds["prev_chord"][:] = NO_CHORD
    feeds["h"] = (rng.standard_normal((layers, B, hidden)) * 0.3).astype(np.float32)
    res = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))
    with torch.no_grad():
        want = head(torch.from_numpy(res["h_out"][-1])).numpy()
    return float(np.abs(res[OUTPUT] - want).max())


def add_ahead(model: Path, data: Path, out: Path | None = None, card: Path | None = None, steps: int = AHEAD_STEPS,
              hidden: int = AHEAD_HIDDEN, epochs: int = AHEAD_EPOCHS, seed: int = 0, transpose: int = AHEAD_TRANSPOSE,
              progress=print) -> dict:
    """Train the head on ``data``'s training pieces for ``model``, graft it (into ``out``,
    default ``model``), add an ``ahead`` section to the model card (default: the .json beside
    ``out``) and return that section."""
    from live.train.data import load_dataset
    from live.train.train import pieces_from_dataset

    t0 = time.monotonic()
    out = out or model
    ds = load_dataset(data)
    tr, va = pieces_from_dataset(ds, "train"), pieces_from_dataset(ds, "val")
    progress(f"look-ahead head: {len(tr)} training pieces (x{1 + transpose} keys), {len(va)} validation pieces, "
             f"{steps} steps ahead")
    tr = transposed(tr, transpose, seed)
    head = train_head(collect_states(model, tr, progress=progress), tr, steps, hidden, epochs, seed, progress)
    va_states = collect_states(model, va, progress=progress)
    by_source = {}
    for src in sorted({p.piece_id.split("/")[0] for p in va}):
        idx = [i for i, p in enumerate(va) if p.piece_id.split("/")[0] == src]
        by_source[src] = round(soft_nll(head, [va_states[i] for i in idx], [va[i] for i in idx], steps), 4)
    err = graft(model, head, out)
    progress(f"grafted {OUTPUT} into {out}; ONNX vs PyTorch max |diff| {err:.2e}; validation soft NLL {by_source}")
    section = {"output": OUTPUT, "steps": steps, "hidden": hidden, "epochs": epochs, "seed": seed,
               "transpose": transpose,
               "trained_on": sorted({p.piece_id.split("/")[0] for p in tr}),
               "val_soft_nll": by_source, "onnx_vs_torch_max_abs": err,
               "wall_s": round(time.monotonic() - t0, 1),
               "reproduce": f"python -m live.train.data --sources {','.join(ds.meta.get('sources') or [])} "
                            f"--out DATA.npz && python -m live.train.ahead --data DATA.npz --model {model} "
                            f"--steps {steps} --hidden {hidden} --epochs {epochs} --seed {seed} "
                            f"--transpose {transpose}"}
    from live.atomicfile import update_json

    update_json(card or out.with_suffix(".json"), "ahead", section)
    return section


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m live.train.ahead", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="dataset .npz (python -m live.train.data)")
    ap.add_argument("--model", type=Path, required=True, help="the exported model without the head")
    ap.add_argument("--out", type=Path, help="where to write the model with the head (default: --model)")
    ap.add_argument("--steps", type=int, default=AHEAD_STEPS)
    ap.add_argument("--hidden", type=int, default=AHEAD_HIDDEN)
    ap.add_argument("--epochs", type=int, default=AHEAD_EPOCHS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--transpose", type=int, default=AHEAD_TRANSPOSE,
                    help="extra random transpositions of each training piece (0..11)")
    args = ap.parse_args(argv)
    add_ahead(args.model, args.data, args.out, steps=args.steps, hidden=args.hidden, epochs=args.epochs,
              seed=args.seed, transpose=args.transpose)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
