"""The band's sounds, synthesized with pyo: voices, parts, the mixer and master bus.

Threading model
---------------
- Built on the control thread when a rig loads (all pyo objects and voice tables are
  allocated here, never per note).
- ``note_on`` / ``note_off`` / ``all_off`` are called only from the audio-clock
  callback: they set a few pyo parameters and start or stop envelopes; they loop over
  at most a part's voices and allocate no containers.
"""

from __future__ import annotations

import numpy as np

from live.quiet import import_pyo

#: GM drum notes -> the kit's voice names. Hand percussion borrows the nearest voice
#: (shakers the hat, claves and blocks the stick, congas and bongos the tom) so every
#: style's drums sound here; MIDI out carries the real GM notes.
DRUM_MAP = {35: "kick", 36: "kick", 37: "stick", 38: "snare", 39: "snare", 40: "snare",
            42: "hat", 44: "hat", 46: "open", 49: "crash", 57: "crash", 51: "ride",
            53: "ride", 59: "ride", 41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom",
            50: "tom", 54: "hat", 56: "stick", 60: "tom", 61: "tom", 62: "tom", 63: "tom",
            64: "tom", 69: "hat", 70: "hat", 75: "stick", 76: "stick", 77: "stick", 81: "ride"}

#: The brush kit (``instrument: brushes``; General MIDI program 41 "Brush" on channel 10, as
#: GS/GM2 synths number it): the same map, except that the snare's notes are played with
#: brushes. 38 a brush tap (a short, soft slap of the wires), 39 a brush slap (the same,
#: harder and brighter), 40 a brush swirl (the wires swept round the head: filtered noise with
#: a slow attack and a long fade). Styles name them ``brush_tap``, ``brush_slap``,
#: ``brush_swirl`` (live.styles.DRUM_NOTES).
BRUSH_MAP = {**DRUM_MAP, 38: "brush_tap", 39: "brush_slap", 40: "brush_swirl"}
DRUM_KITS = ("kit", "brushes")


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def vel_amp(vel: int) -> float:
    return (vel / 127.0) ** 1.6


class PolyPart:
    """A polyphonic pitched instrument with a fixed pool of voices.

    Voice stealing takes the oldest voice when all are busy. Each voice remembers the
    event id that started it, so a note-off for a note that was re-triggered since is
    ignored, and every note-on meets exactly one release.
    """

    def __init__(self, kind: str, voices: int, volume: float, pan: float) -> None:
        pyo = import_pyo()
        self.kind = kind
        self.n = voices
        self.voice_note = np.full(voices, -1, np.int64)
        self.voice_eid = np.full(voices, -1, np.int64)
        self.voice_age = np.zeros(voices, np.int64)
        self._tick = 0
        self.freqs = [pyo.Sig(220.0) for _ in range(voices)]
        self.amps = [pyo.Sig(0.0) for _ in range(voices)]
        self.envs = [pyo.Adsr(*ENVELOPES[kind], dur=0) for _ in range(voices)]
        sigs = [_voice(pyo, kind, f, a * e) for f, a, e in zip(self.freqs, self.amps, self.envs, strict=True)]
        self.level = pyo.SigTo(volume, time=0.05)
        mono = pyo.Mix(sigs, voices=1, mul=self.level)
        self.out = pyo.Pan(mono, outs=2, pan=(pan + 1.0) / 2.0)
        self._keep = sigs + [mono]

    def note_on(self, note: int, vel: int, eid: int) -> None:
        self._tick += 1
        v = -1
        for i in range(self.n):  # free voice first, else the oldest
            if self.voice_eid[i] < 0:
                v = i
                break
        if v < 0:
            v = int(self.voice_age.argmin())
        self.voice_note[v] = note
        self.voice_eid[v] = eid
        self.voice_age[v] = self._tick
        self.freqs[v].value = midi_hz(note)
        self.amps[v].value = vel_amp(vel)
        self.envs[v].play()

    def note_off(self, note: int, eid: int) -> None:
        for i in range(self.n):
            if self.voice_eid[i] == eid and self.voice_note[i] == note:
                self.envs[i].stop()
                self.voice_eid[i] = -1
                self.voice_note[i] = -1
                return

    def all_off(self) -> None:
        for i in range(self.n):
            if self.voice_eid[i] >= 0:
                self.envs[i].stop()
            self.voice_eid[i] = -1
            self.voice_note[i] = -1


# attack, decay, sustain, release (seconds / level)
ENVELOPES = {
    "piano": (0.002, 1.8, 0.0, 0.25),
    "epiano": (0.002, 1.2, 0.25, 0.3),
    "organ": (0.005, 0.05, 1.0, 0.06),
    "pad": (0.35, 0.6, 0.8, 1.2),
    "strings": (0.25, 0.4, 0.85, 0.6),
    "bass": (0.004, 0.35, 0.55, 0.08),
    "upright": (0.006, 0.7, 0.15, 0.12),
    "lead": (0.01, 0.2, 0.7, 0.15),
}


def _voice(pyo, kind: str, freq, amp):
    """One voice's signal chain; ``amp`` already includes the envelope."""
    if kind == "piano":
        tab = pyo.HarmTable([1, 0.45, 0.25, 0.12, 0.08, 0.04, 0.02])
        return pyo.ButLP(pyo.Osc(tab, freq=freq, mul=amp * 0.5), freq=4500)
    if kind == "epiano":
        return pyo.FM(carrier=freq, ratio=1.0, index=amp * 4.0 + 0.3, mul=amp * 0.45)
    if kind == "organ":
        tab = pyo.HarmTable([1, 0.8, 0.5, 0.0, 0.35, 0.0, 0.0, 0.25])
        return pyo.Osc(tab, freq=freq, mul=amp * 0.25)
    if kind in ("pad", "strings"):
        saw = pyo.SuperSaw(freq=freq, detune=0.35, bal=0.7, mul=amp * 0.18)
        return pyo.ButLP(saw, freq=2200 if kind == "pad" else 3500)
    if kind == "bass":
        tab = pyo.HarmTable([1, 0.7, 0.35, 0.2, 0.1])
        return pyo.ButLP(pyo.Osc(tab, freq=freq, mul=amp * 0.7), freq=1200)
    if kind == "upright":
        tab = pyo.HarmTable([1, 0.35, 0.15, 0.05])
        return pyo.Osc(tab, freq=freq, mul=amp * 0.8)
    if kind == "lead":
        return pyo.ButLP(pyo.Osc(pyo.SquareTable(order=8), freq=freq, mul=amp * 0.25), freq=3000)
    raise ValueError(f"unknown instrument kind {kind!r}")


class DrumKit:
    """A synthesized kit: kick, snare, side stick, hats, ride, crash, toms; with
    ``brushes`` the snare's notes are brush tap, slap and swirl (BRUSH_MAP)."""

    def __init__(self, volume: float, pan: float, brushes: bool = False) -> None:
        pyo = import_pyo()
        self.kind = "brushes" if brushes else "kit"
        self.map = BRUSH_MAP if brushes else DRUM_MAP
        self.amps: dict[str, object] = {}
        self.envs: dict[str, object] = {}
        sigs = []

        def env(name, a, d, r=0.02):
            amp = pyo.Sig(0.0)
            e = pyo.Adsr(a, d, 0.0, r, dur=0)
            self.amps[name], self.envs[name] = amp, e
            return amp * e

        k = env("kick", 0.001, 0.35)
        sweep = pyo.Adsr(0.001, 0.06, 0.0, 0.01, dur=0)
        self.envs["kick_sweep"] = sweep
        sigs.append(pyo.Sine(freq=48 + sweep * 110, mul=k * 0.9))
        s = env("snare", 0.001, 0.18)
        sigs.append(pyo.ButBP(pyo.Noise(), freq=2500, q=0.7, mul=s * 0.9))
        sigs.append(pyo.Sine(freq=185, mul=s * 0.35))
        st = env("stick", 0.0005, 0.05)
        sigs.append(pyo.ButBP(pyo.Noise(), freq=1700, q=3, mul=st * 1.2))
        h = env("hat", 0.0005, 0.045)
        sigs.append(pyo.ButHP(pyo.Noise(), freq=8000, mul=h * 0.35))
        o = env("open", 0.001, 0.35)
        sigs.append(pyo.ButHP(pyo.Noise(), freq=6500, mul=o * 0.3))
        rd = env("ride", 0.001, 0.6)
        sigs.append(pyo.ButBP(pyo.Noise(), freq=5200, q=4, mul=rd * 0.5))
        sigs.append(pyo.Sine(freq=4100, mul=rd * 0.04))
        c = env("crash", 0.001, 1.4)
        sigs.append(pyo.ButHP(pyo.Noise(), freq=4000, mul=c * 0.3))
        self.tom_freq = pyo.Sig(120.0)
        t = env("tom", 0.001, 0.3)
        sigs.append(pyo.Sine(freq=self.tom_freq, mul=t * 0.7))
        if brushes:
            bt = env("brush_tap", 0.003, 0.12, 0.03)
            sigs.append(pyo.ButBP(pyo.Noise(), freq=3200, q=0.6, mul=bt * 0.55))
            bs = env("brush_slap", 0.002, 0.16, 0.03)
            sigs.append(pyo.ButBP(pyo.Noise(), freq=4200, q=0.5, mul=bs * 0.75))
            sw = env("brush_swirl", 0.18, 0.55, 0.15)  # a sweep swells in, then fades
            sigs.append(pyo.ButBP(pyo.Noise(), freq=2600, q=0.9, mul=sw * 0.35))
        self.level = pyo.SigTo(volume, time=0.05)
        mono = pyo.Mix(sigs, voices=1, mul=self.level)
        self.out = pyo.Pan(mono, outs=2, pan=(pan + 1.0) / 2.0)
        self._keep = sigs + [mono, sweep]

    def note_on(self, note: int, vel: int, eid: int) -> None:
        name = self.map.get(note)
        if name is None:
            return
        if name == "hat" or name == "open":  # a closed hat chokes the open one
            self.envs["open"].stop()
        if name == "tom":
            self.tom_freq.value = 80.0 + (note - 41) * 14.0
        if name == "kick":
            self.envs["kick_sweep"].play()
        self.amps[name].value = vel_amp(vel)
        self.envs[name].play()

    def note_off(self, note: int, eid: int) -> None:
        """Drums are one-shots; their envelopes end by themselves."""

    def all_off(self) -> None:
        for e in self.envs.values():
            e.stop()


def make_part(instrument: str, volume: float, pan: float):
    if instrument in DRUM_KITS:
        return DrumKit(volume, pan, brushes=instrument == "brushes")
    voices = {"bass": 2, "upright": 2, "lead": 2, "pad": 6, "strings": 6}.get(instrument, 8)
    return PolyPart(instrument, voices, volume, pan)


#: a part's reverb send when the rig names none (the rig schema's default too)
DEFAULT_SEND = 0.18

# pyo's Compress treats lookahead=0 as its longest delay (25 ms, measured: a note came
# out 1,200 frames late); one sample of look-ahead is the shortest real one.
LOOKAHEAD_MS = 1000.0 / 48000.0


class Mixer:
    """Parts -> each part's reverb send -> master compressor and limiter -> output.

    ``sends``: one reverb send 0..1 per part (the rig's ``reverb``), default ``reverb`` for
    every part. Built at rig load; nothing here changes per note.
    """

    def __init__(self, parts: list, reverb: float = DEFAULT_SEND, sends: list[float] | None = None) -> None:
        pyo = import_pyo()
        self.sends = [float(x) for x in sends] if sends is not None else [reverb] * len(parts)
        if len(self.sends) != len(parts):
            raise ValueError(f"Mixer needs one reverb send per part ({len(parts)}), got {len(self.sends)}")
        dry = pyo.Mix([p.out for p in parts], voices=2)
        sent = [p.out * x for p, x in zip(parts, self.sends, strict=True) if x > 0.0]
        send_bus = pyo.Mix(sent, voices=2) if sent else pyo.Sig([0.0, 0.0])
        wet = pyo.Freeverb(send_bus, size=0.7, damp=0.5, bal=1.0)
        bus = pyo.Mix([dry, wet], voices=2)
        # no lookahead: the musician's own sound must not wait for the compressor
        comp = pyo.Compress(bus, thresh=-14, ratio=2.5, risetime=0.005, falltime=0.15,
                            lookahead=LOOKAHEAD_MS, knee=0.4)
        lim = pyo.Compress(comp, thresh=-2, ratio=30, risetime=0.0005, falltime=0.05,
                           lookahead=LOOKAHEAD_MS)
        self.master = pyo.Clip(lim, min=-0.97, max=0.97)
        self._keep = [dry, *sent, send_bus, wet, bus, comp, lim]

    def out(self) -> None:
        self.master.out()
