"""Train the accompanist model on the CPU, export it to ONNX, write its model card.

    python -m live.train.train --data /tmp/sideman-data.npz --out live/models --minutes 20

Steps: windows of 64 eighth notes from the training pieces, each in a random one of the
12 transpositions; the previous chord is hidden from a share of the steps
(``--chord-dropout``; 1.0, the shipped model, hides it always: the model hears the melody
only, because a model that leans on the previous chord never leaves its own first guess
when it runs free, see live.model.ChordDecoder); the current melody note is hidden from
half the steps (so one model serves strict online decoding and the reactive variant);
melody-only pieces (music21's folk-tune corpora, under the folk style token) are drawn
``--melody-only-weight`` as often per step and train the melody head, which the live
decoder reads to choose chords (see docs/model.md);
Adam with a cosine learning-rate decay over the time budget; validation NLL every epoch,
the best epoch kept; then ONNX export and a parity check between PyTorch and ONNX
Runtime. ``--device cuda`` trains the same model on a GPU. Stage two then trains the
look-ahead head on the frozen model and grafts it into the graph (``live.train.ahead``;
``--ahead-steps 0`` skips it), and stage three packs the float model (``accompanist-fp32.onnx``)
into the one the live engine loads (``accompanist.onnx``: a lean graph with 8-bit weights,
``live.train.pack``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.train.ahead import AHEAD_STEPS
from live.train.model import BASS_CLASSES, NO_CHORD, STYLES

WINDOW = 64
IGNORE = -100
CHORD_DROPOUT = 1.0
#: Sources with no chords of their own that stand for a style the model knows (music21's
#: folk-tune corpora teach the folk style's melody continuation).
STYLE_OF_SOURCE = {"essen": "nottingham", "oneills": "nottingham", "ryans": "nottingham"}
#: A melody-only piece is drawn this much less often per step than a piece with chords,
#: so the chord head still sees most of the windows.
MELODY_ONLY_WEIGHT = 0.35
#: Weight of the melody-continuation loss (the live decoder chooses chords by it too).
MEL_LOSS = 1.0


@dataclass
class Piece:
    """One piece's step arrays (see live.train.data for their meaning)."""

    mel: np.ndarray
    mel_on: np.ndarray
    chord: np.ndarray
    bass: np.ndarray
    pos: np.ndarray
    style: int
    has_chords: bool
    piece_id: str = ""


def transpose(p: Piece, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mel, chord, bass) moved up k semitones; rests, N and no-bass stay."""
    mel = np.where(p.mel >= 0, (p.mel + k) % 12, -1)
    root, qual = p.chord // 13, p.chord % 13
    chord = np.where(p.chord == NO_CHORD, NO_CHORD, ((root + k) % 12) * 13 + qual)
    bass = np.where(p.bass >= 0, (p.bass + k) % 12, -1)
    return mel, chord, bass


def step_inputs(mel, mel_on, chord, pos, style, cur_known: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Model inputs for every step of a sequence (int64, length T)."""
    T = len(mel)
    prev_mel = np.zeros(T, np.int64)
    prev_mel[1:] = mel[:-1] + 1
    prev_on = np.zeros(T, np.int64)
    prev_on[1:] = mel_on[:-1]
    prev_chord = np.full(T, NO_CHORD, np.int64)
    prev_chord[1:] = chord[:-1]
    cur = (mel + 1).astype(np.int64)
    if cur_known is not None:
        cur = np.where(cur_known, cur, 0)
    return {"prev_mel": prev_mel, "prev_on": prev_on, "prev_chord": prev_chord,
            "pos": np.minimum(pos, 15).astype(np.int64), "style": np.full(T, style, np.int64), "cur_mel": cur}


def make_batch(pieces: list[Piece], rng: np.random.Generator, batch: int, window: int = WINDOW,
               reveal: float = 0.5, chord_dropout: float = CHORD_DROPOUT,
               melody_only_weight: float = MELODY_ONLY_WEIGHT) -> dict[str, np.ndarray]:
    keys = ["prev_mel", "prev_on", "prev_chord", "pos", "style", "cur_mel"]
    out = {k: np.zeros((batch, window), np.int64) for k in keys}
    out["prev_chord"][:] = NO_CHORD
    for t in ("y_chord", "y_bass", "y_mel"):
        out[t] = np.full((batch, window), IGNORE, np.int64)
    lengths = np.array([len(p.mel) * (1.0 if p.has_chords else melody_only_weight) for p in pieces], np.float64)
    choice = rng.choice(len(pieces), size=batch, p=lengths / lengths.sum())
    for b, i in enumerate(choice):
        p = pieces[i]
        start = int(rng.integers(0, max(1, len(p.mel) - window + 1)))
        end = min(len(p.mel), start + window)
        mel, chord, bass = transpose(p, int(rng.integers(0, 12)))
        known = rng.random(len(mel)) < reveal
        inp = step_inputs(mel, p.mel_on, chord, p.pos, p.style, known)
        # hide the previous chord from some steps: at run time the model follows its own
        # chords, and a model that leans on the true previous chord never changes chord
        inp["prev_chord"] = np.where(rng.random(len(mel)) < chord_dropout, NO_CHORD, inp["prev_chord"])
        n = end - start
        for k in keys:
            out[k][b, :n] = inp[k][start:end]
        if p.has_chords:
            out["y_chord"][b, :n] = chord[start:end]
            out["y_bass"][b, :n] = np.where(bass[start:end] >= 0, bass[start:end] + 1, 0)
        out["y_mel"][b, :n] = mel[start:end] + 1
    return out


def evaluate_nll(net, pieces: list[Piece], reveal: bool, device: str = "cpu",
                 chord_dropout: float = CHORD_DROPOUT) -> dict[str, float]:
    """Mean NLL per step of the reference chords, no transposition.

    The previous chord is the reference's (teacher forcing), or "no chord" for a model
    trained never to hear it (``chord_dropout`` 1).
    """
    import torch
    import torch.nn.functional as F

    tot = {"chord": 0.0, "bass": 0.0, "mel": 0.0}
    n = {"chord": 0, "bass": 0, "mel": 0}
    net.eval()
    with torch.no_grad():
        for p in pieces:
            inp = step_inputs(p.mel, p.mel_on, p.chord, p.pos, p.style,
                              np.full(len(p.mel), reveal))
            if chord_dropout >= 1.0:
                inp["prev_chord"][:] = NO_CHORD
            t = {k: torch.from_numpy(v)[None].to(device) for k, v in inp.items()}
            c, b, m, _ = net(t["prev_mel"], t["prev_on"], t["prev_chord"], t["pos"], t["style"], t["cur_mel"],
                             net.zero_state(1).to(device))
            c, b, m = c.cpu(), b.cpu(), m.cpu()
            if p.has_chords:
                tot["chord"] += float(F.cross_entropy(c[0], torch.from_numpy(p.chord.astype(np.int64)),
                                                      reduction="sum"))
                n["chord"] += len(p.chord)
                yb = torch.from_numpy(np.where(p.bass >= 0, p.bass + 1, 0).astype(np.int64))
                tot["bass"] += float(F.cross_entropy(b[0], yb, reduction="sum"))
                n["bass"] += len(p.bass)
            tot["mel"] += float(F.cross_entropy(m[0], torch.from_numpy((p.mel + 1).astype(np.int64)),
                                                reduction="sum"))
            n["mel"] += len(p.mel)
    net.train()
    return {k: tot[k] / max(n[k], 1) for k in tot}


def train(train_pieces: list[Piece], val_pieces: list[Piece], *, minutes: float, seed: int = 0,
          hidden: int = 192, layers: int = 2, batch: int = 48, lr: float = 2e-3, max_steps: int | None = None,
          device: str = "cpu", chord_dropout: float = CHORD_DROPOUT,
          melody_only_weight: float = MELODY_ONLY_WEIGHT, mel_loss: float = MEL_LOSS, progress=print):
    """Returns (best net, on the CPU, and its history).

    The learning rate decays along a cosine from ``lr`` to ``lr / 20`` over the time
    budget (or ``max_steps``), so a longer run ends as settled as a short one. The epoch
    kept is the one with the lowest validation chord + melody NLL (online): the live
    decoder chooses by both heads.
    """
    import torch
    import torch.nn.functional as F

    from live.train.model import AccompanistNet

    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rng = np.random.default_rng(seed)
    net = AccompanistNet(hidden=hidden, layers=layers).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = max(20, sum(len(p.mel) for p in train_pieces) // (batch * WINDOW))
    if device != "cpu":
        steps_per_epoch = max(steps_per_epoch, 400)  # validation would dominate a fast device
    start = time.monotonic()
    deadline = start + minutes * 60
    best, best_state, history = math.inf, None, []
    step = 0
    epoch = 0
    while time.monotonic() < deadline and (max_steps is None or step < max_steps):
        epoch += 1
        losses = []
        for _ in range(steps_per_epoch):
            if time.monotonic() >= deadline or (max_steps is not None and step >= max_steps):
                break
            done = step / max_steps if max_steps else (time.monotonic() - start) / (minutes * 60)
            for g in opt.param_groups:
                g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))
            bt = {k: torch.from_numpy(v).to(device) for k, v in make_batch(
                train_pieces, rng, batch, chord_dropout=chord_dropout,
                melody_only_weight=melody_only_weight).items()}
            c, b, m, _ = net(bt["prev_mel"], bt["prev_on"], bt["prev_chord"], bt["pos"], bt["style"],
                             bt["cur_mel"], net.zero_state(batch).to(device))
            loss = (F.cross_entropy(c.reshape(-1, c.shape[-1]), bt["y_chord"].reshape(-1), ignore_index=IGNORE)
                    + 0.5 * F.cross_entropy(b.reshape(-1, BASS_CLASSES), bt["y_bass"].reshape(-1),
                                            ignore_index=IGNORE)
                    + mel_loss * F.cross_entropy(m.reshape(-1, m.shape[-1]), bt["y_mel"].reshape(-1),
                                                 ignore_index=IGNORE))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
        if val_pieces:
            val = evaluate_nll(net, val_pieces, reveal=False, device=device, chord_dropout=chord_dropout)
        else:
            val = {"chord": float(np.mean(losses))}
        history.append({"epoch": epoch, "steps": step, "train_loss": float(np.mean(losses)) if losses else None,
                        "val_nll_online": val})
        progress(f"  epoch {epoch:3d}  step {step:6d}  train loss {np.mean(losses):.3f}  "
                 f"val chord NLL (online) {val['chord']:.3f}  bass {val.get('bass', 0):.3f}  "
                 f"melody {val.get('mel', 0):.3f}")
        if val["chord"] + val.get("mel", 0.0) < best:
            best = val["chord"] + val.get("mel", 0.0)
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    net = net.cpu()
    net.eval()
    return net, history


def export_onnx(net, path: Path) -> dict:
    """Export the one-step graph; check ONNX Runtime against PyTorch. Returns the errors."""
    import onnxruntime as ort
    import torch

    from live.train.model import INPUT_NAMES, OUTPUT_NAMES, StepWrapper

    step = StepWrapper(net).eval()
    B = 3
    rng = np.random.default_rng(1)
    ex = (torch.from_numpy(rng.integers(0, 13, B)), torch.from_numpy(rng.integers(0, 2, B)),
          torch.from_numpy(rng.integers(0, 157, B)), torch.from_numpy(rng.integers(0, 16, B)),
          torch.from_numpy(rng.integers(0, len(STYLES), B)), torch.from_numpy(rng.integers(0, 13, B)),
          torch.randn(net.layers, B, net.hidden) * 0.1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    dyn = {n: {0: "batch"} for n in INPUT_NAMES[:-1]}
    dyn["h"] = {1: "batch"}
    dyn.update({n: {0: "batch"} for n in OUTPUT_NAMES[:-1]})
    dyn["h_out"] = {1: "batch"}
    torch.onnx.export(step, ex, str(tmp), input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                      dynamic_axes=dyn, opset_version=17, dynamo=False)
    tmp.replace(path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {n: t.numpy() for n, t in zip(INPUT_NAMES, ex, strict=True)}
    got = sess.run(None, feeds)
    with torch.no_grad():
        want = [t.numpy() for t in step(*ex)]
    return {name: float(np.abs(g - w).max()) for name, g, w in zip(OUTPUT_NAMES, got, want, strict=True)}


def pieces_from_dataset(ds, split: str) -> list[Piece]:
    """Adapter from live.train.data's Dataset to Pieces."""
    out = []
    for p in ds.split(split):
        src = STYLE_OF_SOURCE.get(p.source, p.source)
        style = STYLES.index(src) if src in STYLES else STYLES.index("other")
        out.append(Piece(np.asarray(p.mel), np.asarray(p.mel_on), np.asarray(p.chord), np.asarray(p.bass),
                         np.asarray(p.pos), style, bool((np.asarray(p.chord) != NO_CHORD).any()), p.piece_id))
    return out


def main(argv: list[str] | None = None) -> int:
    from live.train import DEFAULT_SOURCES
    from live.train.data import SOURCES as DATA_SOURCES
    from live.train.data import counts, dataset_for, load_dataset

    ap = argparse.ArgumentParser(prog="python -m live.train.train")
    ap.add_argument("--data", default="/tmp/sideman-data.npz",
                    help="a dataset .npz (read as built; built from --sources where missing), or a folder of "
                         "MIDI, MusicXML or ABC files to train on (with --sources, added to them)")
    ap.add_argument("--sources", help=f"comma separated: {', '.join(DATA_SOURCES)}, folder:/path "
                                      f"(default {DEFAULT_SOURCES}; given, the dataset is rebuilt from them)")
    ap.add_argument("--limit", type=int, help="pieces per source (tiny runs)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "models"))
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=48, help="windows per step (larger on a GPU)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda to train on a GPU (same model, faster)")
    ap.add_argument("--chord-dropout", type=float, default=CHORD_DROPOUT,
                    help="share of steps whose previous chord is hidden (1.0: the model hears the melody only)")
    ap.add_argument("--melody-only-weight", type=float, default=MELODY_ONLY_WEIGHT,
                    help="how often a melody-only piece is drawn per step, relative to a piece with chords")
    ap.add_argument("--mel-loss", type=float, default=MEL_LOSS, help="weight of the melody-continuation loss")
    ap.add_argument("--ahead-steps", type=int, default=AHEAD_STEPS,
                    help="then train the look-ahead head (live.train.ahead) over this many steps; 0: none")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    out = Path(args.out)
    data, sources = dataset_for(Path(args.data), args.sources, limit=args.limit, folder_out=out / "data.npz")
    ds = load_dataset(data)
    tr, va = pieces_from_dataset(ds, "train"), pieces_from_dataset(ds, "val")
    print(f"training on {len(tr)} pieces ({sum(len(p.mel) for p in tr)} steps), validating on {len(va)}")
    net, history = train(tr, va, minutes=args.minutes, seed=args.seed, hidden=args.hidden,
                         max_steps=args.max_steps, batch=args.batch, device=args.device,
                         chord_dropout=args.chord_dropout, melody_only_weight=args.melody_only_weight,
                         mel_loss=args.mel_loss)
    from live.model import FLOAT_MODEL
    from live.train.pack import pack

    out = Path(args.out)
    onnx_path = out / FLOAT_MODEL  # the float export; the live engine's accompanist.onnx is packed from it
    err = export_onnx(net, onnx_path)
    print(f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB); ONNX vs PyTorch max |diff| {err}")
    card = {"model": "accompanist.onnx", "architecture": f"GRU {net.layers}x{net.hidden}, eighth-note steps",
            "data": {"sources": sources, "limit": args.limit, "counts": counts(ds)},
            "training": {"minutes": args.minutes, "seed": args.seed, "history": history,
                         "wall_s": round(time.monotonic() - t0, 1)},
            "onnx_vs_torch_max_abs": err,
            "reproduce": " ".join(["python -m live.train.train", f"--sources {','.join(sources)}",
                                   f"--minutes {args.minutes:g}"]
                                  + ([f"--max-steps {args.max_steps}"] if args.max_steps else [])
                                  + [f"--seed {args.seed}",
                                   f"--hidden {args.hidden}", f"--batch {args.batch}", f"--device {args.device}",
                                   f"--chord-dropout {args.chord_dropout:g}",
                                   f"--melody-only-weight {args.melody_only_weight:g}",
                                   f"--mel-loss {args.mel_loss:g}"]
                                  + ([f"--limit {args.limit}"] if args.limit else []))}
    from live.atomicfile import write_text

    write_text(out / "accompanist.json", json.dumps(card, indent=1))
    print(f"wrote {out / 'accompanist.json'}")
    if args.ahead_steps > 0:  # stage two: the look-ahead head on the frozen GRU (adds to the card)
        from live.train.ahead import add_ahead

        add_ahead(onnx_path, data, card=out / "accompanist.json", steps=args.ahead_steps, seed=args.seed)
    pack(onnx_path, out / "accompanist.onnx")  # stage three: the lean graph, 8-bit weights (adds to the card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
