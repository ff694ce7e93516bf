"""``sideman rig learn``: press a control for each action; a rig with those controls.

For each action (all of them, or those given with ``--actions``) it says "press the
control for fill (Enter to skip)", listens on a MIDI input, takes the first note-on,
CC or program change that comes, and binds it to the action (on the channel it came
on). Then it writes the rig again with those controls: the rest of the rig is kept as
it was loaded (checked by the rig reader as any rig file is), the actions learnt
replace their old bindings, and the file is written atomically.

The listening takes any object with python-rtmidi's ``get_message()`` (``None``, or
``(message bytes, delta time)``), so tests drive it from a script; only
:func:`open_midi_in` touches rtmidi.

Threading model: one thread (the command's); it polls the port, no callback.
"""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from live.errors import DeviceError, OutputExistsError, RigError

POLL_S = 0.005
SETTLE_S = 0.3  # after a press: its release, a knob's stream of values, are not the next action's


@dataclass(frozen=True, slots=True)
class Pressed:
    """A control as the rig binds it."""

    type: str  # cc | note | program
    number: int  # 0..127
    channel: int  # 1..16

    def __str__(self) -> str:
        return f"{self.type} {self.number} on channel {self.channel}"


def pressed(msg: Sequence[int]) -> Pressed | None:
    """The control a MIDI message is, or None (note-offs, clock, pitch bend...)."""
    if not msg or len(msg) < 2:
        return None
    status = msg[0]
    kind, ch = status & 0xF0, (status & 0x0F) + 1
    if status >= 0xF0 or msg[1] > 127:
        return None
    if kind == 0x90 and len(msg) >= 3 and msg[2] > 0:
        return Pressed("note", msg[1], ch)
    if kind == 0xB0 and len(msg) >= 3:
        return Pressed("cc", msg[1], ch)
    if kind == 0xC0:
        return Pressed("program", msg[1], ch)
    return None


def _drain(source) -> None:
    for _ in range(100000):
        if source.get_message() is None:
            return


def listen(source, *, skipped: Callable[[], bool], sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic, settle_s: float = SETTLE_S) -> Pressed | None:
    """The first control pressed on ``source``; None when ``skipped()`` says so first.

    What was waiting before the question is dropped; after a press, whatever follows it
    within ``settle_s`` of quiet (the pedal's release, the rest of a knob's turn) too.
    """
    _drain(source)
    while True:
        m = source.get_message()
        if m is not None:
            got = pressed(m[0])
            if got is None:
                continue
            quiet_since = clock()
            while clock() - quiet_since < settle_s:
                if source.get_message() is not None:
                    quiet_since = clock()
                else:
                    sleep(POLL_S)
            return got
        if skipped():
            return None
        sleep(POLL_S)


def learn(rig, actions: Sequence[str], source, *, skipped: Callable[[], bool], say=print, **listen_kw):
    """``rig`` with a control learnt for each action from ``source``; skipped ones keep theirs.

    Raises:
        RigError: an unknown action.
    """
    from live.rig import ACTIONS, VALUE_ACTIONS, ControlCfg

    bad = [a for a in actions if a not in ACTIONS]
    if bad:
        raise RigError(f"--actions must be some of {', '.join(ACTIONS)}, got {', '.join(bad)}")
    controls = list(rig.controls)
    for action in actions:
        verb = "turn the knob or fader" if action in VALUE_ACTIONS else "press the control"
        say(f"{verb} for {action} (Enter to skip)")
        while True:
            got = listen(source, skipped=skipped, **listen_kw)
            if got is None:
                say(f"  {action}: skipped")
                break
            if action in VALUE_ACTIONS and got.type == "program":
                say(f"  a program change has no value to set {action} with: {verb} (a CC), or Enter to skip")
                continue
            clash = [c for c in controls if c.action != action and (c.type, c.number) == (got.type, got.number)
                     and (c.channel is None or c.channel == got.channel)]
            if clash:
                say(f"  {got} already does {clash[0].action}: press another, or Enter to skip")
                continue
            controls = [c for c in controls if c.action != action and (c.type, c.number) != (got.type, got.number)]
            controls.append(ControlCfg(action, got.type, got.number, got.channel))
            say(f"  {action}: {got}")
            break
    return rig.with_overrides(controls=tuple(controls))


def rig_file_text(rig) -> str:
    """The rig as a complete rig file."""
    import yaml

    from live.rig import rig_to_dict

    head = (f"# {rig.name}: written by `sideman rig learn` from {rig.source}; every field is spelled out\n"
            f"# (docs/rigs.md says what each does).\n")
    return head + yaml.safe_dump(rig_to_dict(rig), sort_keys=False, allow_unicode=True)


def write_rig(rig, path: Path, *, force: bool = False) -> Path:
    """Write ``rig`` to ``path`` atomically, checked by loading it first.

    Raises:
        OutputExistsError: ``path`` exists and ``force`` is false.
        OutputFileError: the folder is not writable.
    """
    from live.rignew import write_rig_text

    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; use --force to overwrite it")
    return write_rig_text(path, rig_file_text(rig), made_by="sideman rig learn")


def open_midi_in(port: str):
    """The first MIDI input whose name contains ``port`` (case-insensitive), opened.

    Raises:
        DeviceError: no MIDI system, or no input matches (the message lists them).
    """
    import rtmidi

    from live.midi_io import jack_running, pick_api

    api = pick_api(prefer_jack=jack_running())
    if api is None:
        raise DeviceError("no MIDI system here (python-rtmidi has no API to open)")
    try:
        mi = rtmidi.MidiIn(api, name="sideman-learn")
    except rtmidi.SystemError as exc:
        raise DeviceError(f"MIDI system unavailable: {exc}") from exc
    names = mi.get_ports()
    match = [i for i, n in enumerate(names) if port.lower() in n.lower()]
    if not match:
        mi.delete()
        raise DeviceError(f"--midi-in must name a MIDI input (part of its name), got {port!r} "
                          f"(inputs now: {', '.join(names) or 'none'})")
    mi.open_port(match[0])
    mi.ignore_types(sysex=True, timing=True, active_sense=True)
    return mi


def enter_pressed() -> bool:
    """Whether a line (Enter) is waiting on stdin; reads it. Never blocks."""
    try:
        ready, _, _ = select.select([sys.stdin], [], [], 0)
    except (OSError, ValueError):
        return False
    if ready:
        sys.stdin.readline()
        return True
    return False


def run(rig_name: str, *, midi_in: str, out: str | None = None, actions: str | None = None,
        force: bool = False, say=print) -> Path:
    """The command: load the rig, learn each action's control, write the rig."""
    from live.rig import ACTIONS, find_rig, load_rig

    rig = load_rig(find_rig(rig_name))
    chosen = [a.strip() for a in actions.split(",") if a.strip()] if actions else list(ACTIONS)
    path = Path(out) if out else Path(f"{Path(rig_name).stem}-learned.yaml")
    if path.exists() and not force:  # before the questions, not after them
        raise OutputExistsError(f"{path} exists; use --force to overwrite it, or --out another file")
    port = open_midi_in(midi_in)
    try:
        new = learn(rig, chosen, port, skipped=enter_pressed, say=say)
    finally:
        port.close_port()
        port.delete()
    written = write_rig(new, path, force=True)
    say(f"wrote {written}; play it with: sideman jam --rig {written}")
    return written
