"""Generate search queries for the run's corpus with Amazon Bedrock; four actions chosen by ``event["action"]``:

- ``plan``: on-demand shards or one batch job (``generation_plan``);
- ``generate``: Converse calls for one shard (``query_generation``);
- ``prepare_batch`` / ``collect_batch``: the input and the results of a batch inference job (``batch_records``).

Each returns small JSON (S3 URIs and counts). Errors: ``InvalidEventError`` naming a bad field,
``QueryGenerationError`` when no query could be generated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.generate_queries.batch_records import collect_batch, prepare_batch
from lambda_src.generate_queries.generation_plan import plan
from lambda_src.generate_queries.query_generation import QueryGenerationError, generate
from lambda_src.shared.run_storage import InvalidEventError, MalformedLineError

logger = Logger()
tracer = Tracer()
# The plain modules log to logging.getLogger(__name__), all under "lambda_src"; Powertools configures only
# top-level loggers (aws_lambda_powertools/logging/utils.py: names without a dot), whose children inherit.
copy_config_to_registered_loggers(source_logger=logger, include={"lambda_src"})

ACTIONS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "plan": plan,
    "generate": generate,
    "prepare_batch": prepare_batch,
    "collect_batch": collect_batch,
}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    if action not in ACTIONS:
        raise InvalidEventError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    logger.append_keys(action=action, run_id=event.get("run_id"))
    try:
        return ACTIONS[action](event)
    except (InvalidEventError, MalformedLineError, QueryGenerationError) as error:
        logger.warning("query generation stopped", extra={"error": type(error).__name__, "reason": str(error)})
        raise
