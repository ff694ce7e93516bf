"""``sideman soundscape``: length, no clipping, it evolves, moods differ, seeds repeat."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.loudness import biquad_cascade, kweight_coeffs, measure, segment_energy, window_loudness
from live.cli import main
from live.studio.audiofile import read_wav
from live.studio.soundscape import soundscape

MINUTES = 0.2  # 12 s


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("scape")
    reports = {m: soundscape(m, MINUTES, out, seed=7, progress=None, png=(m == "calm")) for m in ("dark", "bright",
                                                                                               "calm")}
    return out, reports


def centroid(x, sr):
    spec = np.abs(np.fft.rfft(x.mean(axis=1)))
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return float((spec * f).sum() / spec.sum())


def test_length_and_no_clipping(rendered):
    out, reports = rendered
    for mood in reports:
        a = read_wav(out / f"soundscape-{mood}.wav")
        assert a.seconds == pytest.approx(MINUTES * 60, abs=0.01)
        assert np.abs(a.data).max() < 10 ** (-1 / 20)
        m = measure(a.data, a.sr)
        assert m["true_peak_dbtp"] <= -1.0 and abs(m["integrated_lufs"] + 18) <= 0.5
    assert (out / "soundscape-calm.png").stat().st_size > 5000


def test_it_evolves(rendered):
    out, _ = rendered
    a = read_wav(out / "soundscape-calm.wav")
    y = biquad_cascade(a.data, kweight_coeffs(a.sr), np.empty_like(a.data))
    seg = a.sr // 10
    short = window_loudness(segment_energy(y, seg, np.empty((len(y) // seg, 2))), seg, 10)  # 1 s windows
    assert short.max() - short.min() > 6  # swells in, breathes, fades out
    half = len(a.data) // 2
    assert abs(centroid(a.data[:half], a.sr) - centroid(a.data[half:], a.sr)) > 20  # the colour moves too


def test_moods_differ(rendered):
    out, _ = rendered
    c = {m: centroid(read_wav(out / f"soundscape-{m}.wav").data, 48000) for m in ("dark", "bright")}
    assert c["dark"] < 0.5 * c["bright"]


def test_reproducible_for_a_seed_and_not_across_seeds(tmp_path, rendered):
    out, _ = rendered
    soundscape("dark", MINUTES, tmp_path, seed=7, progress=None, png=False)
    again = read_wav(tmp_path / "soundscape-dark.wav").data
    assert np.array_equal(again, read_wav(out / "soundscape-dark.wav").data)
    soundscape("dark", MINUTES, tmp_path / "other", seed=8, progress=None, png=False)
    assert not np.array_equal(again, read_wav(tmp_path / "other" / "soundscape-dark.wav").data)


def test_command_refuses_to_overwrite_and_checks_length(rendered, capsys):
    out, _ = rendered
    assert main(["soundscape", "--mood", "dark", "--minutes", str(MINUTES), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["soundscape", "--minutes", "0", "--out", str(out / "x")]) == 2
    assert "--minutes" in capsys.readouterr().err
