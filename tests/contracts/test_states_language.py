"""Every state machine definition, as deployed, validated against the Amazon States Language by ``statelint``
(https://states-language.net/spec.html; the awslabs validator's rules in Python)."""

from __future__ import annotations

import json
import re

from statelint.linter import Linter

from tests.support.deployed_app import DeployedApp

# statelint reads JSON into Python and then requires a float for BackoffRate; JSON has one number type, and the
# specification asks only that BackoffRate be "a number which MUST be greater than or equal to 1.0".
_INTEGRAL_BACKOFF = re.compile(r"\.BackoffRate is \d+ but should be a Float$")


def asl_problems(definition: str) -> list[str]:
    return [problem for problem in Linter.validate(definition) if not _INTEGRAL_BACKOFF.search(problem)]


def test_every_definition_is_valid_states_language(deployed: DeployedApp) -> None:
    checked = 0
    for stack, logical_id, resource in deployed.resources("AWS::StepFunctions::StateMachine"):
        definition = deployed.resolve(stack.name, resource["Properties"]["DefinitionString"])
        assert asl_problems(definition) == [], f"{stack.name}/{logical_id}"
        checked += 1
    assert checked == 3


def test_negative_control_an_invalid_definition_is_reported() -> None:
    definition = json.dumps(
        {
            "StartAt": "Wait",
            "States": {"Wait": {"Type": "Wait", "End": True}, "Orphan": {"Type": "Pass", "Next": "Nowhere"}},
        }
    )
    problems = asl_problems(definition)
    assert any("No transition found to state State Machine.Orphan" in problem for problem in problems), problems
    assert any("States.Wait does not have required field" in problem for problem in problems), problems
