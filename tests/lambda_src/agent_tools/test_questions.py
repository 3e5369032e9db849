"""The astronomers' five questions, each answered by the tool the agent calls, on the local archive stand-ins.

1. "What are the coordinates of M31?"                  -> /objects/resolve
2. "Find Gaia sources within 5 arcmin of M13"           -> /gaia/cone-search
3. "Find papers on JWST exoplanet atmospheres"          -> /literature/search
4. "Create a colour-magnitude diagram for NGC 6397"     -> /gaia/cone-search, then /plots/colour-magnitude
5. "Select red giants with 0.8 < BP-RP < 1.5"           -> /gaia/cone-search, then /gaia/select
"""

from __future__ import annotations

import csv
import io
import struct
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest


def test_coordinates_of_m31(tools) -> None:
    # GIVEN SIMBAD knows M31 WHEN the agent resolves the name
    status, body = tools.invoke("/objects/resolve", name="M31")
    # THEN it gets the ICRS position in degrees and sexagesimal, and the object type
    assert status == 200
    assert body["main_id"] == "M 31"
    assert body["ra_deg"] == pytest.approx(10.6847, abs=1e-4)
    assert body["dec_deg"] == pytest.approx(41.2688, abs=1e-4)
    assert body["ra_sexagesimal"] == "00h42m44.33s"
    assert body["dec_sexagesimal"] == "+41d16m07.5s"
    assert (body["object_type"], body["object_type_description"]) == ("AGN", "Active Galaxy Nucleus")
    assert body["simbad_url"].endswith("Ident=M+31")
    adql = tools.archives.last("simbad")["form"]["QUERY"][0]
    assert "WHERE ident.id = 'M31'" in adql and "otypedef" in adql


def test_resolution_quotes_names_for_adql(tools) -> None:
    status, body = tools.invoke("/objects/resolve", name="Barnard's Galaxy")
    assert status == 404
    assert "ident.id = 'Barnard''s Galaxy'" in tools.archives.last("simbad")["form"]["QUERY"][0]


def test_gaia_sources_within_5_arcmin_of_m13(tools) -> None:
    # WHEN the agent asks for Gaia sources within 5 arcmin of M13
    status, body = tools.invoke("/gaia/cone-search", name="M13", radius_arcmin=5.0)
    # THEN the search is centred on SIMBAD's position of M13 and bounded as asked
    assert status == 200
    assert body["target"] == "M 13"
    assert (body["center_ra_deg"], body["center_dec_deg"]) == pytest.approx((250.4235, 36.4613), abs=1e-4)
    adql = tools.archives.last("gaia")["form"]["QUERY"][0]
    assert "FROM gaiadr3.gaia_source" in adql and "TOP 500" in adql
    assert "CIRCLE('ICRS', 250.4234750, 36.4613194, 0.0833333)" in adql
    assert "phot_g_mean_mag <= 20.000" in adql and "ORDER BY phot_g_mean_mag ASC" in adql
    # AND every source the archive returned is counted, the 20 brightest are inline, brightest first
    expected = tools.gaia_expected()
    assert body["row_count"] == len(expected) > 20
    assert body["truncated"] is False
    sources = body["sources"]
    assert len(sources) == 20
    assert [s["source_id"] for s in sources] == [str(i) for i in expected["source_id"][:20]]
    assert all(s["separation_arcmin"] <= 5.0 for s in sources)
    assert [s["g_mag"] for s in sources] == sorted(s["g_mag"] for s in sources)
    first = sources[0]
    assert first["bp_rp"] == pytest.approx(float(expected["bp_rp"][0]))
    assert first["parallax_mas"] == pytest.approx(float(expected["parallax"][0]))
    # AND all of them are in the CSV behind the presigned link
    key = f"{tools.prefix}results/{body['result_id']}.csv"
    link = urlsplit(body["csv_url"])
    assert link.netloc == f"{tools.bucket}.s3.us-west-2.amazonaws.com" and link.path == f"/{key}"
    assert parse_qs(link.query)["X-Amz-Expires"] == ["3600"]
    rows = list(csv.DictReader(io.StringIO(tools.s3.get_object(Bucket=tools.bucket, Key=key)["Body"].read().decode())))
    assert len(rows) == body["row_count"]
    assert list(rows[0]) == [
        "source_id",
        "ra",
        "dec",
        "phot_g_mean_mag",
        "bp_rp",
        "parallax",
        "parallax_error",
        "separation_arcmin",
    ]


def test_cone_search_by_position_and_row_limit(tools) -> None:
    status, body = tools.invoke(
        "/gaia/cone-search", position="16h41m41.63s +36d27m40.8s", radius_arcmin=3.0, max_g_mag=18.5, row_limit=25
    )
    assert status == 200
    assert body["target"] == "RA 250.42346, Dec +36.46133"
    assert (body["row_count"], body["truncated"]) == (25, True)
    assert tools.archives.count("simbad") == 0, "a position needs no name resolution"
    adql = tools.archives.last("gaia")["form"]["QUERY"][0]
    assert "TOP 25" in adql and "phot_g_mean_mag <= 18.500" in adql and ", 0.0500000))" in adql


def test_papers_on_jwst_exoplanet_atmospheres(tools) -> None:
    # WHEN the agent searches the literature
    status, body = tools.invoke("/literature/search", query="JWST exoplanet atmospheres", max_results=3)
    # THEN NASA ADS is asked with the token from Secrets Manager, for the fields the answer needs
    assert status == 200
    request = tools.archives.last("ads")
    assert request["authorization"] == f"Bearer {tools.ads_token}"
    assert request["query"]["q"] == ["JWST exoplanet atmospheres"]
    assert request["query"]["rows"] == ["3"]
    assert set(request["query"]["fl"][0].split(",")) >= {"bibcode", "title", "author", "year", "pub", "doi"}
    # AND each paper comes with title, authors, year, bibcode and a citation string
    assert body["total_found"] == 1841
    assert [p["bibcode"] for p in body["papers"]] == [
        "2023Natur.614..659R",
        "2023Natur.614..649J",
        "2023Natur.617..483T",
    ]
    first = body["papers"][0]
    assert first["title"] == "Early Release Science of the exoplanet WASP-39b with JWST NIRSpec PRISM"
    assert first["authors"][:2] == ["Rustamkulov, Z.", "Sing, D. K."] and first["author_count"] == 91
    assert first["year"] == 2023 and first["doi"] == "10.1038/s41586-022-05677-y"
    assert first["citation"] == "Rustamkulov, Z., et al. 2023, Natur, 614, 659"
    assert first["url"] == "https://ui.adsabs.harvard.edu/abs/2023Natur.614..659R/abstract"


def test_literature_year_range_and_token_cache(tools) -> None:
    for _ in range(2):
        status, _body = tools.invoke(
            "/literature/search", query="JWST exoplanet atmospheres", year_from=2022, year_to=2024
        )
        assert status == 200
    assert tools.archives.last("ads")["query"]["q"] == ["JWST exoplanet atmospheres year:2022-2024"]


def _png_size(image: bytes) -> tuple[int, int]:
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", image[16:24])


def test_colour_magnitude_diagram_for_ngc_6397(tools) -> None:
    # GIVEN a Gaia cone search around NGC 6397
    status, search = tools.invoke("/gaia/cone-search", name="NGC 6397", radius_arcmin=10.0, max_g_mag=19.0)
    assert status == 200 and search["target"] == "NGC 6397"
    # WHEN the agent asks for its colour-magnitude diagram, highlighting the red giant branch
    status, body = tools.invoke(
        "/plots/colour-magnitude",
        result_id=search["result_id"],
        title="NGC 6397",
        bp_rp_min=0.8,
        bp_rp_max=1.5,
        g_max=17.0,
    )
    # THEN a PNG lies under the plots prefix behind a presigned link, with every source that has G and BP-RP
    assert status == 200 and body["kind"] == "colour-magnitude"
    expected = tools.gaia_expected()
    colours = np.ma.filled(expected["bp_rp"].astype(float), np.nan)
    assert body["plotted_sources"] == int(np.sum(~np.isnan(colours)))
    giants = (colours > 0.8) & (colours < 1.5) & (np.asarray(expected["phot_g_mean_mag"]) < 17.0)
    assert body["highlighted_sources"] == int(giants.sum()) > 0
    key = urlsplit(body["image_url"]).path.lstrip("/")
    assert key.startswith(f"{tools.prefix}plots/{search['result_id']}-colour-magnitude-") and key.endswith(".png")
    stored = tools.s3.get_object(Bucket=tools.bucket, Key=key)
    assert stored["ContentType"] == "image/png"
    width, height = _png_size(stored["Body"].read())
    assert width > 400 and height > 400


def test_sky_position_plot(tools) -> None:
    _, search = tools.invoke("/gaia/cone-search", name="M13", radius_arcmin=5.0)
    status, body = tools.invoke("/plots/sky-positions", result_id=search["result_id"], title="M13")
    assert status == 200 and body["kind"] == "sky-positions"
    assert body["plotted_sources"] == search["row_count"]
    key = urlsplit(body["image_url"]).path.lstrip("/")
    _png_size(tools.s3.get_object(Bucket=tools.bucket, Key=key)["Body"].read())


def test_red_giants_with_colour_between_0_8_and_1_5(tools) -> None:
    # GIVEN a Gaia result for M13
    _, search = tools.invoke("/gaia/cone-search", name="M13", radius_arcmin=5.0)
    # WHEN the agent selects 0.8 < BP-RP < 1.5 (and G < 17 to leave the main sequence out)
    status, body = tools.invoke("/gaia/select", result_id=search["result_id"], bp_rp_min=0.8, bp_rp_max=1.5, g_max=17.0)
    # THEN the counts and statistics match the archive's rows
    assert status == 200
    expected = tools.gaia_expected()
    colours = np.ma.filled(expected["bp_rp"].astype(float), np.nan)
    magnitudes = np.asarray(expected["phot_g_mean_mag"], dtype=float)
    chosen = (colours > 0.8) & (colours < 1.5) & (magnitudes < 17.0)
    assert body["criteria"] == "0.8 < BP-RP < 1.5 and G < 17"
    assert body["total_sources"] == len(expected)
    assert body["selected_sources"] == int(chosen.sum()) > 10
    assert body["selected_fraction"] == pytest.approx(chosen.sum() / len(expected), abs=1e-4)
    assert body["bp_rp"]["median"] == pytest.approx(float(np.median(colours[chosen])), abs=1e-3)
    assert body["g_mag"]["maximum"] < 17.0 and body["bp_rp"]["minimum"] > 0.8 and body["bp_rp"]["maximum"] < 1.5
    assert body["parallax_mas"]["count"] == body["selected_sources"]
    assert len(body["sample"]) == 10
