"""The deployed workflows of an environment with their example inputs, for the contract checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import asl
from tests.support.api_shapes import operation_model
from tests.support.deployed_app import DeployedApp

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "statemachines" / "examples"
SCHEMAS = REPO_ROOT / "statemachines" / "schemas"
# State machine logical ID prefix -> the schema (and examples) of its execution input.
WORKFLOW_SCHEMAS = {
    "LoraTraining": "lora_training",
    "RetrievalPipeline": "retrieval_pipeline",
    "LlmCustomization": "llm_customization",
}


def longest_run_id() -> str:
    """The longest execution name Step Functions accepts (botocore: StartExecution ``name``), with the ``_`` it allows."""
    maximum = operation_model("stepfunctions", "StartExecution").input_shape.members["name"].metadata["max"]
    return ("run_2026_12_05-" * 10)[:maximum]


@dataclass
class Workflow:
    stack: str
    logical_id: str
    schema: str
    definition: dict[str, Any]
    role: str  # logical ID of the state machine's role, in ``stack``

    def examples(self) -> list[tuple[str, dict[str, Any]]]:
        """(example file name, the input as the validation step returns it: schema defaults filled in)."""
        from lambda_src.validate_input import input_validation

        schema = json.loads((SCHEMAS / f"{self.schema}.schema.json").read_text())
        return [
            (path.name, input_validation.validate(json.loads(path.read_text()), schema))
            for path in sorted(EXAMPLES.glob(f"{self.schema}*.json"))
        ]


def workflows(app: DeployedApp) -> Iterator[Workflow]:
    for stack, logical_id, resource in app.resources("AWS::StepFunctions::StateMachine"):
        schema = next(name for prefix, name in WORKFLOW_SCHEMAS.items() if logical_id.startswith(prefix))
        definition = json.loads(app.resolve(stack.name, resource["Properties"]["DefinitionString"]))
        role = resource["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        yield Workflow(stack.name, logical_id, schema, definition, role)


def rendered_tasks(workflow: Workflow) -> Iterator[tuple[str, asl.TaskState, tuple[str, str] | None, Any]]:
    """(example, task, (service, operation), parameters rendered with that example and the longest run ID)."""
    run_id = longest_run_id()
    from lambda_src.shared import run_names

    for example, execution_input in workflow.examples():
        # what the validation state returns: the input with defaults and the run's names in other services
        execution_input = {**execution_input, "run_names": run_names.run_names(run_id)}
        execution_input = asl.execution_state(workflow.definition, execution_input, run_id)
        for task in asl.task_states(workflow.definition):
            yield example, task, asl.api_operation(task), asl.request_parameters(task, execution_input, run_id)
