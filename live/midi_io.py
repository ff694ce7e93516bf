"""MIDI ports through python-rtmidi: JACK MIDI here, ALSA/CoreMIDI/WinMM elsewhere.

Sideman always opens its own virtual ports where the backend has them (an input
"in" for the musician, an output "band"), with "sideman" in the client name, and
also connects to existing ports whose name contains ``--midi-in``/``--midi-out``.

Threading model: ports are opened and closed on the control thread. The audio-clock
callback only calls ``MidiIn.get_message`` (pops rtmidi's own C-side queue, filled on
rtmidi's thread with no Python involved, so no GIL is taken on the MIDI thread) and
``MidiOut.send_message`` (writes JACK's lock-free ring buffer).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field

from live.errors import DeviceError

CLIENT = "sideman"
QUEUE = 8192  # rtmidi's input queue: a burst of 8192 messages between two blocks


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
        """A MIDI input that only lists ports (the supervisor's)."""
        import rtmidi

        return rtmidi.MidiIn(self.api, name=f"{CLIENT}-watch")

    def close(self) -> None:
        for p in self.ins + self.outs:
            _close(p)
        self.ins.clear()
        self.in_names.clear()
        self.outs.clear()

    def __enter__(self) -> MidiPorts:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
               hardware_in: bool = False, clock_in: bool = False) -> MidiPorts:
    """Open Sideman's virtual ports and connect to existing ones matching the names;
    with ``hardware_in``, also to every input that looks like a controller. With
    ``clock_in``, MIDI clock messages reach the engine (rtmidi drops them otherwise).

    Raises:
        DeviceError: the MIDI system cannot be opened, or no port contains a name given.
    """
    import rtmidi

    ports = MidiPorts(api=api)
    try:
        if virtual:
            mi = rtmidi.MidiIn(api, name=CLIENT, queue_size_limit=QUEUE)
            mi.ignore_types(sysex=True, timing=not clock_in, active_sense=True)
            mi.open_virtual_port("in")
            ports.ins.append(mi)
            ports.in_names.append("")
            ports.names.append(f"in: {CLIENT}:in (virtual)")
            mo = rtmidi.MidiOut(api, name=CLIENT)
            mo.open_virtual_port("band")
            ports.outs.append(mo)
            ports.names.append(f"out: {CLIENT}:band (virtual)")
        if midi_in or hardware_in:
            probe = rtmidi.MidiIn(api, name=f"{CLIENT}-probe")
            names = probe.get_ports()
            probe.delete()
            hits = _matching(names, midi_in) if midi_in else hardware_inputs(names)
            if midi_in and not hits:
                raise DeviceError(f"--midi-in {midi_in!r}: no MIDI input port contains that name "
                                  f"(available: {', '.join(names) or 'none'})")
            for i in hits:
                ports.ins.append(open_input(api, i, clock_in))
                ports.in_names.append(names[i])
                ports.names.append(f"in: {names[i]}")
        if midi_out:
            probe = rtmidi.MidiOut(api, name=f"{CLIENT}-probe")
            names = probe.get_ports()
            probe.delete()
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
