"""Build the (query, passage) training and evaluation sets of a run from its corpus and generated queries.

Event: ``{"run_id", "corpus_uri", "queries_prefix", "eval_fraction", "seed"}``. Returns the S3 URIs of
``pairs/train.jsonl``, ``pairs/eval.jsonl`` and ``pairs/eval_corpus.jsonl`` with their counts; raises
``NoTrainingPairsError`` when no pair can be built. The logic is in ``pair_building``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.build_pairs.pair_building import NoTrainingPairsError, build_pairs
from lambda_src.shared.run_storage import InvalidEventError, MalformedLineError

logger = Logger()
tracer = Tracer()
# The plain modules log to logging.getLogger(__name__), all under "lambda_src"; Powertools configures only
# top-level loggers (aws_lambda_powertools/logging/utils.py: names without a dot), whose children inherit.
copy_config_to_registered_loggers(source_logger=logger, include={"lambda_src"})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return build_pairs(event)
    except (NoTrainingPairsError, InvalidEventError, MalformedLineError) as error:
        logger.warning("pair building stopped", extra={"error": type(error).__name__, "reason": str(error)})
        raise
