"""sideman harmonize --render: the band plays the chords harmonize chose, to WAV and PNG."""

from __future__ import annotations

import json
import wave

import pytest

pytest.importorskip("onnxruntime")

from live.cli import main  # noqa: E402
from live.studio.common import MNote, write_melody_midi  # noqa: E402


def test_render_writes_wav_and_png_beside_the_midi_and_json(tmp_path, capsys):
    notes = [MNote(i * 1.0, 0.9, p, 90) for i, p in enumerate([60, 64, 67, 65, 64, 62, 60, 59, 60, 62, 64, 60])]
    path = tmp_path / "mel.mid"
    write_melody_midi(path, [("melody", notes, 0, 0)], 120, 4)
    out = tmp_path / "out"
    assert main(["harmonize", str(path), "--out", str(out), "--render"]) == 0
    assert "real time" in capsys.readouterr().out
    with wave.open(str(out / "mel.wav")) as w:
        assert w.getnframes() / w.getframerate() >= 12 * 0.5  # 12 beats at 120 bpm
    from live.studio.audiofile import read_wav

    peak = float(abs(read_wav(out / "mel.wav").data).max())
    assert 0.05 < peak < 1.0, peak  # the band is heard, and does not clip
    assert (out / "mel.png").stat().st_size > 1000
    assert json.loads((out / "mel.json").read_text())
    assert main(["harmonize", str(path), "--out", str(out), "--render"]) == 2  # exists: no --force
