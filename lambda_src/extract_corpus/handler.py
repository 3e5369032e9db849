"""Extract the run's corpus from S3 JSONL or an OpenSearch index into ``runs/<run_id>/corpus/``.

Event: ``{"run_id": str, "input": <validated execution input>}``. Returns ``{"corpus_uri", "rejects_uri",
"documents", "rejected", "duplicates", "source"}``. Raises ``EmptyCorpusError`` when no document is usable,
``InvalidEventError`` naming a bad field, and ``OpenSearchAccessError`` when the cluster refuses access.
The logic is in ``corpus_extraction`` and ``opensearch_source``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.extract_corpus.corpus_extraction import EmptyCorpusError, extract_corpus
from lambda_src.extract_corpus.opensearch_source import OpenSearchAccessError
from lambda_src.shared.run_storage import InvalidEventError

logger = Logger()
tracer = Tracer()
# The plain modules log to logging.getLogger(__name__), all under "lambda_src"; Powertools configures only
# top-level loggers (aws_lambda_powertools/logging/utils.py: names without a dot), whose children inherit.
copy_config_to_registered_loggers(source_logger=logger, include={"lambda_src"})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return extract_corpus(event)
    except (EmptyCorpusError, InvalidEventError, OpenSearchAccessError) as error:
        logger.warning("corpus extraction stopped", extra={"error": type(error).__name__, "reason": str(error)})
        raise
