"""Piano-roll pictures of takes: what a person would rather look at than read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from live.midifile import atomic_write, note_spans

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def piano_roll(path: Path, events: np.ndarray, sr: int, tracks: list[tuple[int, str]],
               title: str = "", drum_tracks: set[int] | None = None) -> None:
    """Write a PNG piano roll: pitched parts above, drums as hits below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spans = note_spans(events, sr) if len(events) else []
    drums = drum_tracks if drum_tracks is not None else {t for t, n in tracks if "drum" in n}
    fig, (ax, axd) = plt.subplots(2, 1, figsize=(14, 7), sharex=True,
                                  gridspec_kw={"height_ratios": [4, 1]})
    seen = set()
    for i, (tid, name) in enumerate(tracks):
        color = COLORS[i % len(COLORS)]
        mine = [s for s in spans if s[0] == tid]
        target = axd if tid in drums else ax
        for _, note, start, end, vel in mine:
            label = name if name not in seen else None
            seen.add(name)
            if tid in drums:
                target.plot([start], [note], "|", color=color, markersize=8, label=label)
            else:
                target.add_patch(plt.Rectangle((start, note - 0.4), max(end - start, 0.02), 0.8,
                                               color=color, alpha=0.35 + 0.6 * vel / 127, label=label))
    if spans:
        t_end = max(s[3] for s in spans)
        ax.set_xlim(0, t_end + 0.5)
        pitched = [s[1] for s in spans if s[0] not in drums] or [60]
        ax.set_ylim(min(pitched) - 3, max(pitched) + 3)
        hits = [s[1] for s in spans if s[0] in drums] or [36]
        axd.set_ylim(min(hits) - 2, max(hits) + 2)
    ax.set_ylabel("MIDI note")
    axd.set_ylabel("drums")
    axd.set_xlabel("seconds")
    ax.set_title(title or "Sideman take")
    if ax.get_legend_handles_labels()[0]:  # an empty take has nothing to name
        ax.legend(loc="upper right", fontsize=8)
    if any(s[0] in drums for s in spans):
        axd.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.2)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
