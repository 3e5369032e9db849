"""Convert and validate a run's fine-tuning data for Bedrock model customization.

Event: ``{"run_id", "input": {"train_s3_uri", "target_format", "validation_fraction"?, "seed"?,
"min_records"?, "max_records"?, "max_tokens_per_record"?}}``. Returns the S3 URIs of
``data/train.jsonl``, ``data/validation.jsonl`` and ``data/metadata.json`` with the record counts and format.
Raises ``CustomizationDataError`` (problems listed in ``data/problems.jsonl``) or ``InvalidEventError``.
The logic is in ``customization_preparation`` and the shared ``customization_data`` library.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.prepare_customization_data.customization_preparation import prepare_customization_data
from lambda_src.shared.customization_data import CustomizationDataError
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
        return prepare_customization_data(event)
    except (CustomizationDataError, InvalidEventError) as error:
        logger.warning("data preparation stopped", extra={"error": type(error).__name__, "reason": str(error)})
        raise
