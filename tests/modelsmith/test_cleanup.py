"""The clean-up command removes what runs of one environment created, and nothing else.

GIVEN SageMaker endpoints, endpoint configs, models and training jobs in moto, some tagged by a dev run, some by a
prod run, some by the stacks (no run ID) and some untagged; WHEN ``clean_up`` runs for dev; THEN only dev's run
resources are gone, each listed. Bedrock deployments and provisioned throughput (which moto lacks) go through
botocore's Stubber, so every request is checked against the service model.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import typer
from botocore.stub import Stubber
from moto import mock_aws
from typer.testing import CliRunner

from modelsmith import cleanup
from modelsmith_core import naming

REGION = "us-west-2"
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/inference:latest"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def _tags(environment: str | None, run_id: str | None = None) -> list[dict[str, str]]:
    tags = {naming.TAG_PROJECT: naming.PROJECT, naming.TAG_COMPONENT: naming.RETRIEVAL_COMPONENT}
    if environment:
        tags[naming.TAG_ENVIRONMENT] = environment
    if run_id:
        tags[naming.TAG_RUN_ID] = run_id
    return [{"Key": key, "Value": value} for key, value in tags.items()] if environment else []


def _endpoint(sagemaker: Any, name: str, tags: list[dict[str, str]]) -> None:
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}, Tags=tags)
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        Tags=tags,
        ProductionVariants=[
            {"VariantName": "main", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.g4dn.xlarge"}
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)


class _Session:
    """A boto3 session whose Bedrock client is stubbed (moto has no deployments); the rest is moto."""

    def __init__(self, bedrock: Any) -> None:
        self._session = boto3.Session(region_name=REGION)
        self._bedrock = bedrock

    def client(self, name: str) -> Any:
        return self._bedrock if name == "bedrock" else self._session.client(name)


def _bedrock_stub(deployments: list[dict[str, Any]], tags: dict[str, list[dict[str, str]]], deleted: list[str]) -> Any:
    client = boto3.client("bedrock", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": []})
    stubber.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": deployments})
    for deployment in deployments:
        arn = deployment["customModelDeploymentArn"]
        stubber.add_response("list_tags_for_resource", {"tags": tags.get(arn, [])}, {"resourceARN": arn})
    stubber.add_response("list_custom_models", {"modelSummaries": []})
    for arn in deleted:
        stubber.add_response("delete_custom_model_deployment", {}, {"customModelDeploymentIdentifier": arn})
    stubber.activate()
    return client, stubber


def _deployment(name: str) -> dict[str, Any]:
    return {
        "customModelDeploymentArn": f"arn:aws:bedrock:{REGION}:123456789012:custom-model-deployment/{name}",
        "customModelDeploymentName": name,
        "modelArn": f"arn:aws:bedrock:{REGION}:123456789012:custom-model/x",
        "createdAt": "2026-11-23T10:00:00Z",
        "status": "Active",
    }


def _bedrock_tags(environment: str, run_id: str) -> list[dict[str, str]]:
    return [
        {"key": naming.TAG_PROJECT, "value": naming.PROJECT},
        {"key": naming.TAG_ENVIRONMENT, "value": environment},
        {"key": naming.TAG_RUN_ID, "value": run_id},
    ]


@pytest.fixture
def world(monkeypatch) -> Any:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        _endpoint(sagemaker, "ms-dev-handbook", _tags("dev", "handbook-2026-11-23"))
        _endpoint(sagemaker, "ms-prod-handbook", _tags("prod", "handbook-2026-11-20"))
        _endpoint(sagemaker, "ms-dev-stack-owned", _tags("dev"))  # the stacks' tags, no run ID
        _endpoint(sagemaker, "ms-dev-by-hand", [])  # untagged, named like a run's
        logs = boto3.client("logs", region_name=REGION)
        logs.create_log_group(logGroupName=cleanup.TRAINING_JOB_LOGS)
        for job, environment in (
            ("ms-dev-handbook-train", "dev"),
            ("ms-prod-handbook-train", "prod"),
        ):  # finished at once
            sagemaker.create_training_job(
                TrainingJobName=job,
                RoleArn=ROLE,
                Tags=_tags(environment, "handbook"),
                AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                OutputDataConfig={"S3OutputPath": "s3://artifacts/runs/handbook/"},
                ResourceConfig={"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
                StoppingCondition={"MaxRuntimeInSeconds": 3600},
            )
            logs.create_log_stream(logGroupName=cleanup.TRAINING_JOB_LOGS, logStreamName=f"{job}/algo-1-1763892000")
        logs.create_log_group(logGroupName="/aws/sagemaker/Endpoints/ms-dev-handbook")
        logs.create_log_group(logGroupName="/aws/sagemaker/Endpoints/ms-prod-handbook")
        # CDK's auto-delete provider logged here during `cdk destroy`; its function is gone.
        logs.create_log_group(logGroupName="/aws/lambda/Modelsmith-dev-Foundation-CustomS3AutoDeleteObjec-AbC123")
        logs.create_log_group(logGroupName="/aws/lambda/Modelsmith-prod-Foundation-CustomS3AutoDeleteObjec-XyZ789")
        yield sagemaker, logs


def _names(sagemaker: Any) -> dict[str, set[str]]:
    return {
        "endpoints": {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]},
        "configs": {c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]},
        "models": {m["ModelName"] for m in sagemaker.list_models()["Models"]},
    }


def test_removes_only_the_environments_run_resources(world) -> None:
    sagemaker, logs = world
    deployments = [
        _deployment("modelsmith-astro-1"),
        _deployment("modelsmith-astro-prod"),
        _deployment("modelsmith-old"),
    ]
    tags = {
        deployments[0]["customModelDeploymentArn"]: _bedrock_tags("dev", "astro-1"),
        deployments[1]["customModelDeploymentArn"]: _bedrock_tags("prod", "astro-prod"),
    }
    bedrock, stubber = _bedrock_stub(deployments, tags, [deployments[0]["customModelDeploymentArn"]])

    report = cleanup.clean_up("dev", session=_Session(bedrock), region=REGION)

    stubber.assert_no_pending_responses()
    assert report.problems == []
    assert sorted(report.removed) == sorted(
        [
            "SageMaker endpoint ms-dev-handbook (run handbook-2026-11-23)",
            "SageMaker endpoint config ms-dev-handbook (run handbook-2026-11-23)",
            "SageMaker model ms-dev-handbook (run handbook-2026-11-23)",
            "Bedrock custom model deployment modelsmith-astro-1 (run astro-1)",
            "SageMaker training job logs ms-dev-handbook-train (run handbook)",
            "log group of a deleted function /aws/lambda/Modelsmith-dev-Foundation-CustomS3AutoDeleteObjec-AbC123",
        ]
    )
    remaining = _names(sagemaker)
    assert remaining["endpoints"] == {"ms-prod-handbook", "ms-dev-stack-owned", "ms-dev-by-hand"}
    assert remaining["configs"] == remaining["models"] == remaining["endpoints"]
    groups = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    assert groups == {
        "/aws/sagemaker/Endpoints/ms-prod-handbook",
        cleanup.TRAINING_JOB_LOGS,
        "/aws/lambda/Modelsmith-prod-Foundation-CustomS3AutoDeleteObjec-XyZ789",
    }
    streams = {
        s["logStreamName"] for s in logs.describe_log_streams(logGroupName=cleanup.TRAINING_JOB_LOGS)["logStreams"]
    }
    assert streams == {"ms-prod-handbook-train/algo-1-1763892000"}
    assert any("ms-dev-by-hand" in line for line in report.left_alone)
    assert any("modelsmith-old" in line for line in report.left_alone)
    assert not any("prod" in line for line in report.left_alone), "another environment's resources are not listed"


def test_dry_run_lists_and_removes_nothing(world) -> None:
    sagemaker, _ = world
    bedrock, _ = _bedrock_stub([], {}, [])
    before = _names(sagemaker)
    report = cleanup.clean_up("dev", session=_Session(bedrock), region=REGION, dry_run=True)
    assert "SageMaker endpoint ms-dev-handbook (run handbook-2026-11-23)" in report.removed
    assert _names(sagemaker) == before


def test_running_training_jobs_of_the_environment_are_stopped(world) -> None:
    # moto completes training jobs at once and has no StopTrainingJob: the SageMaker side is stubbed here.
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(sagemaker)
    jobs = {"ms-dev-train-1": "dev", "ms-prod-train-1": "prod"}
    stubber.add_response(
        "list_training_jobs",
        {
            "TrainingJobSummaries": [
                {
                    "TrainingJobName": name,
                    "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{name}",
                    "CreationTime": "2026-11-23T10:00:00Z",
                    "TrainingJobStatus": "InProgress",
                }
                for name in jobs
            ]
        },
    )
    for name, environment in jobs.items():
        stubber.add_response(
            "list_tags",
            {"Tags": _tags(environment, name)},
            {"ResourceArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{name}"},
        )
    for operation, key in (
        ("list_endpoints", "Endpoints"),
        ("list_endpoint_configs", "EndpointConfigs"),
        ("list_models", "Models"),
    ):
        stubber.add_response(operation, {key: []})
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": "ms-dev-train-1"})
    stubber.activate()
    bedrock, _ = _bedrock_stub([], {}, [])
    session = _Session(bedrock)
    session.client = lambda name: (
        {"bedrock": bedrock, "sagemaker": sagemaker}.get(name) or boto3.client(name, region_name=REGION)
    )

    report = cleanup.clean_up("dev", session=session, region=REGION)

    stubber.assert_no_pending_responses()
    assert report.removed[0] == "SageMaker training job (running) ms-dev-train-1 (run ms-dev-train-1)"
    assert not any("ms-prod-train-1" in line for line in report.removed)


def test_a_failed_deletion_is_reported_and_the_rest_still_run(world) -> None:
    deployment = _deployment("modelsmith-astro-1")
    arn = deployment["customModelDeploymentArn"]
    client = boto3.client("bedrock", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": []})
    stubber.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": [deployment]})
    stubber.add_response("list_tags_for_resource", {"tags": _bedrock_tags("dev", "astro-1")}, {"resourceARN": arn})
    stubber.add_response("list_custom_models", {"modelSummaries": []})
    stubber.add_client_error("delete_custom_model_deployment", "ConflictException", "deployment is being updated")
    stubber.activate()
    report = cleanup.clean_up("dev", session=_Session(client), region=REGION)
    assert report.problems == [
        "Bedrock custom model deployment modelsmith-astro-1 (run astro-1): An error occurred (ConflictException) when "
        "calling the DeleteCustomModelDeployment operation: deployment is being updated"
    ]
    assert "SageMaker endpoint ms-dev-handbook (run handbook-2026-11-23)" in report.removed


def test_a_retained_environment_is_refused_without_force() -> None:
    with pytest.raises(cleanup.CleanupRefused, match="retains stateful resources"):
        cleanup.clean_up_environment("prod")
    result = CliRunner().invoke(cleanup.app, ["--env", "prod"])
    assert result.exit_code == 2
    assert "pass --force" in result.output


def test_command_line_lists_what_it_removed(world, monkeypatch) -> None:
    bedrock, _ = _bedrock_stub([], {}, [])
    real = cleanup.clean_up_environment
    monkeypatch.setattr(
        cleanup, "clean_up_environment", lambda env, **options: real(env, session=_Session(bedrock), **options)
    )
    result = CliRunner().invoke(cleanup.app, ["--env", "dev", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Would remove 5 resource(s) of environment 'dev' (us-west-2):" in result.output
    assert "SageMaker endpoint ms-dev-handbook (run handbook-2026-11-23)" in result.output
    assert "left alone: SageMaker endpoint ms-dev-by-hand" in result.output


def test_registered_under_another_command_line_it_takes_that_environment() -> None:
    root = typer.Typer()

    @root.callback()
    def options(ctx: typer.Context, env: str = typer.Option("dev", "--env")) -> None:
        ctx.obj = SimpleNamespace(env=env, region=None)

    root.command("cleanup")(cleanup.cleanup_command)
    result = CliRunner().invoke(root, ["--env", "prod", "cleanup"])
    assert result.exit_code == 2
    assert "environment 'prod' retains stateful resources" in result.output
