"""The stage view without a terminal: the pure render function, snapshots of an engine
driven block by block (no sound server, nothing sleeps), and the keys' actions."""

from __future__ import annotations

import io

import numpy as np
import pytest

from live.engine import Engine
from live.errors import SidemanError
from live.midifile import FileInput, Performance
from live.rig import load_rig_text
from live.stage import (CONTROL_HELP, KEYS_CONTROL_HELP, Meters, PartLevel, StageState, StageView, open_stage, render,
                        render_text, snapshot, toggle_band)

SR, BLOCK = 48000, 64

RIG = """
name: stage
mode: chords
style: pop
tempo: 120
input:
  split: 60
band:
  bass: {}
  keys: {}
  drums: {}
"""


def make_engine(extra: str = "", mode: str = "chords") -> Engine:
    rig = load_rig_text(RIG.replace("mode: chords", f"mode: {mode}") + extra, source="<test>")
    n = len([p for p in rig.band if p.enabled])
    return Engine(rig, sr=SR, block=BLOCK, parts=[None] * n, musician_part=None, seed=1)


def chords_perf(chords, bar_s: float = 2.0) -> Performance:
    """Each chord held for a bar (4 beats at 120 bpm)."""
    ev = []
    t = 0.0
    for tones in chords:
        for n in tones:
            ev.append((t, (0x90, n, 90)))
            ev.append((t + bar_s - 0.01, (0x80, n, 0)))
        t += bar_s
    ev.sort(key=lambda x: (x[0], x[1][0] == 0x90))
    return Performance("<test>", np.array([e[0] for e in ev]), [e[1] for e in ev], 120.0, 4, 480, t)


def drive(engine: Engine, seconds: float, meters: Meters | None = None, t0: float = 0.0) -> float:
    """Run the clock and the planner for ``seconds``; the meters see it every 50 ms."""
    blocks = int(seconds * SR / BLOCK)
    every = int(0.05 * SR / BLOCK)
    t = t0
    for i in range(blocks):
        engine.tick()
        engine.planner.step()
        t = t0 + (i + 1) * BLOCK / SR
        if meters is not None and i % every == 0:
            meters.update(engine, t)
    return t


def started(perf: Performance, extra: str = "", mode: str = "chords") -> Engine:
    eng = make_engine(extra, mode)
    src = FileInput(perf, SR, lead_in_s=0.0)
    src.start(0)
    eng.file_source = src
    eng.start()
    return eng


STATE = StageState(
    rig="gig", backend="jack", mode="lead", style="bossa-nova", status="playing", chord="Am7", next_chord="D7",
    next_in_beats=2.0, key="A minor", bpm=132.0, meter=4, bar=9, beat=3, section="Main B", section_bar=2,
    variation="Main B",
    parts=(PartLevel("bass", 0.5, 2.0, 1), PartLevel("keys", 0.8, 6.0, 3), PartLevel("you", 0.0, 0.0, 0)),
    sr=48000, block=64, cb_p99_us=45.0, cb_max_us=300.0, xruns=3, late=5, errors=1, dropped=2, midi_in=40,
    midi_out=300, midi_in_rate=3.0, midi_out_rate=12.0, elapsed_s=75.0, messages=("note: model loaded",))


# -- the render function ------------------------------------------------------------------

def test_render_shows_chords_tempo_section_and_counters():
    text = render_text(STATE, width=110)
    for want in ("Sideman · gig", "NOW  Am7", "NEXT  D7", "in 2 beats", "132 bpm", "A minor", "bar 9  beat 3",
                 "Mode lead", "Style bossa-nova", "Section Main B (bar 2)", "Variation Main B", "playing",
                 "jack 48000 Hz / 64 fr = 1.33 ms", "callback p99 45 us", "xruns 3", "late events 5", "errors 1",
                 "dropped 2", "MIDI in ● 40 (3/s)", "300 band notes (12/s)", "time 1:15", CONTROL_HELP,
                 "note: model loaded"):
        assert want in text, f"{want!r} not in\n{text}"
    for name in ("bass", "keys", "you"):
        assert any(line.strip("│ ").startswith(name) for line in text.splitlines()), name


def test_the_chord_is_big():
    from live.bigfont import HEIGHT, big

    text = render_text(STATE, width=110)
    art = big("Am7")
    assert len(art) == HEIGHT
    lines = text.splitlines()
    # the block letters stand on HEIGHT consecutive lines, under "NOW"
    start = next(i for i, line in enumerate(lines) if art[0].rstrip() in line)
    for r in range(HEIGHT):
        assert art[r].rstrip() in lines[start + r]
    assert "".join(art).count("█") >= 25 and max(len(r) for r in art) >= 14


def test_render_before_the_band_starts_and_in_a_count_in():
    waiting = StageState(rig="gig", mode="chords", style="pop", status="waiting for your first note", bpm=100)
    text = render_text(waiting, width=100)
    assert "NOW  —" in text and "NEXT  —" in text and "bar —" in text and "waiting for your first note" in text
    count = render_text(StageState(bar=-1, beat=3, status="count-in", bpm=100), width=100)
    assert "count-in  beat 3" in count


def test_render_is_pure_and_fits_a_small_terminal():
    from rich.console import Console

    a, b = render_text(STATE, width=80), render_text(STATE, width=80)
    assert a == b
    assert all(len(line) <= 80 for line in a.splitlines())
    assert len(a.splitlines()) <= 24, "the view should fit an 80x24 terminal"
    console = Console(file=io.StringIO(), width=60, height=20, color_system=None)
    console.print(render(STATE))  # narrower than the big chord: cropped, no error


def test_health_problems_turn_the_border_red():
    ok = StageState(cb_p99_us=40.0)
    assert render(ok).border_style == "blue"
    assert render(StageState(xruns=1)).border_style == "red"
    assert render(StageState(cb_p99_us=900.0)).border_style == "red"  # over half the 1333 us budget


# -- snapshots of a running engine --------------------------------------------------------

def test_snapshot_follows_the_engine():
    am, f = (45, 48, 52), (41, 45, 48)
    eng = started(chords_perf([am, am, f, f]))
    meters = Meters([p.name for p in eng.band_cfg] + ["you"])
    t = drive(eng, 3.0, meters)
    st = snapshot(eng, meters, backend="offline", now=t)
    assert st.status == "playing"
    assert st.chord == "Am"
    assert st.bpm == 120 and st.meter == 4 and st.mode == "chords" and st.style == "pop"
    assert st.bar == 2 and 1 <= st.beat <= 4
    assert st.section == "Main A" and st.section_bar == 2 and st.variation == "Main A"
    assert st.midi_in == eng.stats.input_events and st.midi_out == eng.stats.band_notes > 0
    assert st.sr == SR and st.block == BLOCK and st.latency_ms == pytest.approx(1.333, abs=1e-3)
    assert st.cb_p99_us > 0 and st.xruns == 0 and st.errors == 0
    levels = {p.name: p for p in st.parts}
    assert set(levels) == {"bass", "keys", "drums", "you"}
    assert levels["drums"].rate > 1 and levels["keys"].level > 0.2 and levels["you"].sounding == 3
    t = drive(eng, 2.5, meters, t0=t)  # into the F bars
    st = snapshot(eng, meters, now=t)
    assert st.chord in ("F", "F/A"), st.chord
    assert "NOW  " + st.chord in render_text(st)


def test_snapshot_shows_the_next_chord_from_the_plan():
    """In lead mode the band chooses the chords itself, a beat ahead: the Plan has them."""
    mel = [(0.0, 72), (0.5, 76), (1.0, 79), (1.5, 76), (2.0, 77), (2.5, 81), (3.0, 84), (3.5, 81)] * 3
    ev = []
    for i, (t, n) in enumerate(mel):
        t += (i // 8) * 4.0
        ev += [(t, (0x90, n, 90)), (t + 0.45, (0x80, n, 0))]
    ev.sort(key=lambda x: (x[0], x[1][0] == 0x90))
    perf = Performance("<test>", np.array([e[0] for e in ev]), [e[1] for e in ev], 120.0, 4, 480, 12.0)
    eng = started(perf, "accompanist: rules\n", mode="lead")
    seen_next = set()
    t = 0.0
    for _ in range(40):
        t = drive(eng, 0.25, t0=t)
        st = snapshot(eng, now=t)
        if st.next_chord:
            seen_next.add(st.next_chord)
            assert st.next_chord != st.chord and st.next_in_beats >= -0.5
    assert seen_next, "the view never showed a next chord"


def test_snapshot_before_the_first_note():
    eng = make_engine()
    eng.start()
    drive(eng, 0.2)
    st = snapshot(eng)
    assert st.status == "waiting for your first note" and st.bar == 0 and st.chord == ""
    render_text(st)


# -- the keys ------------------------------------------------------------------------------

def view_for(eng: Engine, piano=None) -> StageView:
    v = StageView(show=False, keys=False, piano=piano, print_=lambda m: None)
    v.engine = eng
    return v


def test_space_starts_the_band_and_stops_it_at_the_bar_line():
    eng = make_engine()
    eng.start()
    drive(eng, 0.1)
    assert not eng.planner.transport.running
    v = view_for(eng)
    v.on_key(" ")
    assert v.action == "band starts"
    drive(eng, 1.1)  # into the bar's third beat
    t = eng.planner.transport
    assert t.running and eng.stats.band_notes > 0
    v.on_key(" ")
    assert v.action == "band stops at the next bar line"
    assert eng.planner.stop_frame == t.frame_at(4.0)
    drive(eng, 1.5)
    assert eng.planner.ended
    notes = eng.stats.band_notes
    drive(eng, 1.0)
    assert eng.stats.band_notes == notes
    assert (eng.owner < 0).all(), "every band note ended"
    v.on_key(" ")
    assert "q ends the take" in v.action
    assert snapshot(eng).status == "band stopped"


def test_fill_variation_ending_and_quit_keys():
    eng = started(chords_perf([(48, 52, 55)] * 12))
    drive(eng, 1.0)
    v = view_for(eng)
    v.on_key("f")
    assert "fill" in v.action
    drive(eng, 1.5)  # past the bar line
    assert snapshot(eng).section == "Fill"
    v.on_key("v")
    drive(eng, 2.0)
    v.on_key("e")
    drive(eng, 6.0)
    arr = eng.planner.arrangement
    assert arr.main == "main_b" and arr.end_bar >= 0
    assert eng.planner.ended
    v.on_key("q")
    assert eng.stop_requested


def test_with_the_computer_keyboard_letters_play_and_shift_steers():
    from live.keyboard import KeyboardPiano, KeyInput

    eng = started(chords_perf([(48, 52, 55)] * 4))
    ki = KeyInput()
    piano = KeyboardPiano(ki, clock=lambda: 0.0)
    v = view_for(eng, piano)
    v.on_key("f")  # F4, not a fill
    assert ki.write == 1 and eng.planner._section_seq == 0
    v.on_key("F")  # shift: the fill
    assert eng.planner._section_seq == 1
    assert v._controls_help() == KEYS_CONTROL_HELP


def test_progress_lines_are_printed_until_the_view_is_up():
    printed = []
    v = StageView(show=True, keys=False, print_=printed.append)
    v.progress("ready in 1.00 s")
    v.progress("sideman jam: gig (lead, pop, 120 bpm) on jack at 48000 Hz / 64 frames, playing you")
    assert v.backend == "jack" and len(printed) == 2
    v._active = True
    v.progress("    5.0 s  band notes 12  late 0  input 3 (dropped 0)")  # the view shows these counters
    v.progress("  stopping (Ctrl-C)")
    assert len(printed) == 2 and list(v.messages) == ["  stopping (Ctrl-C)"]
    v.close()
    assert printed[-1] == "  stopping (Ctrl-C)", "lines that came while the view was up are printed after it"


def test_keys_need_a_terminal(monkeypatch):
    rig = load_rig_text(RIG, source="<test>")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(SidemanError, match="--keys reads the computer keyboard"):
        open_stage(no_view=False, keys=True, rig=rig, audio="jack")
    v = open_stage(no_view=False, keys=False, rig=rig, audio=None)
    assert not v.keys and v.piano is None
    assert not open_stage(no_view=True, keys=False, rig=rig, audio=None).show


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_keys_need_live_audio(monkeypatch):
    rig = load_rig_text(RIG, source="<test>")
    monkeypatch.setattr("sys.stdin", FakeTty(""))
    monkeypatch.setattr("sys.stdout", FakeTty())
    monkeypatch.setenv("TERM", "xterm")
    with pytest.raises(SidemanError, match="--keys plays live: it needs a JACK server or a sound card"):
        open_stage(no_view=False, keys=True, rig=rig, audio="offline")
    monkeypatch.setattr("live.session.pick_backend", lambda requested: "jack")
    v = open_stage(no_view=True, keys=True, rig=rig, audio=None)
    assert v.keys and not v.show and v.piano is not None and v.key_input is not None
    eng = make_engine()
    v.print_ = lambda m: None
    v.show = v.keys = False  # no terminal here: wire the keyboard in, start no UI thread
    v.attach(eng)
    assert eng.midi_ins[-1] is v.key_input
    v.close()
    v = open_stage(no_view=False, keys=False, rig=rig, audio=None)
    assert v.show and v.keys and v.piano is None
    monkeypatch.setenv("TERM", "dumb")
    assert not open_stage(no_view=False, keys=False, rig=rig, audio=None).show


def test_toggle_band_without_sync_start():
    eng = make_engine("sync_start: false\n")
    eng.start()  # no sync start: the band starts by itself
    drive(eng, 0.5)
    assert eng.planner.transport.running
    assert toggle_band(eng) == "band stops at the next bar line"


def test_a_frame_that_cannot_be_drawn_keeps_the_last_one(monkeypatch):
    eng = started(chords_perf([(48, 52, 55)] * 2))
    drive(eng, 1.0)
    v = view_for(eng)
    meters = Meters([p.name for p in eng.band_cfg] + ["you"])
    good = v._frame(meters)
    calls = [0]

    def torn(*a, **k):
        calls[0] += 1
        raise IndexError("list index out of range")  # a read that caught the planner mid-change

    monkeypatch.setattr("live.stage.snapshot", torn)
    assert v._frame(meters) is good and v.render_errors == 1
    with pytest.raises(IndexError):
        for _ in range(20):
            v._frame(meters)  # a view that can never draw gives up (and the jam goes on)
    v._key("q")
    assert eng.stop_requested
