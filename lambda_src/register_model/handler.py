"""Register the run's fine-tuned model where the execution input asks: OpenSearch ML Commons or Pinecone.

Events (one per target; the state machine runs the ones the input selects):

- ``{"action": "opensearch", "run_id", "model_name", "endpoint_name", "embedding_dimension", "region",
  "opensearch_endpoint", "opensearch_auth": "sigv4" | "basic", "opensearch_secret_arn"?, "connector_role_arn"}``
  returns ``{"model_id", "model_group_id", "connector_id", "created": {"connector", "model_group", "model"},
  "connector_updated", "trusted_endpoint_added"}``;
- ``{"action": "pinecone", "run_id", "model_name", "endpoint_name", "corpus_uri", "embedding_dimension",
  "index_name", "cloud", "region", "api_key_secret_arn", "control_plane_host"?}`` returns ``{"index_name",
  "index_host", "namespace", "vectors_upserted", "index_created", "documents", "duplicates_skipped",
  "blank_skipped", "embedding_requests", "upsert_requests"}``.

Re-running either creates nothing twice. Errors (Step Functions error names): ``InvalidEventError`` naming a
field, ``MalformedLineError`` naming a corpus line, ``OpenSearchAccessError``, ``MlCommonsError``,
``MlCommonsTaskError``, ``PineconeIndexMismatchError``, ``PineconeRegistrationError``, ``EndpointError``.
The logic is in ``model_registration`` and the modules it names.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.register_model.endpoint_embeddings import EndpointError
from lambda_src.register_model.ml_commons_registration import MlCommonsError, OpenSearchAccessError
from lambda_src.register_model.model_registration import register_model
from lambda_src.register_model.pinecone_registration import PineconeIndexMismatchError, PineconeRegistrationError
from lambda_src.shared.run_storage import InvalidEventError, MalformedLineError

logger = Logger()
tracer = Tracer()
# The plain modules log to logging.getLogger(__name__), all under "lambda_src"; Powertools configures only
# top-level loggers (aws_lambda_powertools/logging/utils.py: names without a dot), whose children inherit.
copy_config_to_registered_loggers(source_logger=logger, include={"lambda_src"})
EXPECTED_ERRORS = (
    InvalidEventError,
    MalformedLineError,
    OpenSearchAccessError,
    MlCommonsError,
    PineconeIndexMismatchError,
    PineconeRegistrationError,
    EndpointError,
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return register_model(event)
    except EXPECTED_ERRORS as error:
        logger.warning(
            "registration stopped",
            extra={
                "error": type(error).__name__,
                "reason": str(error),
                "action": event.get("action") if isinstance(event, dict) else None,
            },
        )
        raise
