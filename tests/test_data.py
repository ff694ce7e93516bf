"""Training-data pipeline (live.train.data) on real corpus files and tiny hand-made ones.

Needs ../shared/data (pop909, nottingham) beside the repository and music21; skipped with the
reason otherwise. Builds one small dataset (--limit 3 per source) for the module.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("music21", reason="music21 is not installed (pip install music21); the data tests need it")
pytest.importorskip("mido", reason="mido is not installed")

from kernels.chords import QUALITIES, chord_symbol  # noqa: E402
from live.errors import InputFileError  # noqa: E402
from live.train import data as D  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "pop909").is_dir() or not (DATA / "nottingham").is_dir(),
                                reason=f"corpus folder {DATA} (pop909, nottingham) not found")
Q = {name: i for i, name in enumerate(QUALITIES)}
C, Db, D_, Eb, E, F, Gb, G, Ab, A, Bb, B = range(12)


def cls(root: int, quality: str) -> int:
    return root * 13 + Q[quality]


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    if not (DATA / "pop909").is_dir():
        pytest.skip(f"corpus folder {DATA} not found")
    out = tmp_path_factory.mktemp("ds") / "small.npz"
    msgs: list[str] = []
    D.build_dataset(["pop909", "nottingham", "bach"], out, DATA, limit=3, progress=msgs.append)
    return D.load_dataset(out)


# ------------------------------------------------------------------ chord labels

@pytest.mark.parametrize("label, chord, bass", [
    ("C:min7", cls(C, "min7"), C),
    ("Bb:maj/3", cls(Bb, "maj"), D_),
    ("A:min/b3", cls(A, "min"), C),
    ("F#:maj7/5", cls(Gb, "maj7"), Db),
    ("G:7/b7", cls(G, "7"), F),
    ("C:sus4(b7)", cls(C, "sus4"), C),
    ("C:maj6", cls(C, "6"), C),
    ("C:min(9)", cls(C, "min"), C),
    ("C:7(#9)", cls(C, "7"), C),
    ("C:9", cls(C, "7"), C),
    ("C:min9", cls(C, "min7"), C),
    ("C:maj9", cls(C, "maj7"), C),
    ("E:minmaj7", cls(E, "min"), E),
    ("C:aug", cls(C, "aug"), C),
    ("C:dim", cls(C, "dim"), C),
    ("C:dim7", cls(C, "dim7"), C),
    ("B:hdim7", cls(B, "m7b5"), B),
    ("Db:sus2", cls(Db, "sus2"), Db),
    ("D", cls(D_, "maj"), D_),
    ("N", 156, -1),
    ("X", 156, -1),
])
def test_harte_labels(label, chord, bass):
    assert D.harte_chord(label) == (chord, bass)


def test_harte_unknown_label_names_it():
    with pytest.raises(ValueError, match="C:weird"):
        D.harte_chord("C:weird")


@pytest.mark.parametrize("text, chord, bass", [
    ("A7", cls(A, "7"), A),
    ("D/f+", cls(D_, "maj"), Gb),     # D over F#
    ("Gd", cls(G, "dim"), G),         # G diminished
    ("Gm/bb", cls(G, "min"), Bb),     # Gm over Bb
    ("Bbd", cls(Bb, "dim"), Bb),
    ("D#d", cls(Eb, "dim"), Eb),
    ("Ea", cls(E, "aug"), E),
    ("Fa7", cls(F, "aug"), F),
    ("E7b9", cls(E, "7"), E),
    ("(E7)", cls(E, "7"), E),
    ("D m", cls(D_, "min"), D_),
    ("Bb", cls(Bb, "maj"), Bb),
    ("Em/c+", cls(E, "min"), Db),
    ("C6", cls(C, "6"), C),
    ("Dm6", cls(D_, "min6"), D_),
])
def test_nottingham_chord_spellings(text, chord, bass):
    assert D.lead_sheet_chord(text) == (chord, bass)


@pytest.mark.parametrize("text", [" ", "", "From A.Train's song"])
def test_non_chord_text_is_ignored(text):
    assert D.lead_sheet_chord(text) is None


# ------------------------------------------------------------------ pop909

@needs_data
def test_pop909_grid_and_chords_match_files(ds):
    p = ds.by_id("pop909/001")
    beats = np.loadtxt(DATA / "pop909/001/beat_midi.txt")
    # Rows are MIDI quarters (row spacing == the tempo map's quarter); two eighth steps per row.
    assert len(p) == 2 * len(beats)
    assert p.steps_per_bar == 8
    rows = {round(t, 3): i for i, t in enumerate(beats[:, 0])}
    checked = 0
    for line in (DATA / "pop909/001/chord_midi.txt").read_text().splitlines():
        start, end, label = line.split("\t")
        i = rows.get(round(float(start), 3))
        if i is None:
            continue
        expect, _ = D.harte_chord(label)
        # the chord holds from its start to the step before its end
        j_end = rows.get(round(float(end), 3), len(beats))
        assert (p.chord[2 * i: 2 * j_end] == expect).all(), (start, label)
        checked += 1
    assert checked > 50
    # known spans: "2.721993 4.055323 B:maj" (row 4), "14.055298 14.721963 F#:maj7/5" (row 21)
    assert p.chord[8] == cls(B, "maj") and p.chord[7] == 156
    i = rows[round(14.055298, 3)]
    assert p.chord[2 * i] == cls(Gb, "maj7")


@needs_data
def test_pop909_pos_follows_downbeats(ds):
    for pid in ("pop909/001", "pop909/003", "pop909/005"):
        p = ds.by_id(pid)
        beats = np.loadtxt(DATA / pid / "beat_midi.txt")
        downs = np.flatnonzero(beats[:, 2] == 1)
        assert (p.pos[2 * downs] == 0).all()
        first = 2 * downs[0]
        # pickup before the first downbeat counts up into it
        assert list(p.pos[:first]) == list(range(p.steps_per_bar - first, p.steps_per_bar))


@needs_data
def test_pop909_melody_matches_midi(ds):
    import mido
    p = ds.by_id("pop909/001")
    mf = mido.MidiFile(DATA / "pop909/001/001.mid")
    mel = next(v for v in D._midi_notes(mf) if v["name"] == "MELODY")
    onsets = np.flatnonzero(p.mel_on)
    assert len(onsets) > 100
    # the first melody note: its pitch class and MIDI number at its onset step
    t0 = onsets[0]
    assert p.mel_pitch[t0] == mel["pitch"][0] and p.mel[t0] == mel["pitch"][0] % 12
    assert (p.mel[p.mel_pitch >= 0] == p.mel_pitch[p.mel_pitch >= 0] % 12).all()
    assert (p.mel[p.mel_pitch < 0] == -1).all()


# ------------------------------------------------------------------ nottingham

@needs_data
def test_nottingham_tune_steps(ds):
    # ashover.abc X:1, M:3/4 L:1/4:  e|:"G"d2B|"D"A3/2B/2c|"G"B2G|...
    p = ds.by_id("nottingham/ashover.abc#1")
    assert p.steps_per_bar == 6 and (p.key_tonic, p.key_mode) == (G, 0)
    expect_mel = [E, E, D_, D_, D_, D_, B, B, A, A, A, B, C, C, B]
    assert list(p.mel[:15]) == expect_mel
    assert list(p.mel_on[:15]) == [1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1]
    assert list(p.pos[:8]) == [4, 5, 0, 1, 2, 3, 4, 5]  # one-beat pickup
    assert p.chord[0] == 156 and p.chord[2] == cls(G, "maj") and p.chord[8] == cls(D_, "maj")
    assert p.bass[2] == G and p.bass[8] == D_


TUNE = """X: 7
T:Test Tune
M:4/4
L:1/8
K:G
d2|"G"B2 d2 "D/f+"A2 F2|"Gd"G4 "Gm/bb"B3 A|"A7"c2 e2 "(E7)"g4|"G"G8|]
"""


def _write_midi(path: Path):
    import mido
    mf = mido.MidiFile(ticks_per_beat=480)
    meta = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0)])
    mel = mido.MidiTrack([mido.MetaMessage("track_name", name="Lead", time=0)])
    for pitch in (72, 74, 76, 77, 79, 81):  # C D E F G A, quarters
        mel += [mido.Message("note_on", note=pitch, velocity=90, time=0),
                mido.Message("note_off", note=pitch, velocity=0, time=480)]
    acc = mido.MidiTrack([mido.MetaMessage("track_name", name="Piano", time=0)])
    for chord in ((48, 52, 55), (41, 57, 60)):  # C major, then F major over F2: dotted halves
        acc += [mido.Message("note_on", note=n, velocity=70, time=0) for n in chord]
        acc += [mido.Message("note_off", note=n, velocity=0, time=1440 if i == 0 else 0)
                for i, n in enumerate(chord)]
    mf.tracks += [meta, mel, acc]
    mf.save(path)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "tune.abc").write_text(TUNE)
    _write_midi(tmp_path / "song.mid")
    (tmp_path / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (tmp_path / "empty.abc").write_text("")
    (tmp_path / "notes.txt").write_text("not music, ignored")
    return tmp_path


def test_folder_abc_tune_quirky_chords_pickup_and_melody(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pieces, _ = D.load_folder(folder)
    p = next(p for p in pieces if p.piece_id.endswith("tune.abc#7"))
    assert p.steps_per_bar == 8 and p.has_chords
    assert list(p.pos[:4]) == [6, 7, 0, 1]          # quarter-note pickup
    assert (np.flatnonzero(p.pos == 0) == [2, 10, 18, 26]).all()  # pos resets at each barline
    assert list(p.mel[:12]) == [D_, D_, B, B, D_, D_, A, A, Gb, Gb, G, G]
    assert p.chord[0] == 156
    assert (p.chord[2], p.bass[2]) == (cls(G, "maj"), G)
    assert (p.chord[6], p.bass[6]) == (cls(D_, "maj"), Gb)    # "D/f+"
    assert (p.chord[10], p.bass[10]) == (cls(G, "dim"), G)    # "Gd"
    assert (p.chord[14], p.bass[14]) == (cls(G, "min"), Bb)   # "Gm/bb"
    assert (p.chord[18], p.bass[18]) == (cls(A, "7"), A)      # "A7"
    assert p.chord[22] == cls(E, "7")                         # "(E7)"
    assert p.mel_on[14] == 1 and p.mel_on[16] == 0 and p.mel[16] == B  # B3: held dotted quarter


def test_folder_midi_and_corrupt_files_skipped_and_counted(folder):
    with pytest.warns(UserWarning) as rec:
        pieces, stats = D.load_folder(folder)
    text = " ".join(str(w.message) for w in rec)
    assert "broken.mid" in text and "empty.abc" in text
    assert stats["unreadable"] == 2
    assert len(pieces) == 2
    p = next(p for p in pieces if p.piece_id.endswith("song.mid"))
    assert p.steps_per_bar == 6 and len(p) == 12
    assert list(p.mel) == [C, C, D_, D_, E, E, F, F, G, G, A, A]
    assert list(p.mel_pitch[::2]) == [72, 74, 76, 77, 79, 81]
    assert list(p.mel_on) == [1, 0] * 6
    assert list(p.pos) == list(range(6)) * 2
    assert (p.chord[:6] == cls(C, "maj")).all() and (p.chord[6:] == cls(F, "maj")).all()
    assert list(p.bass[[0, 6]]) == [C, F]


def test_folder_with_nothing_usable_raises_naming_it(tmp_path):
    (tmp_path / "junk.mid").write_bytes(b"")
    with pytest.warns(UserWarning, match="junk.mid"), pytest.raises(InputFileError, match=str(tmp_path)):
        D.load_folder(tmp_path)
    with pytest.raises(InputFileError, match="not a folder"):
        D.load_folder(tmp_path / "missing")


# ------------------------------------------------------------------ bach

def test_bach_chorale(ds):
    from music21 import corpus
    p = ds.by_id("bach/bwv269")
    score = corpus.parse("bach/bwv269")
    sop = next(pt for pt in score.parts if "soprano" in (pt.partName or "").lower())
    first = sop.flatten().notes[0]
    assert p.mel_pitch[0] == first.pitch.midi and p.mel_on[0] == 1
    assert p.steps_per_bar == 6 and list(p.pos[:3]) == [4, 5, 0]  # quarter pickup in 3/4
    assert (p.key_tonic, p.key_mode) == (G, 0)
    assert p.chord[0] == cls(G, "maj") and p.bass[0] == G
    assert (p.chord != 156).all()


# ------------------------------------------------------------------ dataset, splits, cache

def test_split_rule():
    for pid in ("pop909/001", "nottingham/jigs.abc#12", "bach/bwv269"):
        h = int(hashlib.md5(pid.encode()).hexdigest(), 16) % 20
        assert D.split_of(pid) == ("train" if h < 16 else "val" if h < 18 else "test")
    got = [D.split_of(f"x/{i}") for i in range(2000)]
    assert 0.75 < got.count("train") / 2000 < 0.85 and got.count("val") > 100 and got.count("test") > 100


@needs_data
def test_dataset_splits_by_piece_and_arrays_consistent(ds):
    assert len(ds) >= 7
    ids = ds.arrays["piece_id"].tolist()
    assert len(set(ids)) == len(ids)
    seen: dict[str, str] = {}
    for name in D.SPLITS:
        for p in ds.split(name):
            assert p.piece_id not in seen
            seen[p.piece_id] = name
            assert D.split_of(p.piece_id) == name
    assert set(seen) == set(ids)
    for p in ds:
        T = len(p)
        assert all(len(p.steps[k]) == T for k in D.STEP_KEYS)
        assert ((0 <= p.pos) & (p.pos < p.steps_per_bar)).all()
        assert ((p.chord >= 0) & (p.chord <= 156)).all()
        assert ((p.mel >= -1) & (p.mel < 12)).all() and ((p.bass >= -1) & (p.bass < 12)).all()
        # pos counts up by one step, resetting to 0 at barlines
        nxt = (p.pos[:-1] + 1) % p.steps_per_bar
        assert (p.pos[1:] == nxt).mean() > 0.95
    c = D.counts(ds)
    assert set(c) == {"pop909", "nottingham", "bach"}
    assert c["pop909"]["pieces"] == 3 and c["bach"]["pieces"] == 3
    assert all(r["train"] + r["val"] + r["test"] == r["pieces"] for r in c.values())
    assert "total" in D.format_counts(c)


@needs_data
def test_cache_skips_rebuild_when_sources_and_limit_match(tmp_path):
    out = tmp_path / "d.npz"
    D.build_dataset(["pop909"], out, DATA, limit=1, progress=None)
    mtime = out.stat().st_mtime_ns
    msgs: list[str] = []
    D.build_dataset(["pop909"], out, DATA, limit=1, progress=msgs.append)
    assert out.stat().st_mtime_ns == mtime and "up to date" in msgs[0]
    D.build_dataset(["pop909"], out, DATA, limit=2, progress=None)
    assert len(D.load_dataset(out)) == 2
    assert not list(tmp_path.glob("*.tmp*"))


def test_music21s_lead_sheets_give_their_chord_symbols(tmp_path):
    """The ``leadsheets`` source: music21's two bundled lead sheets, melody and chords from
    the sheet (both open in F: Foster's I-IV-I, Berlin's I-V7)."""
    out = D.build_dataset(["leadsheets"], tmp_path / "lead.npz", progress=None)
    ds = D.load_dataset(out)
    pieces = {p.piece_id: p for sp in ("train", "val", "test") for p in ds.split(sp)}
    assert set(pieces) == {"leadsheets/fosterBrownHair.mxl", "leadsheets/berlinAlexandersRagtime.mxl"}
    for pid, want in (("leadsheets/fosterBrownHair.mxl", ["F", "Bb"]),
                      ("leadsheets/berlinAlexandersRagtime.mxl", ["F", "C7"])):
        p = pieces[pid]
        c = np.asarray(p.chord)
        changes = c[np.r_[True, c[1:] != c[:-1]]]
        named = [chord_symbol(int(x) // 13, int(x) % 13, -1) for x in changes if x != D.N_CHORD][:2]
        assert p.has_chords and named == want, (pid, named)
        assert (np.asarray(p.mel) >= 0).mean() > 0.5
    assert D.counts(ds)["leadsheets"]["chord_share"] > 0.9


def test_unknown_source_and_bad_file(tmp_path):
    with pytest.raises(InputFileError, match="unknown source 'spotify'"):
        D.build_dataset(["spotify"], tmp_path / "x.npz", progress=None)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(InputFileError, match="bad.npz"):
        D.load_dataset(bad)


def test_cli_on_a_folder(folder, tmp_path, capsys):
    out = tmp_path / "cli.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert D.main(["--sources", f"folder:{folder}", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "folder" in text and "total" in text and "unreadable" in text


def test_music21_folk_corpora_are_melody_only_folk_tunes(tmp_path):
    """Essen, O'Neill's and Ryan's from music21's own corpus: melodies with meter and bar
    positions, no chords (their quoted texts are annotations, not chord symbols), and the
    folk style token for training."""
    from live.train.train import STYLES, pieces_from_dataset

    out = tmp_path / "folk.npz"
    D.build_dataset(["essen", "oneills", "ryans"], out, DATA, limit=12, progress=None)
    ds = D.load_dataset(out)
    counts = D.counts(ds)
    assert set(counts) == {"essen", "oneills", "ryans"}
    assert all(c["pieces"] >= 5 and c["chord_share"] == 0.0 for c in counts.values()), counts
    assert "no meter" in ds.meta["skipped"]["essen"]  # the corpus's "M: none" tunes
    for p in ds:
        assert not p.has_chords and (p.chord == D.N_CHORD).all()
        assert (p.mel >= 0).mean() > 0.5 and p.mel_on.sum() > 8
        assert p.pos.max() < p.steps_per_bar
        assert p.piece_id.startswith(f"{p.source}/") and "#" in p.piece_id
    styles = {p.style for s in D.SPLITS for p in pieces_from_dataset(ds, s)}
    assert styles == {STYLES.index("nottingham")}


REPEATS = """X: 1
T:Repeat Test
M:4/4
L:1/4
K:C
|:"C"C E G E|"F"F A "G"G B:|
|:"Am"A c "Em"B G|[1"F"F2 "G"G2:|[2"C"C4|]
"""


def test_as_played_expands_repeats_and_endings_with_their_chords(tmp_path):
    """AABB as a musician plays it: bars 1-2 twice, then bar 3 with the first ending,
    bar 3 again with the second; each chord symbol read once and copied with its bar."""
    (tmp_path / "nottingham").mkdir()
    (tmp_path / "nottingham" / "t.abc").write_text(REPEATS)
    written = D.load_dataset(D.build_dataset(["nottingham"], tmp_path / "w.npz", tmp_path, progress=None))
    played_ds = D.load_dataset(D.build_dataset(["nottingham"], tmp_path / "p.npz", tmp_path, progress=None,
                                               as_played=True))
    w, p = written.by_id("nottingham/t.abc#1"), played_ds.by_id("nottingham/t.abc#1")
    assert not written.meta["as_played"] and played_ds.meta["as_played"]
    assert len(w.mel) == 5 * 8 and len(p.mel) == 8 * 8
    bar = [slice(8 * k, 8 * k + 8) for k in range(8)]
    for a, b in ((0, 2), (1, 3), (4, 6)):  # A A, and bar 3 twice
        assert list(p.mel[bar[a]]) == list(p.mel[bar[b]]) and list(p.chord[bar[a]]) == list(p.chord[bar[b]])
    assert list(p.mel[bar[5]]) == list(w.mel[bar[3]]) and list(p.mel[bar[7]]) == list(w.mel[bar[4]])
    assert p.chord[8 * 5] == cls(F, "maj") and p.chord[8 * 5 + 4] == cls(G, "maj")  # first ending
    assert p.chord[8 * 7] == cls(C, "maj") and p.mel[8 * 7] == C  # second ending
    assert list(p.pos) == list(np.arange(64) % 8)
    # the notated order is still the default, and a dataset is rebuilt when the choice changes
    again = D.build_dataset(["nottingham"], tmp_path / "w.npz", tmp_path, progress=None, as_played=True)
    assert D.load_dataset(again).meta["as_played"]


def test_chorale_chords_from_all_voices_or_from_those_under_the_tune(tmp_path):
    """The chorales' reference chords: every slice of the four voices (the default, the
    soprano's note in its chord by construction), or the three voices under the tune; the
    same pieces, melody and bar positions either way, recorded in the dataset, and a
    dataset built one way is rebuilt when asked for the other."""
    from live.evaluate import TONES as tones
    built = {c: D.load_dataset(D.build_dataset(["bach"], tmp_path / f"{c}.npz", limit=3, progress=None,
                                               chorale_chords=c)) for c in ("all-voices", "under-the-tune")}
    whole, under = built["all-voices"], built["under-the-tune"]
    assert whole.meta["chorale_chords"] == "all-voices" and under.meta["chorale_chords"] == "under-the-tune"
    assert whole.arrays["piece_id"].tolist() == under.arrays["piece_id"].tolist()
    share = {}
    for name, ds in built.items():
        hit = total = 0
        for p, q in zip(ds, whole, strict=True):
            assert (p.mel == q.mel).all() and (p.pos == q.pos).all()
            sounding = p.mel >= 0
            hit += int(tones[p.chord[sounding], p.mel[sounding]].sum())
            total += int(sounding.sum())
        share[name] = hit / total
    assert share["all-voices"] > 0.95 and share["under-the-tune"] < share["all-voices"] - 0.03
    changed = sum(int((p.chord != q.chord).sum()) for p, q in zip(under, whole, strict=True))
    assert changed > 0
    again = D.build_dataset(["bach"], tmp_path / "all-voices.npz", limit=3, progress=None,
                            chorale_chords="under-the-tune")
    assert D.load_dataset(again).meta["chorale_chords"] == "under-the-tune"
    with pytest.raises(InputFileError, match="chorale chords must be one of all-voices, under-the-tune, analysis, "
                                             "got 'sop'"):
        D.build_dataset(["bach"], tmp_path / "x.npz", limit=1, progress=None, chorale_chords="sop")


def test_chorale_chords_from_music21s_harmonic_analyses(tmp_path):
    """``analysis``: the chorales music21 has a Roman-numeral analysis of, paired by BWV
    number; the chords are the analyst's (bwv269, "Aus meines Herzens Grunde", opens
    G: I | I IV6 V6 | I V vi in 3/4 with a quarter pickup), the melody and bass the
    score's; an analysis of another edition is skipped and counted."""
    from live.evaluate import TONES as tones

    path = D.build_dataset(["bach"], tmp_path / "a.npz", limit=3, progress=None, chorale_chords="analysis")
    ds = D.load_dataset(path)
    assert ds.meta["chorale_chords"] == "analysis"
    p = ds.by_id("bach/bwv269")
    score = D.load_dataset(D.build_dataset(["bach"], tmp_path / "s.npz", limit=3, progress=None)).by_id("bach/bwv269")
    assert (p.mel == score.mel).all() and (p.bass == score.bass).all() and (p.pos == score.pos).all()
    # eighth steps: the pickup beat, then bars of six
    want = [cls(G, "maj")] * 2 + [cls(G, "maj")] * 2 + [cls(C, "maj")] * 2 + [cls(D_, "maj")] * 2 \
        + [cls(G, "maj")] * 2 + [cls(D_, "maj")] * 2 + [cls(E, "min")] * 2
    assert p.chord[:14].tolist() == want
    sounding = p.mel >= 0
    assert tones[p.chord[sounding], p.mel[sounding]].mean() > 0.95  # an analyst's chords hold the tune too
    assert sum(ds.meta["skipped"]["bach"].values()) + len(ds) <= 3
