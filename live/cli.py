"""The ``sideman`` command line. Heavy imports happen inside each command."""

from __future__ import annotations

import argparse
import sys

from live import __version__
from live.errors import SidemanError


def _progress(msg: str) -> None:
    print(msg, flush=True)


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

    rig = load_rig(find_rig(args.rig))
    res = run_jam(rig, backend=args.audio or "auto", midi_in=args.midi_in, midi_out=args.midi_out,
                  input_file=args.input, out_dir=args.out, force=args.force,
                  seconds=args.seconds, seed=args.seed, progress=_progress)
    s = res.stats
    for m in res.messages:
        print(f"note: {m}")
    print(f"played {res.seconds:.1f} s on {res.backend} in {res.wall_s:.1f} s wall; "
          f"band notes {s['band_notes']}, late events {s['late_events']}, "
          f"input dropped {s['input_dropped']}, callback p99 {s['callback_us_p99']:.0f} us")
    for p in (res.wav, res.mid, res.png):
        if p is not None:
            print(f"wrote {p}")
    return 0


def cmd_rigs(args: argparse.Namespace) -> int:
    from live.rig import builtin_rig_names, find_rig, load_rig

    for name in builtin_rig_names():
        rig = load_rig(find_rig(name))
        parts = ", ".join(p.name for p in rig.band if p.enabled)
        print(f"{name:<10} {rig.mode:<6} {rig.style:<7} {rig.tempo:>5g} bpm  band: {parts}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sideman", description="Sideman: a real-time AI accompanist.")
    ap.add_argument("--version", action="version", version=f"sideman {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("devices", help="list MIDI ports and audio backends, and what the rig would use")
    p.add_argument("--rig", help="rig file or built-in rig name (default: pop-band)")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("jam", help="play live with the band (or play the demo when no controller is there)")
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
    p.set_defaults(func=cmd_jam)

    p = sub.add_parser("rigs", help="list the built-in rigs")
    p.set_defaults(func=cmd_rigs)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SidemanError as exc:
        print(f"sideman: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
