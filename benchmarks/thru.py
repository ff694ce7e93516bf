"""A minimal python-rtmidi MIDI thru client: each message from its JACK input ``in``
goes straight to its output ``out``. The reference ("direct loop") for the MIDI
latency benchmarks.

Usage: python -m benchmarks.thru CLIENTNAME   (ends on SIGTERM/SIGINT)

Threading model: rtmidi calls ``_forward`` on its JACK input thread; the main thread
only opens the ports, then sleeps until a signal arrives.
"""

from __future__ import annotations

import signal
import sys
import threading


def main(argv: list[str]) -> int:
    import rtmidi

    name = argv[1] if len(argv) > 1 else "thru"
    api = rtmidi.API_UNIX_JACK
    mi = rtmidi.MidiIn(api, name=name, queue_size_limit=8192)
    mo = rtmidi.MidiOut(api, name=name)
    mi.ignore_types(sysex=False, timing=False, active_sense=False)
    mo.open_virtual_port("out")
    send = mo.send_message

    def _forward(event, _data) -> None:
        send(event[0])

    mi.set_callback(_forward)
    mi.open_virtual_port("in")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"thru ready: {name}", flush=True)
    while not done.wait(0.2):
        pass
    mi.cancel_callback()
    mi.close_port()
    mo.close_port()
    mi.delete()
    mo.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
