"""``sideman eval``: the online model, the rule-based band and the score's own chords,
measured on held-out pieces, through the same live engine that plays on stage.

Each test piece's melody becomes a performance (eighth-note steps at a fixed tempo)
played into an ``Engine`` driven block by block with no audio server: the chords the
band plays are read from the planner's log, exactly as live (strictly causal). The
model's negative log-likelihood of the score's chords is measured with the same step
function on the same melody. "model (reactive)" also hears the note at each step's start
before choosing (the band's chord a few ms late): reported apart, it is not the live
band.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from live.midifile import Performance
from live.model import CHORD_TONES, NO_CHORD
from live.train import CHORALE_CHORDS

EVAL_TEMPO = 120.0
EVAL_SR, EVAL_BLOCK = 48000, 256
#: (157, 12) bool: the pitch classes of each chord class (row 156, N, is empty)
TONES = CHORD_TONES.astype(bool)


def melody_performance(mel: np.ndarray, mel_on: np.ndarray, pitch: np.ndarray | None, tempo: float,
                       timing_ms: float = 0.0, rng: np.random.Generator | None = None) -> Performance:
    """Step arrays -> a MIDI performance: each melody note from its onset step until
    the next onset or rest (eighth-note steps). ``timing_ms``: a musician's timing, each
    onset moved by a normal draw of that SD from ``rng`` (clipped at 2.5 SD; every note
    then ends 2.5 SD earlier, so that no two overlap)."""
    step_s = 30.0 / tempo
    lim = 2.5 * timing_ms / 1000.0
    times, msgs = [], []
    T = len(mel)
    t = 0
    while t < T:
        if mel[t] < 0 or (t > 0 and not mel_on[t] and mel[t] == mel[t - 1]):
            t += 1
            continue
        end = t + 1
        while end < T and mel[end] == mel[t] and not mel_on[end]:
            end += 1
        note = int(pitch[t]) if pitch is not None and pitch[t] >= 0 else 60 + int(mel[t])
        note = min(max(note, 60), 96)  # the melody zone of the eval rig
        shift = float(np.clip(rng.normal(0.0, timing_ms / 1000.0), -lim, lim)) if lim > 0 else 0.0
        times += [max(0.0, t * step_s + shift), max(t * step_s + shift + 0.01, end * step_s - 0.01 - lim)]
        msgs += [(0x90, note, 90), (0x80, note, 0)]
        t = end
    order = np.argsort(np.array(times), kind="stable")
    return Performance("<eval>", np.array(times)[order], [msgs[i] for i in order], tempo, 4, 480, T * step_s)


def chords_via_engine(perf: Performance, n_steps: int, steps_per_bar: int, accompanist_factory,
                      tempo: float = EVAL_TEMPO, first_pos: int = 0, early_steps: float = 0.0,
                      detail: bool = False):
    """Play ``perf`` through the engine; the chord class each step is decided to (the one
    committed for it, or a correction made during it).

    ``first_pos``: the eighth of the bar the piece starts on (a pickup): the performance
    is delayed by that many steps so the band's bar lines fall where the score's do.
    ``early_steps``: the listener hears each note this many steps early (stamped on
    time), as ``sideman harmonize`` without ``--online`` does; 0 is live.
    ``detail``: also (the chord in force at each step's start, the share of each step
    that chord sounded before a correction replaced it, 0 where none), so that a
    correction a few ms into a step is counted for what it is (``metrics``).
    """
    from dataclasses import replace

    from live.harmonize import play_silently
    from live.rig import load_rig_text

    meter = max(2, min(7, steps_per_bar // 2))
    rig = load_rig_text(f"mode: lead\nstyle: pop\ntempo: {tempo:g}\nmeter: {meter}\nsync_start: false\n"
                        "input: {split: 60, thru: false}\nrecord: {enabled: false}\n", source="<eval rig>")
    step_s = 30.0 / tempo
    if first_pos:  # beat 0 is the bar line the data's positions count from
        perf = replace(perf, times=perf.times + first_pos * step_s, duration=perf.duration + first_pos * step_s)
    eng = play_silently(rig, perf, accompanist_factory, sr=EVAL_SR, block=EVAL_BLOCK,
                        early_frames=int(early_steps * step_s * EVAL_SR),
                        until_s=(n_steps + first_pos) * step_s + EVAL_BLOCK / EVAL_SR)
    out = np.full(n_steps, NO_CHORD, np.int64)
    log = eng.planner.chord_log
    for slot, _frame, c in log:
        step = (slot + 1) // 2 - first_pos  # a chord taken on a 16th counts from the next eighth
        if step < n_steps:
            out[max(step, 0):] = NO_CHORD if c.root < 0 else c.root * 13 + c.quality
    if not detail:
        return out
    t = eng.planner.transport
    starts = np.array([t.frame_at((first_pos + k) / 2) for k in range(n_steps + 1)], np.float64)
    frames = np.array([f for _, f, _ in log], np.float64)
    classes = np.array([NO_CHORD if c.root < 0 else c.root * 13 + c.quality for _, _, c in log], np.int64)
    order = np.argsort(frames, kind="stable")  # a correction is logged after commits made ahead of it
    frames, classes = frames[order], classes[order]
    at = np.searchsorted(frames, starts[:-1], side="right") - 1  # the entry in force at each start
    first = np.where(at >= 0, classes[np.maximum(at, 0)], NO_CHORD)
    last = np.searchsorted(frames, starts[1:], side="left") - 1  # the step's last entry
    late = np.zeros(n_steps)
    moved = (first != out) & (last > at)
    late[moved] = np.clip((frames[last[moved]] - starts[:-1][moved]) / (starts[1:] - starts[:-1])[moved], 0.0, 1.0)
    first = np.where(moved, first, out)
    return out, first, late


def metrics(pred, ref: np.ndarray, mel: np.ndarray, mel_on: np.ndarray, steps_per_bar: int) -> dict:
    """``pred``: the chord of each step, or ``chords_via_engine``'s detail (chord, the chord
    at the step's start, the share of the step it sounded): note-in-chord and accuracy then
    count a step corrected during it by how long each chord sounded in it."""
    first = late = None
    if isinstance(pred, tuple):
        pred, first, late = pred
    has_mel = mel >= 0
    inside = TONES[pred[has_mel], mel[has_mel]].astype(np.float64)
    known = ref != NO_CHORD
    root_hit = ((pred // 13) == (ref // 13)) & (pred != NO_CHORD)
    exact_hit = pred == ref
    if first is not None:
        w = late[has_mel]
        inside = inside * (1.0 - w) + TONES[first[has_mel], mel[has_mel]] * w
        root_hit = root_hit * (1.0 - late) + (((first // 13) == (ref // 13)) & (first != NO_CHORD)) * late
        exact_hit = exact_hit * (1.0 - late) + (first == ref) * late
    changes = np.flatnonzero(pred[1:] != pred[:-1]) + 1
    held = changes[(mel_on[changes] == 0) & (mel[changes] >= 0) & (mel[changes] == mel[changes - 1])]
    bars = len(pred) / steps_per_bar
    return {
        "steps": int(len(pred)), "melody_steps": int(has_mel.sum()), "inside": float(inside.sum()),
        "known": int(known.sum()),
        "root_hits": float(root_hit[known].sum()),
        "exact_hits": float(exact_hit[known].sum()),
        "changes": int(len(changes)), "held_changes": int(len(held)), "bars": float(bars),
        "minutes": len(pred) * 30.0 / EVAL_TEMPO / 60.0,
    }


def summarize(ms: list[dict]) -> dict:
    s = {k: sum(m[k] for m in ms) for k in ms[0]}
    return {
        "pieces": len(ms),
        "note_in_chord": s["inside"] / max(s["melody_steps"], 1),
        "root_accuracy": s["root_hits"] / max(s["known"], 1),
        "chord_accuracy": s["exact_hits"] / max(s["known"], 1),
        "changes_per_bar": s["changes"] / max(s["bars"], 1e-9),
        "changes_per_minute": s["changes"] / max(s["minutes"], 1e-9),
        "held_note_changes_per_bar": s["held_changes"] / max(s["bars"], 1e-9),
    }


def against_reference(model: list[dict], ref: list[dict], resamples: int = 2000, seed: int = 0) -> dict:
    """The model's note-in-chord minus the reference's, and its chord changes over the
    reference's, on the same pieces (``metrics`` of each, in the same order), with 95%
    intervals from a paired bootstrap over the pieces (the pieces are what varies from one
    test set to another: a tune is drawn whole, for both accompanists at once)."""
    if len(model) != len(ref) or not model:
        raise ValueError(f"against_reference: {len(model)} model and {len(ref)} reference pieces")
    cols = ("inside", "melody_steps", "changes")
    m = np.array([[x[k] for k in cols] for x in model], np.float64)
    r = np.array([[x[k] for k in cols] for x in ref], np.float64)

    def stats(w):  # w: how often each piece is drawn
        sm, sr = w @ m, w @ r
        return sm[0] / max(sm[1], 1.0) - sr[0] / max(sr[1], 1.0), sm[2] / max(sr[2], 1.0)

    rng = np.random.default_rng(seed)
    draws = np.array([stats(np.bincount(rng.integers(0, len(model), len(model)), minlength=len(model)))
                      for _ in range(resamples)])
    diff, ratio = stats(np.ones(len(model)))
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    return {"note_in_chord_diff": float(diff), "note_in_chord_diff_ci95": [float(lo[0]), float(hi[0])],
            "changes_ratio": float(ratio), "changes_ratio_ci95": [float(lo[1]), float(hi[1])],
            "resamples": resamples, "seed": seed}


def run_eval(data: Path, *, model: Path | None = None, split: str = "test", limit: int | None = None,
             sources: list[str] | None = None, decoder: dict | None = None, timing_ms: float = 0.0,
             progress=print) -> dict:
    """Measure the accompanists on the pieces of ``split`` that have chords.

    ``decoder``: ChordDecoder keyword arguments (its decision policy) for the model's
    rows; the defaults, as the live band plays, when None. Tune them on "val".
    """
    from live.accompanist import RuleAccompanist
    from live.model import ROLLOUTS, ChordDecoder, ModelAccompanist, ModelRuntime
    from live.train.data import load_dataset
    from live.train.train import pieces_from_dataset

    ds = load_dataset(data)
    pieces = [p for p in pieces_from_dataset(ds, split) if p.has_chords]
    if sources:
        pieces = [p for p in pieces if p.piece_id.split("/")[0] in sources]
    if limit:  # the first ``limit`` pieces of each source, so every style is measured
        by_src: dict[str, list] = {}
        for p in pieces:
            by_src.setdefault(p.piece_id.split("/")[0], []).append(p)
        pieces = [p for ps in by_src.values() for p in ps[:limit]]
    if not pieces:
        from live.errors import InputFileError

        raise InputFileError(f"{data}: no piece with chords in its {split!r} split (of "
                             f"{len(ds.offsets) - 1} pieces; pieces are split by name, --split train|val|test)")
    rt = ModelRuntime(model, batch=ROLLOUTS)
    kw = dict(decoder or {})
    rows: dict[str, dict[str, list]] = {}
    nll_sum, nll_n = {}, {}
    t0 = time.monotonic()
    for i, p in enumerate(pieces):
        src = p.piece_id.split("/")[0]
        spb = int(p.pos.max()) + 1 if len(p.pos) else 8
        perf = melody_performance(p.mel, p.mel_on, None, EVAL_TEMPO, timing_ms, np.random.default_rng(i))
        ref = p.chord.astype(np.int64)
        p0 = int(p.pos[0]) if len(p.pos) else 0
        preds = {
            "reference": ref,
            "rules": chords_via_engine(perf, len(ref), spb, lambda infos: RuleAccompanist(infos, seed=0),
                                       first_pos=p0),
            # as live: each step decided before its note, corrected a few ms after a note that
            # clashes (counted for the share of the step each chord sounded)
            "model (online)": chords_via_engine(
                perf, len(ref), spb,
                lambda infos, p=p: ModelAccompanist(infos, ChordDecoder(rt, p.style, seed=0, **kw), seed=0),
                first_pos=p0, detail=True),
            "model (online, no corrections)": chords_via_engine(
                perf, len(ref), spb,
                lambda infos, p=p: ModelAccompanist(infos, ChordDecoder(rt, p.style, seed=0, **kw), seed=0,
                                                    hears_late=False),
                first_pos=p0),
            # hears the note at each step's start before choosing, as `sideman harmonize`
            # does offline; live, that is a band that comes in a few ms after the beat
            "model (reactive)": chords_via_engine(
                perf, len(ref), spb,
                lambda infos, p=p: ModelAccompanist(infos, ChordDecoder(rt, p.style, seed=0, **kw),
                                                    seed=0, reactive=True),
                first_pos=p0, early_steps=1.0),
        }
        for name, pred in preds.items():
            rows.setdefault(name, {}).setdefault(src, []).append(metrics(pred, ref, p.mel, p.mel_on, spb))
        dec = ChordDecoder(rt, p.style, seed=0, look=0.0)  # the likelihood needs no anticipation
        for t in range(len(ref)):
            prev_mel = int(p.mel[t - 1]) if t else -1
            prev_on = int(p.mel_on[t - 1]) if t else 0
            *_, h = dec.propose(prev_mel, prev_on, int(p.pos[t]), steps_per_bar=spb)
            nll_sum[src] = nll_sum.get(src, 0.0) + dec.nll(int(ref[t]))
            nll_n[src] = nll_n.get(src, 0) + 1
            dec.commit(int(ref[t]), h)
        if (i + 1) % max(1, len(pieces) // 10) == 0 or i + 1 == len(pieces):
            progress(f"  eval {i + 1}/{len(pieces)} pieces  ({time.monotonic() - t0:.0f} s)")
    from dataclasses import asdict

    from live.model import POLICIES, STYLES

    policies = {STYLES[k]: asdict(ChordDecoder(rt, k, **kw).policy) for k in POLICIES}
    result = {"split": split, "pieces": len(pieces), "tempo": EVAL_TEMPO,
              "as_played": bool(ds.meta.get("as_played")),
              "chorale_chords": ds.meta.get("chorale_chords", CHORALE_CHORDS[0]), "timing_ms": timing_ms,
              "decision_policy": policies,
              "by_source": {}}
    for name, by_src in rows.items():
        for src, ms in by_src.items():
            entry = summarize(ms)
            if name == "model (online)":
                entry["nll_per_step"] = nll_sum[src] / nll_n[src]
            result["by_source"].setdefault(src, {})[name] = entry
    for src, ms in rows["model (online)"].items():  # is the online band above the score's chords?
        result["by_source"][src]["model (online)"]["vs_reference"] = against_reference(ms, rows["reference"][src])
    return result


def source_label(result: dict, src: str) -> str:
    """``src`` as the table names it: how its pieces or reference chords were read, where not
    the default."""
    if result.get("as_played") and src == "nottingham":
        return f"{src} (as played)"
    if src == "bach" and result.get("chorale_chords", CHORALE_CHORDS[0]) != CHORALE_CHORDS[0]:
        return f"{src} (chords {result['chorale_chords']})"
    return src


def table(result: dict) -> str:
    lines = ["| source | accompanist | pieces | NLL/step | note-in-chord | root acc | chord acc | "
             "changes/bar | changes/min | held-note changes/bar |", "|---|---|---|---|---|---|---|---|---|---|"]
    for src, by in result["by_source"].items():
        label = source_label(result, src)
        for name, e in by.items():
            nll = f"{e['nll_per_step']:.2f}" if "nll_per_step" in e else "-"
            lines.append(f"| {label} | {name} | {e['pieces']} | {nll} | {e['note_in_chord']:.3f} | "
                         f"{e['root_accuracy']:.3f} | {e['chord_accuracy']:.3f} | {e['changes_per_bar']:.2f} | "
                         f"{e.get('changes_per_minute', float('nan')):.1f} | {e['held_note_changes_per_bar']:.2f} |")
    for src, by in result["by_source"].items():
        v = by.get("model (online)", {}).get("vs_reference")
        if v:
            lo, hi = v["note_in_chord_diff_ci95"]
            rlo, rhi = v["changes_ratio_ci95"]
            lines.append(f"{source_label(result, src)}: online model - reference note-in-chord "
                         f"{v['note_in_chord_diff']:+.3f} "
                         f"(95% CI {lo:+.3f} to {hi:+.3f} over pieces), chord changes x{v['changes_ratio']:.2f} "
                         f"({rlo:.2f} to {rhi:.2f})")
    return "\n".join(lines)


def write_result(result: dict, out: Path) -> None:
    from live.atomicfile import check_out_dir, write_text

    check_out_dir(out.parent, what="--json")
    write_text(out, json.dumps(result, indent=1))


def write_chart(result: dict, out: Path) -> None:
    """A PNG of the table: per source, each accompanist's note-in-chord, root accuracy and
    chord changes per bar (the reference's marked), so a regression shows at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from live.atomicfile import atomic_write

    metrics_shown = [("note_in_chord", "note-in-chord"), ("root_accuracy", "root accuracy"),
                     ("changes_per_bar", "chord changes per bar")]
    sources = list(result["by_source"])
    names = list(next(iter(result["by_source"].values())))
    fig, axes = plt.subplots(1, len(metrics_shown), figsize=(5 * len(metrics_shown), 4))
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(sources))
    for ax, (key, label) in zip(axes, metrics_shown, strict=True):
        for i, name in enumerate(names):
            vals = [result["by_source"][s].get(name, {}).get(key, np.nan) for s in sources]
            ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, label=name,
                   hatch="//" if name == "reference" else None, alpha=0.85)
        ax.set_xticks(x, [source_label(result, s) for s in sources])
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.suptitle(f"sideman eval: {result['pieces']} {result['split']} pieces")
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # the legend under the panels, clear of the bars
    atomic_write(Path(out), lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
