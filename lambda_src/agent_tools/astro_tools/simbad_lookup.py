"""Resolve an object name with SIMBAD (astroquery's TAP client): position in degrees and sexagesimal, type.

One ADQL query per name, one request, matched the way SIMBAD matches identifiers (case and spacing do not
matter: ``m31``, ``M 31`` and ``NGC 224`` all find M 31). The client is kept per process, so repeated names
are answered from astroquery's in-process cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from astroquery.simbad import SimbadClass
from pyvo.dal import TAPService

from lambda_src.agent_tools.astro_tools.archives import archive_errors, bounded_session
from lambda_src.agent_tools.astro_tools.errors import BadArgument, NotFound
from lambda_src.agent_tools.astro_tools.positions import SkyPosition, from_degrees

ARCHIVE = "SIMBAD"
MAX_NAME_LENGTH = 100
# SIMBAD's documented TAP output limit. astroquery compares each query's maxrec with the service's hard limit,
# which it would otherwise fetch from the capabilities endpoint: a round trip (and, when that times out, a
# second one on a sibling URL) for a number that cannot matter to a TOP 2 query.
SIMBAD_HARD_LIMIT = 2_000_000
_PRINTABLE_NAME = re.compile(r"^[\w .+\-*'\[\]()/:&]+$", re.UNICODE)

_QUERY = (
    "SELECT TOP 2 basic.main_id, basic.ra, basic.dec, basic.otype, otypedef.description AS otype_description "
    "FROM basic JOIN ident ON ident.oidref = basic.oid "
    "LEFT OUTER JOIN otypedef ON otypedef.otype = basic.otype "
    "WHERE ident.id = '{name}'"
)


@dataclass(frozen=True)
class ResolvedName:
    """What SIMBAD knows about a name: its main identifier, ICRS position and object type."""

    query: str
    main_id: str
    position: SkyPosition
    object_type: str
    object_type_description: str | None


class _ConfiguredSimbad(SimbadClass):
    """astroquery's SIMBAD client on a given TAP endpoint, with bounded requests.

    astroquery chooses between two public mirrors by host name; the endpoint is configurable here so that
    the function can be pointed at another mirror and the tests at a local server.
    """

    def __init__(self, tap_url: str, timeout_seconds: float) -> None:
        super().__init__()
        self._tap_url = tap_url.rstrip("/")
        self._tap: TAPService | None = None
        bounded_session(self._session, timeout_seconds)

    @property
    def hardlimit(self) -> int:
        return SIMBAD_HARD_LIMIT

    @property
    def tap(self) -> TAPService:
        if self._tap is None or self._tap.baseurl != self._tap_url:
            self._tap = TAPService(baseurl=self._tap_url, session=self._session)
        return self._tap


@lru_cache(maxsize=4)
def _client(tap_url: str, timeout_seconds: float) -> _ConfiguredSimbad:
    return _ConfiguredSimbad(tap_url, timeout_seconds)


def validate_name(name: str) -> str:
    """The name, stripped; a :class:`BadArgument` if it is empty or cannot be an identifier."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise BadArgument("name is empty; give an object name such as 'M31', 'NGC 6397' or 'Betelgeuse'")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise BadArgument(f"name is {len(cleaned)} characters long; object names have at most {MAX_NAME_LENGTH}")
    if not _PRINTABLE_NAME.match(cleaned):
        raise BadArgument(f"name = {name!r}: contains characters no astronomical identifier uses")
    return cleaned


def adql_for(name: str) -> str:
    """The ADQL that resolves ``name`` (quotes doubled, as ADQL string literals require)."""
    return _QUERY.format(name=name.replace("'", "''"))


def resolve(name: str, *, tap_url: str, timeout_seconds: float) -> ResolvedName:
    """Resolve ``name``; :class:`NotFound` if SIMBAD does not know it."""
    cleaned = validate_name(name)
    with archive_errors(ARCHIVE, timeout_seconds):
        table = _client(tap_url, timeout_seconds).query_tap(adql_for(cleaned), maxrec=2)
    if len(table) == 0:
        raise NotFound(
            f"SIMBAD knows no object named {cleaned!r}. Check the spelling or try another designation "
            "(e.g. 'M 31', 'NGC 224' or 'Andromeda Galaxy')."
        )
    row = table[0]
    ra, dec = row["ra"], row["dec"]
    if np.ma.is_masked(ra) or np.ma.is_masked(dec):
        raise NotFound(f"SIMBAD knows {cleaned!r} ({row['main_id']}) but has no position for it")
    description = row["otype_description"]
    return ResolvedName(
        query=cleaned,
        main_id=" ".join(str(row["main_id"]).split()),
        position=from_degrees(float(ra), float(dec)),
        object_type=str(row["otype"]),
        object_type_description=None if np.ma.is_masked(description) else str(description),
    )
