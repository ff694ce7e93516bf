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

from kernels import QUALITIES, bass_note, chord_pitch_classes, chord_recognize, keyboard_weights, single_finger_chord
from kernels.bass import APPROACH as BASS_APPROACH
from kernels.bass import DEGREE_CODES
from kernels.bass import SCALE_APPROACH as BASS_SCALE_APPROACH
from kernels.bass import WALK as BASS_WALK
from kernels.bass import WALK_SCALES as BASS_SCALES
from kernels.draws import stream_uniforms
from kernels.groove import hit_probability
from kernels.voicing import CLOSE, KIND_VOICES, SATB_HIGHS, SATB_LOWS, voice_kind, voice_satb
from live.events import NoteEvent
from live.listener import Snapshot
from live.styles import VOICINGS, BassHit, ChordHit, Section, Style, active_style

SLOTS_PER_BEAT = 4
#: modes in which the musician's melody leads and the band harmonises it
MELODY_MODES = ("lead", "duet")
#: the parts that play the chord (re-struck when it changes); drums keep time, the
#: duet's lead voice answers the musician
HARMONY_ROLES = ("bass", "comp", "pad")
Q = {name: i for i, name in enumerate(QUALITIES)}

# General MIDI drum notes the band plays itself (a style's own drums come from its file).
SIDESTICK, CRASH = 37, 49
#: voicings kept per part and kind, indexed by slot: a decision's voicing must stay
#: untouched from its ``decide`` to its ``commit``, and the planner decides at most the
#: commit horizon plus a beat ahead (a few slots), far fewer than this
VOICING_POOL = 128
DRAW_BLOCK = 32  # uniform draws computed at once (RuleAccompanist._u; more than a slot's part takes)
KIND_ID = {name: i for i, name in enumerate(VOICINGS)}  # Decision.voicings key: part * 8 + kind
SATB = KIND_ID["satb"]
ALL_VOICES = tuple(tuple(range(1, n + 1)) for n in range(9))  # a hit without ``voices``


def voices_for(kind: str, role: str) -> int:
    """How many voices a part of ``role`` plays in a voicing ``kind``: close and open
    play three in the comp, four in the pad; drop-2 and SATB four, shell three, rootless
    two (kernels.voicing)."""
    if kind == "satb":
        return 4
    comp, pad = KIND_VOICES[kind]
    return pad if role == "pad" else comp


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
    role: str  # bass | comp | pad | drums | lead
    low: int
    high: int


@dataclass(slots=True)
class SlotContext:
    """What an accompanist knows when it decides a slot. Made by the planner for one
    ``decide`` and never changed after; not frozen, since a frozen dataclass's ``__init__``
    sets each of its 17 fields through ``object.__setattr__`` (1.85 against 0.5 us, once a
    slot on the planner thread; 2026-12-07, Intel VM)."""

    slot: int  # 16th-note index since the band came in (negative during a count-in)
    meter: int  # beats per bar
    style: str
    swing: float
    mode: str  # lead | chords | chart | duet
    snapshot: Snapshot
    key: tuple[int, int]  # (tonic pc, 0 major / 1 minor), (-1, 0) if unknown
    frames_per_beat: float
    frame: int = 0  # where the slot starts, in audio frames
    section: str = "main_a"  # the style's section in force (live.styles.Arrangement)
    section_bar: int = 0  # bar within that section
    prev_section: str = ""  # the section of the bar before, e.g. "fill"
    sr: int = 48000  # audio frames per second, for timing in ms
    chord_detect: str = "fingered"  # how the chord zone is read (live.rigschema.CHORD_DETECT)
    #: -1..1, 0 = the style as written: how adventurous the band is (the rig's and the control's
    #: 0..127 with 64 in the middle, see ``level``) and how hard and busy it plays
    adventure: float = 0.0
    energy: float = 0.0
    #: the slot is final already and the planner asks again (a correction: the musician's
    #: chord or a melody note heard just after it began); a model does not step again
    again: bool = False

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
    #: part * 8 + voicing kind -> the voicing this decision gives that part's kind
    voicings: dict[int, np.ndarray] = field(default_factory=dict)
    bass_note: int = -1
    extra: object = None  # an accompanist's own state for commit (e.g. the model's)
    say: str = ""  # a line for the musician; the planner says it once


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


def level(value: int) -> float:
    """A control's 0..127 as -1..1, with 64 (the middle, as written) at exactly 0."""
    return (value - 64) / 63.0 if value >= 64 else (value - 64) / 64.0


def density_prob(p: float, density: float) -> float:
    """A written hit's probability at a groove density (``kernels.groove.hit_probability``,
    the studio's groove rule): 0.5 plays the grid as written, towards 0 hits drop out,
    towards 1 they all play."""
    return hit_probability(p, 0.0, density)


def chance(seed: int, a: int, b: int) -> float:
    """A repeatable draw in [0, 1) for (a, b): the same seed gives the same band."""
    h = (a * 73856093) ^ (b * 19349663) ^ ((seed + 1) * 83492791)
    return (h & 0xFFFFF) / float(0x100000)


#: adventurousness: the richer chord the comp and pad play for a triad, and the plainer
#: one for a seventh chord below the middle (kernels.QUALITIES indexes)
EXTEND = {0: 7, 1: 8, 11: 7, 12: 8}  # maj -> maj7 (the key's V: 7), min -> m7, 6 -> maj7, m6 -> m7
DOMINANT = 6
PLAIN = {7: 0, 8: 1, 11: 0, 12: 1, 9: 2}  # maj7 -> maj, m7 -> min, 6 -> maj, m6 -> min, m7b5 -> dim
TIMEKEEPERS = (42, 51, 44, 59, 46, 54, 70, 69)  # hats, rides, shakers: what energy adds more of
ACCENT = 90  # drum hits this loud or louder play at any energy


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


# -- playing a style ---------------------------------------------------------------
# The patterns live in style files (live/styles.py, docs/styles.md); this is the band
# that reads them.

DRUM_LEN = 0.2  # beats: drums are one-shots, the note-off only closes the MIDI note
CRASH_VEL = 95
# The scale a walking line passes through, by quality (kernels.bass; live.duet's lead uses it too).
WALK_SCALES = tuple(row[row >= 0] for row in BASS_SCALES)
#: a bass part re-struck on a chord change where its pattern has no note: the slash bass
RESTRIKE_BASS = (BassHit("bass", 0, 0.95, 96),)
AIMED = (BASS_APPROACH, BASS_SCALE_APPROACH, BASS_WALK)  # degrees that aim at the next chord
DRAWN = AIMED  # degrees that take a random draw (which side, which way)


def swing_beat(slot: int, swing: float) -> float:
    """Beat position of a slot, with the off-beat 8th delayed by the swing amount."""
    beat, sub = divmod(slot, SLOTS_PER_BEAT)
    if sub == 2 and swing > 0:
        return beat + 0.5 + swing * 0.5
    return slot / SLOTS_PER_BEAT


class RuleAccompanist:
    """Plays the rig's style: drum grids, bass degrees, voice-led comping and pads.

    The fallback behind every model: deterministic for a given seed, cheap, always
    there. The chord comes from ``_choose_chord`` (the musician's hands, or a melody
    harmonised by rule; subclasses choose otherwise), the notes from the style's
    section in force (``ctx.section``), looked up by step.
    """

    name = "rules"
    #: lead mode: the chord may change only on beats (the rules) or on any eighth (the model)
    change_on_beats_only = True

    def __init__(self, parts: list[PartInfo], seed: int = 0) -> None:
        self.parts = parts
        # the parts' uniform draws (velocity and timing jitter, hit probabilities, drawn bass
        # degrees) come from a stream keyed by (seed, slot, part) (kernels.draws), a block
        # of it computed into this array in place: deciding a slot again (the planner
        # revises what it planned when the musician plays) draws the same numbers, so a
        # take's humanising does not depend on how often a slot was decided, and one part's
        # chord change does not shift another part's draws
        self._ublock = np.zeros(DRAW_BLOCK)
        self._ulist: list[float] = []  # the block as Python floats (a list index, not a numpy scalar)
        self._ui = DRAW_BLOCK
        self._stream_at = (0, -1)  # (slot, part) of the stream being drawn
        self._ublocks = 0  # blocks of that stream computed so far
        self._chord = NO_CHORD
        self._chord_since = 0
        # For each comp/pad part and voicing kind: the last committed voicing and a pool
        # of out= arrays for the kernels (allocated here: deciding allocates no arrays).
        self._voicings: dict[int, np.ndarray] = {}
        self._pools: dict[int, np.ndarray] = {}
        for p in parts:
            if p.role in ("comp", "pad"):
                for kind, k in KIND_ID.items():
                    n = voices_for(kind, p.role)
                    self._voicings[p.index * 8 + k] = np.full(n, -1, np.int64)
                    self._pools[p.index * 8 + k] = np.full((VOICING_POOL, n), -1, np.int64)
        self._bass_prev = -1
        self.seed = seed
        self._weights = np.zeros(12)  # scratch for the full-keyboard chord (planner thread)
        self._keepers: dict[int, tuple[int, int]] = {}  # id(section) -> (timekeeper note, velocity)
        self._vel_scale = 1.0  # energy: set by decide for the slot

    @property
    def chord(self) -> Chord:
        return self._chord

    def _hands_chord(self, ctx: SlotContext) -> Chord:
        """The chord the musician's hands hold in the chord zone, read as the rig says
        (fingered, single_finger, full: kernels.chorddetect); NO_CHORD when none is held."""
        snap = ctx.snapshot
        if not snap.hands:
            return NO_CHORD
        held = getattr(snap, "sounding", None)
        detect = ctx.chord_detect
        if detect == "single_finger" and held is not None:
            root, qual = single_finger_chord(held, 0, snap.melody_min)
            return Chord(int(root), int(qual)) if root >= 0 else NO_CHORD
        if detect == "full" and held is not None and ctx.mode == "chords":
            bass = keyboard_weights(held, 0, snap.melody_min, self._weights)
            root, qual, _ = chord_recognize(self._weights, bass)
        else:
            root, qual, _ = chord_recognize(snap.chord_zone, snap.chord_bass)
            bass = snap.chord_bass
        if root < 0:
            return NO_CHORD
        return Chord(int(root), int(qual), int(bass) if bass != root else -1)

    # -- harmony: chords mode reads the hands, lead mode harmonises the melody --
    def _choose_chord(self, ctx: SlotContext) -> Chord:
        snap = ctx.snapshot
        hands = self._hands_chord(ctx)
        if hands.root >= 0:
            return hands
        if ctx.mode == "chords":
            return self._chord  # chord memory, as on an arranger keyboard
        beats_per_change = max(1, ctx.meter // 2)
        if ctx.slot % (beats_per_change * SLOTS_PER_BEAT) and self._chord.root >= 0:
            return self._chord
        until = snap.last_onset_frame
        melody_w = melody_weights(snap, until, ctx.frames_per_beat * 2)
        return harmonize_rule(melody_w, snap.melody_note, ctx.key, self._chord)

    def _upcoming(self, ctx: SlotContext) -> Chord | None:
        """The chord due on the next beat, where the band can know it (a chart); else None.

        Approach notes and walking lines aim at it. Played live, the next chord is
        only known when the musician plays it, so they aim at the chord in force.
        """
        return None

    def decide(self, ctx: SlotContext) -> Decision:
        if ctx.slot < 0:
            return self._count_in(ctx)
        style = active_style(ctx.style)
        self._vel_scale = 1.0 + 0.35 * ctx.energy
        chord = self._choose_chord(ctx)
        on_beat = ctx.slot % SLOTS_PER_BEAT == 0
        if ctx.mode == "chords" and ctx.slot % 2:
            chord = self._chord  # chords are taken on 8ths, not 16ths
        changed = chord is not self._chord and chord != self._chord and chord.root >= 0
        if changed and not on_beat and ctx.mode in MELODY_MODES and self.change_on_beats_only:
            chord, changed = self._chord, False
        d = Decision(ctx.slot, chord)
        s = ctx.slot_in_bar
        bar_slots = ctx.meter * SLOTS_PER_BEAT
        base_beat = ctx.slot // bar_slots * ctx.meter
        if changed:
            d.cut_parts = tuple(p.index for p in self.parts if p.role in HARMONY_ROLES)
        section = style.section(ctx.section)
        if section is None and ctx.section != "end":  # a style switched to that lacks the section
            section = style.section("main_a")
        if section is None:  # after the ending: the band is done
            return d
        # A bar of another meter than the style's: cut the pattern short, or start it
        # again from its first beat when the bar is longer.
        spb = style.steps_per_bar
        step = (ctx.section_bar % section.bars) * spb + s % spb
        for part in self.parts:
            role = part.role
            if role == "lead":  # the duet's voice: live.duet plays it
                continue
            self._stream(ctx.slot, part.index)
            if role == "drums":
                self._drums(ctx, style, section, part, s, step, base_beat, d)
            elif chord.root < 0:
                continue
            elif role == "bass":
                self._bass(ctx, style, part, chord, s, section.bass[step],
                           restrike(style, section, part, changed), d)
            else:
                self._chordal(ctx, style, part, chord, s, section.hits(role)[step],
                              restrike(style, section, part, changed), d)
        return d

    def commit(self, decision: Decision) -> None:
        if decision.chord is not self._chord and decision.chord != self._chord and decision.chord.root >= 0:
            self._chord = decision.chord
            self._chord_since = decision.slot
        for key, v in decision.voicings.items():
            if v[0] >= 0:  # a chord with no voicing in range keeps the last one
                self._voicings[key][:] = v
        if decision.bass_note >= 0:
            self._bass_prev = decision.bass_note

    # -- parts ------------------------------------------------------------------
    def _stream(self, slot: int, part: int) -> None:
        """Draw from the stream of ``part`` in ``slot`` from its first number on."""
        self._stream_at = (slot, part)
        self._ublocks = 0
        self._ui = DRAW_BLOCK  # computed at the first draw

    def _u(self) -> float:
        """The next uniform draw in [0, 1) of the (seed, slot, part) stream ``_stream`` chose."""
        i = self._ui
        if i == DRAW_BLOCK:
            stream_uniforms(self.seed, self._stream_at[0], self._stream_at[1], self._ublocks, self._ublock)
            self._ulist = self._ublock.tolist()
            self._ublocks += 1
            i = 0
        self._ui = i + 1
        return self._ulist[i]

    def _vel(self, v: int, jitter: int = 4) -> int:
        if self._vel_scale != 1.0:  # energy: harder or softer than written
            v = min(127, max(1, int(v * self._vel_scale + 0.5)))
        if jitter <= 0:
            return v
        return min(127, max(1, v + int(self._u() * (2 * jitter + 1)) - jitter))

    def _timekeeper(self, section: Section) -> tuple[int, int]:
        """The section's hi-hat, ride or shaker (its most used) and a soft velocity for
        the hits energy adds; (-1, 0) when it has none."""
        got = self._keepers.get(id(section))
        if got is None:
            count: dict[int, list[int]] = {}
            for hits in section.drums:
                for h in hits:
                    if h.note in TIMEKEEPERS:
                        count.setdefault(h.note, []).append(h.velocity)
            if count:
                note = max(count, key=lambda n: len(count[n]))
                got = (note, int(np.median(count[note]) * 0.75))
            else:
                got = (-1, 0)
            self._keepers[id(section)] = got
        return got

    def _when(self, ctx: SlotContext, style: Style, beat: float) -> float:
        """``beat`` moved by the style's timing jitter (none when it is 0)."""
        if style.timing_ms <= 0:
            return beat
        ms = (2.0 * self._u() - 1.0) * style.timing_ms
        return beat + ms * ctx.sr / (1000.0 * ctx.frames_per_beat)

    def _count_in(self, ctx: SlotContext) -> Decision:
        d = Decision(ctx.slot, NO_CHORD)
        if ctx.slot % SLOTS_PER_BEAT == 0:
            drums = [p for p in self.parts if p.role == "drums"]
            accent = ctx.slot_in_bar == 0
            for p in drums[:1]:
                d.events.append(NoteEvent(ctx.beat, 0.25, p.index, SIDESTICK, 110 if accent else 80))
        return d

    def _drums(self, ctx: SlotContext, style: Style, section: Section, part: PartInfo, s: int, step: int,
               base_beat: int, d: Decision) -> None:
        beat = base_beat + swing_beat(s, ctx.swing)
        jitter = style.velocity_jitter
        density = 0.5 + 0.5 * ctx.energy  # kernels.groove's density: 0.5 plays the grid as written
        written = section.drums[step]
        for hit in written:
            p = hit.probability
            if density != 0.5 and (density > 0.5 or hit.velocity < ACCENT):  # low energy keeps the accents
                p = density_prob(p, density)
            if p < 1.0 and self._u() >= p:
                continue
            d.events.append(NoteEvent(self._when(ctx, style, beat), DRUM_LEN, part.index, hit.note,
                                      self._vel(hit.velocity, jitter)))
        if density > 0.5:  # energy: the timekeeper on the 8ths (and then the 16ths) it leaves out
            note, vel = self._timekeeper(section)
            if note >= 0 and not any(h.note == note for h in written) and \
                    self._u() < (0.8 if s % 2 == 0 else 0.5) * (density - 0.5) / 0.5:
                d.events.append(NoteEvent(self._when(ctx, style, beat), DRUM_LEN, part.index, note,
                                          self._vel(vel, jitter)))
        if ctx.adventure > 0 and s % SLOTS_PER_BEAT == 3 and ctx.section in ("main_a", "main_b"):
            # adventurousness: a kick pushed a 16th ahead of the next beat's
            nxt = section.drums[step + 1] if step + 1 < len(section.drums) else section.drums[0]
            kick = next((h for h in nxt if h.note in (35, 36)), None)
            if kick is not None and self._u() < 0.4 * ctx.adventure:
                d.events.append(NoteEvent(self._when(ctx, style, beat), DRUM_LEN, part.index, kick.note,
                                          self._vel(int(kick.velocity * 0.8), jitter)))
        if s:
            return
        bar = ctx.slot // (ctx.meter * SLOTS_PER_BEAT)
        main = ctx.section in ("main_a", "main_b")
        if (main and style.crash_every and bar % style.crash_every == 0) or (
                style.crash_after_fill and ctx.section_bar == 0 and ctx.prev_section in ("fill", "break")):
            d.events.append(NoteEvent(base_beat, DRUM_LEN, part.index, CRASH, self._vel(CRASH_VEL, jitter)))

    def _bass(self, ctx: SlotContext, style: Style, part: PartInfo, chord: Chord, s: int,
              hits: tuple[BassHit, ...], restrike: bool, d: Decision) -> None:
        beat = (ctx.slot // SLOTS_PER_BEAT) + swing_beat(s % SLOTS_PER_BEAT, ctx.swing)
        if restrike and not hits:
            hits = RESTRIKE_BASS
        for hit in hits:
            note = self._bass_note(ctx, hit, chord, part, s // SLOTS_PER_BEAT)
            if note < 0:
                continue
            d.events.append(NoteEvent(self._when(ctx, style, beat), hit.duration, part.index, note,
                                      self._vel(hit.velocity, style.velocity_jitter)))
            d.bass_note = note

    def _bass_note(self, ctx: SlotContext, hit: BassHit, chord: Chord, part: PartInfo, beat_in_bar: int) -> int:
        """The note a bass degree names for this chord (kernels.bass), near the line's last note."""
        code = DEGREE_CODES[hit.degree]
        nxt = self._upcoming(ctx) if code in AIMED else None
        u = self._u() if code in DRAWN else 0.0
        nroot, nqual = (nxt.root, nxt.quality) if nxt is not None and nxt.root >= 0 else (-1, -1)
        return int(bass_note(code, hit.semitones, chord.root, chord.quality, chord.bass, nroot, nqual,
                             self._bass_prev, part.low, part.high, beat_in_bar, ctx.meter, u))

    def _voice(self, part: PartInfo, kind: int, chord: Chord, slot: int, near: np.ndarray | None,
               d: Decision) -> np.ndarray:
        """The voicing of ``kind`` (an index into VOICINGS) for ``chord``, nearest the
        part's last one of that kind, or nearest ``near`` (the part's own voicing this
        slot) when that has as many voices; written into a pooled array, recorded in
        ``d`` for commit. All -1 when nothing fits the part's range."""
        key = part.index * 8 + kind
        out = self._pools[key][slot % VOICING_POOL]
        prev = self._voicings[key]
        if kind == SATB:  # a choir's four voices keep their own ranges, not the part's
            voice_satb(chord.root, chord.quality, chord.bass, prev, SATB_LOWS, SATB_HIGHS, out)
        else:
            if near is not None and near.shape[0] == out.shape[0] and near[0] >= 0:
                prev = near
            if voice_kind(kind, chord.root, chord.quality, prev, part.low, part.high, out) == np.inf \
                    and out.shape[0] > 2 and kind != CLOSE:
                # a range too narrow for the shape: the nearest close voicing instead
                voice_kind(CLOSE, chord.root, chord.quality, prev, part.low, part.high, out)
        d.voicings[key] = out
        return out

    def _colour(self, ctx: SlotContext, chord: Chord) -> Chord:
        """Adventurousness: the chord the comp and pad voice. Above the middle a triad
        becomes a seventh chord now and then (the same all bar long; on the key's fifth
        degree a dominant 7th), below it a seventh chord other than the dominant is played
        as its triad."""
        x = ctx.adventure
        if x > 0 and chord.quality in EXTEND:
            bar = ctx.slot // (ctx.meter * SLOTS_PER_BEAT)
            if chance(self.seed, chord.root * 16 + chord.quality, bar) < x:
                tonic = ctx.key[0]
                if chord.quality == 0 and tonic >= 0 and (chord.root - tonic) % 12 == 7:
                    return Chord(chord.root, DOMINANT, chord.bass)  # the key's V: a dominant 7th
                return Chord(chord.root, EXTEND[chord.quality], chord.bass)
        elif x < -0.5 and chord.quality in PLAIN:
            return Chord(chord.root, PLAIN[chord.quality], chord.bass)
        return chord

    def _chordal(self, ctx: SlotContext, style: Style, part: PartInfo, chord: Chord, s: int,
                 hits: tuple[ChordHit, ...], restrike: bool, d: Decision) -> None:
        if ctx.adventure != 0.0:
            chord = self._colour(ctx, chord)
        if hits and ctx.energy < 0 and s % SLOTS_PER_BEAT and self._u() < -ctx.energy:
            hits = ()  # low energy: the comping between the beats thins out
        elif not hits and ctx.adventure > 0 and part.role == "comp" and s % SLOTS_PER_BEAT == 2 \
                and ctx.section in ("main_a", "main_b") and self._u() < 0.25 * ctx.adventure:
            hits = (ChordHit(0.4, 70),)  # adventurousness: a stab on an off-beat
        # The part's own voicing follows every chord, heard or not, so that it comes in
        # voice-led; a voicing a hit asks for is voice-led from it.
        own = KIND_ID[style.voicing(part.role)]
        voicing = self._voice(part, own, chord, ctx.slot, None, d)
        if not hits and restrike:
            hits = (ChordHit(1.0 if part.role == "comp" else ctx.meter - s / SLOTS_PER_BEAT, 80),)
        if not hits:
            return
        beat = (ctx.slot // SLOTS_PER_BEAT) + swing_beat(s % SLOTS_PER_BEAT, ctx.swing)
        for hit in hits:
            dur = min(hit.duration, ctx.meter - s / SLOTS_PER_BEAT)
            kind = KIND_ID[hit.voicing] if hit.voicing else own
            notes = voicing if kind == own else self._voice(part, kind, chord, ctx.slot, voicing, d)
            n = notes.shape[0]
            for v in hit.voices or ALL_VOICES[n]:
                note = notes[v - 1] if v <= n else -1
                if note >= 0:
                    d.events.append(NoteEvent(self._when(ctx, style, beat), dur * 0.95, part.index, int(note),
                                              self._vel(hit.velocity, style.velocity_jitter)))


def restrike(style: Style, section: Section, part: PartInfo, changed: bool) -> bool:
    """Whether a part plays a new chord at once where its pattern has no note: when the
    chord changed, the style asks it of the role, and the part plays in this section."""
    return changed and part.role in style.restrike and part.role in section.plays
