"""Soak: Sideman live on JACK for N minutes at 64-frame periods under a busy performance.

    python -m benchmarks.soak --minutes 5

A private ``jackd -d dummy -p 64`` runs ``sideman jam --audio jack --input busy.mid``:
a generated performance with a held left-hand chord every bar, 16th notes in the right
hand and the sustain pedal changed every bar, for the whole soak. Reported: jackd's
xruns (all clients) and the cycles a Sideman client missed, Sideman's resident memory
sampled every few seconds (is it flat?), its own counters, and whether the take is
complete: every note the performance played is in jam.mid with its note-off, nothing
hangs, and jam.wav is a playable WAV as long as the jam. Not a test (minutes long);
writes benchmarks/results/soak.json and prints a table.

Threading: the main thread only (subprocesses are ended by PID).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from benchmarks.harness import RESULTS, SR, JackServer, Proc, hardware, sideman_counters, versions, xrun_cycles


def busy_performance(path: Path, minutes: float, bpm: float = 120.0) -> int:
    """Write the performance; returns its number of note-ons."""
    import mido

    tpb = 480
    mid = mido.MidiFile(type=0, ticks_per_beat=tpb)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    chords = [(48, 52, 55), (53, 57, 60), (55, 59, 62), (57, 60, 64)]
    scale = [72, 74, 76, 77, 79, 81, 83, 84]
    bars = int(minutes * bpm / 4)
    rng = np.random.default_rng(1)
    events: list[tuple[int, mido.Message]] = []
    ons = 0
    for bar in range(bars):
        t0 = bar * 4 * tpb
        ch = chords[bar % 4]
        for n in ch:
            events.append((t0, mido.Message("note_on", note=n, velocity=80)))
            events.append((t0 + 4 * tpb - 20, mido.Message("note_off", note=n, velocity=0)))
            ons += 1
        events.append((t0 + 5, mido.Message("control_change", control=64, value=127)))
        events.append((t0 + 4 * tpb - 30, mido.Message("control_change", control=64, value=0)))
        for k in range(16):
            n = scale[int(rng.integers(0, len(scale)))]
            s = t0 + k * tpb // 4
            events.append((s, mido.Message("note_on", note=n, velocity=int(rng.integers(50, 110)))))
            events.append((s + tpb // 4 - 30, mido.Message("note_off", note=n, velocity=0)))
            ons += 1
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    last = 0
    for t, m in events:
        tr.append(m.copy(time=t - last))
        last = t
    mid.save(path)
    return ons


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def take_report(out: Path, ons_played: int) -> dict:
    import mido

    mid = mido.MidiFile(out / "jam.mid")
    sounding: dict[tuple[int, int], int] = {}
    musician_ons = 0
    band_ons = 0
    for tr in mid.tracks:
        name = next((m.name for m in tr if m.type == "track_name"), "")
        for m in tr:
            if m.type == "note_on" and m.velocity > 0:
                sounding[(m.channel, m.note)] = sounding.get((m.channel, m.note), 0) + 1
                if name == "musician":
                    musician_ons += 1
                else:
                    band_ons += 1
            elif m.type in ("note_off", "note_on") and sounding.get((m.channel, m.note), 0) > 0:
                sounding[(m.channel, m.note)] -= 1
    hanging = sum(v for v in sounding.values() if v > 0)
    with wave.open(str(out / "jam.wav"), "rb") as w:
        wav_s = w.getnframes() / w.getframerate()
    return {"musician_notes": musician_ons, "notes_played": ons_played, "band_notes_in_file": band_ons,
            "hanging_notes": hanging, "mid_seconds": mid.length, "wav_seconds": wav_s}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--period", type=int, default=64)
    ap.add_argument("--sample-s", type=float, default=5.0, help="how often memory is sampled")
    ap.add_argument("--out", default=str(RESULTS / "soak.json"))
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sideman-soak-"))
    perf = work / "busy.mid"
    ons = busy_performance(perf, args.minutes)
    seconds = args.minutes * 60.0
    samples: list[tuple[float, float]] = []
    with JackServer(work, period=args.period, tag="soak") as server:
        argv_ = [sys.executable, "-m", "live.cli", "jam", "--audio", "jack", "--input", str(perf), "--no-view",
                 "--out", str(work / "take"), "--force", "--seconds", f"{seconds + 30:g}"]
        with Proc(argv_, server.env, work / "sideman.log", cwd=work) as sm:
            if not sm.wait_for_text(r"sideman jam:", 90):
                print(sm.text()[-2000:])
                return 1
            t0 = time.monotonic()
            server_mark = len(server.xrun_lines())
            while sm.alive() and time.monotonic() - t0 < seconds + 120:
                samples.append((time.monotonic() - t0, rss_mb(sm.proc.pid)))
                time.sleep(args.sample_s)
            rc = sm.wait(60)
            text = sm.text()
        jack_log = server.proc.text()
    xrun_lines = [ln for ln in jack_log.splitlines() if re.search("xrun", ln, re.I)][server_mark:]
    xruns = len(xrun_lines)
    cycles = xrun_cycles(xrun_lines)
    driver_late = sum(1 for ln in xrun_lines if "JackTimedDriver::Process XRun" in ln)
    missed = sum(1 for ln in xrun_lines if re.search(r"client = sideman\S* was not finished", ln))
    samples = [s for s in samples if s[0] <= seconds] or samples  # while it plays, not while it writes the take
    t = np.array([s[0] for s in samples])
    m = np.array([s[1] for s in samples])
    warm = t >= 60.0 if (t >= 60.0).sum() >= 3 else t >= 0
    slope = float(np.polyfit(t[warm] / 60.0, m[warm], 1)[0]) if warm.sum() >= 2 else float("nan")
    take = take_report(work / "take", ons)
    played = re.search(r"played ([\d.]+) s", text)
    result = {
        "minutes": args.minutes, "period": args.period, "sr": SR, "rc": rc, "realtime": server.realtime,
        "played_s": float(played.group(1)) if played else None,
        "jackd_xruns": xruns, "xrun_cycles": cycles, "driver_late": driver_late, "sideman_missed_cycles": missed,
        "rss_mb": {"start": float(m[0]), "after_1_min": float(m[warm][0]), "end": float(m[-1]), "max": float(m.max()),
                   "slope_mb_per_min_after_1_min": slope},
        "rss_samples": [[round(a, 1), round(b, 1)] for a, b in samples],
        "sideman": sideman_counters(text), "take": take,
        "complete": take["musician_notes"] == ons and take["hanging_notes"] == 0,
        "hardware": hardware(), "versions": versions(), "workdir": str(work),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"soak: {args.minutes:g} min at {args.period} frames ({'-R' if server.realtime else 'no RT'}), rc {rc}, "
          f"played {result['played_s']} s")
    print(f"  xruns: {cycles} cycles ({xruns} jackd lines; the driver itself late {driver_late}); "
          f"lines naming a Sideman client {missed}")
    r = result["rss_mb"]
    print(f"  RSS MB: start {r['start']:.1f}, after 1 min {r['after_1_min']:.1f}, end {r['end']:.1f}, "
          f"max {r['max']:.1f}; slope after 1 min {r['slope_mb_per_min_after_1_min']:+.2f} MB/min")
    print(f"  sideman: {result['sideman']}")
    print(f"  take: musician notes {take['musician_notes']}/{ons}, band notes {take['band_notes_in_file']}, "
          f"hanging {take['hanging_notes']}, jam.mid {take['mid_seconds']:.1f} s, jam.wav {take['wav_seconds']:.1f} s "
          f"-> {'complete' if result['complete'] else 'INCOMPLETE'}")
    print(f"  wrote {args.out}")
    return 0 if result["complete"] and rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
