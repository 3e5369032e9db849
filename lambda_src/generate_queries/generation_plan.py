"""Decide how a run generates its queries: on-demand Converse calls over shards, or one batch job.

Event: ``{"action": "plan", "run_id", "documents": int, "generation_mode": "on_demand" | "batch" | "auto",
"shard_size": int (default 200)}``. Returns ``{"mode", "shards": [{"start", "end"}, ...]}``; shards cover
``[0, documents)`` for on-demand generation and are empty for batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambda_src.generate_queries.query_events import integer, require_mapping
from lambda_src.shared.run_storage import InvalidEventError, run_prefix

# Amazon Bedrock service quota "Minimum number of records per batch inference job" (default 100, per
# model): a batch job with fewer records fails validation, so smaller corpora use on-demand calls.
BATCH_INFERENCE_MINIMUM_RECORDS = 100
# Amazon Bedrock service quota "Records per input file per batch inference job" (default 50,000).
BATCH_INFERENCE_MAXIMUM_RECORDS_PER_FILE = 50_000
DEFAULT_SHARD_SIZE = 200
MAX_SHARD_SIZE = 1000
GENERATION_MODES = ("on_demand", "batch", "auto")


def plan(event: Mapping[str, Any]) -> dict[str, Any]:
    event = require_mapping(event)
    run_prefix(event.get("run_id"))
    documents = integer(event, "documents", minimum=1)
    shard_size = integer(event, "shard_size", minimum=1, maximum=MAX_SHARD_SIZE, default=DEFAULT_SHARD_SIZE)
    requested = event.get("generation_mode", "auto")
    if requested not in GENERATION_MODES:
        raise InvalidEventError(f"generation_mode: {requested!r} is not one of {', '.join(GENERATION_MODES)}")
    if requested == "batch" and documents < BATCH_INFERENCE_MINIMUM_RECORDS:
        raise InvalidEventError(
            f"generation_mode: 'batch' needs at least {BATCH_INFERENCE_MINIMUM_RECORDS} documents (the Bedrock batch "
            f"inference minimum per job) and the corpus has {documents}; use 'auto' or 'on_demand'"
        )
    if requested == "batch" and documents > BATCH_INFERENCE_MAXIMUM_RECORDS_PER_FILE:
        raise InvalidEventError(
            f"generation_mode: 'batch' takes at most {BATCH_INFERENCE_MAXIMUM_RECORDS_PER_FILE} documents per job "
            f"and the corpus has {documents}; lower max_documents or use 'on_demand'"
        )
    batch = requested == "batch" or (
        requested == "auto" and BATCH_INFERENCE_MINIMUM_RECORDS <= documents <= BATCH_INFERENCE_MAXIMUM_RECORDS_PER_FILE
    )
    if batch:
        return {"mode": "batch", "shards": []}
    shards = [{"start": start, "end": min(start + shard_size, documents)} for start in range(0, documents, shard_size)]
    return {"mode": "on_demand", "shards": shards}
