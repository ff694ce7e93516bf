"""Training side of Sideman: corpora turned into step arrays (``data``) for the model trainer.

Offline only; nothing here runs on the live threads. Heavy imports (music21, mido) happen
inside the functions that need them.
"""

#: The corpora with chords that ``sideman train`` and ``sideman eval`` build their dataset from
#: when ``--sources`` is not given (here, a light import, so the command line's help can say it).
DEFAULT_SOURCES = "pop909,nottingham,bach"
