"""The ``sideman`` command line. Heavy imports happen inside each command."""

from __future__ import annotations

import argparse
import sys

from live import __version__
from live.errors import SidemanError
from live.train import CHORALE_CHORDS, CHORALE_CHORDS_HELP, DEFAULT_SOURCES


def _progress(msg: str) -> None:
    print(msg, flush=True)


def _number_in(lo: float, hi: float, what: str):
    """An argparse type: a number lo..hi; the message says ``what`` it is."""
    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            x = float("nan")
        if not lo <= x <= hi:
            raise argparse.ArgumentTypeError(f"must be {what.format(f'{lo:g}..{hi:g}')}, got {text!r}")
        return x
    return parse


_bpm = _number_in(30, 300, "a tempo {} (beats per minute)")
_timing_ms = _number_in(0, 50, "a timing spread {} (ms)")


def cmd_devices(args: argparse.Namespace) -> int:
    from live.midi_io import jack_running, jack_setting, list_ports, pick_api
    from live.quiet import quiet_fds
    from live.rig import load_rig, find_rig
    from live.session import pick_backend

    rig = load_rig(find_rig(args.rig))
    jack = jack_running()
    print("Audio")
    if jack:
        print(f"  JACK server: running, {jack_setting('jack_samplerate')} Hz, "
              f"{jack_setting('jack_bufsize')} frames per period")
    else:
        print("  JACK server: not running")
    try:
        with quiet_fds():
            import sounddevice as sd

            apis = sd.query_hostapis()
            devs = sd.query_devices()
        for api in apis:
            print(f"  PortAudio host API: {api['name']}")
            for i in api["devices"]:
                d = devs[i]
                print(f"    [{i}] {d['name']}  (in {d['max_input_channels']}, out {d['max_output_channels']}, "
                      f"{d['default_samplerate']:.0f} Hz)")
    except Exception as exc:  # no PortAudio library: say so, keep going
        print(f"  PortAudio: unavailable ({exc})")
    print("  offline rendering (pyo): always available")
    backend = pick_backend(rig.audio.backend)
    print(f"\nMIDI ({'JACK' if jack else 'system'})")
    api = pick_api(prefer_jack=jack)
    if api is None:
        print("  no MIDI API compiled into python-rtmidi")
        ins, outs = [], []
    else:
        try:
            with quiet_fds():
                ins, outs = list_ports(api)
        except SidemanError as exc:
            print(f"  {exc}")
            ins, outs = [], []
    print("  inputs:  " + (", ".join(ins) if ins else "none"))
    print("  outputs: " + (", ".join(outs) if outs else "none"))
    print(f"\nThe rig '{rig.name}' ({rig.source}) would use:")
    note = "  (no JACK server or sound card: renders to jam.wav)" if backend == "offline" else ""
    print(f"  audio: {backend}{note}")
    if backend == "offline":
        print("  MIDI in: the demo performance (no live MIDI without an audio clock)")
    else:
        port = rig.input.port
        print("  MIDI in: sideman:in (virtual)" + (f" + ports containing {port!r}" if port else ""))
        out = rig.midi_out.port
        print("  MIDI out: sideman:band (virtual)" + (f" + ports containing {out!r}" if out else ""))
    return 0


def cmd_jam(args: argparse.Namespace) -> int:
    from live.rig import find_rig, load_rig
    from live.session import run_jam

    rig = load_rig(find_rig(args.rig), styles=args.styles, chart=args.chart, loop=args.loop, tempo=args.tempo)
    from live.stage import open_stage

    with open_stage(no_view=args.no_view, keys=args.keys, rig=rig, audio=args.audio, print_=_progress) as stage:
        res = run_jam(rig, backend=args.audio or "auto", midi_in=args.midi_in, midi_out=args.midi_out,
                      input_file=args.input, out_dir=args.out, force=args.force,
                      seconds=args.seconds, seed=args.seed, progress=stage.progress, on_ready=stage.attach,
                      take=take_stem(args.part), resumed=args.part > 1)
    s = res.stats
    for m in res.messages:
        print(f"note: {m}")
    print(f"played {res.seconds:.1f} s on {res.backend} in {res.wall_s:.1f} s wall; "
          f"band notes {s['band_notes']}, late events {s['late_events']}, "
          f"input dropped {s['input_dropped']}, callback p99 {s['callback_us_p99']:.0f} us")
    if s.get("decisions"):
        print(f"planner: {s['decisions']} decisions, p50 {s['decide_us_p50']:.0f} us, p99 {s['decide_us_p99']:.0f} us; "
              f"the {s['decide_model_n']} that ran the model p50 {s['decide_model_us_p50']:.0f} us, "
              f"p99 {s['decide_model_us_p99']:.0f} us, max {s['decide_model_us_max']:.0f} us")
    if s.get("heard_late") or s.get("corrections"):
        print(f"corrections: {s.get('heard_late', 0)} chords struck again after a melody note that clashed "
              f"(p50 {s.get('heard_late_lag_ms_p50', 0.0):.1f} ms, max {s.get('heard_late_lag_ms_max', 0.0):.1f} ms "
              f"after the note), {s.get('corrections', 0)} after the musician's chord came just after the beat")
    for p in (res.wav, res.mid, res.png):
        if p is not None:
            print(f"wrote {p}")
    if res.mid is not None:
        from live.takes import write_sidecar

        print(f"wrote {write_sidecar(res, rig)}")
    if res.audio_lost:  # the take up to there is saved; scripts should still know
        print("sideman: the audio server went away during the take", file=sys.stderr)
        left = None if args.seconds is None else args.seconds - res.seconds
        if res.backend == "jack" and args.reconnect > 0 and args.input is None and (left is None or left > 1):
            resume_when_jack_returns(args, left)  # replaces this process when JACK is back
            print(f"sideman: the audio server did not come back within {args.reconnect:g} s", file=sys.stderr)
        print("sideman: start it again (e.g. `jackd -d alsa`) and run `sideman jam` again", file=sys.stderr)
        return 3
    return 0


def take_stem(part: int) -> str:
    """The file stem of a take's part: jam, jam-2, jam-3..."""
    return "jam" if part <= 1 else f"jam-{part}"


def resume_when_jack_returns(args: argparse.Namespace, seconds_left: float | None) -> None:
    """Wait up to ``--reconnect`` seconds for a JACK server, then run this jam again as
    the take's next part, in this process's place (exec: a fresh libjack, pyo server,
    band and MIDI clients; what was saved stays as it is). Returns if JACK stays away.

    A file performance (``--input``) is not resumed: it would start over."""
    import os
    import time
    from pathlib import Path

    from live.midi_io import jack_running

    nxt = args.part + 1
    while not args.force and any(Path(args.out).glob(f"{take_stem(nxt)}.*")):
        nxt += 1  # an older take's part of that name: never overwritten without --force
    print(f"waiting up to {args.reconnect:g} s for the JACK server to come back (Ctrl-C to stop); "
          f"the take goes on as {take_stem(nxt)}.*", flush=True)
    deadline = time.monotonic() + args.reconnect
    while time.monotonic() < deadline:
        if jack_running():
            argv = _without(sys.argv[1:], ("--part", "--seconds"))
            argv += ["--part", str(nxt)]
            if seconds_left is not None:
                argv += ["--seconds", f"{seconds_left:.3f}"]
            print(f"the JACK server is back: resuming as {take_stem(nxt)}", flush=True)
            sys.stderr.flush()
            from live.session import to_helper_priority

            to_helper_priority()  # the new process starts up at it (exec keeps it): a busy computer does not
            # slow the band's return; refused, it starts at normal priority and its jam says why
            os.execv(sys.executable, [sys.executable, "-m", "live.cli", *argv])
        time.sleep(0.05)


def _without(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """``argv`` without the given options and their values (``--x V`` or ``--x=V``)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in options:
            skip = True
            continue
        if any(a.startswith(o + "=") for o in options):
            continue
        out.append(a)
    return out


def cmd_doctor(args: argparse.Namespace) -> int:
    from live.doctor import main as doctor

    return doctor(args.rig)


def cmd_takes(args: argparse.Namespace) -> int:
    from pathlib import Path

    from live.takes import main as takes

    if args.recover:
        from live.session import recover_crashed_take

        found = [recover_crashed_take(j.parent, progress=_progress, stem=j.stem)
                 for j in sorted(Path(args.folder).glob("**/jam*.journal"))]  # jam, and jam-2... (resumed parts)
        if not any(found):
            print(f"no crashed take (jam.journal) under {args.folder}")
    return takes(args.folder, as_json=args.json)


def cmd_rigs(args: argparse.Namespace) -> int:
    from live.rig import builtin_rig_names, find_rig, load_rig

    for name in builtin_rig_names():
        rig = load_rig(find_rig(name))
        parts = ", ".join(p.name for p in rig.band if p.enabled)
        print(f"{name:<10} {rig.mode:<6} {rig.style:<10} {rig.tempo:>5g} bpm  band: {parts}")
    return 0


def cmd_rig_new(args: argparse.Namespace) -> int:
    from live.rignew import run

    run(args.file, force=args.force, defaults=args.defaults)
    return 0


def cmd_rig_docs(args: argparse.Namespace) -> int:
    from live.rignew import run_docs

    return run_docs(args.out, check=args.check)


def cmd_rig_learn(args: argparse.Namespace) -> int:
    from live.riglearn import run

    run(args.rig, midi_in=args.midi_in, out=args.out, actions=args.actions, force=args.force, say=_progress)
    return 0


def cmd_charts(args: argparse.Namespace) -> int:
    from live.chart import builtin_chart_names, charts_dir, load_chart

    for name in builtin_chart_names():
        path = charts_dir() / f"{name}.yaml"
        c = load_chart(path)
        where = f"  ({path})" if args.paths else ""
        tempo = f"{c.tempo:>4g} bpm" if c.tempo else "rig tempo"
        print(f"{name:<16} {c.meter}/4 {tempo}  {c.style or 'rig style':<10} {c.title}: {c.describe()}{where}")
    return 0


def cmd_styles(args: argparse.Namespace) -> int:
    from live.errors import StyleError
    from live.styles import load_style, style_files

    bad = 0
    for name, path in style_files(args.styles).items():
        try:
            s = load_style(path)
        except StyleError as exc:  # one broken file must not hide the others
            print(f"sideman: error: {exc}", file=sys.stderr)
            bad += 1
            continue
        where = f"  ({path})" if args.paths else ""
        print(f"{name:<11} {s.meter}/4 {s.tempo:>4g} bpm  {s.description}{where}")
    return 2 if bad else 0


def cmd_render(args: argparse.Namespace) -> int:
    from live.render import render_styles
    from live.styles import style_names

    names = style_names(args.styles) if args.style == "all" else [n for n in args.style.split(",") if n]
    render_styles(names, args.out, tempo=args.tempo, seed=args.seed, force=args.force, styles=args.styles,
                  progress=_progress)
    return 0


def cmd_harmonize(args: argparse.Namespace) -> int:
    from live.harmonize import harmonize

    results = harmonize(args.melody, args.out, online=args.online, force=args.force, model=args.model,
                        rules=args.rules, seed=args.seed, progress=_progress, render=args.render)
    for r in results:
        for m in r["messages"]:
            print(f"note: {m}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from live.evaluate import run_eval, table, write_chart, write_result
    from live.train.data import dataset_for

    with tempfile.TemporaryDirectory(prefix="sideman-eval-") as tmp:  # a folder's dataset lives here
        data, _ = dataset_for(Path(args.data), args.sources, limit=args.data_limit, as_played=args.as_played,
                              chorale_chords=args.chorale_chords, folder_out=Path(tmp) / "data.npz",
                              progress=_progress)
        result = run_eval(data, model=args.model, split=args.split, limit=args.limit, timing_ms=args.timing_ms,
                          progress=_progress)
    print(table(result))
    if args.json:
        write_result(result, Path(args.json))
        png = Path(args.json).with_suffix(".png")
        write_chart(result, png)
        print(f"wrote {args.json} and {png}")
    if args.card:
        from live.model import default_model_path

        from live.atomicfile import update_json

        card = Path(args.model or default_model_path()).with_suffix(".json")
        update_json(card, "evaluation", {"command": "sideman " + " ".join(sys.argv[1:]), **result}, create=True)
        print(f"recorded the results in the model card {card}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from live.train.train import main as train_main

    argv = ["--data", args.data, "--out", args.out, "--minutes", str(args.minutes), "--seed", str(args.seed)]
    if args.sources:
        argv += ["--sources", args.sources]
    if args.limit:
        argv += ["--limit", str(args.limit)]
    if args.max_steps:
        argv += ["--max-steps", str(args.max_steps)]
    return train_main(argv)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sideman", description="Sideman: a real-time AI accompanist.")
    ap.add_argument("--version", action="version", version=f"sideman {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("devices", help="list MIDI ports and audio backends, and what the rig would use")
    p.add_argument("--rig", help="rig file or built-in rig name (default: pop-band)")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("jam", help="play live with the band (or play the demo when no controller is there)",
                       description="Play live with the band. The rig's mode says how: lead (you play the "
                       "melody, the band harmonises it), chords (your left hand's chords drive the band), "
                       "chart (the band plays a chord chart and you practise over it: --chart, --loop, "
                       "--tempo) or duet (a lead voice answers each of your phrases).")
    p.add_argument("--rig", help="rig file or built-in rig name (default: pop-band)")
    p.add_argument("--audio", choices=["jack", "portaudio", "offline"],
                   help="audio backend (default: the rig's, auto = JACK if running, else a sound card, else offline)")
    p.add_argument("--midi-in", help="also listen to MIDI inputs whose name contains NAME")
    p.add_argument("--midi-out", help="also send the band to MIDI outputs whose name contains NAME")
    p.add_argument("--input", help="play this MIDI file as the musician ('demo' = the shipped demo)")
    p.add_argument("--out", default=".", help="folder for jam.wav, jam.mid, jam.png (default: here)")
    p.add_argument("--force", action="store_true", help="overwrite an earlier take in --out")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--seed", type=int, default=0, help="seed for the band's humanising (default 0)")
    p.add_argument("--styles", metavar="DIR", help="a folder of style files, searched before your own and the "
                                                   "shipped ones (replaces the rig's styles folder)")
    p.add_argument("--chart", metavar="FILE", help="practise over this chord chart (a file, or a shipped chart's "
                   "name: sideman charts): the band plays it in its style, else the rig's, and the take ends with "
                   "it (mode chart; in a duet rig it gives the harmony)")
    p.add_argument("--loop", metavar="SECTION", help="loop one section of the chart (such as B) until you stop")
    p.add_argument("--tempo", type=_bpm, help="beats per minute 30..300, in place of the rig's and the chart's")
    p.add_argument("--reconnect", type=float, default=60.0, metavar="SECONDS",
                   help="when the JACK server goes away mid-take: save the take, wait this long for it to come "
                   "back and go on as the take's next part (jam-2.wav, jam-2.mid...); 0 = stop (default 60)")
    p.add_argument("--part", type=int, default=1, help=argparse.SUPPRESS)  # set by a resume: the take's part
    p.add_argument("--no-view", action="store_true", help="no stage view in the terminal: progress lines instead")
    p.add_argument("--keys", action="store_true", help="play the computer keyboard as a MIDI keyboard (a s d f g h j "
                   "k l ; white keys, w e t y u o p black, z/x octave, c/v velocity; no key-up in a terminal: a "
                   "note ends 0.4 s after its key); live audio only")
    p.set_defaults(func=cmd_jam)

    p = sub.add_parser("doctor", help="check this machine for a live jam (JACK, sound card, MIDI, real-time, "
                       "CPU governor, model, numba cache); exit 1 when something blocks it")
    p.add_argument("--rig", help="rig file or built-in rig name to check (default: pop-band)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("takes", help="list recorded takes, newest first: date, length, style, files")
    p.add_argument("--folder", default=".", help="where the takes are (searched 3 folders deep; default: here)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.add_argument("--recover", action="store_true", help="first make takes a crash left behind (jam.journal) "
                   "playable: jam-recovered-<time>.mid/.wav")
    p.set_defaults(func=cmd_takes)

    p = sub.add_parser("charts", help="list the shipped chord charts (for --chart or a rig's chart:)")
    p.add_argument("--paths", action="store_true", help="also show the file each chart comes from")
    p.set_defaults(func=cmd_charts)

    p = sub.add_parser("rigs", help="list the built-in rigs")
    p.set_defaults(func=cmd_rigs)

    p = sub.add_parser("rig", help="make a rig (sideman rig new [FILE]), learn its controls (sideman rig learn "
                       "RIG --midi-in PORT), or write the rig reference (sideman rig docs)")
    rig_sub = p.add_subparsers(dest="rig_command", required=True)
    q = rig_sub.add_parser("new", help="a few questions, then a rig file you can play and edit")
    q.add_argument("file", nargs="?", help="where to write it (default: <name>.yaml here)")
    q.add_argument("--force", action="store_true", help="overwrite an existing file")
    q.add_argument("--defaults", action="store_true", help="take every default without asking")
    q.set_defaults(func=cmd_rig_new)
    q = rig_sub.add_parser("docs", help="write the field tables of the rig reference (docs/rigs.md) from the schema",
                           description="Rewrite the generated tables of docs/rigs.md (between its 'generated by' "
                           "markers) from live/rigschema.py; the prose around them is kept.")
    q.add_argument("--out", metavar="FILE", help="the page to update (default: docs/rigs.md); a new file gets "
                   "the tables alone; - prints the page")
    q.add_argument("--check", action="store_true", help="write nothing; exit 1 if the page is out of date")
    q.set_defaults(func=cmd_rig_docs)
    q = rig_sub.add_parser("learn", help="press a pedal, pad or knob for each action: a rig with those controls",
                           description="For each action (or those of --actions) it asks you to press the control "
                           "for it (Enter skips), takes the first note, CC or program change from --midi-in, and "
                           "writes the rig with those controls; the rest of the rig stays as it was.")
    q.add_argument("rig", metavar="RIG", help="rig file or built-in rig name")
    q.add_argument("--midi-in", required=True, metavar="PORT", help="the MIDI input to listen on (part of its name)")
    q.add_argument("--out", metavar="FILE", help="the rig to write (default: RIG-learned.yaml here)")
    q.add_argument("--actions", metavar="A,B,...", help="only these actions, in this order (default: all)")
    q.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    q.set_defaults(func=cmd_rig_learn)

    p = sub.add_parser("styles", help="list the band styles: name, meter, tempo, description")
    p.add_argument("--styles", metavar="DIR", help="also a folder of your own style files, searched first")
    p.add_argument("--paths", action="store_true", help="also show the file each style comes from")
    p.set_defaults(func=cmd_styles)

    p = sub.add_parser("render", help="render a 16-bar demo of each style: DIR/<style>.wav, .mid and .png")
    p.add_argument("--style", default="all", help="a style name, several as a,b,c, or all (the default)")
    p.add_argument("--out", default=".", help="folder for the demos (default: here)")
    p.add_argument("--tempo", type=_bpm, help="beats per minute 30..300 (default: each style's own tempo)")
    p.add_argument("--styles", metavar="DIR", help="also a folder of your own style files, searched first")
    p.add_argument("--force", action="store_true", help="overwrite earlier demos in --out")
    p.add_argument("--seed", type=int, default=0, help="seed for the band's humanising (default 0)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("harmonize", help="the accompaniment the live engine would play for melody files")
    p.add_argument("melody", nargs="+", help="MIDI files with a melody")
    p.add_argument("--out", default=".", help="folder for <stem>.mid and <stem>.json (default: here)")
    p.add_argument("--online", action="store_true", help="strictly causal, exactly as live")
    p.add_argument("--render", action="store_true", help="also <stem>.wav and .png: the band playing the chords")
    p.add_argument("--rules", action="store_true", help="use the rule-based band instead of the model")
    p.add_argument("--model", help="an .onnx accompanist model (default: the shipped one)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_harmonize)

    default_data = "sideman-data.npz"
    p = sub.add_parser("eval", help="model vs rules vs the score's chords on held-out pieces")
    p.add_argument("--data", default=default_data,
                   help="a dataset .npz (read as built; built from --sources where missing), or a folder of MIDI, "
                        "MusicXML or ABC files with chords to measure on (with --sources, added to them)")
    p.add_argument("--sources", help=f"the sources to build --data from (default {DEFAULT_SOURCES}); given, a "
                                     "dataset built from others is rebuilt; left out, an existing one is read "
                                     "as it is")
    p.add_argument("--data-limit", type=int, help="pieces per source when building the dataset")
    p.add_argument("--as-played", action="store_true",
                   help="the folk tunes with their repeats expanded, as a musician plays them (a band that "
                        "remembers the tune plays the changes right the second time)")
    p.add_argument("--chorale-chords", choices=CHORALE_CHORDS, default=CHORALE_CHORDS[0], help=CHORALE_CHORDS_HELP)
    p.add_argument("--timing-ms", type=_timing_ms, default=0.0,
                   help="play the melodies with a musician's timing: each note's onset moved by a normal draw of "
                        "this SD in ms (seeded per piece, clipped at 2.5 SD); default 0, on the grid")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--limit", type=int, help="evaluate the first N test pieces of each source")
    p.add_argument("--model", help="an .onnx accompanist model (default: the shipped one)")
    p.add_argument("--json", help="also write the results as JSON here, and a chart beside it (.png)")
    p.add_argument("--card", action="store_true", help="also record the results in the model's card "
                   "(the .json beside the .onnx)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("train", help="train the accompanist model (needs the training extra: torch, music21)")
    p.add_argument("--data", default=default_data,
                   help="a dataset .npz (read as built; built from --sources where missing), or a folder of MIDI, "
                        "MusicXML or ABC files to train on (with --sources, added to them)")
    p.add_argument("--sources", help="comma separated: pop909, nottingham, bach, essen, oneills, ryans, leadsheets, "
                                     f"folder:/path (default {DEFAULT_SOURCES}; given, the dataset is rebuilt)")
    p.add_argument("--limit", type=int, help="pieces per source (a tiny run)")
    p.add_argument("--out", default="models", help="folder for accompanist.onnx and its card")
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train)
    from live.studio import add_commands

    add_commands(sub)  # the studio's commands: live/studio/
    return ap


def _stop_on_signals() -> None:
    """SIGTERM (``kill``, a service manager) and SIGHUP (the terminal closed) end a jam as
    Ctrl-C does: every note ended, the take saved, the terminal given back as it was."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


def main(argv: list[str] | None = None) -> int:
    own_process = argv is None  # the `sideman` command itself, not a call from Python
    if own_process:
        import faulthandler

        faulthandler.enable()  # a crash in a native library prints every thread's stack
    args = build_parser().parse_args(argv)
    if own_process and args.command == "jam":
        _stop_on_signals()
    try:
        rc = args.func(args)
    except SidemanError as exc:
        print(f"sideman: error: {exc}", file=sys.stderr)
        rc = 2
    except KeyboardInterrupt:
        rc = 130
    if own_process and args.command == "jam":
        # The take is written and every file closed. Tearing down the interpreter now
        # would free pyo objects after their server has shut down, and rtmidi/JACK
        # clients in whatever order the collector picks: a rare SIGSEGV at exit (seen
        # once in CI after a clean take). Nothing is left to save: leave at once.
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
