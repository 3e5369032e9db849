"""The project's values stay inside the published limits of ``modelsmith_core.limits`` (each with its source)."""

from __future__ import annotations

import json
import re

from modelsmith_core import catalogue
from modelsmith_core.config import AgentConfig, LlmCustomizationConfig
from modelsmith_core.limits import LEGACY_OR_END_OF_LIFE_MODELS, LIMITS
from tests.contracts.known_defects import expected_failure
from tests.contracts.workflows import SCHEMAS
from tests.support.deployed_app import DeployedApp

# Events one poll of a Wait → Task → Choice loop writes to the history: WaitStateEntered/Exited,
# TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited, ChoiceStateEntered/Exited.
EVENTS_PER_POLL = 9


def _timeouts(document_content: dict) -> list[int]:
    return [
        int(step["inputs"]["timeoutSeconds"])
        for step in document_content.get("mainSteps", [])
        if "timeoutSeconds" in step.get("inputs", {})
    ]


def limit_problems(app: DeployedApp) -> list[str]:
    problems = []
    low, high = LIMITS["ssm_execution_timeout_min"].value, LIMITS["ssm_execution_timeout_max"].value
    for stack, logical_id, resource in app.resources("AWS::SSM::Document"):
        content = app.resolve(stack.name, resource["Properties"]["Content"])
        for timeout in _timeouts(content):
            if not low <= timeout <= high:
                problems.append(
                    f"{stack.name}/{logical_id}: SSM executionTimeout {timeout} outside {low:.0f}-{high:.0f} "
                    "(the agent silently runs it with 3600)"
                )
    for stack, logical_id, resource in app.resources("AWS::Lambda::Function"):
        timeout = resource["Properties"].get("Timeout", 3)
        if timeout > LIMITS["lambda_timeout"].value:
            problems.append(f"{stack.name}/{logical_id}: Lambda timeout {timeout} s above 900 s")
    # The LoRA workflow polls its fine-tune every poll interval for up to the schema's longest run.
    schema = json.loads((SCHEMAS / "lora_training.schema.json").read_text())
    hours = schema["properties"]["timeout_hours"]["maximum"]
    for stack, logical_id, resource in app.resources("AWS::StepFunctions::StateMachine"):
        definition = json.loads(app.resolve(stack.name, resource["Properties"]["DefinitionString"]))
        for name, state in definition["States"].items():
            if state["Type"] == "Wait" and "Seconds" in state and "fine-tune" in name:
                events = hours * 3600 / state["Seconds"] * EVENTS_PER_POLL
                if events > LIMITS["step_functions_history_events"].value:
                    problems.append(
                        f"{stack.name}/{logical_id}: '{name}' every {state['Seconds']} s for {hours} h writes "
                        f"{events:,.0f} history events, above 25,000"
                    )
    return problems


def test_every_value_stays_inside_its_published_limit(deployed: DeployedApp) -> None:
    unknown = [problem for problem in limit_problems(deployed) if expected_failure(problem) is None]
    assert unknown == [], "\n".join(unknown)


def test_every_limit_cites_its_source() -> None:
    assert all(limit.source.startswith("https://") for limit in LIMITS.values())


def test_customization_record_limits_stay_inside_bedrock_quota() -> None:
    cap = LIMITS["bedrock_llama_customization_records"].value
    assert all(model.max_records <= cap for model in catalogue.BEDROCK_CUSTOMIZATION_MODELS.values())


def default_model_problems() -> list[str]:
    """Default model IDs that Bedrock's model lifecycle page lists as legacy or end of life."""
    defaults = {
        "llm_customization.base_model_id": LlmCustomizationConfig().base_model_id,
        "agent.foundation_model_id": re.sub(r"^(us|eu|apac|global)\.", "", AgentConfig().foundation_model_id),
        "retrieval_pipeline bedrock_model_id": json.loads((SCHEMAS / "retrieval_pipeline.schema.json").read_text())[
            "properties"
        ]["bedrock_model_id"]["default"],
    }
    return [
        f"{where}: {model} is {LEGACY_OR_END_OF_LIFE_MODELS[model]} on Bedrock's model lifecycle page"
        for where, model in defaults.items()
        if model in LEGACY_OR_END_OF_LIFE_MODELS
    ]


def test_default_models_are_not_legacy_or_end_of_life() -> None:
    unknown = [problem for problem in default_model_problems() if expected_failure(problem) is None]
    assert unknown == [], "\n".join(unknown)


def test_negative_control_an_out_of_range_ssm_timeout_is_reported(deployed: DeployedApp) -> None:
    for _, _, resource in deployed.resources("AWS::SSM::Document"):
        content = resource["Properties"]["Content"]
        original = json.dumps(content)
        try:
            for step in content.get("mainSteps", []):
                step.setdefault("inputs", {})["timeoutSeconds"] = "300000"
            assert any("300000 outside 5-172800" in p for p in limit_problems(deployed))
        finally:
            resource["Properties"]["Content"] = json.loads(original)
        return
    raise AssertionError("expected an SSM document")
