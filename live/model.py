"""The model at run time: ONNX Runtime for one step, numba kernels to choose.

Threading model: planner thread only (and the offline commands). A ``ModelRuntime``
owns one onnxruntime session tuned for one small step (1 intra-op thread, full graph
optimisation, sequential execution) and its preallocated input arrays;
``InferenceSession.run`` releases the GIL while it computes, so the audio clock is
never held up by the model.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from live.accompanist import Chord, Decision, PartInfo, RuleAccompanist, SlotContext
from live.errors import ModelError

CHORD_CLASSES, BASS_CLASSES, MEL_CLASSES, POS_CLASSES = 157, 13, 13, 16
NO_CHORD = 156
STYLES = ("pop909", "nottingham", "bach", "other")
INPUTS = ("prev_mel", "prev_on", "prev_chord", "pos", "style", "cur_mel", "h")
OUTPUTS = ("chord_logits", "bass_logits", "mel_logits", "h_out")
#: The rig's style -> the corpus style token the model learned from.
STYLE_TOKEN = {"pop": 0, "rock": 0, "ballad": 0, "swing": 3, "folk": 1, "chorale": 2}


def default_model_path() -> Path:
    return Path(str(resources.files("live") / "models" / "accompanist.onnx"))


class ModelRuntime:
    """One ONNX Runtime session for ``batch`` parallel rollouts of the step model.

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
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(f"{self.path}: not a valid ONNX model ({str(exc).splitlines()[0][:200]})") from exc
        ins = {i.name: i for i in self.session.get_inputs()}
        outs = [o.name for o in self.session.get_outputs()]
        if set(ins) != set(INPUTS) or outs != list(OUTPUTS):
            raise ModelError(f"{self.path}: wrong interface: inputs {sorted(ins)} outputs {outs}; "
                             f"expected inputs {list(INPUTS)} and outputs {list(OUTPUTS)}")
        hshape = ins["h"].shape
        if len(hshape) != 3 or not all(isinstance(d, int) for d in (hshape[0], hshape[2])):
            raise ModelError(f"{self.path}: input h must be (layers, batch, hidden), got {hshape}")
        self.layers, self.hidden = int(hshape[0]), int(hshape[2])
        self.batch = batch
        self.feeds = {n: np.zeros(batch, np.int64) for n in INPUTS[:-1]}
        self.feeds["prev_chord"][:] = NO_CHORD
        self.feeds["h"] = np.zeros((self.layers, batch, self.hidden), np.float32)
        try:
            out = self.session.run(None, self.feeds)
        except Exception as exc:
            raise ModelError(f"{self.path}: the model does not run on a test step ({exc})") from exc
        want = [(batch, CHORD_CLASSES), (batch, BASS_CLASSES), (batch, MEL_CLASSES),
                (self.layers, batch, self.hidden)]
        got = [tuple(o.shape) for o in out]
        if got != want:
            raise ModelError(f"{self.path}: wrong output shapes {got}, expected {want}")

    def zero_state(self) -> np.ndarray:
        return np.zeros((self.layers, self.batch, self.hidden), np.float32)

    def step(self, h: np.ndarray) -> list[np.ndarray]:
        """Run one step on ``self.feeds`` (fill them first) from state ``h``."""
        self.feeds["h"] = h
        return self.session.run(None, self.feeds)


class ChordDecoder:
    """Chooses the band's chord one eighth note at a time, strictly causally.

    Anticipation: from the committed state it samples ``rollouts`` candidate futures
    ``lookahead`` steps long (the melody ahead unknown), scores each by its
    log-likelihood under the model, and proposes the first chord of the best one.
    ``propose`` is pure; ``commit`` makes the step final and advances the state.
    Shared by the live accompanist, ``sideman harmonize`` and ``sideman eval``.
    """

    def __init__(self, runtime: ModelRuntime, style: int = 0, *, temperature: float = 0.6,
                 top_p: float = 0.9, lookahead: int = 2, seed: int = 0) -> None:
        from kernels import Sampler

        self.rt = runtime
        self.R = runtime.batch
        self.style = style
        self.temperature, self.top_p, self.lookahead = temperature, top_p, lookahead
        self.sampler = Sampler(self.R, CHORD_CLASSES, seed)
        self.h = np.zeros((runtime.layers, 1, runtime.hidden), np.float32)
        self.prev_chord = NO_CHORD
        self.logp = np.zeros((self.R, CHORD_CLASSES), np.float32)
        self.score = np.zeros(self.R)

    def propose(self, prev_mel: int, prev_on: int, pos: int, cur_mel: int = -1,
                steps_per_bar: int = 8) -> tuple[int, int, float, np.ndarray]:
        """(chord class, bass pc or -1, its probability, the state after the step).

        ``prev_mel``: melody pitch class at the start of the previous step (-1 rest);
        ``cur_mel``: the melody now, for the reactive variant only (-1 = unknown).
        """
        from kernels import log_softmax

        rt, f, R = self.rt, self.rt.feeds, self.R
        f["prev_mel"][:] = prev_mel + 1
        f["prev_on"][:] = prev_on
        f["prev_chord"][:] = self.prev_chord
        f["pos"][:] = min(pos, POS_CLASSES - 1)
        f["style"][:] = self.style
        f["cur_mel"][:] = cur_mel + 1
        h0 = np.repeat(self.h, R, axis=1)
        chord_logits, bass_logits, mel_logits, h1 = rt.step(h0)
        self.first_logits = chord_logits[0].copy()  # unmasked, for the likelihood
        chord_logits[:, NO_CHORD] = -np.inf  # a band keeps playing: "no chord" is not a choice
        first = self.sampler.draw(chord_logits, temperature=self.temperature, top_p=self.top_p)
        if R > 1:
            first[0] = int(np.argmax(chord_logits[0]))  # the greedy future is always a candidate
        log_softmax(chord_logits, self.logp)
        self.score[:] = self.logp[np.arange(R), first]
        h, chord = h1, first
        for k in range(1, self.lookahead):
            mel_guess = np.argmax(mel_logits, axis=1)
            f["prev_mel"][:] = mel_guess
            f["prev_on"][:] = 1
            f["prev_chord"][:] = chord
            f["pos"][:] = (pos + k) % steps_per_bar
            f["cur_mel"][:] = 0
            c_logits, _, mel_logits, h = rt.step(h)
            c_logits[:, NO_CHORD] = -np.inf
            chord = self.sampler.draw(c_logits, temperature=self.temperature, top_p=self.top_p)
            log_softmax(c_logits, self.logp)
            self.score += self.logp[np.arange(R), chord]
        best = int(np.argmax(self.score))
        c = int(first[best])
        bass = int(np.argmax(bass_logits[best])) - 1
        p = float(np.exp(log_softmax_row(self.first_logits)[c]))
        return c, bass, p, h1[:, :1, :].copy()

    def commit(self, chord: int, h_next: np.ndarray) -> None:
        """The step is final with ``chord`` (the proposal, or the musician's own).

        ``h_next`` is the state ``propose`` returned for this step. The state after a
        step does not depend on that step's chord (it enters the next step as
        ``prev_chord``), so the musician may override the proposal without re-running
        the model.
        """
        self.h = h_next
        self.prev_chord = chord

    def nll(self, target: int) -> float:
        """-log p(target) under the last proposal's first step (before ``commit``)."""
        return -float(log_softmax_row(self.first_logits)[target])


def log_softmax_row(x: np.ndarray) -> np.ndarray:
    m = x.max()
    e = x - m
    return e - np.log(np.exp(e).sum())


def chord_class(root: int, quality: int) -> int:
    return NO_CHORD if root < 0 else root * 13 + quality


def class_chord(c: int) -> tuple[int, int]:
    return (-1, -1) if c == NO_CHORD else (c // 13, c % 13)


def step_melody(snap, start: int, end: int) -> tuple[int, int]:
    """(pitch class, onset flag) of the melody in the step [start, end), as the model's
    data defines it: the note sounding at the step's start (a note played up to an
    eighth of the step late still counts as on it), else the first one in the step."""
    on = snap.onsets
    if on.shape[0] == 0:
        return -1, 0
    mel = on[on[:, 1] >= snap.melody_min]
    at_start = mel[mel[:, 0] <= start + (end - start) // 8]
    inside = mel[(mel[:, 0] >= start) & (mel[:, 0] < end)]
    if at_start.shape[0]:
        return int(at_start[-1, 1] % 12), int(inside.shape[0] > 0)
    if inside.shape[0]:
        return int(inside[0, 1] % 12), 1
    return -1, 0


class ModelAccompanist(RuleAccompanist):
    """The rule-based band's parts, playing the model's chords (lead mode).

    Chords mode and a held left hand still follow the musician; the model's state is
    fed the chord the band actually played, so it keeps listening either way. The
    model steps on eighth notes; the slots between keep the chord.
    """

    name = "model"
    change_on_beats_only = False

    def __init__(self, parts: list[PartInfo], decoder: ChordDecoder, seed: int = 0,
                 reactive: bool = False) -> None:
        super().__init__(parts, seed=seed)
        self.decoder = decoder
        self.reactive = reactive  # also tell the model the melody note at the step's start
        self._proposal: tuple[int, int, np.ndarray] | None = None  # (slot, chord class, state)

    def _model_step(self, ctx: SlotContext) -> None:
        step_frames = ctx.frames_per_beat / 2
        prev_mel, prev_on = step_melody(ctx.snapshot, int(ctx.frame - step_frames), ctx.frame)
        cur = step_melody(ctx.snapshot, ctx.frame, int(ctx.frame + step_frames))[0] if self.reactive else -1
        c, _bass, _p, h = self.decoder.propose(prev_mel, prev_on, ctx.slot_in_bar // 2, cur_mel=cur,
                                               steps_per_bar=ctx.meter * 2)
        self._proposal = (ctx.slot, c, h)

    def _choose_chord(self, ctx: SlotContext) -> Chord:
        if ctx.snapshot.chord_zone.any() or ctx.mode == "chords" or self._proposal is None:
            return super()._choose_chord(ctx)
        root, qual = class_chord(self._proposal[1])
        return Chord(root, qual) if root >= 0 else self._chord

    def decide(self, ctx: SlotContext) -> Decision:
        self._proposal = None
        if ctx.slot >= 0 and ctx.slot % 2 == 0:
            self._model_step(ctx)
        d = super().decide(ctx)
        if self._proposal is not None:
            d.extra = self._proposal[2]
        return d

    def commit(self, decision: Decision) -> None:
        super().commit(decision)
        if decision.extra is not None:
            c = self._chord
            self.decoder.commit(chord_class(c.root, c.quality), decision.extra)


def model_factory(rig, seed: int = 0, path: str | Path | None = None, messages: list[str] | None = None):
    """A factory for the rig's accompanist, or None for the rule-based band.

    A missing, corrupt or wrong-shaped model is said once in ``messages``, and the
    rule-based band plays instead.
    """
    if rig.accompanist != "model":
        return None
    try:
        runtime = ModelRuntime(path, batch=4)
    except ModelError as exc:
        if messages is not None:
            messages.append(f"{exc}; the rule-based band plays instead")
        return None
    style = STYLE_TOKEN.get(rig.style, 0)

    def make(infos):
        return ModelAccompanist(infos, ChordDecoder(runtime, style, seed=seed), seed=seed)

    return make
