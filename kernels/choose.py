"""The chord decoder's arithmetic per model step, in one call: how well each chord fits the
note about to begin.

The model has heard the melody up to the step's start; the note beginning now is not
heard yet. ``fit_scores`` forecasts it, a chance per pitch class (``p_mel``):

- the melody head's distribution, less "rest" (``mel_logits``: rest, then pitch classes
  0-11), renormalised;
- mixed, with weight ``ahead_w``, with the look-ahead head's share of the coming half bar
  (``ahead``: 12 logits; ``ahead_w`` 0 leaves it out);
- mixed, with weight ``recall_w``, with the remembered melody's forecast (``q_mel``: 12
  non-negative weights summing to ``q_total``; ``q_total`` 0 leaves it out);

and adds ``fit * sum(tones[c] * p_mel)`` to each chord's score ``score[c]`` (``tones``:
chords x 12, 1 where a pitch class is a tone of the chord's triad).

``chord_scores`` turns the chord head's logits into the score ``fit_scores`` adds to (kept,
"no chord" masked, log-softmax). ``softmax_at(x, c)`` is the probability of class ``c`` under
logits ``x``; ``argmax(x)`` is ``np.argmax`` without its call overhead (the decoder's choice
and bass note).

``decide_chord`` is the decoder's whole choice after the model's step, in one call (what
``live.model.ChordDecoder.propose`` did as six kernel calls and Python around them):
``chord_scores``, then ``forecast`` (the step heard into the tune's memory, the recalled
melody, ``fit_scores``), the best chord, then ``settle`` (the stay rule: the chord sounding
is kept unless the best beats it by the policy's margin; the bass head's note; the chord's
probability). Its policy is a float array laid out by the ``P_*`` indexes (NaN: a setting
that is None). A decoder that samples its chord, or adds the anticipation rollouts to the
scores, calls the three parts itself.

``melody_at`` reads the step's melody (pitch class, onset flag) from the listener's onsets,
as the model's training data defines it: what the decoder feeds the model each step.

Float32 in and out, as the model's outputs and the decoder's score are; the numpy
references do the same arithmetic with numpy's calls. Pure; allocates nothing; releases
the GIL. Thread: any (the planner).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .memory import continuation, melody_token, recall, recall_ref, recall_votes, recall_votes_ref
from .sampling import log_softmax, log_softmax_ref


@numba.njit(nogil=True, cache=True)
def _max(x, lo, hi):
    """The largest of ``x[lo:hi]`` (hi > lo)."""
    m = x[lo]
    for k in range(lo + 1, hi):
        if x[k] > m:
            m = x[k]
    return m


@numba.njit(nogil=True, cache=True)
def fit_scores(mel_logits, ahead, ahead_w, q_mel, q_total, recall_w, tones, fit, p_mel, score):
    """Write the forecast into ``p_mel`` (12) and add ``fit`` times each chord's share of
    it to ``score`` (chords); see the module doc."""
    one = np.float32(1.0)
    mx = _max(mel_logits, 1, 13)
    s = np.float32(0.0)
    for k in range(12):
        p_mel[k] = np.float32(math.exp(mel_logits[k + 1] - mx))
        s += p_mel[k]
    for k in range(12):
        p_mel[k] = p_mel[k] / s
    if ahead_w > 0.0:
        amx = _max(ahead, 0, 12)
        sa = np.float32(0.0)
        for k in range(12):
            sa += np.float32(math.exp(ahead[k] - amx))
        keep = one - np.float32(ahead_w)
        w = np.float32(ahead_w) / sa
        for k in range(12):
            p_mel[k] = p_mel[k] * keep + w * np.float32(math.exp(ahead[k] - amx))
    if q_total > 0.0:
        keep = one - np.float32(recall_w)
        w = np.float32(recall_w / q_total)
        for k in range(12):
            p_mel[k] = p_mel[k] * keep + w * q_mel[k]
    f = np.float32(fit)
    for c in range(tones.shape[0]):
        acc = np.float32(0.0)
        for k in range(12):
            acc += tones[c, k] * p_mel[k]
        score[c] += acc * f


def fit_scores_ref(mel_logits, ahead, ahead_w, q_mel, q_total, recall_w, tones, fit, p_mel, score):
    """``fit_scores`` in numpy."""
    m = mel_logits[1:13]
    np.exp(m - m.max(), out=p_mel)
    p_mel /= p_mel.sum()
    if ahead_w > 0.0:
        pa = np.exp(ahead - ahead.max())
        p_mel *= 1.0 - ahead_w
        p_mel += (ahead_w / pa.sum()) * pa
    if q_total > 0.0:
        p_mel *= 1.0 - recall_w
        p_mel += (recall_w / q_total) * q_mel
    score += (tones @ p_mel) * np.float32(fit)


@numba.njit(nogil=True, cache=True)
def softmax_at(x, c):
    """exp(x[c]) / sum(exp(x)), computed from the maximum (finite for any finite x)."""
    mx = _max(x, 0, x.shape[0])
    s = 0.0
    for k in range(x.shape[0]):
        s += math.exp(x[k] - mx)
    return math.exp(x[c] - mx) / s


def softmax_at_ref(x, c):
    """``softmax_at`` in numpy."""
    e = np.exp(x.astype(np.float64) - x.max())
    return float(e[c] / e.sum())


@numba.njit(nogil=True, cache=True)
def chord_scores(chord_logits, no_chord, first, lp, score):
    """The chord head's row 0 made into the decoder's scores, in one call: the logits kept in
    ``first`` (the proposal's probability and likelihood read them), ``no_chord`` masked to
    -inf in place (a band keeps playing), log-softmaxed into ``lp`` (``sampling.log_softmax``)
    and copied into ``score``, which ``fit_scores`` then adds to."""
    first[:] = chord_logits[0]
    chord_logits[0, no_chord] = -np.inf
    log_softmax(chord_logits, lp)
    score[0, :] = lp[0, :]


def chord_scores_ref(chord_logits, no_chord, first, lp, score):
    """``chord_scores`` in numpy."""
    first[:] = chord_logits[0]
    chord_logits[0, no_chord] = -np.inf
    log_softmax_ref(chord_logits, lp)
    score[:] = lp


@numba.njit(nogil=True, cache=True)
def argmax(x):
    """The index of the first largest value of ``x`` (a NaN, the first NaN), as ``np.argmax``."""
    best = 0
    m = x[0]
    if m != m:
        return 0
    for k in range(1, x.shape[0]):
        v = x[k]
        if v != v:
            return k
        if v > m:
            m = v
            best = k
    return best


def argmax_ref(x):
    """``argmax`` in numpy."""
    return int(np.argmax(x))


#: A note that misses a step's start by up to 1/ON_TIME_DIV of the step, early or late, counts
#: as on it (a musician's timing: at 120 bpm a quarter of an eighth is 62 ms). Until the third
#: stop of 2026-12-07 a tenth (25 ms): a note played 30 ms late under a held one was not read
#: as the step's (the held one was), and the chord under it was neither chosen nor corrected
#: for it (played with a 20 ms SD timing, the validation pieces read 0.871 / 0.816
#: note-in-chord on pop909 / Nottingham against 0.910 / 0.836 with a quarter; on the grid,
#: the same to the digit).
ON_TIME_DIV = 4


@numba.njit(nogil=True, cache=True)
def melody_at(onsets, offs, melody_min, start, end):
    """(pitch class, onset flag) of the melody in the step [start, end) of frames, as the
    model's data defines it: the highest melody note sounding at the step's start, else the
    first one beginning inside it, else -1 (a rest); the flag says a note began in the step.
    ``1 / ON_TIME_DIV`` of a step of slop counts as on time. ``onsets``: (n, >= 2) int64 frame and note,
    oldest first (the listener's snapshot); ``offs``: (n,) the frame each note stopped
    sounding, -1 while it sounds; notes below ``melody_min`` are not melody."""
    tol = (end - start) // ON_TIME_DIV
    t0 = start + tol
    top = -1
    first = -1
    began = 0
    for i in range(onsets.shape[0]):
        note = onsets[i, 1]
        if note < melody_min:
            continue
        f = onsets[i, 0]
        if f <= t0 and (offs[i] < 0 or offs[i] > t0) and note > top:
            top = note
        if start - tol <= f < end - tol:
            began = 1
            if first < 0:
                first = note
    if top >= 0:
        return top % 12, began
    if first >= 0:
        return first % 12, 1
    return -1, 0


def melody_at_ref(onsets, offs, melody_min, start, end):
    """``melody_at`` in numpy."""
    if onsets.shape[0] == 0:
        return -1, 0
    tol = (end - start) // ON_TIME_DIV
    is_mel = onsets[:, 1] >= melody_min
    t0 = start + tol
    sounding = is_mel & (onsets[:, 0] <= t0) & ((offs < 0) | (offs > t0))
    began = is_mel & (onsets[:, 0] >= start - tol) & (onsets[:, 0] < end - tol)
    if sounding.any():
        return int(onsets[sounding, 1].max() % 12), int(began.any())
    if began.any():
        return int(onsets[np.flatnonzero(began)[0], 1] % 12), 1
    return -1, 0


#: ``decide_chord``'s policy array (float64), by index; NaN where the setting is None
#: (``live.model.DecisionPolicy`` names each: stay, stay_offbeat, stay_recalled, fix, fit,
#: ahead (0 where the model has no look-ahead head), recall, recall_min, recall_span,
#: recall_votes, and the longest match the memory looks for)
(P_STAY, P_STAY_OFFBEAT, P_STAY_RECALLED, P_FIX, P_FIT, P_AHEAD, P_RECALL, P_RECALL_MIN, P_RECALL_SPAN,
 P_RECALL_VOTES, P_RECALL_MAX) = range(11)
POLICY_FIELDS = P_RECALL_MAX + 1


@numba.njit(nogil=True, cache=True)
def forecast(mel_logits, ahead, tok, tok_pos, n, pos, prev_mel, prev_on, prm, tones, p_mel, q_mel, score):
    """The step just heard into the tune's memory (``tok[n - 1]``: the previous step's token;
    ``tok_pos[n]``: this step's position ``pos``), then, where the policy fits (``prm[P_FIT]``
    > 0), the recalled melody into ``q_mel`` and ``fit_scores`` into ``score`` (chords).
    Returns (j, length, recalled): the match (``recall``'s (j, L); with recall_votes, (-1,
    the passages that voted); (-1, 0): none) and whether the recalled melody joined the
    forecast."""
    if n > 0:
        tok[n - 1] = melody_token(prev_mel, prev_on)
    tok_pos[n] = pos
    rj, rl = -1, 0
    total = 0.0
    fit = prm[P_FIT]
    if fit <= 0.0:
        return rj, rl, False
    rw = prm[P_RECALL]
    power = prm[P_RECALL_VOTES]
    span = int(prm[P_RECALL_SPAN])
    if rw > 0.0 and power == power:  # every earlier passage that matches votes
        votes = recall_votes(tok, tok_pos, n, int(prm[P_RECALL_MIN]), int(prm[P_RECALL_MAX]), span, power, q_mel)
        if votes > 0:
            for k in range(12):
                total += q_mel[k]
            if total > 0.0:  # 0 where every continuation was a rest
                rl = votes
    elif rw > 0.0:  # the longest match alone
        rj, rl = recall(tok, tok_pos, n, int(prm[P_RECALL_MIN]), int(prm[P_RECALL_MAX]))
        if rj >= 0:
            for k in range(12):
                q_mel[k] = 0.0
            total = continuation(tok, rj, n, span, 1.0, q_mel)
    fit_scores(mel_logits, ahead, prm[P_AHEAD], q_mel, total, rw, tones, fit, p_mel, score)
    return rj, rl, total > 0.0


def forecast_ref(mel_logits, ahead, tok, tok_pos, n, pos, prev_mel, prev_on, prm, tones, p_mel, q_mel, score):
    """``forecast`` in numpy."""
    if n > 0:
        tok[n - 1] = melody_token(prev_mel, prev_on)
    tok_pos[n] = pos
    fit, rw, power = prm[P_FIT], prm[P_RECALL], prm[P_RECALL_VOTES]
    if fit <= 0.0:
        return -1, 0, False
    rj, rl, total = -1, 0, 0.0
    lo, hi, span = int(prm[P_RECALL_MIN]), int(prm[P_RECALL_MAX]), int(prm[P_RECALL_SPAN])
    if rw > 0.0 and not np.isnan(power):
        votes = recall_votes_ref(tok, tok_pos, n, lo, hi, span, power, q_mel)
        total = float(q_mel.astype(np.float64).sum()) if votes > 0 else 0.0
        rl = votes if total > 0.0 else 0
    elif rw > 0.0:
        rj, rl = recall_ref(tok, tok_pos, n, lo, hi)
        if rj >= 0:
            q_mel[:] = 0.0
            cont = tok[rj:min(rj + span, n)]
            w = 0.5 ** np.arange(len(cont))
            np.add.at(q_mel, (cont[cont > 0] - 1) >> 1, w[cont > 0])
            total = float(w[cont > 0].sum())
    fit_scores_ref(mel_logits, ahead, prm[P_AHEAD], q_mel, total, rw, tones, fit, p_mel, score)
    return rj, rl, total > 0.0


@numba.njit(nogil=True, cache=True)
def settle(score, first, bass_logits, chord_tones, c, prev, no_chord, offbeat, prev_mel, prev_on, recalled, prm):
    """(chord, bass pitch class or -1, the chord's probability under ``first``): the chord
    sounding (``prev``) kept unless ``c`` beats it in ``score`` by the margin (``P_STAY``,
    ``P_STAY_OFFBEAT`` more on an off-beat eighth, ``P_STAY_RECALLED`` more where the recalled
    melody joined; ``P_FIX`` instead where the note just heard, ``prev_mel``, clashes with
    ``prev`` and ``c`` holds it), the bass head's best note (class 0: none)."""
    if prev != no_chord and c != prev:
        margin = prm[P_STAY]
        if offbeat:
            margin += prm[P_STAY_OFFBEAT]
        if recalled:
            margin += prm[P_STAY_RECALLED]
        fix = prm[P_FIX]
        if fix == fix and prev_on and prev_mel >= 0 and chord_tones[prev, prev_mel] == 0.0 \
                and chord_tones[c, prev_mel] != 0.0:
            margin = fix  # the note just heard clashes with the chord: correct now
        if score[c] - score[prev] < margin:
            c = prev
    return c, argmax(bass_logits) - 1, softmax_at(first, c)


def settle_ref(score, first, bass_logits, chord_tones, c, prev, no_chord, offbeat, prev_mel, prev_on, recalled, prm):
    """``settle`` in numpy."""
    if prev != no_chord and c != prev:
        margin = prm[P_STAY] + (prm[P_STAY_OFFBEAT] if offbeat else 0.0) + (prm[P_STAY_RECALLED] if recalled else 0.0)
        if not np.isnan(prm[P_FIX]) and prev_on and prev_mel >= 0 and not chord_tones[prev, prev_mel] \
                and chord_tones[c, prev_mel]:
            margin = prm[P_FIX]
        if score[c] - score[prev] < margin:
            c = prev
    return c, argmax_ref(bass_logits) - 1, softmax_at_ref(first, c)


@numba.njit(nogil=True, cache=True)
def decide_chord(chord_logits, bass_logits, mel_logits, ahead, fresh, first, lp, score, tok, tok_pos, n, pos,
                 offbeat, prev_mel, prev_on, prev, prm, tones, chord_tones, p_mel, q_mel):
    """The decoder's choice after one model step (the module doc): ``fresh``, the step's
    chord logits (1, chords; the last class "no chord") into ``first``, ``lp`` and ``score``
    (``chord_scores``); else ``lp`` holds them already (a step run before) and is copied into
    ``score``. Then ``forecast``, the best chord, ``settle``. Returns (chord, bass, its
    probability, j, length, recalled) (``forecast``'s match)."""
    no_chord = chord_logits.shape[1] - 1
    if fresh:
        chord_scores(chord_logits, no_chord, first, lp, score)
    else:
        score[0, :] = lp[0, :]
    rj, rl, recalled = forecast(mel_logits[0], ahead, tok, tok_pos, n, pos, prev_mel, prev_on, prm, tones, p_mel,
                                q_mel, score[0])
    c, bass, p = settle(score[0], first, bass_logits[0], chord_tones, argmax(score[0]), prev, no_chord, offbeat,
                        prev_mel, prev_on, recalled, prm)
    return c, bass, p, rj, rl, recalled


def decide_chord_ref(chord_logits, bass_logits, mel_logits, ahead, fresh, first, lp, score, tok, tok_pos, n, pos,
                     offbeat, prev_mel, prev_on, prev, prm, tones, chord_tones, p_mel, q_mel):
    """``decide_chord`` in numpy: the three parts' references in turn."""
    no_chord = chord_logits.shape[1] - 1
    if fresh:
        chord_scores_ref(chord_logits, no_chord, first, lp, score)
    else:
        score[:] = lp
    rj, rl, recalled = forecast_ref(mel_logits[0], ahead, tok, tok_pos, n, pos, prev_mel, prev_on, prm, tones,
                                    p_mel, q_mel, score[0])
    c, bass, p = settle_ref(score[0], first, bass_logits[0], chord_tones, argmax_ref(score[0]), prev, no_chord,
                            offbeat, prev_mel, prev_on, recalled, prm)
    return c, bass, p, rj, rl, recalled
