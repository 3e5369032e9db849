"""Estimate what a workflow run will cost, for the run's output: ``modelsmith_core/cost.py`` (bundled with this
function) with the environment's settings from ``COST_CONFIG`` and prices from ``modelsmith_core/prices.json``.

Event: ``{"workflow": "retrieval-pipeline" | "llm-customization" | "lora-training", "input": <validated input>}``.
Returns a compact estimate: ``{"currency", "run_total", "recurring_total", "total", "items": [{"description",
"amount", "recurring"}], "notes", "price_table"}`` (the notes say what is not counted and how things bill). An input the estimator cannot price returns ``{"unavailable": reason}``
instead of failing: a missing estimate never stops a run.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelsmith_core.cost import CostError, estimate_for_workflow

logger = Logger()
tracer = Tracer()
COST_CONFIG_ENV = "COST_CONFIG"


def compact(estimate: dict[str, Any]) -> dict[str, Any]:
    """What a workflow's output carries: totals and one amount per line item (details: `modelsmith cost`)."""
    return {
        "currency": estimate["currency"],
        "run_total": estimate["run_total"],
        "recurring_total": estimate["recurring_total"],
        "total": estimate["total"],
        "items": [
            {"description": item["description"], "amount": round(item["amount"], 2), "recurring": item["recurring"]}
            for item in estimate["items"]
        ],
        "notes": estimate["notes"],
        "price_table": estimate["price_table"],
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        config = json.loads(os.environ[COST_CONFIG_ENV])
        estimate = estimate_for_workflow(event["workflow"], event["input"], config)
    except (CostError, KeyError, json.JSONDecodeError) as error:
        logger.warning("no cost estimate", extra={"reason": str(error)})
        return {"unavailable": f"{type(error).__name__}: {error}"}
    logger.info(
        "cost estimate", extra={"run_total": estimate["run_total"], "recurring_total": estimate["recurring_total"]}
    )
    return compact(estimate)
