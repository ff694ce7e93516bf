"""``sideman sketch "calm lo-fi piano for a podcast intro, 30 seconds, 80 bpm"``: a short
text prompt to a mastered background track.

The prompt is read with a small keyword grammar (:func:`parse_prompt`):

- tempo: ``80 bpm``, ``tempo 80``, or ``slow`` / ``medium`` / ``fast`` / ``upbeat``;
- length: ``30 seconds`` (``30 s``, ``30 sec``), ``2 minutes`` (``2 min``), ``1:30``,
  ``16 bars``;
- mood: calm, dark, bright, tense and their usual synonyms (chill, sad, happy, suspense...);
- style: a band style's name (``sideman styles``) or a common alias (``lo-fi`` is the
  ballad, ``jazz`` swing, ``bossa`` bossa-nova...);
- instruments: piano, electric piano / rhodes / keys, organ, strings, pad / synth, and
  ``no drums``;
- key: ``in D``, ``in F# minor``, ``key of Bb``, ``A minor``.

It prints what it understood, and each word it did not. ``--tempo``, ``--style``,
``--instruments``, ``--key``, ``--seconds`` override the prompt.

The track has a form: the style's intro, main A, a fill, main B, the ending (``--loop``:
main A, fill, main B and no ending; the reverb tail is folded back onto the start so the
end runs seamlessly into the beginning, and the loop points go in the JSON report). The
chords are a progression suited to the mood, one per bar, in the key; the style's band
plays them through the live engine (live/chart.py's ``ChartAccompanist`` on pyo's
offline server, as ``sideman render`` does), and the result is mastered to -16 LUFS with
a -1 dBTP ceiling (live/studio/master.py).

Writes DIR/<name>.wav, .mid (a track per band part), .png (piano roll) and .json (what
was understood, the form, the loudness).

Threading model: control thread; the engine runs inline on pyo's offline server.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


from live.errors import SidemanError
from live.studio.common import check_free, say

TARGET_LUFS = -16.0
MOODS = {
    "calm": ("calm", "chill", "relaxed", "relaxing", "peaceful", "gentle", "soft", "mellow", "laid-back", "cozy",
             "warm", "quiet", "lazy", "dreamy"),
    "dark": ("dark", "sad", "moody", "melancholic", "melancholy", "sombre", "somber", "gloomy", "mysterious"),
    "bright": ("bright", "happy", "uplifting", "cheerful", "sunny", "joyful", "positive", "fun", "upbeat"),
    "tense": ("tense", "suspense", "suspenseful", "dramatic", "anxious", "urgent", "thriller", "epic"),
}
STYLE_ALIASES = {"lo-fi": "ballad", "lofi": "ballad", "jazz": "swing", "jazzy": "swing", "bossa": "bossa-nova",
                 "waltz": "jazz-waltz", "hymn": "chorale", "church": "chorale", "acoustic": "folk",
                 "latin": "bossa-nova", "blues": "swing", "soul": "funk", "disco": "funk", "chillout": "ambient"}
TEMPO_WORDS = {"slow": 72.0, "medium": 100.0, "mid-tempo": 100.0, "fast": 132.0, "upbeat": 120.0,
               "energetic": 128.0, "driving": 126.0}
#: prompt word -> (band part, instrument, GM program 0-based)
INSTRUMENT_WORDS = {"piano": ("comp", "piano", 0), "keys": ("comp", "epiano", 4), "rhodes": ("comp", "epiano", 4),
                    "epiano": ("comp", "epiano", 4), "organ": ("pad", "organ", 16), "strings": ("pad", "strings", 48),
                    "pad": ("pad", "pad", 89), "pads": ("pad", "pad", 89), "synth": ("pad", "pad", 90),
                    "bass": ("bass", "bass", 33), "drums": ("drums", "kit", -1)}
UNAVAILABLE = {"guitar": "guitar", "guitars": "guitar", "violin": "violin", "sax": "saxophone",
               "saxophone": "saxophone", "trumpet": "trumpet", "flute": "flute", "vocals": "vocals",
               "voice": "vocals", "choir": "choir", "cello": "cello"}
FILLER = set("""a an the for with and of in on at to my our your some very really little bit just
track music song tune background bed intro outro opener podcast video youtube stream ad advert commercial
game trailer vibe vibes feel feeling style piece loop beat beats long short key tempo bpm make me please that
is it something like sounding sound instrumental minimal simple light nice""".split())
NOTE_PC = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6, "G": 7,
           "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}
NOTE_NAME = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: one chord per bar: (semitones above the tonic, quality)
PROGRESSIONS = {
    ("calm", 0): ((0, "maj7"), (9, "min7"), (5, "maj7"), (7, "sus4")),
    ("calm", 1): ((0, "min7"), (8, "maj7"), (3, "maj7"), (5, "min7")),
    ("bright", 0): ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
    ("bright", 1): ((0, "min"), (10, "maj"), (8, "maj"), (10, "maj")),
    ("dark", 0): ((0, "maj"), (8, "maj"), (5, "min"), (0, "maj")),
    ("dark", 1): ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),
    ("tense", 0): ((0, "maj"), (1, "maj"), (8, "aug"), (7, "7")),
    ("tense", 1): ((0, "min"), (1, "maj"), (8, "maj"), (7, "7")),
}
MOOD_STYLE = {"calm": "ballad", "dark": "ambient", "bright": "pop", "tense": "rock"}
MOOD_MODE = {"calm": 0, "bright": 0, "dark": 1, "tense": 1}
MAX_SECONDS = 600.0


class PromptError(SidemanError, ValueError):
    """The prompt (or an override) asks for something out of range."""


@dataclass
class Brief:
    """What a prompt asked for; None: not said (a default applies)."""

    prompt: str
    tempo: float | None = None
    seconds: float | None = None
    bars: int | None = None
    mood: str | None = None
    style: str | None = None
    key: tuple[int, int] | None = None  # (tonic pc, 0 major / 1 minor)
    instruments: dict[str, tuple[str, int]] = field(default_factory=dict)  # part -> (instrument, program)
    drums: bool = True
    understood: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)


def parse_prompt(prompt: str, style_names: list[str] | None = None) -> Brief:
    """Read tempo, length, mood, style, instruments and key from a prompt."""
    if style_names is None:
        from live.styles import style_names as names

        style_names = names()
    b = Brief(prompt)
    text = " " + prompt.strip() + " "

    def take(pattern: str, what) -> None:
        nonlocal text
        m = re.search(pattern, text, flags=re.I)
        if m:
            what(m)
            text = text[:m.start()] + " " + text[m.end():]

    def tempo(m):
        b.tempo = float(m.group(1))
        b.understood.append(f"tempo {b.tempo:g} bpm")

    take(r"\b(\d{2,3}(?:\.\d+)?)\s*bpm\b", tempo)
    take(r"\btempo\s+(\d{2,3}(?:\.\d+)?)\b", tempo)

    def clock(m):
        b.seconds = int(m.group(1)) * 60.0 + int(m.group(2))
        b.understood.append(f"length {b.seconds:g} s")

    def length(m):
        v, unit = float(m.group(1)), m.group(2).lower()
        if unit.startswith("bar"):
            b.bars = int(round(v))
            b.understood.append(f"length {b.bars} bars")
        else:
            b.seconds = v * (60.0 if unit.startswith("m") else 1.0)
            b.understood.append(f"length {b.seconds:g} s")

    take(r"\b(\d{1,2}):([0-5]\d)\b", clock)
    take(r"\b(\d+(?:\.\d+)?)[\s-]*(seconds?|secs?|s|minutes?|mins?|m|bars?)\b", length)

    def key(m):
        name = m.group(1)[0].upper() + m.group(1)[1:]
        mode = m.group(2)
        b.key = (NOTE_PC[name], 1 if mode and mode.lower() in ("minor", "min", "m") else 0)
        b.understood.append(f"key {NOTE_NAME[b.key[0]]} {'minor' if b.key[1] else 'major'}")

    note = r"([A-Ga-g][#b]?)"
    take(rf"\b(?:in|key of|key)\s+{note}(?:\s*(major|minor|maj|min|m))?(?![\w#-])", key)
    take(rf"(?<![\w-]){note}\s*(major|minor)\b", key)
    take(r"\b(?:no|without)\s+(drums|percussion)\b", lambda m: (setattr(b, "drums", False),
                                                                 b.understood.append("no drums")))
    take(r"\b(electric piano|e-piano)\b", lambda m: _instrument(b, "epiano", m.group(1)))
    take(r"\b(grand piano)\b", lambda m: _instrument(b, "piano", m.group(1)))
    for word in re.findall(r"[A-Za-z][A-Za-z#'-]*|\d+(?:\.\d+)?", text):
        w = word.lower().strip("'-")
        if w in style_names or w in STYLE_ALIASES:
            st = w if w in style_names else STYLE_ALIASES[w]
            if b.style is None:
                b.style = st
                b.understood.append(f"style {st}" + (f" (for '{w}')" if st != w else ""))
            continue
        mood = next((m for m, words in MOODS.items() if w in words), None)
        if mood is not None:
            if b.mood is None:
                b.mood = mood
                b.understood.append(f"mood {mood}" + (f" (for '{w}')" if mood != w else ""))
            if w in TEMPO_WORDS and b.tempo is None:
                b.tempo = TEMPO_WORDS[w]
            continue
        if w in TEMPO_WORDS:
            if b.tempo is None:
                b.tempo = TEMPO_WORDS[w]
                b.understood.append(f"tempo {b.tempo:g} bpm (for '{w}')")
            continue
        if w in INSTRUMENT_WORDS:
            _instrument(b, w, w)
            continue
        if w in UNAVAILABLE:
            b.unavailable.append(UNAVAILABLE[w])
            continue
        if w in FILLER:
            continue
        b.unknown.append(word)
    return b


def _instrument(b: Brief, word: str, said: str) -> None:
    part, inst, program = INSTRUMENT_WORDS.get(word, INSTRUMENT_WORDS.get(said, ("comp", word, 4)))
    if part == "drums":
        b.understood.append("drums")
        return
    if part not in b.instruments:
        b.instruments[part] = (inst, program)
        b.understood.append(f"{said} ({part})")


def chart_for(mood: str, key: tuple[int, int], bars: int, meter: int, loop: bool):
    """(first slot, Chord) per bar: the mood's progression in the key; the last bar home
    (a loop's last bar leads back to the first chord instead)."""
    from kernels import QUALITIES
    from live.accompanist import SLOTS_PER_BEAT, Chord

    prog = PROGRESSIONS[(mood, key[1])]
    chart = []
    for bar in range(bars):
        off, q = prog[bar % len(prog)]
        if bar == bars - 1 and not loop and bars > 1:
            off, q = prog[0]
        if bar == bars - 1 and loop and bars % len(prog):
            off, q = (7, "7") if key[1] == 0 or mood == "tense" else (7, "maj")
        chart.append((bar * meter * SLOTS_PER_BEAT, Chord((key[0] + off) % 12, QUALITIES.index(q))))
    return chart


def sketch(prompt: str, out_dir: str | Path, *, name: str | None = None, tempo: float | None = None,
           seconds: float | None = None, style: str | None = None, instruments: str | None = None,
           key: str | None = None, loop: bool = False, seed: int = 0, force: bool = False,
           progress=print) -> dict:
    """Render the prompt's track; returns the report (also written as JSON).

    Raises:
        PromptError: a tempo, length or key out of range. StyleError: unknown style.
        OutputExistsError: an output exists and ``force`` is False. DeviceError: pyo.
    """
    from live.atomicfile import check_out_dir, write_text
    from live.render import demo_plan
    from live.styles import open_style, style_names

    t0 = time.perf_counter()
    b = parse_prompt(prompt, style_names())
    if tempo is not None:
        b.tempo = tempo
    if seconds is not None:
        b.seconds, b.bars = seconds, None
    if style is not None:
        b.style = style
    if key is not None:
        k = parse_prompt(f"in {key}", [])
        if k.key is None:
            raise PromptError(f"--key: expected a key such as D, F# minor or Bb major, got {key!r}")
        b.key = k.key
    if instruments is not None:
        b.instruments = {}
        for word in re.split(r"[,\s]+", instruments.strip()):
            if word.lower() not in INSTRUMENT_WORDS:
                raise PromptError(f"--instruments: unknown instrument {word!r} (known: {', '.join(INSTRUMENT_WORDS)})")
            _instrument(b, word.lower(), word.lower())
    mood = b.mood or "calm"
    st = open_style(b.style or MOOD_STYLE[mood])
    bpm = float(b.tempo if b.tempo is not None else st.tempo)
    if not 30 <= bpm <= 300:
        raise PromptError(f"tempo must be 30..300 bpm, got {bpm:g}")
    bar_s = st.meter * 60.0 / bpm
    want_s = b.seconds if b.seconds is not None else (b.bars * bar_s if b.bars else 30.0)
    if not bar_s <= want_s <= MAX_SECONDS:
        raise PromptError(f"length must be one bar ({bar_s:.1f} s) to {MAX_SECONDS:g} s, got {want_s:g} s")
    bars = max(1, int(round(want_s / bar_s))) if not b.bars or b.seconds is not None else b.bars
    kk = b.key or ((0, 0) if MOOD_MODE[mood] == 0 else (9, 1))
    say(progress, f"understood: {'; '.join(b.understood) or 'nothing specific'}")
    if b.unknown:
        say(progress, f"did not understand: {', '.join(repr(w) for w in b.unknown)} (ignored)")
    if b.unavailable:
        say(progress, f"no such sound here: {', '.join(sorted(set(b.unavailable)))} (the style's own parts play)")
    plan = demo_plan(st, bars)
    if loop:
        plan = [(s, n) for s, n in plan if s not in ("intro", "ending")]
        short = bars - sum(n for _, n in plan)
        plan = [(s, n + short if s == "main_b" or (s == "main_a" and len(plan) == 1) else n) for s, n in plan]
    plan = [(s, n) for s, n in plan if n > 0] or [("main_a", bars)]
    form = ", ".join(f"{s.replace('_', ' ')} {n}" for s, n in plan)
    say(progress, f"playing: {st.name}, {mood}, {NOTE_NAME[kk[0]]} {'minor' if kk[1] else 'major'}, {bpm:g} bpm, "
                  f"{bars} bars ({bars * bar_s:.1f} s): {form}" + (", looped" if loop else ""))
    base = Path(out_dir) / (name or _slug(prompt))
    wav, mid, png, js = (Path(f"{base}{e}") for e in (".wav", ".mid", ".png", ".json"))
    check_free([wav, mid, png, js], force)
    check_out_dir(base.parent)
    chart = chart_for(mood, kk, bars, st.meter, loop)
    raw = base.parent / f".{base.name}.raw.wav"
    try:
        start, music_s = _render(st, bpm, chart, plan, b, raw, mid, png, seed, progress,
                                 title=f"sketch: {prompt[:60]}")
        from live.studio.audiofile import read_wav

        x = read_wav(raw).data
    finally:
        if raw.exists():
            raw.unlink()
    from live.studio.audiofile import write_wav
    from live.studio.master import master_audio

    x = x[start:]
    n = int(round(music_s * 48000))
    loop_points = None
    if loop:  # fold the tail onto the start: the end runs into the beginning
        body, tail = x[:n].copy(), x[n:]
        body[: min(len(tail), n)] += tail[: n]
        x = body
        loop_points = {"start_s": 0.0, "end_s": round(n / 48000, 4), "start_frame": 0, "end_frame": n}
    y, report = master_audio(x, 48000, TARGET_LUFS, seed=seed, source="the rendered band", progress=progress)
    write_wav(wav, y, 48000, 24)
    wall = time.perf_counter() - t0
    report.update(prompt=prompt, understood=b.understood, unknown=b.unknown, unavailable=b.unavailable,
                  style=st.name, mood=mood, key=f"{NOTE_NAME[kk[0]]} {'minor' if kk[1] else 'major'}",
                  tempo=bpm, meter=st.meter, bars=bars, music_s=round(music_s, 3), form=plan, loop=loop_points,
                  instruments={p: i for p, (i, _g) in b.instruments.items()}, drums=b.drums,
                  output=str(wav), wall_s=round(wall, 2), speed=round(len(y) / 48000 / wall, 1), brief=asdict(b))
    write_text(js, json.dumps(report, indent=1, default=lambda v: None))
    a = report["after"]
    say(progress, f"-> {wav}, {mid.name}, {png.name}, {js.name} ({len(y) / 48000:.1f} s in {wall:.1f} s, "
                  f"{report['speed']:g}x real time; {a['integrated_lufs']:.1f} LUFS, "
                  f"true peak {a['true_peak_dbtp']:.1f} dBTP)")
    return report


def _slug(prompt: str) -> str:
    words = re.findall(r"[a-z0-9]+", prompt.lower())[:5]
    return "sketch-" + "-".join(words) if words else "sketch"


def _render(st, bpm, chart, plan, b: Brief, wav: Path, mid: Path, png: Path, seed: int, progress, title: str):
    """The style's band plays the chart through the live engine offline; returns (the
    first downbeat's frame in ``wav``, seconds of music)."""
    from live.render import BLOCK, RENDER_BAND, SR, play_chart
    from live.rig import load_rig_text
    from live.session import save_take

    lines = []
    for pname, role, vol in RENDER_BAND:
        on = st.plays(role) and (b.drums or role != "drums")
        extra = ""
        if role in b.instruments:
            inst, program = b.instruments[role]
            extra = f", instrument: {inst}, program: {program + 1}"
            on = True
        lines.append(f"  {pname}: {{role: {role}, volume: {vol}, enabled: {'true' if on else 'false'}{extra}}}\n")
    text = (f"name: sketch\nmode: chords\nstyle: {st.name}\ntempo: {bpm:g}\nsync_start: false\n"
            f"accompanist: rules\ninput: {{thru: false}}\naudio: {{backend: offline, sample_rate: {SR}, "
            f"buffer: {BLOCK}}}\nband:\n{''.join(lines)}")
    rig = load_rig_text(text, source="<sketch>")
    music_s = sum(n for _, n in plan) * rig.meter * 60.0 / bpm
    engine = play_chart(rig, chart, plan, wav, music_s=music_s, seed=seed, progress=lambda m: say(progress, m))
    start = engine.planner.transport.frame_at(0)
    save_take(engine, mid, png, title=title, musician=False, start_frame=start)
    return int(start), music_s


def cmd_sketch(args) -> int:
    sketch(args.prompt, args.out, name=args.name, tempo=args.tempo, seconds=args.seconds, style=args.style,
           instruments=args.instruments, key=args.key, loop=args.loop, seed=args.seed, force=args.force)
    return 0


def register(sub) -> None:
    p = sub.add_parser("sketch", help='a mastered background track from a prompt: "calm lo-fi piano, 30 s, 80 bpm"')
    p.add_argument("prompt", help="tempo, length, mood, style, instruments and key in words")
    p.add_argument("--tempo", type=float, help="beats per minute (overrides the prompt)")
    p.add_argument("--seconds", type=float, help="length in seconds (overrides the prompt)")
    p.add_argument("--style", help="a band style (overrides the prompt; see `sideman styles`)")
    p.add_argument("--instruments", help="e.g. piano,strings (overrides the prompt)")
    p.add_argument("--key", help="e.g. D, F# minor (overrides the prompt)")
    p.add_argument("--loop", action="store_true", help="no intro or ending; the end runs into the start")
    p.add_argument("--name", help="file name without extension (default: from the prompt)")
    p.add_argument("--out", default=".", help="folder for the outputs (default: here)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--seed", type=int, default=0, help="seed for the band's humanising (default 0)")
    p.set_defaults(func=cmd_sketch)
