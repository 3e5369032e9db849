"""Gaia DR3 cone search (astroquery's Gaia TAP client): the sources around a named object or a position.

The search is bounded: radius at most :data:`MAX_RADIUS_ARCMIN`, a G magnitude limit, and at most
:data:`MAX_ROWS` rows (the archive's limit for synchronous queries), brightest first. Every result is
stored as CSV in S3 so that the selection and plot tools can reuse it by ``result_id``; the answer carries
the 20 brightest sources and a presigned link to all of them.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from lambda_src.agent_tools.astro_tools import simbad_lookup
from lambda_src.agent_tools.astro_tools.archives import TimeoutConnectionHandler, archive_errors
from lambda_src.agent_tools.astro_tools.errors import BadArgument
from lambda_src.agent_tools.astro_tools.models import ConeSearchResult, GaiaSource
from lambda_src.agent_tools.astro_tools.positions import SkyPosition, parse_position
from lambda_src.agent_tools.astro_tools.storage import ResultStore

ARCHIVE = "The Gaia archive"
MAX_RADIUS_ARCMIN = 30.0
MAX_ROWS = 2000
DEFAULT_ROWS = 500
DEFAULT_MAX_G_MAG = 20.0
MIN_G_MAG, MAX_G_MAG = 3.0, 21.0
INLINE_ROWS = 20
COLUMNS = ("source_id", "ra", "dec", "phot_g_mean_mag", "bp_rp", "parallax", "parallax_error", "separation_arcmin")

_QUERY = (
    "SELECT TOP {row_limit} source_id, ra, dec, phot_g_mean_mag, bp_rp, parallax, parallax_error "
    "FROM gaiadr3.gaia_source "
    "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra:.7f}, {dec:.7f}, {radius_deg:.7f})) "
    "AND phot_g_mean_mag <= {max_g_mag:.3f} "
    "ORDER BY phot_g_mean_mag ASC"
)


@dataclass(frozen=True)
class ConeSearch:
    """A validated search: centre, radius, magnitude limit, row limit."""

    target: str
    center: SkyPosition
    radius_arcmin: float
    max_g_mag: float
    row_limit: int

    def adql(self) -> str:
        return _QUERY.format(
            row_limit=self.row_limit,
            ra=self.center.ra_deg,
            dec=self.center.dec_deg,
            radius_deg=self.radius_arcmin / 60.0,
            max_g_mag=self.max_g_mag,
        )


@lru_cache(maxsize=4)
def _client(tap_url: str, timeout_seconds: float) -> Any:
    # Importing astroquery.gaia builds a default client that asks the public archive for status messages,
    # with no timeout of its own; bound that request too, and import only when a Gaia tool runs.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_seconds)
    try:
        from astroquery.gaia import GaiaClass
        from astroquery.utils.tap.conn.tapconn import TapConn
    finally:
        socket.setdefaulttimeout(previous)
    parts = urlsplit(tap_url)
    connection = TapConn(
        ishttps=parts.scheme == "https",
        host=parts.hostname,
        server_context="tap-server",
        tap_context="tap",
        upload_context="Upload",
        table_edit_context="TableTool",
        data_context="data",
        datalink_context="datalink",
        port=parts.port or 80,
        sslport=parts.port or 443,
        connhandler=TimeoutConnectionHandler(tap_url, timeout_seconds),
    )
    return GaiaClass(
        tap_plus_conn_handler=connection, gaia_tap_server=tap_url, gaia_data_server=tap_url, show_server_messages=False
    )


def plan(
    *,
    name: str | None,
    position: str | None,
    radius_arcmin: float,
    max_g_mag: float,
    row_limit: int,
    simbad_tap_url: str,
    timeout_seconds: float,
) -> ConeSearch:
    """Validate the arguments and find the centre (resolving ``name`` with SIMBAD)."""
    has_name, has_position = bool(name and name.strip()), bool(position and position.strip())
    if has_name == has_position:
        raise BadArgument(
            "give exactly one of name (e.g. 'M13') or position (e.g. '250.42 36.46'); "
            + ("both were given" if has_name else "neither was given")
        )
    if not 0 < radius_arcmin <= MAX_RADIUS_ARCMIN:
        raise BadArgument(
            f"radius_arcmin = {radius_arcmin:g}: must be above 0 and at most {MAX_RADIUS_ARCMIN:g} arcmin"
        )
    if not MIN_G_MAG <= max_g_mag <= MAX_G_MAG:
        raise BadArgument(f"max_g_mag = {max_g_mag:g}: must be between {MIN_G_MAG:g} and {MAX_G_MAG:g} (Gaia's range)")
    if not 1 <= row_limit <= MAX_ROWS:
        raise BadArgument(f"row_limit = {row_limit}: must be between 1 and {MAX_ROWS}")
    if has_name:
        resolved = simbad_lookup.resolve(name or "", tap_url=simbad_tap_url, timeout_seconds=timeout_seconds)
        center, target = resolved.position, resolved.main_id
    else:
        center = parse_position(position or "")
        target = f"RA {center.ra_deg:.5f}, Dec {center.dec_deg:+.5f}"
    return ConeSearch(
        target=target, center=center, radius_arcmin=radius_arcmin, max_g_mag=max_g_mag, row_limit=row_limit
    )


def _value(value: object) -> float | None:
    if np.ma.is_masked(value):
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def _separation_arcmin(ra: float, dec: float, center: SkyPosition) -> float:
    """Great-circle distance (haversine), arcminutes."""
    ra1, dec1, ra2, dec2 = map(math.radians, (ra, dec, center.ra_deg, center.dec_deg))
    a = math.sin((dec2 - dec1) / 2) ** 2 + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(a)))) * 60.0


def run(search: ConeSearch, *, tap_url: str, timeout_seconds: float) -> list[GaiaSource]:
    """Query the archive; sources brightest first."""
    with archive_errors(ARCHIVE, timeout_seconds):
        table = _client(tap_url, timeout_seconds).launch_job(search.adql(), output_format="votable").get_results()
    names = {name.lower(): name for name in table.colnames}
    sources = []
    for row in table:
        ra, dec = float(row[names["ra"]]), float(row[names["dec"]])
        sources.append(
            GaiaSource(
                source_id=str(int(row[names["source_id"]])),
                ra_deg=ra,
                dec_deg=dec,
                g_mag=_value(row[names["phot_g_mean_mag"]]),
                bp_rp=_value(row[names["bp_rp"]]),
                parallax_mas=_value(row[names["parallax"]]),
                parallax_error_mas=_value(row[names["parallax_error"]]),
                separation_arcmin=round(_separation_arcmin(ra, dec, search.center), 4),
            )
        )
    sources.sort(key=lambda source: math.inf if source.g_mag is None else source.g_mag)
    return sources


def save(search: ConeSearch, sources: list[GaiaSource], store: ResultStore) -> ConeSearchResult:
    """Write every source as CSV and answer with the brightest ones and the link."""
    result_id = store.new_result_id()
    stored = store.put_table(
        result_id,
        COLUMNS,
        (
            [
                s.source_id,
                s.ra_deg,
                s.dec_deg,
                s.g_mag,
                s.bp_rp,
                s.parallax_mas,
                s.parallax_error_mas,
                s.separation_arcmin,
            ]
            for s in sources
        ),
        description=f"Gaia DR3 within {search.radius_arcmin:g} arcmin of {search.target}, G <= {search.max_g_mag:g}",
    )
    return ConeSearchResult(
        target=search.target,
        center_ra_deg=search.center.ra_deg,
        center_dec_deg=search.center.dec_deg,
        radius_arcmin=search.radius_arcmin,
        max_g_mag=search.max_g_mag,
        row_limit=search.row_limit,
        row_count=len(sources),
        truncated=len(sources) >= search.row_limit,
        sources=sources[:INLINE_ROWS],
        result_id=result_id,
        csv_url=stored.url,
        link_expires_in_seconds=store.link_expiry_seconds,
    )


def read_stored(result_id: str, store: ResultStore) -> list[GaiaSource]:
    """The sources of a stored result, as the cone search wrote them."""

    def number(text: str) -> float | None:
        return float(text) if text not in ("", "nan") else None

    return [
        GaiaSource(
            source_id=row["source_id"],
            ra_deg=float(row["ra"]),
            dec_deg=float(row["dec"]),
            g_mag=number(row["phot_g_mean_mag"]),
            bp_rp=number(row["bp_rp"]),
            parallax_mas=number(row["parallax"]),
            parallax_error_mas=number(row["parallax_error"]),
            separation_arcmin=float(row["separation_arcmin"]),
        )
        for row in store.read_table(result_id)
    ]
