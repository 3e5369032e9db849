"""The operations dashboard of one environment: workflows, functions, Bedrock, endpoints and the GPU instance.

Props:
    dashboard_name (str): e.g. ``Modelsmith-dev-Operations``. Required.
    workflows (Sequence[WatchedWorkflow]): the workflows and their steps' functions. Required.
    gpu_instance_id (str): the GPU training instance. Required.
    endpoint_prefix (str): what the environment's endpoint names start with. Required.
    endpoint_watch (EndpointWatch): the measured endpoints (counts of in-service and idle endpoints). Required.
    alarms (Sequence[cloudwatch.IAlarm]): shown in an alarm status row at the top. Default none.

Rows, top to bottom: alarm status; per workflow executions by outcome, execution time, step durations (p90
of each step's function) and the functions' errors and throttles; Bedrock invocations, throttles and tokens
by model; SageMaker endpoint latency, invocations and errors; the GPU instance's running hours per day,
GPU utilisation and memory, and CPU. The metric definitions are in ``constructs/operations_metrics.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from constructs import Construct
from constructs.operations_endpoint_watch import EndpointWatch
from constructs.operations_metrics import (
    FIVE_MINUTES,
    WatchedWorkflow,
    bedrock_query,
    endpoint_search,
    execution_time,
    executions,
    function_metric,
    gpu_agent_metric,
    gpu_memory_percent,
    gpu_running_hours,
)

WIDTH = 24  # the dashboard grid's width
HEIGHT = 6


class OperationsDashboard(Construct):
    """``dashboard``; see the module docstring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        workflows: Sequence[WatchedWorkflow],
        gpu_instance_id: str,
        endpoint_prefix: str,
        endpoint_watch: EndpointWatch,
        alarms: Sequence[cloudwatch.IAlarm] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=Duration.days(7),
        )
        header = cloudwatch.TextWidget(
            markdown=f"# {dashboard_name}\nWorkflows, their functions, Bedrock, the endpoints named `{endpoint_prefix}*` "
            "and the GPU training instance. Alarms notify the project's SNS topic.",
            width=WIDTH,
            height=2,
        )
        self.dashboard.add_widgets(header)
        if alarms:
            self.dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(alarms=list(alarms), title="Alarms", width=WIDTH, height=HEIGHT // 2 + 1)
            )
        for workflow in workflows:
            self.dashboard.add_widgets(*self._workflow_row(workflow))
        self.dashboard.add_widgets(*self._bedrock_row())
        self.dashboard.add_widgets(*self._endpoint_row(endpoint_prefix, endpoint_watch))
        self.dashboard.add_widgets(*self._gpu_row(gpu_instance_id))

    @staticmethod
    def _workflow_row(workflow: WatchedWorkflow) -> list[cloudwatch.IWidget]:
        width = WIDTH // 4
        row: list[cloudwatch.IWidget] = []
        if workflow.state_machine is not None:
            row.append(
                cloudwatch.GraphWidget(
                    title=f"{workflow.title}: executions",
                    width=width,
                    height=HEIGHT,
                    left=list(executions(workflow).values()),
                    statistic="Sum",
                )
            )
            row.append(
                cloudwatch.GraphWidget(
                    title=f"{workflow.title}: execution time (ms)",
                    width=width,
                    height=HEIGHT,
                    left=[execution_time(workflow, "p50"), execution_time(workflow, "Maximum")],
                )
            )
        if workflow.functions:
            steps = workflow.functions.items()
            row.append(
                cloudwatch.GraphWidget(
                    title=f"{workflow.title}: step durations, p90 (ms)",
                    width=width,
                    height=HEIGHT,
                    left=[function_metric(step, function, "Duration", "p90") for step, function in steps],
                )
            )
            row.append(
                cloudwatch.GraphWidget(
                    title=f"{workflow.title}: Lambda errors and throttles",
                    width=width,
                    height=HEIGHT,
                    left=[function_metric(step, function, "Errors", "Sum") for step, function in steps],
                    right=[function_metric(step, function, "Throttles", "Sum") for step, function in steps],
                )
            )
        return row

    @staticmethod
    def _bedrock_row() -> list[cloudwatch.IWidget]:
        width = WIDTH // 3
        return [
            cloudwatch.GraphWidget(
                title="Bedrock invocations by model (account and region)",
                width=width,
                height=HEIGHT,
                left=[bedrock_query("Invocations", group_by_model=True, label="")],
            ),
            cloudwatch.GraphWidget(
                title="Bedrock throttling by model (account and region)",
                width=width,
                height=HEIGHT,
                left=[bedrock_query("InvocationThrottles", group_by_model=True, label="")],
            ),
            cloudwatch.GraphWidget(
                title="Bedrock tokens by model: input (left), output (right)",
                width=width,
                height=HEIGHT,
                left=[bedrock_query("InputTokenCount", group_by_model=True, label="")],
                right=[bedrock_query("OutputTokenCount", group_by_model=True, label="")],
            ),
        ]

    @staticmethod
    def _endpoint_row(prefix: str, watch: EndpointWatch) -> list[cloudwatch.IWidget]:
        width = WIDTH // 4
        return [
            cloudwatch.GraphWidget(
                title=f"Endpoints {prefix}*: model latency (µs)",
                width=width,
                height=HEIGHT,
                left=[
                    endpoint_search(prefix, "ModelLatency", "Average", "average"),
                    endpoint_search(prefix, "ModelLatency", "p90", "p90"),
                ],
            ),
            cloudwatch.GraphWidget(
                title=f"Endpoints {prefix}*: invocations",
                width=width,
                height=HEIGHT,
                left=[endpoint_search(prefix, "Invocations", "Sum", "")],
            ),
            cloudwatch.GraphWidget(
                title=f"Endpoints {prefix}*: 5xx and 4xx errors",
                width=width,
                height=HEIGHT,
                left=[endpoint_search(prefix, "Invocation5XXErrors", "Sum", "5xx")],
                right=[endpoint_search(prefix, "Invocation4XXErrors", "Sum", "4xx")],
            ),
            cloudwatch.GraphWidget(
                title="Endpoints in service and idle",
                width=width,
                height=HEIGHT,
                left=[watch.in_service.with_(label="in service"), watch.idle.with_(label="idle")],
            ),
        ]

    @staticmethod
    def _gpu_row(instance_id: str) -> list[cloudwatch.IWidget]:
        width = WIDTH // 4
        return [
            cloudwatch.GraphWidget(
                title="GPU instance: running hours per day",
                width=width,
                height=HEIGHT,
                left=[gpu_running_hours(instance_id, Duration.days(1))],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=24),
            ),
            cloudwatch.GraphWidget(
                title="GPU instance: GPU utilisation (%)",
                width=width,
                height=HEIGHT,
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                left=[
                    gpu_agent_metric(instance_id, "nvidia_smi_utilization_gpu", "Average", "average"),
                    gpu_agent_metric(instance_id, "nvidia_smi_utilization_gpu", "Maximum", "maximum"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="GPU instance: GPU memory used (%)",
                width=width,
                height=HEIGHT,
                left=[gpu_memory_percent(instance_id)],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
            ),
            cloudwatch.GraphWidget(
                title="GPU instance: CPU utilisation (%)",
                width=width,
                height=HEIGHT,
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                left=[
                    cloudwatch.Metric(
                        namespace="AWS/EC2",
                        metric_name="CPUUtilization",
                        period=FIVE_MINUTES,
                        dimensions_map={"InstanceId": instance_id},
                        statistic="Average",
                        label="CPU",
                    ),
                ],
            ),
        ]
