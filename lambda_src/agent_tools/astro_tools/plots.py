"""Plots of a stored Gaia result, rendered with matplotlib's Agg backend to PNG bytes.

- colour-magnitude diagram: G against BP-RP (G increasing downwards), an optional selection highlighted;
- sky positions: RA (increasing to the left, as on the sky) against Dec, point size by brightness.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display in Lambda; must precede pyplot

from matplotlib.figure import Figure  # noqa: E402

from lambda_src.agent_tools.astro_tools.models import GaiaSource  # noqa: E402
from lambda_src.agent_tools.astro_tools.selection import ColourMagnitudeCut  # noqa: E402

_DPI = 110
_SIZE_INCHES = (6.4, 6.4)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    return buffer.getvalue()


def colour_magnitude(
    sources: list[GaiaSource], *, title: str, highlight: ColourMagnitudeCut | None
) -> tuple[bytes, int, int]:
    """The PNG, the number of sources plotted (those with G and BP-RP), and how many are highlighted."""
    plotted = [s for s in sources if s.g_mag is not None and s.bp_rp is not None]
    chosen = [s for s in plotted if highlight is not None and highlight.accepts(s)]
    others = [s for s in plotted if not (highlight is not None and highlight.accepts(s))]

    def points(group: list[GaiaSource]) -> tuple[list[float], list[float]]:
        """(BP-RP, G) of sources known to have both (``plotted`` keeps only those)."""
        return [float(s.bp_rp or 0.0) for s in group], [float(s.g_mag or 0.0) for s in group]

    figure = Figure(figsize=_SIZE_INCHES)
    axes = figure.subplots()
    axes.scatter(
        *points(others),
        s=4,
        c="0.35",
        alpha=0.7,
        linewidths=0,
        label="Gaia DR3 sources",
    )
    if highlight is not None:
        axes.scatter(
            *points(chosen),
            s=8,
            c="tab:red",
            linewidths=0,
            label=f"{highlight.describe()} ({len(chosen)})",
        )
    axes.invert_yaxis()
    axes.set_xlabel("BP - RP (mag)")
    axes.set_ylabel("G (mag)")
    axes.set_title(f"{title}\n{len(plotted)} sources")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower left", fontsize="small")
    return _png(figure), len(plotted), len(chosen)


def sky_positions(
    sources: list[GaiaSource], *, title: str, center_ra_deg: float, center_dec_deg: float
) -> tuple[bytes, int]:
    """The PNG and the number of sources plotted; brighter sources get bigger points."""
    figure = Figure(figsize=_SIZE_INCHES)
    axes = figure.subplots()
    faintest = max((s.g_mag for s in sources if s.g_mag is not None), default=20.0)
    sizes = [max(1.0, (faintest + 1.0 - s.g_mag) * 3.0) if s.g_mag is not None else 1.0 for s in sources]
    axes.scatter(
        [s.ra_deg for s in sources], [s.dec_deg for s in sources], s=sizes, c="tab:blue", alpha=0.6, linewidths=0
    )
    axes.plot([center_ra_deg], [center_dec_deg], marker="+", color="tab:red", markersize=14, label="search centre")
    axes.invert_xaxis()
    axes.set_xlabel("RA (deg, ICRS)")
    axes.set_ylabel("Dec (deg, ICRS)")
    axes.set_title(f"{title}\n{len(sources)} sources")
    # One degree of RA spans cos(Dec) degrees on the sky; keep the field round.
    axes.set_aspect(1.0 / max(0.05, math.cos(math.radians(center_dec_deg))), adjustable="datalim")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower left", fontsize="small")
    return _png(figure), len(sources)
