"""Compare a customized model with its base model on a JSONL test suite and store the report.

Event: ``{"run_id", "test_suite_uri", "base_model_id", "custom_model_id", "metric", "judge_model_id"?,
"min_gain"}``. Returns ``{"base_score", "custom_score", "gain", "custom_wins", "report_uri", "cases"}``.
Raises ``EvaluationSuiteError`` for a bad suite line, ``InvalidEventError`` for a bad event. The logic is in
``customization_evaluation``; Bedrock Runtime comes from its ``bedrock_runtime_client()``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.evaluate_customization.customization_evaluation import EvaluationSuiteError, evaluate_customization
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
        return evaluate_customization(event)
    except (EvaluationSuiteError, InvalidEventError) as error:
        logger.warning("evaluation stopped", extra={"error": type(error).__name__, "reason": str(error)})
        raise
