"""Xrun floor: what this machine's JACK does with nothing, a C client, pyo, and Sideman.

    python -m benchmarks.floor --minutes 2 --rounds 2

Side by side in one run, each on a fresh ``jackd -R -d dummy -p 64`` for ``--minutes``,
round-robin for ``--rounds`` rounds (so a noisy spell of the machine falls on every case,
not on one):

- ``jackd``: the server alone, no client;
- ``jack_metro``: one C client (JACK's example metronome);
- ``pyo``: a pyo server playing a sine, no Python per block;
- ``pyo+callback``: the same with a Python callback every block (as Sideman's clock);
- ``sideman``: ``sideman jam`` playing the soak's busy performance (benchmarks.soak);
- ``sideman-normal``: the same with Sideman's own threads (planner, journal writer, MIDI
  supervisor, control loop) left at normal priority (``SIDEMAN_HELPER_RT=0``), as before
  they ran SCHED_FIFO just below JACK's audio threads (live.session.helpers_below_audio).

Per case: xrun cycles per minute (``harness.xrun_cycles``: jackd writes a line per
late client, so one late cycle upstream of two MIDI clients is three lines) and the
lines themselves, split into the driver waking late
("JackTimedDriver::Process XRun": nobody's code ran late, the server's own timer
did) and cycles a client missed, by the client's state: "Triggered" (its thread was
woken and did not get a CPU before the cycle ended) or "Running" (its code was still
working). If the server alone has xruns, a 0-xrun soak cannot be measured on this
machine; what Sideman can be held to is its own misses against the floor's.
Writes benchmarks/results/floor.json and prints a table.

Threading: the main thread only (subprocesses are ended by PID).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import RESULTS, SR, JackServer, Proc, hardware, versions, xrun_cycles
from benchmarks.soak import busy_performance

PYO_CLIENT = """
import sys, time, pyo
s = pyo.Server(sr={sr}, buffersize={period}, audio="jack", nchnls=2, duplex=0, jackname="floorpyo")
s.boot()
if {callback}:
    n = [0]
    def tick():
        n[0] += 1
    s.setCallback(tick)
s.start()
a = pyo.Sine(440, mul=0.1).out()
print("floor client running", flush=True)
time.sleep({seconds})
s.stop()
"""

CASES = ("jackd", "jack_metro", "pyo", "pyo+callback", "sideman", "sideman-normal")
DRIVER_RE = re.compile(r"JackTimedDriver::Process XRun")
MISS_RE = re.compile(r"client = (\S+) was not finished, state = (\w+)")


def count(lines: list[str]) -> dict:
    driver = sum(1 for ln in lines if DRIVER_RE.search(ln))
    by_state: dict[str, int] = {}
    by_client: dict[str, int] = {}
    for ln in lines:
        m = MISS_RE.search(ln)
        if m:
            by_state[m.group(2)] = by_state.get(m.group(2), 0) + 1
            client = re.sub(r"-\d+$", "", m.group(1))
            by_client[client] = by_client.get(client, 0) + 1
    return {"xrun_lines": len(lines), "xrun_cycles": xrun_cycles(lines), "driver_late": driver,
            "missed_by_state": by_state,
            "missed_by_client": by_client}


def run_case(case: str, seconds: float, period: int, work: Path, perf: Path | None) -> dict:
    tag = f"floor-{case.replace('+', '-')}-{int(time.monotonic())}"
    with JackServer(work, period=period, tag=tag) as server:
        time.sleep(1.0)
        if case == "jackd":
            server.mark()
            time.sleep(seconds)
        elif case == "jack_metro":
            with Proc(["jack_metro", "-b", "120", "-n", "floormetro"], server.env, work / f"{tag}.log"):
                time.sleep(1.0)
                server.mark()
                time.sleep(seconds)
        elif case.startswith("pyo"):
            code = PYO_CLIENT.format(sr=SR, period=period, callback=case == "pyo+callback", seconds=seconds + 5)
            with Proc([sys.executable, "-c", code], server.env, work / f"{tag}.log") as p:
                if not p.wait_for_text("floor client running", 60):
                    raise RuntimeError(f"{case}: the pyo client did not start: {p.text()[-400:]}")
                time.sleep(1.0)
                server.mark()
                time.sleep(seconds)
        else:
            argv = [sys.executable, "-m", "live.cli", "jam", "--audio", "jack", "--input", str(perf), "--no-view",
                    "--out", str(work / f"{tag}-take"), "--force", "--seconds", f"{seconds + 10:g}"]
            env = {**server.env, "SIDEMAN_HELPER_RT": "0" if case == "sideman-normal" else "1"}
            with Proc(argv, env, work / f"{tag}.log", cwd=work) as sm:
                if not sm.wait_for_text(r"sideman jam:", 90):
                    raise RuntimeError(f"sideman did not start: {sm.text()[-1000:]}")
                time.sleep(1.0)
                server.mark()
                time.sleep(seconds)
        lines = server.xrun_lines()[server._mark:]
    return {"seconds": seconds, **count(lines)}


def merge(parts: list[dict]) -> dict:
    out = {"seconds": sum(p["seconds"] for p in parts), "xrun_lines": 0, "xrun_cycles": 0, "driver_late": 0,
           "missed_by_state": {}, "missed_by_client": {}, "rounds": parts}
    for p in parts:
        out["xrun_lines"] += p["xrun_lines"]
        out["xrun_cycles"] += p["xrun_cycles"]
        out["driver_late"] += p["driver_late"]
        for key in ("missed_by_state", "missed_by_client"):
            for k, v in p[key].items():
                out[key][k] = out[key].get(k, 0) + v
    minutes = out["seconds"] / 60.0
    out["xruns_per_min"] = out["xrun_cycles"] / minutes
    out["xrun_lines_per_min"] = out["xrun_lines"] / minutes
    out["driver_late_per_min"] = out["driver_late"] / minutes
    out["missed_per_min"] = sum(out["missed_by_state"].values()) / minutes
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="per case and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--period", type=int, default=64)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--out", default=str(RESULTS / "floor.json"))
    ap.add_argument("--load", type=int, default=0,
                    help="busy processes (ordinary priority, a Python loop each) running all along: a busy computer")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        ap.error(f"--cases: unknown {unknown}; allowed: {', '.join(CASES)}")
    work = Path(tempfile.mkdtemp(prefix="sideman-floor-"))
    seconds = args.minutes * 60.0
    perf = work / "busy.mid"
    busy_performance(perf, args.minutes + 1)
    parts: dict[str, list[dict]] = {c: [] for c in cases}
    total = len(cases) * args.rounds
    t0 = time.monotonic()
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        for r in range(args.rounds):
            for i, case in enumerate(cases):
                print(f"  [{r * len(cases) + i + 1}/{total}] round {r + 1}: {case} for {args.minutes:g} min "
                      f"({time.monotonic() - t0:.0f} s so far)", flush=True)
                part = run_case(case, seconds, args.period, work, perf)
                print(f"      xruns {part['xrun_cycles']} cycles, {part['xrun_lines']} lines "
                      f"(driver late {part['driver_late']}, missed {part['missed_by_state']})", flush=True)
                parts[case].append(part)
    finally:
        for p in load:
            p.kill()
            p.wait()
    result = {"minutes_per_case_and_round": args.minutes, "rounds": args.rounds, "period": args.period, "sr": SR,
              "load_processes": args.load,
              "cases": {c: merge(ps) for c, ps in parts.items()}, "hardware": hardware(), "versions": versions(),
              "workdir": str(work)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"\nxrun floor, {args.rounds} x {args.minutes:g} min per case at {args.period} frames"
          f"{f', {args.load} busy processes beside' if args.load else ''}:")
    print("| case | xrun cycles/min | jackd xrun lines/min | driver late/min | missed by state |")
    print("|---|---|---|---|---|")
    for c in cases:
        m = result["cases"][c]
        print(f"| {c} | {m['xruns_per_min']:.2f} | {m['xrun_lines_per_min']:.2f} | {m['driver_late_per_min']:.2f} | "
              f"{m['missed_by_state'] or '-'} |")
    print(f"  wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
