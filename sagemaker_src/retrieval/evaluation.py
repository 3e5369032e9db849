"""Retrieval quality with sentence-transformers' InformationRetrievalEvaluator, and the evidence the quality
gate decides on: per-query nDCG@10 of the base and the fine-tuned model on the same queries, and a paired
bootstrap 95% interval on their difference.

The evaluator ranks the corpus by cosine similarity and reports nDCG@10, MRR@10 and recall@1/10/100 as means
over the queries. :class:`PerQueryEvaluator` is that evaluator (its ranking, its tie-breaking, its
``compute_dcg_at_k``) keeping each query's nDCG@10 as well, so the bootstrap resamples the very scores whose
mean the report prints.

Paired bootstrap (Efron & Tibshirani 1993; Sakai 2006 for IR evaluation): the per-query differences
``fine_tuned - base`` are resampled with replacement ``resamples`` times and the 2.5th and 97.5th percentiles
of the resampled means bound the 95% interval. Pairing matters: a query that is hard for both models moves
both scores, so the difference varies far less than either score. It is written with numpy (4 lines) rather
than ``scipy.stats.bootstrap`` because that function's seed argument changed name in SciPy 1.15
(``random_state`` -> ``rng``) and the training image's SciPy version is not ours to pick; a test checks that
both give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .data import EvaluationData

EVALUATOR_NAME = "eval"
# metrics.json key -> the evaluator's metric name (after "<name>_<score function>_")
METRICS = {
    "ndcg@10": "ndcg@10",
    "mrr@10": "mrr@10",
    "recall@1": "recall@1",
    "recall@10": "recall@10",
    "recall@100": "recall@100",
}
GATE_METRIC = "ndcg@10"
NDCG_K = 10
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 20_240_917


def build_evaluator(data: EvaluationData, *, batch_size: int = 64) -> Any:
    return PerQueryEvaluator.create(data, batch_size=batch_size)


class PerQueryEvaluator:
    """Builds the library's evaluator, subclassed once (sentence-transformers is imported lazily)."""

    @staticmethod
    def create(data: EvaluationData, *, batch_size: int = 64) -> Any:
        from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
        from sentence_transformers.util import cos_sim

        class _Evaluator(InformationRetrievalEvaluator):
            """Also keeps ``per_query_ndcg``: each query's nDCG@10, in ``queries_ids`` order."""

            per_query_ndcg: list[float]

            def compute_metrics(self, queries_result_list: list[Any]) -> dict[str, Any]:
                scores = []
                for query_itr, hits in enumerate(queries_result_list):
                    relevant = self.relevant_docs[self.queries_ids[query_itr]]
                    top = sorted(hits, key=lambda hit: (-hit["score"], hit["corpus_id"]))[:NDCG_K]
                    found = [1 if hit["corpus_id"] in relevant else 0 for hit in top]
                    ideal = self.compute_dcg_at_k([1] * len(relevant), NDCG_K)
                    scores.append(float(self.compute_dcg_at_k(found, NDCG_K) / ideal))
                self.per_query_ndcg = scores
                return super().compute_metrics(queries_result_list)

        queries: dict[str, Any] = dict(data.queries)  # the evaluator also takes images and arrays as inputs
        corpus: dict[str, Any] = dict(data.corpus)
        return _Evaluator(
            queries=queries,
            corpus=corpus,
            relevant_docs=data.relevant_docs,
            mrr_at_k=[10],
            ndcg_at_k=[NDCG_K],
            accuracy_at_k=[1],
            precision_recall_at_k=[1, 10, 100],
            map_at_k=[100],
            batch_size=batch_size,
            name=EVALUATOR_NAME,
            write_csv=False,
            score_functions={"cosine": cos_sim},  # one ranking, so per_query_ndcg is the cosine one
            main_score_function="cosine",
        )


@dataclass(frozen=True)
class Evaluation:
    """One model on one query set: the five mean metrics and each query's nDCG@10 (in query order)."""

    metrics: dict[str, float]
    per_query: list[float]


def evaluate(model: Any, evaluator: Any) -> dict[str, float]:
    """nDCG@10, MRR@10 and recall@1/10/100 by cosine similarity."""
    return evaluate_per_query(model, evaluator).metrics


def evaluate_per_query(model: Any, evaluator: Any) -> Evaluation:
    results = evaluator(model)
    prefix = f"{EVALUATOR_NAME}_cosine_"
    missing = [f"{prefix}{name}" for name in METRICS.values() if f"{prefix}{name}" not in results]
    if missing:
        raise KeyError(f"the evaluator did not report {missing}; it reported {sorted(results)}")
    metrics = {key: round(float(results[f"{prefix}{name}"]), 6) for key, name in METRICS.items()}
    return Evaluation(metrics=metrics, per_query=list(getattr(evaluator, "per_query_ndcg", [])))


def difference(base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
    return {key: round(tuned[key] - base[key], 6) for key in METRICS}


def paired_bootstrap_interval(
    base: Sequence[float],
    tuned: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """The percentile-bootstrap interval of ``mean(tuned - base)`` over paired per-query scores."""
    import numpy as np

    if len(base) != len(tuned) or not base:
        raise ValueError(f"paired scores needed: {len(base)} base and {len(tuned)} fine-tuned")
    differences = np.asarray(tuned, dtype=float) - np.asarray(base, dtype=float)
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), size=(resamples, len(differences)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return round(float(low), 6), round(float(high), 6)


def compare(
    base: Evaluation, tuned: Evaluation, *, queries: int, unknown: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """One query set's entry of ``metrics.json``'s ``evaluations``: both models, the difference, and the
    paired bootstrap interval on the nDCG@10 difference."""
    low, high = paired_bootstrap_interval(base.per_query, tuned.per_query)
    entry: dict[str, Any] = {
        "queries": queries,
        "base": base.metrics,
        "fine_tuned": tuned.metrics,
        "difference": difference(base.metrics, tuned.metrics),
        "interval": {
            "metric": GATE_METRIC,
            "confidence": CONFIDENCE,
            "low": low,
            "high": high,
            "resamples": BOOTSTRAP_RESAMPLES,
            "method": "paired percentile bootstrap",
        },
    }
    if unknown:
        entry["unknown_ids"] = list(unknown)
    return entry
