"""The model pipeline end to end on a tiny corpus: train a few steps, export to ONNX,
run it the way the live engine does, and break it the ways a user's disk can."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training extra (torch) is not installed")
pytest.importorskip("onnxruntime")

from live.errors import ModelError  # noqa: E402
from live.train.train import Piece, export_onnx, step_inputs, train  # noqa: E402

RNG = np.random.default_rng(0)


def toy_piece(bars: int, style: int = 0) -> Piece:
    """I-IV-V-I in C with melody notes from the chord: enough structure to learn."""
    chords = np.repeat(np.array([0 * 13 + 0, 5 * 13 + 0, 7 * 13 + 0, 0 * 13 + 0])[np.arange(bars) % 4], 8)
    T = len(chords)
    tones = np.array([0, 4, 7])[RNG.integers(0, 3, T)]
    mel = np.where(RNG.random(T) < 0.9, (chords // 13 + tones) % 12, -1)
    return Piece(mel, (RNG.random(T) < 0.6).astype(np.int64), chords, chords // 13, np.tile(np.arange(8), bars),
                 style, True, f"toy/{RNG.integers(1 << 30)}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    net, history = train([toy_piece(16) for _ in range(12)], [toy_piece(8)], minutes=2.0, max_steps=40,
                         hidden=32, batch=8, progress=lambda *_: None)
    path = out / "accompanist.onnx"
    errors = export_onnx(net, path)
    return net, path, errors, history


def test_training_lowers_the_loss(trained):
    _, _, _, history = trained
    assert history[-1]["train_loss"] < history[0]["train_loss"] or len(history) == 1
    assert history[-1]["val_nll_online"]["chord"] < np.log(157), "no better than chance"


def test_onnx_agrees_with_pytorch(trained):
    _, _, errors, _ = trained
    # measured: about 1e-6 on logits (float32 kernels differ in summation order)
    assert max(errors.values()) < 1e-4, errors


def test_stepping_with_carried_state_equals_the_full_sequence(trained):
    from live.model import ModelRuntime

    net, path, _, _ = trained
    p = toy_piece(4)
    inp = step_inputs(p.mel, p.mel_on, p.chord, p.pos, p.style)
    with torch.no_grad():
        t = {k: torch.from_numpy(v)[None] for k, v in inp.items()}
        full, *_ = net(t["prev_mel"], t["prev_on"], t["prev_chord"], t["pos"], t["style"], t["cur_mel"],
                       net.zero_state(1))
    rt = ModelRuntime(path, batch=1)
    h = rt.zero_state()
    for i in range(len(p.mel)):
        for k, v in inp.items():
            rt.feeds[k][0] = v[i]
        chord_logits, _, _, h = rt.step(h)
        np.testing.assert_allclose(chord_logits[0], full[0, i].numpy(), atol=1e-4)


def test_the_bound_inputs_are_read_where_they_are_and_the_outputs_are_the_callers(trained):
    """The runtime's IO binding: inputs written in place are what the step reads; a batch
    of another size and a caller's own dict of inputs give what a plain run gives; an
    output kept from one step is not overwritten by the next."""
    from live.model import ModelRuntime

    _, path, _, _ = trained
    rt = ModelRuntime(path, batch=1)
    rng = np.random.default_rng(5)

    def plain(f, h):
        return rt.session.run(None, {**f, "h": h})

    for batch, feeds in ((1, rt.feeds), (3, rt.feeds_for(3))):
        h = rng.standard_normal((rt.layers, batch, rt.hidden)).astype(np.float32)
        kept = None
        for t in range(4):
            feeds["prev_mel"][:] = rng.integers(0, 13, batch)
            feeds["pos"][:] = t
            out = rt.step_ahead(h, feeds) if rt.has_ahead else rt.step(h, feeds)
            want = plain({k: v for k, v in feeds.items() if k != "h"}, h)
            for a, b in zip(out, want, strict=True):
                np.testing.assert_array_equal(a, b)
            if kept is not None:
                np.testing.assert_array_equal(kept[0], kept[1])  # the last step's outputs, untouched
            kept = (out[3], out[3].copy())
            h = out[3]
    own = {k: v.copy() for k, v in rt.feeds.items()}  # not the runtime's: a plain run
    h = rt.zero_state(1)
    np.testing.assert_array_equal(rt.step(h, own)[0], plain({k: v for k, v in own.items() if k != "h"}, h)[0])


def test_decoder_is_reproducible_for_a_seed(trained):
    from live.model import ChordDecoder, ModelRuntime

    _, path, _, _ = trained
    rt = ModelRuntime(path, batch=4)

    def run(seed):
        dec = ChordDecoder(rt, 0, seed=seed, temperature=1.0, look=0.5)  # every random path
        out = []
        for t in range(24):
            c, _, _, h = dec.propose(t % 12, 1, t % 8)
            dec.commit(c, h)
            out.append(c)
        return out

    assert run(3) == run(3)


def test_a_step_proposed_again_from_the_same_state_is_not_run_again(trained):
    """The planner revises slots it planned ahead (and plans the next model slot before this
    one is final): a proposal repeated from the same state with the same input reuses the
    model's step, with the same decision, probability and likelihood as a fresh run."""
    from live.model import ChordDecoder, ModelRuntime

    _, path, _, _ = trained
    rt = ModelRuntime(path, batch=4)
    runs = [0]
    run = rt._run

    def counted(h, feeds):
        runs[0] += 1
        return run(h, feeds)

    rt._run = counted

    def play(memo: bool):
        rng = np.random.default_rng(5)
        dec = ChordDecoder(rt, 1, seed=0)
        out, prev = [], (-1, 0)
        for t in range(40):
            other = (int(rng.integers(0, 12)), 1)
            for mel, on in (prev, other, prev, prev):  # a revision with another input, then the same
                if not memo:
                    dec._memo.clear()
                c, b, p, h = dec.propose(mel, on, t % 8)
                out.append((c, b, p, h.tobytes(), dec.nll(c)))
            dec.commit(c, h)
            prev = (int(rng.integers(-1, 12)), int(rng.random() < 0.7))
        return out

    runs[0] = 0
    fresh = play(memo=False)
    assert runs[0] == 160
    runs[0] = 0
    assert play(memo=True) == fresh
    assert runs[0] == 80, "each step ran again although its state and input were the same"


def test_decoder_keeps_the_chord_unless_another_clearly_fits_better(trained):
    """The stay margin: huge, the first chord is held for good; zero, the chord may move."""
    from live.model import ChordDecoder, ModelRuntime

    _, path, _, _ = trained
    rt = ModelRuntime(path, batch=4)

    def run(stay):
        dec = ChordDecoder(rt, 0, seed=0, stay=stay, stay_offbeat=0.0)
        out = []
        for t in range(32):
            c, _, _, h = dec.propose([0, 4, 7, 5, 9, 0, 2, 11][t % 8], 1, t % 8)
            dec.commit(c, h)
            out.append(c)
        return out

    held = run(1e6)
    assert len(set(held)) == 1, held
    free = run(0.0)
    assert free[0] == held[0]


def test_decoder_state_does_not_depend_on_the_chord_played(trained):
    """The musician may override a proposal without re-running the model."""
    from live.model import ChordDecoder, ModelRuntime

    _, path, _, _ = trained
    rt = ModelRuntime(path, batch=4)
    a, b = ChordDecoder(rt, 0, seed=0), ChordDecoder(rt, 0, seed=0)
    for t in range(8):
        ca, _, _, ha = a.propose(t % 12, 1, t % 8)
        cb, _, _, hb = b.propose(t % 12, 1, t % 8)
        np.testing.assert_array_equal(ha, hb)
        a.commit(ca, ha)
        b.commit((ca + 13) % 156, hb)  # b's band played another chord


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "wrong-io"])
def test_a_broken_model_is_a_clear_error(tmp_path, case):
    from live.model import ModelRuntime

    path = tmp_path / "accompanist.onnx"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(b"\x08\x07not an onnx model" * 50)
    elif case == "wrong-io":
        class Other(torch.nn.Module):
            def forward(self, x):
                return x * 2

        torch.onnx.export(Other(), (torch.zeros(1, 3),), str(path), input_names=["x"], output_names=["y"],
                          dynamo=False)
    with pytest.raises(ModelError) as err:
        ModelRuntime(path)
    assert str(path) in str(err.value)
    assert {"missing": "not found", "empty": "not a valid ONNX model", "garbage": "not a valid ONNX model",
            "wrong-io": "wrong interface"}[case] in str(err.value)


def test_a_broken_model_leaves_the_rule_based_band_playing(tmp_path):
    from live.model import model_factory
    from live.rig import load_rig_text

    bad = tmp_path / "accompanist.onnx"
    bad.write_bytes(b"corrupt")
    rig = load_rig_text("accompanist: model\n", source="<test>")
    messages: list[str] = []
    assert model_factory(rig, path=bad, messages=messages) is None
    assert len(messages) == 1 and str(bad) in messages[0] and "rule-based band" in messages[0]


def test_the_model_drives_the_live_engine(trained):
    """The model's chords reach the band through the planner, on eighth-note steps."""
    from live.evaluate import chords_via_engine, melody_performance
    from live.model import ChordDecoder, ModelAccompanist, ModelRuntime

    _, path, _, _ = trained
    rt = ModelRuntime(path, batch=4)
    p = toy_piece(8)
    perf = melody_performance(p.mel, p.mel_on, None, 120.0)
    chords = chords_via_engine(perf, len(p.mel), 8,
                               lambda infos: ModelAccompanist(infos, ChordDecoder(rt, 0, seed=1), seed=1))
    assert (chords != 156).mean() > 0.8, "the band played no chords under the melody"


def test_shipped_model_loads_and_has_a_card():
    from live.model import ModelRuntime, default_model_path

    path = default_model_path()
    if not path.exists():
        pytest.fail(f"no shipped model at {path}")
    rt = ModelRuntime(path, batch=4)
    assert rt.layers >= 1 and rt.hidden >= 16
    card = Path(path).with_suffix(".json")
    assert card.exists(), "the model card (how to reproduce it) is missing"
    assert path.stat().st_size < 5_000_000


def test_a_take_reports_how_long_the_planners_decisions_took(tmp_path):
    """``sideman jam`` says, after the take, how long the planner's decisions took as live
    (all, and those that ran the model), and benchmarks.harness reads that line."""
    import re
    import subprocess
    import sys

    from benchmarks.harness import sideman_counters

    r = subprocess.run([sys.executable, "-m", "live.cli", "jam", "--audio", "offline", "--no-view", "--seconds", "6",
                        "--out", str(tmp_path / "take")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r"planner: (\d+) decisions, p50 (\d+) us, p99 (\d+) us; the (\d+) that ran the model", r.stdout)
    assert m, r.stdout[-2000:]
    decisions, p50, p99, model = (int(g) for g in m.groups())
    # 6 s at the rig's 120 bpm: 48 16ths, about half of them model steps (more with revisions)
    assert decisions >= 40 and 15 <= model <= decisions and 0 < p50 <= p99
    c = sideman_counters(r.stdout)
    assert c["decisions"] == decisions and c["decide_model_n"] == model and c["decide_model_us_max"] >= p50


def test_the_decision_benchmark_times_chord_changes():
    """benchmarks.model times the planner's decisions over a tune; a band that keeps one
    chord (its melody's notes never released, as until 2026-12-07) never times a change."""
    from benchmarks.model import _band
    from live.model import ROLLOUTS, ModelRuntime

    rt = ModelRuntime(None, batch=ROLLOUTS)
    for style in (0, 1):
        band = _band(rt, style=style)
        for _ in range(256):  # 16 bars of 16ths
            band.play()
            band()
        assert band.changes >= 8, f"style {style}: {band.changes} chord changes in 16 bars"


def test_the_step_in_band_benchmark_times_one_step_per_eighth_and_unwraps_the_session():
    """benchmarks.model's step-in-band row times exactly the band's model steps (one every
    other 16th) and the same number alone, and leaves the session's call unwrapped."""
    from benchmarks.model import bench_step_in_band
    from live.model import ROLLOUTS, ModelRuntime

    rt = ModelRuntime(None, batch=ROLLOUTS)
    r = bench_step_in_band(rt, n=64)
    assert r["inside_decisions"]["n"] == 64 and r["alone"]["n"] == 64
    assert r["ratio_inside_over_alone_p50"] > 0
    assert "run_with_iobinding" not in vars(rt.session)
    assert rt._run_io is None or rt._run_io == rt.session._sess.run_with_iobinding


def test_the_machine_row_counts_the_time_the_core_spends_elsewhere():
    """benchmarks.model's machine row: a clock-reading loop counts the gaps in it as time
    the core spent elsewhere. A thread that takes the interpreter from it every switch
    interval (5 ms) must show up as long gaps; the loop leaves the CPU affinity as it was,
    and the fixed work is sized to the figure asked for."""
    import os
    import threading

    from benchmarks.model import _timer_interrupts, bench_machine

    stop = threading.Event()

    def busy():
        x = 0
        while not stop.is_set():
            x = (x + 1) & 0xFFFF

    before = os.sched_getaffinity(0)
    other = threading.Thread(target=busy, daemon=True)
    other.start()
    try:
        r = bench_machine(20.0, seconds=0.3)
    finally:
        stop.set()
        other.join()
    assert os.sched_getaffinity(0) == before
    gaps = r["interruptions"]["per_second_by_length"]
    assert gaps[">=160us"] >= 10, gaps  # ~5 ms each, about 30 in 0.3 s
    assert r["interruptions"]["time_lost_share"] > 0.2
    if _timer_interrupts():  # Linux: the CPU's timer interrupts were read
        assert r["interruptions"]["timer_interrupts_per_second"] is not None
    assert r["fixed_work"]["n"] == 2000 and r["fixed_work"]["sized_to_us"] == 20.0


def test_a_step_through_the_sessions_own_run_equals_the_public_call():
    """ModelRuntime runs a bound step on the session's C++ objects (skipping onnxruntime's
    Python checks); the outputs are the public call's, step after step with carried state."""
    from live.model import ModelRuntime

    fast, slow = ModelRuntime(None), ModelRuntime(None)
    assert fast._run_io is not None  # this onnxruntime has them: the fast path is what is tested
    slow._run_io = None
    hf, hs = fast.zero_state(1), slow.zero_state(1)
    for t in range(12):
        for rt in (fast, slow):
            f = rt.feeds_for(1)
            f["prev_mel"][0], f["prev_on"][0], f["pos"][0] = 1 + (t * 5) % 12, t % 2, t % 8
        a, b = fast.step(hf, fast.feeds_for(1)), slow.step(hs, slow.feeds_for(1))
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
        hf, hs = a[3], b[3]


def write_melody(path: Path, notes: list[tuple[float, float, int]], bpm: float = 120.0) -> Path:
    import mido

    tpb = 480
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)]))
    ev = []
    for start, dur, n in notes:  # beats
        ev += [(int(start * tpb), "note_on", n, 90), (int((start + dur) * tpb), "note_off", n, 0)]
    tr, last = mido.MidiTrack(), 0
    for tick, kind, n, v in sorted(ev, key=lambda e: (e[0], e[1] == "note_on")):
        tr.append(mido.Message(kind, note=n, velocity=v, time=tick - last))
        last = tick
    mid.tracks.append(tr)
    mid.save(path)
    return path


def test_harmonize_writes_chords_and_midi_for_many_files(trained, tmp_path):
    import json

    import mido

    from live.harmonize import harmonize

    _, path, _, _ = trained
    scale = [60, 64, 67, 72, 65, 69, 72, 77, 67, 71, 74, 79, 60, 64, 67, 72]
    a = write_melody(tmp_path / "a.mid", [(i, 0.9, n + 12) for i, n in enumerate(scale)])
    b = write_melody(tmp_path / "b.mid", [(i * 0.5, 0.45, n + 12) for i, n in enumerate(scale)], bpm=90)
    out = tmp_path / "out"
    res = harmonize([str(a), str(b)], out, online=True, model=str(path), progress=lambda *_: None)
    assert [r["accompanist"] for r in res] == ["model", "model"]
    for stem, beats in (("a", 16), ("b", 8)):
        chords = json.loads((out / f"{stem}.json").read_text())
        assert chords and chords[0]["onset"] == 0.0
        for c in chords:
            assert set(c) == {"onset", "offset", "onset_beats", "offset_beats", "symbol", "root", "quality"}
            assert c["offset"] > c["onset"] and c["offset_beats"] > c["onset_beats"]
            assert -1 <= c["root"] <= 11
        # contiguous, and the last chord ends at the bar line after the melody
        assert all(x["offset"] == pytest.approx(y["onset"]) for x, y in zip(chords, chords[1:], strict=False))
        assert chords[-1]["offset_beats"] >= beats
        names = [t.name for t in mido.MidiFile(out / f"{stem}.mid").tracks]
        assert {"melody", "bass", "keys", "drums"} <= set(names)
    with pytest.raises(Exception, match="--force"):
        harmonize([str(a)], out, online=True, model=str(path), progress=lambda *_: None)


def test_online_harmonize_is_strictly_causal(tmp_path, online=True):
    """Changing the melody from some time on never changes a chord that starts before it."""
    import json

    from live.harmonize import harmonize

    from live.model import default_model_path

    path = default_model_path()  # the real model: a toy one barely listens to the melody
    base = [72, 76, 79, 76, 77, 81, 79, 77, 74, 77, 79, 74, 72, 76, 79, 72]
    alt = base[:8] + [73, 78, 80, 75, 70, 66, 61, 63]
    a = write_melody(tmp_path / "a.mid", [(i * 0.5, 0.45, n) for i, n in enumerate(base)])
    b = write_melody(tmp_path / "b.mid", [(i * 0.5, 0.45, n) for i, n in enumerate(alt)])
    harmonize([str(a), str(b)], tmp_path / "o", online=online, model=str(path), progress=lambda *_: None)
    ca = json.loads((tmp_path / "o" / "a.json").read_text())
    cb = json.loads((tmp_path / "o" / "b.json").read_text())
    change_beat = 8 * 0.5
    # the chord that starts on the very beat of the change was decided before it: it must match too
    before_a = [(c["onset_beats"], c["symbol"]) for c in ca if c["onset_beats"] <= change_beat]
    before_b = [(c["onset_beats"], c["symbol"]) for c in cb if c["onset_beats"] <= change_beat]
    assert before_a == before_b


def test_step_melody_reads_the_listener_as_the_training_data_does():
    """Rests are rests: a released note no longer counts as the melody (it once did, and
    the online model heard the last note through every rest)."""
    from live.listener import Listener
    from live.model import step_melody

    li = Listener(60, "lead")
    step = 12000
    li.note_on(72, 90, 0)  # C, one step long
    li.note_off(72, step - 100)
    li.note_on(48, 90, step)  # a chord-zone note is not melody
    li.note_on(76, 90, 3 * step + 500)  # E, a little late for step 3: still on it
    li.sustain(True, 3 * step + 600)
    li.note_off(76, 4 * step)  # released under the pedal: still sounding
    li.sustain(False, 5 * step + step // 2)
    snap = li.snapshot()
    assert step_melody(snap, 0, step) == (0, 1)
    assert step_melody(snap, step, 2 * step) == (-1, 0)
    assert step_melody(snap, 2 * step, 3 * step) == (-1, 0)
    assert step_melody(snap, 3 * step, 4 * step) == (4, 1)
    assert step_melody(snap, 4 * step, 5 * step) == (4, 0)  # the pedal holds it
    assert step_melody(snap, 5 * step, 6 * step) == (4, 0)  # pedal up mid-step: sounded at the start
    assert step_melody(snap, 6 * step, 7 * step) == (-1, 0)


def test_the_engine_feeds_the_model_what_the_training_data_means(trained):
    """Through the live engine (listener, planner, commit horizon), each model step hears
    the same melody, onset flag and bar position as the step arrays it was trained on:
    rests included, and a piece that starts with a pickup."""
    from live.evaluate import chords_via_engine, melody_performance
    from live.model import ChordDecoder, ModelAccompanist, ModelRuntime

    _, path, _, _ = trained
    rng = np.random.default_rng(5)
    T = 64
    mel = np.full(T, -1, np.int64)
    on = np.zeros(T, np.int64)
    t = 0
    while t < T:  # notes of 1-3 steps, some rests
        n = int(rng.integers(1, 4))
        if rng.random() < 0.8:
            mel[t:t + n] = rng.integers(0, 12)
            on[t] = 1
        t += n
    first = 5  # the piece starts on the sixth eighth of a bar
    pos = (np.arange(T) + first) % 8
    heard: list[tuple[int, int, int]] = []

    class Recording(ChordDecoder):
        def propose(self, prev_mel, prev_on, pos, cur_mel=-1, steps_per_bar=8):
            self.last = (prev_mel, prev_on, pos)
            return super().propose(prev_mel, prev_on, pos, cur_mel, steps_per_bar)

        def commit(self, chord, h_next, inputs=None):
            heard.append(self.last)
            super().commit(chord, h_next, inputs)

    rt = ModelRuntime(path, batch=4)
    perf = melody_performance(mel, on, None, 120.0)
    chords_via_engine(perf, T, 8, lambda infos: ModelAccompanist(infos, Recording(rt, 0, seed=0), seed=0),
                      first_pos=first)
    want = [(int(mel[i - 1]) if i else -1, int(on[i - 1]) if i else 0, int(pos[i])) for i in range(T)]
    # the engine steps from the bar line: the piece's step i is the engine's step first + i
    got = heard[first:first + T]
    assert len(got) == T and got == want


class ScriptedRuntime:
    """A stand-in for ModelRuntime with a model simple enough to reason about: the chord
    head likes C major a little and any chord holding the last note heard more; the melody
    head expects the last note heard to go on. Its state is that last note."""

    batch, layers, hidden, has_ahead = 1, 1, 1, False

    def __init__(self) -> None:
        from live.model import INPUTS

        self.feeds = {n: np.zeros(1, np.int64) for n in INPUTS[:-1]}
        self.calls = 0

    def feeds_for(self, batch):
        return self.feeds

    def zero_state(self, batch=None):
        return np.full((1, 1, 1), -1.0, np.float32)

    def step(self, h, feeds=None):
        from live.model import CHORD_TONES

        self.calls += 1
        f = self.feeds if feeds is None else feeds
        heard = int(f["prev_mel"][0]) - 1
        last = heard if heard >= 0 else int(h[0, 0, 0])
        chord = np.full((1, 157), -4.0, np.float32)
        chord[0, :156] += 1.0 * (np.arange(156) == 0)  # C major
        mel = np.zeros((1, 13), np.float32)
        if last >= 0:
            chord[0, :156] += 2.0 * CHORD_TONES[:156, last]
            mel[0, last + 1] = 2.0
        return [chord, np.zeros((1, 13), np.float32), mel, np.full((1, 1, 1), last, np.float32)]


def run_scripted(melody: list[int], onsets: list[int], **policy) -> list[int]:
    """The decoder's chord at each eighth of a 4/4 melody (pitch classes, -1 rest)."""
    from live.model import ChordDecoder

    dec = ChordDecoder(ScriptedRuntime(), 0, **policy)
    out = []
    for t in range(len(melody)):
        c, _, _, h = dec.propose(melody[t - 1] if t else -1, onsets[t - 1] if t else 0, t % 8)
        dec.commit(c, h)
        out.append(c)
    return out


C_MAJOR_BAR = [0, 0, 4, 4, 7, 7, 4, 4]  # C E G E in quarter notes


def test_a_clashing_note_is_corrected_on_the_next_eighth_and_not_before():
    """An F# on the downbeat of bar 2, over the C major of bar 1: the chord under it was
    chosen before it was heard (still C), the next eighth's chord holds the F#."""
    from live.model import CHORD_TONES

    mel = C_MAJOR_BAR + [6, 6, 6, 6, 6, 6, 6, 6]
    ons = [1, 0] * 4 + [1, 0, 0, 0, 0, 0, 0, 0]
    got = run_scripted(mel, ons)
    assert got[:9] == [0] * 9, got  # C through bar 1 and on the F#'s own downbeat
    assert CHORD_TONES[got[9], 6], f"step 9 plays class {got[9]}, which has no F#"
    assert len(set(got[9:])) == 1, "one correction, then the chord stays"


def test_a_note_inside_the_chord_changes_nothing():
    mel = C_MAJOR_BAR + [4, 4, 4, 4, 7, 7, 0, 0]  # E, G and C: all in C major
    ons = [1, 0] * 8
    assert run_scripted(mel, ons) == [0] * 16


def test_the_fix_margin_corrects_a_clash_the_stay_rule_alone_would_keep():
    """Without the melody forecast and with a stay margin nothing overcomes, only the
    clash rule changes the chord, and only after the clashing note was heard."""
    from live.model import CHORD_TONES

    mel = C_MAJOR_BAR + [6] * 8
    ons = [1, 0] * 4 + [1] + [0] * 7
    held = run_scripted(mel, ons, fit=0.0, stay=1e6, stay_offbeat=0.0, fix=None)
    assert held == [0] * 16
    fixed = run_scripted(mel, ons, fit=0.0, stay=1e6, stay_offbeat=0.0, fix=0.0)
    assert fixed[:9] == [0] * 9 and CHORD_TONES[fixed[9], 6] and len(set(fixed[9:])) == 1, fixed
    inside = run_scripted(C_MAJOR_BAR * 2, [1, 0] * 8, fit=0.0, stay=1e6, stay_offbeat=0.0, fix=0.0)
    assert inside == [0] * 16


def test_the_policy_counts_triad_tones_only():
    """A four-note chord gains nothing from its extra tone: C6 holds every tone of Am7."""
    from live.model import CHORD_TONES, TRIAD_TONES

    assert TRIAD_TONES.sum(axis=1)[:156].tolist() == [3.0] * 156
    assert (TRIAD_TONES <= CHORD_TONES).all()
    assert CHORD_TONES[0 * 13 + 11].nonzero()[0].tolist() == [0, 4, 7, 9]  # C6


def test_an_unknown_policy_setting_is_a_clear_error():
    from live.model import ChordDecoder

    with pytest.raises(TypeError, match="stay_offbeat"):
        ChordDecoder(ScriptedRuntime(), 0, stay_off=1.0)


@pytest.mark.parametrize("change_at", [9, 16, 23, 40])
def test_the_live_band_never_hears_a_note_before_it_begins(change_at):
    """Through the engine, with the shipped model and its decision policy: two melodies
    equal before step t and different from t on give the same chords up to and including
    step t (the chord at t was decided from notes that began before t)."""
    from live.evaluate import chords_via_engine, melody_performance
    from live.model import ChordDecoder, ModelAccompanist, ModelRuntime, default_model_path

    rt = ModelRuntime(default_model_path(), batch=1)
    rng = np.random.default_rng(change_at)
    T = 56
    base = np.array([0, 4, 7, 4, 5, 9, 7, 2] * 7)[:T]
    alt = base.copy()
    alt[change_at:] = rng.integers(0, 12, T - change_at)
    on = np.ones(T, np.int64)

    def chords(mel):
        perf = melody_performance(mel, on, None, 120.0)
        return chords_via_engine(perf, T, 8, lambda infos: ModelAccompanist(infos, ChordDecoder(rt, 0), seed=0))

    a, b = chords(base), chords(alt)
    assert (a[:change_at + 1] == b[:change_at + 1]).all(), (a.tolist(), b.tolist())
    assert (a != b).any(), "the changed melody changed nothing: the test proves nothing"


def test_a_melody_note_that_clashes_is_heard_late_and_the_chord_corrected_at_once():
    """Each eighth is decided before its note is heard; when the note turns out not to be a
    tone of the chord the band took, the band hears it late and strikes a chord that holds
    it within a couple of blocks of the note (the harmony parts re-struck, every note
    ended), never before the note began. Without corrections the decisions up to the
    first one are the same, and every chord comes exactly on its slot."""
    from live.harmonize import BLOCK, play_silently
    from live.model import (CHORD_TONES, ROLLOUTS, ChordDecoder, ModelAccompanist, ModelRuntime, chord_class,
                            default_model_path)
    from live.rig import load_rig_text
    from tests.enginetools import assert_every_note_ends, perf_from

    rt = ModelRuntime(default_model_path(), batch=ROLLOUTS)  # the real model: a toy one barely listens
    rig = load_rig_text("mode: lead\nstyle: pop\ntempo: 120\nmeter: 4\nsync_start: false\n"
                        "input: {split: 60, thru: false}\nrecord: {enabled: true}\n", source="<test rig>")
    tune = [72, 76, 79, 76, 72, 76, 79, 84, 78, 78, 73, 73, 72, 76, 79, 72]  # eighths; F# and C# clash
    notes = [(i * 0.25, i * 0.25 + 0.24, n, 90) for i, n in enumerate(tune)]
    step = 12000  # an eighth at 120 bpm, in frames
    runs = {}
    for hears in (True, False):
        eng = play_silently(rig, perf_from(notes, 4.0), lambda infos, h=hears: ModelAccompanist(
            infos, ChordDecoder(rt, 0, seed=0), seed=0, hears_late=h), stop_after_s=4.0)
        assert_every_note_ends(eng.recorder.events())
        runs[hears] = eng.planner
    fixed, strict = runs[True], runs[False]
    assert strict.stats.heard_late == 0
    assert all(frame == slot * step // 2 for slot, frame, _ in strict.chord_log)
    late = [(i, slot, frame, c) for i, (slot, frame, c) in enumerate(fixed.chord_log) if frame != slot * step // 2]
    assert len(late) >= 2 and fixed.stats.heard_late == len(late)
    for i, slot, frame, c in late:
        k = slot // 2  # the eighth, and its note
        pc = tune[k] % 12
        assert 0 < frame - k * step <= 2 * BLOCK  # after the note began, within two blocks of it
        before = fixed.chord_log[i - 1][2]
        assert CHORD_TONES[chord_class(c.root, c.quality), pc]  # the corrected chord holds the note
        assert not CHORD_TONES[chord_class(before.root, before.quality), pc]  # the one before did not
    first = late[0][0]
    assert fixed.chord_log[:first] == strict.chord_log[:first]
    lags = fixed.heard_late_ms()  # what `sideman jam` reports: note onset -> strike
    want = [(frame - (slot // 2) * step) * 1000.0 / 48000 for _, slot, frame, _ in late]
    assert lags.tolist() == pytest.approx(want)
    # folk's policy corrects on the beat only: a passing note between beats is left alone
    eng = play_silently(rig, perf_from(notes, 4.0), lambda infos: ModelAccompanist(
        infos, ChordDecoder(rt, 0, seed=0, late_offbeat=False), seed=0), stop_after_s=4.0)
    on_beats = [(slot, frame) for slot, frame, _ in eng.planner.chord_log if frame != slot * step // 2]
    assert eng.planner.stats.heard_late == len(on_beats) and all(slot % 4 == 0 for slot, _ in on_beats)
    assert any(slot % 4 for _, slot, _, _ in late) and len(on_beats) < len(late)
    # the chorale's policy holds every note it hears late: where the model's own decision
    # hearing it leaves it out (a passing note, says the model), the best chord that holds it
    held = {}
    for hold in ("never", "always"):
        eng = play_silently(rig, perf_from(notes, 4.0), lambda infos, hold=hold: ModelAccompanist(
            infos, ChordDecoder(rt, 0, seed=0, hold_late=hold), seed=0), stop_after_s=4.0)
        assert_every_note_ends(eng.recorder.events())
        log = eng.planner.chord_log
        # the chord sounding two blocks into each eighth, after any correction
        after = [next(c for _, frame, c in reversed(log) if frame <= k * step + 2 * BLOCK) for k in range(len(tune))]
        held[hold] = [bool(CHORD_TONES[chord_class(c.root, c.quality), n % 12])
                      for c, n in zip(after, tune, strict=True)]
    assert all(held["always"]) and not all(held["never"]), held


def test_a_clashing_note_played_late_and_legato_is_corrected_as_one_on_time():
    """A musician's note 40 ms late, the one before held until it begins: the band hears it
    as its eighth's note and corrects the same eighths as for the tune on the grid, each a
    couple of blocks after the late note (read with a tenth of an eighth of slop, the held
    note was taken for the eighth's and the late clashes were never corrected)."""
    from live.harmonize import BLOCK, play_silently
    from live.model import ROLLOUTS, ChordDecoder, ModelAccompanist, ModelRuntime, default_model_path
    from live.rig import load_rig_text
    from tests.enginetools import assert_every_note_ends, perf_from

    rt = ModelRuntime(default_model_path(), batch=ROLLOUTS)
    rig = load_rig_text("mode: lead\nstyle: pop\ntempo: 120\nmeter: 4\nsync_start: false\n"
                        "input: {split: 60, thru: false}\nrecord: {enabled: true}\n", source="<test rig>")
    tune = [72, 76, 79, 76, 72, 76, 79, 84, 78, 78, 73, 73, 72, 76, 79, 72]  # eighths; F# and C# clash
    step, lag = 12000, 0.04  # frames an eighth (at 48 kHz); seconds late
    corrected = {}
    for late in (0.0, lag):
        starts = [i * 0.25 + (late if i else 0.0) for i in range(len(tune))]
        ends = starts[1:] + [len(tune) * 0.25]  # legato: each note held until the next begins
        notes = [(a, b, n, 90) for a, b, n in zip(starts, ends, tune, strict=True)]
        eng = play_silently(rig, perf_from(notes, 4.0), lambda infos: ModelAccompanist(
            infos, ChordDecoder(rt, 0, seed=0), seed=0), stop_after_s=4.0)
        assert_every_note_ends(eng.recorder.events())
        log = eng.planner.chord_log
        corrected[late] = [(slot, frame) for slot, frame, _ in log if frame != slot * step // 2]
    assert len(corrected[0.0]) >= 2
    assert [s for s, _ in corrected[lag]] == [s for s, _ in corrected[0.0]]
    for slot, frame in corrected[lag]:
        onset = (slot // 2) * step + int(lag * 48000)
        assert 0 < frame - onset <= 2 * BLOCK


def test_the_decoder_revises_its_last_step_only_when_asked_and_once():
    """``revise`` decides the last committed step again hearing its note and changes
    nothing; ``amend`` makes it final (the state the revision gave, the chord), after
    which the step cannot be revised again; a step committed without its inputs cannot be."""
    from live.model import CHORD_TONES, ChordDecoder, ModelRuntime, default_model_path

    rt = ModelRuntime(default_model_path(), batch=1)
    dec = ChordDecoder(rt, 0, seed=0)
    assert dec.revise(4) is None  # nothing committed yet
    c, _, _, h = dec.propose(0, 1, 0)
    dec.commit(c, h, (0, 1, 0, 8))
    before = (dec.h, dec.prev_chord, dec.n_heard)
    got = dec.revise(6)  # F# heard at the step's start
    assert got is not None and (dec.h, dec.prev_chord, dec.n_heard) == before
    again = dec.revise(6)
    assert again[0] == got[0] and np.array_equal(again[1], got[1])
    # the note at the step's start feeds the chord head only: the state is the step's own
    assert np.array_equal(got[1], h)
    assert CHORD_TONES[got[0], 6]  # hearing F#, a chord that holds it
    dec.amend(got[0], got[1])
    assert dec.h is got[1] and dec.prev_chord == got[0] and dec.n_heard == before[2]
    assert dec.revise(6) is None
    c2, _, _, h2 = dec.propose(6, 1, 1)
    dec.commit(c2, h2)
    assert dec.revise(6) is None


def test_a_revision_told_to_hold_the_note_takes_the_models_best_chord_that_holds_it():
    """The reactive decision may leave the late-heard note out (the model reads it as a
    passing note); ``revise(hold=True)`` then takes the chord the step's scores rank first
    among those that hold it (the "must agree with the held note" mask), and where the
    reactive decision holds it already, the same chord. The state is the step's own."""
    from live.model import CHORD_TONES, NO_CHORD, ChordDecoder, ModelRuntime, default_model_path

    rt = ModelRuntime(default_model_path(), batch=1)
    dec = ChordDecoder(rt, 0, seed=0)
    tune = [0, 4, 7, 4, 0, 4, 7, 0, 9, 4, 0, 4, 5, 9, 0, 9]
    masked = kept = 0
    for i, pc in enumerate(tune):
        c, _, _, h = dec.propose(pc, 1, i % 8)
        dec.commit(c, h, (pc, 1, i % 8, 8))
        for heard in range(12):
            free, held = dec.revise(heard), dec.revise(heard, hold=True)
            assert np.array_equal(held[1], free[1]) and np.array_equal(held[1], h)
            assert CHORD_TONES[held[0], heard]
            if CHORD_TONES[free[0], heard]:
                assert held[0] == free[0]
                kept += 1
                continue
            # the reference: the scores of the reactive step (``revise`` leaves them in dec.score)
            score = dec.score[0].astype(np.float64)
            score[CHORD_TONES[:, heard] == 0] = -np.inf
            score[NO_CHORD] = -np.inf
            assert held[0] == int(np.argmax(score)), (i, heard)
            masked += 1
    assert masked >= 5 and kept >= 5, (masked, kept)  # both branches ran
    with pytest.raises(ValueError, match="hold_late: 'sometimes'; allowed: never, beat, always"):
        ChordDecoder(rt, 0, hold_late="sometimes")


def test_a_chord_just_after_the_beat_corrects_the_band_without_stepping_the_model_again():
    """The musician's chord played just after the beat is struck at once (the older
    correction); the model's step for that beat is final already and is not run again:
    the decoder commits one step per eighth committed (it used to commit a second one
    for each correction, hearing the melody twice)."""
    from live.harmonize import play_silently
    from live.model import ROLLOUTS, ChordDecoder, ModelAccompanist, ModelRuntime, default_model_path
    from live.rig import load_rig_text
    from tests.enginetools import assert_every_note_ends, perf_from

    rt = ModelRuntime(default_model_path(), batch=ROLLOUTS)
    rig = load_rig_text("mode: lead\nstyle: pop\ntempo: 120\nmeter: 4\nsync_start: false\n"
                        "input: {split: 60, thru: false}\nrecord: {enabled: true}\n", source="<test rig>")
    melody = [(i * 0.25, i * 0.25 + 0.24, 72 + (i * 5) % 12, 90) for i in range(16)]
    chords = [(b * 1.0 + 0.008, b * 1.0 + 0.9, n, 80) for b, root in enumerate((48, 45, 41, 43)) for n in
              (root, root + 4 if b % 2 == 0 else root + 3, root + 7)]  # 8 ms after each beat
    commits: list[int] = []

    class Counting(ChordDecoder):
        def commit(self, chord, h_next, inputs=None):
            commits.append(chord)
            super().commit(chord, h_next, inputs)

    eng = play_silently(rig, perf_from(melody + chords, 4.0), lambda infos: ModelAccompanist(
        infos, Counting(rt, 0, seed=0), seed=0), stop_after_s=4.0)
    assert_every_note_ends(eng.recorder.events())
    p = eng.planner
    assert p.stats.corrections >= 3
    eighths = len([s for s in range(p._next_commit) if s % 2 == 0])
    assert len(commits) == eighths


def test_a_rig_can_keep_every_chord_as_chosen_before_its_note(tmp_path):
    """``fix_clashes: false``: the model band does not correct a chord after a clashing
    note (the default does); a value that is not true/false is a clear error."""
    from live.accompanist import PartInfo
    from live.errors import RigError
    from live.model import model_factory
    from live.rig import load_rig_text

    parts = [PartInfo(0, "bass", 28, 55)]
    on = model_factory(load_rig_text("style: pop\n"))(parts)
    off = model_factory(load_rig_text("style: pop\nfix_clashes: false\n"))(parts)
    assert on.hears_late and not off.hears_late
    with pytest.raises(RigError, match=r"fix_clashes must be true or false, got 'sometimes'"):
        load_rig_text("fix_clashes: sometimes\n")
