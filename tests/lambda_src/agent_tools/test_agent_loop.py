"""The README's five questions through the agent loop: a Strands agent (scripted model, the SDK's model interface)
calling the real tool code over MCP, with the tools listed and called as an AgentCore Gateway lists and calls its
Lambda target (``modelsmith/agent_local.py``), answering from the archives' recorded responses (conftest)."""

from __future__ import annotations

import pytest

from modelsmith.agent_local import lambda_invoker, run_agent
from tests.support.scripted_model import ScriptedModel


def ask(question: str, script: list[dict]) -> tuple:
    model = ScriptedModel(script)
    run = run_agent(question, model, invoke=lambda_invoker())
    return run, model.results()


def test_coordinates_of_m31(tools) -> None:
    run, results = ask(
        "What are the coordinates of M31?",
        [
            {"tool": "resolveObject", "input": {"name": "M31"}},
            {
                "text": lambda r: (
                    f"M31 ({r[0]['main_id']}) is at RA {r[0]['ra_deg']:.2f} deg, Dec {r[0]['dec_deg']:+.2f} deg."
                )
            },
        ],
    )
    assert [call["name"] for call in run.tool_calls] == ["resolveObject"]
    assert results[0]["ra_deg"] == pytest.approx(10.6847, abs=1e-4) and results[0]["dec_deg"] == pytest.approx(
        41.2688, abs=1e-4
    )
    assert run.answer == "M31 (M 31) is at RA 10.68 deg, Dec +41.27 deg."


def test_gaia_sources_within_5_arcmin_of_m13(tools) -> None:
    run, results = ask(
        "Find Gaia sources within 5 arcmin of M13",
        [
            {"tool": "gaiaConeSearch", "input": {"name": "M13", "radius_arcmin": 5.0}},
            {"text": lambda r: f"{r[0]['row_count']} sources; brightest G = {r[0]['sources'][0]['g_mag']:.2f}."},
        ],
    )
    expected = tools.gaia_expected()
    (search,) = results
    assert search["row_count"] == len(expected) > 20
    assert [s["source_id"] for s in search["sources"][:3]] == [str(i) for i in expected["source_id"][:3]]
    assert run.answer == f"{len(expected)} sources; brightest G = {search['sources'][0]['g_mag']:.2f}."


def test_papers_on_jwst_exoplanet_atmospheres(tools) -> None:
    run, results = ask(
        "Find papers on JWST exoplanet atmospheres",
        [
            {"tool": "searchLiterature", "input": {"query": "JWST exoplanet atmospheres", "max_results": 3}},
            {"text": lambda r: r[0]["papers"][0]["citation"]},
        ],
    )
    assert results[0]["total_found"] == 1841
    assert run.answer == "Rustamkulov, Z., et al. 2023, Natur, 614, 659"


def test_colour_magnitude_diagram_for_ngc_6397(tools) -> None:
    run, results = ask(
        "Create a colour-magnitude diagram for NGC 6397",
        [
            {"tool": "gaiaConeSearch", "input": {"name": "NGC 6397", "radius_arcmin": 10.0, "max_g_mag": 19.0}},
            {
                "tool": "plotColourMagnitudeDiagram",
                "input": lambda r: {"result_id": r[0]["result_id"], "title": "NGC 6397"},
            },
            {"text": lambda r: f"{r[1]['plotted_sources']} sources plotted: {r[1]['image_url']}"},
        ],
    )
    assert [call["name"] for call in run.tool_calls] == ["gaiaConeSearch", "plotColourMagnitudeDiagram"]
    plot = results[1]
    assert plot["kind"] == "colour-magnitude" and plot["image_url"].startswith("https://")
    assert 0 < plot["plotted_sources"] <= results[0]["row_count"]
    assert run.answer.startswith(f"{plot['plotted_sources']} sources plotted: https://")


def test_red_giant_selection(tools) -> None:
    run, results = ask(
        "Select red giants with 0.8 < BP-RP < 1.5 around NGC 6397",
        [
            {"tool": "gaiaConeSearch", "input": {"name": "NGC 6397", "radius_arcmin": 10.0}},
            {
                "tool": "selectGaiaSources",
                "input": lambda r: {"result_id": r[0]["result_id"], "bp_rp_min": 0.8, "bp_rp_max": 1.5, "g_max": 17.0},
            },
            {"text": lambda r: f"{r[1]['selected_sources']} red giants ({r[1]['criteria']})."},
        ],
    )
    selection = results[1]
    assert selection["criteria"] == "0.8 < BP-RP < 1.5 and G < 17"
    assert 10 < selection["selected_sources"] < selection["total_sources"] == results[0]["row_count"]
    assert selection["bp_rp"]["minimum"] > 0.8 and selection["bp_rp"]["maximum"] < 1.5
    assert run.answer == f"{selection['selected_sources']} red giants (0.8 < BP-RP < 1.5 and G < 17)."


def test_a_bad_argument_comes_back_to_the_model_naming_the_parameter(tools) -> None:
    run, results = ask(
        "Gaia sources within 90 arcmin of M13",
        [
            {"tool": "gaiaConeSearch", "input": {"name": "M13", "radius_arcmin": 90}},
            {"text": "The radius is too large."},
        ],
    )
    (call,) = run.tool_calls
    assert call["status"] == "error" and call["result"]["status"] == 400
    assert "radius_arcmin" in call["result"]["message"]
    assert results[0]["status"] == 400
    assert tools.archives.count("gaia") == 0, "nothing was asked of the archive"


def test_modelsmith_agent_ask_local_runs_the_same_loop(tools, monkeypatch, capsys) -> None:
    # `modelsmith agent ask --local`: the tools run here over MCP; the environment's bucket and ADS secret come
    # from the Foundation's SSM parameters (here moto's), and the model is given (Bedrock's in real use).
    import argparse
    import io

    import boto3

    from modelsmith import agent_cli

    ssm = boto3.client("ssm", region_name="us-west-2")
    ssm.put_parameter(Name="/modelsmith/dev/s3/artifacts-bucket", Value=tools.bucket, Type="String")
    secret = "arn:aws:secretsmanager:us-west-2:123456789012:secret:x"
    ssm.put_parameter(Name="/modelsmith/dev/secrets/nasa-ads-token", Value=secret, Type="String")
    model = ScriptedModel(
        [{"tool": "resolveObject", "input": {"name": "M31"}}, {"text": lambda r: f"RA {r[0]['ra_deg']:.2f}"}]
    )
    args = argparse.Namespace(env="dev", question="Where is M31?", no_trace=False, local=True, model="unused")
    out = io.StringIO()
    assert agent_cli.ask_local(args, boto3.Session(region_name="us-west-2"), out, model=model) == 0
    text = out.getvalue()
    assert '[tool] resolveObject {"name": "M31"}' in text and text.rstrip().endswith("RA 10.68")
