"""``sideman soundscape --mood calm|dark|bright|tense --minutes N``: an evolving ambient
texture, synthesized with pyo on its offline server and mastered.

Layers, all deterministic oscillators (no pyo noise generators, so a seed gives the same
file): slow pads (three detuned wavetable voices per chord tone) through low-pass filters
whose cutoff drifts (an LFO plus targets that move from section to section), a drone on
the mood's root and fifth, sparse FM chimes on notes of the mood's scale, and a reverb.
The form is drawn from the seed: sections of 8-20 s, each with a new chord from the
mood's progression, a new filter target, a new chime density; the level swells in
over the first part, breathes with the sections and fades out at the end.

Writes DIR/soundscape-<mood>.wav (mastered to -18 LUFS, true peak <= -1 dBTP) and .png
(spectrogram and loudness over time) and .json (the measurement).

Threading model: control thread only; pyo's offline server is driven inline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.errors import SidemanError
from live.studio.common import check_free, say


class SoundscapeError(SidemanError, ValueError):
    """An unknown mood or a length out of range."""

MOODS = ("calm", "dark", "bright", "tense")
TARGET_LUFS = -18.0
SR, BLOCK = 48000, 256
MAX_MINUTES = 60.0


@dataclass(frozen=True)
class Mood:
    root: int  # MIDI note of the tonic, pad register
    scale: tuple[int, ...]  # semitones above the root, for chimes
    chords: tuple[tuple[int, ...], ...]  # pad chords, semitones above the root
    cutoff: tuple[float, float]  # Hz: the filters' range
    chime_octave: int  # octaves above the root
    chimes_per_min: float
    detune: float  # cents between a pad tone's voices
    tremolo: float  # depth 0..1 of a slow tremolo on the pads
    reverb: float


MOOD = {
    "calm": Mood(57, (0, 2, 4, 7, 9), ((0, 4, 7, 11), (5, 9, 12, 16), (-3, 0, 4, 7), (2, 5, 9, 12)),
                 (500.0, 1800.0), 2, 10, 6, 0.0, 0.45),
    "dark": Mood(50, (0, 1, 3, 5, 7, 8, 10), ((0, 3, 7), (-4, 0, 3), (1, 5, 8), (-2, 3, 7)),
                 (180.0, 700.0), 1, 5, 9, 0.1, 0.6),
    "bright": Mood(64, (0, 2, 4, 6, 7, 9, 11), ((0, 4, 7, 14), (2, 6, 9, 14), (-3, 4, 7, 11), (5, 9, 12, 16)),
                   (1800.0, 6000.0), 2, 16, 5, 0.0, 0.35),
    "tense": Mood(52, (0, 1, 4, 6, 7, 10), ((0, 1, 6), (0, 3, 6, 9), (-1, 5, 6), (1, 4, 10)),
                  (400.0, 2500.0), 2, 12, 22, 0.45, 0.5),
}


def midi_hz(n: float) -> float:
    return 440.0 * 2 ** ((n - 69) / 12)


def plan(mood: Mood, seconds: float, seed: int) -> list[tuple[float, tuple[int, ...], float, float]]:
    """Sections: (start s, chord, filter target 0..1, level 0..1), drawn from the seed."""
    rng = np.random.default_rng(seed)
    out, t, k = [], 0.0, int(rng.integers(len(mood.chords)))
    while t < seconds:
        out.append((t, mood.chords[k], float(rng.uniform(0.1, 1.0)), float(rng.uniform(0.45, 1.0))))
        t += float(rng.uniform(8.0, 20.0))
        k = (k + int(rng.integers(1, len(mood.chords)))) % len(mood.chords)
    return out


def render_soundscape(wav: Path, mood_name: str, seconds: float, seed: int = 0, progress=print) -> float:
    """Synthesize the raw (unmastered) soundscape into ``wav``; returns the wall time.

    Raises:
        DeviceError: pyo's offline server does not start.
    """
    from live.quiet import import_pyo
    from live.atomicfile import WavRecording
    from live.session import boot_server, shutdown_server

    t0 = time.perf_counter()
    mood = MOOD[mood_name]
    sections = plan(mood, seconds, seed)
    rng = np.random.default_rng(seed + 1)
    pyo = import_pyo()
    server = boot_server(pyo, "offline", SR, BLOCK, None)
    try:
        if hasattr(server, "setGlobalSeed"):
            server.setGlobalSeed(seed + 1)
        keep = []
        n_tones = 4
        saw = pyo.SawTable(order=12)
        freqs = [pyo.SigTo(midi_hz(mood.root), time=5.0) for _ in range(n_tones)]
        gates = [pyo.SigTo(0.0, time=5.0) for _ in range(n_tones)]
        voices = []
        for i in range(n_tones):
            for d in (-1, 0, 1):
                ratio = 2 ** (d * mood.detune / 1200)
                voices.append(pyo.Osc(saw, freq=freqs[i] * ratio, phase=float(rng.random()), mul=gates[i] * 0.05))
        pad = pyo.Mix(voices, voices=2)
        lo, hi = mood.cutoff
        target = pyo.SigTo(lo, time=6.0)
        lfo = pyo.Sine(freq=float(rng.uniform(0.02, 0.06)), mul=0.25, add=1.0)
        cutoff = pyo.Clip(target * lfo, min=60.0, max=12000.0)
        pad_f = pyo.ButLP(pyo.ButLP(pad, freq=cutoff), freq=cutoff)
        if mood.tremolo:
            trem = pyo.Sine(freq=float(rng.uniform(3.0, 5.0)), mul=mood.tremolo / 2, add=1 - mood.tremolo / 2)
            pad_f = pad_f * trem
            keep.append(trem)
        droot = mood.root - 24 if mood.root - 24 >= 28 else mood.root - 12
        drone = pyo.Mix([pyo.Sine(freq=midi_hz(droot), mul=0.12), pyo.Sine(freq=midi_hz(droot + 7), mul=0.06),
                         pyo.ButLP(pyo.Osc(saw, freq=midi_hz(droot) * 1.002, mul=0.05), freq=lo)], voices=2)
        chime_f = [pyo.Sig(440.0) for _ in range(4)]
        chime_a = [pyo.Sig(0.0) for _ in range(4)]
        chime_e = [pyo.Adsr(0.003, 2.5, 0.0, 0.5, dur=0) for _ in range(4)]
        chimes = pyo.Mix([pyo.FM(carrier=f, ratio=3.5, index=a * e * 3 + 0.2, mul=a * e * 0.12)
                          for f, a, e in zip(chime_f, chime_a, chime_e, strict=True)], voices=2)
        level = pyo.SigTo(0.0, time=4.0)
        dry = pyo.Mix([pad_f, drone, chimes], voices=2, mul=level)
        wet = pyo.Freeverb(dry, size=0.9, damp=0.4, bal=1.0, mul=mood.reverb)
        out = pyo.Mix([dry, wet], voices=2)
        out.out()
        keep += [saw, freqs, gates, voices, pad, target, lfo, cutoff, pad_f, drone, chime_f, chime_a, chime_e,
                 chimes, level, dry, wet, out]
        rec = WavRecording(server, wav)  # under a temporary name until it is complete
        server.start()
        server.recstart()
        total = int(seconds * SR)
        chime_rate = mood.chimes_per_min / 60.0 * BLOCK / SR
        next_sec, frame, shown, cv = 0, 0, -1, 0
        fade = min(6.0, seconds / 6)
        while frame < total:
            t = frame / SR
            if next_sec < len(sections) and t >= sections[next_sec][0]:
                _s, chord, ftarget, lev = sections[next_sec]
                for i in range(n_tones):
                    on = i < len(chord)
                    freqs[i].value = midi_hz(mood.root + (chord[i] if on else chord[0] + 12))
                    gates[i].value = 1.0 if on else 0.0
                target.value = lo * (hi / lo) ** ftarget
                level.value = lev
                next_sec += 1
            if t >= seconds - fade:  # the last seconds fade out
                level.time = fade / 2
                level.value = 0.0
            if rng.random() < chime_rate * (0.5 + sections[max(next_sec - 1, 0)][3]):
                note = mood.root + 12 * mood.chime_octave + int(rng.choice(mood.scale))
                chime_f[cv].value = midi_hz(note)
                chime_a[cv].value = float(rng.uniform(0.4, 1.0))
                chime_e[cv].play()
                cv = (cv + 1) % len(chime_e)
            server.process()
            frame += BLOCK
            pct = 100 * frame // total
            if pct // 10 != shown:
                shown = pct // 10
                say(progress, f"  synthesizing {min(pct, 100):3d}%  ({frame / SR:6.1f} s)")
        server.recstop()
        rec.finish()
        del keep
    finally:
        shutdown_server(server)
    return time.perf_counter() - t0


def level_png(png: Path, x: np.ndarray, sr: int, title: str) -> None:
    """Spectrogram above, short-term loudness (3 s windows) below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kernels.loudness import biquad_cascade, kweight_coeffs, segment_energy, window_loudness
    from live.atomicfile import atomic_write

    y = biquad_cascade(x, kweight_coeffs(sr), np.empty_like(x))
    seg = sr // 10
    st = window_loudness(segment_energy(y, seg, np.empty((len(y) // seg, y.shape[1]))), seg, 30)
    fig, (a, b) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    a.specgram(x.mean(axis=1), NFFT=4096, Fs=sr, noverlap=2048, cmap="magma", vmin=-140)
    a.set_ylim(0, 8000)
    a.set_ylabel("Hz")
    a.set_title(title)
    b.plot(1.5 + np.arange(len(st)) / 10, np.maximum(st, -60))
    b.set_ylabel("LUFS (3 s)")
    b.set_xlabel("seconds")
    b.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(Path(png), lambda tmp: fig.savefig(tmp, dpi=80, format="png"))
    plt.close(fig)


def soundscape(mood: str, minutes: float, out_dir: str | Path, *, seed: int = 0, force: bool = False,
               png: bool = True, progress=print) -> dict:
    """Render, master and picture a soundscape; returns the report.

    Raises:
        SoundscapeError: an unknown mood or a length out of range. OutputExistsError: an
            output exists and ``force`` is False. DeviceError: pyo does not start.
    """
    import json

    from live.atomicfile import check_out_dir, write_text
    from live.studio.audiofile import read_wav, write_wav
    from live.studio.master import master_audio

    if mood not in MOODS:
        raise SoundscapeError(f"--mood must be one of {', '.join(MOODS)}, got {mood!r}")
    if not 0 < minutes <= MAX_MINUTES:
        raise SoundscapeError(f"--minutes must be more than 0 and at most {MAX_MINUTES:g}, got {minutes:g}")
    out = Path(out_dir)
    base = out / f"soundscape-{mood}"
    wav, pic, js = Path(f"{base}.wav"), Path(f"{base}.png"), Path(f"{base}.json")
    check_free([wav, pic, js], force)
    check_out_dir(out)
    t0 = time.perf_counter()
    seconds = minutes * 60.0
    raw = out / f".soundscape-{mood}.raw.wav"
    try:
        say(progress, f"soundscape: {mood}, {seconds:.0f} s, seed {seed}")
        render_soundscape(raw, mood, seconds, seed, progress)
        audio = read_wav(raw)
    finally:
        if raw.exists():
            raw.unlink()
    x = audio.data[: int(seconds * SR)]
    y, report = master_audio(x, SR, TARGET_LUFS, lowcut=25.0, seed=seed, source=f"soundscape {mood}",
                             progress=progress)
    write_wav(wav, y, SR, 24)
    if png:
        level_png(pic, y, SR, f"soundscape: {mood} (seed {seed})")
    wall = time.perf_counter() - t0
    report.update(mood=mood, seed=seed, output=str(wav), wall_s=round(wall, 2), speed=round(seconds / wall, 1))
    write_text(js, json.dumps(report, indent=1, default=lambda v: None))
    say(progress, f"-> {wav}, {pic.name}, {js.name} ({seconds:.0f} s in {wall:.1f} s, {report['speed']:g}x real "
                  f"time; {report['after']['integrated_lufs']:.1f} LUFS, "
                  f"true peak {report['after']['true_peak_dbtp']:.1f} dBTP)")
    return report


def cmd_soundscape(args) -> int:
    soundscape(args.mood, args.minutes, args.out, seed=args.seed, force=args.force)
    return 0


def register(sub) -> None:
    p = sub.add_parser("soundscape", help="an evolving ambient texture: pads, drone, chimes, reverb")
    p.add_argument("--mood", choices=MOODS, default="calm", help="the mood (default calm)")
    p.add_argument("--minutes", type=float, default=1.0, help=f"length in minutes, up to {MAX_MINUTES:g} (default 1)")
    p.add_argument("--out", default=".", help="folder for soundscape-<mood>.wav/.png/.json (default: here)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--seed", type=int, default=0, help="seed for the form, chords and chimes (default 0)")
    p.set_defaults(func=cmd_soundscape)
