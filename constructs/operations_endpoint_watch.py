"""Measures the SageMaker endpoints pipeline runs create, so that alarms can watch what CDK never named.

Props:
    environment_name (str): the environment, e.g. ``dev``. Required.
    endpoint_prefix (str): what the environment's endpoint names start with (``modelsmith_core.naming``). Required.
    idle_days (int): an endpoint without an invocation for this many days counts as idle. Required.
    encryption_key (kms.IKey), log_retention (logs.RetentionDays): for the function and its dead-letter queue.
    schedule (Duration): how often the endpoints are measured. Default 5 minutes.

Alarms cannot use SEARCH expressions or match a dimension by prefix, and the endpoints' names are chosen at run
time. An EventBridge schedule invokes ``lambda_src/endpoint_watch``, which lists the endpoints named
``<endpoint_prefix>*`` and publishes ``EndpointsInService``, ``IdleEndpoints`` and ``EndpointInvocation5XXErrors``
in namespace ``Modelsmith`` with dimension ``Environment`` (exposed here as ``in_service``, ``idle`` and
``errors`` metrics). It reads only: listing and describing endpoints and reading metrics; it writes metrics of
its own namespace only. Missed invocations go to an encrypted dead-letter queue.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from constructs import Construct
from constructs.compliance import acknowledge, nag_resource
from constructs.operations_metrics import FIVE_MINUTES, ONE_HOUR
from constructs.python_function import PythonFunction, dead_letter_queue

# Kept in step with lambda_src/endpoint_watch/endpoint_watch.py (a test compares them).
NAMESPACE = "Modelsmith"
ENVIRONMENT_DIMENSION = "Environment"
IN_SERVICE_METRIC = "EndpointsInService"
IDLE_METRIC = "IdleEndpoints"
ERRORS_METRIC = "EndpointInvocation5XXErrors"


class EndpointWatch(Construct):
    """``function``, ``rule``, ``dead_letter_queue`` and the metrics ``in_service``, ``idle``, ``errors``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        endpoint_prefix: str,
        idle_days: int,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
        schedule: Duration = FIVE_MINUTES,
    ) -> None:
        super().__init__(scope, construct_id)
        if not endpoint_prefix or endpoint_prefix != endpoint_prefix.lower():
            raise ValueError(f"endpoint_prefix = {endpoint_prefix!r}: give a non-empty lowercase prefix")
        if idle_days < 1:
            raise ValueError(f"idle_days = {idle_days}: at least 1")
        self.dead_letter_queue = dead_letter_queue(
            self, encryption_key=encryption_key, owner="the endpoint watch and its schedule"
        )
        watch = PythonFunction(
            self,
            "Function",
            source="endpoint_watch",
            description=f"Publishes the state of the {environment_name} SageMaker endpoints as metrics",
            encryption_key=encryption_key,
            log_retention=log_retention,
            dead_letter_queue=self.dead_letter_queue,
            environment={
                "ENVIRONMENT": environment_name,
                "ENDPOINT_PREFIX": endpoint_prefix,
                "IDLE_DAYS": str(idle_days),
            },
            timeout=Duration.minutes(2),
            reserved_concurrent_executions=1,
        )
        self.function = watch.function
        endpoints = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:endpoint/{endpoint_prefix}*"
        watch.role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[endpoints]))
        # ListEndpoints and GetMetricData have no resource-level permissions.
        watch.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sagemaker:ListEndpoints", "cloudwatch:GetMetricData"],
                resources=["*"],
            )
        )
        watch.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
            )
        )
        acknowledge(
            watch.role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "X-Ray, sagemaker:ListEndpoints and CloudWatch metric calls have no resource-level permissions; "
                    "PutMetricData is limited to the Modelsmith namespace by condition."
                ),
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, endpoints)}]": (
                    "Endpoints are created by pipeline runs and named <prefix><model_name> at run time; describe only."
                ),
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": (
                    "CDK's grant to write the encrypted dead-letter queue: kms:GenerateDataKey* on the project key only."
                ),
            },
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"Measure the {environment_name} SageMaker endpoints",
            schedule=events.Schedule.rate(schedule),
            targets=[
                targets.LambdaFunction(
                    self.function, dead_letter_queue=self.dead_letter_queue, retry_attempts=1, max_event_age=schedule
                )
            ],
        )

        def metric(name: str, statistic: str, period: Duration) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=name,
                statistic=statistic,
                period=period,
                dimensions_map={ENVIRONMENT_DIMENSION: environment_name},
            )

        self.in_service = metric(IN_SERVICE_METRIC, "Maximum", ONE_HOUR)
        self.idle = metric(IDLE_METRIC, "Maximum", ONE_HOUR)
        self.errors = metric(ERRORS_METRIC, "Sum", FIVE_MINUTES)
        self.reports = metric(IN_SERVICE_METRIC, "SampleCount", ONE_HOUR)
