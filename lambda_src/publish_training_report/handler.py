"""Copy a retrieval training job's metrics and run report into the run prefix and return the scores the
quality gate compares. Event and result: see ``training_report``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.publish_training_report.training_report import TrainingOutputError, publish_training_report
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
        return publish_training_report(event)
    except (TrainingOutputError, InvalidEventError) as error:
        logger.warning("training report refused", extra={"error": type(error).__name__, "reason": str(error)})
        raise
