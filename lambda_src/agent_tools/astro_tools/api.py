"""The action group's API: typed routes of a Powertools ``BedrockAgentResolver``, one per tool.

Each route only declares its parameters (bounds and descriptions become the OpenAPI schema the agent
reads) and calls the plain module that does the work. Errors become answers the agent can act on:

- a parameter outside its bounds or of the wrong type: 400 naming the parameter, its value and the bound;
- a :class:`ToolError` from a tool: its status (400, 404, 502, 503, 504) and message;
- anything else: 500 and a pointer to the logs, never a traceback.
"""

from __future__ import annotations

from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import BedrockAgentResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query

from lambda_src.agent_tools.astro_tools import gaia_search, knowledge, literature, selection, simbad_lookup
from lambda_src.agent_tools.astro_tools.errors import ToolError
from lambda_src.agent_tools.astro_tools.models import (
    ConeSearchResult,
    ErrorBody,
    KnowledgeBaseResult,
    LiteratureResult,
    PlotResult,
    ResolvedObject,
    SelectionResult,
)
from lambda_src.agent_tools.astro_tools.settings import Settings
from lambda_src.agent_tools.astro_tools.storage import ResultStore, validate_result_id

TITLE = "Modelsmith astronomy research tools"
VERSION = "1.0.0"
DESCRIPTION = (
    "Tools that query real astronomical archives: SIMBAD name resolution, Gaia DR3 cone searches, colour and "
    "magnitude selections and plots of a Gaia result, and NASA ADS literature search."
)

logger = Logger(service="agent-tools")
app = BedrockAgentResolver()


@cache
def settings() -> Settings:
    return Settings.from_environ()


@cache
def result_store() -> ResultStore:
    current = settings()
    return ResultStore(
        bucket=current.output_bucket,
        prefix=current.output_prefix,
        link_expiry_seconds=current.presigned_url_expiry_seconds,
    )


def reset() -> None:
    """Forget the settings and clients (tests change the environment between cases)."""
    settings.cache_clear()
    result_store.cache_clear()


def _responses(model: type) -> dict[int, Any]:
    error = {"application/json": {"model": ErrorBody}}
    return {
        200: {"description": "Success", "content": {"application/json": {"model": model}}},
        400: {"description": "A parameter is missing, malformed or out of range", "content": error},
        404: {"description": "Nothing matches (unknown object name, unknown result_id)", "content": error},
        502: {"description": "The archive failed or could not be reached", "content": error},
        503: {"description": "The deployment is missing something an operator must set", "content": error},
        504: {"description": "The archive did not answer in time", "content": error},
    }


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=ErrorBody(error=code, message=message).model_dump(),
    )


@app.exception_handler(ToolError)
def _tool_error(error: ToolError) -> Response:
    logger.info("tool error", extra={"status": int(error.status), "error": error.code, "detail": error.message})
    return _error(int(error.status), error.code, error.message)


@app.exception_handler(RequestValidationError)
def _invalid_parameters(error: RequestValidationError) -> Response:
    problems = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        name = ".".join(location[1:]) or "request"  # the first element says where: query, body, path
        if item.get("type") == "missing":
            problems.append(f"{name}: required parameter is missing")
            continue
        value = item.get("input")
        shown = "" if value is None or isinstance(value, dict) else f" = {value!r}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        problems.append(f"{name}{shown}: {item.get('msg', 'invalid value')}")
    return _error(HTTPStatus.BAD_REQUEST, "bad_argument", "; ".join(problems))


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response:
    logger.exception("unexpected error in a tool")
    return _error(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "internal_error",
        "the tool failed unexpectedly; the details are in the function's logs",
    )


@app.get(
    "/objects/resolve",
    operation_id="resolveObject",
    summary="Resolve an object name",
    description=(
        "Resolve the name of an astronomical object (e.g. M31, NGC 6397, Betelgeuse) with SIMBAD. Returns its "
        "ICRS position in degrees and sexagesimal, and its object type."
    ),
    responses=_responses(ResolvedObject),
)
def resolve_object(
    name: Annotated[str, Query(description="Object name or designation, e.g. 'M31'", min_length=1, max_length=100)],
) -> ResolvedObject:
    current = settings()
    resolved = simbad_lookup.resolve(
        name, tap_url=current.simbad_tap_url, timeout_seconds=current.archive_timeout_seconds
    )
    return ResolvedObject(
        name=resolved.query,
        main_id=resolved.main_id,
        ra_deg=round(resolved.position.ra_deg, 7),
        dec_deg=round(resolved.position.dec_deg, 7),
        ra_sexagesimal=resolved.position.ra_sexagesimal,
        dec_sexagesimal=resolved.position.dec_sexagesimal,
        object_type=resolved.object_type,
        object_type_description=resolved.object_type_description,
        simbad_url=f"https://simbad.cds.unistra.fr/simbad/sim-id?Ident={resolved.main_id.replace(' ', '+')}",
    )


@app.get(
    "/gaia/cone-search",
    operation_id="gaiaConeSearch",
    summary="Gaia DR3 sources around an object or position",
    description=(
        "Find Gaia DR3 sources within a radius of a named object or of a position, brightest first. Give exactly "
        "one of name or position. Returns source_id, position, G magnitude, BP-RP colour and parallax of the "
        "brightest 20, a presigned CSV link to all of them, and a result_id for the selection and plot tools."
    ),
    responses=_responses(ConeSearchResult),
)
def gaia_cone_search(
    name: Annotated[str | None, Query(description="Object name to search around, e.g. 'M13'", max_length=100)] = None,
    position: Annotated[
        str | None,
        Query(
            description="ICRS position instead of a name: degrees '250.42 36.46' or sexagesimal '16h41m41s +36d27m35s'",
            max_length=80,
        ),
    ] = None,
    radius_arcmin: Annotated[
        float, Query(description="Search radius in arcminutes (at most 30)", gt=0, le=gaia_search.MAX_RADIUS_ARCMIN)
    ] = 5.0,
    max_g_mag: Annotated[
        float, Query(description="Faintest G magnitude to include", ge=gaia_search.MIN_G_MAG, le=gaia_search.MAX_G_MAG)
    ] = gaia_search.DEFAULT_MAX_G_MAG,
    row_limit: Annotated[
        int, Query(description="Most sources to return (at most 2000), brightest first", ge=1, le=gaia_search.MAX_ROWS)
    ] = gaia_search.DEFAULT_ROWS,
) -> ConeSearchResult:
    current = settings()
    search = gaia_search.plan(
        name=name,
        position=position,
        radius_arcmin=radius_arcmin,
        max_g_mag=max_g_mag,
        row_limit=row_limit,
        simbad_tap_url=current.simbad_tap_url,
        timeout_seconds=current.archive_timeout_seconds,
    )
    sources = gaia_search.run(search, tap_url=current.gaia_tap_url, timeout_seconds=current.archive_timeout_seconds)
    return gaia_search.save(search, sources, result_store())


_RESULT_ID = Query(description="The result_id a Gaia cone search returned", min_length=32, max_length=32)
_BP_RP_MIN = Query(description="Keep sources with BP-RP above this (mag)", ge=-1.0, le=6.0)
_BP_RP_MAX = Query(description="Keep sources with BP-RP below this (mag)", ge=-1.0, le=6.0)
_G_MIN = Query(description="Keep sources with G above (fainter than) this (mag)", ge=0.0, le=22.0)
_G_MAX = Query(description="Keep sources with G below (brighter than) this (mag)", ge=0.0, le=22.0)


@app.get(
    "/gaia/select",
    operation_id="selectGaiaSources",
    summary="Colour/magnitude selection on a Gaia result",
    description=(
        "Select sources of a stored Gaia cone-search result by BP-RP colour and G magnitude (strict bounds, e.g. "
        "red giants with 0.8 < BP-RP < 1.5). Returns how many pass, the fraction, and statistics of G, BP-RP and "
        "parallax for the selection."
    ),
    responses=_responses(SelectionResult),
)
def select_gaia_sources(
    result_id: Annotated[str, _RESULT_ID],
    bp_rp_min: Annotated[float | None, _BP_RP_MIN] = None,
    bp_rp_max: Annotated[float | None, _BP_RP_MAX] = None,
    g_min: Annotated[float | None, _G_MIN] = None,
    g_max: Annotated[float | None, _G_MAX] = None,
) -> SelectionResult:
    cut = selection.ColourMagnitudeCut(bp_rp_min=bp_rp_min, bp_rp_max=bp_rp_max, g_min=g_min, g_max=g_max)
    result_id = validate_result_id(result_id)
    return selection.select(result_id, gaia_search.read_stored(result_id, result_store()), cut)


@app.get(
    "/plots/colour-magnitude",
    operation_id="plotColourMagnitudeDiagram",
    summary="Colour-magnitude diagram of a Gaia result",
    description=(
        "Draw the colour-magnitude diagram (G against BP-RP) of a stored Gaia cone-search result as a PNG and "
        "return a presigned link. Optional bounds highlight a selection, e.g. the red giant branch."
    ),
    responses=_responses(PlotResult),
)
def plot_colour_magnitude(
    result_id: Annotated[str, _RESULT_ID],
    title: Annotated[str, Query(description="Plot title, e.g. 'NGC 6397'", max_length=80)] = "Gaia DR3",
    bp_rp_min: Annotated[float | None, _BP_RP_MIN] = None,
    bp_rp_max: Annotated[float | None, _BP_RP_MAX] = None,
    g_min: Annotated[float | None, _G_MIN] = None,
    g_max: Annotated[float | None, _G_MAX] = None,
) -> PlotResult:
    from lambda_src.agent_tools.astro_tools import plots  # matplotlib loads only for plots

    bounds = (bp_rp_min, bp_rp_max, g_min, g_max)
    highlight = None if all(b is None for b in bounds) else selection.ColourMagnitudeCut(*bounds)
    result_id = validate_result_id(result_id)
    store = result_store()
    image, plotted, highlighted = plots.colour_magnitude(
        gaia_search.read_stored(result_id, store), title=title, highlight=highlight
    )
    stored = store.put_png(result_id, "colour-magnitude", image)
    return PlotResult(
        kind="colour-magnitude",
        result_id=result_id,
        plotted_sources=plotted,
        highlighted_sources=highlighted,
        image_url=stored.url,
        link_expires_in_seconds=store.link_expiry_seconds,
    )


@app.get(
    "/plots/sky-positions",
    operation_id="plotSkyPositions",
    summary="Sky plot of a Gaia result",
    description=(
        "Draw the sky positions (RA, Dec) of a stored Gaia cone-search result as a PNG, brighter sources larger, "
        "and return a presigned link."
    ),
    responses=_responses(PlotResult),
)
def plot_sky_positions(
    result_id: Annotated[str, _RESULT_ID],
    title: Annotated[str, Query(description="Plot title, e.g. 'M13'", max_length=80)] = "Gaia DR3",
) -> PlotResult:
    from lambda_src.agent_tools.astro_tools import plots

    result_id = validate_result_id(result_id)
    store = result_store()
    sources = gaia_search.read_stored(result_id, store)
    if sources:
        center_ra = sum(s.ra_deg for s in sources) / len(sources)
        center_dec = sum(s.dec_deg for s in sources) / len(sources)
    else:
        center_ra = center_dec = 0.0
    image, plotted = plots.sky_positions(sources, title=title, center_ra_deg=center_ra, center_dec_deg=center_dec)
    stored = store.put_png(result_id, "sky-positions", image)
    return PlotResult(
        kind="sky-positions",
        result_id=result_id,
        plotted_sources=plotted,
        highlighted_sources=0,
        image_url=stored.url,
        link_expires_in_seconds=store.link_expiry_seconds,
    )


@app.get(
    "/literature/search",
    operation_id="searchLiterature",
    summary="Search the astronomy literature (NASA ADS)",
    description=(
        "Search NASA ADS for papers on a topic, most relevant first, optionally within a range of years. Returns "
        "title, authors, year, bibcode, DOI, citation count and a citation string for each paper."
    ),
    responses=_responses(LiteratureResult),
)
def search_literature(
    query: Annotated[
        str,
        Query(
            description="Topic in words or ADS syntax, e.g. 'JWST exoplanet atmospheres'",
            min_length=1,
            max_length=literature.MAX_QUERY_LENGTH,
        ),
    ],
    max_results: Annotated[
        int, Query(description="Papers to return (at most 25)", ge=1, le=literature.MAX_RESULTS)
    ] = 10,
    year_from: Annotated[int | None, Query(description="Earliest publication year", ge=1800, le=2100)] = None,
    year_to: Annotated[int | None, Query(description="Latest publication year", ge=1800, le=2100)] = None,
) -> LiteratureResult:
    current = settings()
    return literature.search(
        query,
        max_results=max_results,
        year_from=year_from,
        year_to=year_to,
        token_provider=lambda: literature.read_token(current.ads_token_secret_arn),
        api_url=current.ads_api_url,
        timeout_seconds=current.archive_timeout_seconds,
    )


@app.get(
    "/knowledge-base/search",
    operation_id="searchKnowledgeBase",
    summary="Search the astronomy knowledge base",
    description=(
        "Find the passages of the knowledge base's documents (reference notes on catalogues, instruments and "
        "methods) most relevant to a question. Returns each passage's text, relevance score and source document."
    ),
    responses=_responses(KnowledgeBaseResult),
)
def search_knowledge_base(
    query: Annotated[
        str, Query(description="The question or topic, in words", min_length=1, max_length=knowledge.MAX_QUERY_LENGTH)
    ],
    max_results: Annotated[int, Query(description="Passages to return", ge=1, le=knowledge.MAX_RESULTS)] = 5,
) -> KnowledgeBaseResult:
    return knowledge.search(query, knowledge_base_id=settings().knowledge_base_id, max_results=max_results)
