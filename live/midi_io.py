"""MIDI ports through python-rtmidi: JACK MIDI here, ALSA/CoreMIDI/WinMM elsewhere.

Sideman always opens its own virtual ports where the backend has them (an input
"in" for the musician, an output "band"), with "sideman" in the client name, and
also connects to existing ports whose name contains ``--midi-in``/``--midi-out``.

Threading model: ports are opened and closed on the control thread. The audio-clock
callback only calls ``MidiIn.get_message`` (pops rtmidi's own C-side queue, filled on
rtmidi's thread with no Python involved, so no GIL is taken on the MIDI thread) and
``MidiOut.send_message`` (writes JACK's lock-free ring buffer).

JACK clients: python-rtmidi opens one JACK client per port object, and pyo and
python-rtmidi each bring their own copy of libjack. A jam opens every client it needs
at start, all at once (in, band, one per connected controller), and lists ports through
the "in" client instead of opening short-lived probe clients: every client opened or
closed while Sideman's clients live is a chance for libjack's client-table race (below).

The race (jackd2 1.9, seen on 2-core machines where other programs open and close
clients, e.g. ``jack_lsp`` in a loop): a client closes, its slot number is given to a
client Sideman opens a moment later, and libjack in Sideman's process still holds the
dead client's wake-up futex for that slot. The new client then sleeps on a futex that
jackd never signals: "sideman-NN was not finished, state = Triggered" on every cycle,
and nothing downstream of it runs for the whole take. The sign is a ``/dev/shm/jack_sem.*``
mapping in this process whose file was deleted. ``open_ports`` looks for it after
opening and, if it stays, closes every port and opens them again (before the clock runs).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field

from live.errors import DeviceError

CLIENT = "sideman"
QUEUE = 8192  # rtmidi's input queue: a burst of 8192 messages between two blocks
STALE_WAIT_S = 0.5  # how long a deleted futex mapping may take to go (notifications in flight)
OPEN_TRIES = 3


def jack_running() -> bool:
    """Is a JACK server up for this user? (jack_lsp answers within a second.)"""
    exe = shutil.which("jack_lsp")
    if exe is None:
        return False
    try:
        return subprocess.run([exe], capture_output=True, timeout=3).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def jack_setting(tool: str) -> int | None:
    exe = shutil.which(tool)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe], capture_output=True, text=True, timeout=3).stdout.strip()
        return int(out.split()[-1])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def pick_api(prefer_jack: bool):
    """The rtmidi API to use, or None when no MIDI system is reachable."""
    import rtmidi

    apis = rtmidi.get_compiled_api()
    if prefer_jack and rtmidi.API_UNIX_JACK in apis:
        return rtmidi.API_UNIX_JACK
    for api in (rtmidi.API_MACOSX_CORE, rtmidi.API_WINDOWS_MM, rtmidi.API_LINUX_ALSA):
        if api in apis:
            return api
    return None


def list_ports(api) -> tuple[list[str], list[str]]:
    """(inputs, outputs) by name. Raises DeviceError if the API cannot be opened."""
    import rtmidi

    try:
        mi = rtmidi.MidiIn(api, name=f"{CLIENT}-probe")
        mo = rtmidi.MidiOut(api, name=f"{CLIENT}-probe")
    except rtmidi.SystemError as exc:
        raise DeviceError(f"MIDI system ({rtmidi.get_api_display_name(api)}) unavailable: {exc}") from exc
    try:
        return mi.get_ports(), mo.get_ports()
    finally:
        mi.delete()
        mo.delete()


@dataclass
class MidiPorts:
    """Every MIDI port one jam holds; a context manager that closes them all."""

    ins: list = field(default_factory=list)
    outs: list = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    in_names: list[str] = field(default_factory=list)  # per input: the port it listens to ("" virtual)
    extra: list = field(default_factory=list)  # clients that only list ports
    sources_before: set | None = None  # MIDI sources before Sideman's virtual ports existed
    dests_before: set | None = None  # MIDI destinations before them
    api: object = None
    _sid: int = 0

    def sources(self) -> list:
        """The inputs as ``engine.SourceIn``, each with its own source id (control thread)."""
        from live.engine import SourceIn

        out = []
        for port, name in zip(self.ins, self.in_names, strict=True):
            self._sid += 1
            out.append(SourceIn(port, self._sid, name))
        return out

    def add_input(self, port, name: str):
        """Keep a port opened later (a reconnect) and give it a new source id."""
        from live.engine import SourceIn

        self.ins.append(port)
        self.in_names.append(name)
        self._sid += 1
        return SourceIn(port, self._sid, name)

    def retire(self, port) -> None:
        """Close one input that the audio clock no longer polls (supervisor thread)."""
        for i, p in enumerate(self.ins):
            if p is port:
                del self.ins[i], self.in_names[i]
                break
        _close(port)

    def make_probe(self):
        """Something with ``get_ports()`` for the supervisor, and a no-op ``delete()``:
        the jam's own first input, borrowed (no extra JACK client, see the module doc);
        a client of its own only when the jam has no input at all."""
        import rtmidi

        if self.ins:
            return _Borrowed(self.ins[0])
        return rtmidi.MidiIn(self.api, name=f"{CLIENT}-watch")

    def close(self) -> None:
        for p in self.ins + self.outs + self.extra:
            _close(p)
        self.extra.clear()
        self.ins.clear()
        self.in_names.clear()
        self.outs.clear()

    def __enter__(self) -> MidiPorts:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Borrowed:
    """A port lent for listing only: ``delete()`` leaves it to its owner."""

    def __init__(self, port) -> None:
        self._port = port

    def get_ports(self) -> list[str]:
        return self._port.get_ports()

    def delete(self) -> None:
        pass


def _futex_maps() -> list[str]:
    """The ``/dev/shm/jack_sem.*`` lines of /proc/self/maps (none where there is no /proc)."""
    try:
        with open("/proc/self/maps") as f:
            return [line.rstrip() for line in f if "/jack_sem." in line]
    except OSError:
        return []


def stale_jack_futexes(two_libjacks: bool = False) -> list[str]:
    """Signs of libjack's client-table race in this process (module doc), as file names:

    - a ``/dev/shm/jack_sem.*`` file still mapped after it was deleted: a table here
      holds the wake-up futex of a client that is gone;
    - with ``two_libjacks`` (pyo's client is on JACK too, so both libjack copies in this
      process hear of every client): a futex of one of Sideman's own clients mapped
      only once: one copy's table holds something else in that client's slot.

    Empty where there is no /proc (not Linux)."""
    lines = _futex_maps()
    out = {ln.split()[-2] for ln in lines if ln.endswith("(deleted)")}
    if two_libjacks:
        count: dict[str, int] = {}
        for ln in lines:
            if not ln.endswith("(deleted)"):
                f = ln.split()[-1]
                count[f] = count.get(f, 0) + 1
        for f, n in count.items():
            client = f.split("_", 2)[-1] if f.count("_") >= 2 else ""
            own = client == CLIENT or (client.startswith(CLIENT + "-") and client[len(CLIENT) + 1:].isdigit())
            if own and n == 1:
                out.add(f)
    return sorted(out)


def new_stale_futexes(before: set[str], wait_s: float = STALE_WAIT_S, two_libjacks: bool = False) -> list[str]:
    """Stale futexes (``stale_jack_futexes``) not in ``before`` that are still there
    after ``wait_s`` (a notification still in flight clears them by itself)."""
    deadline = time.monotonic() + wait_s
    while True:
        stale = [f for f in stale_jack_futexes(two_libjacks) if f not in before]
        if not stale or time.monotonic() >= deadline:
            return stale
        time.sleep(0.05)


PROBE = (0xBF, 119, 42)  # CC 119 on channel 16: no band part sends it; dropped by Sideman's inputs here


def loopback_deaf(ports: MidiPorts, timeout: float = 0.5) -> list[str]:
    """Start-up check that every JACK client of Sideman's runs: the band port is wired
    (``jack_connect``) to each of Sideman's own inputs for a moment and a probe sent on
    it; returns the inputs that did not hear it (empty: all is well, or the check
    cannot run: no virtual ports, no ``jack_connect``). A client asleep on a dead
    futex (module doc) runs no cycle, so it neither sends nor hears the probe.

    Control thread, before the audio clock runs; what reaches the inputs meanwhile
    (a note played before the jam is ready) is dropped with the probes.
    """
    exe, exd = shutil.which("jack_connect"), shutil.which("jack_disconnect")
    if ports.sources_before is None or ports.dests_before is None or exe is None or exd is None:
        return []
    band_out, ins = ports.outs[0], ports.ins
    band = [s for s in ins[0].get_ports() if s not in ports.sources_before and s.endswith(":band")]
    mine = [d for d in band_out.get_ports() if d not in ports.dests_before]
    if len(band) != 1 or len(mine) != len(ins):
        return []  # not told apart (another Sideman starting at the same moment): no check
    wired = []
    try:
        for d in mine:
            if subprocess.run([exe, band[0], d], capture_output=True, timeout=5).returncode == 0:
                wired.append(d)
        heard = [False] * len(ins)
        deadline = time.monotonic() + timeout
        while not all(heard) and time.monotonic() < deadline:
            band_out.send_message(list(PROBE))
            time.sleep(0.03)
            for i, port in enumerate(ins):
                while (m := port.get_message()) is not None:
                    heard[i] = heard[i] or tuple(m[0]) == PROBE
    except (OSError, subprocess.TimeoutExpired):
        return []
    finally:
        for d in wired:
            try:
                subprocess.run([exd, band[0], d], capture_output=True, timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    time.sleep(0.02)
    for port in ins:  # a probe still in flight is not the musician's
        while port.get_message() is not None:
            pass
    if len(wired) != len(mine):
        return []  # could not wire them all: no verdict
    deaf = sum(not h for h in heard)
    return [f"{deaf} of {len(ins)} inputs"] if deaf else []


def _close(port) -> None:
    try:
        port.close_port()
        port.delete()
    except Exception:
        pass


def open_input(api, index: int, clock_in: bool = False):
    """A new MidiIn connected to input port ``index`` (control or supervisor thread)."""
    import rtmidi

    mi = rtmidi.MidiIn(api, name=CLIENT, queue_size_limit=QUEUE)
    mi.ignore_types(sysex=True, timing=not clock_in, active_sense=True)
    try:
        mi.open_port(index)
    except BaseException:
        mi.delete()
        raise
    return mi


def _matching(ports: list[str], sub: str) -> list[int]:
    sub_l = sub.lower()
    return [i for i, name in enumerate(ports) if sub_l in name.lower() and CLIENT not in name.lower()]


def hardware_inputs(names: list[str]) -> list[int]:
    """Ports that look like a controller: JACK's system MIDI captures (and a2j's bridged
    hardware), or ALSA clients other than Midi Through and Sideman itself."""
    hits = []
    for i, name in enumerate(names):
        low = name.lower()
        if CLIENT in low or "through" in low:
            continue
        if "capture" in low or "a2j" in low or ":" not in low:
            hits.append(i)
    return hits


def open_ports(api, midi_in: str | None, midi_out: str | None, *, virtual: bool = True,
               hardware_in: bool = False, clock_in: bool = False, progress=None,
               jack_audio: bool = False) -> MidiPorts:
    """Open Sideman's virtual ports and connect to existing ones matching the names;
    with ``hardware_in``, also to every input that looks like a controller. With
    ``clock_in``, MIDI clock messages reach the engine (rtmidi drops them otherwise).

    On JACK, when libjack's client-table race (module doc) has left a stale futex
    behind, every port is closed and opened again, up to ``OPEN_TRIES`` times; each
    retry is said through ``progress``. ``jack_audio``: pyo's audio client is on the
    same JACK server (a second libjack in this process: see ``stale_jack_futexes``).

    Raises:
        DeviceError: the MIDI system cannot be opened, or no port contains a name given.
    """
    import rtmidi

    before = set(stale_jack_futexes(jack_audio))  # pyo's libjack may hold some already: reopening cannot help
    for attempt in range(1, OPEN_TRIES + 1):
        ports = _open_ports_once(api, midi_in, midi_out, virtual=virtual, hardware_in=hardware_in,
                                 clock_in=clock_in)
        if api != rtmidi.API_UNIX_JACK:
            return ports
        stale = new_stale_futexes(before, two_libjacks=jack_audio)
        if not stale:
            deaf = loopback_deaf(ports)
            if not deaf:
                return ports
            stale = [f"no MIDI ran from the band port to {', '.join(deaf)}"]
        if attempt == OPEN_TRIES:
            if progress:
                progress(f"note: JACK still maps {', '.join(stale)} after {attempt} tries; "
                         "if the band is silent on MIDI, start the jam again")
            return ports
        if progress:
            progress(f"note: a MIDI client of Sideman's does not run ({', '.join(stale)}; libjack's "
                     "client-table race): reopening the MIDI ports")
        ports.close()
    raise AssertionError("unreachable")


def _open_ports_once(api, midi_in: str | None, midi_out: str | None, *, virtual: bool,
                     hardware_in: bool, clock_in: bool) -> MidiPorts:
    import rtmidi

    ports = MidiPorts(api=api)
    lister = None  # lists ports: the jam's own "in" client, or one of its own (no short-lived probes)
    try:
        if virtual:
            # both clients first, their ports after: what each lists before its port
            # exists tells Sideman's own ports apart from another program's (loopback check)
            mi = rtmidi.MidiIn(api, name=CLIENT, queue_size_limit=QUEUE)
            mo = rtmidi.MidiOut(api, name=CLIENT)
            ports.sources_before, ports.dests_before = set(mi.get_ports()), set(mo.get_ports())
            mi.ignore_types(sysex=True, timing=not clock_in, active_sense=True)
            mi.open_virtual_port("in")
            ports.ins.append(mi)
            ports.in_names.append("")
            ports.names.append(f"in: {CLIENT}:in (virtual)")
            lister = mi
            mo.open_virtual_port("band")
            ports.outs.append(mo)
            ports.names.append(f"out: {CLIENT}:band (virtual)")
        if (midi_in or hardware_in) and lister is None:
            lister = rtmidi.MidiIn(api, name=f"{CLIENT}-probe")
            ports.extra.append(lister)
        if midi_in or hardware_in:
            names = lister.get_ports()
            hits = _matching(names, midi_in) if midi_in else hardware_inputs(names)
            if midi_in and not hits:
                raise DeviceError(f"--midi-in {midi_in!r}: no MIDI input port contains that name "
                                  f"(available: {', '.join(names) or 'none'})")
            for i in hits:
                ports.ins.append(open_input(api, i, clock_in))
                ports.in_names.append(names[i])
                ports.names.append(f"in: {names[i]}")
        if midi_out:
            out_lister = ports.outs[0] if ports.outs else None  # the band port lists destinations
            if out_lister is None:
                out_lister = rtmidi.MidiOut(api, name=f"{CLIENT}-probe")
                ports.extra.append(out_lister)
            names = out_lister.get_ports()
            hits = _matching(names, midi_out)
            if not hits:
                raise DeviceError(f"--midi-out {midi_out!r}: no MIDI output port contains that name "
                                  f"(available: {', '.join(names) or 'none'})")
            for i in hits:
                mo = rtmidi.MidiOut(api, name=CLIENT)
                mo.open_port(i)
                ports.outs.append(mo)
                ports.names.append(f"out: {names[i]}")
    except rtmidi.SystemError as exc:
        ports.close()
        raise DeviceError(f"MIDI system unavailable: {exc}") from exc
    except BaseException:
        ports.close()
        raise
    return ports
