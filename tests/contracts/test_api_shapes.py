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
        (("bedrock", "CreateModelInvocationJob"), {"JobName": "modelsmith-" + longest_run_id()}, "above the maximum 63"),
        (("bedrock", "CreateModelInvocationJob"), {"JobName": "modelsmith-run_1"}, "does not match the pattern"),
        (("ec2", "StartInstances"), {"InstanceId": "i-1"}, "not a member of StartInstancesRequest"),
        (("sns", "Publish"), {"Message": 3}, "expected a string"),
        (("sagemaker", "CreateEndpoint"), {"EndpointName": "x"}, "EndpointConfigName: required"),
    ],
)  # fmt: skip
def test_negative_control_the_validator_refuses_what_the_model_forbids(operation, parameters, expected) -> None:
    problems = api_shapes.validate(*operation, parameters)
    assert any(expected in problem for problem in problems), problems
