"""The quality gate ("Better than the base model?"): whether a fine-tuned retrieval model is deployed.

It decides on one query set of ``metrics.json``'s ``evaluations`` (written by ``sagemaker_src.retrieval.train``):
the questions written by people when the run was given them (``evaluation_questions_uri``), else the held-out
synthetic queries, which the same model wrote as the training queries and so flatter the fine-tuned model.
The measure is the nDCG@10 difference, fine-tuned minus base, on that set:

- ``mean``: the mean difference must be above 0 and at least ``min_ndcg_gain`` (the rule before gate modes);
- ``ci_lower``: the lower bound of the paired bootstrap 95% interval must be above 0 and at least
  ``min_ndcg_gain``: a gain that could be noise is not a gain.

The state machine's Choice reads ``passed``; the dry run calls :func:`decide` too, so both decide alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GATE_MODES = ("mean", "ci_lower")
DEFAULT_GATE = "mean"
SET_LABELS = {"human": "questions written by people", "synthetic": "held-out synthetic queries"}


class GateInputError(ValueError):
    """The gate's settings or the metrics it reads are not what the workflow and the training script write."""


def decide(evaluations: Mapping[str, Any], *, gate: str = DEFAULT_GATE, min_ndcg_gain: float = 0.0) -> dict[str, Any]:
    """``{"passed", "mode", "query_set", "measure", "ndcg_at_10_gain", "interval", "min_ndcg_gain", "reason"}``."""
    if gate not in GATE_MODES:
        raise GateInputError(f"gate: {gate!r} is not one of {', '.join(GATE_MODES)}")
    if isinstance(min_ndcg_gain, bool) or not isinstance(min_ndcg_gain, (int, float)) or not 0 <= min_ndcg_gain <= 1:
        raise GateInputError(f"min_ndcg_gain: {min_ndcg_gain!r} must be a number from 0 to 1")
    query_set = "human" if "human" in evaluations else "synthetic"
    entry = evaluations.get(query_set)
    if not isinstance(entry, Mapping):
        raise GateInputError(f"evaluations.{query_set}: missing; the training script writes it")
    try:
        gain = float(entry["difference"]["ndcg@10"])
        low, high = float(entry["interval"]["low"]), float(entry["interval"]["high"])
    except (KeyError, TypeError, ValueError) as error:
        raise GateInputError(f"evaluations.{query_set}: no nDCG@10 difference and interval ({error})") from None
    measure = gain if gate == "mean" else low
    passed = measure > 0 and measure >= min_ndcg_gain
    what = "mean nDCG@10 gain" if gate == "mean" else "lower bound of the 95% interval on the nDCG@10 gain"
    verdict = "passed" if passed else "not improved; nothing was deployed"
    reason = (
        f"{what} on {entry.get('queries', '?')} {SET_LABELS[query_set]}: {measure:+.4f} "
        f"(gain {gain:+.4f}, 95% interval {low:+.4f} to {high:+.4f}); needed more than 0 and at least "
        f"{min_ndcg_gain:g}: {verdict}"
    )
    if query_set == "synthetic":
        reason += (
            ". The gate used synthetic queries only: give evaluation_questions_uri to decide on people's questions"
        )
    return {
        "passed": passed,
        "mode": gate,
        "query_set": query_set,
        "measure": round(measure, 6),
        "ndcg_at_10_gain": round(gain, 6),
        "interval": {"low": low, "high": high},
        "min_ndcg_gain": min_ndcg_gain,
        "reason": reason,
    }


def report_section(decision: Mapping[str, Any]) -> str:
    """The gate's decision as a Markdown section appended to the run report."""
    return f"\n## Quality gate\n\nMode `{decision['mode']}`; decided on {SET_LABELS[decision['query_set']]}: {decision['reason']}.\n"
