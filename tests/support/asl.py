"""The task states of a deployed state machine, and their parameters as a run would send them.

``task_states`` walks a definition (branches of ``Parallel`` states and ``Map`` processors included).
``render_parameters`` evaluates a task's ``Parameters`` for one execution input without running the workflow:
``$$.Execution.Name`` becomes the run ID, ``$.path`` is looked up in the execution input, and the intrinsics the
project uses (``States.Format``, ``States.Array``) are evaluated. Values that depend on earlier states' results
stay ``UNRESOLVED`` and are not checked.

``api_operation`` names the API a task's resource calls, as the Step Functions developer guide describes
integrations: ``arn:aws:states:::aws-sdk:<service>:<action>`` (AWS SDK integrations; "the API action name is
camelCase", https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html) and the
optimized integrations the project uses (``sns:publish``, ``lambda:invoke``, ``sagemaker:createTrainingJob.sync``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


class _Unresolved:
    def __repr__(self) -> str:
        return "UNRESOLVED"


UNRESOLVED: Any = _Unresolved()

# Step Functions' SDK service names that differ from botocore's (the rest are the same).
SDK_TO_BOTOCORE = {"sfn": "stepfunctions"}
# Optimized integrations (resource after "arn:<partition>:states:::") -> (botocore service, operation).
OPTIMIZED = {
    "sns:publish": ("sns", "Publish"),
    "lambda:invoke": ("lambda", "Invoke"),
    "sagemaker:createTrainingJob.sync": ("sagemaker", "CreateTrainingJob"),
    "sagemaker:createTrainingJob": ("sagemaker", "CreateTrainingJob"),
}


@dataclass(frozen=True)
class TaskState:
    name: str
    resource: str
    parameters: dict[str, Any]

    @property
    def integration(self) -> str:
        """What follows ``arn:<partition>:states:::`` (or the Lambda ARN itself for a direct function resource)."""
        return self.resource.split(":::", 1)[1] if ":::" in self.resource else self.resource


def task_states(definition: Mapping[str, Any]) -> Iterator[TaskState]:
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            yield TaskState(name, state["Resource"], state.get("Parameters", {}))
        for branch in state.get("Branches", []):
            yield from task_states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from task_states(state[key])


def api_operation(task: TaskState) -> tuple[str, str] | None:
    """(botocore service name, operation name) the task calls, or None for a function ARN resource."""
    integration = task.integration
    if integration.startswith("aws-sdk:"):
        _, service, action = integration.split(":", 2)
        return SDK_TO_BOTOCORE.get(service, service), action[0].upper() + action[1:]
    if integration in OPTIMIZED:
        return OPTIMIZED[integration]
    if integration.startswith("arn:"):
        return None
    raise KeyError(f"task {task.name}: integration {integration} is not modelled in tests.support.asl.OPTIMIZED")


def _lookup(path: str, data: Any) -> Any:
    if path == "$":
        return data
    current = data
    for part in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path[1:]) if path.startswith("$") else []:
        key, index = part
        if key:
            if not isinstance(current, dict) or key not in current:
                return UNRESOLVED
            current = current[key]
        else:
            if not isinstance(current, list) or int(index) >= len(current):
                return UNRESOLVED
            current = current[int(index)]
    return current


def _split_arguments(text: str) -> list[str]:
    arguments, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == "'" and not current.endswith("\\"):
            quoted = not quoted
        if not quoted and char == "(":
            depth += 1
        if not quoted and char == ")":
            depth -= 1
        if not quoted and depth == 0 and char == ",":
            arguments.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip():
        arguments.append(current.strip())
    return arguments


def evaluate(expression: str, execution_input: Any, run_id: str) -> Any:
    """A ``.$`` value: a path, ``$$.Execution.Name``, or an intrinsic function the project uses."""
    expression = expression.strip()
    if expression == "$$.Execution.Name":
        return run_id
    if expression.startswith("$$."):
        return UNRESOLVED
    if expression.startswith("$"):
        return _lookup(expression, execution_input)
    if expression.startswith("'") and expression.endswith("'"):
        return expression[1:-1].replace("\\'", "'")
    if re.fullmatch(r"-?\d+(\.\d+)?", expression):
        return json.loads(expression)
    match = re.fullmatch(r"(States\.[A-Za-z]+)\((.*)\)", expression, flags=re.S)
    if not match:
        return UNRESOLVED
    function, arguments = match[1], [evaluate(a, execution_input, run_id) for a in _split_arguments(match[2])]
    if function == "States.Array":
        return arguments
    if function == "States.UUID":
        return "0f8fad5b-d9cb-469f-a165-70867728950e"
    if any(argument is UNRESOLVED for argument in arguments):
        return UNRESOLVED
    if function == "States.StringSplit":
        return arguments[0].split(arguments[1])
    if function == "States.ArrayGetItem":
        return arguments[0][int(arguments[1])]
    if function == "States.ArrayContains":
        return arguments[1] in arguments[0]
    if function == "States.Format":
        template, values = arguments[0], arguments[1:]
        if any(value is UNRESOLVED for value in values):
            return UNRESOLVED
        pieces = template.split("{}")
        text = pieces[0]
        for value, piece in zip(values, pieces[1:]):
            text += (value if isinstance(value, str) else json.dumps(value)) + piece
        return text
    return UNRESOLVED


def request_parameters(task: TaskState, execution_input: Any, run_id: str) -> Any:
    """The request the task's API receives: its rendered parameters, with the optimized SNS integration's JSON
    ``Message`` serialized as Step Functions does ("If you pass a JSON object to Message, Step Functions converts
    it to a string", https://docs.aws.amazon.com/step-functions/latest/dg/connect-sns.html)."""
    parameters = render_parameters(task.parameters, execution_input, run_id)
    if task.integration == "sns:publish" and isinstance(parameters.get("Message"), dict):
        parameters["Message"] = json.dumps(parameters["Message"], default=repr)
    return parameters


def execution_state(definition: Mapping[str, Any], execution_input: Any, run_id: str) -> Any:
    """The execution input with what the definition's ``Pass`` states add (names, flags) at their result paths,
    so that task parameters built from them can be rendered too."""
    state = json.loads(json.dumps(execution_input))
    passes = [s for s in definition["States"].values() if s["Type"] == "Pass" and "Parameters" in s]
    for _ in range(2):
        for pass_state in passes:
            path = pass_state.get("ResultPath", "$")
            if not isinstance(path, str) or not path.startswith("$.") or not isinstance(state, dict):
                continue
            target = state
            keys = path[2:].split(".")
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = render_parameters(pass_state["Parameters"], state, run_id)
    return state


def render_parameters(parameters: Any, execution_input: Any, run_id: str) -> Any:
    """``parameters`` with every ``.$`` value evaluated (``UNRESOLVED`` where it depends on earlier states)."""
    if isinstance(parameters, list):
        return [render_parameters(item, execution_input, run_id) for item in parameters]
    if not isinstance(parameters, dict):
        return parameters
    rendered = {}
    for key, value in parameters.items():
        if key.endswith(".$"):
            rendered[key[:-2]] = evaluate(value, execution_input, run_id)
        else:
            rendered[key] = render_parameters(value, execution_input, run_id)
    return rendered
