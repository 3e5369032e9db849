"""First state of every workflow: check the execution input against the workflow's JSON Schema.

Event: ``{"input": <execution input>, "schema_name": "<workflow>", "run_id": <execution name>}``; the schemas
(``statemachines/schemas/``) are bundled with the function under ``schemas/``. Returns the input with defaults
filled in and, under ``run_names``, the names the run's resources get in other services (``run_names.run_names``),
or raises ``InputValidationError`` whose message names every bad field; the state machine fails with that message.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.shared.run_names import run_names
from lambda_src.validate_input.input_validation import InputValidationError, load_schema, validate

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        validated = validate(event["input"], load_schema(event["schema_name"]))
    except InputValidationError as error:
        logger.warning("execution input rejected", extra={"problems": error.problems})
        raise
    if "run_id" in event:
        validated["run_names"] = run_names(event["run_id"])
    return validated
