"""Numba kernels for Sideman: chords, key, voicing, sampling, tempo, recall, the decoder's
step, the listener's snapshot, the band's keyed draws. Pure functions on numpy arrays.

Imports nothing from live/ and does no I/O. Call ``warmup()`` when a rig loads so every
kernel compiles (or loads from numba's cache) before the first note.
"""

from __future__ import annotations

import numpy as np

from .bass import bass_note, bass_note_ref
from .chords import (QUALITIES, QUALITY_INTERVALS, QUALITY_SUFFIX, chord_pitch_classes,
                     chord_recognize, chord_symbol, parse_chord_symbol)
from .chorddetect import keyboard_weights, single_finger_chord
from .draws import stream_uniforms, stream_uniforms_ref
from .choose import (argmax, argmax_ref, chord_scores, chord_scores_ref, decide_chord, decide_chord_ref, fit_scores,
                     fit_scores_ref, forecast, forecast_ref, melody_at, melody_at_ref, settle, settle_ref, softmax_at,
                     softmax_at_ref)
from .key import KK_MAJOR, KK_MINOR, key_estimate, key_update
from .listen import ring_tail, ring_tail_ref, zone_summary, zone_summary_ref
from .memory import melody_token, recall, recall_ref, recall_votes, recall_votes_ref
from .sampling import Sampler, apply_mask, log_softmax, repetition_penalty, sample
from .tempo import next_beat, tap_tempo, tempo_state, tempo_update
from .voicing import SATB_HIGHS, SATB_LOWS, voice_chord, voice_kind, voice_satb

__all__ = [
    "QUALITIES", "QUALITY_INTERVALS", "QUALITY_SUFFIX", "KK_MAJOR", "KK_MINOR",
    "chord_recognize", "chord_pitch_classes", "single_finger_chord", "keyboard_weights", "chord_symbol",
    "parse_chord_symbol",
    "key_update", "key_estimate", "voice_chord", "voice_kind", "voice_satb", "warmup",
    "apply_mask", "repetition_penalty", "sample", "log_softmax", "Sampler",
    "tempo_state", "tempo_update", "next_beat", "tap_tempo", "bass_note", "bass_note_ref",
    "melody_token", "recall", "recall_ref", "recall_votes", "recall_votes_ref",
    "fit_scores", "fit_scores_ref", "softmax_at", "softmax_at_ref", "melody_at", "melody_at_ref",
    "argmax", "argmax_ref", "chord_scores", "chord_scores_ref", "decide_chord", "decide_chord_ref", "forecast",
    "forecast_ref", "settle", "settle_ref",
    "ring_tail", "ring_tail_ref", "zone_summary", "zone_summary_ref", "stream_uniforms", "stream_uniforms_ref",
]


def warmup():
    """Call every njit kernel once with real shapes and dtypes. Thread: control, at rig load."""
    weights = np.zeros(12)
    weights[[0, 4, 7]] = 1.0
    root, quality, _ = chord_recognize(weights, 0)
    pcs = np.empty(4, dtype=np.int64)
    sounding = np.zeros(128, dtype=np.int8)  # the listener's array
    sounding[[48, 52, 55]] = 1
    single_finger_chord(sounding, 0, 60)
    keyboard_weights(sounding, 0, 128, weights)
    chord_pitch_classes(root, quality, pcs)
    state = np.zeros(12)
    key_update(state, 0, 1.0, 0.99)
    key_estimate(state)
    prev = np.full(4, -1, dtype=np.int64)
    out = np.empty(4, dtype=np.int64)
    voice_chord(root, quality, prev, 52, 76, out)
    voice_chord(root, quality, out.copy(), 52, 76, out)
    out3 = np.empty(3, dtype=np.int64)
    voice_chord(root, quality, np.full(3, -1, dtype=np.int64), 52, 76, out3)
    for kind, n in ((0, 3), (2, 4), (4, 2)):  # voice_kind: one compilation serves every kind
        kout = np.empty(n, dtype=np.int64)
        voice_kind(kind, root, quality, np.full(n, -1, dtype=np.int64), 52, 76, kout)
        voice_kind(kind, root, quality, kout.copy(), 52, 76, kout)
    voice_satb(root, quality, -1, prev, SATB_LOWS, SATB_HIGHS, out)
    voice_satb(root, quality, -1, out.copy(), SATB_LOWS, SATB_HIGHS, out)
    # sampling: float32 logits as onnxruntime returns them; both mask layouts.
    logits = np.zeros((4, 13), dtype=np.float32)
    apply_mask(logits, np.ones(13, dtype=np.bool_), logits)
    apply_mask(logits, np.ones((4, 13), dtype=np.bool_), logits)
    repetition_penalty(logits, np.full((4, 8), -1, dtype=np.int64), 8, 1.2, logits)
    log_softmax(logits, np.empty((4, 13), dtype=np.float32))
    sample(logits, 1.0, 2, 0.9, 0.05, np.zeros(4), np.empty(4, dtype=np.int64), np.empty(13, dtype=np.int64),
           np.empty(13))
    from .groove import hit_probability

    hit_probability(0.5, 0.0, 0.7)  # the live band's drums, per written hit
    stream_uniforms(0, -16, 2, 0, np.empty(32))  # the parts' humanising draws (live.accompanist)
    toks = np.zeros(17, dtype=np.int64)  # the model's memory of the tune (live.model.ChordDecoder)
    toks[:8] = toks[8:16] = [melody_token(pc, 1) for pc in (0, 2, 4, 5, 7, 9, 11, 0)]
    recall(toks, np.arange(17, dtype=np.int64) % 8, 16, 4, 64)
    recall_votes(toks, np.arange(17, dtype=np.int64) % 8, 16, 4, 64, 3, 2.0, np.zeros(12, dtype=np.float32))
    # the decoder's step (float32 rows of the model's outputs; 157 chord classes)
    f12 = np.zeros(12, dtype=np.float32)
    fit_scores(np.zeros(13, dtype=np.float32), f12, 0.5, f12.copy(), 1.0, 0.5, np.zeros((157, 12), dtype=np.float32),
               20.0, np.zeros(12, dtype=np.float32), np.zeros(157, dtype=np.float32))
    softmax_at(np.zeros(157, dtype=np.float32), 0)
    argmax(np.zeros(157, dtype=np.float32))
    f157 = np.zeros((1, 157), dtype=np.float32)
    chord_scores(f157, 156, np.zeros(157, dtype=np.float32), f157.copy(), f157.copy())
    # the decoder's whole choice, as ChordDecoder.propose calls it (and its parts, for a
    # decoder that samples its chord or looks ahead)
    from .choose import P_FIT, POLICY_FIELDS

    prm = np.zeros(POLICY_FIELDS)
    prm[P_FIT] = 20.0
    tones = np.zeros((157, 12), dtype=np.float32)
    decide_chord(f157.copy(), np.zeros((1, 13), dtype=np.float32), np.zeros((1, 13), dtype=np.float32), f12, True,
                 np.zeros(157, dtype=np.float32), f157.copy(), f157.copy(), toks.copy(), toks.copy(), 3, 0, 0, 2, 1,
                 156, prm, tones, tones, f12.copy(), f12.copy())
    rj, rl, recalled = forecast(np.zeros(13, dtype=np.float32), f12, toks.copy(), toks.copy(), 3, 0, 2, 1, prm, tones,
                                f12.copy(), f12.copy(), np.zeros(157, dtype=np.float32))
    settle(np.zeros(157, dtype=np.float32), np.zeros(157, dtype=np.float32), np.zeros(13, dtype=np.float32), tones, 0,
           156, 156, 0, 2, 1, recalled, prm)
    melody_at(np.zeros((1, 3), dtype=np.int64), np.full(1, -1, dtype=np.int64), 60, 0, 12000)
    ring = np.zeros(256, dtype=np.int64), np.zeros(256, dtype=np.int16)  # the listener's rings' dtypes
    ring_tail(ring[0], ring[1], ring[1], ring[0], 3, 2, np.empty((2, 3), dtype=np.int64), np.empty(2, dtype=np.int64))
    zone_summary(sounding, 60, False, np.empty(12))
    tempo = tempo_state(0.0, 24000.0)
    tempo_update(tempo, 24000.0, 2, 0.25, 0.15)
    next_beat(tempo, 30000.0)
    tap_tempo(np.array([0.0, 24000.0, 48000.0]), 3, 96000.0)
    for degree in range(10):  # one compilation; each branch once for the first-call paths
        bass_note(degree, 0, root, quality, -1, 5, 0, -1, 28, 55, 1, 4, 0.3)
        bass_note(degree, 0, root, quality, -1, -1, -1, 40, 28, 55, 3, 4, 0.7)
