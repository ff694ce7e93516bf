"""Accompanists: who decides what the band plays, one time slot (a 16th note) at a time.

Every accompanist sits behind the same small interface, so the planner can swap the
rule-based one for the model (and fall back to it) without a gap in the music:

    decide(ctx) -> Decision     pure: what to play in this slot, given the state so far
    commit(decision) -> None    the slot is final: advance the accompanist's own state

Threading model: planner thread only. Nothing here runs on the audio clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from kernels import QUALITIES, chord_pitch_classes, chord_recognize, voice_chord
from live.events import NoteEvent
from live.listener import Snapshot

SLOTS_PER_BEAT = 4
Q = {name: i for i, name in enumerate(QUALITIES)}

# General MIDI drum notes.
KICK, SIDESTICK, SNARE, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 37, 38, 42, 44, 46, 49, 51


@dataclass(frozen=True, slots=True)
class Chord:
    root: int  # pitch class, -1 = no chord
    quality: int  # index into kernels.QUALITIES, -1 = no chord
    bass: int = -1  # pitch class of a slash bass, -1 = root

    @property
    def bass_pc(self) -> int:
        return self.root if self.bass < 0 else self.bass


NO_CHORD = Chord(-1, -1)


@dataclass(frozen=True, slots=True)
class PartInfo:
    """What an accompanist needs to know of a band member."""

    index: int
    role: str  # bass | comp | pad | drums
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class SlotContext:
    slot: int  # 16th-note index since the band came in (negative during a count-in)
    meter: int  # beats per bar
    style: str
    swing: float
    mode: str  # lead | chords
    snapshot: Snapshot
    key: tuple[int, int]  # (tonic pc, 0 major / 1 minor), (-1, 0) if unknown
    frames_per_beat: float
    frame: int = 0  # where the slot starts, in audio frames

    @property
    def beat(self) -> float:
        return self.slot / SLOTS_PER_BEAT

    @property
    def slot_in_bar(self) -> int:
        return self.slot % (self.meter * SLOTS_PER_BEAT)


@dataclass(slots=True)
class Decision:
    slot: int
    chord: Chord
    events: list[NoteEvent] = field(default_factory=list)
    cut_parts: tuple[int, ...] = ()  # parts whose sounding notes end at this slot
    voicings: dict[int, np.ndarray] = field(default_factory=dict)
    bass_note: int = -1
    extra: object = None  # an accompanist's own state for commit (e.g. the model's)


class Accompanist(Protocol):
    name: str

    def decide(self, ctx: SlotContext) -> Decision: ...

    def commit(self, decision: Decision) -> None: ...

    @property
    def chord(self) -> Chord: ...


# -- harmony -------------------------------------------------------------------

MAJOR_DIATONIC = ((0, "maj", 1.0), (2, "min", 0.6), (4, "min", 0.4), (5, "maj", 0.9),
                  (7, "maj", 0.9), (7, "7", 0.6), (9, "min", 0.7))
MINOR_DIATONIC = ((0, "min", 1.0), (5, "min", 0.8), (7, "maj", 0.6), (7, "7", 0.7),
                  (8, "maj", 0.7), (3, "maj", 0.6), (10, "maj", 0.6))


def chord_tones(chord: Chord) -> np.ndarray:
    out = np.full(4, -1, np.int64)
    n = chord_pitch_classes(chord.root, chord.quality, out)
    return out[:n]


def melody_weights(snap: Snapshot, until_frame: int, window_frames: float) -> np.ndarray:
    """Pitch-class weights of recent melody onsets, newer ones heavier."""
    w = np.zeros(12)
    if snap.onsets.shape[0] == 0:
        return w
    age = until_frame - snap.onsets[:, 0]
    recent = (age >= 0) & (age < window_frames)
    for (_frame, note, vel), a in zip(snap.onsets[recent], age[recent], strict=True):
        w[note % 12] += (0.5 + vel / 254.0) * (1.0 - a / window_frames)
    return w


def harmonize_rule(melody_w: np.ndarray, current_note: int, key: tuple[int, int],
                   current: Chord) -> Chord:
    """Pick a diatonic chord for a melody, the way a cautious rule-based arranger does."""
    tonic, mode = key
    if tonic < 0:
        if current.root >= 0:
            return current
        if current_note >= 0:
            return Chord(current_note % 12, Q["maj"])
        return NO_CHORD
    best, best_score = current, -1e9
    for degree, qual, prior in (MINOR_DIATONIC if mode else MAJOR_DIATONIC):
        chord = Chord((tonic + degree) % 12, Q[qual])
        tones = chord_tones(chord)
        inside = melody_w[tones].sum()
        outside = melody_w.sum() - inside
        score = inside - 0.7 * outside + 0.5 * prior
        if current_note >= 0:
            score += 1.5 if current_note % 12 in tones else -1.5
        if chord == current:
            score += 0.6  # hysteresis: a band does not change chord on every note
        if score > best_score:
            best, best_score = chord, score
    return best


# -- style patterns --------------------------------------------------------------
# Positions in slots (16ths) of a bar; entries past the rig's meter are dropped.
# (slot, drum note, velocity)
DRUMS = {
    "pop": [(0, KICK, 100), (8, KICK, 90), (10, KICK, 60), (4, SNARE, 95), (12, SNARE, 95)]
    + [(s, CLOSED_HAT, 70 if s % 4 else 85) for s in range(0, 16, 2)],
    "rock": [(0, KICK, 110), (8, KICK, 105), (10, KICK, 90), (4, SNARE, 110), (12, SNARE, 110)]
    + [(s, CLOSED_HAT, 90 if s % 4 else 100) for s in range(0, 16, 2)],
    "swing": [(s, RIDE, 90 if s % 8 == 4 else 80) for s in (0, 4, 8, 12)]
    + [(6, RIDE, 60), (14, RIDE, 60), (4, PEDAL_HAT, 70), (12, PEDAL_HAT, 70)]
    + [(s, KICK, 35) for s in (0, 4, 8, 12)],
    "ballad": [(0, KICK, 80), (10, KICK, 55), (8, SIDESTICK, 70)]
    + [(s, CLOSED_HAT, 45) for s in range(0, 16, 2)],
}
# (slot, duration in beats, velocity)
COMP = {
    "pop": [(0, 1.0, 88), (6, 0.5, 70), (8, 1.0, 84), (14, 0.5, 70)],
    "rock": [(0, 2.0, 90), (8, 2.0, 86)],
    "swing": [(0, 0.4, 80), (6, 0.4, 72), (12, 0.4, 70)],
    "ballad": [(0, 4.0, 70)],
}
PAD = [(0, 4.0, 60)]


def swing_beat(slot: int, swing: float) -> float:
    """Beat position of a slot, with the off-beat 8th delayed by the swing amount."""
    beat, sub = divmod(slot, SLOTS_PER_BEAT)
    if sub == 2 and swing > 0:
        return beat + 0.5 + swing * 0.5
    return slot / SLOTS_PER_BEAT


class RuleAccompanist:
    """Bass on roots and fifths with approach notes, voice-led comping, a drum groove.

    The fallback behind every model: deterministic for a given seed, cheap, always
    there.
    """

    name = "rules"
    #: lead mode: the chord may change only on beats (the rules) or on any eighth (the model)
    change_on_beats_only = True

    def __init__(self, parts: list[PartInfo], seed: int = 0) -> None:
        self.parts = parts
        self.rng = np.random.default_rng(seed)
        self._chord = NO_CHORD
        self._chord_since = 0
        self._voicings = {p.index: np.full(3 if p.role == "comp" else 4, -1, np.int64)
                          for p in parts if p.role in ("comp", "pad")}
        self._bass_prev = -1

    @property
    def chord(self) -> Chord:
        return self._chord

    # -- harmony: chords mode reads the hands, lead mode harmonises the melody --
    def _choose_chord(self, ctx: SlotContext) -> Chord:
        snap = ctx.snapshot
        if snap.chord_zone.any():
            root, qual, _ = chord_recognize(snap.chord_zone, snap.chord_bass)
            if root >= 0:
                bass = snap.chord_bass if snap.chord_bass != root else -1
                return Chord(int(root), int(qual), int(bass))
        if ctx.mode == "chords":
            return self._chord  # chord memory, as on an arranger keyboard
        beats_per_change = max(1, ctx.meter // 2)
        if ctx.slot % (beats_per_change * SLOTS_PER_BEAT) and self._chord.root >= 0:
            return self._chord
        until = snap.last_onset_frame
        melody_w = melody_weights(snap, until, ctx.frames_per_beat * 2)
        return harmonize_rule(melody_w, snap.melody_note, ctx.key, self._chord)

    def decide(self, ctx: SlotContext) -> Decision:
        if ctx.slot < 0:
            return self._count_in(ctx)
        chord = self._choose_chord(ctx)
        on_beat = ctx.slot % SLOTS_PER_BEAT == 0
        if ctx.mode == "chords" and ctx.slot % 2:
            chord = self._chord  # chords are taken on 8ths, not 16ths
        changed = chord != self._chord and chord.root >= 0
        if changed and not on_beat and ctx.mode == "lead" and self.change_on_beats_only:
            chord, changed = self._chord, False
        d = Decision(ctx.slot, chord)
        s = ctx.slot_in_bar
        bar_slots = ctx.meter * SLOTS_PER_BEAT
        base_beat = ctx.slot // bar_slots * ctx.meter
        if changed:
            d.cut_parts = tuple(p.index for p in self.parts if p.role != "drums")
        for part in self.parts:
            if part.role == "drums":
                self._drums(ctx, part, s, base_beat, d)
            elif chord.root < 0:
                continue
            elif part.role == "bass":
                self._bass(ctx, part, chord, s, changed, d)
            else:
                pattern = COMP.get(ctx.style, COMP["pop"]) if part.role == "comp" else PAD
                self._chordal(ctx, part, chord, s, changed, pattern, d)
        return d

    def commit(self, decision: Decision) -> None:
        if decision.chord != self._chord and decision.chord.root >= 0:
            self._chord = decision.chord
            self._chord_since = decision.slot
        for idx, v in decision.voicings.items():
            self._voicings[idx] = v
        if decision.bass_note >= 0:
            self._bass_prev = decision.bass_note

    # -- parts ------------------------------------------------------------------
    def _vel(self, v: int) -> int:
        return int(np.clip(v + self.rng.integers(-4, 5), 1, 127))

    def _count_in(self, ctx: SlotContext) -> Decision:
        d = Decision(ctx.slot, NO_CHORD)
        if ctx.slot % SLOTS_PER_BEAT == 0:
            drums = [p for p in self.parts if p.role == "drums"]
            accent = ctx.slot_in_bar == 0
            for p in drums[:1]:
                d.events.append(NoteEvent(ctx.beat, 0.25, p.index, SIDESTICK, 110 if accent else 80))
        return d

    def _drums(self, ctx: SlotContext, part: PartInfo, s: int, base_beat: int, d: Decision) -> None:
        bar_slots = ctx.meter * SLOTS_PER_BEAT
        for slot, note, vel in DRUMS.get(ctx.style, DRUMS["pop"]):
            if slot != s or slot >= bar_slots:
                continue
            if ctx.meter != 4 and note in (SNARE, SIDESTICK) and slot == 8:
                continue
            beat = base_beat + swing_beat(slot, ctx.swing)
            d.events.append(NoteEvent(beat, 0.2, part.index, note, self._vel(vel)))
        bar = ctx.slot // bar_slots
        if s == 0 and bar % 8 == 0 and ctx.style in ("pop", "rock"):
            d.events.append(NoteEvent(base_beat, 0.2, part.index, CRASH, self._vel(95)))

    def _fit(self, pc: int, part: PartInfo, near: int) -> int:
        """The note of pitch class ``pc`` within the part's range nearest to ``near``."""
        best, dist = -1, 1 << 30
        for n in range(part.low, part.high + 1):
            if n % 12 == pc and abs(n - near) < dist:
                best, dist = n, abs(n - near)
        return best

    def _bass(self, ctx: SlotContext, part: PartInfo, chord: Chord, s: int, changed: bool,
              d: Decision) -> None:
        beat_in_bar, sub = divmod(s, SLOTS_PER_BEAT)
        tones = chord_tones(chord)
        fifth = int(tones[2]) if tones.size > 2 else chord.root
        anchor = self._bass_prev if self._bass_prev >= 0 else (part.low + part.high) // 2 - 5
        plan: list[tuple[int, float, int]] = []  # (pc, duration beats, velocity)
        last_beat = ctx.meter - 1
        if ctx.style == "swing":
            if sub == 0:
                choices = {0: chord.bass_pc, 1: int(tones[1]), 2: fifth}
                pc = choices.get(beat_in_bar % 4)
                if pc is None or beat_in_bar == last_beat:
                    pc = (chord.root + (11 if self.rng.random() < 0.5 else 1)) % 12
                plan.append((pc, 0.9, 92))
        elif ctx.style == "rock":
            if sub in (0, 2):
                plan.append((chord.bass_pc if beat_in_bar < last_beat or sub == 0 else fifth, 0.45, 96))
        elif ctx.style == "ballad":
            if sub == 0 and beat_in_bar == 0:
                plan.append((chord.bass_pc, ctx.meter / 2 - 0.05, 88))
            elif sub == 0 and beat_in_bar == ctx.meter // 2:
                plan.append((fifth, ctx.meter / 2 - 0.05, 80))
        else:  # pop
            if sub == 0 and beat_in_bar == 0:
                plan.append((chord.bass_pc, 1.45, 100))
            elif s == 6:
                plan.append((chord.root, 0.45, 80))
            elif sub == 0 and beat_in_bar == 2:
                plan.append((fifth, 0.95, 92))
            elif sub == 2 and beat_in_bar == last_beat:
                plan.append(((chord.root + 10) % 12, 0.45, 78))  # approach from below
        if changed and not plan:
            plan.append((chord.bass_pc, 0.95, 96))
        for pc, dur, vel in plan:
            note = self._fit(pc, part, anchor)
            if note < 0:
                continue
            d.events.append(NoteEvent(ctx.beat if ctx.swing == 0 else
                                      (ctx.slot // SLOTS_PER_BEAT) + swing_beat(s % SLOTS_PER_BEAT, ctx.swing),
                                      dur, part.index, note, self._vel(vel)))
            d.bass_note = note

    def _chordal(self, ctx: SlotContext, part: PartInfo, chord: Chord, s: int, changed: bool,
                 pattern: list[tuple[int, float, int]], d: Decision) -> None:
        bar_slots = ctx.meter * SLOTS_PER_BEAT
        hits = [(dur, vel) for slot, dur, vel in pattern if slot == s and slot < bar_slots]
        if not hits and changed:
            hits = [(1.0 if part.role == "comp" else ctx.meter - s / SLOTS_PER_BEAT, 80)]
        if not hits:
            return
        prev = self._voicings[part.index]
        out = np.empty_like(prev)
        voice_chord(chord.root, chord.quality, prev, part.low, part.high, out)
        d.voicings[part.index] = out
        beat = (ctx.slot // SLOTS_PER_BEAT) + swing_beat(s % SLOTS_PER_BEAT, ctx.swing)
        for dur, vel in hits:
            dur = min(dur, ctx.meter - s / SLOTS_PER_BEAT)
            for note in out:
                if note >= 0:
                    d.events.append(NoteEvent(beat, dur * 0.95, part.index, int(note), self._vel(vel)))
