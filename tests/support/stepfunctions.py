"""Execute a synthesized state machine in moto's Step Functions interpreter.

``render_definition`` turns the template's ``DefinitionString`` (an ``Fn::Join`` of references) into the
JSON Step Functions receives at deploy time, given the physical values of the references; an unknown
reference fails loudly naming it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

import boto3

PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-west-2",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
}


def _resolve(value: Any, values: Mapping[str, str], *, placeholders: bool = False) -> str:
    if isinstance(value, str):
        return value
    ((function, argument),) = value.items()
    if function == "Ref":
        key = argument
    elif function == "Fn::GetAtt":
        key = f"{argument[0]}.{argument[1]}"
    elif function == "Fn::Join":
        return argument[0].join(_resolve(part, values, placeholders=placeholders) for part in argument[1])
    elif function == "Fn::Sub" and isinstance(argument, str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: _resolve({"Ref": m[1]}, values, placeholders=placeholders), argument)
    elif function == "Fn::GetStackOutput":
        output = argument["OutputName"]
        matches = [k for k in values if k.startswith("output:") and k[len("output:") :] in output]
        if len(matches) != 1 and placeholders:
            return f"${{{output}}}"
        if len(matches) != 1:
            raise KeyError(f"no single value for cross-stack output {output}: give 'output:<LogicalId>'")
        key = matches[0]
    else:
        raise KeyError(f"cannot render {function}")
    if key in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[key]
    if key not in values:
        if placeholders:
            return f"${{{key}}}"
        raise KeyError(f"the definition references {key}; give its value")
    return values[key]


def render_value(value: Any, values: Mapping[str, str] | None = None) -> str:
    """A template value (a string, or an intrinsic function of references) as deployed, pseudo parameters filled in."""
    return _resolve(value, values or {})


def render_definition(
    template: Mapping[str, Any], logical_id: str, values: Mapping[str, str], *, placeholders: bool = False
) -> str:
    """The deploy-time definition of state machine ``logical_id`` with references replaced by ``values``
    (with ``placeholders``, a reference without a value becomes ``${LogicalId}`` or ``${LogicalId.Attribute}``)."""
    definition = template["Resources"][logical_id]["Properties"]["DefinitionString"]
    rendered = _resolve(definition, values, placeholders=placeholders)
    json.loads(rendered)  # must be valid JSON once rendered
    return rendered


def run_execution(definition: str, name: str, execution_input: Mapping[str, Any], *, timeout: float = 120) -> dict:
    """Create the state machine, start an execution called ``name``, wait for it, return its description
    with ``history`` (the execution's events) added. Call inside ``mock_aws``."""
    sfn = boto3.client("stepfunctions", region_name=PSEUDO_PARAMETERS["AWS::Region"])
    role = f"arn:aws:iam::{PSEUDO_PARAMETERS['AWS::AccountId']}:role/state-machine"
    arn = sfn.create_state_machine(name=f"sm-{name}", definition=definition, roleArn=role)["stateMachineArn"]
    execution_arn = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(execution_input))[
        "executionArn"
    ]
    deadline = time.monotonic() + timeout
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {name} still running after {timeout} s")
        time.sleep(0.2)
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return {**description, "history": history}


def state_names(history: list[dict[str, Any]]) -> list[str]:
    """Names of the states entered, in order."""
    return [event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event]
