"""The metrics taken from InformationRetrievalEvaluator, and their difference."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_src.retrieval.data import EvaluationData
from sagemaker_src.retrieval.evaluation import METRICS, build_evaluator, difference, evaluate

METRIC_KEYS = {"ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100"}


class _FakeEvaluator:
    def __init__(self, results: dict[str, float]) -> None:
        self.results = results

    def __call__(self, model: Any) -> dict[str, float]:
        return self.results


def test_metric_names_are_the_five_reported() -> None:
    assert set(METRICS) == METRIC_KEYS


def test_evaluate_picks_cosine_metrics_from_evaluator_output() -> None:
    results = {f"eval_cosine_{name}": 0.5 for name in METRICS.values()} | {"eval_cosine_accuracy@1": 0.1}

    assert evaluate(object(), _FakeEvaluator(results)) == {key: 0.5 for key in METRIC_KEYS}


def test_evaluate_names_a_missing_metric() -> None:
    with pytest.raises(KeyError, match="eval_cosine_recall@100"):
        evaluate(object(), _FakeEvaluator({f"eval_cosine_{name}": 1.0 for name in ["ndcg@10", "mrr@10"]}))


def test_difference_is_tuned_minus_base() -> None:
    base = dict.fromkeys(METRIC_KEYS, 0.5)
    tuned = dict.fromkeys(METRIC_KEYS, 0.75)

    assert difference(base, tuned) == dict.fromkeys(METRIC_KEYS, 0.25)


def test_real_evaluator_reports_every_metric_with_a_stub_encoder() -> None:
    """The evaluator's own key names (checked against the installed sentence-transformers), no model needed."""
    import torch

    data = EvaluationData(
        queries={"q0": "alpha", "q1": "beta"},
        corpus={"d0": "alpha", "d1": "beta", "d2": "gamma"},
        relevant_docs={"q0": {"d0"}, "q1": {"d1"}},
    )
    vectors = {"alpha": [1.0, 0.0, 0.0], "beta": [0.0, 1.0, 0.0], "gamma": [0.0, 0.0, 1.0]}

    class _ModelCard:
        def set_evaluation_metrics(self, *_: Any) -> None:
            pass

    class _StubModel:
        similarity_fn_name = "cosine"
        model_card_data = _ModelCard()

        def similarity(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(b, dim=-1).T

        def encode_query(self, texts: list[str], **_: Any) -> torch.Tensor:
            return torch.tensor([vectors[text] for text in texts])

        encode_document = encode_query
        encode = encode_query

    metrics = evaluate(_StubModel(), build_evaluator(data))

    assert metrics == dict.fromkeys(METRIC_KEYS, 1.0)
