"""Retrieval quality with sentence-transformers' InformationRetrievalEvaluator, as a flat dict."""

from __future__ import annotations

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


def build_evaluator(data: EvaluationData, *, batch_size: int = 64) -> Any:
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    return InformationRetrievalEvaluator(
        queries=data.queries,
        corpus=data.corpus,
        relevant_docs=data.relevant_docs,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1],
        precision_recall_at_k=[1, 10, 100],
        map_at_k=[100],
        batch_size=batch_size,
        name=EVALUATOR_NAME,
        write_csv=False,
        main_score_function="cosine",
    )


def evaluate(model: Any, evaluator: Any) -> dict[str, float]:
    """nDCG@10, MRR@10 and recall@1/10/100 by cosine similarity."""
    results = evaluator(model)
    prefix = f"{EVALUATOR_NAME}_cosine_"
    missing = [f"{prefix}{name}" for name in METRICS.values() if f"{prefix}{name}" not in results]
    if missing:
        raise KeyError(f"the evaluator did not report {missing}; it reported {sorted(results)}")
    return {key: round(float(results[f"{prefix}{name}"]), 6) for key, name in METRICS.items()}


def difference(base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
    return {key: round(tuned[key] - base[key], 6) for key in METRICS}
