"""Endpoint watch: an environment's endpoints (by name prefix) become three CloudWatch metrics the alarms use.

SageMaker and CloudWatch are moto's; moto creates endpoints InService "now", so the tests move the clock on.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from tests.support.lambdas import FakeLambdaContext, lambda_environment, load_handler  # noqa: F401

REGION = "us-west-2"
PREFIX = "ms-dev-"


@pytest.fixture
def watcher(lambda_environment):  # noqa: F811
    handler = load_handler("endpoint_watch")
    return handler, sys.modules["lambda_src.endpoint_watch.endpoint_watch"]


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.client("sagemaker", region_name=REGION), boto3.client("cloudwatch", region_name=REGION)


def create_endpoint(sagemaker, name: str) -> None:
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/x:1"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.g4dn.xlarge",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def record(cloudwatch, endpoint: str, metric: str, value: float, when: datetime) -> None:
    cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": metric,
                "Value": value,
                "Timestamp": when,
                "Unit": "Count",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
            }
        ],
    )


def published(cloudwatch, metric: str) -> list[float]:
    response = cloudwatch.get_metric_statistics(
        Namespace="Modelsmith",
        MetricName=metric,
        Dimensions=[{"Name": "Environment", "Value": "dev"}],
        StartTime=datetime(2000, 1, 1, tzinfo=UTC),
        EndTime=datetime(2100, 1, 1, tzinfo=UTC),
        Period=86_400 * 365,
        Statistics=["Sum"],
    )
    return [point["Sum"] for point in response["Datapoints"]]


def test_idle_endpoint_of_the_environment_is_counted_and_others_are_not(watcher, aws) -> None:
    _, module = watcher
    sagemaker, cloudwatch = aws
    for name in ("ms-dev-handbook", "ms-dev-docs", "ms-prod-handbook", "other-ms-dev-x"):
        create_endpoint(sagemaker, name)
    now = datetime.now(UTC) + timedelta(days=4)
    record(cloudwatch, "ms-dev-docs", "Invocations", 12, now - timedelta(days=1))
    record(cloudwatch, "ms-prod-handbook", "Invocations", 0, now - timedelta(days=1))

    report = module.watch(sagemaker, cloudwatch, environment="dev", prefix=PREFIX, idle_days=3, now=now)

    assert sorted(report.in_service) == ["ms-dev-docs", "ms-dev-handbook"]  # exact prefix, not "contains"
    assert report.idle == ["ms-dev-handbook"]
    assert published(cloudwatch, "EndpointsInService") == [2.0]
    assert published(cloudwatch, "IdleEndpoints") == [1.0]
    assert published(cloudwatch, "EndpointInvocation5XXErrors") == [0.0]


def test_young_endpoint_is_not_idle_yet(watcher, aws) -> None:
    _, module = watcher
    sagemaker, cloudwatch = aws
    create_endpoint(sagemaker, "ms-dev-new")
    now = datetime.now(UTC) + timedelta(days=2)  # younger than the 3-day window: nothing to judge yet
    report = module.watch(sagemaker, cloudwatch, environment="dev", prefix=PREFIX, idle_days=3, now=now)
    assert report.in_service == ["ms-dev-new"] and report.idle == []


def test_5xx_errors_of_the_last_complete_window_are_summed(watcher, aws) -> None:
    _, module = watcher
    sagemaker, cloudwatch = aws
    for name in ("ms-dev-a", "ms-dev-b"):
        create_endpoint(sagemaker, name)
    now = datetime(2031, 5, 6, 10, 7, 30, tzinfo=UTC)  # window 10:00-10:05
    record(cloudwatch, "ms-dev-a", "Invocation5XXErrors", 3, datetime(2031, 5, 6, 10, 1, tzinfo=UTC))
    record(cloudwatch, "ms-dev-b", "Invocation5XXErrors", 4, datetime(2031, 5, 6, 10, 4, tzinfo=UTC))
    record(cloudwatch, "ms-dev-b", "Invocation5XXErrors", 50, datetime(2031, 5, 6, 9, 50, tzinfo=UTC))  # older

    report = module.watch(sagemaker, cloudwatch, environment="dev", prefix=PREFIX, idle_days=3, now=now)

    assert report.errors == 7
    assert report.window_start == datetime(2031, 5, 6, 10, 0, tzinfo=UTC)
    assert published(cloudwatch, "EndpointInvocation5XXErrors") == [7.0]


def test_no_endpoint_still_reports_zero(watcher, aws) -> None:
    _, module = watcher
    sagemaker, cloudwatch = aws
    report = module.watch(sagemaker, cloudwatch, environment="dev", prefix=PREFIX, idle_days=1, now=datetime.now(UTC))
    assert report.in_service == [] and published(cloudwatch, "EndpointsInService") == [0.0]


@pytest.mark.parametrize(
    ("prefix", "idle_days", "message"),
    [
        ("", 3, "ENDPOINT_PREFIX: empty"),
        (PREFIX, 0, "IDLE_DAYS: 0 is not a positive number of days"),
    ],
)
def test_bad_settings_name_the_setting(watcher, aws, prefix: str, idle_days: int, message: str) -> None:
    _, module = watcher
    sagemaker, cloudwatch = aws
    with pytest.raises(module.WatchSettingsError, match=message):
        module.watch(
            sagemaker, cloudwatch, environment="dev", prefix=prefix, idle_days=idle_days, now=datetime.now(UTC)
        )


def test_handler_reads_its_settings_from_the_environment(watcher, aws, monkeypatch) -> None:
    handler, _ = watcher
    sagemaker, _ = aws
    create_endpoint(sagemaker, "ms-dev-handbook")
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.setenv("ENDPOINT_PREFIX", PREFIX)
    monkeypatch.setenv("IDLE_DAYS", "3")
    result = handler({"source": "aws.events"}, FakeLambdaContext())
    assert result["in_service"] == ["ms-dev-handbook"] and result["idle"] == []
