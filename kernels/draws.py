"""Counter-based uniform draws: the same (seed, slot, part) always gives the same numbers.

The band's humanising (velocity and timing jitter, a drum hit's probability, a drawn bass
degree) draws from a stream keyed by the slot and the part, not from one generator that
advances with every draw. The planner decides a slot again when the musician plays (and
plans ahead before a slot is final), so a generator shared by all decisions would give a
take's velocities that depend on how often each slot was revised; keyed, deciding a slot
again draws the same numbers, and a chord change in the comping does not shift the drums.

``stream_uniforms(seed, slot, part, block, out)`` fills ``out`` with uniforms in [0, 1):
draws ``block * len(out)`` to ``(block + 1) * len(out) - 1`` of the stream (seed, slot,
part). SplitMix64 (Steele, Lea and Flood 2014) of a key mixed from the three, plus the
draw's index; the top 53 bits make the double. Negative slots (a count-in) are keyed by
their two's complement. Pure; allocates nothing; ``stream_uniforms_ref`` is the same in
numpy's uint64 arithmetic.
"""

from __future__ import annotations

import numba
import numpy as np

_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


@numba.njit(cache=True, nogil=True)
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def stream_uniforms(seed, slot, part, block, out):
    """Draws ``block * n .. block * n + n - 1`` of stream (seed, slot, part) into ``out`` (n,)."""
    g = np.uint64(_GOLDEN)
    key = _mix(np.uint64(seed) + g)
    key = _mix(key ^ (np.uint64(slot) + g))
    key = _mix(key ^ (np.uint64(part) + g))
    n = out.shape[0]
    first = np.uint64(block) * np.uint64(n)
    for i in range(n):
        z = _mix(key + (first + np.uint64(i) + np.uint64(1)) * g)
        out[i] = np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def _mix_ref(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def stream_uniforms_ref(seed: int, slot: int, part: int, block: int, out: np.ndarray) -> None:
    """``stream_uniforms`` in numpy (uint64 arrays wrap as the kernel's integers do)."""
    def u64(x: int) -> np.ndarray:
        return np.array([x], np.int64).view(np.uint64)

    g = u64(_GOLDEN - (1 << 64))  # the constant's bits, through int64
    key = _mix_ref(u64(seed) + g)
    key = _mix_ref(key ^ (u64(slot) + g))
    key = _mix_ref(key ^ (u64(part) + g))
    n = out.shape[0]
    idx = u64(block) * np.uint64(n) + np.arange(n, dtype=np.uint64) + np.uint64(1)
    z = _mix_ref(key + idx * g)
    out[:] = (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
