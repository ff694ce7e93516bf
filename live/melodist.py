"""The model's melody head as a melodic voice: it hears a phrase and continues it.

The accompanist model (live/model.py) predicts, at every eighth note, the melody's next
pitch class from the melody so far, the bar position and a style token. That forecast is
what the chord decoder listens to; here it writes notes. ``Melodist.continue_steps``
runs the model over the phrase the musician just played (one step per eighth, from an
empty state, so the answer depends on the phrase and not on the jam's history), then
draws ``rollouts`` continuations in one batched step each, with the numba sampling
kernels (temperature, top-p, min-p, a repetition penalty on the last notes, a hard key
mask), and keeps the continuation the model finds most likely. The rhythm is given (the
caller's plan: which steps begin a note, which hold one, which rest), so the model is fed
exactly what it will hear: a held note is a step with no onset, a rest is a rest.

The melody head predicts the pitch class *sounding* at the next step, held notes
included, so on its own it mostly says "the same note again" (81% repeated notes in
answers to Ode to Joy drawn on eighths, 20 seeds). A step that begins a note discounts
the note before it (``repetition`` 2.5 on the last note: 7-25% repeats, as tunes have).

Used by the duet's answers (live/duet.py) and the studio's call-and-response variation
(live/studio/vary.py); both fall back to their rule-based variation when the model is
missing or fails.

Threading model: one thread owns a ``Melodist`` (the planner thread, or an offline
command): its feeds, sampler and scratch arrays are preallocated and reused. The ONNX
step releases the GIL; a whole answer is about 40-100 model steps (once per phrase, never
on the audio clock; ``benchmarks.model`` measures it).
"""

from __future__ import annotations

import numpy as np

from live.model import MEL_CLASSES, NO_CHORD, POS_CLASSES, ModelRuntime

#: The longest stretch of the musician's melody the model hears before answering (8 bars
#: of 4/4 in eighths), and the longest answer it writes (4 bars of 7/4).
MAX_HEARD, MAX_ANSWER = 64, 56
#: Scale degrees (semitones over the tonic) of the key mask, major and minor (natural
#: minor plus the raised sixth and seventh a melody uses).
KEY_SCALES = {0: (0, 2, 4, 5, 7, 9, 11), 1: (0, 2, 3, 5, 7, 8, 9, 10, 11)}
#: Step kinds of the rhythm the caller gives.
REST, HOLD, ONSET = -1, 0, 1


class Melodist:
    """Continues a melody with the model's melody head; seeded and reproducible.

    ``runtime`` may be the band's own (the chord decoder's, live.modes): both fill every
    input before each step, and both run on the planner thread only. ``rollouts``
    continuations are drawn per answer and the most likely kept.

    Raises:
        ValueError: rollouts, temperature or repetition out of range.
    """

    def __init__(self, runtime: ModelRuntime, style: int = 0, seed: int = 0, *, rollouts: int = 8,
                 temperature: float = 0.9, top_p: float = 0.92, min_p: float = 0.04, repetition: float = 2.5,
                 repetition_window: int = 1) -> None:
        from kernels import Sampler

        if rollouts < 1 or temperature < 0 or repetition < 1:
            raise ValueError(f"Melodist: rollouts >= 1, temperature >= 0 and repetition >= 1 needed, got "
                             f"{rollouts}, {temperature}, {repetition}")
        self.rt = runtime
        self.style = style
        self.R = rollouts
        self.temperature, self.top_p, self.min_p = temperature, top_p, min_p
        self.repetition, self.window = repetition, repetition_window
        self.sampler = Sampler(rollouts, MEL_CLASSES, seed)
        self.f1 = runtime.feeds_for(1)
        self.fR = runtime.feeds_for(rollouts)
        self.mask = np.ones(MEL_CLASSES, np.bool_)
        self.logits = np.zeros((rollouts, MEL_CLASSES), np.float32)
        self.logp = np.zeros((rollouts, MEL_CLASSES), np.float32)
        self.history = np.full((rollouts, max(1, repetition_window)), -1, np.int64)
        self.out = np.full((rollouts, MAX_ANSWER), -1, np.int64)
        self.score = np.zeros(rollouts)
        self.steps = 0  # model steps run by the last call (for the benchmark)
        # warm up: every kernel compiled (or loaded from numba's cache) before the first
        # answer, which the duet times against its budget; then the seed's draws from the start
        self.continue_steps(np.zeros(2, np.int64), np.ones(2, np.int64), 0, 8, np.array([ONSET, HOLD]))
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Draw the next answers from ``seed`` (each answer its own, reproducibly)."""
        self.sampler.rng = np.random.Generator(np.random.PCG64(seed))

    def _key_mask(self, key: tuple[int, int] | None) -> None:
        self.mask[:] = True
        self.mask[0] = False  # the rhythm is given: a note that begins is a note
        if key is not None and key[0] >= 0:
            self.mask[1:] = False
            for d in KEY_SCALES[1 if key[1] else 0]:
                self.mask[1 + (key[0] + d) % 12] = True

    def continue_steps(self, heard_pc: np.ndarray, heard_on: np.ndarray, pos0: int, steps_per_bar: int,
                       rhythm: np.ndarray, key: tuple[int, int] | None = None) -> np.ndarray:
        """The pitch class of each future step that begins a note (-1 elsewhere).

        ``heard_pc``/``heard_on``: the melody heard, one eighth-note step each (pitch class
        sounding at the step's start or beginning in it, -1 rest; 1 where a note began),
        its first step at bar position ``pos0``; only the last MAX_HEARD steps are heard.
        ``rhythm``: per future step REST, HOLD or ONSET (at most MAX_ANSWER steps),
        starting right after the heard steps. ``key`` (tonic, 1 minor): notes outside its
        scale are masked. Returns a new int64 array of len(rhythm).
        """
        from kernels import log_softmax, repetition_penalty

        n_future = min(len(rhythm), MAX_ANSWER)
        start = max(0, len(heard_pc) - MAX_HEARD)
        pc = np.asarray(heard_pc[start:], np.int64)
        on = np.asarray(heard_on[start:], np.int64)
        pos = (pos0 + start) % steps_per_bar
        self._key_mask(key)
        rt, f = self.rt, self.f1
        h = rt.zero_state(1)
        mel_logits = None
        self.steps = 0
        # hear the phrase: the step at t takes the melody of t - 1 and predicts t's
        for t in range(len(pc) + 1):
            f["prev_mel"][0] = pc[t - 1] + 1 if t > 0 else 0
            f["prev_on"][0] = on[t - 1] if t > 0 else 0
            f["prev_chord"][0] = NO_CHORD
            f["pos"][0] = min((pos + t) % steps_per_bar, POS_CLASSES - 1)
            f["style"][0] = self.style
            f["cur_mel"][0] = 0
            _c, _b, mel_logits, h = rt.step(h, f)
            self.steps += 1
        # answer: every rollout from the same state, one batched step per future step
        g = self.fR
        hR = np.repeat(h, self.R, axis=1)
        self.logits[:] = mel_logits[0]
        self.history[:] = -1
        self.history[:, -1] = pc[-1] + 1 if len(pc) and pc[-1] >= 0 else -1
        self.out[:, :n_future] = -1
        self.score[:] = 0.0
        cur = np.full(self.R, -1, np.int64)  # each rollout's pitch class sounding (-1 rest)
        rows = np.arange(self.R)
        fpos = (pos + len(pc)) % steps_per_bar
        for k in range(n_future):
            kind = int(rhythm[k])
            if kind == ONSET:
                log_softmax(self.logits, self.logp)
                repetition_penalty(self.logits, self.history, self.window, self.repetition, self.logits)
                drawn = self.sampler.draw(self.logits, temperature=self.temperature, top_p=self.top_p,
                                          min_p=self.min_p, mask=self.mask)
                self.score += self.logp[rows, drawn]
                cur[:] = drawn - 1
                self.out[:, k] = cur
                self.history[:, :-1] = self.history[:, 1:]
                self.history[:, -1] = drawn
            elif kind == REST:
                cur[:] = -1
            if k + 1 == n_future:
                break
            g["prev_mel"][:] = cur + 1
            g["prev_on"][:] = 1 if kind == ONSET else 0
            g["prev_chord"][:] = NO_CHORD
            g["pos"][:] = min((fpos + k + 1) % steps_per_bar, POS_CLASSES - 1)
            g["style"][:] = self.style
            g["cur_mel"][:] = 0
            _c, _b, ml, hR = rt.step(hR, g)
            self.logits[:] = ml
            self.steps += 1
        best = int(np.argmax(self.score))
        return self.out[best, :n_future].copy()


def nearest_pitch(pc: int, prev: int, low: int, high: int) -> int:
    """The note of pitch class ``pc`` nearest ``prev`` inside ``low..high`` (ties upward)."""
    best = None
    for n in range(low, high + 1):
        if n % 12 == pc:
            d = abs(n - prev)
            if best is None or d < best[0] or (d == best[0] and n > best[1]):
                best = (d, n)
    return best[1] if best is not None else prev


def load_melodist(style: int = 0, seed: int = 0, path=None, messages: list[str] | None = None) -> Melodist | None:
    """A Melodist on the shipped model (or ``path``), or None where the model cannot be
    loaded: that is said once in ``messages`` and the caller's rule-based variation plays."""
    from live.errors import ModelError
    from live.model import ROLLOUTS

    try:
        return Melodist(ModelRuntime(path, batch=ROLLOUTS), style, seed)
    except ModelError as exc:
        if messages is not None:
            messages.append(f"{exc}; answers are rule-based variations")
        return None
