"""The band's sound, rendered by pyo's manual server one block at a time."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from live.quiet import import_pyo

SR, BLOCK = 48000, 64


@pytest.fixture(scope="module")
def server():
    pyo = import_pyo()
    s = pyo.Server(sr=SR, nchnls=2, buffersize=BLOCK, duplex=0, audio="manual")
    s.deactivateMidi()
    s.boot()
    s.start()
    yield s
    s.stop()
    s.shutdown()


def render(server, part, events, blocks, through_mixer=True):
    """events: {block index: callable(part)}; returns the mono output as numpy."""
    from live.instruments import Mixer

    mixer = Mixer([part]) if through_mixer else None
    src = mixer.master if mixer else part.out
    return record(server, src, {k: functools.partial(f, part) for k, f in events.items()}, blocks)


def render_mix(server, parts, sends, events, blocks):
    """``parts`` through a Mixer with a reverb send each; events: {block: callable()}."""
    from live.instruments import Mixer

    mixer = Mixer(parts, sends=sends)
    return record(server, mixer.master, events, blocks)


def record(server, src, events, blocks):
    """``src``'s left channel over ``blocks`` blocks; events: {block index: callable()}."""
    pyo = import_pyo()
    table = pyo.NewTable(length=blocks * BLOCK / SR, chnls=1)
    rec = pyo.TableRec(src, table=table).play()
    count = [0]

    def cb():
        f = events.get(count[0])
        if f is not None:
            f()
        count[0] += 1

    server.setCallback(cb)
    for _ in range(blocks):
        server.process()
    server.setCallback(lambda: None)
    rec.stop()
    return np.asarray(table.getTable())


@pytest.mark.parametrize("kind", ["piano", "epiano", "organ", "pad", "strings", "bass", "upright", "lead"])
def test_a_note_sounds_in_the_block_it_is_played_and_ends(server, kind):
    from live.instruments import ENVELOPES, make_part

    part = make_part(kind, 0.8, 0.0)
    x = render(server, part, {10: lambda p: p.note_on(60, 100, 1)}, 400)
    loud = np.flatnonzero(np.abs(x) > 1e-7)  # pads fade in over 0.35 s: the ramp starts at once
    assert loud.size and np.abs(x).max() > 1e-2, f"{kind}: silent"
    # the master bus must not delay the musician: pyo's Compress(lookahead=0) once did, by 1,200 frames
    assert loud[0] - 10 * BLOCK < 16, f"{kind}: first sound {loud[0] - 10 * BLOCK} frames after the note"
    assert np.abs(x).max() < 0.98
    # and it ends: after note-off and the envelope's release, the voice is silent (dry, no reverb)
    release_blocks = int((ENVELOPES[kind][3] + 0.15) * SR / BLOCK)
    part.note_off(60, 1)
    y = render(server, part, {}, release_blocks + 20, through_mixer=False)
    assert np.abs(y[-BLOCK * 20:]).max() < 1e-3, f"{kind}: still sounding after note-off"


def test_voice_stealing_never_leaves_a_voice_stuck(server):
    from live.instruments import make_part

    part = make_part("bass", 0.8, 0.0)  # two voices
    ev = {5 + i: functools.partial(type(part).note_on, note=40 + i, vel=90, eid=100 + i) for i in range(5)}
    ev.update({60 + i: functools.partial(type(part).note_off, note=40 + i, eid=100 + i) for i in range(5)})
    x = render(server, part, ev, 300, through_mixer=False)
    assert (part.voice_eid < 0).all()
    assert np.abs(x[-BLOCK * 20:]).max() < 1e-3


def test_drum_kit_hits_are_short_and_placed(server):
    from live.instruments import make_part

    kit = make_part("kit", 0.8, 0.0)
    x = render(server, kit, {10: lambda p: p.note_on(36, 110, 1), 100: lambda p: p.note_on(38, 110, 2)}, 300,
               through_mixer=False)
    env = np.abs(x)
    assert env[: 10 * BLOCK].max() < 1e-4
    assert env[10 * BLOCK: 10 * BLOCK + 32].max() > 1e-3  # the kick starts at once
    assert env[100 * BLOCK: 100 * BLOCK + 32].max() > 1e-3
    assert env[-BLOCK * 10:].max() < 1e-3


def test_each_part_has_its_own_reverb_send(server):
    from live.instruments import make_part

    tails = {}
    for send in (0.0, 1.0):
        keys, bass = make_part("piano", 0.8, 0.0), make_part("bass", 0.8, 0.0)
        ev = {5: lambda k=keys: k.note_on(60, 110, 1), 40: lambda k=keys: k.note_off(60, 1)}
        # the bass plays dry in both renders: only the keys' send changes
        x = render_mix(server, [keys, bass], [send, 0.0], ev, 400)
        end = int((40 * BLOCK + 0.25 * SR + 0.1 * SR))  # after the note-off and the piano's release
        tails[send] = float(np.sqrt(np.mean(x[end:end + SR // 2] ** 2)))
    assert tails[0.0] < 1e-4, f"a dry part rings on after its release: {tails[0.0]:.2e}"
    assert tails[1.0] > 100 * max(tails[0.0], 1e-6), tails



def test_brushes_sound_in_the_kit_and_the_jazz_waltz_plays_them(server):
    from live.instruments import BRUSH_MAP, make_part

    from live.styles import open_style

    style = open_style("jazz-waltz")
    assert style.sound("drums").instrument == "brushes" and style.sound("drums").program == 41
    played = {h.note for steps in style.section("main_a").drums for h in steps}
    assert {38, 40} <= played  # a tap and a swirl
    for note in (38, 39, 40):
        kit = make_part("brushes", 0.8, 0.0)
        assert BRUSH_MAP[note].startswith("brush_")
        x = render_mix(server, [kit], [0.0], {5: lambda k=kit, n=note: k.note_on(n, 100, 1)}, 200)
        assert np.abs(x[:5 * BLOCK]).max() < 1e-4
        assert np.abs(x[5 * BLOCK:]).max() > 1e-2, f"brush note {note} is silent"
    # the swirl swells in: its loudest moment comes well after it starts, unlike the tap
    kit = make_part("brushes", 0.8, 0.0)
    swirl = np.abs(render_mix(server, [kit], [0.0], {5: lambda: kit.note_on(40, 100, 1)}, 200))
    tap = np.abs(render_mix(server, [kit], [0.0], {5: lambda: kit.note_on(38, 100, 1)}, 200))
    assert swirl.argmax() - 5 * BLOCK > 0.08 * SR > tap.argmax() - 5 * BLOCK
