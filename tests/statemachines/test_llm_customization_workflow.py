"""The Bedrock customization workflow, executed offline: moto's Step Functions and S3; customization jobs from
moto's Bedrock (with Step Functions' casing); on-demand deployments, Provisioned Throughput and Converse from
stand-ins (tests/support/bedrock.py); the functions are the real handlers run in-process.

Each deployment mode Bedrock offers runs: on demand for Llama 3.3 70B (the default model) and Provisioned
Throughput for Llama 3.1 8B (modelsmith_core/catalogue.py, with the sources of both).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import App, Duration
from moto import mock_aws

from modelsmith_core.config import load_config
from stacks.foundation_stack import FoundationStack
from stacks.llm_customization_stack import LlmCustomizationStack
from tests.support.bedrock import (
    FakeBedrockRuntime,
    FakeCustomModelDeployments,
    FakeProvisionedThroughput,
    MotoCustomizationJobs,
    StepFunctionsBedrock,
    install_bedrock_service,
)
from tests.support.lambdas import InProcessLambdas, iter_payload_sizes, lambda_environment  # noqa: F401
from tests.support.stepfunctions import PSEUDO_PARAMETERS, render_definition, run_execution, state_names
from tests.support.workflow_world import NotificationInbox, deploy_functions, use_cost_config

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
REGION = PSEUDO_PARAMETERS["AWS::Region"]
ARTIFACTS, DATA = "modelsmith-dev-artifacts", "modelsmith-dev-data"
FUNCTIONS = ("validate_input", "estimate_cost", "prepare_customization_data", "evaluate_customization")
SUITE = {f"What is the spectral class of star {i}?": f"class {'OBAFGKM'[i % 7]}" for i in range(6)}


def chat_records(count: int) -> list[str]:
    return [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You are an astronomy research assistant."},
                    {"role": "user", "content": f"Describe catalogue entry {i}."},
                    {"role": "assistant", "content": f"Entry {i} is a main-sequence star of class {'OBAFGKM'[i % 7]}."},
                ]
            }
        )
        for i in range(count)
    ]


ON_DEMAND_MODEL = "meta.llama3-3-70b-instruct-v1:0:128k"
PROVISIONED_MODEL = "meta.llama3-1-8b-instruct-v1:0:128k"


def synthesize(base_model_id: str) -> dict[str, Any]:
    environments = copy.deepcopy(CDK_CONTEXT["environments"])
    environments["dev"].setdefault("llm_customization", {})["base_model_id"] = base_model_id
    app = App(context=CDK_CONTEXT)
    config = load_config(environments, "dev")
    foundation = FoundationStack(app, "Modelsmith-dev-Foundation", config=config)
    stack = LlmCustomizationStack(
        app, "Modelsmith-dev-LlmCustomization", config=config, foundation=foundation, poll_interval=Duration.seconds(1)
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    (artifacts_parameter,) = [
        name for name, p in template["Parameters"].items() if p.get("Default") == "/modelsmith/dev/s3/artifacts-bucket"
    ]
    return {
        "template": template,
        "state_machine": stack.get_logical_id(stack.state_machine.node.default_child),
        "functions": {name: stack.get_logical_id(fn.node.default_child) for name, fn in stack.functions.items()},
        "role": stack.get_logical_id(stack.customization_role.node.default_child),
        "artifacts_parameter": artifacts_parameter,
        "base_model_id": config.llm_customization.base_model_id,
    }


class World:
    def __init__(
        self,
        synthesized: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
        *,
        job: str = "Completed",
        custom_is_better: bool = True,
    ) -> None:
        monkeypatch.setenv("ARTIFACTS_BUCKET", ARTIFACTS)
        use_cost_config(synthesized["template"], synthesized["functions"]["estimate_cost"], monkeypatch)
        self.s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ARTIFACTS, DATA):
            self.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        lambdas = InProcessLambdas()
        lambdas.install(monkeypatch)
        arns = deploy_functions(lambdas, FUNCTIONS)
        self.lambdas = lambdas

        def answer(prompt: str, model_id: str) -> str:
            expected = next((value for question, value in SUITE.items() if question in prompt), "unknown")
            custom = "custom-model-deployment" in model_id or "provisioned-model" in model_id
            return expected if custom == custom_is_better else "I am not sure."

        self.runtime = FakeBedrockRuntime(answer, by_model=True)
        monkeypatch.setattr(
            sys.modules["lambda_src.evaluate_customization.customization_evaluation"],
            "bedrock_runtime_client",
            lambda: self.runtime,
        )
        self.jobs = MotoCustomizationJobs(final=job)
        self.deployments = FakeCustomModelDeployments()
        self.throughputs = FakeProvisionedThroughput()
        install_bedrock_service(monkeypatch, StepFunctionsBedrock(self.jobs, self.deployments, self.throughputs))
        self.base_model_id = synthesized["base_model_id"]

        self.inbox = NotificationInbox()
        topic_arn = self.inbox.topic_arn

        values = {f"{logical}.Arn": arns[name] for name, logical in synthesized["functions"].items()}
        values.update(
            {
                f"{synthesized['role']}.Arn": "arn:aws:iam::123456789012:role/customization",
                synthesized["artifacts_parameter"]: ARTIFACTS,
                "output:NotificationsTopicAE679CBD": topic_arn,
                "output:ProjectKey99EBDA78": "arn:aws:kms:us-west-2:123456789012:key/project",
            }
        )
        self.definition = render_definition(synthesized["template"], synthesized["state_machine"], values)

    def put(self, key: str, lines: list[str]) -> str:
        self.s3.put_object(Bucket=DATA, Key=key, Body="\n".join(lines).encode())
        return f"s3://{DATA}/{key}"

    @property
    def served(self) -> dict[str, dict[str, Any]]:
        """What serves custom models in this world's mode: deployments or Provisioned Throughput, by ARN."""
        return self.throughputs.throughputs if self.base_model_id == PROVISIONED_MODEL else self.deployments.deployments

    @property
    def removed(self) -> list[str]:
        return self.throughputs.deleted if self.base_model_id == PROVISIONED_MODEL else self.deployments.deleted

    def inputs(self, records: int = 120) -> dict[str, Any]:
        return {
            "custom_model_name": "astro-llama",
            "train_s3_uri": self.put("customization/train.jsonl", chat_records(records)),
            "test_suite_s3_uri": self.put(
                "customization/suite.jsonl", [json.dumps({"prompt": q, "expected": a}) for q, a in SUITE.items()]
            ),
            "hyperparameters": {"epoch_count": 2},
            "evaluation": {"metric": "exact_match", "min_gain": 0.5},
        }

    def notifications(self) -> list[dict[str, Any]]:
        return self.inbox.messages()


@pytest.fixture(scope="module")
def synthesized_modes() -> dict[str, dict[str, Any]]:
    return {"on_demand": synthesize(ON_DEMAND_MODEL), "provisioned_throughput": synthesize(PROVISIONED_MODEL)}


@pytest.fixture(params=["on_demand", "provisioned_throughput"])
def mode(request) -> str:
    return request.param


@pytest.fixture
def world_factory(synthesized_modes, mode, lambda_environment, monkeypatch):  # noqa: F811
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield lambda **options: World(synthesized_modes[mode], monkeypatch, **options)


def test_a_better_custom_model_is_deployed(world_factory, mode) -> None:
    world = world_factory()
    execution = run_execution(world.definition, "astro-ft-1", world.inputs())
    assert execution["status"] == "SUCCEEDED", json.dumps(
        [e for e in execution["history"] if "Failed" in e["type"]][:2], default=str
    )
    output = json.loads(execution["output"])
    assert output["status"] == "deployed" and output["deployment_mode"] == mode
    assert (output["base_score"], output["custom_score"], output["gain"]) == (0.0, 1.0, 1.0)
    assert output["deployment_arn"] in world.served and world.removed == []
    # the cost estimate comes first, and says how what serves the model bills
    names = state_names(execution["history"])
    assert (
        names.index("Estimate cost")
        < names.index("Start customization job")
        < names.index(f"Deploy custom model ({'on-demand' if mode == 'on_demand' else 'Provisioned Throughput'})")
    )
    assert "notes" in output["cost_estimate"], output["cost_estimate"]
    notes = " ".join(output["cost_estimate"]["notes"])
    assert ("billed every hour from its creation" in notes) == (mode == "provisioned_throughput")
    # the base model is invoked by its on-demand ID (Llama 3.1) or its US cross-Region profile (Llama 3.3)
    base_calls = {
        call["modelId"] for call in world.runtime.calls if ":" in call["modelId"] and "arn:" not in call["modelId"]
    }
    assert base_calls == {
        "us.meta.llama3-3-70b-instruct-v1:0" if mode == "on_demand" else "meta.llama3-1-8b-instruct-v1:0"
    }
    (job,) = world.jobs.client.list_model_customization_jobs()["modelCustomizationJobSummaries"]
    detail = world.jobs.client.get_model_customization_job(jobIdentifier=job["jobName"])
    assert detail["baseModelArn"].endswith(world.base_model_id)
    assert detail["hyperParameters"] == {"epochCount": "2", "batchSize": "1", "learningRate": "0.0001"}
    assert detail["trainingDataConfig"]["s3Uri"] == f"s3://{ARTIFACTS}/runs/astro-ft-1/data/train.jsonl"
    assert detail["outputDataConfig"]["s3Uri"] == f"s3://{ARTIFACTS}/runs/astro-ft-1/customization/"
    # the job, its model and the deployment carry the cost-allocation tags and the run ID (modelsmith.cleanup's key)
    expected_tags = {
        "project": "modelsmith",
        "environment": "dev",
        "component": "llm-customization",
        "modelsmith:run-id": "astro-ft-1",
    }
    as_dict = lambda tags: {tag["key"]: tag["value"] for tag in tags}  # noqa: E731
    assert as_dict(world.jobs.client.list_tags_for_resource(resourceARN=detail["jobArn"])["tags"]) == expected_tags
    (request,) = world.jobs.requests
    assert as_dict(request["customModelTags"]) == expected_tags  # moto keeps no custom model to ask
    created = world.served[output["deployment_arn"]]["request"]
    assert as_dict(created["tags"]) == expected_tags
    assert created["clientRequestToken"] and "_" not in created["clientRequestToken"]
    if mode == "provisioned_throughput":  # one model unit, no commitment (commitmentDuration omitted)
        assert created["modelUnits"] == 1 and "commitmentDuration" not in created
    report = world.s3.get_object(Bucket=ARTIFACTS, Key="runs/astro-ft-1/evaluation/report.md")["Body"].read().decode()
    assert "exact_match" in report
    assert [n["outcome"] for n in world.notifications()] == ["deployed"]
    assert max(iter_payload_sizes(execution["history"])) < 4096


def test_a_custom_model_that_does_not_beat_the_base_is_removed(world_factory) -> None:
    world = world_factory(custom_is_better=False)
    execution = run_execution(world.definition, "astro-ft-2", world.inputs())
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["status"] == "not_improved" and output["deployment_arn"] == "none"
    assert output["gain"] < 0.5
    assert world.removed == list(world.served) and len(world.removed) == 1, "nothing stays deployed"
    assert "Delete losing deployment" in state_names(execution["history"])


def test_a_failed_job_fails_the_run_and_deploys_nothing(world_factory) -> None:
    world = world_factory(job="Failed")
    execution = run_execution(world.definition, "astro-ft-3", world.inputs())
    assert execution["status"] == "FAILED" and execution["error"] == "CustomizationJobFailed"
    assert "ended Failed" in execution["cause"]
    assert world.served == {}
    assert "Stop customization job" not in state_names(execution["history"]), "a finished job is not stopped"
    assert [n["error"] for n in world.notifications()] == ["CustomizationJobFailed"]


def test_bad_training_data_stops_before_the_job(world_factory) -> None:
    world = world_factory()
    inputs = world.inputs(records=3)  # below the model's minimum record count
    execution = run_execution(world.definition, "astro-ft-4", inputs)
    assert execution["status"] == "FAILED" and execution["error"] == "CustomizationDataError"
    assert world.jobs.client.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []


def test_bad_input_is_rejected_by_field(world_factory) -> None:
    world = world_factory()
    execution = run_execution(
        world.definition,
        "astro-ft-5",
        {
            "custom_model_name": "bad name!",
            "train_s3_uri": "s3://x/train.csv",
            "hyperparameters": {"epoch_count": 20, "batch_size": 4},
            "evaluation": {"metric": "bleu"},
        },
    )
    assert execution["status"] == "FAILED" and execution["error"] == "InputValidationError"
    cause = json.loads(execution["cause"])["errorMessage"]
    for fragment in (
        "custom_model_name: 'bad name!' does not match",
        "test_suite_s3_uri: required field is missing",
        "hyperparameters.epoch_count: 20 is out of range (maximum 10)",
        "hyperparameters.batch_size: 4 is out of range (maximum 1)",
        "evaluation.metric: 'bleu' is not one of",
    ):
        assert fragment in cause, cause
    assert world.jobs.client.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
