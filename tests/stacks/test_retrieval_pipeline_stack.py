"""RetrievalPipeline stack, per environment: functions, their scoped permissions, the batch role, the workflow."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match


@pytest.fixture
def pipeline(synthesized):
    name = synthesized.stacks.retrieval_pipeline.stack_name
    return synthesized, synthesized.template(name), synthesized.template_json(name)


def _policy_of(raw: dict, role_prefix: str) -> list[dict]:
    (policy,) = [r for logical, r in raw["Resources"].items()
                 if r["Type"] == "AWS::IAM::Policy" and logical.startswith(role_prefix)]  # fmt: skip
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_functions_use_the_current_runtime_with_tracing_and_reserved_concurrency(pipeline) -> None:
    _, template, _ = pipeline
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 5  # four pipeline functions and the clean-up after aborted runs
    for logical, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.14" and properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["ReservedConcurrentExecutions"] >= 1 and "KmsKeyArn" in properties
        if not logical.startswith(("ValidateInput", "AbortCleanup")):  # these read nothing from S3
            assert properties["Environment"]["Variables"]["ARTIFACTS_BUCKET"]


def test_long_running_functions_have_room_but_stay_below_the_lambda_limit(pipeline) -> None:
    _, _, raw = pipeline
    timeouts = {logical: r["Properties"]["Timeout"] for logical, r in raw["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert all(timeout <= 900 for timeout in timeouts.values())
    assert [t for logical, t in timeouts.items() if logical.startswith("GenerateQueries")] == [900]


def test_workers_touch_only_run_prefixes_and_their_services(pipeline) -> None:
    _, _, raw = pipeline
    for role in ("ExtractCorpusRole", "GenerateQueriesRole", "BuildPairsRole"):
        statements = _policy_of(raw, f"{role}DefaultPolicy")
        writes = [s for s in statements if "s3:PutObject" in _actions(s)]
        assert writes and all(json.dumps(s["Resource"]).endswith('/runs/*"]]}') for s in writes), role
        assert not any(a in ("s3:*", "s3:DeleteObject") for s in statements for a in _actions(s)), role
    generate = _policy_of(raw, "GenerateQueriesRoleDefaultPolicy")
    bedrock = [s for s in generate if "bedrock:InvokeModel" in _actions(s)]
    assert bedrock and "foundation-model/*" in json.dumps(bedrock)
    extract = _policy_of(raw, "ExtractCorpusRoleDefaultPolicy")
    secrets = [s for s in extract if "secretsmanager:GetSecretValue" in _actions(s)]
    assert "secret:modelsmith/" in json.dumps(secrets) and "opensearch-*" in json.dumps(secrets)
    assert not any("bedrock" in a for s in extract for a in _actions(s))


def test_batch_role_is_for_this_accounts_jobs_only(pipeline) -> None:
    _, _, raw = pipeline
    (role,) = [r for logical, r in raw["Resources"].items() if logical.startswith("BatchInferenceRole") and r["Type"] == "AWS::IAM::Role"]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "model-invocation-job/*" in json.dumps(statement["Condition"]["ArnLike"])


def test_workflow_logs_traces_and_stops_batch_jobs(pipeline) -> None:
    synthesized, template, raw = pipeline
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineName": f"Modelsmith-{synthesized.config.name}-RetrievalPipeline",
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
    })  # fmt: skip
    (machine,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    for state in ("Validate input", "Extract corpus", "Plan query generation", "Generate queries (on-demand)",
                  "Start batch inference job", "Stop batch inference job", "Build training pairs", "Notify failure"):  # fmt: skip
        assert state in definition, state
    assert '\\"MaxConcurrency\\":4' in definition


def test_state_machine_arn_is_published(pipeline) -> None:
    synthesized, template, _ = pipeline
    template.has_resource_properties("AWS::SSM::Parameter", {
        "Name": f"/modelsmith/{synthesized.config.name}/workflows/retrieval-pipeline-state-machine-arn",
    })  # fmt: skip
