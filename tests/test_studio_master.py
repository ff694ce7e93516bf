"""Loudness measurement (BS.1770-4 kernels against references and known signals), the
mastering chain, WAV reading, and ``sideman master`` / ``sideman mix``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from kernels.dynamics import compressor_gain, compressor_gain_ref, limiter_gain, limiter_gain_ref, rbj_highpass
from kernels.loudness import (HIGHPASS_48K, SHELF_48K, biquad_cascade, biquad_cascade_ref, gated_loudness,
                              gated_loudness_ref, interpolator, kweight_coeffs, measure, oversampled_peaks,
                              segment_energy, segment_energy_ref, true_peak_ref)
from live.cli import main
from live.errors import InputFileError, OutputExistsError
from live.studio.audiofile import read_wav, write_wav
from live.studio.master import master_audio

SR = 48000


def sine(f, db, seconds, sr=SR, phase=0.0):
    t = np.arange(int(seconds * sr)) / sr
    return 10 ** (db / 20) * np.sin(2 * np.pi * f * t + phase)


def music(seconds=12.0, sr=SR, seed=0):
    """Something like a mix: chords, a pulse with sharp transients, noise, swelling."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.2 * t)
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220, 277.2, 329.6)) * 0.15 * swell
    kick = np.zeros_like(t)
    for k in range(0, len(t) - 3000, sr // 2):
        kick[k:k + 3000] += np.exp(-np.arange(3000) / 500) * np.sin(2 * np.pi * 55 * np.arange(3000) / sr)
    left = tone + 0.6 * kick + 0.02 * rng.normal(size=len(t))
    right = 0.8 * tone + 0.6 * kick + 0.02 * rng.normal(size=len(t))
    return np.stack([left, right], 1)


# --- kernels against references --------------------------------------------------


def test_kweighting_at_48k_is_the_standards_table():
    c = kweight_coeffs(48000)
    np.testing.assert_allclose(c[0, :3], SHELF_48K[0], atol=1e-12)
    np.testing.assert_allclose(c[0, 3:], SHELF_48K[1], atol=1e-12)
    np.testing.assert_allclose(c[1, :3], HIGHPASS_48K[0], atol=1e-12)
    np.testing.assert_allclose(c[1, 3:], HIGHPASS_48K[1], atol=1e-12)


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_kweighting_gain_at_997hz_cancels_the_offset_at_any_rate(sr):
    c = kweight_coeffs(sr)
    z = np.exp(-1j * 2 * np.pi * 997 / sr)
    h = np.prod([(s[0] + s[1] * z + s[2] * z * z) / (s[3] + s[4] * z + s[5] * z * z) for s in c])
    assert 20 * np.log10(abs(h)) == pytest.approx(0.691, abs=0.02)  # measured: 0.6938 at 44.1k, 0.6737 at 96k (warping)


def test_biquad_kernel_matches_reference():
    x = np.random.default_rng(0).normal(size=(3000, 2))
    sos = np.vstack([kweight_coeffs(44100), rbj_highpass(30, 44100)])
    np.testing.assert_allclose(biquad_cascade(x, sos, np.empty_like(x)), biquad_cascade_ref(x, sos), atol=1e-10)


def test_segments_gating_and_true_peak_kernels_match_references():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(48000, 2))
    np.testing.assert_allclose(segment_energy(y, 4800, np.empty((10, 2))), segment_energy_ref(y, 4800), rtol=1e-12)
    blocks = np.concatenate([rng.uniform(-80, -10, 200), np.full(20, -np.inf)])
    assert gated_loudness(blocks) == pytest.approx(gated_loudness_ref(blocks), abs=1e-9)
    assert gated_loudness(np.full(5, -90.0)) == -np.inf
    x = rng.normal(size=(2000, 2)) * 0.3
    ph = interpolator()
    assert oversampled_peaks(x, ph, np.empty(2000)).max() == pytest.approx(true_peak_ref(x, ph), rel=1e-9)


def test_dynamics_kernels_match_references():
    x = music(1.0)
    g = compressor_gain(x, float(SR), -20.0, 3.0, 6.0, 0.005, 0.1, np.empty(len(x)))
    np.testing.assert_allclose(g, compressor_gain_ref(x, SR, -20.0, 3.0, 6.0, 0.005, 0.1), rtol=1e-9)
    need = np.minimum(1.0, 0.5 / np.maximum(np.abs(x).max(axis=1), 1e-9))
    lg = limiter_gain(need, 72, 0.999, np.empty_like(need))
    np.testing.assert_allclose(lg, limiter_gain_ref(need, 72, 0.999), rtol=1e-9)
    assert (lg <= need + 1e-12).all()  # never lets a peak through


# --- known signals ---------------------------------------------------------------


def test_997hz_sine_at_minus_20_dbfs_in_one_channel_reads_minus_23_01_lufs():
    s = sine(997, -20, 10)
    # BS.1770-4: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS
    assert measure(np.stack([s, 0 * s], 1), SR)["integrated_lufs"] == pytest.approx(-23.01, abs=0.01)
    assert measure(s[:, None], SR)["integrated_lufs"] == pytest.approx(-23.01, abs=0.01)


def test_stereo_sine_in_both_channels_reads_its_level():
    s = sine(997, -20, 10)  # EBU Tech 3341 case 1 at -20: each channel -20 dBFS -> -20.0 LUFS
    m = measure(np.stack([s, s], 1), SR)
    assert m["integrated_lufs"] == pytest.approx(-20.0, abs=0.01)
    assert m["true_peak_dbtp"] == pytest.approx(-20.0, abs=0.02)
    assert m["lra_lu"] == pytest.approx(0.0, abs=0.1)


def test_44k1_file_measures_the_same():
    s = sine(997, -20, 10, sr=44100)
    assert measure(np.stack([s, s], 1), 44100)["integrated_lufs"] == pytest.approx(-20.0, abs=0.02)


def test_gating_ignores_silence_and_quiet_passages():
    s = sine(997, -20, 10)
    loud = np.stack([s, s], 1)
    with_silence = np.concatenate([loud, np.zeros((10 * SR, 2))])
    # the three blocks that straddle the edge pass both gates: -20.07 measured, as the standard says
    assert measure(with_silence, SR)["integrated_lufs"] == pytest.approx(-20.0, abs=0.1)
    q = sine(997, -40, 10)
    with_quiet = np.concatenate([loud, np.stack([q, q], 1)])  # -40 is under the -10 LU relative gate
    m = measure(with_quiet, SR)
    assert m["integrated_lufs"] == pytest.approx(-20.0, abs=0.1)
    assert m["lra_lu"] > 15  # EBU 3342's gate is -20 LU: the quiet half counts for the range
    assert measure(np.zeros((SR, 2)), SR)["integrated_lufs"] == -np.inf


def test_true_peak_sees_the_intersample_peak():
    s = sine(12000, 0, 1, phase=np.pi / 4)  # samples at +-0.707, the wave between them at 1.0
    m = measure(s[:, None], SR)
    assert m["sample_peak_dbfs"] == pytest.approx(-3.01, abs=0.01)
    assert m["true_peak_dbtp"] == pytest.approx(0.0, abs=0.1)


# --- the mastering chain ----------------------------------------------------------


@pytest.mark.parametrize("scale,target", [(0.05, -14.0), (1.0, -14.0), (2.0, -16.0), (0.3, -23.0)])
def test_master_reaches_the_target_under_the_ceiling(scale, target):
    x = music() * scale
    y, r = master_audio(x, SR, target)
    m = measure(y, SR)
    assert abs(m["integrated_lufs"] - target) <= 0.5
    assert m["true_peak_dbtp"] <= -1.0
    before = measure(x, SR)["integrated_lufs"]
    assert (m["integrated_lufs"] > before) == (before < target)  # quiet raised, loud lowered
    assert r["before"]["integrated_lufs"] == pytest.approx(before)


def test_master_of_silence_is_a_clear_error():
    with pytest.raises(InputFileError, match="silent"):
        master_audio(np.zeros((SR, 2)), SR, -14, source="quiet.wav")


# --- WAV files and the commands -------------------------------------------------


def write_raw_wav(path, x, sr, bits, is_float):
    """A WAV written by the standard library (PCM) or by hand (float), not by our writer."""
    import struct
    import wave

    if not is_float:
        if bits == 24:
            write_wav(path, x, sr, 24)
            return
        with wave.open(str(path), "wb") as w:
            w.setnchannels(x.shape[1])
            w.setsampwidth(2)
            w.setframerate(sr)
            w.writeframes((np.clip(x, -1, 1 - 1 / 32768) * 32768).astype("<i2").tobytes())
        return
    data = x.astype("<f4").tobytes()
    ch = x.shape[1]
    fmt = struct.pack("<HHIIHH", 3, ch, sr, sr * ch * 4, ch * 4, 32)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 24 + 8 + len(data)) + b"WAVE" + b"fmt " +
                     struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data)


@pytest.mark.parametrize("bits,is_float,channels", [(16, False, 1), (16, False, 2), (24, False, 2),
                                                    (32, True, 1), (32, True, 2)])
def test_wav_formats_read(tmp_path, bits, is_float, channels):
    x = np.stack([sine(440, -6, 0.5), sine(660, -12, 0.5)], 1)[:, :channels]
    p = tmp_path / "in.wav"
    write_raw_wav(p, x, SR, bits, is_float)
    a = read_wav(p)
    assert (a.sr, a.channels, a.bits, a.is_float) == (SR, channels, bits, is_float)
    np.testing.assert_allclose(a.data, x, atol=2.0 ** -(bits - 2) if not is_float else 1e-7)


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"MThd\0\0\0\6" + b"\0" * 20, "not a WAV"),
                                           (b"RIFF\x10\0\0\0WAVEjunk", "fmt"),
                                           (b"hello world, not audio", "not a WAV")])
def test_non_wav_is_a_clear_error(tmp_path, content, match):
    p = tmp_path / "song.wav"
    p.write_bytes(content)
    with pytest.raises(InputFileError, match=match) as e:
        read_wav(p)
    assert "song.wav" in str(e.value)


def test_sideman_master_command(tmp_path, capsys):
    src = tmp_path / "quiet.wav"
    write_wav(src, music(8.0) * 0.1, SR, 16)
    assert main(["master", str(src), "loud.wav", "--out", str(tmp_path), "--target", "-14"]) == 0
    out = capsys.readouterr().out
    assert "before" in out and "after" in out and "x real time" in out
    y = read_wav(tmp_path / "loud.wav")
    m = measure(y.data, y.sr)
    assert abs(m["integrated_lufs"] + 14) <= 0.5 and m["true_peak_dbtp"] <= -1.0
    report = json.loads((tmp_path / "loud.json").read_text())
    assert report["after"]["integrated_lufs"] == pytest.approx(m["integrated_lufs"], abs=0.05)
    assert report["before"]["integrated_lufs"] < -25
    with pytest.raises(OutputExistsError):
        from live.studio.master import master_file

        master_file(src, tmp_path / "loud.wav")
    assert main(["master", str(src), "loud.wav", "--out", str(tmp_path)]) == 2  # exists, no --force
    assert main(["master", str(src), "loud.wav", "--out", str(tmp_path), "--force"]) == 0
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"MThd" + b"\0" * 30)
    assert main(["master", str(bad), "--out", str(tmp_path)]) == 2
    assert "notes.wav: not a WAV file" in capsys.readouterr().err


def test_sideman_mix_command(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    write_wav(a, music(6.0, seed=1) * 0.2, SR, 24)
    write_wav(b, sine(330, -30, 5.0)[:, None], SR, 16)  # mono and shorter
    out = tmp_path / "mix.wav"
    assert main(["mix", str(a), str(b), "--out", str(out), "--target", "-16", "--gain", "0,-3"]) == 0
    y = read_wav(out)
    assert y.channels == 2 and y.seconds == pytest.approx(6.0, abs=0.01)
    m = measure(y.data, y.sr)
    assert abs(m["integrated_lufs"] + 16) <= 0.5 and m["true_peak_dbtp"] <= -1.0
    report = json.loads(out.with_suffix(".json").read_text())
    assert len(report["stems"]) == 2 and math.isfinite(report["stems"][1]["integrated_lufs"])
    c = tmp_path / "c.wav"
    write_wav(c, sine(330, -20, 1.0, sr=44100)[:, None], 44100, 16)
    with pytest.raises(InputFileError, match="sample rate"):
        from live.studio.master import mix_files

        mix_files([str(a), str(c)], tmp_path / "mix2.wav")
