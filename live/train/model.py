"""The accompanist model: a small causal GRU, one step per eighth note.

Vocabulary (shared by training, export and the live runtime)
-------------------------------------------------------------
- melody pitch class: 0 = rest/unknown, 1..12 = pc + 1 (``MEL_CLASSES`` = 13)
- chord: ``root * 13 + quality`` (quality = index in ``kernels.QUALITIES``), 156 = no
  chord (``CHORD_CLASSES`` = 157)
- bass pitch class: 0 = none, 1..12 = pc + 1 (``BASS_CLASSES`` = 13)
- position in the bar: the eighth-note step, 0..15 (``POS_CLASSES`` = 16)
- style: ``STYLES`` (the corpus a piece came from stands in for its style)

Step ``t`` (inputs -> outputs):
    prev_mel, prev_on   the melody in step t-1 (what the musician played before t)
    prev_chord          the chord the band played in step t-1 (the accompaniment so far)
    pos, style          where step t falls in the bar; the style token
    cur_mel             the melody at the start of step t, or 0 when not known yet:
                        strictly causal ("online", as live) feeds 0; the reactive
                        variant, a few ms past the beat, feeds the note
    h                   GRU state, shape (layers, batch, hidden)
 -> chord_logits (B,157), bass_logits (B,13), mel_logits (B,13), h_out

The state makes a step cost the same at bar 1 and at bar 500.
"""

from __future__ import annotations

import torch
from torch import nn

MEL_CLASSES = 13
CHORD_CLASSES = 157
NO_CHORD = 156
BASS_CLASSES = 13
POS_CLASSES = 16
STYLES = ("pop909", "nottingham", "bach", "other")
INPUT_NAMES = ["prev_mel", "prev_on", "prev_chord", "pos", "style", "cur_mel", "h"]
OUTPUT_NAMES = ["chord_logits", "bass_logits", "mel_logits", "h_out"]


class AccompanistNet(nn.Module):
    def __init__(self, hidden: int = 192, layers: int = 2, emb: int = 32) -> None:
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.e_prev_mel = nn.Embedding(MEL_CLASSES, emb)
        self.e_prev_on = nn.Embedding(2, 8)
        self.e_chord = nn.Embedding(CHORD_CLASSES, emb * 2)
        self.e_pos = nn.Embedding(POS_CLASSES, 16)
        self.e_style = nn.Embedding(len(STYLES), 8)
        self.e_cur_mel = nn.Embedding(MEL_CLASSES, emb)
        width = emb + 8 + emb * 2 + 16 + 8
        self.inp = nn.Linear(width, hidden)
        self.gru = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True)
        # the current melody joins after the GRU, so the state never depends on it:
        # online and reactive decoding share one state history
        self.cur = nn.Linear(emb + hidden + 16, hidden)
        self.chord_head = nn.Linear(hidden, CHORD_CLASSES)
        self.bass_head = nn.Linear(hidden, BASS_CLASSES)
        self.mel_head = nn.Linear(hidden, MEL_CLASSES)

    def forward(self, prev_mel, prev_on, prev_chord, pos, style, cur_mel, h):
        """All int inputs (B, T); h (layers, B, hidden). Returns logits (B, T, C) and h."""
        x = torch.cat([self.e_prev_mel(prev_mel), self.e_prev_on(prev_on), self.e_chord(prev_chord),
                       self.e_pos(pos), self.e_style(style)], dim=-1)
        y, h_out = self.gru(torch.tanh(self.inp(x)), h)
        # melody continuation reads the state alone: it predicts the note not yet heard
        mel_logits = self.mel_head(y)
        z = torch.tanh(self.cur(torch.cat([y, self.e_cur_mel(cur_mel), self.e_pos(pos)], dim=-1)))
        return self.chord_head(z), self.bass_head(z), mel_logits, h_out

    def zero_state(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(self.layers, batch, self.hidden)


class StepWrapper(nn.Module):
    """One step, (B,) inputs: the graph exported to ONNX."""

    def __init__(self, net: AccompanistNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, prev_mel, prev_on, prev_chord, pos, style, cur_mel, h):
        c, b, m, h_out = self.net(prev_mel[:, None], prev_on[:, None], prev_chord[:, None], pos[:, None],
                                  style[:, None], cur_mel[:, None], h)
        return c[:, 0], b[:, 0], m[:, 0], h_out
