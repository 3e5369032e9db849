"""Every task state's parameters, as a run sends them, checked against the botocore service model of its API.

Rendered with each example input of ``statemachines/examples`` (defaults filled in as the validation step does)
and with the longest run ID Step Functions allows; checked for unknown and missing members, types, enums,
lengths and patterns (``tests.support.api_shapes``).
"""

from __future__ import annotations

import pytest

from tests.contracts.known_defects import expected_failure
from tests.contracts.workflows import longest_run_id, rendered_tasks, workflows
from tests.support import api_shapes
from tests.support.deployed_app import DeployedApp


def shape_problems(app: DeployedApp) -> tuple[list[str], int]:
    problems, checked = [], 0
    for workflow in workflows(app):
        for example, task, operation, parameters in rendered_tasks(workflow):
            if operation is None:
                continue
            checked += 1
            for problem in api_shapes.validate(*operation, parameters):
                problems.append(f"{workflow.logical_id} / {task.name} ({example}): {problem}")
    return sorted(set(problems)), checked


def test_every_sdk_task_sends_what_its_api_accepts(deployed: DeployedApp) -> None:
    problems, checked = shape_problems(deployed)
    assert checked > 40
    unknown = [problem for problem in problems if expected_failure(problem) is None]
    assert unknown == [], "\n".join(unknown)


def test_the_run_id_is_as_long_as_step_functions_allows() -> None:
    assert len(longest_run_id()) == 80 and "_" in longest_run_id()


@pytest.mark.parametrize(
    ("operation", "parameters", "expected"),
    [
        (
            ("bedrock", "CreateModelInvocationJob"),
            {"JobName": "modelsmith-" + longest_run_id()},
            "above the maximum 63",
        ),
        (("bedrock", "CreateModelInvocationJob"), {"JobName": "modelsmith-run_1"}, "does not match the pattern"),
        (("ec2", "StartInstances"), {"InstanceId": "i-1"}, "not a member of StartInstancesRequest"),
        (("sns", "Publish"), {"Message": 3}, "expected a string"),
        (("sagemaker", "CreateEndpoint"), {"EndpointName": "x"}, "EndpointConfigName: required"),
    ],
)
def test_negative_control_the_validator_refuses_what_the_model_forbids(operation, parameters, expected) -> None:
    problems = api_shapes.validate(*operation, parameters)
    assert any(expected in problem for problem in problems), problems


# AWS's common errors, which any API may return though its model lists none of them
# (https://docs.aws.amazon.com/ec2/latest/devguide/errors-overview.html#CommonErrors and each API reference's
# "Common Errors"), with the throttling codes the SDKs retry.
COMMON_ERRORS = {
    "AccessDeniedException",
    "IncompleteSignature",
    "InternalFailure",
    "InvalidAction",
    "InvalidClientTokenId",
    "NotAuthorized",
    "OptInRequired",
    "RequestExpired",
    "ServiceUnavailable",
    "ThrottlingException",
    "ValidationError",
    "ValidationException",
    "RequestLimitExceeded",
}


def step_functions_error_names(service: str) -> set[str] | None:
    """The error names a Retry/Catch can match for an SDK integration of ``service``: each error shape of its botocore
    model with the "Exception" suffix Step Functions always adds ("always add the Exception suffix to potential error
    names", https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html); None when the model
    lists no errors (EC2 returns error codes only)."""
    import botocore.session

    shapes = botocore.session.get_session().get_service_model(service).error_shapes
    if not shapes:
        return None
    return {shape.name if shape.name.endswith("Exception") else shape.name + "Exception" for shape in shapes}


def error_name_problems(app: DeployedApp) -> list[str]:
    from tests.support import asl

    problems = []
    for workflow in workflows(app):
        states = dict(_all_states(workflow.definition))
        for task in asl.task_states(workflow.definition):
            if not task.integration.startswith("aws-sdk:"):
                continue
            service = asl.api_operation(task)[0]
            known = step_functions_error_names(service)
            state = states[task.name]
            names = {
                name for rule in [*state.get("Retry", []), *state.get("Catch", [])] for name in rule["ErrorEquals"]
            }
            for name in sorted(names):
                prefix, _, error = name.partition(".")
                if prefix.lower() != service.replace("-", "").lower() or known is None:
                    continue
                if (
                    error not in known
                    and error not in COMMON_ERRORS
                    and error.removesuffix("Exception") not in COMMON_ERRORS
                ):
                    problems.append(
                        f"{workflow.logical_id} / {task.name}: {name} is no error of {service} "
                        f"(botocore's error shapes, with Step Functions' Exception suffix)"
                    )
    return problems


def _all_states(definition: dict):
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _all_states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _all_states(state[key])


def test_every_retried_or_caught_sdk_error_exists(deployed: DeployedApp) -> None:
    problems = error_name_problems(deployed)
    assert [p for p in problems if expected_failure(p) is None] == [], "\n".join(problems)


def test_negative_control_an_error_name_without_its_suffix_is_refused() -> None:
    names = step_functions_error_names("ssm")
    assert "InvocationDoesNotExistException" in names and "InternalServerErrorException" in names
    assert "InvocationDoesNotExist" not in names
    assert step_functions_error_names("ec2") is None
