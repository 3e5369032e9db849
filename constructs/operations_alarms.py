"""The alarms of one environment; every one notifies the project topic when it goes into ALARM.

Props:
    config (OperationsConfig): thresholds (see ``modelsmith_core/config.py``). Required.
    environment_name (str): the environment, used in alarm names (``modelsmith-<env>-<what>``). Required.
    topic (sns.ITopic): the run-notification topic. Required.
    workflows (Sequence[WatchedWorkflow]): the workflows and their steps' functions. Required.
    gpu_instance_id (str): the GPU training instance. Required.
    endpoint_watch (EndpointWatch): the measured endpoints of the environment. Required.

Alarms (``self.alarms``, by key):

- ``<workflow>-failed-executions``: failed plus timed-out executions in 5 minutes >= ``failed_executions``.
- ``<workflow>-lambda-throttles``: throttles of the workflow's functions >= ``lambda_throttles`` in each of
  ``throttle_storm_periods`` consecutive 5-minute periods (a storm, not a blip Step Functions retries away).
- ``bedrock-throttles``: throttled Bedrock invocations of the account and region, same rule with
  ``bedrock_throttles`` (a Metrics Insights query; such alarms look back 3 hours at most).
- ``endpoint-5xx-errors``: 5xx answers of the environment's endpoints in 5 minutes >= ``endpoint_5xx_errors``.
- ``idle-endpoints``: at least one endpoint without an invocation for ``endpoint_idle_days`` days.
- ``endpoint-watch-silent``: the endpoint watch published nothing for an hour (the two alarms above would be
  blind).
- ``gpu-instance-running-long``: the GPU instance ran in each of the last ``max_gpu_instance_hours`` clock hours.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.operations_endpoint_watch import EndpointWatch
from constructs.operations_metrics import (
    ONE_HOUR,
    WatchedWorkflow,
    bedrock_query,
    failed_or_timed_out,
    gpu_running_hours,
    throttles,
)
from modelsmith_core.config import OperationsConfig

# An alarm's metric math may use at most 10 metrics: bigger workflows get one throttle alarm per 10 functions.
FUNCTIONS_PER_ALARM = 10
_Operator = cloudwatch.ComparisonOperator


class OperationsAlarms(Construct):
    """``alarms``: alarm key -> alarm; see the module docstring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: OperationsConfig,
        environment_name: str,
        topic: sns.ITopic,
        workflows: Sequence[WatchedWorkflow],
        gpu_instance_id: str,
        endpoint_watch: EndpointWatch,
    ) -> None:
        super().__init__(scope, construct_id)
        names = [workflow.name for workflow in workflows]
        if len(set(names)) != len(names):
            raise ValueError(f"workflows: names must be unique, got {names}")
        self._environment_name = environment_name
        self._action = cloudwatch_actions.SnsAction(topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        storm = config.throttle_storm_periods

        for workflow in workflows:
            if workflow.state_machine is not None:
                self._add(
                    f"{workflow.name}-failed-executions",
                    failed_or_timed_out(workflow),
                    threshold=config.failed_executions,
                    description=f"{workflow.title}: {config.failed_executions} or more executions failed or timed out in "
                    "5 minutes. The run's own failure notification names the cause; see the Step Functions console.",
                )
            functions = list(workflow.functions.items())
            groups = [
                dict(functions[start : start + FUNCTIONS_PER_ALARM])
                for start in range(0, len(functions), FUNCTIONS_PER_ALARM)
            ]
            for number, group in enumerate(groups, start=1):
                suffix = "" if len(groups) == 1 else f"-{number}"
                self._add(
                    f"{workflow.name}-lambda-throttles{suffix}",
                    throttles(group, f"{workflow.name} throttles"),
                    threshold=config.lambda_throttles,
                    periods=storm,
                    description=f"{workflow.title}: its functions ({', '.join(group)}) were throttled {config.lambda_throttles} "
                    f"or more times in each of {storm} consecutive 5-minute periods (reserved concurrency "
                    "too low for the load, or a retry storm).",
                )

        self._add(
            "bedrock-throttles",
            bedrock_query("InvocationThrottles", group_by_model=False, label="Bedrock throttles"),
            threshold=config.bedrock_throttles,
            periods=storm,
            description=f"Bedrock throttled {config.bedrock_throttles} or more invocations in each of {storm} consecutive "
            "5-minute periods in this account and region: query generation and evaluation slow down or fail. "
            "Use batch generation or raise the model's quota.",
        )
        self._add(
            "endpoint-5xx-errors",
            endpoint_watch.errors,
            threshold=config.endpoint_5xx_errors,
            periods=2,
            datapoints=1,
            description=f"The {environment_name} SageMaker endpoints answered {config.endpoint_5xx_errors} or more requests "
            "with 5xx errors in 5 minutes (model container failing); see the dashboard's endpoint widgets.",
        )
        self._add(
            "idle-endpoints",
            endpoint_watch.idle,
            threshold=1,
            description=f"At least one {environment_name} SageMaker endpoint served no invocation for "
            f"{config.endpoint_idle_days} days and still bills by the hour; the endpoint watch function's "
            "log names it. Delete it if nobody uses it.",
        )
        self._add(
            "endpoint-watch-silent",
            endpoint_watch.reports,
            threshold=1,
            operator=_Operator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
            description="The endpoint watch published nothing for an hour, so the endpoint alarms are blind; "
            "see the function's log and dead-letter queue.",
        )
        hours = config.max_gpu_instance_hours
        self._add(
            "gpu-instance-running-long",
            gpu_running_hours(gpu_instance_id, ONE_HOUR),
            threshold=0,
            operator=_Operator.GREATER_THAN_THRESHOLD,
            periods=hours,
            description=f"The GPU training instance has been running in each of the last {hours} hours (about "
            f"{hours} instance hours). Check that a LoRA run still needs it; the idle stop only acts "
            "when CPU and GPU are both idle.",
        )

    def _add(
        self,
        key: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        periods: int = 1,
        datapoints: int | None = None,
        operator: cloudwatch.ComparisonOperator = _Operator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            key,
            metric=metric,
            threshold=threshold,
            comparison_operator=operator,
            evaluation_periods=periods,
            datapoints_to_alarm=datapoints or periods,
            treat_missing_data=missing,
            alarm_name=f"modelsmith-{self._environment_name}-{key}",
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        self.alarms[key] = alarm
