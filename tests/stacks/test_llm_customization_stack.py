"""LlmCustomization stack, per environment: job parameters within the catalogue, role scoping, KMS."""

from __future__ import annotations

import json

import pytest

from modelsmith_core.catalogue import BEDROCK_CUSTOMIZATION_MODELS


@pytest.fixture
def customization(synthesized):
    stack = synthesized.stacks.llm_customization
    if stack is None:
        pytest.skip("llm_customization is disabled in this environment")
    return synthesized, synthesized.template_json(stack.stack_name)


def _definition(raw: dict) -> dict:
    (machine,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def test_job_uses_the_configured_model_and_project_key(customization) -> None:
    synthesized, raw = customization
    start = _definition(raw)["States"]["Start customization job"]
    parameters = start["Parameters"]
    assert parameters["BaseModelIdentifier"] == synthesized.config.llm_customization.base_model_id
    assert parameters["CustomizationType"] == "FINE_TUNING"
    assert parameters["CustomModelKmsKeyId"] == "TOKEN"  # the project key's ARN
    assert parameters["OutputDataConfig"]["S3Uri.$"].startswith("States.Format('s3://TOKEN/runs/{}/customization/'")
    # strings written by the preparation step as plain decimals (not States.Format's number rendering)
    assert parameters["HyperParameters.$"] == "$.data.job_hyperparameters"
    # the customization ID (":128k") is what the job takes, and what its IAM resource names
    assert parameters["BaseModelIdentifier"].endswith(":128k")


def test_prepared_data_limits_come_from_the_catalogue(customization) -> None:
    synthesized, raw = customization
    model = BEDROCK_CUSTOMIZATION_MODELS[synthesized.config.llm_customization.base_model_id]
    payload = _definition(raw)["States"]["Prepare training data"]["Parameters"]["input"]
    limits = ("min_records", "max_records", "max_tokens_per_record", "max_validation_records")
    assert payload["target_format"] == model.data_format
    assert {name: payload[name] for name in limits} == {name: getattr(model, name) for name in limits}


def test_schema_hyperparameter_ranges_match_the_catalogue() -> None:
    from pathlib import Path

    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "statemachines/schemas/llm_customization.schema.json").read_text()
    )
    ranges = schema["properties"]["hyperparameters"]["properties"]
    for model in BEDROCK_CUSTOMIZATION_MODELS.values():
        for name, spec in (
            ("epoch_count", model.epoch_count),
            ("batch_size", model.batch_size),
            ("learning_rate", model.learning_rate),
        ):
            assert (ranges[name]["minimum"], ranges[name]["maximum"], ranges[name]["default"]) == (
                spec.minimum,
                spec.maximum,
                spec.default,
            )


def test_customization_role_is_for_this_accounts_jobs_and_run_prefixes(customization) -> None:
    _, raw = customization
    (role,) = [
        r for k, r in raw["Resources"].items() if k.startswith("CustomizationRole") and r["Type"] == "AWS::IAM::Role"
    ]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert "model-customization-job/*" in json.dumps(trust["Condition"]["ArnLike"])
    (policy,) = [r for k, r in raw["Resources"].items() if k.startswith("CustomizationRoleDefaultPolicy")]
    writes = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "s3:PutObject" in s["Action"]]
    assert writes and all(json.dumps(s["Resource"]).endswith('/runs/*"]]}') for s in writes)


def test_workflow_cleans_up_and_notifies(customization) -> None:
    _, raw = customization
    states = _definition(raw)["States"]
    for name in (
        "Stop customization job",
        "Delete deployment after failure",
        "Delete losing deployment",
        "Notify failure",
        "Notify result",
        "Evaluate against the base model",
    ):
        assert name in states, name


def test_what_a_run_creates_is_tagged_and_tagging_is_scoped_to_it(customization) -> None:
    synthesized, raw = customization
    states = _definition(raw)["States"]
    run_tag = {"Key": "modelsmith:run-id", "Value.$": "$$.Execution.Name"}
    tags = [
        {"Key": key, "Value": value}
        for key, value in {
            "project": "modelsmith",
            "environment": synthesized.config.name,
            "component": "llm-customization",
            **synthesized.config.tags,
        }.items()
    ] + [run_tag]
    start = states["Start customization job"]["Parameters"]
    assert start["JobTags"] == tags and start["CustomModelTags"] == tags
    assert states["Deploy custom model (on-demand)"]["Parameters"]["Tags"] == tags
    machine_policy = next(
        r
        for r in raw["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and "bedrock:createModelCustomizationJob" in json.dumps(r)
    )  # the workflow's role
    tagging = [
        s for s in machine_policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "bedrock:TagResource"
    ]
    resources = json.dumps([s["Resource"] for s in tagging])
    assert tagging and all(
        kind in resources for kind in ("model-customization-job/*", "custom-model/*", "custom-model-deployment/*")
    )
    assert '"*"' not in resources and "foundation-model" not in resources
