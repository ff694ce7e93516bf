"""Duet mode: call and response. The musician plays a phrase; when it ends, Sideman's
lead voice answers it (the model continues it on its rhythm, or a rule variation of
it), then yields; the band keeps time throughout.

The musical rules are pure functions on plain values, so they are tested on their own:

- :func:`phrase_end`: has the musician's phrase ended? Not a fixed silence: a rest of
  at least a beat, or a long note, that lands near a bar line or after a cadence-like
  note (a tone of the chord under it, or the key's tonic), closing a phrase of at least
  a bar. A rest of a whole bar always ends one.
- :func:`answer_start`: the beat the answer starts on: the next beat, or the next
  downbeat when that is at most a beat away.
- :func:`vary`: the answer's plan: the phrase's last bars (as many as the phrase has,
  at most four), its rhythm kept or varied (notes merged or split), its contour kept or
  inverted, transposed to the chord under the answer; seeded, so reproducible.
- :func:`model_plan`: the same rhythm, its pitches continued by the accompanist model's
  melody head from the phrase it heard (live/melodist.py), where the model is loaded;
  the rule variation's pitches where it is not (or where it fails: counted, never raised).
- :func:`fit_pitch`, :func:`answer_notes`: each note of the plan made a real pitch
  against the chord it sounds over: a chord tone on strong beats (and for the last
  note), a note of the chord's scale between.

:class:`DuetAccompanist` is the decision logic the planner runs. It wraps the band's
own accompanist (rules, model, or a chart's) and adds the lead part's notes to each
slot's decision, a slot at a time like the other parts, each pitch fitted to the chord
the band plays in that slot. When the musician plays again while it answers, the slot
that hears it cuts the lead part: notes not yet sounding are withdrawn, sounding ones
end there: at the next 16th note committed, 30-160 ms later at 120 bpm, well within a beat.

Threading model: planner thread only (``decide``/``commit``, like every accompanist);
the pure functions may run anywhere. Nothing here runs on the audio clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Collection, Sequence

import numpy as np

from live.accompanist import (NO_CHORD, SLOTS_PER_BEAT, WALK_SCALES, Accompanist, Chord, Decision, PartInfo,
                              SlotContext, chord_tones, swing_beat)
from live.events import NoteEvent
from live.model import beat_steps

MIN_REST = 1.0  # beats of silence that may end a phrase
LONG_NOTE = 2.0  # beats: a note this long may end a phrase
NEAR_BAR = 1.0  # beats: a phrase end this close to a bar line lands "near" it
MAX_BARS = 4  # the longest answer
#: An answer written by the model that takes longer than this (p99 7 ms for the longest on
#: the 2-core VM) hands the answers to the rule variation: half the planner's 30 ms budget
ANSWER_BUDGET_NS = 15_000_000
MAJOR_SCALE = np.array((0, 2, 4, 5, 7, 9, 11), np.int64)
MINOR_SCALE = np.array((0, 2, 3, 5, 7, 8, 10), np.int64)


@dataclass(frozen=True, slots=True)
class Note:
    """A note the musician played, in beats of the band's transport."""

    onset: float
    end: float  # math.inf while it sounds
    pitch: int
    velocity: int = 90


@dataclass(frozen=True, slots=True)
class Phrase:
    """A phrase that has ended."""

    notes: tuple[Note, ...]
    start: float  # its first onset
    length: float  # beats, from the first onset to the end of the last note (at least a beat of it)
    bars: int  # how many bars the answer lasts: the phrase's, 1..MAX_BARS
    heard: float  # the beat at which its end was heard
    reason: str  # "rest", "long note" or "long rest"


@dataclass(frozen=True, slots=True)
class AnswerPlan:
    """What the lead voice will play: a rhythm and the pitches it aims at (each fitted to
    the chord under it when it is played)."""

    onsets: tuple[float, ...]  # beats from the answer's start, on the 16th grid
    durations: tuple[float, ...]
    velocities: tuple[int, ...]
    targets: tuple[int, ...]  # the pitch each note aims at
    bars: int
    contour: str  # "kept" or "inverted"; "model" where the model wrote the pitches
    rhythm: str  # "kept", "merged" or "split"

    @property
    def length(self) -> float:
        """Beats from the answer's start to the end of its last note."""
        return max(o + d for o, d in zip(self.onsets, self.durations, strict=True)) if self.onsets else 0.0


# --- phrase analysis ---------------------------------------------------------------


def strong_beat(beat: float, meter: int) -> bool:
    """Whether ``beat`` (beats since a bar line, or since the band's first) is a strong
    beat: the downbeat, and the middle beat of an even bar (beat 3 in 4/4)."""
    b = beat % meter
    if abs(b - round(b)) > 1e-6:
        return False
    b = int(round(b)) % meter
    return b == 0 or (meter % 2 == 0 and b == meter // 2)


def _bar_distance(beat: float, meter: int) -> float:
    b = beat % meter
    return min(b, meter - b)


def phrase_end(notes: Sequence[Note], now: float, meter: int,
               chord_pcs: Callable[[float], Collection[int]] = lambda _beat: (), tonic: int = -1,
               min_rest: float = MIN_REST, long_note: float = LONG_NOTE) -> Phrase | None:
    """The musician's phrase, if it has ended by beat ``now``; else None.

    ``notes``: the melody since the last answer, in onset order. The phrase is the notes
    after the last silence of a bar or more. It has ended when (a) nothing sounds and it
    has been quiet for ``min_rest`` beats, or its last note has lasted ``long_note``
    beats; and that end lands within a beat of a bar line or follows a cadence-like
    note (a tone of ``chord_pcs(onset)``, the chord under the last note, or the
    ``tonic``); or (b) it has been quiet for a whole bar. Either way the phrase must be
    at least a bar long (less half a beat), counting its last note as a beat at least.
    """
    notes = [n for n in notes if n.onset <= now]
    if not notes:
        return None
    first, reach = 0, -math.inf
    for i, n in enumerate(notes):
        if i and n.onset - reach >= meter:
            first = i  # a bar of silence: what came before is another phrase
        reach = max(reach, n.end)
    phrase = notes[first:]
    last = phrase[-1]
    reach = max(n.end for n in phrase)
    sounding = reach > now
    held = min(last.end, now) - last.onset
    rest = now - reach if not sounding else 0.0
    by_rest = not sounding and rest >= min_rest - 1e-9
    by_long = held >= long_note - 1e-9
    if not (by_rest or by_long):
        return None
    length = last.onset - phrase[0].onset + max(1.0, min(held, long_note))
    if length < meter - 0.5:
        return None
    ended_at = reach if by_rest else last.onset + long_note
    near = min(_bar_distance(last.onset, meter), _bar_distance(ended_at, meter)) <= NEAR_BAR + 1e-9
    cadence = last.pitch % 12 in chord_pcs(last.onset) or last.pitch % 12 == tonic
    long_rest = not sounding and rest >= meter - 1e-9
    if not ((near or cadence) or long_rest):
        return None
    reason = "long rest" if long_rest and not (near or cadence) else "rest" if by_rest else "long note"
    bars = int(min(MAX_BARS, max(1, round(length / meter))))
    return Phrase(tuple(phrase), phrase[0].onset, length, bars, now, reason)


def answer_start(heard: float, meter: int) -> float:
    """The beat an answer starts on: the first beat at or after ``heard``, or the next
    downbeat when that is at most a beat later."""
    beat = math.ceil(heard - 1e-9)
    downbeat = math.ceil(beat / meter) * meter
    return float(downbeat if downbeat - beat <= 1 else beat)


# --- the variation --------------------------------------------------------------------


def _grid(x: float, swing: float) -> float:
    """A time in beats onto the 16th grid; with swing, onto the swung 8ths."""
    if swing <= 0:
        return round(x * SLOTS_PER_BEAT) / SLOTS_PER_BEAT
    beat, frac = divmod(x, 1.0)
    late = 0.5 + swing * 0.5
    options = (0.0, late, 1.0)
    pick = min(options, key=lambda o: abs(frac - o))
    return beat + (0.5 if pick == late else pick)


def _top_line(notes: list[Note], swing: float) -> list[Note]:
    """The melody's top line: of notes that land on the same grid point, the highest."""
    out: list[Note] = []
    for n in notes:
        if out and _grid(n.onset, swing) == _grid(out[-1].onset, swing):
            if n.pitch > out[-1].pitch:
                out[-1] = n
            continue
        out.append(n)
    return out


def vary(phrase: Phrase, meter: int, seed: int, *, transpose: int = 0, swing: float = 0.0) -> AnswerPlan:
    """The answer to ``phrase``: its last ``phrase.bars`` bars with the rhythm kept (or
    neighbouring short notes merged, or long notes split in two with a neighbour tone)
    and the contour kept (or inverted), aiming ``transpose`` semitones from where the
    phrase went. Seeded: the same phrase and seed give the same answer.
    """
    rng = np.random.default_rng(seed)
    span = phrase.bars * meter
    # a phrase longer than the answer: answer its last bars (its last note counts as a beat)
    cut = max(0.0, math.floor(phrase.notes[-1].onset - phrase.start + 1.0 - span))
    notes = _top_line([n for n in phrase.notes if n.onset - phrase.start >= cut - 1e-9], swing)
    t0 = phrase.start + cut
    offset = _grid(t0, swing) % 1.0  # an answer to a phrase that starts off the beat starts off it too
    on = [_grid(n.onset - t0, swing) + offset for n in notes]
    dur = []
    for i, n in enumerate(notes):
        nxt = on[i + 1] if i + 1 < len(notes) else span
        played = _grid(min(n.end, phrase.heard) - n.onset, 0.0) if math.isfinite(n.end) else LONG_NOTE
        dur.append(max(0.25, min(nxt - on[i], played if played > 0 else 0.25, LONG_NOTE * 2)))
    vel = [int(np.clip(n.velocity * 0.9, 30, 120)) for n in notes]
    contour = "inverted" if rng.random() < 0.5 else "kept"
    sign = -1 if contour == "inverted" else 1
    base = notes[0].pitch
    targets = [base + transpose + sign * (n.pitch - base) for n in notes]
    choice = rng.random()
    rhythm = "kept"
    if choice < 0.25 and len(notes) >= 4 and any(d <= 0.5 for d in dur):
        rhythm = "merged"
        keep = [True] * len(notes)
        i = 0
        while i + 1 < len(notes):
            if dur[i] <= 0.5 and dur[i + 1] <= 0.5 and on[i + 1] - on[i] <= 0.5 + 1e-9:
                keep[i + 1] = False  # two quick notes become one, twice as long
                dur[i] = dur[i] + dur[i + 1]
                i += 2
            else:
                i += 1
        on, dur, vel, targets = ([x for x, k in zip(v, keep, strict=True) if k] for v in (on, dur, vel, targets))
    elif choice < 0.5 and any(d >= 1.0 for d in dur):
        rhythm = "split"
        o2, d2, v2, t2 = [], [], [], []
        for o, d, v, t in zip(on, dur, vel, targets, strict=True):
            if d >= 1.0:
                half = _grid(d / 2, 0.0)
                step = 2 if rng.random() < 0.5 else -2
                o2 += [o, o + half]
                d2 += [half, d - half]
                v2 += [v, max(30, v - 8)]
                t2 += [t, t + step]  # a neighbour tone on the second half
            else:
                o2.append(o)
                d2.append(d)
                v2.append(v)
                t2.append(t)
        on, dur, vel, targets = o2, d2, v2, t2
    keep = [i for i, o in enumerate(on) if o < span - 1e-9]
    on = [on[i] for i in keep]
    dur = [min(dur[i], span - on[i]) for i in keep]
    return AnswerPlan(tuple(on), tuple(dur), tuple(vel[i] for i in keep), tuple(targets[i] for i in keep),
                      phrase.bars, contour, rhythm)


def heard_steps(phrase: Phrase, upto: float, meter: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The phrase as the model hears it: (pitch class, onset flag) per eighth note from
    the bar line at or before its first onset up to beat ``upto``, and the first step's
    place in the bar (eighths), as ``live.model.step_melody`` reads the listener: the top
    note sounding at the step's start, else the first beginning in it."""
    b0 = math.floor(phrase.start / meter + 1e-9) * meter
    n = max(0, int(round((upto - b0) * 2)))
    # a note still sounding when the phrase's end was heard is heard up to there
    pc, on = beat_steps([(x.onset, min(x.end, phrase.heard), x.pitch) for x in phrase.notes], b0, n)
    return pc, on, int(round((b0 % meter) * 2))


def plan_rhythm(plan: AnswerPlan) -> np.ndarray:
    """Per eighth-note step of the answer: ONSET where a note begins, HOLD where one
    sounds on, REST elsewhere (live.melodist's step kinds)."""
    from live.melodist import HOLD, ONSET, REST

    n = int(math.ceil(plan.length * 2 - 1e-9))
    out = np.full(n, REST, np.int64)
    for o, d in zip(plan.onsets, plan.durations, strict=True):
        k = int(math.floor(o * 2 + 1e-9))
        if k < n:
            out[k] = ONSET
        for j in range(k + 1, min(n, int(math.ceil((o + d) * 2 - 1e-9)))):
            if out[j] == REST:
                out[j] = HOLD
    return out


def model_plan(plan: AnswerPlan, phrase: Phrase, start: float, meter: int, melodist,
               key: tuple[int, int] = (-1, 0)) -> AnswerPlan:
    """``plan``'s rhythm, with the pitches the model continues the phrase with.

    The model hears the phrase (and the rest before ``start``), then writes a pitch class
    for each eighth-note step of the answer that begins a note; each is placed nearest the
    previous note, within a fifth of the phrase's own range. A second note inside the
    same eighth keeps the rule plan's step from the note before it.
    """
    from live.melodist import nearest_pitch

    pc, on, pos0 = heard_steps(phrase, start, meter)
    rhythm = plan_rhythm(plan)
    pcs = melodist.continue_steps(pc, on, pos0, meter * 2, rhythm, key if key[0] >= 0 else None)
    pitches = [x.pitch for x in phrase.notes]
    low, high = min(pitches) - 7, max(pitches) + 7
    prev = phrase.notes[-1].pitch
    targets: list[int] = []
    last_step = -1
    for i, o in enumerate(plan.onsets):
        k = int(math.floor(o * 2 + 1e-9))
        if k != last_step and k < len(pcs) and pcs[k] >= 0:
            t = nearest_pitch(int(pcs[k]), prev, low, high)
        elif targets:
            t = targets[-1] + (plan.targets[i] - plan.targets[i - 1])
        else:
            t = plan.targets[i]
        targets.append(t)
        prev, last_step = t, k
    return replace(plan, targets=tuple(targets), contour="model")


def scale_of(chord: Chord, key: tuple[int, int] = (-1, 0)) -> np.ndarray:
    """Pitch classes a passing note may take: the chord's scale, else the key's, else all."""
    if chord.root >= 0:
        return (WALK_SCALES[chord.quality] + chord.root) % 12
    if key[0] >= 0:
        return ((MINOR_SCALE if key[1] else MAJOR_SCALE) + key[0]) % 12
    return np.arange(12)


def fit_pitch(target: int, chord: Chord, strong: bool, low: int, high: int, prev: int = -1,
              key: tuple[int, int] = (-1, 0)) -> int:
    """The note the lead plays for ``target``: inside ``low..high`` (by octaves), a
    tone of ``chord`` on a strong beat, else a note of its scale; the nearest such note,
    ties going to the one nearer the previous note."""
    while target < low:
        target += 12
    while target > high:
        target -= 12
    pcs = chord_tones(chord) if strong and chord.root >= 0 else scale_of(chord, key)
    allowed = set(int(p) for p in pcs)
    near = prev if prev >= 0 else target
    best = None
    for n in range(low, high + 1):
        if n % 12 in allowed:
            score = (abs(n - target), abs(n - near))
            if best is None or score < best[0]:
                best = (score, n)
    return best[1] if best is not None else target


def answer_notes(plan: AnswerPlan, start: float, chord_at: Callable[[float], Chord], meter: int,
                 low: int, high: int, key: tuple[int, int] = (-1, 0)) -> list[tuple[float, float, int, int]]:
    """The whole answer as (beat, duration, pitch, velocity), each pitch fitted to
    ``chord_at(beat)``: what :class:`DuetAccompanist` plays a slot at a time."""
    out: list[tuple[float, float, int, int]] = []
    prev = -1
    last = len(plan.onsets) - 1
    for i, (o, d, v, t) in enumerate(zip(plan.onsets, plan.durations, plan.velocities, plan.targets, strict=True)):
        beat = start + o
        pitch = fit_pitch(t, chord_at(beat), strong_beat(beat, meter) or i == last, low, high, prev, key)
        out.append((beat, d, pitch, v))
        prev = pitch
    return out


def transposition(from_root: int, to_root: int) -> int:
    """Semitones from one chord root to another, the short way (-5..6); 0 if either is unknown."""
    if from_root < 0 or to_root < 0:
        return 0
    return (to_root - from_root + 5) % 12 - 5


# --- the accompanist --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DuetState:
    """Where the duet is: listening (no plan) or answering."""

    listen_from: float = -math.inf  # the musician's notes from this beat on make the next phrase
    plan: AnswerPlan | None = None
    start: float = 0.0  # the answer's first beat
    armed: float = 0.0  # a melody onset after this beat cuts the answer short
    index: int = 0  # the next note of the plan to play
    prev: int = -1  # the pitch the lead played last
    answers: int = 0  # answers so far (each one's seed)


@dataclass(slots=True)
class _Extra:
    inner: object  # the wrapped accompanist's own extra
    state: DuetState
    event: tuple | None = None  # ("answer", start, plan) or ("cut", beat): for the log


@dataclass
class DuetLog:
    """What the duet did, for the stage and for tests (planner thread writes)."""

    answers: list[tuple[float, int, str, str]] = field(default_factory=list)  # (start beat, bars, contour, rhythm)
    cuts: list[float] = field(default_factory=list)  # beats at which the musician cut in


class DuetAccompanist:
    """The band's accompanist, plus a lead voice that answers the musician's phrases.

    ``inner`` plays the band (it decides every slot, unchanged); this adds the lead
    part's notes. ``melodist`` (live.melodist.Melodist): the model writes the answers'
    pitches; None, or a failure of the model (counted in ``model_errors``), leaves the
    rule variation's. Thread: planner only.
    """

    name = "duet"

    def __init__(self, parts: list[PartInfo], inner: Accompanist, seed: int = 0, melodist=None) -> None:
        self.parts = parts
        self.inner = inner
        self.name = f"duet ({inner.name})"
        leads = [p for p in parts if p.role == "lead"]
        self.lead = leads[0] if leads else None
        self.seed = seed
        self.state = DuetState()
        self.log = DuetLog()
        self._done = -(1 << 62)  # the last slot committed
        self._harmony: list[tuple[float, Chord]] = []  # (beat, chord) at each committed change
        self.melodist = melodist
        self.model_errors = 0

    @property
    def chord(self) -> Chord:
        return self.inner.chord

    @property
    def hears_late(self) -> bool:
        """The band corrects a chord for a melody note heard just after its step was final
        where the inner band does (live.planner; the lead's notes are not struck again)."""
        return bool(getattr(self.inner, "hears_late", False))

    def _pcs_at(self, beat: float) -> tuple[int, ...]:
        chord = NO_CHORD
        for b, c in self._harmony:
            if b <= beat + 1e-9:
                chord = c
        return tuple(int(p) for p in chord_tones(chord)) if chord.root >= 0 else ()

    def _melody(self, ctx: SlotContext) -> list[Note]:
        snap = ctx.snapshot
        on = snap.onsets
        if on.shape[0] == 0:
            return []
        fpb = ctx.frames_per_beat
        offs = snap.offs
        out = []
        for i in range(on.shape[0]):
            frame, note, vel = int(on[i, 0]), int(on[i, 1]), int(on[i, 2])
            if note < snap.melody_min:
                continue
            end = math.inf if offs is None or offs[i] < 0 else ctx.beat + (int(offs[i]) - ctx.frame) / fpb
            out.append(Note(ctx.beat + (frame - ctx.frame) / fpb, end, note, vel))
        return out

    def decide(self, ctx: SlotContext) -> Decision:
        d = self.inner.decide(ctx)
        if ctx.again:  # a slot already final decided again: the planner strikes the band's harmony only
            return d
        st = self.state
        event = None
        if self.lead is not None and ctx.slot >= 0:
            if st.plan is not None:
                cut = next((n.onset for n in self._melody(ctx) if n.onset > st.armed + 1e-6), None)
                if cut is not None:  # the musician cuts in: yield now
                    d.cut_parts = tuple(sorted(set(d.cut_parts) | {self.lead.index}))
                    st, event = DuetState(listen_from=cut - 1e-6, answers=st.answers), ("cut", cut)
                else:
                    st = self._play(ctx, st, d)
            elif ctx.slot % SLOTS_PER_BEAT == 0:
                notes = [n for n in self._melody(ctx) if n.onset >= st.listen_from]
                phrase = phrase_end(notes, ctx.beat, ctx.meter, self._pcs_at, ctx.key[0]) if notes else None
                if phrase is not None:
                    start = answer_start(ctx.beat, ctx.meter)
                    roots = self._pcs_at(phrase.start)
                    shift = transposition(roots[0] if roots else -1, d.chord.root)
                    seed = self.seed * 7919 + st.answers
                    plan = vary(phrase, ctx.meter, seed, transpose=shift, swing=ctx.swing)
                    if self.melodist is not None:
                        t0 = time.perf_counter_ns()
                        try:  # the same seed each time this slot is decided again: the same answer
                            self.melodist.reseed(seed)
                            plan = model_plan(plan, phrase, start, ctx.meter, self.melodist, ctx.key)
                        except Exception:  # degrade, don't die: the rule variation answers
                            self.model_errors += 1
                        if time.perf_counter_ns() - t0 > ANSWER_BUDGET_NS:
                            # a machine this busy would soon make the band late (the planner's
                            # budget is the 30 ms horizon): rule variations answer from now on
                            self.melodist = None
                            self.model_errors += 1
                            d.say = "duet: the model took too long to answer; answers are rule variations from now on"
                    st = DuetState(listen_from=start, plan=plan, start=start, armed=phrase.notes[-1].onset,
                                   answers=st.answers + 1)
                    event = ("answer", start, plan)
                    st = self._play(ctx, st, d)
        d.extra = _Extra(d.extra, st, event)
        return d

    def _play(self, ctx: SlotContext, st: DuetState, d: Decision) -> DuetState:
        """The plan's notes that start in this slot, fitted to the slot's chord."""
        plan, lead = st.plan, self.lead
        i, prev = st.index, st.prev
        last = len(plan.onsets) - 1
        slot_end = ctx.beat + 1.0 / SLOTS_PER_BEAT - 1e-9
        while i <= last and st.start + plan.onsets[i] < slot_end:
            beat = st.start + plan.onsets[i]
            if beat >= ctx.beat - 1e-9:
                strong = strong_beat(beat, ctx.meter) or i == last
                pitch = fit_pitch(plan.targets[i], d.chord, strong, lead.low, lead.high, prev, ctx.key)
                at = swing_beat(int(round(beat * SLOTS_PER_BEAT)), ctx.swing)
                d.events.append(NoteEvent(at, plan.durations[i] * 0.95, lead.index, pitch, plan.velocities[i]))
                prev = pitch
            i += 1
        end = st.start + plan.length
        if i > last and ctx.beat + 1.0 / SLOTS_PER_BEAT >= end - 1e-9:
            return DuetState(listen_from=st.armed + 1e-6, answers=st.answers)  # done: listen again
        return replace(st, index=i, prev=prev)

    def commit(self, decision: Decision) -> None:
        ex = decision.extra
        if isinstance(ex, _Extra):
            decision.extra = ex.inner
            if decision.slot > self._done:  # not a late correction of a slot already final
                self._done = decision.slot
                self.state = ex.state
                if ex.event is not None and ex.event[0] == "answer":
                    plan = ex.event[2]
                    self.log.answers.append((ex.event[1], plan.bars, plan.contour, plan.rhythm))
                elif ex.event is not None:
                    self.log.cuts.append(ex.event[1])
                chord = decision.chord
                if chord.root >= 0 and (not self._harmony or self._harmony[-1][1] != chord):
                    self._harmony.append((decision.slot / SLOTS_PER_BEAT, chord))
                    del self._harmony[:-64]
        self.inner.commit(decision)
