"""Clean-up after aborted or timed-out runs: each workflow's cost-bearing work is stopped, best-effort."""

from __future__ import annotations

import json
import sys
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from tests.support.lambdas import FakeLambdaContext, lambda_environment, load_handler  # noqa: F401

REGION = "us-west-2"


def status_change(name: str, status: str = "ABORTED") -> dict[str, Any]:
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"name": name, "status": status, "stateMachineArn": "arn:aws:states:us-west-2:1:stateMachine:x"},
    }


@pytest.fixture
def cleanup(lambda_environment):  # noqa: F811
    load_handler("cleanup_aborted_run")
    return sys.modules["lambda_src.cleanup_aborted_run.run_cleanup"]


@mock_aws
def test_aborted_lora_run_stops_the_instance(cleanup) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    report = cleanup.clean_up(status_change("lora-1"), workflow="lora-training", ec2=ec2, instance_id=instance)
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("stopping", "stopped")
    assert report.actions == [f"stopped instance {instance}"] and report.problems == []


@mock_aws
def test_aborted_lora_run_cancels_its_running_commands_before_stopping(cleanup) -> None:
    # GIVEN an instance running this run's fine-tune command (and another run's finished one)
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ssm = boto3.client("ssm", region_name=REGION)
    with Stubber(ssm) as stub:
        stub.add_response(
            "list_commands",
            {
                "Commands": [
                    {
                        "CommandId": "11111111-2222-3333-4444-555555555555",
                        "Comment": "Modelsmith run lora-9",
                        "Status": "InProgress",
                    },
                    {
                        "CommandId": "66666666-7777-8888-9999-000000000000",
                        "Comment": "Modelsmith run lora-8",
                        "Status": "InProgress",
                    },
                    {
                        "CommandId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                        "Comment": "Modelsmith run lora-9",
                        "Status": "Success",
                    },
                ]
            },
            {"InstanceId": instance},
        )
        stub.add_response(
            "cancel_command", {}, {"CommandId": "11111111-2222-3333-4444-555555555555", "InstanceIds": [instance]}
        )
        # WHEN the run is aborted
        report = cleanup.clean_up(
            status_change("lora-9"), workflow="lora-training", ec2=ec2, instance_id=instance, ssm=ssm
        )
        stub.assert_no_pending_responses()
    # THEN only its own running command is cancelled, before the instance is stopped (actions are in call order)
    assert report.actions == ["cancelled command 11111111-2222-3333-4444-555555555555", f"stopped instance {instance}"]


@mock_aws
def test_timed_out_customization_stops_its_job_and_deletes_its_deployment(cleanup) -> None:
    bedrock = boto3.client("bedrock", region_name=REGION)
    bedrock.create_model_customization_job(
        jobName="modelsmith-ft-9",
        customModelName="m",
        roleArn="arn:aws:iam::123456789012:role/r",
        baseModelIdentifier="meta.llama3-1-8b-instruct-v1:0",
        trainingDataConfig={"s3Uri": "s3://b/t.jsonl"},
        outputDataConfig={"s3Uri": "s3://b/out/"},
        hyperParameters={},
    )
    deleted = []

    class Deployments:
        """moto lacks custom model deployments; everything else is moto's Bedrock."""

        def __getattr__(self, name: str) -> Any:
            return getattr(bedrock, name)

        def delete_custom_model_deployment(self, **request: Any) -> dict[str, Any]:
            deleted.append(("deployment", request["customModelDeploymentIdentifier"]))
            return {}

        def delete_provisioned_model_throughput(self, **request: Any) -> dict[str, Any]:
            # a Provisioned Throughput model (billed by the hour) is served under the same name; an on-demand
            # one has none, which Bedrock answers with ResourceNotFoundException
            deleted.append(("provisioned", request["provisionedModelId"]))
            return {}

    report = cleanup.clean_up(status_change("ft-9", "TIMED_OUT"), workflow="llm-customization", bedrock=Deployments())
    assert bedrock.get_model_customization_job(jobIdentifier="modelsmith-ft-9")["status"] == "Stopped"
    assert deleted == [("deployment", "modelsmith-ft-9"), ("provisioned", "modelsmith-ft-9")]
    assert report.actions == [
        "stopped customization job modelsmith-ft-9",
        "deleted deployment modelsmith-ft-9",
        "deleted Provisioned Throughput modelsmith-ft-9",
    ]


def test_retrieval_run_stops_only_its_own_running_batch_job(cleanup) -> None:
    bedrock = boto3.client("bedrock", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(bedrock)
    arn = "arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/abc"
    stub.add_response(
        "list_model_invocation_jobs",
        {
            "invocationJobSummaries": [
                {
                    "jobArn": arn,
                    "jobName": "modelsmith-run-7",
                    "modelId": "m",
                    "roleArn": "arn:aws:iam::123456789012:role/r",
                    "status": "InProgress",
                    "submitTime": "2026-11-23T00:00:00Z",
                    "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://b/i/"}},
                    "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/o/"}},
                },
                {
                    "jobArn": arn + "2",
                    "jobName": "modelsmith-run-70",
                    "modelId": "m",
                    "roleArn": "arn:aws:iam::123456789012:role/r",
                    "status": "InProgress",
                    "submitTime": "2026-11-23T00:00:00Z",
                    "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://b/i/"}},
                    "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/o/"}},
                },
            ]
        },
        {"nameContains": "modelsmith-run-7"},
    )
    stub.add_response("stop_model_invocation_job", {}, {"jobIdentifier": arn})
    with stub:
        report = cleanup.clean_up(status_change("run-7"), workflow="retrieval-pipeline", bedrock=bedrock)
    stub.assert_no_pending_responses()
    assert report.actions == [f"stopped batch inference job {arn}"]


@mock_aws
def test_retrieval_run_stops_only_its_own_training_job(cleanup) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    for name, run in (("tools-minilm-1a2b3c4d", "run-7"), ("tools-minilm-5e6f7a8b", "run-70")):
        sagemaker.create_training_job(
            TrainingJobName=name,
            RoleArn="arn:aws:iam::123456789012:role/training",
            AlgorithmSpecification={
                "TrainingImage": "763104351884.dkr.ecr.us-west-2.amazonaws.com/x:1",
                "TrainingInputMode": "File",
            },
            OutputDataConfig={"S3OutputPath": "s3://b/runs/x/training/"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
            Tags=[{"Key": "modelsmith:run-id", "Value": run}],
        )
    stopped = []

    class Jobs:
        """moto's SageMaker, with jobs still running (moto completes them at once) and stops recorded."""

        def get_paginator(self, name: str) -> Any:
            class Pages:
                def paginate(self, **request: Any) -> list[dict[str, Any]]:
                    summaries = sagemaker.list_training_jobs()["TrainingJobSummaries"]
                    return [{"TrainingJobSummaries": [{**s, "TrainingJobStatus": "InProgress"} for s in summaries]}]

            return Pages()

        def list_tags(self, **request: Any) -> dict[str, Any]:
            return sagemaker.list_tags(**request)

        def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803
            stopped.append(TrainingJobName)
            return {}

    bedrock = boto3.client("bedrock", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(bedrock)
    stub.add_response(
        "list_model_invocation_jobs", {"invocationJobSummaries": []}, {"nameContains": "modelsmith-run-7"}
    )
    with stub:
        report = cleanup.clean_up(
            status_change("run-7"), workflow="retrieval-pipeline", bedrock=bedrock, sagemaker=Jobs()
        )
    assert stopped == ["tools-minilm-1a2b3c4d"]
    assert report.actions == ["stopped training job tools-minilm-1a2b3c4d"]


def test_a_failed_action_is_reported_not_raised(cleanup) -> None:
    class Denied:
        def stop_instances(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "StopInstances")

    report = cleanup.clean_up(status_change("lora-2"), workflow="lora-training", ec2=Denied(), instance_id="i-1")
    assert report.actions == [] and report.problems == ["stopped instance i-1: UnauthorizedOperation: no"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "detail: missing"),
        ({"detail": {"status": "ABORTED"}}, "detail.name: missing"),
        (status_change("x", "SUCCEEDED"), "detail.status = 'SUCCEEDED'"),
    ],
)
def test_other_events_are_refused_by_field(cleanup, event, message) -> None:
    with pytest.raises(cleanup.CleanupEventError, match=message):
        cleanup.clean_up(event, workflow="lora-training", ec2=None, instance_id="i-1")


@mock_aws
def test_handler_cleans_up_and_notifies(lambda_environment, monkeypatch) -> None:  # noqa: F811
    handler = load_handler("cleanup_aborted_run")
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.run_instances(ImageId=ec2.describe_images()["Images"][0]["ImageId"], MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="n")["TopicArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    for name, value in {
        "WORKFLOW": "lora-training",
        "TOPIC_ARN": topic,
        "INSTANCE_ID": instance,
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    result = handler(status_change("lora-3"), FakeLambdaContext())
    assert result["cleanup"] == [f"stopped instance {instance}"]
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert json.loads(message["Body"])["run_id"] == "lora-3"
