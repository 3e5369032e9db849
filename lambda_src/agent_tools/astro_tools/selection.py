"""Colour/magnitude selection on a stored Gaia result: how many sources pass, and their statistics.

For example red giants in a cluster field: ``0.8 < BP-RP < 1.5`` and ``G < 17``. Bounds are strict; a source
without the measured quantity (no BP-RP for many faint stars) fails any bound on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lambda_src.agent_tools.astro_tools.errors import BadArgument
from lambda_src.agent_tools.astro_tools.models import GaiaSource, SelectionResult, Statistics

SAMPLE_ROWS = 10


@dataclass(frozen=True)
class ColourMagnitudeCut:
    """Open intervals on BP-RP and G; ``None`` leaves a side unbounded."""

    bp_rp_min: float | None = None
    bp_rp_max: float | None = None
    g_min: float | None = None
    g_max: float | None = None

    def __post_init__(self) -> None:
        if all(bound is None for bound in (self.bp_rp_min, self.bp_rp_max, self.g_min, self.g_max)):
            raise BadArgument("give at least one of bp_rp_min, bp_rp_max, g_min, g_max")
        for low_name, low, high_name, high in (
            ("bp_rp_min", self.bp_rp_min, "bp_rp_max", self.bp_rp_max),
            ("g_min", self.g_min, "g_max", self.g_max),
        ):
            if low is not None and high is not None and low >= high:
                raise BadArgument(
                    f"{low_name} = {low:g} is not below {high_name} = {high:g}; the selection would be empty"
                )

    def describe(self) -> str:
        parts = []
        for label, low, high in (("BP-RP", self.bp_rp_min, self.bp_rp_max), ("G", self.g_min, self.g_max)):
            if low is not None and high is not None:
                parts.append(f"{low:g} < {label} < {high:g}")
            elif low is not None:
                parts.append(f"{label} > {low:g}")
            elif high is not None:
                parts.append(f"{label} < {high:g}")
        return " and ".join(parts)

    def accepts(self, source: GaiaSource) -> bool:
        for value, low, high in (
            (source.bp_rp, self.bp_rp_min, self.bp_rp_max),
            (source.g_mag, self.g_min, self.g_max),
        ):
            if low is None and high is None:
                continue
            if value is None or (low is not None and value <= low) or (high is not None and value >= high):
                return False
        return True


def statistics(values: list[float | None]) -> Statistics:
    present = np.array([value for value in values if value is not None], dtype=float)
    if present.size == 0:
        return Statistics(count=0)
    return Statistics(
        count=int(present.size),
        minimum=round(float(present.min()), 4),
        maximum=round(float(present.max()), 4),
        mean=round(float(present.mean()), 4),
        median=round(float(np.median(present)), 4),
        standard_deviation=round(float(present.std(ddof=1)), 4) if present.size > 1 else None,
    )


def select(result_id: str, sources: list[GaiaSource], cut: ColourMagnitudeCut) -> SelectionResult:
    selected = [source for source in sources if cut.accepts(source)]
    return SelectionResult(
        result_id=result_id,
        criteria=cut.describe(),
        total_sources=len(sources),
        selected_sources=len(selected),
        selected_fraction=round(len(selected) / len(sources), 4) if sources else 0.0,
        g_mag=statistics([s.g_mag for s in selected]),
        bp_rp=statistics([s.bp_rp for s in selected]),
        parallax_mas=statistics([s.parallax_mas for s in selected]),
        sample=selected[:SAMPLE_ROWS],
    )
