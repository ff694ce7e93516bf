"""A tiny accompanist model for the tests of the training pipeline's later stages (the
look-ahead head, the packing): trained a few steps on the given pieces and exported, with a
look-ahead head trained on its states; and a folder of tiny MIDI songs with chords. One copy
for every test module that needs them."""

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


def write_songs(folder, n: int = 24):
    """``n`` 8-bar MIDI songs (a melody track and a chord track, I-IV-V-I in key k)."""
    import mido

    folder.mkdir()
    for k in range(n):
        mid = mido.MidiFile(type=1, ticks_per_beat=480)
        mel, chords = mido.MidiTrack(), mido.MidiTrack()
        for bar in range(8):
            root = (k + (0, 5, 7, 0)[bar % 4]) % 12
            for n_ in (48, 52, 55):
                chords.append(mido.Message("note_on", note=n_ + root, velocity=70, time=0))
            for i, n_ in enumerate((48, 52, 55)):
                chords.append(mido.Message("note_off", note=n_ + root, velocity=0, time=1920 if i == 0 else 0))
            for b in range(4):
                note = 72 + (root + (0, 4, 7, 4)[(b + bar) % 4]) % 12
                mel += [mido.Message("note_on", note=note, velocity=90, time=0),
                        mido.Message("note_off", note=note, velocity=0, time=480)]
        mid.tracks += [mel, chords]
        mid.save(folder / f"song{k:02d}.mid")
    return folder
