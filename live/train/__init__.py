"""Training side of Sideman: corpora turned into step arrays (``data``) for the model trainer.

Offline only; nothing here runs on the live threads. Heavy imports (music21, mido) happen
inside the functions that need them.
"""

#: The corpora with chords that ``sideman train`` and ``sideman eval`` build their dataset from
#: when ``--sources`` is not given (here, a light import, so the command line's help can say it).
DEFAULT_SOURCES = "pop909,nottingham,bach"
#: Where a chorale's chords come from: every vertical slice of its four voices (the default,
#: what the shipped model trained on: the soprano's note is in its chord by construction), the
#: three voices under the tune (alto, tenor, bass), or a harmonic analysis (the 60-odd chorales
#: music21 ships a Roman-numeral analysis of; passing notes are not chord tones there): the
#: latter two are references a band that hears only the tune can be measured against
CHORALE_CHORDS = ("all-voices", "under-the-tune", "analysis")
CHORALE_CHORDS_HELP = ("where the Bach chorales' chords come from: all-voices (default: every slice of the four "
                       "voices, the soprano included), under-the-tune (alto, tenor and bass) or analysis (the "
                       "chorales music21 has a Roman-numeral analysis of, their analysts' chords)")
