"""A tiny accompanist model for the tests of the training pipeline's later stages (the
look-ahead head, the packing): trained a few steps on the given pieces and exported, with a
look-ahead head trained on its states. One copy for every test module that needs it."""

from __future__ import annotations

from pathlib import Path


def toy_model(out: Path, pieces: list, hidden: int, head_epochs: int):
    """(the exported model without the head, the head, its states per piece)."""
    from live.train.ahead import collect_states, train_head
    from live.train.train import export_onnx, train

    quiet = lambda *_: None  # noqa: E731
    net, _ = train(pieces, pieces[:1], minutes=1.0, max_steps=30, hidden=hidden, batch=8, progress=quiet)
    plain = out / "plain.onnx"
    export_onnx(net, plain)
    states = collect_states(plain, pieces, progress=quiet)
    head = train_head(states, pieces, steps=4, hidden=16, epochs=head_epochs, progress=quiet)
    return plain, head, states
