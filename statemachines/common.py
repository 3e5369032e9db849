"""What every workflow shares: the retry policy, input validation, command following, schema loading."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from modelsmith_core.naming import TAG_RUN_ID

RUN_ID = sfn.JsonPath.string_at("$$.Execution.Name")  # a run's ID is its execution's name
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"

# Errors worth retrying for any AWS SDK integration: throttling and service-side faults.
TRANSIENT_SDK_ERRORS = ["ThrottlingException", "ServiceUnavailable", "InternalServerError", "States.Timeout"]
BEDROCK_TRANSIENT_ERRORS = [
    *TRANSIENT_SDK_ERRORS,
    "Bedrock.ThrottlingException",
    "Bedrock.ServiceUnavailableException",
    "Bedrock.InternalServerException",
]
TRANSIENT_LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
]


def run_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """The ``Tags`` (``Key``/``Value``) of what a run creates through an SDK integration: the component's
    cost-allocation ``tags`` (``modelsmith_core.naming.resource_tags``) and the run ID, which ``modelsmith.cleanup``
    finds them by."""
    return [*({"Key": key, "Value": value} for key, value in tags.items()), {"Key": TAG_RUN_ID, "Value": RUN_ID}]


def load_schema(name: str) -> dict[str, Any]:
    """The execution-input schema ``statemachines/schemas/<name>.schema.json``."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


TaskT = TypeVar("TaskT", bound=sfn.TaskStateBase)


def retry_transient(task: TaskT, errors: list[str], *, max_attempts: int = 4) -> TaskT:
    """The one retry policy: exponential backoff from 2 s, doubling, full jitter, capped at 60 s."""
    task.add_retry(
        errors=errors,
        interval=Duration.seconds(2),
        backoff_rate=2,
        max_attempts=max_attempts,
        max_delay=Duration.seconds(60),
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task


def validate_input_task(scope: Construct, *, validator: lambda_.IFunction, schema_name: str) -> tasks.LambdaInvoke:
    """First state: the validator function checks the execution input against the workflow's schema
    (``statemachines/schemas/<schema_name>.schema.json``, bundled with the function: see ``constructs/workflow_state_machine.py``).

    On success the state's output is the input with defaults filled in and ``run_names`` (what the run's resources
    are called in services whose names the run ID may not fit, ``lambda_src/shared/run_names.py``); on failure
    the execution's error is ``InputValidationError`` and its cause names every bad field.
    """
    task = tasks.LambdaInvoke(
        scope,
        "Validate input",
        lambda_function=validator,
        payload=sfn.TaskInput.from_object(
            {"input": sfn.JsonPath.entire_payload, "schema_name": schema_name, "run_id": RUN_ID}
        ),
        payload_response_only=True,
        retry_on_service_exceptions=False,
    )
    retry_transient(task, TRANSIENT_LAMBDA_ERRORS)
    return task


def cost_estimate_task(
    scope: Construct, *, estimator: lambda_.IFunction, workflow: str, then: sfn.IChainable
) -> sfn.IChainable:
    """The state after input validation: the run's estimated cost at ``$.cost_estimate`` (for the output), then
    ``then``. The estimator returns ``{"unavailable": reason}`` for inputs it cannot price; should the function
    itself fail, the run goes on without an estimate."""
    task = tasks.LambdaInvoke(
        scope,
        "Estimate cost",
        lambda_function=estimator,
        payload=sfn.TaskInput.from_object({"workflow": workflow, "input": sfn.JsonPath.entire_payload}),
        payload_response_only=True,
        retry_on_service_exceptions=False,
        result_path="$.cost_estimate",
    )
    retry_transient(task, TRANSIENT_LAMBDA_ERRORS)
    unavailable = sfn.Pass(
        scope,
        "Cost estimate unavailable",
        parameters={"unavailable": sfn.JsonPath.string_at("$.cost_error.Cause")},
        result_path="$.cost_estimate",
    )
    task.add_catch(unavailable, result_path="$.cost_error")
    task.next(then)
    unavailable.next(then)
    return task
