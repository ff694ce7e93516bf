"""``sideman doctor``: is this machine ready to jam? Each check says what it found and,
when something is wrong, how to fix it.

Levels: ``ok``; ``warn`` (Sideman plays, but worse: more latency, xruns, a slower
start, the rule-based band); ``FAIL`` (something blocks a live jam). The exit status
is 1 when anything fails, else 0.

Threading model: control thread only; it starts no audio clock (pyo's offline server
is booted and shut down once, with no callback).
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "FAIL"
MEMLOCK_MIN = 256 * 1024 * 1024
CPU_DIR = Path("/sys/devices/system/cpu")
RT_FIX = ("let your user run real-time: add it to the `audio` group (sudo usermod -aG audio $USER) and "
          "allow `@audio - rtprio 95` and `@audio - memlock unlimited` in /etc/security/limits.d/audio.conf "
          "(Debian/Ubuntu: sudo dpkg-reconfigure -p high jackd2), then log out and in; start JACK with -R")


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: what was checked, its level, what was found, how to fix it."""

    name: str
    level: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""


@dataclass
class Facts:
    """What the audio checks found, for the verdict on live audio and MIDI."""

    jack: bool = False
    portaudio_outputs: int = 0


# -- checks ---------------------------------------------------------------------------------

def check_python() -> list[Check]:
    v = sys.version_info
    if v < (3, 11):
        return [Check("python", FAIL, f"Python {platform.python_version()}", "Sideman needs Python >= 3.11")]
    return [Check("python", OK, f"Python {platform.python_version()} ({sys.executable})")]


def check_pyo() -> list[Check]:
    try:
        from live.quiet import import_pyo, quiet_fds

        pyo = import_pyo()
        with quiet_fds():
            s = pyo.Server(sr=48000, nchnls=2, buffersize=64, duplex=0, audio="manual")
            s.deactivateMidi()
            s.boot()
            booted = s.getIsBooted()
            s.shutdown()
    except Exception as exc:
        return [Check("audio engine", FAIL, f"pyo does not load: {exc}",
                      "reinstall: pip install --force-reinstall pyo (Python 3.11 has a manylinux wheel)")]
    if not booted:
        return [Check("audio engine", FAIL, "pyo's offline server does not boot", "pip install --force-reinstall pyo")]
    return [Check("audio engine", OK, f"pyo {getattr(pyo, 'PYO_VERSION', '')} boots".replace("  ", " "))]


def check_jack(facts: Facts) -> list[Check]:
    import shutil

    from live.midi_io import jack_running, jack_setting

    if shutil.which("jackd") is None and shutil.which("jack_lsp") is None:
        return [Check("JACK", WARN, "JACK is not installed (the lowest latency on Linux)",
                      "sudo apt-get install jackd2 (answer yes to real-time priority)")]
    if not jack_running():
        server = os.environ.get("JACK_DEFAULT_SERVER")
        name = f" '{server}'" if server else ""
        return [Check("JACK server", WARN, f"not running{name}",
                      "start one: jackd -R -d alsa -d hw:0 -p 64 -n 2 (or with QjackCtl / Cadence); "
                      "no sound card: jackd -R -d dummy -p 64")]
    facts.jack = True
    sr, period = jack_setting("jack_samplerate"), jack_setting("jack_bufsize")
    if not sr or not period:
        return [Check("JACK server", OK, "running (its rate and period could not be read)")]
    ms = 1000.0 * period / sr
    detail = f"running, {sr} Hz, {period} frames per period ({ms:.2f} ms)"
    if period > 256:
        return [Check("JACK server", WARN, detail + ": a slow reaction to your playing",
                      "restart JACK with -p 64 or -p 128 (fewer frames per period) if it runs without xruns")]
    return [Check("JACK server", OK, detail)]


def check_portaudio(facts: Facts) -> list[Check]:
    try:
        from live.quiet import quiet_fds

        with quiet_fds():
            import sounddevice as sd

            devs = sd.query_devices()
            apis = sd.query_hostapis()
    except Exception as exc:
        return [Check("PortAudio", WARN, f"unavailable ({exc})",
                      "sudo apt-get install libportaudio2 (needed only without JACK)")]
    outs = [d for d in devs if d["max_output_channels"] > 0]
    facts.portaudio_outputs = len(outs)
    if not outs:
        return [Check("PortAudio", WARN, f"no output device ({len(apis)} host APIs, {len(devs)} devices)",
                      "connect a sound card (or use JACK)")]
    names = ", ".join(d["name"] for d in outs[:4]) + (" ..." if len(outs) > 4 else "")
    return [Check("PortAudio", OK, f"{len(outs)} output device{'s' if len(outs) > 1 else ''}: {names}")]


def check_live_audio(facts: Facts) -> list[Check]:
    if facts.jack:
        return [Check("live audio", OK, "sideman jam plays live on JACK")]
    if facts.portaudio_outputs:
        return [Check("live audio", OK, "sideman jam plays live on the sound card (PortAudio)")]
    return [Check("live audio", FAIL, "no JACK server and no sound card: nothing to play live on "
                  "(sideman jam can only render the demo offline)",
                  "start JACK (see above) or connect a sound card")]


def check_midi(facts: Facts) -> list[Check]:
    try:
        import rtmidi
    except Exception as exc:
        return [Check("MIDI", FAIL, f"python-rtmidi does not load: {exc}",
                      "pip install --force-reinstall python-rtmidi")]
    from live.errors import SidemanError
    from live.midi_io import hardware_inputs, list_ports
    from live.quiet import quiet_fds

    out: list[Check] = []
    apis = rtmidi.get_compiled_api()
    usable: dict[int, tuple[list[str], list[str]]] = {}
    failed: list[Check] = []
    for api in apis:
        name = rtmidi.get_api_display_name(api)
        if api == rtmidi.API_UNIX_JACK and not facts.jack:
            out.append(Check(f"MIDI {name}", WARN, "not tried: no JACK server", "start JACK (see above)"))
            continue
        try:
            with quiet_fds():
                ins, outs = list_ports(api)
        except SidemanError as exc:
            fix = ("no ALSA sequencer here (/dev/snd/seq): load snd-seq (sudo modprobe snd-seq) on a machine with "
                   "sound, or use JACK MIDI") if api == rtmidi.API_LINUX_ALSA else "check that the MIDI system runs"
            failed.append(Check(f"MIDI {name}", WARN, str(exc), fix))
            continue
        usable[api] = (ins, outs)
        out.append(Check(f"MIDI {name}", OK,
                         f"inputs: {', '.join(ins) or 'none'}; outputs: {', '.join(outs) or 'none'}"))
    from live.midi_io import pick_api

    live = facts.jack or facts.portaudio_outputs > 0
    api = pick_api(prefer_jack=facts.jack)
    for c in failed:  # an API Sideman will not use may fail: say so, it is no problem
        if api in usable:
            c = Check(c.name, OK, f"unavailable, not needed (sideman uses {rtmidi.get_api_display_name(api)} MIDI): "
                      f"{c.detail}")
        out.append(c)
    if api is None or api not in usable:
        level = FAIL if live else WARN
        out.append(Check("MIDI ports", level, "sideman jam cannot open its MIDI ports "
                         f"({rtmidi.get_api_display_name(api) if api is not None else 'no MIDI API'} unavailable)",
                         "start JACK (JACK MIDI), or make ALSA MIDI available (sudo modprobe snd-seq)"))
        return out
    ins = usable[api][0]
    pads = [ins[i] for i in hardware_inputs(ins)]
    if pads:
        out.append(Check("controller", OK, f"{len(pads)} found: {', '.join(pads)}"))
    else:
        out.append(Check("controller", WARN, "no MIDI controller found",
                         "plug in a MIDI keyboard (on JACK bridge ALSA devices with `a2jmidid -e`), connect one "
                         "to sideman:in, or play the computer keyboard: sideman jam --keys"))
    return out


def try_fifo() -> str:
    """Switch this thread to SCHED_FIFO and back; "" if allowed, else why not."""
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(min(10, os.sched_get_priority_max(os.SCHED_FIFO))))
        os.sched_setscheduler(0, policy, param)
    except (OSError, AttributeError) as exc:
        return str(exc)
    return ""


def check_realtime(getrlimit: Callable = resource.getrlimit, euid: int | None = None,
                   fifo: Callable[[], str] = try_fifo) -> list[Check]:
    out = []
    root = (os.geteuid() if euid is None else euid) == 0
    soft, hard = getrlimit(resource.RLIMIT_RTPRIO)
    fifo_err = fifo()
    limit = "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    if fifo_err:
        out.append(Check("real-time priority", WARN, f"SCHED_FIFO refused ({fifo_err}); rtprio limit {limit}: "
                         "Sideman's planner runs at normal priority, so a busy computer makes the audio late "
                         "(3x the xruns, measured)", RT_FIX))
    else:
        who = "root" if root else f"rtprio limit {limit}"
        out.append(Check("real-time priority", OK, f"SCHED_FIFO allowed ({who})"))
    soft, hard = getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY or soft >= MEMLOCK_MIN or root:
        shown = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft // (1024 * 1024)} MiB"
        out.append(Check("memory lock", OK, f"memlock limit {shown}" + (" (root)" if root else "")))
    else:
        out.append(Check("memory lock", WARN, f"memlock limit {soft // 1024} KiB: JACK cannot lock its memory "
                         "(page faults cause xruns)", RT_FIX))
    return out


def check_governor(cpu_dir: Path = CPU_DIR) -> list[Check]:
    files = sorted(cpu_dir.glob("cpu[0-9]*/cpufreq/scaling_governor"))
    if not files:
        return [Check("CPU governor", OK, "not exposed here (a VM or a fixed clock): nothing to set")]
    govs: dict[str, int] = {}
    for f in files:
        try:
            g = f.read_text().strip()
        except OSError:
            g = "unreadable"
        govs[g] = govs.get(g, 0) + 1
    shown = ", ".join(f"{g} on {n} of {len(files)} CPUs" for g, n in sorted(govs.items()))
    if set(govs) == {"performance"}:
        return [Check("CPU governor", OK, shown)]
    return [Check("CPU governor", WARN, f"{shown}: the clock may slow down mid-song (xruns)",
                  "sudo cpupower frequency-set -g performance (package linux-cpupower), or "
                  "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor")]


def check_model() -> list[Check]:
    try:
        import numpy as np

        from live.model import ModelRuntime

        rt = ModelRuntime(batch=1)
        h = rt.zero_state()
        ns = []
        for _ in range(200):
            t0 = time.perf_counter_ns()
            h = rt.step(h)[3]
            ns.append(time.perf_counter_ns() - t0)
        p99 = float(np.percentile(np.asarray(ns) / 1000.0, 99))
    except Exception as exc:
        return [Check("model", WARN, f"the shipped model does not load: {exc}; the rule-based band plays instead",
                      "reinstall sideman (pip install --force-reinstall .), or set `accompanist: rules` in the rig")]
    if rt.note:  # the packed model did not load; its float twin plays
        return [Check("model", WARN, f"{rt.note}; one step p99 {p99:.0f} us",
                      "pip install 'onnxruntime>=1.22' in Sideman's environment")]
    return [Check("model", OK, f"{rt.path.name} loads ({rt.layers}x{rt.hidden} GRU), one step p99 {p99:.0f} us")]


def _writable(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d, prefix=".sideman-doctor-"):
            return True
    except OSError:
        return False


def numba_cache_dirs() -> list[tuple[str, Path]]:
    """Where numba would keep the compiled kernels, in the order it tries them."""
    import kernels

    out = []
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        out.append(("NUMBA_CACHE_DIR", Path(env)))
    out.append(("next to the kernels", Path(kernels.__file__).parent / "__pycache__"))
    try:
        from numba.misc.appdirs import AppDirs

        out.append(("user cache", Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)))
    except Exception:
        pass
    return out


def _cache_dir() -> tuple[str, Path] | None:
    """The folder numba caches the kernels in: the first writable one it tries, or None."""
    for where, d in numba_cache_dirs():
        if _writable(d):
            return where, d
        if where == "NUMBA_CACHE_DIR":
            break  # numba uses only this one when it is set
    return None


def _cached_in(d: Path) -> int:
    return len(list(d.glob("*.nbi"))) if d.is_dir() else 0


def cached_kernels() -> int:
    """How many compiled kernels numba's cache holds where it would look first (0: a cold
    start compiles them all; -1: no folder numba could write)."""
    found = _cache_dir()
    return -1 if found is None else _cached_in(found[1])


def check_numba_cache() -> list[Check]:
    try:
        import numba
    except Exception as exc:
        return [Check("numba", FAIL, f"numba does not load: {exc}", "pip install --force-reinstall numba")]
    found = _cache_dir()
    if found is not None:
        where, d = found
        n = _cached_in(d)
        warm = f"{n} kernels cached" if n else "empty: the first jam compiles the kernels (10-20 s)"
        return [Check("numba cache", OK, f"numba {numba.__version__}, {where}: {d} is writable ({warm})")]
    tried = "; ".join(str(d) for _, d in numba_cache_dirs())
    return [Check("numba cache", WARN, f"no writable cache folder ({tried}): every start compiles the kernels again",
                  "export NUMBA_CACHE_DIR=~/.cache/sideman-numba (a folder you can write)")]


def check_rig(rig_name: str | None) -> list[Check]:
    from live.errors import SidemanError
    from live.rig import find_rig, load_rig

    try:
        rig = load_rig(find_rig(rig_name))
    except SidemanError as exc:
        return [Check("rig", FAIL, str(exc), "fix the rig file (docs/rigs.md lists every field)")]
    return [Check("rig", OK, f"{rig.name} ({rig.source}): {rig.mode}, {rig.style}, {rig.tempo:g} bpm, "
                  f"buffer {rig.audio.buffer} at {rig.audio.sample_rate} Hz")]


def run_checks(rig: str | None = None) -> list[Check]:
    """Every check, in the order a musician would fix things. Never raises."""
    facts = Facts()
    steps: list[tuple[str, Callable[[], list[Check]]]] = [
        ("python", check_python), ("audio engine", check_pyo), ("JACK", lambda: check_jack(facts)),
        ("PortAudio", lambda: check_portaudio(facts)), ("live audio", lambda: check_live_audio(facts)),
        ("MIDI", lambda: check_midi(facts)), ("real-time", check_realtime), ("CPU governor", check_governor),
        ("rig", lambda: check_rig(rig)), ("model", check_model), ("numba cache", check_numba_cache),
    ]
    out: list[Check] = []
    for name, fn in steps:
        try:
            out.extend(fn())
        except Exception as exc:  # a broken check must not hide the others
            out.append(Check(name, WARN, f"could not check: {exc!r}"))
    return out


def report(checks: list[Check], columns: int = 110) -> str:
    """The checks as text: one line each (wrapped), with its fix under a warning or failure."""
    import textwrap

    width = max((len(c.name) for c in checks), default=10)
    indent = " " * (width + 10)
    lines = ["Sideman doctor"]
    for c in checks:
        lines += textwrap.wrap(c.detail, columns, initial_indent=f"  {c.level:<4}  {c.name:<{width}}  ",
                               subsequent_indent=indent)
        if c.fix and c.level != OK:
            lines += textwrap.wrap(f"fix: {c.fix}", columns, initial_indent=indent, subsequent_indent=indent + "     ")
    fails = sum(c.level == FAIL for c in checks)
    warns = sum(c.level == WARN for c in checks)
    if fails:
        lines.append(f"{fails} problem{'s' if fails > 1 else ''} block{'' if fails > 1 else 's'} a live jam "
                     f"(FAIL above); {warns} warning{'s' if warns != 1 else ''}.")
    else:
        lines.append(f"Nothing blocks a jam; {warns} warning{'s' if warns != 1 else ''}.")
    return "\n".join(lines)


def main(rig: str | None = None) -> int:
    """Print the report. Returns 1 when anything blocks a live jam, else 0."""
    checks = run_checks(rig)
    print(report(checks), flush=True)
    return 1 if any(c.level == FAIL for c in checks) else 0
