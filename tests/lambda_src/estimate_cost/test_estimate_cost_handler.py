"""The cost-estimate function: modelsmith_core/cost.py's estimate, compacted for a workflow's output; never fails a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelsmith_core.config import load_config
from modelsmith_core.cost import cost_config, estimate_for_workflow
from tests.support.lambdas import FakeLambdaContext, lambda_environment, load_handler  # noqa: F401

CONTEXT = json.loads((Path(__file__).resolve().parents[3] / "cdk.json").read_text())["context"]
EXAMPLE = json.loads(
    (Path(__file__).resolve().parents[3] / "statemachines/examples/retrieval_pipeline.json").read_text()
)


@pytest.fixture
def handler(lambda_environment, monkeypatch):  # noqa: F811
    config = cost_config(load_config(CONTEXT["environments"], "dev"))
    monkeypatch.setenv("COST_CONFIG", json.dumps(config))
    return load_handler("estimate_cost"), config


def test_the_output_carries_the_estimators_totals_and_items(handler) -> None:
    lambda_handler, config = handler
    result = lambda_handler({"workflow": "retrieval-pipeline", "input": EXAMPLE}, FakeLambdaContext())
    full = estimate_for_workflow("retrieval-pipeline", EXAMPLE, config)
    assert (result["run_total"], result["recurring_total"], result["total"]) == (
        full["run_total"],
        full["recurring_total"],
        full["total"],
    )
    assert [item["description"] for item in result["items"]] == [item["description"] for item in full["items"]]
    assert len(json.dumps(result)) < 2048, "small enough to ride along in every state"


def test_an_input_it_cannot_price_gives_a_reason_not_an_error(handler) -> None:
    lambda_handler, _ = handler
    result = lambda_handler(
        {"workflow": "retrieval-pipeline", "input": {**EXAMPLE, "max_documents": "many"}}, FakeLambdaContext()
    )
    assert "max_documents" in result["unavailable"]
    assert "unknown" in lambda_handler({"workflow": "unknown", "input": EXAMPLE}, FakeLambdaContext())["unavailable"]


def test_a_function_without_its_config_says_so(handler, monkeypatch) -> None:
    lambda_handler, _ = handler
    monkeypatch.delenv("COST_CONFIG")
    assert (
        "COST_CONFIG"
        in lambda_handler({"workflow": "retrieval-pipeline", "input": EXAMPLE}, FakeLambdaContext())["unavailable"]
    )
