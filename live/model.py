"""The model at run time: ONNX Runtime for one step, numba kernels to choose.

Threading model: planner thread only (and the offline commands). A ``ModelRuntime``
owns one onnxruntime session tuned for one small step (1 intra-op thread, full graph
optimisation, sequential execution) and its preallocated input arrays, bound to the
session (an IO binding per batch size); a run releases the GIL while it computes, so the
audio clock is never held up by the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from kernels import apply_mask, argmax, chord_scores, log_softmax, melody_at
from kernels import choose as _k
from kernels.choose import ON_TIME_DIV, decide_chord, forecast, settle
from live.accompanist import MELODY_MODES, SLOTS_PER_BEAT, Chord, Decision, PartInfo, RuleAccompanist, SlotContext
from live.errors import ModelError

CHORD_CLASSES, BASS_CLASSES, MEL_CLASSES, POS_CLASSES = 157, 13, 13, 16
NO_CHORD = 156
STYLES = ("pop909", "nottingham", "bach", "other")
INPUTS = ("prev_mel", "prev_on", "prev_chord", "pos", "style", "cur_mel", "h")
OUTPUTS = ("chord_logits", "bass_logits", "mel_logits", "h_out")
#: The optional fifth output (``live.train.ahead``): the melody's pitch classes over the coming
#: four eighths, from the top GRU layer's state. A model without it still plays (melody head only).
AHEAD_OUTPUT = "ahead_logits"
#: Melody continuations drawn per decision for the anticipation step.
ROLLOUTS = 8
#: The rig's style -> the corpus style token the model learned from (pop909 0, Nottingham
#: 1, Bach 2). Token 3 ("other") had no training data yet, so the jazz styles use pop's.
STYLE_TOKEN = {"folk": 1, "country": 1, "chorale": 2}
#: Steps of melody the decoder remembers for ``kernels.memory.recall`` (256 bars of 4/4 in eighths
#: at most; the older half is dropped when full), and the longest match it looks for.
RECALL_STEPS, RECALL_MAX = 2048, 64
#: Model steps the decoder remembers, so that a slot proposed again from the same state with
#: the same input does not run the model again (``ChordDecoder.propose``)
MEMO_STEPS = 4


def _chord_tones(triad: bool = False) -> np.ndarray:
    """(157, 12) float32: 1 where a pitch class is a tone of the chord class (row 156, N,
    empty); ``triad``: the root, third (or suspension) and fifth only."""
    from kernels import QUALITY_INTERVALS

    t = np.zeros((CHORD_CLASSES, 12), np.float32)
    for c in range(NO_CHORD):
        iv = QUALITY_INTERVALS[c % 13]
        iv = iv[iv >= 0][:3 if triad else 4]
        t[c, (c // 13 + iv) % 12] = 1.0
    return t


CHORD_TONES = _chord_tones()
TRIAD_TONES = _chord_tones(triad=True)
#: per pitch class, the chord classes that hold it (a row per pitch class: ``kernels.apply_mask``'s mask)
HOLDS = np.ascontiguousarray(CHORD_TONES.T.astype(np.bool_))


#: The float model the shipped one is packed from (``live.train.pack``), shipped beside it.
FLOAT_MODEL = "accompanist-fp32.onnx"


def default_model_path() -> Path:
    return Path(str(resources.files("live") / "models" / "accompanist.onnx"))


class ModelRuntime:
    """One ONNX Runtime session for the step model, with preallocated inputs bound to it.

    ``batch`` is the number of parallel rows the main feeds hold (the anticipation
    rollouts); ``feeds_for(1)`` gives a second, single-row set on the same session
    (the graph's batch axis is dynamic).

    Raises:
        ModelError: the file is missing, is not an ONNX model, or has the wrong inputs,
            outputs or shapes; the message names the file and what was expected.
    """

    def __init__(self, path: str | Path | None = None, batch: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(path) if path is not None else default_model_path()
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        def open_session(p: Path):
            return ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])

        #: said once where the shipped model could not be loaded and its float twin plays instead
        self.note: str | None = None
        try:
            self.session = open_session(self.path)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            why = str(exc).splitlines()[0][:200]
            twin = self.path.with_name(FLOAT_MODEL)
            # the shipped, packed model needs ONNX Runtime >= 1.22 (8-bit MatMulNBits); the float
            # model it was packed from runs on any: the same band, a slower step
            try:
                if path is not None or not twin.is_file():
                    raise  # a model the user named, or no twin: this model's own error
                self.session = open_session(twin)
            except Exception:
                raise ModelError(f"{self.path}: not a valid ONNX model ({why})") from exc
            self.note = (f"{self.path.name} did not load with onnxruntime {ort.__version__} ({why[:120]}); "
                         f"playing {twin.name} (the same model in float: a slower step; onnxruntime >= 1.22 "
                         f"runs the packed one)")
            self.path = twin
        ins = {i.name: i for i in self.session.get_inputs()}
        outs = [o.name for o in self.session.get_outputs()]
        if set(ins) != set(INPUTS) or outs not in (list(OUTPUTS), [*OUTPUTS, AHEAD_OUTPUT]):
            raise ModelError(f"{self.path}: wrong interface: inputs {sorted(ins)} outputs {outs}; "
                             f"expected inputs {list(INPUTS)} and outputs {list(OUTPUTS)} "
                             f"(optionally followed by {AHEAD_OUTPUT})")
        #: the model has the look-ahead head (``step_ahead``)
        self.has_ahead = len(outs) == len(OUTPUTS) + 1
        hshape = ins["h"].shape
        if len(hshape) != 3 or not all(isinstance(d, int) for d in (hshape[0], hshape[2])):
            raise ModelError(f"{self.path}: input h must be (layers, batch, hidden), got {hshape}")
        self.layers, self.hidden = int(hshape[0]), int(hshape[2])
        self.batch = batch
        #: the session's C++ run on an IO binding's C++ object, where this onnxruntime exposes
        #: them: onnxruntime 1.32's Python ``run_with_iobinding`` looks for WebGPU graph capture
        #: on every call first (3.6 of a 49 us step, measured 2026-12-07 on the 2-core Intel VM),
        #: and a CPU session has nothing to capture. None: the public call
        self._run_io = getattr(getattr(self.session, "_sess", None), "run_with_iobinding", None)
        self._feeds: dict[int, dict[str, np.ndarray]] = {}
        # id(feeds) -> (feeds, its IO binding, its bound state array, the binding's C++ object
        # or None)
        self._bound: dict[int, tuple[dict, object, np.ndarray, object]] = {}
        self.feeds = self.feeds_for(batch)
        try:
            out = self.session.run(None, self.feeds)
        except Exception as exc:
            raise ModelError(f"{self.path}: the model does not run on a test step ({exc})") from exc
        want = [(batch, CHORD_CLASSES), (batch, BASS_CLASSES), (batch, MEL_CLASSES),
                (self.layers, batch, self.hidden)] + ([(batch, 12)] if self.has_ahead else [])
        got = [tuple(o.shape) for o in out]
        if got != want:
            raise ModelError(f"{self.path}: wrong output shapes {got}, expected {want}")

    def feeds_for(self, batch: int) -> dict[str, np.ndarray]:
        """The preallocated input arrays for ``batch`` rows (made once per size). Fill them in
        place: the session reads them where they are (an IO binding per set)."""
        if batch not in self._feeds:
            f = {n: np.zeros(batch, np.int64) for n in INPUTS[:-1]}
            f["prev_chord"][:] = NO_CHORD
            f["h"] = np.zeros((self.layers, batch, self.hidden), np.float32)
            io = self.session.io_binding()
            for name, arr in f.items():
                io.bind_cpu_input(name, arr)
            for o in self.session.get_outputs():
                io.bind_output(o.name, "cpu")
            self._feeds[batch] = f
            self._bound[id(f)] = (f, io, f["h"], getattr(io, "_iobinding", None))
        return self._feeds[batch]

    def zero_state(self, batch: int | None = None) -> np.ndarray:
        return np.zeros((self.layers, self.batch if batch is None else batch, self.hidden), np.float32)

    def _run(self, h: np.ndarray, feeds: dict[str, np.ndarray] | None) -> list[np.ndarray]:
        """Every output of one step. A set of ``feeds_for``'s runs through its IO binding (the
        state copied into the bound array; measured 49 -> 41 us a step for the packed model,
        2026-12-06, Intel VM); the outputs are new arrays each step, so a caller may keep them."""
        f = self.feeds if feeds is None else feeds
        bound = self._bound.get(id(f))
        if bound is None or bound[0] is not f:  # a caller's own dict of inputs
            f["h"] = h
            return self.session.run(None, f)
        hb = bound[2]
        if hb.shape != h.shape:  # never rebind: the bound array stays the one the session reads
            return self.session.run(None, {**f, "h": h})
        if h is not hb:
            np.copyto(hb, h)
        io = bound[3]
        if io is None or self._run_io is None:  # (a test switches the fast path off after binding)
            self.session.run_with_iobinding(bound[1])
            return bound[1].copy_outputs_to_cpu()
        self._run_io(io, None)
        return io.copy_outputs_to_cpu()

    def step(self, h: np.ndarray, feeds: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """Run one step on ``feeds`` (default ``self.feeds``; fill them first) from state ``h``:
        ``[chord_logits, bass_logits, mel_logits, h_out]``."""
        return self._run(h, feeds)[:4]

    def step_ahead(self, h: np.ndarray, feeds: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """``step``'s four outputs and ``ahead_logits`` (B, 12); only where ``has_ahead``."""
        return self._run(h, feeds)


@dataclass(frozen=True)
class DecisionPolicy:
    """How ``ChordDecoder`` turns the model's scores into the band's chord (all in nats).

    Tuned per style token on the validation pieces (docs/model.md): note-in-chord as high
    as the score's own chords with at most 1.5x their chord changes, and within that the
    best chord accuracy.
    """

    #: the chord sounding is kept unless the best beats it by this much ...
    stay: float = 1.0
    #: ... and this much more on an off-beat eighth
    stay_offbeat: float = 1.0
    #: weight of the chance that the note about to begin is a tone of the chord's triad
    #: (the model's melody head): a chord's score adds ``fit * P(next note in triad)``
    fit: float = 20.0
    #: the margin instead of ``stay`` when the note that began in the last step is not a
    #: tone of the chord sounding and the best chord holds it (None: no such rule; it
    #: gained nothing over ``fit`` at equal chord changes on the validation pieces)
    fix: float | None = None
    #: weight of the recalled melody in the forecast (``kernels.memory.recall``): where the last
    #: ``recall_min`` or more steps match an earlier passage at the same place in the bar,
    #: the note forecast mixes the melody head's with what followed there (0: off)
    recall: float = 0.0
    #: the shortest match (steps) that counts as the melody coming round again
    recall_min: int = 8
    #: steps of the recalled continuation the forecast covers (weights halve per step):
    #: the chord chosen now sounds for a while, so the notes after the next one count too
    recall_span: int = 1
    #: None: the longest match alone gives the recalled forecast. A number: every earlier
    #: passage that matches ``recall_min`` or more steps votes for what followed it, with
    #: weight ``length ** recall_votes`` (``kernels.memory.recall_votes``): a tune whose
    #: phrase went on two ways before forecasts both, in proportion
    recall_votes: float | None = None
    #: weight of the look-ahead head (``live.train.ahead``) in the note forecast: the share of
    #: the coming four eighths each pitch class will fill, mixed with the melody head's next
    #: note before the recalled forecast joins (0: the melody head alone; also where the
    #: model has no such head)
    ahead: float = 0.0
    #: more margin (added to ``stay``) on a step whose forecast the recalled melody joined:
    #: a band that knows the tune plays its changes, it does not chase each remembered note
    stay_recalled: float = 0.0
    #: a melody note heard just after its step was final, on an off-beat eighth, may correct
    #: the chord too (``ModelAccompanist``; on the beat it always may)
    late_offbeat: bool = True
    #: where that step decided again hearing the note (the reactive decision) still does not
    #: hold it, the chord the model finds best among those that do (a hard mask, "must agree
    #: with the note the musician holds"): "never", "beat" (on the beat only) or "always"
    hold_late: str = "never"

    def __post_init__(self) -> None:
        if self.hold_late not in HOLD_LATE:
            raise ValueError(f"DecisionPolicy.hold_late: {self.hold_late!r}; allowed: {', '.join(HOLD_LATE)}")


#: ``DecisionPolicy.hold_late``'s values
HOLD_LATE = ("never", "beat", "always")


#: The policy per style token (``STYLES``): a folk band changes chord less often than a
#: pop band, a chorale on almost every beat. Token 3 ("other") plays pop's.
POLICIES = {
    0: DecisionPolicy(stay=2.0, stay_offbeat=1.0, fit=20.0, recall=0.95, recall_min=6, recall_span=1),  # pop909
    1: DecisionPolicy(stay=12.75, stay_offbeat=2.0, fit=72.0, recall=0.95, recall_min=3, recall_span=3,
                      recall_votes=2.0, ahead=0.5, stay_recalled=16.0, late_offbeat=False),  # folk
    2: DecisionPolicy(stay=2.0, stay_offbeat=2.0, fit=32.0, recall=0.95, recall_min=6, recall_span=2,
                      hold_late="always"),  # Bach
}
#: The reactive variant's policy (it hears the note at the step's start; not the live
#: band): the forecast would only make it chase every note (measured on the test pieces,
#: note-in-chord 1.00 with 2.5x the score's chord changes on Nottingham).
HEARD_POLICY = DecisionPolicy(stay=0.25, stay_offbeat=0.5, fit=0.0)


def policy_params(pol: DecisionPolicy, has_ahead: bool) -> np.ndarray:
    """``pol`` as ``kernels.choose.decide_chord``'s policy array (NaN for a setting that is
    None; the look-ahead weight 0 where the model has no look-ahead head)."""
    prm = np.full(_k.POLICY_FIELDS, np.nan)
    prm[_k.P_STAY], prm[_k.P_STAY_OFFBEAT], prm[_k.P_STAY_RECALLED] = pol.stay, pol.stay_offbeat, pol.stay_recalled
    prm[_k.P_FIX] = np.nan if pol.fix is None else pol.fix
    prm[_k.P_FIT], prm[_k.P_AHEAD] = pol.fit, pol.ahead if has_ahead else 0.0
    prm[_k.P_RECALL], prm[_k.P_RECALL_MIN], prm[_k.P_RECALL_SPAN] = pol.recall, pol.recall_min, pol.recall_span
    prm[_k.P_RECALL_VOTES] = np.nan if pol.recall_votes is None else pol.recall_votes
    prm[_k.P_RECALL_MAX] = RECALL_MAX
    return prm


class ChordDecoder:
    """Chooses the band's chord one eighth note at a time, strictly causally.

    Listening: the model hears the melody only. Its ``prev_chord`` input is always "no
    chord", as in training (``--chord-dropout 1``): a model fed back its own chords clings
    to its first guess (exposure bias; measured on the validation pieces, online
    note-in-chord 0.49 with feedback against 0.63 without).

    Deciding (``DecisionPolicy``, one per style token in ``POLICIES``): a chord's score is its log-probability under the
    model's chord head plus ``fit`` times the chance, by the model's melody head, that
    the note about to begin is a tone of the chord's triad. The chord at step t is chosen
    before the note that begins at t is heard, so most of what a band loses is that note;
    the melody head's forecast of it is what a musician hears coming. Only the triad
    counts: a four-note chord would otherwise win for covering more pitch classes, not
    for being the harmony (measured on the validation pieces, scoring all four tones made
    the band play m7 chords 21% of the time on pop909 against 3% in the scores, and its
    exact chord accuracy fell from 0.26 to 0.10). The chord sounding is kept unless the
    best one beats it by ``stay`` (``stay_offbeat`` more on the off-beat eighth): a band
    does not change chord on every melody note, and mostly changes on beats. With
    ``fix`` set, a note that began in the last step and clashes with the chord sounding
    lowers the margin to ``fix`` for the chords that hold it: the band corrects on the
    next eighth, never before (it has not heard the note yet).

    Look-ahead (``ahead`` > 0 in the policy, and a model with the ``ahead_logits`` output,
    ``live.train.ahead``): the forecast the ``fit`` term reads mixes the melody head's next
    note with the look-ahead head's share of each pitch class over the coming four eighths,
    since the chord chosen now sounds under all of them (the folk policy; measured on the
    Nottingham validation tunes at equal chord changes, note-in-chord 0.772 -> 0.780).
    ``stay_recalled`` adds margin on a step the remembered melody forecast: a band that
    knows the tune plays its changes instead of chasing each remembered note.

    Memory (``recall`` > 0 in the policy): the decoder keeps the melody it heard, a token
    and a bar position per step, and asks ``kernels.memory.recall`` where the last steps
    were played before at the same place in the bar. Where at least ``recall_min`` steps
    match, the forecast of the coming note(s) mixes in what followed there: the second
    chorus gets the changes its melody needed the first time, on the beat. Only notes
    already heard are read. ``recalled`` holds the last proposal's match. With
    ``recall_votes`` set (the folk policy), every such match votes for what followed it
    (``kernels.memory.recall_votes``), weighted by its length.

    Anticipation (``look`` > 0; off by default): ``runtime.batch`` melody continuations
    for the next step are drawn from the model's melody head (numba sampling kernel,
    seeded), the model is stepped once more on each, and a chord's score adds ``look``
    times its mean log-probability there. Measured on the validation pieces (before the
    ``fit`` term, which reads the same forecast without a second model step) it gained at
    most a point of note-in-chord for a second, batched model step that doubles a
    decision's cost (p99 160 -> 290 us, over the 200 us budget).

    Variety: ``temperature`` 0 takes the best chord; above 0 the chord is drawn (top-p)
    from the scores, so a band can be more adventurous.

    ``propose`` is pure; ``commit`` makes the step final and advances the state. Shared
    by the live accompanist, ``sideman harmonize``, ``sideman arrange`` and ``sideman eval``.
    Keyword arguments named like ``DecisionPolicy``'s fields override the style's policy.
    """

    def __init__(self, runtime: ModelRuntime, style: int = 0, *, temperature: float = 0.0,
                 top_p: float = 0.9, look: float = 0.0, seed: int = 0, policy: DecisionPolicy | None = None,
                 **overrides: float | None) -> None:
        from dataclasses import replace

        from kernels import Sampler

        self.rt = runtime
        self.R = runtime.batch
        self.style = style
        self.temperature, self.top_p, self.look = temperature, top_p, look
        try:
            self.policy = replace(policy or POLICIES.get(style, POLICIES[0]), **overrides)
        except TypeError as exc:
            raise TypeError(f"ChordDecoder: unknown policy setting in {sorted(overrides)}; "
                            f"allowed: {list(DecisionPolicy.__dataclass_fields__)}") from exc
        self.mel_sampler = Sampler(self.R, MEL_CLASSES, seed)
        self.chord_sampler = Sampler(1, CHORD_CLASSES, seed + 1)
        self.f1 = runtime.feeds_for(1)
        # the step's input arrays, in the order a proposal fills them (the set is the session's,
        # shared with every decoder and melodist on it: each fills all of it every step)
        self._in = tuple(self.f1[k] for k in ("prev_mel", "prev_on", "prev_chord", "pos", "style", "cur_mel"))
        self._prm = policy_params(self.policy, runtime.has_ahead)
        self._heard_prm = policy_params(HEARD_POLICY, runtime.has_ahead)
        self.h = runtime.zero_state(1)
        self.prev_chord = NO_CHORD  # what the band played (for the stay rule, not fed to the model)
        self.first_logits = np.zeros(CHORD_CLASSES, np.float32)
        self.score = np.zeros((1, CHORD_CLASSES), np.float32)
        self._held = np.zeros((1, CHORD_CLASSES), np.float32)  # the scores masked to chords holding a note
        self.lp1 = np.zeros((1, CHORD_CLASSES), np.float32)
        self.lpR = np.zeros((self.R, CHORD_CLASSES), np.float32)
        self.p_mel = np.zeros(12, np.float32)
        self.no_ahead = np.zeros(12, np.float32)  # fit_scores' look-ahead input where the head is not read
        # the melody heard so far, a token and a bar position per step (kernels.memory.recall);
        # a window of RECALL_STEPS, so a decision costs the same at bar 1 and bar 500
        self.tok = np.zeros(RECALL_STEPS + 1, np.int64)
        self.tok_pos = np.zeros(RECALL_STEPS + 1, np.int64)
        self.n_heard = 0
        self.q_mel = np.zeros(12, np.float32)
        # the last proposal's match (j, length), for tests and eval; with ``recall_votes``,
        # (-1, the number of passages that voted)
        self.recalled = (-1, 0)
        # the last MEMO_STEPS steps run, newest first: (the state each ran from, its inputs,
        # its outputs, the chord scores it gave), see ``propose``
        self._memo: list[tuple] = []
        # the last committed step, for ``revise``: (state, chord and steps heard before it, its inputs)
        self._last: tuple | None = None

    def propose(self, prev_mel: int, prev_on: int, pos: int, cur_mel: int = -1,
                steps_per_bar: int = 8) -> tuple[int, int, float, np.ndarray]:
        """(chord class, bass pc or -1, its probability, the state after the step).

        ``prev_mel``: melody pitch class at the start of the previous step (-1 rest);
        ``cur_mel``: the melody now, for the reactive variant only (-1 = unknown).
        """
        # reactive (the note at the step's start is heard): the chord head hears it, no
        # forecast is needed, and the margins are the ones measured for that case
        prm = self._prm if cur_mel < 0 else self._heard_prm
        # the look-ahead head is read where the forecast is fitted and weighs it (its weight
        # is 0 in ``prm`` where the model has no such head)
        want_ahead = prm[_k.P_FIT] > 0 and prm[_k.P_AHEAD] > 0
        # the step's input (the style is the decoder's own, the policy follows from cur_mel)
        key = (prev_mel, prev_on, min(pos, POS_CLASSES - 1), cur_mel)
        hit = None
        for m in self._memo:
            if m[0] is self.h and m[1] == key:
                hit = m
                break
        if hit is not None:
            # the same step from the same state, proposed again: the planner revises the
            # slots it planned ahead when the musician plays, mostly without changing this
            # step's input, and plans the next model slot before this one is final. The
            # model's outputs would be the same, so the step is not run again.
            chord_logits, bass_logits, mel_logits, h1, ahead = hit[2]
            self.first_logits[:] = hit[3]
            self.lp1[:] = hit[4]
        else:
            f = self._in
            f[0][0] = prev_mel + 1
            f[1][0] = prev_on
            f[2][0] = NO_CHORD
            f[3][0] = key[2]
            f[4][0] = self.style
            f[5][0] = cur_mel + 1
            ahead = None
            if want_ahead:
                chord_logits, bass_logits, mel_logits, h1, ahead = self.rt.step_ahead(self.h, self.f1)
            else:
                chord_logits, bass_logits, mel_logits, h1 = self.rt.step(self.h, self.f1)
        n = self.n_heard
        ahead_row = self.no_ahead if ahead is None else ahead[0]
        if self.look > 0 or self.temperature > 0:
            # the parts of kernels.choose.decide_chord in turn: the anticipation adds to the
            # scores before the forecast, and a sampled chord is drawn from them
            if hit is None:
                chord_scores(chord_logits, NO_CHORD, self.first_logits, self.lp1, self.score)
            else:
                self.score[0, :] = self.lp1[0, :]
            if self.look > 0 and self.R > 0:
                # the note at this step is not heard yet: draw candidates for it
                mel = self.mel_sampler.draw(np.repeat(mel_logits, self.R, axis=0), temperature=1.0)
                g = self.rt.feeds
                g["prev_mel"][:] = mel
                g["prev_on"][:] = 1
                g["prev_chord"][:] = NO_CHORD
                g["pos"][:] = (pos + 1) % steps_per_bar
                g["style"][:] = self.style
                g["cur_mel"][:] = 0
                c2, *_ = self.rt.step(np.repeat(h1, self.R, axis=1))
                c2[:, NO_CHORD] = -np.inf
                log_softmax(c2, self.lpR)
                self.score[0] += self.look * self.lpR.mean(axis=0)
            rj, rl, recalled = forecast(mel_logits[0], ahead_row, self.tok, self.tok_pos, n, key[2], prev_mel,
                                        prev_on, prm, TRIAD_TONES, self.p_mel, self.q_mel, self.score[0])
            if self.temperature > 0:
                c = int(self.chord_sampler.draw(self.score, temperature=self.temperature, top_p=self.top_p)[0])
            else:
                c = argmax(self.score[0])
            c, bass, p = settle(self.score[0], self.first_logits, bass_logits[0], CHORD_TONES, c, self.prev_chord,
                                NO_CHORD, pos % 2, prev_mel, prev_on, recalled, prm)
        else:
            # scores, the tune's memory, the forecast's fit, the stay rule, bass and
            # probability: one kernel call (kernels.choose.decide_chord)
            c, bass, p, rj, rl, recalled = decide_chord(
                chord_logits, bass_logits, mel_logits, ahead_row, hit is None,
                self.first_logits, self.lp1, self.score, self.tok, self.tok_pos, n, key[2], pos % 2, prev_mel,
                prev_on, self.prev_chord, prm, TRIAD_TONES, CHORD_TONES, self.p_mel, self.q_mel)
        if hit is None:
            # each entry holds the state it ran from, so no other array can take its identity
            self._memo.insert(0, (self.h, key, (chord_logits, bass_logits, mel_logits, h1, ahead),
                                  self.first_logits.copy(), self.lp1.copy()))
            del self._memo[MEMO_STEPS:]
        self.recalled = (rj, rl)
        return c, bass, p, h1

    def commit(self, chord: int, h_next: np.ndarray, inputs: tuple[int, int, int, int] | None = None) -> None:
        """The step is final with ``chord`` (the proposal, or the musician's own).

        ``h_next`` is the state ``propose`` returned for this step; the model's state
        does not depend on the chord (it hears the melody only), so the musician may
        override the proposal without re-running the model. ``inputs``: the step's
        (prev_mel, prev_on, pos, steps_per_bar) as proposed, so that ``revise`` can decide
        it again.
        """
        # what ``revise`` needs to decide this step again (not where the memory window moves)
        self._last = None if inputs is None or self.n_heard + 1 == RECALL_STEPS else \
            (self.h, self.prev_chord, self.n_heard, inputs)
        self.h = h_next
        self.prev_chord = chord
        self.n_heard += 1
        if self.n_heard == RECALL_STEPS:  # keep the latest half of the window
            half = RECALL_STEPS // 2
            self.tok[:half] = self.tok[half:RECALL_STEPS]
            self.tok_pos[:half + 1] = self.tok_pos[half:]
            self.n_heard = half

    def revise(self, cur_mel: int, hold: bool = False) -> tuple[int, np.ndarray] | None:
        """The last committed step decided again hearing ``cur_mel``, the melody's pitch
        class at the step's start (the reactive variant's decision): (chord class, the
        state after the step), or None where it cannot be (no step committed with its
        ``inputs``, the memory window moved at its commit, or it was amended already).
        ``hold``: a chord that holds ``cur_mel`` in any case, the model's best among those
        (``HOLDS``'s mask on the step's scores) where its own choice does not.
        Changes nothing: ``amend`` makes the revision final."""
        if self._last is None:
            return None
        h0, chord0, n0, (prev_mel, prev_on, pos, steps_per_bar) = self._last
        keep = self.h, self.prev_chord, self.n_heard
        self.h, self.prev_chord, self.n_heard = h0, chord0, n0
        try:
            c, _bass, _p, h1 = self.propose(prev_mel, prev_on, pos, cur_mel=cur_mel, steps_per_bar=steps_per_bar)
        finally:
            self.h, self.prev_chord, self.n_heard = keep
        if hold and cur_mel >= 0 and c != NO_CHORD and not CHORD_TONES[c, cur_mel]:
            apply_mask(self.score, HOLDS[cur_mel], self._held)
            c = argmax(self._held[0])
        return c, h1

    def amend(self, chord: int, h_next: np.ndarray) -> None:
        """The last committed step is final with a revision's chord and state instead
        (once: the step cannot be revised again)."""
        self.h = h_next
        self.prev_chord = chord
        self._last = None

    def nll(self, target: int) -> float:
        """-log p(target) under the last proposal's step (before ``commit``)."""
        return -float(log_softmax_row(self.first_logits)[target])


def log_softmax_row(x: np.ndarray) -> np.ndarray:
    m = x.max()
    e = x - m
    return e - np.log(np.exp(e).sum())


def chord_class(root: int, quality: int) -> int:
    return NO_CHORD if root < 0 else root * 13 + quality


def class_chord(c: int) -> tuple[int, int]:
    return (-1, -1) if c == NO_CHORD else (c // 13, c % 13)


#: the band's ``Chord`` of each chord class, made once: a slot that keeps the chord hands the
#: band the very object it holds, and the band's "did it change" test is an identity check
CLASS_CHORDS = tuple(Chord(c // 13, c % 13) for c in range(NO_CHORD))


def step_melody(snap, start: int, end: int) -> tuple[int, int]:
    """(pitch class, onset flag) of the melody in the step [start, end), as the model's
    data (live.train.data) defines it: the highest melody note sounding at the step's
    start, else the first one starting inside it, else -1 (a rest); the flag says a
    note began in the step. A quarter of a step of slop counts as on time
    (``kernels.choose.melody_at``)."""
    on = snap.onsets
    offs = snap.offs if snap.offs is not None else np.full(on.shape[0], -1, np.int64)
    return melody_at(on, offs, int(snap.melody_min), int(start), int(end))


def beat_steps(notes: Sequence[tuple[float, float, int]], start: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``step_melody``'s reading of a melody given in beats: (pitch class, onset flag) for
    each of ``n`` eighth notes from beat ``start``; ``notes`` are (onset, end, pitch) in
    onset order. The top note sounding at the step's start, else the first beginning in
    it, else -1 (a rest); 1 / ``ON_TIME_DIV`` of an eighth early or late counts as on time.
    The duet's phrase (``live.duet.heard_steps``) and ``sideman chords``' melody read it."""
    pc = np.full(n, -1, np.int64)
    on = np.zeros(n, np.int64)
    tol = 0.5 / ON_TIME_DIV  # beats: the share of an eighth that counts as on time
    for k in range(n):
        b = start + k / 2
        sounding = [p for o, e, p in notes if o <= b + tol and e > b + tol]
        began = [p for o, _, p in notes if b - tol <= o < b + 0.5 - tol]
        if sounding:
            pc[k] = max(sounding) % 12
        elif began:
            pc[k] = began[0] % 12
        on[k] = 1 if began else 0
    return pc, on


class ModelAccompanist(RuleAccompanist):
    """The rule-based band's parts, playing the model's chords (lead mode).

    Chords mode and a held left hand still follow the musician; the model's state is
    fed the chord the band actually played, so it keeps listening either way. The
    model steps on eighth notes; the slots between keep the chord.

    A step is decided before the note on it is heard (strictly causal). When the
    planner asks again for a step already final (``hears_late``: a melody note began on
    it just after its commit) and that note is not a tone of the chord the band took,
    the step is decided again hearing it (``ChordDecoder.revise``, the reactive
    variant's decision); a chord that holds the note replaces the committed one, and
    the planner strikes it at once (``live.planner``: a correction a few ms after the
    note, as an accompanist who hears a clash fixes it).
    """

    name = "model"
    change_on_beats_only = False

    def __init__(self, parts: list[PartInfo], decoder: ChordDecoder, seed: int = 0,
                 reactive: bool = False, hears_late: bool = True) -> None:
        super().__init__(parts, seed=seed)
        self.decoder = decoder
        self.reactive = reactive  # also tell the model the melody note at the step's start
        # the planner may ask for a step again when a melody note began on it after its commit
        # (``live.planner``); a reactive band heard that note already
        self.hears_late = hears_late and not reactive
        # (slot, chord class, state, the step's inputs; None for a revision)
        self._proposal: tuple[int, int, np.ndarray, tuple | None] | None = None
        self._committed = -1  # the last slot whose model step is final

    def _model_step(self, ctx: SlotContext) -> None:
        step_frames = ctx.frames_per_beat / 2
        prev_mel, prev_on = step_melody(ctx.snapshot, int(ctx.frame - step_frames), ctx.frame)
        cur = self._note_at_start(ctx) if self.reactive else -1
        inputs = (prev_mel, prev_on, ctx.slot_in_bar // 2, ctx.meter * 2)
        c, _bass, _p, h = self.decoder.propose(prev_mel, prev_on, inputs[2], cur_mel=cur, steps_per_bar=inputs[3])
        self._proposal = (ctx.slot, c, h, inputs)

    @staticmethod
    def _note_at_start(ctx: SlotContext) -> int:
        """The melody's pitch class at the step's start (-1: a rest), as ``step_melody`` reads it."""
        return step_melody(ctx.snapshot, ctx.frame, int(ctx.frame + ctx.frames_per_beat / 2))[0]

    def _revise(self, ctx: SlotContext) -> None:
        """The last final step again, where the melody note at its start (heard since)
        is not a tone of the chord the band took and the decision hearing it holds it."""
        if not self.hears_late or ctx.snapshot.hands or ctx.mode not in MELODY_MODES:
            return
        if ctx.slot % SLOTS_PER_BEAT and not self.decoder.policy.late_offbeat:
            return
        cur = self._note_at_start(ctx)
        chord = self._chord
        if cur < 0 or chord.root < 0 or CHORD_TONES[chord_class(chord.root, chord.quality), cur]:
            return
        hold = self.decoder.policy.hold_late
        got = self.decoder.revise(cur, hold == "always" or (hold == "beat" and ctx.slot % SLOTS_PER_BEAT == 0))
        if got is not None and got[0] != NO_CHORD and CHORD_TONES[got[0], cur]:
            self._proposal = (ctx.slot, got[0], got[1], None)

    def _choose_chord(self, ctx: SlotContext) -> Chord:
        if ctx.snapshot.hands or ctx.mode == "chords":
            return super()._choose_chord(ctx)
        if self._proposal is None:
            return self._chord if ctx.again else super()._choose_chord(ctx)
        c = self._proposal[1]
        return self._chord if c == NO_CHORD else CLASS_CHORDS[c]

    def decide(self, ctx: SlotContext) -> Decision:
        self._proposal = None
        if ctx.slot >= 0 and ctx.slot % 2 == 0:
            if not ctx.again:
                self._model_step(ctx)
            elif ctx.slot == self._committed:
                self._revise(ctx)
        d = super().decide(ctx)
        if self._proposal is not None:
            d.extra = self._proposal[2:]
        return d

    def commit(self, decision: Decision) -> None:
        super().commit(decision)
        c = self._chord
        if decision.extra is None:
            if c.root >= 0:  # the chord the band plays (the musician's, say), for the stay rule
                self.decoder.prev_chord = chord_class(c.root, c.quality)
        else:
            h, inputs = decision.extra
            if inputs is None:
                self.decoder.amend(chord_class(c.root, c.quality), h)
            else:
                self.decoder.commit(chord_class(c.root, c.quality), h, inputs)
                self._committed = decision.slot


def model_factory(rig, seed: int = 0, path: str | Path | None = None, messages: list[str] | None = None):
    """A factory for the rig's accompanist, or None for the rule-based band.

    A missing, corrupt or wrong-shaped model is said once in ``messages``, and the
    rule-based band plays instead.
    """
    if rig.accompanist != "model":
        return None
    try:
        runtime = ModelRuntime(path, batch=ROLLOUTS)
    except ModelError as exc:
        if messages is not None:
            messages.append(f"{exc}; the rule-based band plays instead")
        return None
    if runtime.note and messages is not None:
        messages.append(runtime.note)
    style = STYLE_TOKEN.get(rig.style, 0)

    def make(infos):
        return ModelAccompanist(infos, ChordDecoder(runtime, style, seed=seed), seed=seed,
                                hears_late=rig.fix_clashes)

    make.runtime = runtime  # the same session for the duet's answers (live.modes), on the same planner thread
    return make
