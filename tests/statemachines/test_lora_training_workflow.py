"""The LoRA training workflow, executed offline: the synthesized definition runs in moto's Step Functions,
EC2 and SSM are moto's, the input validator is the real handler run in-process.

GIVEN a deployed-like world (a stopped instance, the three SSM documents, the topic with a queue subscribed)
WHEN an execution starts THEN the instance, the commands and the notification end up as the scenario requires.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import App, Duration
from moto import mock_aws
from moto.ec2.models.instances import Instance
from moto.ssm.models import Command

from modelsmith_core.config import load_config
from stacks.foundation_stack import FoundationStack
from stacks.network_stack import NetworkStack
from stacks.training_instance_stack import TrainingInstanceStack
from tests.support.lambdas import InProcessLambdas, iter_payload_sizes, lambda_environment, load_handler  # noqa: F401
from tests.support.stepfunctions import PSEUDO_PARAMETERS, render_definition, run_execution, state_names
from tests.support.workflow_world import use_cost_config

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
REGION = PSEUDO_PARAMETERS["AWS::Region"]
GOOD_INPUT = {
    "config_s3_uri": "s3://data-bucket/lora/training_config.yml",
    "train_s3_uri": "s3://data-bucket/lora/train.jsonl",
    "base_model": "meta-llama/Llama-3.1-8B-Instruct",
}


@pytest.fixture(scope="module")
def synthesized_workflow() -> dict[str, Any]:
    """The dev TrainingInstance stack with 1-second polling and 3 health checks, synthesized once."""
    app = App(context=CDK_CONTEXT)
    config = load_config(CDK_CONTEXT["environments"], "dev")
    foundation = FoundationStack(app, "Modelsmith-dev-Foundation", config=config)
    network = NetworkStack(app, "Modelsmith-dev-Network", config=config, encryption_key=foundation.key)
    stack = TrainingInstanceStack(
        app,
        "Modelsmith-dev-TrainingInstance",
        config=config,
        foundation=foundation,
        vpc=network.vpc,
        workload_subnets=network.workload_subnets,
        poll_interval=Duration.seconds(1),
        health_checks=3,
        fine_tune_poll_interval=Duration.seconds(1),
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    logical = stack.get_logical_id
    documents = {
        resource["Properties"]["Name"]: resource["Properties"]["Content"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SSM::Document"
    }
    return {
        "template": template,
        "state_machine": logical(stack.state_machine.node.default_child),
        "instance": logical(stack.instance.node.default_child),
        "log_group": logical(stack.instance_log_group.node.default_child),
        "validator": logical(stack.validator.node.default_child),
        "estimator": logical(stack.estimator.node.default_child),
        "topic": foundation.get_logical_id(foundation.notifications_topic.node.default_child),
        "documents": documents,
        "names": stack.documents,
    }


class World:
    """moto resources standing in for what the stacks deploy, and what the workflow did to them."""

    def __init__(self, synthesized: dict[str, Any], lambdas: InProcessLambdas) -> None:
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images()["Images"][0]["ImageId"]
        self.instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="g6.2xlarge")[
            "Instances"
        ][0]["InstanceId"]
        ec2.stop_instances(InstanceIds=[self.instance_id])
        self.ec2 = ec2

        self.ssm = boto3.client("ssm", region_name=REGION)
        for name, content in synthesized["documents"].items():
            self.ssm.create_document(
                Name=name, Content=json.dumps(content), DocumentType="Command", DocumentFormat="JSON"
            )

        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="validator", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        function_arn = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="validate-input",
            Runtime="python3.12",
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": b"placeholder: the handler runs in-process"},
        )["FunctionArn"]
        lambdas.register("validate-input", load_handler("validate_input"))
        estimator_arn = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="estimate-cost",
            Runtime="python3.12",
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": b"placeholder: the handler runs in-process"},
        )["FunctionArn"]
        lambdas.register("estimate-cost", load_handler("estimate_cost"))

        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name="notifications")["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        self.queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        self.sqs = sqs

        self.definition = render_definition(
            synthesized["template"],
            synthesized["state_machine"],
            {
                synthesized["instance"]: self.instance_id,
                synthesized["log_group"]: "/modelsmith/dev/training-instance",
                f"{synthesized['validator']}.Arn": function_arn,
                f"{synthesized['estimator']}.Arn": estimator_arn,
                f"output:{synthesized['topic']}": topic_arn,
            },
        )

    def instance_state(self) -> str:
        return self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"][0]["Instances"][0]["State"][
            "Name"
        ]

    def commands(self) -> list[dict[str, Any]]:
        return sorted(self.ssm.list_commands()["Commands"], key=lambda command: command["RequestedDateTime"])

    def notifications(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]


@pytest.fixture
def world(synthesized_workflow, lambda_environment, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        lambdas = InProcessLambdas()
        lambdas.install(monkeypatch)
        use_cost_config(synthesized_workflow["template"], synthesized_workflow["estimator"], monkeypatch)
        yield World(synthesized_workflow, lambdas)


def _progressing_commands(monkeypatch: pytest.MonkeyPatch, final: dict[str, str]) -> None:
    """Commands report InProgress on their first poll, then their final status (Success unless ``final``
    maps a document-name suffix to another status)."""
    original = Command.get_invocation
    polls: dict[str, int] = {}

    def get_invocation(command: Command, instance_id: str, plugin_name: str | None) -> dict[str, Any]:
        invocation = dict(original(command, instance_id, plugin_name))
        polls[command.command_id] = polls.get(command.command_id, 0) + 1
        if polls[command.command_id] == 1:
            invocation.update(Status="InProgress", StatusDetails="InProgress")
        else:
            for suffix, status in final.items():
                if command.document_name.endswith(suffix):
                    invocation.update(Status=status, StatusDetails=status)
        return invocation

    monkeypatch.setattr(Command, "get_invocation", get_invocation)


def test_successful_run_trains_archives_publishes_and_stops(world: World, synthesized_workflow, monkeypatch) -> None:
    _progressing_commands(monkeypatch, final={})
    execution = run_execution(world.definition, "run-ok-1", {**GOOD_INPUT, "publish": {"repo_id": "acme/llama-med"}})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    estimate = output.pop("cost_estimate")
    assert output == {
        "run_id": "run-ok-1",
        "status": "SUCCEEDED",
        "published_to": "acme/llama-med",
        "fine_tune_command_id": world.commands()[0]["CommandId"],
        "archive_command_id": world.commands()[1]["CommandId"],
    }
    # The estimate the run carries is modelsmith_core/cost.py's for this input (the same as `modelsmith cost estimate`).
    assert estimate["currency"] == "USD" and estimate["run_total"] > 0
    assert any("g6.2xlarge" in item["description"] for item in estimate["items"])
    names = synthesized_workflow["names"]
    sent = [(c["DocumentName"], c["Parameters"]) for c in world.commands()]
    assert sent == [
        (
            names.run_fine_tune,
            {
                "RunId": ["run-ok-1"],
                "ConfigS3Uri": [GOOD_INPUT["config_s3_uri"]],
                "TrainS3Uri": [GOOD_INPUT["train_s3_uri"]],
                "ValidationS3Uri": [""],
                "BaseModel": [GOOD_INPUT["base_model"]],
                "TimeoutHours": ["24"],
            },
        ),
        (names.archive_run, {"RunId": ["run-ok-1"]}),
        (
            names.publish_to_hub,
            {"RunId": ["run-ok-1"], "RepoId": ["acme/llama-med"], "What": ["adapter"], "Private": ["true"]},
        ),
    ]
    assert world.instance_state() == "stopped"
    states = state_names(execution["history"])
    assert (
        states.index("Start GPU instance") < states.index("Send fine-tune command") < states.index("Stop GPU instance")
    )
    assert "Wait for fine-tune" in states  # the first poll saw InProgress and the workflow waited
    assert [n["status"] for n in world.notifications()] == ["SUCCEEDED"]
    assert max(iter_payload_sizes(execution["history"])) < 4096


def test_run_without_publish_skips_the_hub(world: World, synthesized_workflow, monkeypatch) -> None:
    _progressing_commands(monkeypatch, final={})
    execution = run_execution(world.definition, "run-ok-2", {**GOOD_INPUT, "timeout_hours": 6})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"])["published_to"] == "none"
    documents = [c["DocumentName"] for c in world.commands()]
    assert synthesized_workflow["names"].publish_to_hub not in documents
    assert world.commands()[0]["Parameters"]["TimeoutHours"] == ["6"]


def test_failed_fine_tune_archives_stops_notifies_and_fails(world: World, synthesized_workflow, monkeypatch) -> None:
    _progressing_commands(monkeypatch, final={"-RunFineTune": "Failed"})
    execution = run_execution(world.definition, "run-fails", GOOD_INPUT)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "FineTuneFailed"
    fine_tune_id = world.commands()[0]["CommandId"]
    assert f"fine-tune command {fine_tune_id} ended Failed" in execution["cause"]
    assert [c["DocumentName"] for c in world.commands()] == [
        synthesized_workflow["names"].run_fine_tune,
        synthesized_workflow["names"].archive_run,
    ]
    assert world.instance_state() == "stopped"
    (notification,) = world.notifications()
    assert notification["status"] == "FAILED" and notification["error"] == "FineTuneFailed"
    assert notification["run_id"] == "run-fails"


def test_instance_that_never_becomes_healthy(world: World, monkeypatch) -> None:
    monkeypatch.setattr(Instance, "instance_status", property(lambda self: {"Status": "initializing"}))
    execution = run_execution(world.definition, "run-unhealthy", GOOD_INPUT)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InstanceUnhealthy"
    assert "did not pass its status checks within 3 seconds" in execution["cause"]
    assert state_names(execution["history"]).count("Check instance status") == 4
    assert "Send fine-tune command" not in state_names(execution["history"])
    assert world.instance_state() == "stopped"
    assert [n["error"] for n in world.notifications()] == ["InstanceUnhealthy"]


def test_bad_input_fails_before_anything_starts(world: World) -> None:
    bad = {
        "config_s3_uri": "https://example.com/config.yml",
        "train_s3_uri": "s3://data-bucket/train.jsonl",
        "timeout_hours": 100,
        "publish": {"what": "everything"},
        "gpu": "H100",
    }
    execution = run_execution(world.definition, "run-bad-input", bad)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InputValidationError"
    cause = json.loads(execution["cause"])["errorMessage"]
    for fragment in (
        "base_model: required field is missing",
        "config_s3_uri: 'https://example.com/config.yml' does not match",
        "timeout_hours: 100 is out of range (maximum 47)",
        "publish.repo_id: required field is missing",
        "publish.what: 'everything' is not one of 'adapter', 'merged'",
        "gpu: unknown field",
    ):
        assert fragment in cause, cause
    assert "Start GPU instance" not in state_names(execution["history"])
    assert world.instance_state() == "stopped"
    assert world.commands() == []
    assert [n["error"] for n in world.notifications()] == ["InputValidationError"]
