"""Bad tool arguments and failing archives: a 4xx/5xx answer with a clear message, never a traceback.

Archive requests are sent once (no retries) and time out as configured.
"""

from __future__ import annotations

import time

import pytest

from lambda_src.agent_tools.astro_tools import settings as names


def _assert_clean(body: dict) -> None:
    assert set(body) == {"error", "message"}
    assert "Traceback" not in body["message"] and 'File "' not in body["message"]


@pytest.mark.parametrize(
    ("api_path", "parameters", "status", "fragments"),
    [
        (
            "/gaia/cone-search",
            {"name": "M13", "radius_arcmin": 90.0},
            400,
            ("radius_arcmin = '90.0'", "less than or equal to 30"),
        ),
        (
            "/gaia/cone-search",
            {"name": "M13", "radius_arcmin": -1.0},
            400,
            ("radius_arcmin = '-1.0'", "greater than 0"),
        ),
        ("/gaia/cone-search", {"name": "M13", "row_limit": 50000}, 400, ("row_limit = '50000'", "2000")),
        ("/gaia/cone-search", {"name": "M13", "max_g_mag": 25.0}, 400, ("max_g_mag", "21")),
        (
            "/gaia/cone-search",
            {"name": "M13", "position": "250.4 36.4"},
            400,
            ("exactly one of name", "both were given"),
        ),
        ("/gaia/cone-search", {}, 400, ("exactly one of name", "neither was given")),
        (
            "/gaia/cone-search",
            {"position": "sixteen hours north"},
            400,
            ("position = 'sixteen hours north'", "not a sky position", "00h42m44.3s"),
        ),
        ("/gaia/cone-search", {"position": "400.0 95.0"}, 400, ("right ascension must lie in [0, 360)",)),
        ("/gaia/cone-search", {"position": "10.0 95.0"}, 400, ("declination must lie between -90 and +90",)),
        ("/objects/resolve", {"name": "Xyzzy 12345"}, 404, ("SIMBAD knows no object named 'Xyzzy 12345'",)),
        ("/objects/resolve", {"name": "   "}, 400, ("name is empty",)),
        ("/objects/resolve", {"name": "M31; DROP TABLE basic"}, 400, ("characters no astronomical identifier uses",)),
        ("/objects/resolve", {}, 400, ("name: required parameter is missing",)),
        ("/gaia/cone-search", {"name": "Xyzzy 12345"}, 404, ("SIMBAD knows no object named",)),
        ("/literature/search", {"query": "   "}, 400, ("query is empty",)),
        ("/literature/search", {"query": "x" * 301}, 400, ("query", "at most 300 characters")),
        (
            "/literature/search",
            {"query": "JWST", "year_from": 2025, "year_to": 2020},
            400,
            ("year_from = 2025 is after",),
        ),
        ("/literature/search", {"query": "JWST", "max_results": 100}, 400, ("max_results = '100'", "25")),
        ("/gaia/select", {"result_id": "../../secrets/x" + "a" * 17, "g_max": 17.0}, 400, ("not a result ID",)),
        ("/gaia/select", {"result_id": "0" * 32, "g_max": 17.0}, 404, ("no stored Gaia result", "cone search first")),
        ("/gaia/select", {"result_id": "0" * 32}, 400, ("give at least one of bp_rp_min",)),
        (
            "/gaia/select",
            {"result_id": "0" * 32, "bp_rp_min": 1.5, "bp_rp_max": 0.8},
            400,
            ("bp_rp_min = 1.5 is not below bp_rp_max = 0.8",),
        ),
        ("/plots/colour-magnitude", {"result_id": "f" * 32}, 404, ("no stored Gaia result",)),
    ],
    ids=lambda value: value if isinstance(value, str) and value.startswith("/") else None,
)
def test_bad_arguments_get_a_clear_message(tools, api_path, parameters, status, fragments) -> None:
    got_status, body = tools.invoke(api_path, **parameters)
    assert got_status == status, body
    _assert_clean(body)
    assert body["error"] == ("not_found" if status == 404 else "bad_argument")
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


def test_no_archive_is_asked_when_arguments_are_bad(tools) -> None:
    tools.invoke("/gaia/cone-search", name="M13", radius_arcmin=90.0)
    tools.invoke("/literature/search", query="  ")
    assert tools.archives.requests == []


@pytest.mark.parametrize(
    ("api_path", "parameters", "archive"),
    [
        ("/objects/resolve", {"name": "M31"}, "SIMBAD"),
        ("/gaia/cone-search", {"position": "250.42 36.46"}, "The Gaia archive"),
        ("/literature/search", {"query": "JWST exoplanet atmospheres"}, "NASA ADS"),
    ],
)
def test_archive_timeouts_answer_504_once(tools, monkeypatch, api_path, parameters, archive) -> None:
    # GIVEN an archive that answers only after 3 s, and a 0.5 s limit
    monkeypatch.setenv(names.ARCHIVE_TIMEOUT_SECONDS, "0.5")
    from lambda_src.agent_tools.astro_tools import api

    api.reset()
    tools.archives.stall_seconds = 3.0
    # WHEN a tool queries it
    started = time.monotonic()
    status, body = tools.invoke(api_path, **parameters)
    elapsed = time.monotonic() - started
    # THEN the agent hears about it within the limit, once, without a retry
    assert status == 504, body
    _assert_clean(body)
    assert body["error"] == "archive_timeout"
    assert body["message"].startswith(f"{archive} did not answer within 0.5 s")
    assert elapsed < 2.5
    assert len(tools.archives.requests) == 1, tools.archives.requests


@pytest.mark.parametrize(
    ("api_path", "parameters", "archive"),
    [
        ("/objects/resolve", {"name": "M13"}, "SIMBAD"),
        ("/gaia/cone-search", {"position": "265.17 -53.67"}, "The Gaia archive"),
        ("/literature/search", {"query": "globular clusters"}, "NASA ADS"),
    ],
)
def test_archive_errors_answer_502(tools, api_path, parameters, archive) -> None:
    tools.archives.fail_status = 503
    status, body = tools.invoke(api_path, **parameters)
    assert status == 502, body
    _assert_clean(body)
    assert body["error"] == "archive_unavailable"
    assert body["message"].startswith(archive)


def test_unreachable_archive_answers_502(tools, monkeypatch) -> None:
    monkeypatch.setenv(names.ADS_API_URL, "http://127.0.0.1:9")  # discard port: nothing listens
    from lambda_src.agent_tools.astro_tools import api

    api.reset()
    status, body = tools.invoke("/literature/search", query="JWST")
    assert status == 502 and body["message"] == "NASA ADS could not be reached; try again later."


def test_rejected_ads_token_is_an_operator_problem(tools) -> None:
    import boto3

    from lambda_src.agent_tools.astro_tools import api

    boto3.client("secretsmanager").put_secret_value(SecretId=api.settings().ads_token_secret_arn, SecretString="wrong")
    status, body = tools.invoke("/literature/search", query="JWST exoplanet atmospheres")
    assert status == 503
    assert body["error"] == "not_configured" and "refused the API token" in body["message"]


def test_unreadable_ads_secret_is_an_operator_problem(tools, monkeypatch) -> None:
    monkeypatch.setenv(
        names.ADS_TOKEN_SECRET_ARN, "arn:aws:secretsmanager:us-west-2:123456789012:secret:missing-AbCdEf"
    )
    from lambda_src.agent_tools.astro_tools import api

    api.reset()
    status, body = tools.invoke("/literature/search", query="JWST")
    assert status == 503 and "could not be read from Secrets Manager" in body["message"]
    assert tools.archives.count("ads") == 0


def test_an_unexpected_failure_is_a_500_without_details(tools, monkeypatch) -> None:
    from lambda_src.agent_tools.astro_tools import simbad_lookup

    def broken(*args, **kwargs):
        raise KeyError("internal detail")

    monkeypatch.setattr(simbad_lookup, "resolve", broken)
    status, body = tools.invoke("/objects/resolve", name="M31")
    assert status == 500
    assert body == {
        "error": "internal_error",
        "message": "the tool failed unexpectedly; the details are in the function's logs",
    }
