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


# ---------------------------------------------------------------------------------------------------------------
# Per-query nDCG@10 and the paired bootstrap interval the quality gate decides on
# ---------------------------------------------------------------------------------------------------------------


class _WordsModel:
    """An encoder by word counts over a fixed vocabulary: rankings with ties and misses, no model download."""

    similarity_fn_name = "cosine"
    vocabulary = ["alpha", "beta", "gamma", "delta", "epsilon"]

    class model_card_data:  # noqa: N801 - the attribute the evaluator writes to
        @staticmethod
        def set_evaluation_metrics(*_: Any) -> None:
            pass

    def similarity(self, a: Any, b: Any) -> Any:
        import torch

        return torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(b, dim=-1).T

    def encode_query(self, texts: list[str], **_: Any) -> Any:
        import torch

        return torch.tensor(
            [[text.split().count(word) + 0.01 * i for i, word in enumerate(self.vocabulary)] for text in texts]
        )

    encode_document = encode_query
    encode = encode_query


def test_per_query_ndcg_averages_to_the_evaluators_own_ndcg() -> None:
    from sagemaker_src.retrieval.evaluation import evaluate_per_query

    data = EvaluationData(
        queries={"q1": "alpha", "q2": "beta gamma", "q3": "delta"},
        corpus={f"d{i}": text for i, text in enumerate(["alpha", "beta", "gamma", "delta", "alpha beta", "epsilon"])},
        relevant_docs={"q1": {"d0", "d4"}, "q2": {"d2"}, "q3": {"d5"}},
    )
    result = evaluate_per_query(_WordsModel(), build_evaluator(data))
    assert len(result.per_query) == 3 and all(0 <= score <= 1 for score in result.per_query)
    assert sum(result.per_query) / 3 == pytest.approx(result.metrics["ndcg@10"], abs=1e-6)
    assert result.per_query[0] == pytest.approx(1.0)  # both relevant documents ranked first


def test_the_paired_bootstrap_interval_matches_scipys() -> None:
    import numpy as np
    from scipy import stats

    from sagemaker_src.retrieval.evaluation import paired_bootstrap_interval

    rng = np.random.default_rng(7)
    base = rng.uniform(0.2, 0.9, 40)
    tuned = np.clip(base + rng.normal(0.03, 0.15, 40), 0, 1)
    low, high = paired_bootstrap_interval(base.tolist(), tuned.tolist())
    reference = stats.bootstrap(
        (base, tuned),
        lambda b, t, axis: np.mean(t - b, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=10_000,
        method="percentile",
        rng=np.random.default_rng(1),
    )
    assert low == pytest.approx(reference.confidence_interval.low, abs=0.006)
    assert high == pytest.approx(reference.confidence_interval.high, abs=0.006)
    assert low < float(np.mean(tuned - base)) < high


def test_identical_scores_give_a_zero_width_interval_and_mismatched_lists_are_refused() -> None:
    from sagemaker_src.retrieval.evaluation import paired_bootstrap_interval

    assert paired_bootstrap_interval([0.4, 0.6, 0.5], [0.5, 0.7, 0.6]) == (0.1, 0.1)
    with pytest.raises(ValueError, match="paired scores needed: 2 base and 3 fine-tuned"):
        paired_bootstrap_interval([0.1, 0.2], [0.1, 0.2, 0.3])
