"""What the tools answer: pydantic models, which also become the OpenAPI response schemas the agent reads."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every non-200 answer: a machine-readable code and a message for a person."""

    error: str = Field(
        description="bad_argument, not_found, archive_timeout, archive_unavailable, not_configured or internal_error"
    )
    message: str = Field(description="What went wrong and what to do about it")


class ResolvedObject(BaseModel):
    name: str = Field(description="The name as asked")
    main_id: str = Field(description="SIMBAD's main identifier")
    ra_deg: float = Field(description="Right ascension (ICRS), degrees")
    dec_deg: float = Field(description="Declination (ICRS), degrees")
    ra_sexagesimal: str = Field(description="Right ascension, hours-minutes-seconds")
    dec_sexagesimal: str = Field(description="Declination, degrees-arcminutes-arcseconds")
    object_type: str = Field(description="SIMBAD object type code, e.g. GlC for a globular cluster")
    object_type_description: str | None = Field(default=None, description="The object type in words")
    simbad_url: str = Field(description="The object's SIMBAD page")


class GaiaSource(BaseModel):
    source_id: str = Field(description="Gaia DR3 source_id (a string: it exceeds JSON's exact integer range)")
    ra_deg: float
    dec_deg: float
    g_mag: float | None = Field(default=None, description="G-band mean magnitude")
    bp_rp: float | None = Field(default=None, description="BP-RP colour, magnitudes")
    parallax_mas: float | None = Field(default=None, description="Parallax, milliarcseconds")
    parallax_error_mas: float | None = None
    separation_arcmin: float = Field(description="Distance from the search centre, arcminutes")


class ConeSearchResult(BaseModel):
    target: str = Field(description="The object name or position searched around")
    center_ra_deg: float
    center_dec_deg: float
    radius_arcmin: float
    max_g_mag: float
    row_limit: int
    row_count: int = Field(description="Sources returned")
    truncated: bool = Field(description="True when row_limit was reached: more (fainter) sources exist")
    sources: list[GaiaSource] = Field(description="The brightest sources (at most 20); the CSV holds all of them")
    result_id: str = Field(description="Pass this to the selection and plot tools")
    csv_url: str = Field(description="Presigned HTTPS link to every source as CSV")
    link_expires_in_seconds: int


class Statistics(BaseModel):
    count: int
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    median: float | None = None
    standard_deviation: float | None = None


class SelectionResult(BaseModel):
    result_id: str
    criteria: str = Field(description="The selection in words")
    total_sources: int
    selected_sources: int
    selected_fraction: float
    g_mag: Statistics
    bp_rp: Statistics
    parallax_mas: Statistics
    sample: list[GaiaSource] = Field(description="The brightest selected sources (at most 10)")


class Passage(BaseModel):
    text: str = Field(description="The passage")
    score: float | None = Field(default=None, description="Relevance to the query (higher is closer)")
    source: str | None = Field(default=None, description="The document it comes from (S3 URI)")


class KnowledgeBaseResult(BaseModel):
    query: str
    passages: list[Passage] = Field(description="The most relevant passages, most relevant first")


class Paper(BaseModel):
    title: str
    authors: list[str] = Field(description="The first authors (at most 10)")
    author_count: int
    year: int | None = None
    publication: str | None = None
    bibcode: str
    doi: str | None = None
    citation_count: int | None = None
    citation: str = Field(description="A citation string, e.g. 'Rustamkulov, Z., et al. 2023, Natur, 614, 659'")
    url: str = Field(description="The paper's NASA ADS page")


class LiteratureResult(BaseModel):
    query: str
    total_found: int = Field(description="How many papers NASA ADS matched")
    papers: list[Paper]


class PlotResult(BaseModel):
    kind: str = Field(description="colour-magnitude or sky-positions")
    result_id: str
    plotted_sources: int
    highlighted_sources: int = Field(description="Sources inside the highlighted colour/magnitude selection")
    image_url: str = Field(description="Presigned HTTPS link to the PNG")
    link_expires_in_seconds: int
