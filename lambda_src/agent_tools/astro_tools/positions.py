"""Sky positions: parse what a person types, format what an astronomer reads.

Accepted positions (ICRS): decimal degrees ``"10.6847 41.2690"`` or ``"10.6847, +41.2690"``, and sexagesimal
``"00h42m44.3s +41d16m09s"``, ``"00:42:44.3 +41:16:09"`` or ``"00 42 44.3 +41 16 09"`` (RA in hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from astropy import units as u
from astropy.coordinates import SkyCoord

from lambda_src.agent_tools.astro_tools.errors import BadArgument

_DECIMAL_PAIR = re.compile(
    r"^\s*([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*(?:d|deg)?\s*[, ]\s*([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*(?:d|deg)?\s*$"
)
_MAX_LENGTH = 80
EXAMPLES = "degrees ('10.6847 41.2690') or sexagesimal ('00h42m44.3s +41d16m09s' or '00:42:44.3 +41:16:09')"


@dataclass(frozen=True)
class SkyPosition:
    """An ICRS position in degrees, with its sexagesimal rendering."""

    ra_deg: float
    dec_deg: float

    @property
    def ra_sexagesimal(self) -> str:
        return SkyCoord(self.ra_deg * u.deg, self.dec_deg * u.deg).ra.to_string(
            unit=u.hourangle, sep="hms", precision=2, pad=True
        )

    @property
    def dec_sexagesimal(self) -> str:
        return SkyCoord(self.ra_deg * u.deg, self.dec_deg * u.deg).dec.to_string(
            unit=u.deg, sep="dms", precision=1, pad=True, alwayssign=True
        )


def from_degrees(ra_deg: float, dec_deg: float) -> SkyPosition:
    """A position from degrees, RA wrapped into [0, 360)."""
    if not -90.0 <= dec_deg <= 90.0:
        raise BadArgument(f"dec = {dec_deg!r}: declination must lie between -90 and +90 degrees")
    return SkyPosition(ra_deg=float(ra_deg) % 360.0, dec_deg=float(dec_deg))


def parse_position(text: str) -> SkyPosition:
    """Parse ``text`` as an ICRS position; a :class:`BadArgument` says what is accepted."""
    cleaned = text.strip()
    if not cleaned:
        raise BadArgument(f"position is empty; give RA and Dec in {EXAMPLES}")
    if len(cleaned) > _MAX_LENGTH:
        raise BadArgument(f"position is {len(cleaned)} characters long; give RA and Dec in {EXAMPLES}")
    decimal = _DECIMAL_PAIR.match(cleaned)
    if decimal:
        ra, dec = float(decimal[1]), float(decimal[2])
        if not 0.0 <= ra < 360.0:
            raise BadArgument(f"position = {text!r}: right ascension must lie in [0, 360) degrees")
        return from_degrees(ra, dec)
    try:
        coordinate = SkyCoord(cleaned, unit=(u.hourangle, u.deg), frame="icrs")
    except (ValueError, TypeError, u.UnitsError) as error:
        raise BadArgument(f"position = {text!r}: not a sky position; give RA and Dec in {EXAMPLES}") from error
    return from_degrees(float(coordinate.ra.deg), float(coordinate.dec.deg))
