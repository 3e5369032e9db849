"""Operations constructs on their own: throttle alarms split at CloudWatch's 10-metric limit, props validated first."""

from __future__ import annotations

import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from constructs.operations_alarms import OperationsAlarms
from constructs.operations_endpoint_watch import EndpointWatch
from constructs.operations_metrics import WatchedWorkflow, throttles
from modelsmith_core.config import OperationsConfig

KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/11111111-2222-3333-4444-555555555555"


def watch(stack, **overrides) -> EndpointWatch:
    props = dict(
        environment_name="dev",
        endpoint_prefix="ms-dev-",
        idle_days=3,
        encryption_key=kms.Key.from_key_arn(stack, "Key", KEY_ARN),
        log_retention=logs.RetentionDays.ONE_MONTH,
    )
    return EndpointWatch(stack, "Watch", **{**props, **overrides})


def functions(stack, count: int) -> dict[str, lambda_.IFunction]:
    return {f"step_{n}": lambda_.Function.from_function_name(stack, f"Fn{n}", f"fn-{n}") for n in range(count)}


def alarms(stack, workflows) -> OperationsAlarms:
    return OperationsAlarms(
        stack,
        "Alarms",
        config=OperationsConfig(),
        environment_name="dev",
        topic=sns.Topic.from_topic_arn(stack, "Topic", "arn:aws:sns:us-west-2:123456789012:t"),
        workflows=workflows,
        gpu_instance_id="i-0123456789abcdef0",
        endpoint_watch=watch(stack),
    )


def test_a_workflow_with_more_than_ten_functions_gets_one_throttle_alarm_per_ten(stack) -> None:
    machine = sfn.StateMachine.from_state_machine_name(stack, "Machine", "Modelsmith-dev-Big")
    created = alarms(stack, [WatchedWorkflow("big", machine, functions(stack, 12))]).alarms
    assert {"big-lambda-throttles-1", "big-lambda-throttles-2", "big-failed-executions"} <= set(created)
    template = Template.from_stack(stack).to_json()
    by_name = {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert len(by_name["modelsmith-dev-big-lambda-throttles-1"]["Metrics"]) == 1 + 10
    assert len(by_name["modelsmith-dev-big-lambda-throttles-2"]["Metrics"]) == 1 + 2


def test_a_part_without_a_state_machine_gets_no_execution_alarm(stack) -> None:
    created = alarms(stack, [WatchedWorkflow("agent-tools", None, functions(stack, 1))]).alarms
    assert "agent-tools-lambda-throttles" in created and "agent-tools-failed-executions" not in created


def test_props_are_validated_first(stack) -> None:
    with pytest.raises(ValueError, match="give a state machine, functions or both"):
        WatchedWorkflow("empty", None, {})
    eleven = functions(stack, 11)
    with pytest.raises(ValueError, match="between 1 and 10 functions"):
        throttles(eleven, "too many")
    with pytest.raises(ValueError, match="names must be unique"):
        alarms(
            stack,
            [
                WatchedWorkflow("twice", None, {"a": eleven["step_0"]}),
                WatchedWorkflow("twice", None, {"b": eleven["step_1"]}),
            ],
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"endpoint_prefix": ""}, "give a non-empty lowercase prefix"),
        ({"endpoint_prefix": "MS-dev-"}, "give a non-empty lowercase prefix"),
        ({"idle_days": 0}, "idle_days = 0: at least 1"),
    ],
)
def test_endpoint_watch_refuses_bad_props(stack, overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        watch(stack, **overrides)


def test_workflow_titles_spell_acronyms() -> None:
    assert WatchedWorkflow("lora-training", None, {"x": None}).title == "LoRA training"  # type: ignore[dict-item]
    assert WatchedWorkflow("llm-customization", None, {"x": None}).title == "LLM customization"  # type: ignore[dict-item]
    assert WatchedWorkflow("retrieval-pipeline", None, {"x": None}).title == "Retrieval pipeline"  # type: ignore[dict-item]
