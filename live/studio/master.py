"""``sideman master`` and ``sideman mix``: a finished, loudness-normalised WAV.

    sideman master IN.wav [OUT.wav] [--target -14] [--tilt DB] [--out DIR]
    sideman mix STEM.wav [STEM.wav ...] --out MIX.wav [--target -14]

The chain (:func:`master_audio`), all offline, all in numba kernels
(kernels/loudness.py, kernels/dynamics.py):

1. EQ: a gentle low cut (2nd-order high-pass, 30 Hz by default) and an optional tilt
   (a low shelf at 250 Hz and a high shelf at 4 kHz, -tilt/2 and +tilt/2 dB).
2. Gain to the target loudness, then a gentle glue compressor (2:1, soft 6 dB knee,
   threshold 8 dB above the target, 10 ms attack, 200 ms release, linked channels).
3. A true-peak limiter (1.5 ms look-ahead, 100 ms release) to the ceiling (-1 dBTP),
   reading peaks on the 4x oversampled waveform; then measure, correct the gain and
   limit again until the integrated loudness is within 0.1 LU of the target and the
   true peak at or under the ceiling (a few passes).
4. Write 24-bit PCM (16-bit with seeded TPDF dither, or 32-bit float, with --bits) and
   a JSON report beside it: integrated loudness, true peak, sample peak and loudness
   range before and after, the gains applied.

Threading model: control thread only.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from live.errors import InputFileError, SidemanError

DEFAULT_TARGET = -14.0
CEILING = -1.0  # dBTP
LOOK_S, RELEASE_S = 0.0015, 0.1
MAX_PASSES = 12


class MasterError(SidemanError, ValueError):
    """Mastering cannot do what was asked (e.g. a target that needs absurd gain)."""


def _limit(y: np.ndarray, sr: int, ceiling_db: float) -> float:
    """Limit ``y`` in place to ``ceiling_db`` true peak; return the largest reduction in dB."""
    from kernels.dynamics import limiter_gain
    from kernels.loudness import interpolator, oversampled_peaks

    peaks = oversampled_peaks(y, interpolator(), np.empty(y.shape[0]))
    c = 10 ** (ceiling_db / 20)
    if peaks.max() <= c:
        return 0.0
    need = np.minimum(1.0, c / np.maximum(peaks, 1e-12))
    g = limiter_gain(need, max(1, int(LOOK_S * sr)), math.exp(-1.0 / (RELEASE_S * sr)), np.empty_like(need))
    y *= g[:, None]
    return float(-20 * np.log10(g.min()))


def quantize(y: np.ndarray, bits: int, seed: int = 0) -> np.ndarray:
    """What a ``bits``-bit file will hold (16-bit with TPDF dither from ``seed``)."""
    if bits == 32:
        return y.astype(np.float32).astype(np.float64)
    full = float(1 << (bits - 1))
    v = y * full
    if bits == 16:
        rng = np.random.default_rng(seed)
        v = v + rng.random(v.shape) - rng.random(v.shape)
    return np.clip(np.round(v), -full, full - 1) / full


def master_audio(x: np.ndarray, sr: int, target: float = DEFAULT_TARGET, *, lowcut: float = 30.0,
                 tilt: float = 0.0, ceiling: float = CEILING, compress: bool = True, bits: int = 24,
                 seed: int = 0, source: str = "<audio>", progress=None) -> tuple[np.ndarray, dict]:
    """Master ``x`` ((frames, channels) float, full scale 1.0) to ``target`` LUFS.

    Returns the mastered samples (already as the ``bits``-bit file will hold them) and
    a report: ``before`` and ``after`` measurements, gains, passes.

    Raises:
        InputFileError: ``x`` is silent (no 400 ms block above -70 LUFS).
        MasterError: the target or ceiling is out of range.
    """
    from kernels.dynamics import compressor_gain, rbj_highpass, rbj_shelf
    from kernels.loudness import biquad_cascade, measure

    if not -60.0 <= target <= -3.0:
        raise MasterError(f"--target must be -60..-3 LUFS, got {target:g}")
    if not -20.0 <= ceiling <= 0.0:
        raise MasterError(f"--ceiling must be -20..0 dBTP, got {ceiling:g}")
    say = progress or (lambda _m: None)
    x = np.ascontiguousarray(x, np.float64)
    before = measure(x, sr)
    if not math.isfinite(before["integrated_lufs"]):
        raise InputFileError(f"{source}: silent (no 400 ms block above -70 LUFS); nothing to master")
    say(f"  measured: {_line(before)}")
    sos = []
    if lowcut > 0:
        sos.append(rbj_highpass(lowcut, sr))
    if tilt:
        sos += [rbj_shelf(250.0, sr, -tilt / 2, high=False), rbj_shelf(4000.0, sr, tilt / 2, high=True)]
    y = biquad_cascade(x, np.array(sos), np.empty_like(x)) if sos else x.copy()
    level = measure(y, sr)["integrated_lufs"]
    if not math.isfinite(level):
        raise InputFileError(f"{source}: nothing left above -70 LUFS after the {lowcut:g} Hz low cut")
    pre = target - level
    y *= 10 ** (pre / 20)
    comp_db = 0.0
    if compress:
        g = compressor_gain(y, float(sr), target + 8.0, 2.0, 6.0, 0.010, 0.200, np.empty(y.shape[0]))
        y *= g[:, None]
        comp_db = max(0.0, float(-20 * np.log10(g.min())))
    say(f"  EQ (low cut {lowcut:g} Hz, tilt {tilt:+g} dB), gain {pre:+.1f} dB, compression up to {comp_db:.1f} dB")
    # gain G (dB) before the limiter -> loudness after it: rising, flatter the harder it
    # limits; solved by the secant method from G = 0 (the compressor's output is on target)
    y0 = y
    gain, margin, slope = 0.0, 0.0, 1.0
    last: tuple[float, float] | None = None
    lo: tuple[float, float] | None = None  # (gain, loudness) under the target
    hi: tuple[float, float] | None = None  # over it
    for k in range(1, MAX_PASSES + 1):
        y = y0 * 10 ** (gain / 20)
        lim_db = _limit(y, sr, ceiling - 0.1 - margin)
        out = quantize(y, bits, seed)
        after = measure(out, sr)
        level = after["integrated_lufs"]
        say(f"  pass {k}: gain {gain:+.2f} dB, limiting up to {lim_db:.1f} dB -> {_line(after)}")
        if after["true_peak_dbtp"] > ceiling:
            margin += after["true_peak_dbtp"] - ceiling + 0.05
            continue
        if abs(level - target) <= 0.1:
            break
        if level < target:
            lo = (gain, level)
        else:
            hi = (gain, level)
        if lo is not None and hi is not None:  # bracketed: interpolate inside the bracket
            secant = lo[0] + (target - lo[1]) * (hi[0] - lo[0]) / (hi[1] - lo[1])
            gain = 0.5 * secant + 0.25 * (lo[0] + hi[0])  # half bisection: no stalling at one end
        else:
            if last is not None and abs(gain - last[0]) > 1e-6:
                slope = min(1.0, max(0.1, (level - last[1]) / (gain - last[0])))
            last = (gain, level)
            gain += max(-24.0, min(24.0, (target - level) / slope))
    total_gain = pre + gain
    if abs(after["integrated_lufs"] - target) > 0.5:
        say(f"  warning: {after['integrated_lufs']:.1f} LUFS is as close to {target:g} as the limiter gets "
            f"at {ceiling:g} dBTP; a lower target suits this material")
    report = {"input": source, "sample_rate": sr, "channels": int(x.shape[1]), "target_lufs": target,
              "ceiling_dbtp": ceiling, "before": before, "after": after,
              "gain_db": round(total_gain, 2), "compression_max_db": round(comp_db, 2),
              "limiting_max_db": round(lim_db, 2), "passes": k,
              "eq": {"lowcut_hz": lowcut, "tilt_db": tilt}, "bits": bits}
    return out, report


def _line(m: dict) -> str:
    return (f"{m['integrated_lufs']:.1f} LUFS, true peak {m['true_peak_dbtp']:.1f} dBTP, "
            f"LRA {m['lra_lu']:.1f} LU")


def report_text(r: dict) -> str:
    """Before/after, for people."""
    b, a = r["before"], r["after"]
    rows = [("integrated loudness", "LUFS", "integrated_lufs"), ("true peak", "dBTP", "true_peak_dbtp"),
            ("sample peak", "dBFS", "sample_peak_dbfs"), ("loudness range", "LU", "lra_lu")]
    lines = [f"  {'':22}{'before':>10}{'after':>10}"]
    for name, unit, k in rows:
        lines.append(f"  {name + ' (' + unit + ')':22}{b[k]:>10.1f}{a[k]:>10.1f}")
    lines.append(f"  gain {r['gain_db']:+.1f} dB, compression <= {r['compression_max_db']:.1f} dB, "
                 f"limiting <= {r['limiting_max_db']:.1f} dB, {r['passes']} pass(es)")
    return "\n".join(lines)


def master_file(src: str | Path, dst: str | Path, *, target: float = DEFAULT_TARGET, force: bool = False,
                lowcut: float = 30.0, tilt: float = 0.0, ceiling: float = CEILING, bits: int = 24, seed: int = 0,
                progress=print) -> dict:
    """Master the WAV ``src`` into ``dst`` and ``dst``.json.

    Raises:
        InputFileError: ``src`` is not a readable WAV, or is silent.
        OutputExistsError: an output exists and ``force`` is False.
    """
    from live.studio.audiofile import read_wav
    from live.atomicfile import check_out_dir
    from live.studio.common import check_free

    t0 = time.perf_counter()
    dst = Path(dst)
    js = dst.with_suffix(".json")
    check_free([dst, js], force)
    check_out_dir(dst.parent, what="output folder")
    audio = read_wav(src)
    progress(f"{src}: {audio.describe()}")
    y, report = master_audio(audio.data, audio.sr, target, lowcut=lowcut, tilt=tilt, ceiling=ceiling, bits=bits,
                             seed=seed, source=str(src), progress=progress)
    return _finish(y, audio.sr, dst, js, report, t0, bits, progress)


def _finish(y, sr, dst: Path, js: Path, report: dict, t0: float, bits: int, progress) -> dict:
    from live.atomicfile import write_text
    from live.studio.audiofile import write_wav

    write_wav(dst, y, sr, bits)
    wall = time.perf_counter() - t0
    report.update(output=str(dst), wall_s=round(wall, 3), speed=round(y.shape[0] / sr / max(wall, 1e-9), 1))
    write_text(js, json.dumps(report, indent=1, default=_json_num))
    progress(report_text(report))
    progress(f"-> {dst}, {js.name} ({y.shape[0] / sr:.1f} s of audio in {wall:.2f} s, "
             f"{report['speed']:g}x real time)")
    return report


def _json_num(v):
    return None if isinstance(v, float) and not math.isfinite(v) else float(v)


def mix_files(stems: list[str], dst: str | Path, *, target: float = DEFAULT_TARGET, force: bool = False,
              gains: list[float] | None = None, lowcut: float = 30.0, tilt: float = 0.0, ceiling: float = CEILING,
              bits: int = 24, seed: int = 0, progress=print) -> dict:
    """Sum the WAV stems (mono ones in the middle of a stereo mix; each with its gain in
    dB) and master the sum into ``dst`` and ``dst``.json.

    Raises:
        InputFileError: a stem is not a readable WAV, has more than 2 channels, or the
            stems' sample rates differ; the sum is silent.
        OutputExistsError: an output exists and ``force`` is False.
    """
    from kernels.loudness import measure
    from live.studio.audiofile import read_wav
    from live.atomicfile import check_out_dir
    from live.studio.common import check_free

    t0 = time.perf_counter()
    dst = Path(dst)
    js = dst.with_suffix(".json")
    check_free([dst, js], force)
    check_out_dir(dst.parent, what="output folder")
    if gains and len(gains) != len(stems):
        raise MasterError(f"--gain: {len(gains)} values for {len(stems)} stems; give one per stem")
    audios = [read_wav(s) for s in stems]
    for a in audios:
        if a.channels > 2:
            raise InputFileError(f"{a.path}: {a.channels} channels; stems must be mono or stereo")
        if a.sr != audios[0].sr:
            raise InputFileError(f"{a.path}: {a.sr} Hz, but {audios[0].path} is {audios[0].sr} Hz; "
                                 "stems must share one sample rate")
    sr = audios[0].sr
    n = max(a.data.shape[0] for a in audios)
    total = np.zeros((n, 2))
    stem_report = []
    for i, a in enumerate(audios):
        g = 10 ** ((gains[i] if gains else 0.0) / 20)
        d = a.data if a.channels == 2 else np.repeat(a.data, 2, axis=1) * 10 ** (-3 / 20)  # -3 dB pan law
        total[: d.shape[0]] += d * g
        m = measure(a.data, sr)
        stem_report.append({"stem": a.path, "format": a.describe(), "integrated_lufs": m["integrated_lufs"],
                            "true_peak_dbtp": m["true_peak_dbtp"]})
        progress(f"[{i + 1}/{len(audios)}] {a.path}: {a.describe()}, {m['integrated_lufs']:.1f} LUFS")
    y, report = master_audio(total, sr, target, lowcut=lowcut, tilt=tilt, ceiling=ceiling, bits=bits, seed=seed,
                             source="the sum of the stems", progress=progress)
    report["stems"] = stem_report
    return _finish(y, sr, dst, js, report, t0, bits, progress)


# --- the command line ------------------------------------------------------------------


def _chain_args(p) -> None:
    p.add_argument("--target", type=float, default=DEFAULT_TARGET,
                   help=f"integrated loudness in LUFS, -60..-3 (default {DEFAULT_TARGET:g}: streaming)")
    p.add_argument("--ceiling", type=float, default=CEILING, help="true-peak ceiling in dBTP (default -1)")
    p.add_argument("--lowcut", type=float, default=30.0, help="high-pass corner in Hz, 0 for none (default 30)")
    p.add_argument("--tilt", type=float, default=0.0,
                   help="EQ tilt in dB: + brighter, - darker (shelves at 250 Hz and 4 kHz; default 0)")
    p.add_argument("--bits", type=int, choices=(16, 24, 32), default=24,
                   help="output: 16 or 24-bit PCM, 32 float (default 24)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--seed", type=int, default=0, help="seed for the 16-bit dither (default 0)")


def cmd_master(args) -> int:
    src = Path(args.input)
    dst = Path(args.output) if args.output else Path(f"{src.stem}-master.wav")
    dst = Path(args.out) / dst  # an absolute OUT stays as it is
    master_file(src, dst, target=args.target, force=args.force, lowcut=args.lowcut, tilt=args.tilt,
                ceiling=args.ceiling, bits=args.bits, seed=args.seed)
    return 0


def cmd_mix(args) -> int:
    dst = Path(args.out)
    if dst.is_dir() or args.out.endswith(("/", os.sep)):
        dst = dst / "mix.wav"
    gains = [float(g) for g in args.gain.split(",")] if args.gain else None
    mix_files(args.stems, dst, target=args.target, force=args.force, gains=gains, lowcut=args.lowcut,
              tilt=args.tilt, ceiling=args.ceiling, bits=args.bits, seed=args.seed)
    return 0


def register(sub) -> None:
    p = sub.add_parser("master", help="master a WAV: EQ, compression, true-peak limiting, loudness to a LUFS target")
    p.add_argument("input", metavar="IN.wav")
    p.add_argument("output", metavar="OUT.wav", nargs="?", help="default: <IN>-master.wav")
    p.add_argument("--out", default=".", help="folder for OUT.wav and OUT.json (default: here)")
    _chain_args(p)
    p.set_defaults(func=cmd_master)
    p = sub.add_parser("mix", help="mix WAV stems and master the mix to a LUFS target")
    p.add_argument("stems", metavar="STEM.wav", nargs="+")
    p.add_argument("--out", default="mix.wav", help="the mix: a WAV file, or a folder for mix.wav (default mix.wav)")
    p.add_argument("--gain", help="dB per stem, comma-separated, e.g. 0,-3,-6 (default 0 for all)")
    _chain_args(p)
    p.set_defaults(func=cmd_mix)
