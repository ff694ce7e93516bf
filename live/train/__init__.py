"""Training side of Sideman: corpora turned into step arrays (``data``) for the model trainer.

Offline only; nothing here runs on the live threads. Heavy imports (music21, mido) happen
inside the functions that need them.
"""
