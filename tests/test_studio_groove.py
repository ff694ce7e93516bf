"""sideman groove: the kernel against its numpy reference, and grooves on the meter's grid."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from kernels.groove import groove_hits, groove_hits_ref
from live.studio.groove import GrooveError, make_groove, parse_meter, parse_poly, run_groove
from live.styles import open_style


@pytest.mark.parametrize("density", [0.0, 0.2, 0.5, 0.77, 1.0])
def test_kernel_equals_numpy_reference(density):
    rng = np.random.default_rng(3)
    shape = (5, 4, 16)
    prob = np.where(rng.random(shape) < 0.4, rng.random(shape), 0.0)
    add = rng.random(shape) * 0.5
    vel = rng.integers(20, 127, shape)
    u, v = rng.random(shape), rng.random(shape)
    out = np.zeros(shape, np.int64)
    n = groove_hits(prob, add, vel, density, u, v, out)
    ref, n_ref = groove_hits_ref(prob, add, vel, density, u, v)
    assert n == n_ref and np.array_equal(out, ref)


def test_density_changes_the_hit_count_monotonically():
    pop = open_style("pop")
    counts = [len(make_groove(pop, 8, density=d, seed=1).hits) for d in np.linspace(0, 1, 11)]
    assert counts == sorted(counts) and counts[0] < counts[5] < counts[-1]


def test_hits_on_the_grid_with_swing():
    g = make_groove(open_style("pop"), 4, swing=0.5, seed=2)
    frac = np.round(g.hits[:, 0] % 1.0, 6)
    assert set(frac) <= {0.0, 0.25, 0.75} and 0.5 not in set(frac)  # the & moved late, to 0.5 + 0.5 / 2
    straight = make_groove(open_style("pop"), 4, swing=0.0, seed=2)
    assert set(np.round(straight.hits[:, 0] * 4, 6)) <= set(np.arange(0, 64.0))
    assert 0.5 in set(np.round(straight.hits[:, 0] % 1.0, 6))


def test_seven_eight_has_seven_eighths_grouped_two_two_three():
    m = parse_meter("7/8")
    assert m.groups == (2, 2, 3) and m.steps == 14 and m.beats == 3.5
    g = make_groove(open_style("rock"), 4, meter=m, seed=0)
    assert g.hits[:, 0].max() < 4 * 3.5
    assert np.allclose((g.hits[:, 0] * 4) % 1, 0)  # on 16ths
    bars = np.floor(g.hits[:, 0] / 3.5).astype(int)
    assert set(bars) == {0, 1, 2, 3}
    assert parse_meter("5/4").groups == (2, 3)


def test_three_against_four_puts_three_even_hits_in_each_bar():
    g = make_groove(open_style("pop"), 4, poly=parse_poly("3:4"), seed=0)
    poly = g.hits[[k == "poly" for k in g.kinds]]
    for b in range(4):
        t = poly[(poly[:, 0] >= 4 * b) & (poly[:, 0] < 4 * b + 4), 0] - 4 * b
        assert np.allclose(t, [0, 4 / 3, 8 / 3])


def test_fills_only_in_fill_bars_and_ghosts_are_soft():
    pop = open_style("pop")
    g = make_groove(pop, 8, fills=4, ghosts=1.0, seed=0)
    assert g.fill_bars == [3, 7]
    fill_bars = {int(b // 4) for b, k in zip(g.hits[:, 0], g.kinds, strict=True) if k == "fill"}
    assert fill_bars == {3, 7}
    ghosts = g.hits[[k == "ghost" for k in g.kinds]]
    assert len(ghosts) > 0 and ghosts[:, 3].max() <= 40
    assert not any(k == "ghost" for b, k in zip(g.hits[:, 0], g.kinds, strict=True) if int(b // 4) in (3, 7))
    none = make_groove(pop, 8, seed=0)
    assert "fill" not in none.kinds and "ghost" not in none.kinds


def test_reproducible_for_a_seed():
    pop = open_style("pop")
    a = make_groove(pop, 8, density=0.8, ghosts=0.5, seed=5)
    b = make_groove(pop, 8, density=0.8, ghosts=0.5, seed=5)
    c = make_groove(pop, 8, density=0.8, ghosts=0.5, seed=6)
    assert np.array_equal(a.hits, b.hits) and not np.array_equal(a.hits, c.hits)


@pytest.mark.parametrize("bad", ["5", "7/16", "13/8", "x/4"])
def test_bad_meter_says_what_is_allowed(bad):
    with pytest.raises(GrooveError, match="--meter"):
        parse_meter(bad)


def test_chorale_has_no_drums_to_groove():
    with pytest.raises(GrooveError, match="no drums"):
        make_groove(open_style("chorale"), 4)


def test_writes_midi_on_channel_10_wav_png_and_refuses_to_overwrite(tmp_path):
    r = run_groove("funk", 2, tmp_path, meter="7/8", poly="3:7", progress=None)
    mid = mido.MidiFile(r["mid"])
    chans = {m.channel for tr in mid.tracks for m in tr if m.type == "note_on"}
    assert chans == {9}
    sig = [m for m in mid.tracks[0] if m.type == "time_signature"][0]
    assert (sig.numerator, sig.denominator) == (7, 8)
    assert r["ratio"] > 1.0
    for k in ("wav", "png"):
        assert (tmp_path / r[k].split("/")[-1]).stat().st_size > 1000
    # the kit is heard (a mixer Python dropped once rendered silence) and does not clip
    from live.studio.audiofile import read_wav

    peak = float(np.abs(read_wav(tmp_path / r["wav"].split("/")[-1]).data).max())
    assert 0.05 < peak < 1.0, peak
    from live.errors import OutputExistsError

    with pytest.raises(OutputExistsError):
        run_groove("funk", 2, tmp_path, meter="7/8", progress=None)
