"""Literature search on NASA ADS (astroquery's ADS client): titles, authors, year, bibcode, a citation string.

The API token is read from Secrets Manager at run time (never from the environment or the template) and
cached for :data:`TOKEN_CACHE_SECONDS`, so a rotated token is picked up without a deployment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import requests
from astroquery.nasa_ads import ADSClass

from lambda_src.agent_tools.astro_tools.archives import archive_errors, bounded_session
from lambda_src.agent_tools.astro_tools.errors import BadArgument, NotConfigured
from lambda_src.agent_tools.astro_tools.models import LiteratureResult, Paper

ARCHIVE = "NASA ADS"
MAX_QUERY_LENGTH = 300
MAX_RESULTS = 25
SHOWN_AUTHORS = 10
TOKEN_CACHE_SECONDS = 900
FIELDS = ["bibcode", "title", "author", "author_count", "year", "pub", "volume", "page", "doi", "citation_count"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

TokenProvider = Callable[[], str]


def read_token(secret_arn: str) -> str:
    """The ADS token from Secrets Manager: the secret string itself, or its ``token`` key if it is JSON."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value = str(parameters.get_secret(secret_arn, max_age=TOKEN_CACHE_SECONDS))
    except parameters.exceptions.GetParameterError as error:
        raise NotConfigured(
            "the NASA ADS token could not be read from Secrets Manager; an operator must check the secret "
            "and the function's permissions (see README, 'Bedrock agent')"
        ) from error
    try:
        document = json.loads(value)
    except ValueError:
        return value.strip()
    return str(document.get("token", "")).strip() if isinstance(document, dict) else value.strip()


def validate_query(query: str) -> str:
    cleaned = " ".join(_CONTROL.sub(" ", query).split())
    if not cleaned:
        raise BadArgument("query is empty; describe the topic, e.g. 'JWST exoplanet atmospheres'")
    if len(cleaned) > MAX_QUERY_LENGTH:
        raise BadArgument(f"query is {len(cleaned)} characters long; keep it under {MAX_QUERY_LENGTH}")
    return cleaned


def citation(document: dict[str, Any]) -> str:
    """AAS-style short citation, e.g. ``Rustamkulov, Z., et al. 2023, Natur, 614, 659``."""
    authors = document.get("author") or []
    if len(authors) > 2:
        names = f"{authors[0]}, et al."
    elif len(authors) == 2:
        names = f"{authors[0]} & {authors[1]}"
    else:
        names = authors[0] if authors else "Anonymous"
    bibcode = document["bibcode"]
    journal = bibcode[4:9].strip(".")
    volume = document.get("volume") or bibcode[9:13].strip(".")
    page = (document.get("page") or [""])[0]
    parts = [f"{names} {document.get('year', bibcode[:4])}", journal]
    parts += [part for part in (volume, page) if part]
    return ", ".join(parts)


def _paper(document: dict[str, Any]) -> Paper:
    authors = document.get("author") or []
    title = document.get("title") or ["(untitled)"]
    year = document.get("year")
    return Paper(
        title=title[0] if isinstance(title, list) else str(title),
        authors=authors[:SHOWN_AUTHORS],
        author_count=int(document.get("author_count") or len(authors)),
        year=int(year) if year and str(year).isdigit() else None,
        publication=document.get("pub"),
        bibcode=document["bibcode"],
        doi=(document.get("doi") or [None])[0],
        citation_count=document.get("citation_count"),
        citation=citation(document),
        url=f"https://ui.adsabs.harvard.edu/abs/{document['bibcode']}/abstract",
    )


def search(
    query: str,
    *,
    max_results: int,
    year_from: int | None,
    year_to: int | None,
    token_provider: TokenProvider,
    api_url: str,
    timeout_seconds: float,
) -> LiteratureResult:
    """The most relevant papers for ``query``, optionally within a range of publication years."""
    cleaned = validate_query(query)
    if not 1 <= max_results <= MAX_RESULTS:
        raise BadArgument(f"max_results = {max_results}: must be between 1 and {MAX_RESULTS}")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise BadArgument(f"year_from = {year_from} is after year_to = {year_to}")
    ads_query = cleaned
    if year_from is not None or year_to is not None:
        ads_query += f" year:{year_from or 1800}-{year_to or 2100}"
    token = token_provider()
    if not token:
        raise NotConfigured("the NASA ADS token secret is empty; an operator must set it (see README)")

    client = ADSClass()
    bounded_session(client._session, timeout_seconds)
    client.QUERY_SIMPLE_URL = api_url.rstrip("/") + "/v1/search/query?"
    client.TOKEN, client.TIMEOUT, client.NROWS, client.NSTART = token, timeout_seconds, max_results, 0
    client.ADS_FIELDS, client.SORT = FIELDS, "score desc"
    with archive_errors(ARCHIVE, timeout_seconds):
        try:
            response = client.query_simple(ads_query, get_raw_response=True, cache=False)
        except requests.HTTPError as error:
            if error.response is not None and error.response.status_code in (401, 403):
                raise NotConfigured(
                    "NASA ADS refused the API token; an operator must put a valid token in the secret (see README)"
                ) from error
            raise
        body = response.json()["response"]
    return LiteratureResult(
        query=cleaned, total_found=int(body.get("numFound", 0)), papers=[_paper(d) for d in body["docs"]]
    )
