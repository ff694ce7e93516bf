"""The show goes on (issue 7), without a sound server: a slow model, a million malformed
MIDI messages, a crashed take's journal. The engine is driven block by block as in
test_engine.py; where the audio clock would have run on while the planner was busy,
the test runs it on by as many blocks as the planner took in wall time."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest
from test_engine import BLOCK, RIG, SR, chord_perf, make_engine

from live.accompanist import PartInfo, RuleAccompanist
from live.engine import MUSICIAN, REC_RESERVE, Recorder
from live.midifile import FileInput, TakeJournal, close_open_notes, read_journal, repair_wav
from live.rig import load_rig_text

BLOCK_S = BLOCK / SR


# -- 3. a model slower than its budget ---------------------------------------------------

class SlowModel(RuleAccompanist):
    """The rule-based band's decisions, taking ``slow_ms`` each from slot ``from_slot`` on."""

    name = "slow model"

    def __init__(self, parts, slow_ms: float, from_slot: int = 24) -> None:
        super().__init__(parts, seed=1)
        self.slow_ms, self.from_slot = slow_ms, from_slot
        self.first_slow_frame = -1

    def decide(self, ctx):
        if ctx.slot >= self.from_slot:
            if self.first_slow_frame < 0:
                self.first_slow_frame = ctx.frame  # where the first slow decision would sound
            time.sleep(self.slow_ms / 1000.0)
        return super().decide(ctx)


def run_real_time(eng, perf, seconds):
    """Drive the engine as live: after each planner step, the audio clock runs on by the
    blocks that step took in wall time (it does not wait for the planner)."""
    src = FileInput(perf, SR, lead_in_s=0.0)
    src.start(0)
    eng.file_source = src
    eng.start()
    fallback_frame = -1
    while eng.clock.block_end < seconds * SR:
        eng.tick()
        t0 = time.perf_counter()
        eng.planner.step()
        for _ in range(int((time.perf_counter() - t0) / BLOCK_S)):
            eng.tick()
        if fallback_frame < 0 and eng.planner.stats.fallback:
            fallback_frame = eng.clock.block_end
    eng.request_stop()
    eng.tick()
    return eng.recorder.events(), fallback_frame


def budget_engine(rig, acc):
    """An engine with the live session's budget: the commit horizon (30 ms) per decision,
    or half of it three decisions running."""
    from live.engine import Engine
    from live.session import DECISION_BUDGET_MS

    eng = Engine(rig, sr=SR, block=BLOCK, parts=[None] * len(rig.band), musician_part=None, accompanist=acc,
                 seed=1, decision_budget_ms=DECISION_BUDGET_MS)
    return eng


@pytest.mark.parametrize("slow_ms", [60.0, 20.0], ids=["one-decision-over-the-horizon", "p99-over-budget"])
def test_a_slow_model_hands_over_to_the_rules_within_a_beat(slow_ms):
    perf, dur = chord_perf(1)
    rig = load_rig_text(RIG.format(mode="chords", style="pop"), source="<test>")
    infos = [PartInfo(i, p.role, p.low, p.high) for i, p in enumerate(rig.band)]
    slow = SlowModel(infos, slow_ms)
    eng = budget_engine(rig, slow)
    events, fallback_frame = run_real_time(eng, perf, dur)
    st = eng.planner.stats
    beat = eng.planner.transport.frames_per_beat
    assert st.fallback, st.messages
    said = [m for m in st.messages if "rule-based band takes over" in m]
    assert len(said) == 1 and "too slow" in said[0] and len(st.messages) == 1, st.messages
    # from the beat where the slow model's first slow decision would sound (negative: the
    # rules took over before it was due)
    took = (fallback_frame - slow.first_slow_frame) / beat
    print(f"slow {slow_ms:g} ms/decision: rules took over {took:.2f} beats "
          f"({(fallback_frame - slow.first_slow_frame) / SR * 1000:.0f} ms) after the first slow decision; "
          f"late events {eng.stats.late_events}, worst {eng.stats.late_max_frames / SR * 1000:.1f} ms; {said[0]}")
    assert took <= 1.0, took
    assert eng.stats.late_max_frames <= beat
    # every slot from the band's first to the end committed, the groove without a gap
    t = eng.planner.transport
    slots = int(t.beat_at(eng.clock.block_start - eng.planner.horizon) * 4)
    assert st.slots_committed >= slots - 1, (st.slots_committed, slots)
    drum_on = events[(events[:, 1] == 2) & (events[:, 2] == 0x90), 0]
    assert np.diff(drum_on).max() / SR < 0.6, "the groove stopped while the rules took over"
    assert eng.stats.callback_errors == 0


def test_a_fast_model_keeps_playing():
    perf, dur = chord_perf(1)
    rig = load_rig_text(RIG.format(mode="chords", style="pop"), source="<test>")
    infos = [PartInfo(i, p.role, p.low, p.high) for i, p in enumerate(rig.band)]
    model = SlowModel(infos, 0.0)
    eng = budget_engine(rig, model)
    run_real_time(eng, perf, dur)
    assert not eng.planner.stats.fallback and eng.planner.accompanist.name == "slow model"


# -- 4. MIDI fuzz ---------------------------------------------------------------------------

class FuzzIn:
    """A MIDI input that plays ``n`` seeded random messages, most of them broken."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.lens = rng.choice([0, 1, 2, 3, 4, 5], size=n, p=[0.02, 0.08, 0.15, 0.65, 0.05, 0.05])
        b = rng.integers(0, 256, size=(n, 5))
        # make a good share plausible: note on/off (half of them on a few notes, so the
        # same note is struck twice), pedal and all-notes-off, pitch bend
        kind = rng.choice([0x80, 0x90, 0x90, 0xB0, 0xE0, -1], size=n)
        plaus = kind >= 0
        b[plaus, 0] = kind[plaus] | rng.integers(0, 16, size=n)[plaus]
        b[plaus, 1] = np.where(rng.random(n) < 0.5, rng.integers(58, 64, size=n), rng.integers(0, 130, size=n))[plaus]
        b[plaus, 2] = rng.integers(0, 130, size=n)[plaus]
        cc = plaus & (kind == 0xB0)
        b[cc, 1] = rng.choice([64, 123, 120, 1, 7], size=n)[cc]
        self.bytes = b
        self.i = 0

    def get_message(self):
        i = self.i
        if i >= self.n:
            return None
        self.i = i + 1
        return self.bytes[i, : self.lens[i]].tolist(), 0.0

    def expected(self) -> tuple[int, int]:
        """(accepted, dropped) by the engine's rules, computed independently."""
        n, b = self.lens, self.bytes
        st = b[:, 0]
        realtime = (n == 1) & (st >= 0xF8)
        bad_status = (n == 0) | (n > 3) | (st < 0x80) | (st > 0xEF)
        need = np.where(np.isin(st & 0xF0, [0xC0, 0xD0]), 2, 3)
        bad_data = (n != need) | (b[:, 1] > 127) | ((n == 3) & (b[:, 2] > 127))
        dropped = ~realtime & (bad_status | bad_data)
        return int((~realtime & ~dropped).sum()), int(dropped.sum())


class SoundingOut:
    """A MIDI out that tracks what is sounding on each channel (note on/off, CC 123)."""

    def __init__(self) -> None:
        self.sounding = np.zeros((16, 128), np.int64)
        self.sent = 0

    def send_message(self, msg) -> None:
        self.sent += 1
        kind, ch = msg[0] & 0xF0, msg[0] & 0x0F
        if kind == 0x90 and msg[2] > 0:
            self.sounding[ch, msg[1]] += 1
        elif kind == 0x80 or kind == 0x90:
            self.sounding[ch, msg[1]] = max(0, self.sounding[ch, msg[1]] - 1)
        elif kind == 0xB0 and msg[1] == 123:
            self.sounding[ch] = 0


def recorded_hangs(events: np.ndarray) -> list[tuple[int, int]]:
    open_: dict[tuple[int, int], int] = {}
    for _, track, status, d1, d2 in events.tolist():
        if status == 0x90 and d2 > 0:
            open_[(track, d1)] = open_.get((track, d1), 0) + 1
        elif status in (0x80, 0x90) and open_.get((track, d1), 0) > 0:
            open_[(track, d1)] -= 1
    return sorted(k for k, v in open_.items() if v > 0)


def test_a_million_malformed_messages():
    n = 1_000_000
    eng = make_engine(mode="lead")
    eng.thru = True
    out = SoundingOut()
    eng.midi_outs = [out]
    fuzz = FuzzIn(n, seed=7)
    eng.midi_ins = [fuzz]
    eng.recorder = Recorder(capacity=200_000)  # small, so the full recorder is exercised too
    eng.start()
    t0 = time.perf_counter()
    blocks = 0
    while fuzz.i < n:
        eng.tick()
        eng.planner.step()
        blocks += 1
    for _ in range(int(2 * SR / BLOCK)):  # the band plays on for 2 s after the storm
        eng.tick()
        eng.planner.step()
    eng.request_stop()
    eng.tick()
    wall = time.perf_counter() - t0
    s = eng.stats
    accepted, dropped = fuzz.expected()
    print(f"fuzz: {n} messages in {blocks} blocks, {wall:.1f} s; accepted {s.input_events}, dropped "
          f"{s.input_dropped}, callback errors {s.callback_errors}, recorder kept {eng.recorder.n} "
          f"(dropped {eng.recorder.dropped}), MIDI out {out.sent}")
    assert s.callback_errors == 0
    assert (s.input_events, s.input_dropped) == (accepted, dropped)
    assert (eng.owner < 0).all() and (eng.musician_owner < 0).all()
    assert not eng.listener.held.any() and not eng.listener.sounding.any() and not eng.listener.pedal
    assert not out.sounding.any(), np.argwhere(out.sounding)[:10]
    ev = eng.recorder.events()
    assert eng.recorder.dropped > 0 and eng.recorder.n > eng.recorder.capacity - REC_RESERVE
    assert not recorded_hangs(ev), recorded_hangs(ev)[:10]
    assert s.band_notes > 0
    assert wall < 60


def test_a_full_recorder_still_records_every_note_off():
    r = Recorder(capacity=100)  # the last half (50) is kept for endings
    for i in range(50):
        r.add(i, MUSICIAN, 0x90, i, 100)
    r.add(50, MUSICIAN, 0xB0, 64, 127)  # refused: it does not end anything
    for i in range(100):
        r.add(100 + i, 0, 0x90, 30, 90)  # refused
    r.add(210, 0, 0x80, 30, 0)  # refused: that note never made it into the recording
    for i in range(50):
        r.add(300 + i, MUSICIAN, 0x80, i, 0)
    assert r.n == 100 and r.dropped == 102
    assert not recorded_hangs(r.events())
    assert REC_RESERVE >= 17 * 128 + 17  # every note of every track, and every pedal


# -- 1. the journal (the JACK test kills a real jam; here: its pieces) ---------------------

def test_journal_round_trip_and_crash_leftovers(tmp_path):
    r = Recorder(capacity=1000)
    j = TakeJournal(tmp_path / "jam.journal", r, {"sr": SR, "tempo": 120, "meter": 4,
                                                   "tracks": [(-1, "musician", 0, 0)]})
    r.add(10, MUSICIAN, 0x90, 60, 100)
    r.add(20, MUSICIAN, 0xB0, 64, 127)
    assert j.flush() == 2
    r.add(30, MUSICIAN, 0x90, 64, 90)
    r.add(40, MUSICIAN, 0x80, 60, 0)
    assert j.flush() == 2 and j.flush() == 0
    os.write(j.fd, b"\x01\x02\x03")  # a record cut short by the kill
    header, ev = read_journal(tmp_path / "jam.journal")
    assert header["sr"] == SR and ev.tolist() == r.events().tolist()
    closed = close_open_notes(ev, 50)
    assert closed[4:].tolist() == [[50, -1, 0xB0, 64, 0], [50, -1, 0x80, 64, 0]]
    j.close(remove=True)
    assert not (tmp_path / "jam.journal").exists()


def test_a_wav_cut_off_by_a_crash_is_repaired(tmp_path):
    import wave

    p = tmp_path / "cut.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(3)
        w.setframerate(SR)
        w.writeframes(b"\x00" * 6 * 1000)
    raw = bytearray(p.read_bytes())
    raw[4:8] = (8).to_bytes(4, "little")  # what pyo's libsndfile leaves before it closes
    raw[40:44] = (0).to_bytes(4, "little")
    p.write_bytes(bytes(raw) + b"\x00" * (6 * 500 + 4))  # written on after the header, cut mid-frame
    assert repair_wav(p)
    with wave.open(str(p), "rb") as w:
        assert w.getnframes() == 1500
    assert not repair_wav(p)


def test_jam_at_start_recovers_a_crashed_take(tmp_path):
    from live.session import recover_crashed_take

    r = Recorder(capacity=100)
    j = TakeJournal(tmp_path / "jam.journal", r, {"sr": SR, "tempo": 120, "meter": 4, "started": "2026-11-25T07:00:00",
                                                   "tracks": [(-1, "musician", 0, 0), (0, "bass", 1, 33)]})
    r.add(100, MUSICIAN, 0x90, 60, 100)
    r.add(200, 0, 0x90, 36, 90)
    j.flush()
    j.crash()  # killed: never closed properly, never turned into jam.mid
    said: list[str] = []
    mid = recover_crashed_take(tmp_path, progress=said.append)
    assert mid is not None and mid.name == "jam-recovered-20261125-070000.mid", said
    import mido

    f = mido.MidiFile(mid)
    offs = [m for m in f if m.type == "note_off"]
    assert len(offs) == 2 and "recovered" in said[0]
    assert recover_crashed_take(tmp_path, progress=said.append) is None  # the journal is gone
    assert math.isfinite(f.length)


def test_takes_recover_makes_a_crashed_take_playable_and_lists_it(tmp_path, capsys):
    from live.cli import main

    gig = tmp_path / "gig"
    gig.mkdir()
    r = Recorder(capacity=100)
    j = TakeJournal(gig / "jam.journal", r, {"sr": SR, "tempo": 120, "meter": 4, "started": "2026-11-25T07:00:00",
                                             "tracks": [(-1, "musician", 0, 0)]})
    r.add(100, MUSICIAN, 0x90, 60, 100)
    j.flush()
    j.crash()  # the jam was killed
    assert main(["takes", "--recover", "--folder", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (gig / "jam-recovered-20261125-070000.mid").exists() and not (gig / "jam.journal").exists()
    assert "recovered" in out
    assert main(["takes", "--recover", "--folder", str(tmp_path)]) == 0
    assert "no crashed take" in capsys.readouterr().out
