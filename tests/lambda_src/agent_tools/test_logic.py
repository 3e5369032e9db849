"""The plain modules on their own: positions, citations, selections, settings, error translation."""

from __future__ import annotations

import pytest
import requests

from lambda_src.agent_tools.astro_tools import archives, literature, positions, selection
from lambda_src.agent_tools.astro_tools.errors import ArchiveTimeout, ArchiveUnavailable, BadArgument, NotFound
from lambda_src.agent_tools.astro_tools.models import GaiaSource
from lambda_src.agent_tools.astro_tools.settings import Settings


@pytest.mark.parametrize(
    "text",
    [
        "10.684708 41.26875",
        "10.684708, +41.26875",
        "10.684708d 41.26875d",
        "00h42m44.33s +41d16m07.5s",
        "00:42:44.33 +41:16:07.5",
        "00 42 44.33 +41 16 07.5",
    ],
)
def test_positions_in_every_accepted_form(text: str) -> None:
    position = positions.parse_position(text)
    assert position.ra_deg == pytest.approx(10.684708, abs=2e-5)
    assert position.dec_deg == pytest.approx(41.26875, abs=2e-5)
    assert (position.ra_sexagesimal, position.dec_sexagesimal) == ("00h42m44.33s", "+41d16m07.5s")


@pytest.mark.parametrize("text", ["", "M31", "10.6", "abc def", "12h99m00s +00d00m00s", "1" * 81])
def test_malformed_positions_are_refused(text: str) -> None:
    with pytest.raises(BadArgument, match="position"):
        positions.parse_position(text)


def test_southern_position_keeps_its_sign() -> None:
    assert positions.parse_position("17:40:42.09 -53:40:27.6").dec_sexagesimal == "-53d40m27.6s"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {
                "bibcode": "2023Natur.617..483T",
                "author": ["Tsai, S.-M."],
                "year": "2023",
                "volume": "617",
                "page": ["483"],
            },
            "Tsai, S.-M. 2023, Natur, 617, 483",
        ),
        (
            {"bibcode": "2019ApJ...872..101A", "author": ["A, B.", "C, D."], "year": "2019"},
            "A, B. & C, D. 2019, ApJ, 872",
        ),
        ({"bibcode": "2024arXiv240112345X", "author": []}, "Anonymous 2024, arXiv, 2401"),
    ],
)
def test_citation_strings(document: dict, expected: str) -> None:
    assert literature.citation(document) == expected


def _source(g: float | None, bp_rp: float | None) -> GaiaSource:
    return GaiaSource(
        source_id="1", ra_deg=0.0, dec_deg=0.0, g_mag=g, bp_rp=bp_rp, parallax_mas=0.1, separation_arcmin=0.0
    )


def test_selection_bounds_are_strict_and_need_the_quantity() -> None:
    cut = selection.ColourMagnitudeCut(bp_rp_min=0.8, bp_rp_max=1.5)
    assert [cut.accepts(_source(15, c)) for c in (0.8, 0.81, 1.49, 1.5, None)] == [False, True, True, False, False]
    assert selection.ColourMagnitudeCut(g_max=17).accepts(_source(15, None))


def test_selection_statistics() -> None:
    result = selection.select(
        "a" * 32, [_source(14, 1.0), _source(16, 1.2), _source(19, 0.5)], selection.ColourMagnitudeCut(bp_rp_min=0.8)
    )
    assert (result.selected_sources, result.total_sources, result.selected_fraction) == (2, 3, 0.6667)
    assert result.g_mag.model_dump() == {
        "count": 2,
        "minimum": 14.0,
        "maximum": 16.0,
        "mean": 15.0,
        "median": 15.0,
        "standard_deviation": 1.4142,
    }


def test_settings_name_missing_variables() -> None:
    with pytest.raises(RuntimeError, match="OUTPUT_BUCKET, ADS_TOKEN_SECRET_ARN"):
        Settings.from_environ({"OUTPUT_PREFIX": "agent-tools"})
    settings = Settings.from_environ(
        {"OUTPUT_BUCKET": "b", "OUTPUT_PREFIX": "agent-tools", "ADS_TOKEN_SECRET_ARN": "arn"}
    )
    assert settings.output_prefix == "agent-tools/" and settings.archive_timeout_seconds == 20.0
    assert settings.simbad_tap_url == "https://simbad.cds.unistra.fr/simbad/sim-tap"


@pytest.mark.parametrize(
    ("raised", "expected", "message"),
    [
        (requests.ReadTimeout("read timed out"), ArchiveTimeout, "X did not answer within 2 s"),
        (TimeoutError("timed out"), ArchiveTimeout, "X did not answer within 2 s"),
        (requests.ConnectionError("refused"), ArchiveUnavailable, "X could not be reached"),
        (ConnectionRefusedError(111, "refused"), ArchiveUnavailable, "X could not be reached"),
        (ValueError("bad VOTable\nline 2"), ArchiveUnavailable, "X query failed: bad VOTable"),
    ],
)
def test_archive_errors_are_translated(raised: Exception, expected: type, message: str) -> None:
    with pytest.raises(expected, match=message):
        with archives.archive_errors("X", 2.0):
            raise raised


def test_wrapped_timeouts_are_found() -> None:
    try:
        raise TimeoutError("timed out")
    except TimeoutError as inner:
        wrapped = RuntimeError("pyvo wrapper")
        wrapped.cause = inner  # pyvo's DALServiceError keeps the original exception here
    with pytest.raises(ArchiveTimeout):
        with archives.archive_errors("X", 1.0):
            raise wrapped


def test_tool_errors_pass_through() -> None:
    with pytest.raises(NotFound):
        with archives.archive_errors("X", 1.0):
            raise NotFound("nothing")


def test_bounded_session_sets_a_timeout_and_no_retries() -> None:
    session = archives.bounded_session(requests.Session(), 3.0)
    adapter = session.get_adapter("https://example.org")
    assert adapter.max_retries.total == 0
    assert adapter._timeout_seconds == 3.0


def test_gaia_connections_have_a_timeout() -> None:
    handler = archives.TimeoutConnectionHandler("https://gea.esac.esa.int/", 4.0)
    secure = handler.get_connection(ishttps=True)
    plain = archives.TimeoutConnectionHandler("http://127.0.0.1:8080/", 4.0).get_connection()
    assert (secure.host, secure.port, secure.timeout) == ("gea.esac.esa.int", 443, 4.0)
    assert (plain.host, plain.port, plain.timeout) == ("127.0.0.1", 8080, 4.0)
    with pytest.raises(ValueError):
        archives.TimeoutConnectionHandler("ftp://x/", 1.0)
