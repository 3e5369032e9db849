"""The quality gate's rule (``quality_gate.decide``), which the workflow's Choice and the dry run both follow."""

from __future__ import annotations

import pytest

from lambda_src.publish_training_report import quality_gate


@pytest.fixture
def gate():
    return quality_gate


def entry(gain: float, low: float, high: float, queries: int = 40) -> dict:
    return {"queries": queries, "difference": {"ndcg@10": gain}, "interval": {"low": low, "high": high}}


@pytest.mark.parametrize(
    ("mode", "gain", "low", "minimum", "passed"),
    [
        ("mean", 0.02, -0.01, 0.0, True),  # mean: the gain decides, whatever the interval
        ("mean", 0.0, -0.01, 0.0, False),  # no gain is no improvement
        ("mean", 0.02, 0.01, 0.03, False),  # below min_ndcg_gain
        ("ci_lower", 0.02, -0.01, 0.0, False),  # within noise: the lower bound is below zero
        ("ci_lower", 0.05, 0.01, 0.0, True),
        ("ci_lower", 0.05, 0.01, 0.02, False),  # the lower bound must reach min_ndcg_gain too
        ("ci_lower", 0.05, 0.0, 0.0, False),  # a lower bound of exactly zero is not above zero
    ],
)
def test_each_mode_decides_on_its_measure(
    gate, mode: str, gain: float, low: float, minimum: float, passed: bool
) -> None:
    decision = gate.decide({"synthetic": entry(gain, low, gain + 0.03)}, gate=mode, min_ndcg_gain=minimum)
    assert decision["passed"] is passed
    assert decision["measure"] == (gain if mode == "mean" else low)


def test_the_questions_written_by_people_decide_when_given(gate) -> None:
    evaluations = {"synthetic": entry(0.10, 0.08, 0.12, 300), "human": entry(0.01, -0.03, 0.05, 40)}
    decision = gate.decide(evaluations, gate="ci_lower")
    assert (decision["passed"], decision["query_set"], decision["ndcg_at_10_gain"]) == (False, "human", 0.01)
    assert "on 40 questions written by people: -0.0300" in decision["reason"]
    assert "synthetic queries only" not in decision["reason"]


def test_without_them_the_reason_says_the_gate_used_synthetic_queries_only(gate) -> None:
    decision = gate.decide({"synthetic": entry(0.10, 0.08, 0.12, 300)})
    assert decision["passed"] and decision["mode"] == "mean" and decision["query_set"] == "synthetic"
    assert "The gate used synthetic queries only" in decision["reason"]


@pytest.mark.parametrize(
    ("evaluations", "options", "message"),
    [
        ({"synthetic": entry(0.1, 0.0, 0.2)}, {"gate": "median"}, "gate: 'median' is not one of mean, ci_lower"),
        ({"synthetic": entry(0.1, 0.0, 0.2)}, {"min_ndcg_gain": 2}, "min_ndcg_gain: 2 must be a number from 0 to 1"),
        ({"synthetic": entry(0.1, 0.0, 0.2)}, {"min_ndcg_gain": True}, "min_ndcg_gain: True"),
        ({"human": {"queries": 3}}, {}, "evaluations.human: no nDCG@10 difference and interval"),
        ({}, {}, "evaluations.synthetic: missing"),
    ],
)
def test_bad_settings_or_metrics_are_named(gate, evaluations: dict, options: dict, message: str) -> None:
    with pytest.raises(gate.GateInputError, match=message.replace("(", r"\(")):
        gate.decide(evaluations, **options)
