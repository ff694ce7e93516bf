"""The studio: offline composing commands (issue 5) on the same engine as the stage.

Each command lives in its own module here and exposes ``register(sub)``, which adds
its subparser to ``sideman``'s and sets ``func``. Add a module's name to COMMANDS to
switch it on. Heavy imports happen inside each command's function, not at import.
"""

from __future__ import annotations

import importlib

#: modules of live.studio with a ``register(sub)`` function, in the order of --help
COMMANDS: list[str] = ["vary", "chords", "groove", "master", "arrange", "soundscape", "sketch"]


def add_commands(sub) -> None:
    for name in COMMANDS:
        importlib.import_module(f"live.studio.{name}").register(sub)
