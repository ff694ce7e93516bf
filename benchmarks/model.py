"""Model and kernel benchmarks, in one run so the ratios compare like with like.

    PYTHONPATH=. python -m benchmarks.model [--model live/models/accompanist.onnx]

- one model step of the shipped, packed model (ONNX Runtime, the session the live engine
  uses), batch 1 and 8 (the anticipation rollouts); against the float model it was packed
  from (``live.train.pack``), and the float model against the same architecture in PyTorch
  eager;
- each numba kernel against its numpy reference;
- one planner decision (model step + choice + voicing + the band's patterns),
  ``ModelAccompanist.decide`` as the planner calls it, goal p99 <= 200 us; also with the
  anticipation rollouts on (off live: see live.model.ChordDecoder); and with the packed
  and the float model called alternately;
- the duet's answer written by the model (``live.melodist``), once per phrase;
- cold start: ``sideman jam`` from process start to "ready to play", twice (the second
  warm, with numba's cache filled).

Writes benchmarks/results/model.json. Time with perf_counter_ns after warm-up, >= 1,000
iterations, p50/p99/max; each ratio from its two sides called alternately in one loop
(``paired``). Needs torch (the training extra) for the PyTorch column.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
N = 2000


def _stats(t: np.ndarray, split: bool = False) -> dict:
    """p50/p99/max of times in µs; ``split``: also ``even`` and ``odd`` for the calls'
    alternate halves."""
    out = {"n": len(t), "p50_us": float(np.percentile(t, 50)), "p99_us": float(np.percentile(t, 99)),
           "max_us": float(t.max())}
    if split:
        out["even"], out["odd"] = _stats(t[0::2]), _stats(t[1::2])
    return out


def _nothing() -> None:
    pass


#: Bytes written before each call of a cache-cold timing: twice this VM's 2 MiB of L2 per core.
FLUSH_BYTES = 4 << 20


def timed(fn, n: int = N, warm: int = 100, split: bool = False, flush: np.ndarray | None = None,
          samples: dict | None = None, name: str = "", gap_s: float = 0.0) -> dict:
    """``_stats`` of ``n`` calls after ``warm``; ``split``: also ``even`` and ``odd`` for the
    calls' alternate halves (``warm`` even keeps the call's parity). ``fn.play``, where it
    has one, is called before each call, untimed (``_band``'s musician). ``flush``: an array
    rewritten before each call, not timed (the call finds its data and the model's weights
    evicted from the core's cache, as live, where decisions come 125 ms apart).
    ``samples``: the times (µs) are also kept there under ``name``, for the chart.
    ``gap_s``: a sleep before each call (not timed), as the live planner sleeps between slots."""
    play = getattr(fn, "play", _nothing)
    for _ in range(warm):
        play()
        fn()
    t = np.empty(n)
    for i in range(n):
        play()
        if flush is not None:
            flush += 1.0
        if gap_s:
            time.sleep(gap_s)
        t0 = time.perf_counter_ns()
        fn()
        t[i] = time.perf_counter_ns() - t0
    t /= 1000.0
    if samples is not None:
        samples[name] = t
    return _stats(t, split)


def paired(fa, fb, n: int = N, warm: int = 100, split: bool = False, block: int = 1) -> tuple[dict, dict]:
    """``timed`` for two functions called alternately in one loop (a, b, a, b, ...): on a
    VM whose speed drifts between runs (this one's step time moved 105 -> 154 us from one
    rep to the next), their ratio compares like with like; two sequential runs do not.
    ``block``: ``block`` calls of each in turn (a model that runs alone, as live, keeps its
    weights in the cache between its calls; alternating call by call, each evicts the
    other's). ``split`` as in ``timed`` (``warm`` and ``block`` even keep the calls' parity)."""
    pa, pb = getattr(fa, "play", _nothing), getattr(fb, "play", _nothing)
    for _ in range(warm):
        pa()
        fa()
        pb()
        fb()
    n -= n % block
    ta, tb = np.empty(n), np.empty(n)
    for i in range(0, n, block):
        for t, f, p in ((ta, fa, pa), (tb, fb, pb)):
            for j in range(i, i + block):
                p()
                t0 = time.perf_counter_ns()
                f()
                t[j] = time.perf_counter_ns() - t0
    return _stats(ta / 1000.0, split), _stats(tb / 1000.0, split)


def bench_steps(model: Path, float_model: Path | None = None) -> dict:
    """One step of the shipped (packed) model alone, then paired: packed against the float
    model it was packed from (``live.train.pack``), and the float model in ONNX Runtime against
    the same architecture in PyTorch eager (the like-for-like runtime comparison)."""
    import onnxruntime as ort

    from live.model import ModelRuntime

    out = {}
    for batch in (1, 8):
        rt = ModelRuntime(model, batch=batch)
        h = rt.zero_state()

        def ort_step(rt=rt, h=h):
            rt.step(h)

        out[f"onnxruntime_b{batch}"] = timed(ort_step)
        if float_model is not None and float_model.is_file():
            rtf = ModelRuntime(float_model, batch=batch)
            hf = rtf.zero_state()

            def float_step(rtf=rtf, hf=hf):
                rtf.step(hf)

            packed, out[f"onnxruntime_float_b{batch}"] = paired(ort_step, float_step)
            out[f"ratio_float_over_packed_b{batch}"] = (out[f"onnxruntime_float_b{batch}"]["p50_us"]
                                                        / packed["p50_us"])
        else:
            float_step = ort_step
        try:
            import torch

            from live.train.model import AccompanistNet, StepWrapper

            torch.set_num_threads(1)
            net = StepWrapper(AccompanistNet(hidden=rt.hidden, layers=rt.layers)).eval()
            args = [torch.zeros(batch, dtype=torch.int64) for _ in range(6)] + [torch.zeros(rt.layers, batch,
                                                                                             rt.hidden)]

            def step(net=net, args=args):
                with torch.no_grad():
                    net(*args)

            # the ratio from the two called alternately (``paired``): the float model in ORT
            # (the packed one where no float model is given) against PyTorch eager
            ort_paired, out[f"pytorch_eager_b{batch}"] = paired(float_step, step)
            out[f"ratio_torch_over_ort_b{batch}"] = out[f"pytorch_eager_b{batch}"]["p50_us"] / ort_paired["p50_us"]
        except ImportError:
            out[f"pytorch_eager_b{batch}"] = None
    out["onnxruntime_version"] = ort.__version__
    out["float_model"] = str(float_model) if float_model is not None and float_model.is_file() else None
    return out


def bench_kernels() -> dict:
    """Each numba kernel against its numpy reference, at the planner's shapes (the
    anticipation rollouts x 157 chord classes for sampling)."""
    import kernels
    from kernels import bass, choose, chords, key, listen, memory, sampling, voicing
    from live.model import CHORD_CLASSES, RECALL_MAX, RECALL_STEPS, ROLLOUTS, TRIAD_TONES

    rng = np.random.default_rng(0)
    w = rng.random(12)
    R, C = ROLLOUTS, CHORD_CLASSES
    logits = rng.normal(0.0, 2.0, (R, C)).astype(np.float32)
    mask = rng.random(C) < 0.7
    hist = rng.integers(-1, C, (R, 16))
    idx = np.zeros(R, np.int64)
    order = np.zeros(C, np.int64)
    weights = np.zeros(C)
    u = rng.random(R)
    prev = np.array([60, 64, 67, 72], np.int64)
    vout = np.zeros(4, np.int64)
    state = rng.random(12)
    buf = np.zeros((R, C), np.float32)
    filt = (1.0, 20, 0.9, 0.05)  # temperature, top-k, top-p, min-p
    sampler = sampling.Sampler(R, C, 0)
    # the decoder's memory, full: a tune whose 16-bar verse comes back with a different last
    # bar (long matches that stop short of RECALL_MAX, at every candidate), and random notes
    n = RECALL_STEPS - 1
    verse = rng.integers(0, 25, 128)
    tune = np.concatenate([np.tile(verse, RECALL_STEPS // 128 + 1)[:n], [0]])
    tune[120::128] = 1
    noise = rng.integers(0, 25, RECALL_STEPS)
    tpos = np.arange(RECALL_STEPS, dtype=np.int64) % 8
    # the decoder's step: the model's melody and look-ahead rows, a recalled forecast
    mel_row, ahead_row = logits[0, :13].copy(), logits[1, :12].copy()
    q_mel = np.abs(logits[2, :12])
    p_mel, fit_score = np.zeros(12, np.float32), np.zeros(C, np.float32)
    fit_args = (mel_row, ahead_row, 0.5, q_mel, float(q_mel.sum()), 0.95, TRIAD_TONES, 72.0, p_mel, fit_score)
    # the listener as the planner reads it: a wrapped onset ring, 64 onsets in the snapshot, keys held
    from live.listener import ONSET_CAPACITY

    ring_f, ring_off = np.sort(rng.integers(0, 1 << 30, ONSET_CAPACITY)), np.full(ONSET_CAPACITY, -1)
    ring_n, ring_v = rng.integers(40, 90, ONSET_CAPACITY).astype(np.int16), np.full(ONSET_CAPACITY, 90, np.int16)
    snap_on, snap_off = np.empty((64, 3), np.int64), np.empty(64, np.int64)
    listen.ring_tail(ring_f, ring_n, ring_v, ring_off, 1000, 64, snap_on, snap_off)
    keys = np.zeros(128, np.int8)
    keys[[48, 52, 55, 76]] = 1
    zone_w = np.empty(12)
    t_mid = int(snap_on[48, 0])
    cs_in, cs_first = logits[:1].copy(), np.zeros(C, np.float32)
    cs_lp, cs_score = np.zeros((1, C), np.float32), np.zeros((1, C), np.float32)
    # the decoder's whole choice after a step (pop's policy: the longest match recalled), over
    # the full memory of the tune above
    from live.model import CHORD_TONES, POLICIES, policy_params

    dc_prm = policy_params(POLICIES[0], True)
    dc_out = [np.zeros(C, np.float32), np.zeros((1, C), np.float32), np.zeros((1, C), np.float32)]
    dc_mem = tune.copy(), tpos.copy()
    dc_args = (cs_in, logits[1:2, :13].copy(), logits[:1, :13].copy(), ahead_row, True, *dc_out, *dc_mem, n, 3, 1,
               4, 1, 0, dc_prm, TRIAD_TONES, CHORD_TONES, np.zeros(12, np.float32), np.zeros(12, np.float32))
    cases = {
        "melody_at (64 onsets)": (lambda: choose.melody_at(snap_on, snap_off, 60, t_mid, t_mid + 12000),
                                  lambda: choose.melody_at_ref(snap_on, snap_off, 60, t_mid, t_mid + 12000)),
        "ring_tail (64 of a wrapped ring)": (
            lambda: listen.ring_tail(ring_f, ring_n, ring_v, ring_off, 1000, 64, snap_on, snap_off),
            lambda: listen.ring_tail_ref(ring_f, ring_n, ring_v, ring_off, 1000, 64, snap_on, snap_off)),
        "zone_summary": (lambda: listen.zone_summary(keys, 60, False, zone_w),
                         lambda: listen.zone_summary_ref(keys, 60, False, zone_w)),
        "argmax (157)": (lambda: choose.argmax(logits[0]), lambda: choose.argmax_ref(logits[0])),
        "chord_scores (157)": (lambda: choose.chord_scores(cs_in, 156, cs_first, cs_lp, cs_score),
                               lambda: choose.chord_scores_ref(cs_in, 156, cs_first, cs_lp, cs_score)),
        "fit_scores (the decoder's step)": (lambda: choose.fit_scores(*fit_args),
                                            lambda: choose.fit_scores_ref(*fit_args)),
        f"decide_chord (the decoder's choice, {n} steps heard)": (lambda: choose.decide_chord(*dc_args),
                                                                 lambda: choose.decide_chord_ref(*dc_args)),
        "softmax_at": (lambda: choose.softmax_at(logits[0], 5), lambda: choose.softmax_at_ref(logits[0], 5)),
        "chord_recognize": (lambda: chords.chord_recognize(w, 0), lambda: chords.chord_recognize_ref(w, 0)),
        "key_estimate": (lambda: key.key_estimate(state), lambda: key.key_estimate_ref(state)),
        "bass_note (walk)": (lambda: bass.bass_note(bass.WALK, 0, 5, 8, -1, 10, 6, 41, 28, 55, 2, 4, 0.3),
                             lambda: bass.bass_note_ref(bass.WALK, 0, 5, 8, -1, 10, 6, 41, 28, 55, 2, 4, 0.3)),
        "voice_chord": (lambda: voicing.voice_chord(5, 0, prev, 52, 76, vout),
                        lambda: voicing.voice_chord_ref(5, 0, prev, 52, 76, vout)),
        "apply_mask": (lambda: sampling.apply_mask(logits, mask, buf),
                       lambda: sampling.apply_mask_ref(logits, mask, buf)),
        "repetition_penalty": (lambda: sampling.repetition_penalty(logits, hist, 8, 1.2, buf),
                               lambda: sampling.repetition_penalty_ref(logits, hist, 8, 1.2, buf)),
        "log_softmax": (lambda: sampling.log_softmax(logits, buf), lambda: sampling.log_softmax_ref(logits, buf)),
        "sample_T1": (lambda: sampling.sample(logits, 1.0, 0, 1.0, 0.0, u, idx, order, weights),
                      lambda: sampling.sample_ref(logits, 1.0, 0, 1.0, 0.0, u, idx)),
        "sample_k20_p.9_min.05": (lambda: sampling.sample(logits, *filt, u, idx, order, weights),
                                  lambda: sampling.sample_ref(logits, *filt, u, idx)),
        "Sampler.draw_k20_p.9_mask": (lambda: sampler.draw(logits, top_k=20, top_p=0.9, mask=mask), None),
        f"recall ({n} steps heard, a tune)": (lambda: memory.recall(tune, tpos, n, 4, RECALL_MAX),
                                              lambda: memory.recall_ref(tune, tpos, n, 4, RECALL_MAX)),
        f"recall ({n} steps heard, random)": (lambda: memory.recall(noise, tpos, n, 4, RECALL_MAX),
                                               lambda: memory.recall_ref(noise, tpos, n, 4, RECALL_MAX)),
    }
    kernels.warmup()
    out = {}
    for name, (k, ref) in cases.items():
        a, b = paired(k, ref, 1000) if ref is not None else (timed(k, 1000), None)
        out[name] = {"numba": a, "numpy": b,
                     "ratio_numpy_over_numba": b["p50_us"] / max(a["p50_us"], 1e-9) if b else None}
    return out


PARTS = ((0, "bass", 28, 55), (1, "comp", 52, 76), (2, "drums", 35, 81))
#: The decisions' melody: an 8-bar tune in eighths outlining C Am F G | C F G C, each note
#: released as the next begins. (Until 2026-12-07 a 1-bar figure whose notes were never
#: released: the listener heard every note still held, the band kept one chord, and the
#: benchmark never timed a chord change.)
MELODY = (72, 76, 79, 76, 72, 76, 79, 84, 81, 76, 72, 76, 81, 79, 76, 72,
          77, 81, 84, 81, 77, 76, 74, 72, 74, 79, 83, 79, 74, 77, 79, 83,
          84, 79, 76, 79, 72, 74, 76, 79, 77, 72, 69, 72, 77, 81, 79, 77,
          79, 74, 71, 74, 79, 77, 74, 71, 72, 76, 79, 84, 79, 76, 72, 72)


def _band(rt, style: int = 0, look: float = 0.0):
    """A model band's ``decide`` + ``commit`` for the next slot, as the planner calls them
    (its own listener, decoder and slot count); ``decide.play()`` first, untimed, plays
    the melody's note for that slot into the listener (one every other slot), as the
    MIDI thread does (``timed`` and ``paired`` call it; until 2026-12-07 it was inside
    the timed call). ``decide.changes`` counts the chord changes it committed."""
    from live.accompanist import PartInfo, SlotContext
    from live.listener import Listener
    from live.model import ChordDecoder, ModelAccompanist

    acc = ModelAccompanist([PartInfo(*p) for p in PARTS], ChordDecoder(rt, style, seed=0, look=look), seed=0)
    li = Listener(None, "lead")
    slot = [0]

    def play():
        """The musician's notes up to the next slot: the MIDI thread's work, not timed."""
        s = slot[0]
        if s % 2 == 0:
            if s:
                li.note_off(MELODY[(s // 2 - 1) % len(MELODY)], s * 6000 - 1)
            li.note_on(MELODY[(s // 2) % len(MELODY)], 90, s * 6000)

    def decide():
        s = slot[0]
        ctx = SlotContext(slot=s, meter=4, style="pop", swing=0.0, mode="lead", snapshot=li.snapshot(), key=(0, 0),
                          frames_per_beat=24000.0, frame=s * 6000)
        before = acc.chord
        acc.commit(acc.decide(ctx))
        decide.changes += acc.chord != before
        slot[0] = s + 1

    decide.changes, decide.slot, decide.play = 0, slot, play
    return decide


def _changes(band, r: dict) -> dict:
    """``r`` with the chord changes per bar (16 slots) ``band`` committed, warm-up included."""
    return r | {"chord_changes_per_bar": round(16.0 * band.changes / max(1, band.slot[0]), 3)}


def _slots(r: dict) -> dict:
    """Rename ``split``'s halves: even slots run the model, odd ones keep the chord."""
    r["model_slots"], r["keep_slots"] = r.pop("even"), r.pop("odd")
    return r


def bench_step_in_band(rt, n: int = 2000) -> dict:
    """The ONNX step timed inside the pop band's decisions (the session's call wrapped with a
    timer) and then alone, back to back on the same session from the same state, in one run:
    between two steps the band's parts and the listener run, and the step finds less of its
    weights in the core's cache."""
    band = _band(rt)
    # the call ModelRuntime makes: the session's C++ run (else its Python one)
    owner, attr = (rt, "_run_io") if rt._run_io is not None else (rt.session, "run_with_iobinding")
    run = getattr(owner, attr)
    ts = np.empty(n, np.int64)  # one step per eighth: n in 2n slots (more would raise, not pass)
    at = [0]

    def timed_run(*a, **k):
        t0 = time.perf_counter_ns()
        r = run(*a, **k)
        ts[at[0]] = time.perf_counter_ns() - t0
        at[0] += 1
        return r

    for _ in range(200):
        band.play()
        band()
    setattr(owner, attr, timed_run)
    try:
        for _ in range(2 * n):  # a model step every other slot
            band.play()
            band()
        inside = ts[:at[0]] / 1000.0
        h, feeds = rt.zero_state(1), rt.feeds_for(1)  # the decoder's own single-row set
        at[0] = 0
        for _ in range(n):
            rt.step(h, feeds)
        alone = ts[:at[0]] / 1000.0
    finally:
        if owner is rt:
            rt._run_io = run
        else:
            del rt.session.run_with_iobinding  # the instance's wrapper off: the class's method again
    a, b = _stats(inside), _stats(alone)
    return {"inside_decisions": a, "alone": b, "ratio_inside_over_alone_p50": a["p50_us"] / b["p50_us"]}


def bench_decision(model: Path, float_model: Path | None = None, samples: dict | None = None) -> dict:
    """``ModelAccompanist.decide`` + ``commit`` as the planner calls them, slot after slot:
    the live configuration (pop's and folk's policy), with the anticipation rollouts switched
    on, and the pop band with the packed and the float model called alternately."""
    from live.model import ROLLOUTS, ModelRuntime

    import gc

    rt = ModelRuntime(model, batch=ROLLOUTS)
    pop, folk, look, cold, spaced = _band(rt), _band(rt, style=1), _band(rt, look=0.5), _band(rt), _band(rt)
    twin = (_band(rt), _band(ModelRuntime(float_model, batch=ROLLOUTS))) \
        if float_model is not None and float_model.is_file() else None
    # as a jam does before its take (live.session): what is built so far leaves the collector's
    # reach, so a full collection does not scan it (unfrozen, one took 30 ms mid-run here)
    gc.collect()
    gc.freeze()
    try:
        res = {"decision_every_slot": _changes(pop, _slots(timed(pop, 2000, split=True, samples=samples,
                                                                  name="hot"))),
               "folk_policy": _changes(folk, _slots(timed(folk, 2000, split=True))),
               "with_anticipation": _changes(look, _slots(timed(look, 2000, split=True))),
               "cache_cold": _changes(cold, _slots(timed(cold, 2000, split=True, flush=np.ones(FLUSH_BYTES // 8),
                                                         samples=samples, name="cold"))),
               "spaced_10ms": _changes(spaced, _slots(timed(spaced, 1000, split=True, gap_s=0.010,
                                                            samples=samples, name="spaced")))}
        res["onnx_step_in_band"] = bench_step_in_band(rt)
        if twin is not None:
            a, b = paired(*twin, 4000, split=True, block=50)
            res["packed_vs_float"] = {"packed": _slots(a), "float": _slots(b),
                                      "ratio_model_slots_p50": b["model_slots"]["p50_us"] / a["model_slots"]["p50_us"],
                                      "ratio_model_slots_p99": b["model_slots"]["p99_us"] / a["model_slots"]["p99_us"]}
    finally:
        gc.unfreeze()
    return res | {
        "goal_p99_us": 200,
        "note": "slots (16ths) alternate: even ones run the model (one ONNX step; with anticipation also a "
                f"batch-{ROLLOUTS} step on sampled melody continuations), odd ones keep the chord; every "
                "slot renders bass, comping and drums and takes a listener snapshot; the melody is an 8-bar tune "
                "in eighths, each note released as the next begins (chord_changes_per_bar: how often the band "
                "changed chord, so the chord-change path is timed too); decision_every_slot plays "
                "pop's policy, folk_policy the folk one (vote recall, the look-ahead head's output); each "
                "also split into model_slots (the goal's 'model step + sampling + voicing') and keep_slots; "
                f"cache_cold: pop's decisions with {FLUSH_BYTES >> 20} MiB written before each (not timed), so "
                "each finds its code, data and the model's weights evicted from the core's L2, as live, where "
                "slots come 125 ms apart and the audio runs between them (the others run back to back, hot); "
                "spaced_10ms: pop's decisions with a 10 ms sleep before each, as the planner sleeps between "
                "slots (on a shared VM the host runs other work on the core meanwhile); "
                "packed_vs_float: the pop policy's decisions with the packed and the float model, in turns of "
                "50 slots (each model alone in the cache, as live); onnx_step_in_band: the ONNX Runtime call "
                "alone timed inside pop's decisions, then the same call back to back; the collector frozen "
                "first, as a jam does"}


def write_decision_chart(samples: dict, goal_us: float, out: Path, live: dict | None = None) -> None:
    """A histogram of the pop band's decisions, the slots that run the model and those that
    keep the chord, hot (back to back), cache-cold and 10 ms apart, against the goal; where a JACK run's
    take reported its decisions (``live``: benchmarks/results/xruns.json's counters), their
    p50 and p99 as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from live.atomicfile import atomic_write

    fig, ax = plt.subplots(figsize=(9, 4.5))
    bins = np.geomspace(5, 5000, 90)
    for key, label, colour in (("hot", "back to back (hot)", "tab:blue"), ("cold", "cache cold", "tab:orange"),
                               ("spaced", "10 ms apart", "tab:green")):
        t = samples.get(key)
        if t is None:
            continue
        ax.hist(t[0::2], bins, histtype="step", lw=1.8, color=colour,
                label=f"{label}, slots that run the model (p99 {np.percentile(t[0::2], 99):.0f} µs)")
        ax.hist(t[1::2], bins, histtype="step", lw=1.0, ls="--", color=colour,
                label=f"{label}, slots that keep the chord")
    if live and live.get("decide_model_us_p50"):
        for q, ls in (("p50", ":"), ("p99", "-.")):
            ax.axvline(live[f"decide_model_us_{q}"], color="tab:red", ls=ls, lw=1.5,
                       label=f"live over JACK, model slots {q} {live[f'decide_model_us_{q}']:.0f} µs")
    ax.axvline(goal_us, color="black", lw=2, label=f"goal: p99 <= {goal_us:.0f} µs")
    ax.set_xscale("log")
    ax.set_xlabel("one planner decision (µs)")
    ax.set_ylabel("decisions")
    ax.set_title("The pop band's decisions over a tune that changes chord (benchmarks.model)")
    ax.legend(fontsize=7.5, loc="upper right")
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def _timer_interrupts() -> list[int]:
    """Local timer interrupts so far, per CPU (/proc/interrupts' LOC row; [] where unreadable)."""
    try:
        for line in Path("/proc/interrupts").read_text().splitlines():
            if line.strip().startswith("LOC:"):
                return [int(x) for x in line.split()[1:] if x.isdigit()]
    except OSError:
        pass
    return []


def _spin(n: int) -> int:
    """Fixed work: ``n`` rounds of integer arithmetic, the same every call."""
    x = 0
    for i in range(n):
        x = (x + i * 7) & 0xFFFF
    return x


def bench_machine(decision_us: float, seconds: float = 2.0) -> dict:
    """What this machine takes from a busy core, measured beside the decisions.

    ``interruptions``: a loop that only reads the clock, on one CPU, for ``seconds``:
    each gap over 3 us (the loop's own turn is ~0.1 us) is time the core spent elsewhere
    (the kernel's timer tick, the hypervisor); their count a second by length, the share
    of time lost, and the timer interrupts the CPU took meanwhile. ``fixed_work``: a
    computation that does the same work every call, sized to ``decision_us`` (the model
    slots' p50), timed as the decisions are: its p99 over its p50 is what this machine
    adds to any work of that length, the decisions' tail beside it."""
    import os

    cpus = os.sched_getaffinity(0)
    cpu = max(cpus)
    os.sched_setaffinity(0, {cpu})
    try:
        loc0 = _timer_interrupts()
        gaps = []
        clock = time.perf_counter_ns
        prev = clock()
        end = prev + int(seconds * 1e9)
        while prev < end:
            now = clock()
            if now - prev > 3000:
                gaps.append(now - prev)
            prev = now
        loc1 = _timer_interrupts()
    finally:
        os.sched_setaffinity(0, cpus)
    g = np.array(gaps, float) / 1000.0
    buckets = {}
    for lo, hi in ((3, 10), (10, 20), (20, 40), (40, 80), (80, 160), (160, None)):
        m = (g >= lo) & (g < hi) if hi else g >= lo
        buckets[f"{lo}-{hi}us" if hi else f">={lo}us"] = round(float(m.sum()) / seconds, 1)
    ticks = (loc1[cpu] - loc0[cpu]) / seconds if len(loc0) > cpu and len(loc1) > cpu else None
    n = 1000
    took = []
    for _ in range(9):  # the first call warms the loop; the median of the rest sizes it
        t0 = time.perf_counter_ns()
        _spin(n)
        took.append(time.perf_counter_ns() - t0)
    per = max(1e-3, float(np.median(took[1:])) / 1000.0 / n)
    rounds = max(1, int(decision_us / per))
    fixed = timed(lambda: _spin(rounds), 2000)
    return {"interruptions": {"seconds": seconds, "cpu": cpu, "per_second_by_length": buckets,
                              "time_lost_share": round(float(g.sum()) / (seconds * 1e6), 4),
                              "timer_interrupts_per_second": ticks},
            "fixed_work": fixed | {"sized_to_us": round(decision_us, 1),
                                   "p99_over_p50": round(fixed["p99_us"] / fixed["p50_us"], 2)}}


def bench_answer(model: Path) -> dict:
    """``Melodist.continue_steps`` as the duet calls it once per phrase: the model hears the
    phrase, then writes the answer with 8 rollouts; a 2-bar phrase answered in 2 bars, and
    the longest case (8 bars heard, a 4-bar answer). Not per slot: it is the one
    decision of a phrase's end, against the planner's 30 ms commit horizon."""
    from live.melodist import HOLD, MAX_HEARD, ONSET, Melodist
    from live.model import ROLLOUTS, ModelRuntime

    m = Melodist(ModelRuntime(model, batch=ROLLOUTS), 0, seed=0)
    tune = np.array([0, 0, 4, 4, 7, 7, 4, 4, 5, 5, 2, 2, 11, 11, 0, 0])
    out = {}
    cases = (("phrase_2_bars_answer_2_bars", 16, 16), ("phrase_8_bars_answer_4_bars", MAX_HEARD, 32))
    for name, heard, answer in cases:
        pc = np.resize(tune, heard)
        on = np.resize(np.array([1, 0]), heard)
        rhythm = np.resize(np.array([ONSET, ONSET, ONSET, HOLD]), answer)
        out[name] = timed(lambda pc=pc, on=on, rhythm=rhythm: m.continue_steps(pc, on, 0, 8, rhythm), 1000, 20)
        out[name]["model_steps"] = m.steps
    out["budget_ms"] = 30.0
    return out


def bench_cold_start() -> dict:
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "live.cli", "jam", "--audio", "offline", "--seconds", "0.5",
                            "--out", "/tmp/sideman-bench-cold", "--force"], cwd=REPO, capture_output=True,
                           text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=300)
        m = re.search(r"ready in ([0-9.]+) s", r.stdout)
        runs.append({"ready_s": float(m.group(1)) if m else None, "process_s": time.perf_counter() - t0,
                     "rc": r.returncode})
    return {"first": runs[0], "warm": runs[1], "goal_warm_ready_s": 2.0}


def main(argv: list[str] | None = None) -> int:
    from live.model import FLOAT_MODEL, default_model_path

    ap = argparse.ArgumentParser(prog="python -m benchmarks.model")
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--float-model", help="the float model it was packed from (default: the one beside --model)")
    args = ap.parse_args(argv)
    model = Path(args.model)
    float_model = Path(args.float_model) if args.float_model else model.with_name(FLOAT_MODEL)
    res = {"benchmark": "model", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "hardware": {"cpu": _cpu(), "cores": __import__("os").cpu_count(), "python": platform.python_version()},
           "model": str(model)}
    print("model steps ...", flush=True)
    res["steps"] = bench_steps(model, float_model)
    print("kernels ...", flush=True)
    res["kernels"] = bench_kernels()
    print("planner decision ...", flush=True)
    samples: dict = {}
    res["decision"] = bench_decision(model, float_model, samples)
    print("machine ...", flush=True)
    res["machine"] = bench_machine(res["decision"]["decision_every_slot"]["model_slots"]["p50_us"])
    print("duet answer ...", flush=True)
    res["answer"] = bench_answer(model)
    print("cold start ...", flush=True)
    res["cold_start"] = bench_cold_start()
    out = REPO / "benchmarks" / "results" / "model.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    xruns = out.with_name("xruns.json")
    live = json.loads(xruns.read_text()).get("results", {}).get("sideman") if xruns.is_file() else None
    chart = out.with_name("model-decisions.png")
    write_decision_chart(samples, res["decision"]["goal_p99_us"], chart, live)
    s = res["steps"]
    print(f"\nmodel step p50/p99 us: ORT b1 {s['onnxruntime_b1']['p50_us']:.0f}/{s['onnxruntime_b1']['p99_us']:.0f}"
          f"  b8 {s['onnxruntime_b8']['p50_us']:.0f}/{s['onnxruntime_b8']['p99_us']:.0f}")
    if s.get("onnxruntime_float_b1"):
        print(f"float model (paired) b1 {s['onnxruntime_float_b1']['p50_us']:.0f}  b8 "
              f"{s['onnxruntime_float_b8']['p50_us']:.0f}; ratio float/packed b1 {s['ratio_float_over_packed_b1']:.2f}x"
              f"  b8 {s['ratio_float_over_packed_b8']:.2f}x")
    if s.get("pytorch_eager_b1"):
        print(f"PyTorch eager b1 {s['pytorch_eager_b1']['p50_us']:.0f}  b8 {s['pytorch_eager_b8']['p50_us']:.0f}; "
              f"ratio torch/ORT b1 {s['ratio_torch_over_ort_b1']:.1f}x  b8 {s['ratio_torch_over_ort_b8']:.1f}x")
    for k, v in res["kernels"].items():
        ref = (f"numpy {v['numpy']['p50_us']:7.1f} us  x{v['ratio_numpy_over_numba']:.1f}" if v["numpy"]
               else "(no numpy reference: the kernels' wrapper)")
        print(f"kernel {k:26s} numba {v['numba']['p50_us']:7.1f} us  {ref}")
    for k in ("decision_every_slot", "folk_policy", "with_anticipation", "cache_cold", "spaced_10ms"):
        d = res["decision"][k]
        m, kp = d["model_slots"], d["keep_slots"]
        print(f"planner decision ({k}) p50 {d['p50_us']:.0f} us  p99 {d['p99_us']:.0f} us  "
              f"max {d['max_us']:.0f} us; slots running the model p50 {m['p50_us']:.0f} p99 {m['p99_us']:.0f} us, "
              f"keeping the chord p50 {kp['p50_us']:.0f} p99 {kp['p99_us']:.0f} us (goal p99 <= 200 us); "
              f"{d['chord_changes_per_bar']:.2f} chord changes a bar")
    mi, fw = res["machine"]["interruptions"], res["machine"]["fixed_work"]
    ms = res["decision"]["decision_every_slot"]["model_slots"]
    print(f"machine: gaps a second on a busy core {mi['per_second_by_length']}, "
          f"{100 * mi['time_lost_share']:.1f}% of its time, timer interrupts {mi['timer_interrupts_per_second']}/s; "
          f"fixed work of {fw['sized_to_us']:.0f} us p50 {fw['p50_us']:.0f} p99 {fw['p99_us']:.0f} us "
          f"(x{fw['p99_over_p50']:.2f}; the model slots x{ms['p99_us'] / ms['p50_us']:.2f})")
    sb = res["decision"]["onnx_step_in_band"]
    print(f"ONNX step inside the band's decisions p50 {sb['inside_decisions']['p50_us']:.0f} us p99 "
          f"{sb['inside_decisions']['p99_us']:.0f} us; alone p50 {sb['alone']['p50_us']:.0f} p99 "
          f"{sb['alone']['p99_us']:.0f} us (x{sb['ratio_inside_over_alone_p50']:.2f} inside)")
    pf = res["decision"].get("packed_vs_float")
    if pf:
        print(f"decision, slots running the model, packed vs float (alternately): p50 "
              f"{pf['packed']['model_slots']['p50_us']:.0f} vs {pf['float']['model_slots']['p50_us']:.0f} us, p99 "
              f"{pf['packed']['model_slots']['p99_us']:.0f} vs {pf['float']['model_slots']['p99_us']:.0f} us")
    for k, d in res["answer"].items():
        if isinstance(d, dict):
            print(f"duet answer ({k}, {d['model_steps']} model steps) p50 {d['p50_us'] / 1000:.1f} ms  "
                  f"p99 {d['p99_us'] / 1000:.1f} ms  max {d['max_us'] / 1000:.1f} ms (once per phrase)")
    c = res["cold_start"]
    print(f"sideman jam ready: first {c['first']['ready_s']} s, warm {c['warm']['ready_s']} s (goal <= 2 s warm)")
    print(f"wrote {out} and {chart}")
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    raise SystemExit(main())
