"""``sideman harmonize``: the accompaniment the live engine would play for a melody file.

For each input: DIR/<stem>.mid (melody and band, one track each) and DIR/<stem>.json,
the chords with their times in seconds and beats. The file's tempo is the clock (its
first tempo; later tempo changes are not followed yet) and its bar grid starts at the
file's time 0. The model is loaded and the kernels compiled once for all files.

``--online`` is strictly causal, exactly as live: each chord is committed before the
slot it sounds in, from notes that began before it. Without it, the model may look
one eighth note ahead (the note at the start of each step is known when the chord is
chosen), as a player who hears the melody a moment early would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from live.errors import OutputExistsError

SR, BLOCK = 48000, 256


def play_silently(rig, perf, accompanist=None, *, sr: int = SR, block: int = BLOCK, early_frames: int = 0,
                  until_s: float | None = None, stop_after_s: float | None = None):
    """Play ``perf`` into an ``Engine`` block by block with no audio server and no
    instruments (the planner steps after each block, as offline), and return the engine.

    The transport starts at frame 0: the file's time 0 is beat 0. ``early_frames``: the
    listener hears each note that much early (stamped on time). Runs until ``until_s``
    seconds, or with ``stop_after_s`` until the band has stopped at the first bar line
    after that time and every note has ended. Shared by ``sideman harmonize`` and
    ``sideman eval``.
    """
    from live.engine import Engine
    from live.midifile import FileInput

    n_parts = len([p for p in rig.band if p.enabled])
    eng = Engine(rig, sr=sr, block=block, parts=[None] * n_parts, musician_part=None, accompanist=accompanist)
    src = FileInput(perf, sr, lead_in_s=0.0)
    src.start(0)
    src.lookahead = early_frames
    eng.file_source = src
    t = eng.planner.transport
    t.start(0)
    if stop_after_s is None:
        until = int((until_s or perf.duration) * sr)
        while eng.clock.block_end < until:
            eng.tick()
            eng.planner.step()
        return eng
    end = int(stop_after_s * sr)
    eng.planner.stop_frame = t.frame_at(np.ceil(t.beat_at(end) / t.meter) * t.meter)
    while not eng.planner.ended or len(eng.ring):
        eng.tick()
        eng.planner.step()
        if eng.clock.block_end > end + 10 * sr:
            break
    eng.request_stop()
    eng.tick()
    return eng


def harmonize_file(path: Path, out_dir: Path, *, factory, online: bool, force: bool, style: str = "pop",
                   render: bool = False) -> dict:
    from kernels import QUALITIES, chord_symbol
    from live.atomicfile import write_text
    from live.midifile import read_performance, write_take
    from live.rig import load_rig_text

    perf = read_performance(path)
    stem = Path(path).stem
    mid_out, json_out = out_dir / f"{stem}.mid", out_dir / f"{stem}.json"
    for p in (mid_out, json_out) + ((out_dir / f"{stem}.wav", out_dir / f"{stem}.png") if render else ()):
        if p.exists() and not force:
            raise OutputExistsError(f"{p} exists; use --force to overwrite it")
    meter = max(2, min(7, perf.beats_per_bar))
    tempo = float(min(300.0, max(30.0, perf.tempo_bpm)))
    rig = load_rig_text(f"mode: lead\nstyle: {style}\ntempo: {tempo:.4f}\nmeter: {meter}\nsync_start: false\n"
                        "input: {thru: false}\n", source="<harmonize rig>")
    # without --online the listener hears each note an eighth early, recorded on time
    early = 0 if online else int(SR * 30.0 / tempo)
    eng = play_silently(rig, perf, factory, early_frames=early, stop_after_s=perf.duration + 60.0 / tempo)
    t = eng.planner.transport
    chords = []
    log = eng.planner.chord_log
    stop = eng.planner.stop_frame
    for i, (_slot, frame, c) in enumerate(log):
        off = log[i + 1][1] if i + 1 < len(log) else stop
        if off <= frame:
            continue
        chords.append({"onset": round(frame / SR, 4), "offset": round(off / SR, 4),
                       "onset_beats": round(t.beat_at(frame), 4), "offset_beats": round(t.beat_at(off), 4),
                       "symbol": chord_symbol(c.root, c.quality, c.bass if c.bass != c.root else -1),
                       "root": int(c.root), "quality": QUALITIES[c.quality] if c.root >= 0 else "N"})
    tracks = [(-1, "melody", 0, 0)] + [(i, p.name, p.channel - 1, -1 if p.role == "drums" else p.program - 1)
                                       for i, p in enumerate(rig.band)]
    write_take(mid_out, eng.recorder.events(), SR, tracks, tempo, meter)
    write_text(json_out, json.dumps(chords, indent=1))
    from live.studio.common import render_harmonized  # --render: the band plays the chords, <stem>.wav, .png

    ratio = render_harmonized(path, out_dir / stem, chords, style=style, tempo=tempo).ratio if render else None
    return {"input": str(path), "mid": str(mid_out), "json": str(json_out), "chords": len(chords), "ratio": ratio,
            "accompanist": eng.planner.accompanist.name, "messages": list(eng.planner.stats.messages)}


def harmonize(files: list[str], out_dir: str | Path, *, online: bool = False, force: bool = False,
              model: str | None = None, rules: bool = False, seed: int = 0, progress=print,
              render: bool = False) -> list[dict]:
    from kernels import warmup
    from live.model import ROLLOUTS, ChordDecoder, ModelAccompanist, ModelRuntime

    from live.atomicfile import check_out_dir

    out = check_out_dir(out_dir)  # before the model loads and the first file plays
    warmup()
    factory = None
    if not rules:
        rt = ModelRuntime(model, batch=ROLLOUTS)  # once, for every file
        progress(f"model: {rt.path}")

        def factory(infos):
            return ModelAccompanist(infos, ChordDecoder(rt, 0, seed=seed), seed=seed, reactive=not online)

    results = []
    for i, f in enumerate(files, 1):
        r = harmonize_file(Path(f), out, factory=factory, online=online, force=force, render=render)
        progress(f"[{i}/{len(files)}] {f}: {r['chords']} chords -> {r['mid']}, {r['json']}"
                 + (f", {out / Path(f).stem}.wav, .png ({r['ratio']:.1f}x real time)" if render else ""))
        results.append(r)
    return results
