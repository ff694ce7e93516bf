"""The rig's mode -> who decides the band's notes, and what shape the take has.

- ``lead`` / ``chords``: the rule-based band or the model (live/accompanist.py,
  live/model.py) follows the musician's hands.
- ``chart``: the band plays a chord chart (live/chart.py): a count-in, the form as many
  choruses as the chart says (or one section looped), the style's ending; the take
  ends with it.
- ``duet``: the band keeps time under the musician while a lead voice answers each of
  their phrases (live/duet.py); the harmony comes from the musician (as in lead mode)
  or from the rig's chart when it has one.

Threading model: control thread, when a jam (or a test) sets up its engine. What it
builds then belongs to the planner thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class BandSetup:
    """How a rig's band is put together: hand ``accompanist`` to the Engine, then call
    :meth:`install` on it before the clock runs."""

    accompanist: Callable[[list], Any] | Any | None  # a factory (it needs the parts), or None: the rules
    chart: Any = None  # live.chart.Chart
    plan: Any = None  # live.chart.ChartPlan
    lines: list[str] = field(default_factory=list)  # what to tell the musician

    def install(self, engine, *, band_only: bool = False) -> None:
        """Put the chart's sections in the engine's planner; ``band_only``: nobody plays
        along (offline, no input file), so the band starts at once."""
        from live.chart import ChartArrangement

        if self.plan is not None:
            engine.planner.arrangement = ChartArrangement(engine.style, self.plan)
        if band_only:
            engine.planner.sync_start = False

    @property
    def ends_take(self) -> bool:
        """Whether the band's end (the chart's ending) ends the take."""
        return self.plan is not None

    def seconds(self, rig, passes: int = 4) -> float | None:
        """How long the chart's take lasts (a loop: ``passes`` times round); None without a chart."""
        if self.plan is None:
            return None
        return self.plan.seconds(rig.tempo, rig.count_in, passes)


def band_setup(rig, *, seed: int = 0, messages: list[str] | None = None, accompanist=None) -> BandSetup:
    """The band for ``rig``'s mode. ``accompanist``: the caller's own (an accompanist or
    a factory of one) for the band's harmony, in place of the rig's.

    Raises:
        ChartError: the rig's chart cannot be read (it was checked when the rig loaded).
        StyleError: the rig's style file is broken.
    """
    setup = BandSetup(accompanist)
    if rig.chart:
        from live.chart import ChartAccompanist, build_plan, load_chart
        from live.styles import open_style

        chart = load_chart(rig.chart)
        plan = build_plan(chart, open_style(rig.style, rig.styles), loop=rig.loop)
        setup.chart, setup.plan = chart, plan
        if accompanist is None:
            setup.accompanist = lambda infos: ChartAccompanist(infos, plan, seed=seed)
        what = f"looping {rig.loop} ({len(chart.sections[rig.loop])} bars)" if rig.loop else chart.describe()
        setup.lines.append(f"chart: {chart.title}: {what}, {rig.meter}/4, {rig.tempo:g} bpm, {rig.style}")
    model_tried = False  # the band's model was loaded, or failed and said so
    if not rig.chart and accompanist is None and rig.accompanist == "model":
        from live.model import model_factory

        setup.accompanist = model_factory(rig, seed=seed, messages=messages)
        model_tried = True
    if rig.mode == "duet":
        from live.accompanist import RuleAccompanist
        from live.duet import DuetAccompanist

        inner = setup.accompanist
        melodist = None
        if rig.accompanist == "model":  # the model writes the answers' pitches (rules: rule variations)
            from live.melodist import Melodist, load_melodist
            from live.model import STYLE_TOKEN

            style = STYLE_TOKEN.get(rig.style, 0)
            runtime = getattr(inner, "runtime", None)
            if runtime is not None:  # the band's own model session: one load, one planner thread using it
                melodist = Melodist(runtime, style, seed)
            elif not model_tried:  # a chart's or the caller's band: the model is loaded for the answers
                melodist = load_melodist(style, seed, messages=messages)

        def duet(infos):
            if inner is None:
                band = RuleAccompanist(infos, seed=seed)
            elif callable(inner) and not hasattr(inner, "decide"):
                band = inner(infos)
            else:
                band = inner
            return DuetAccompanist(infos, band, seed=seed, melodist=melodist)

        setup.accompanist = duet
        lead = next(p for p in rig.band if p.role == "lead" and p.enabled)
        who = "the model's melodies" if melodist is not None else "variations of them"
        setup.lines.append(f"duet: {lead.name} (GM program {lead.program}) answers your phrases with {who}")
    return setup
