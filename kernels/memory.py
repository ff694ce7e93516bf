"""The tune's memory: where has the musician played what they just played, and what came next?

Tunes repeat: a verse comes back, the A part of a reel is played twice, a phrase answers
itself four bars later. A band that has heard the first time knows what the melody will
do the second time. ``recall`` finds, in the melody heard so far, the longest earlier
passage that ends like the last ``max_len`` steps and sits at the same place in the bar;
what followed it there is the forecast for what comes now.

The melody is a sequence of step tokens (``melody_token``: the pitch class sounding at
the step's start and whether it began in that step; rests are tokens too), with each
step's position in the bar. ``tok[:n]`` has been heard; step ``n`` (position
``pos[n]``) is the one to forecast. The match is ``tok[j-L:j] == tok[n-L:n]`` with
``pos[j] == pos[n]`` and ``j < n``: the steps ``j, j+1, ...`` up to ``n - 1`` were heard
after that earlier passage, so the forecast is made of notes already heard (strictly
causal). Returns ``(j, L)``, the longest match (the latest among equals), or ``(-1, 0)``
when no earlier passage matches ``min_len`` steps. The cost is bounded by the window the
caller keeps (``n``), not by the length of the jam.

``recall_votes`` reads the same matches differently: every earlier passage that matches
``min_len`` or more steps votes for the pitch classes that followed it, weighted by its
length, so a phrase that went on two ways before forecasts both (a folk tune's first and
second endings, a B part that starts like the A part). Same causality: only steps before
``n`` are read.

Pure; allocates nothing; releases the GIL. Thread: any (the planner).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def melody_token(pc: int, onset: int) -> int:
    """A step's token: 0 rest, 1 + 2*pc + onset for a pitch class ``pc`` (0-11)."""
    if pc < 0:
        return 0
    return 1 + 2 * pc + (1 if onset else 0)


@numba.njit(nogil=True, cache=True)
def _match_length(tok, j, n, max_len):
    """How many steps before ``j`` equal the steps before ``n`` (at most ``max_len``, ``j``)."""
    length = 0
    while length < max_len and length < j and tok[j - 1 - length] == tok[n - 1 - length]:
        length += 1
    return length


@numba.njit(nogil=True, cache=True)
def recall(tok, pos, n, min_len, max_len):
    """(j, L): the longest earlier match of ``tok[n-L:n]`` at position ``pos[n]``."""
    best_j, best_l = -1, 0
    if n < min_len + 1:
        return best_j, best_l
    target = pos[n]
    for j in range(n - 1, min_len - 1, -1):
        if pos[j] != target:
            continue
        length = _match_length(tok, j, n, max_len)
        if length > best_l:
            best_j, best_l = j, length
            if length == max_len:
                break
    if best_l < min_len:
        return -1, 0
    return best_j, best_l


def recall_ref(tok: np.ndarray, pos: np.ndarray, n: int, min_len: int, max_len: int) -> tuple[int, int]:
    """Plain-numpy reference of ``recall`` (same answer, same tie rule)."""
    best = (-1, 0)
    if n < min_len + 1:
        return best
    heard = np.asarray(tok[:n])
    for j in range(n - 1, min_len - 1, -1):
        if pos[j] != pos[n]:
            continue
        k = min(max_len, j)
        a = heard[j - k:j][::-1]
        b = heard[n - k:n][::-1]
        diff = np.flatnonzero(a != b)
        length = int(diff[0]) if len(diff) else k
        if length > best[1]:
            best = (j, length)
            if length == max_len:
                break
    return best if best[1] >= min_len else (-1, 0)


@numba.njit(nogil=True, cache=True)
def recall_votes(tok, pos, n, min_len, max_len, span, power, out):
    """Every earlier passage at position ``pos[n]`` that ends like the last ``min_len`` or
    more steps votes for what followed it: ``out[pc]`` gets ``L ** power`` (L the match
    length) times 1, 1/2, 1/4 ... for the pitch classes of its next ``span`` steps (before
    ``n``). ``out`` is zeroed first; returns the number of passages that voted."""
    for i in range(12):
        out[i] = 0.0
    votes = 0
    if n < min_len + 1:
        return votes
    target = pos[n]
    for j in range(n - 1, min_len - 1, -1):
        if pos[j] != target:
            continue
        length = _match_length(tok, j, n, max_len)
        if length < min_len:
            continue
        votes += 1
        continuation(tok, j, n, span, float(length) ** power, out)
    return votes


@numba.njit(nogil=True, cache=True)
def continuation(tok, j, n, span, w, out):
    """What followed a match at ``j``: ``w``, ``w / 2``, ``w / 4`` ... added to ``out[pc]`` for
    the pitch classes of the steps ``j`` .. ``j + span - 1`` (only those before ``n``: heard).
    Returns the weight added (a rest adds none)."""
    added = 0.0
    end = j + span
    if end > n:
        end = n
    for k in range(j, end):
        t = tok[k]
        if t > 0:
            out[(t - 1) >> 1] += w
            added += w
        w *= 0.5
    return added


def recall_votes_ref(tok: np.ndarray, pos: np.ndarray, n: int, min_len: int, max_len: int, span: int,
                     power: float, out: np.ndarray) -> int:
    """Plain-numpy reference of ``recall_votes`` (same votes, same weights)."""
    out[:] = 0.0
    if n < min_len + 1:
        return 0
    heard = np.asarray(tok[:n])
    votes = 0
    for j in range(min_len, n):
        if pos[j] != pos[n]:
            continue
        k = min(max_len, j)
        diff = np.flatnonzero(heard[j - k:j][::-1] != heard[n - k:n][::-1])
        length = int(diff[0]) if len(diff) else k
        if length < min_len:
            continue
        votes += 1
        cont = heard[j:min(j + span, n)]
        w = float(length) ** power * 0.5 ** np.arange(len(cont))
        np.add.at(out, (cont[cont > 0] - 1) >> 1, w[cont > 0])
    return votes
