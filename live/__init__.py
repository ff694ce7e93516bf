"""Sideman: a real-time AI accompanist.

``live`` is the engine and the product: MIDI I/O, the audio clock, the listener, the
planner and accompanists, pyo instruments, rigs, recording and the command line.
Heavy imports (pyo, rtmidi, numba, onnxruntime) happen inside the modules that need
them, so ``import live`` and ``sideman --help`` stay instant.
"""

__version__ = "0.1.0"
