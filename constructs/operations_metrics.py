"""The metrics the Operations dashboard shows and its alarms watch, defined once for both.

Not a construct: metric factories over what the other stacks expose (state machines, functions, the GPU
instance ID) and over what no stack owns (the SageMaker endpoints pipeline runs create, Bedrock models).

- Workflows: ``AWS/States`` execution counts and times by ``StateMachineArn``; each step's function's
  ``AWS/Lambda`` duration, errors and throttles by ``FunctionName``.
- GPU instance: *running hours* are ``AWS/EC2 CPUUtilization`` sample counts: EC2 publishes CPU utilisation only
  while an instance runs, one sample a minute with detailed monitoring (which the instance has), so
  ``SampleCount / 60`` is the share of each hour it ran. GPU utilisation and memory come from the CloudWatch
  agent the instance runs (``CWAgent`` ``nvidia_smi_*``, aggregated by ``InstanceId``; see
  ``ec2_userdata/setup_instance.sh``).
- Endpoints: SEARCH expressions over ``AWS/SageMaker`` by the environment's endpoint name prefix (graphs only:
  CloudWatch matches SEARCH terms by name tokens, so this is close to, not exactly, a prefix match); alarms use
  the exact counts the endpoint watch publishes (``constructs/operations_endpoint_watch.py``).
- Bedrock: Metrics Insights queries over ``AWS/Bedrock`` by ``ModelId`` (every model of the account and
  region: Bedrock quotas are per account and region, so that is where throttling happens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn

FIVE_MINUTES = Duration.minutes(5)
ONE_HOUR = Duration.hours(1)
# Detailed monitoring: one CPUUtilization sample a minute while the instance runs.
CPU_SAMPLES_PER_HOUR = 60
GPU_AGENT_NAMESPACE = "CWAgent"
_ACRONYMS = {"lora": "LoRA", "llm": "LLM"}


@dataclass(frozen=True)
class WatchedWorkflow:
    """One workflow: ``name`` (e.g. ``retrieval-pipeline``), its state machine and its steps' functions
    (step name -> function). A part without a state machine (the agent's tools) has only functions."""

    name: str
    state_machine: sfn.IStateMachine | None
    functions: Mapping[str, lambda_.IFunction] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state_machine is None and not self.functions:
            raise ValueError(f"workflow {self.name!r}: give a state machine, functions or both")

    @property
    def title(self) -> str:
        """``LoRA training`` for ``lora-training``."""
        words = [_ACRONYMS.get(word, word) for word in self.name.split("-")]
        return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _machine(workflow: WatchedWorkflow) -> sfn.IStateMachine:
    if workflow.state_machine is None:
        raise ValueError(f"workflow {workflow.name!r} has no state machine")
    return workflow.state_machine


def executions(workflow: WatchedWorkflow, period: Duration = FIVE_MINUTES) -> dict[str, cloudwatch.Metric]:
    """Started, succeeded, failed, timed-out and aborted executions (Sum per ``period``), by outcome."""
    machine = _machine(workflow)
    options: dict[str, Any] = dict(period=period, statistic="Sum")
    return {
        "started": machine.metric_started(label="started", **options),
        "succeeded": machine.metric_succeeded(label="succeeded", **options),
        "failed": machine.metric_failed(label="failed", **options),
        "timed_out": machine.metric_timed_out(label="timed out", **options),
        "aborted": machine.metric_aborted(label="aborted", **options),
    }


def failed_or_timed_out(workflow: WatchedWorkflow) -> cloudwatch.MathExpression:
    """Failed plus timed-out executions per 5 minutes (an aborted run was stopped on purpose)."""
    counts = executions(workflow)
    return cloudwatch.MathExpression(
        expression="FILL(failed, 0) + FILL(timedOut, 0)",
        using_metrics={"failed": counts["failed"], "timedOut": counts["timed_out"]},
        label=f"{workflow.name} failed or timed out",
        period=FIVE_MINUTES,
    )


def execution_time(workflow: WatchedWorkflow, statistic: str) -> cloudwatch.Metric:
    return _machine(workflow).metric_time(statistic=statistic, label=f"execution time {statistic}", period=FIVE_MINUTES)


def function_metric(step: str, function: lambda_.IFunction, metric_name: str, statistic: str) -> cloudwatch.Metric:
    return function.metric(metric_name, statistic=statistic, label=f"{step} {metric_name.lower()}", period=FIVE_MINUTES)


def throttles(functions: Mapping[str, lambda_.IFunction], label: str) -> cloudwatch.MathExpression:
    """Throttled invocations of ``functions`` per 5 minutes, summed (an alarm's expression takes at most 10 metrics)."""
    if not 0 < len(functions) <= 10:
        raise ValueError(f"{label}: between 1 and 10 functions per throttle expression, got {len(functions)}")
    metrics = {
        f"throttles{index}": function.metric_throttles(period=FIVE_MINUTES, statistic="Sum")
        for index, function in enumerate(functions.values())
    }
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL({metric_id}, 0)" for metric_id in metrics),
        using_metrics=metrics,
        label=label,
        period=FIVE_MINUTES,
    )


def bedrock_query(metric_name: str, *, group_by_model: bool, label: str) -> cloudwatch.MathExpression:
    """A Metrics Insights query summing ``metric_name`` over the Bedrock models of the account and region."""
    query = f'SELECT SUM({metric_name}) FROM SCHEMA("AWS/Bedrock", ModelId)'
    if group_by_model:
        query += " GROUP BY ModelId ORDER BY SUM() DESC LIMIT 10"
    return cloudwatch.MathExpression(expression=query, using_metrics={}, label=label, period=FIVE_MINUTES)


def endpoint_search(prefix: str, metric_name: str, statistic: str, label: str) -> cloudwatch.MathExpression:
    """``metric_name`` of every variant of the endpoints named ``prefix*`` (a SEARCH expression: graphs only)."""
    term = prefix.rstrip("-")
    expression = (
        f'SEARCH(\'{{AWS/SageMaker,EndpointName,VariantName}} MetricName="{metric_name}" '
        f"EndpointName={term}', '{statistic}', {FIVE_MINUTES.to_seconds()})"
    )
    return cloudwatch.MathExpression(expression=expression, using_metrics={}, label=label, period=FIVE_MINUTES)


def gpu_cpu_samples(instance_id: str, period: Duration) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/EC2",
        metric_name="CPUUtilization",
        dimensions_map={"InstanceId": instance_id},
        statistic="SampleCount",
        period=period,
        label="CPU samples",
    )


def gpu_running_hours(instance_id: str, period: Duration) -> cloudwatch.MathExpression:
    """Hours the GPU instance ran in each ``period`` (0..1 per hour): its CPU samples over the samples of an hour."""
    return cloudwatch.MathExpression(
        expression=f"FILL(samples, 0) / {CPU_SAMPLES_PER_HOUR}",
        using_metrics={"samples": gpu_cpu_samples(instance_id, period)},
        label="running hours",
        period=period,
    )


def gpu_agent_metric(instance_id: str, metric_name: str, statistic: str, label: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=GPU_AGENT_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"InstanceId": instance_id},
        statistic=statistic,
        period=FIVE_MINUTES,
        label=label,
    )


def gpu_memory_percent(instance_id: str) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression="100 * used / total",
        using_metrics={
            "used": gpu_agent_metric(instance_id, "nvidia_smi_memory_used", "Maximum", "used"),
            "total": gpu_agent_metric(instance_id, "nvidia_smi_memory_total", "Maximum", "total"),
        },
        label="GPU memory used %",
        period=FIVE_MINUTES,
    )
