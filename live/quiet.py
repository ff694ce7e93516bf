"""Keep C libraries' chatter (pyo's wxPython notice, PortMidi and ALSA warnings) off
the user's terminal.

pyo and the ALSA/PortMidi code it loads print straight to file descriptors 1 and 2
from C, so Python's ``sys.stdout`` redirection does not catch them; we swap the file
descriptors themselves around the noisy calls. Not for the real-time path.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_fds(keep: list[str] | None = None) -> Iterator[None]:
    """Silence fds 1 and 2 for the duration; lines captured are appended to ``keep``.

    Thread: control thread only (it swaps process-wide file descriptors).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            if keep is not None:
                sink.seek(0)
                keep.extend(sink.read().decode(errors="replace").splitlines())


def import_pyo():
    """Import pyo without its wxPython notice; returns the module."""
    os.environ.setdefault("PYO_GUI_WX", "0")
    if "pyo" in sys.modules:
        return sys.modules["pyo"]
    with quiet_fds():
        import pyo  # noqa: PLC0415  (heavy import kept out of `sideman --help`)
    return pyo
