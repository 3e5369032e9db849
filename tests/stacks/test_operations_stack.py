"""Operations stack, per environment: the dashboard's widgets and every alarm (metric, threshold from config,
SNS action), the endpoint watch, and references to the watched stacks without exports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Stack

from constructs import operations_endpoint_watch
from modelsmith_core.naming import endpoint_name_prefix
from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401


@pytest.fixture
def operations(synthesized):
    name = synthesized.stacks.operations.stack_name
    return synthesized, synthesized.template(name), synthesized.template_json(name)


def render(value: Any, synthesized) -> str:
    """A template value as text; another stack's output reads ``<Stack:LogicalId>``, a reference ``<LogicalId>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part, synthesized) for part in parts)
    if isinstance(value, dict) and "Fn::GetStackOutput" in value:
        stack_name, output = value["Fn::GetStackOutput"]["StackName"], value["Fn::GetStackOutput"]["OutputName"]
        produced = synthesized.template_json(stack_name)["Outputs"][output]["Value"]
        return f"<{stack_name}:{render(produced, synthesized).strip('<>')}>"
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    return json.dumps(value)


def deep(value: Any, synthesized) -> Any:
    """``value`` with every intrinsic function rendered as text (see :func:`render`)."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _INTRINSICS:
        return render(value, synthesized)
    if isinstance(value, dict):
        return {key: deep(item, synthesized) for key, item in value.items()}
    if isinstance(value, list):
        return [deep(item, synthesized) for item in value]
    return value


_INTRINSICS = ("Fn::Join", "Fn::GetStackOutput", "Ref", "Fn::GetAtt")


def produced(stack: Stack, token: str) -> str:
    resolved = stack.resolve(token)
    logical = resolved["Ref"] if "Ref" in resolved else ".".join(resolved["Fn::GetAtt"])
    return f"<{stack.stack_name}:{logical}>"


def widgets(synthesized, raw: dict) -> list[dict]:
    (dashboard,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert dashboard["Properties"]["DashboardName"] == synthesized.stacks.operations.stack_name
    return json.loads(render(dashboard["Properties"]["DashboardBody"], synthesized))["widgets"]


def widget(all_widgets: list[dict], title: str) -> dict:
    (found,) = [w for w in all_widgets if w["properties"].get("title") == title]
    return found["properties"]


def alarms(synthesized, raw: dict) -> dict[str, dict]:
    """Alarm name -> its properties, references rendered."""
    return {
        r["Properties"]["AlarmName"]: deep(r["Properties"], synthesized)
        for r in raw["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def workflows(synthesized) -> list[tuple[str, Stack, Any, dict]]:
    """(title, stack, state machine, step -> function) of each workflow of the environment."""
    stacks = synthesized.stacks
    found = [
        (
            "Retrieval pipeline",
            stacks.retrieval_pipeline,
            stacks.retrieval_pipeline.state_machine,
            stacks.retrieval_pipeline.functions,
        ),
        (
            "LoRA training",
            stacks.training_instance,
            stacks.training_instance.state_machine,
            {"validate_input": stacks.training_instance.validator},
        ),
    ]
    if stacks.llm_customization is not None:
        found.append(
            (
                "LLM customization",
                stacks.llm_customization,
                stacks.llm_customization.state_machine,
                stacks.llm_customization.functions,
            )
        )
    return found


# --- dashboard -------------------------------------------------------------------------------------------


def test_dashboard_counts_executions_and_times_each_workflow(operations) -> None:
    synthesized, _, raw = operations
    shown = widgets(synthesized, raw)
    for title, stack, machine, _ in workflows(synthesized):
        arn = produced(stack, machine.state_machine_arn)
        executions = widget(shown, f"{title}: executions")
        assert [(m[1], m[3], m[4]["stat"]) for m in executions["metrics"]] == [
            (name, arn, "Sum")
            for name in (
                "ExecutionsStarted",
                "ExecutionsSucceeded",
                "ExecutionsFailed",
                "ExecutionsTimedOut",
                "ExecutionsAborted",
            )
        ]
        assert all(m[0] == "AWS/States" and m[2] == "StateMachineArn" for m in executions["metrics"])
        timing = widget(shown, f"{title}: execution time (ms)")
        assert [(m[1], m[3], m[4]["stat"]) for m in timing["metrics"]] == [
            ("ExecutionTime", arn, "p50"),
            ("ExecutionTime", arn, "Maximum"),
        ]


def test_dashboard_shows_each_steps_duration_errors_and_throttles(operations) -> None:
    synthesized, _, raw = operations
    shown = widgets(synthesized, raw)
    parts = [(title, stack, functions) for title, stack, _, functions in workflows(synthesized)]
    if synthesized.stacks.agent is not None:
        parts.append(("Agent tools", synthesized.stacks.agent, {"tools": synthesized.stacks.agent.tools.function}))
    for title, stack, functions in parts:
        names = {step: produced(stack, function.function_name) for step, function in functions.items()}
        durations = widget(shown, f"{title}: step durations, p90 (ms)")["metrics"]
        assert [(m[1], m[3], m[4]["label"], m[4]["stat"]) for m in durations] == [
            ("Duration", name, f"{step} duration", "p90") for step, name in names.items()
        ]
        errors = widget(shown, f"{title}: Lambda errors and throttles")["metrics"]
        assert {(m[1], m[3], m[4].get("yAxis", "left")) for m in errors} == {
            *((("Errors", name, "left")) for name in names.values()),
            *((("Throttles", name, "right")) for name in names.values()),
        }


def test_dashboard_shows_bedrock_invocations_throttling_and_tokens_by_model(operations) -> None:
    synthesized, _, raw = operations
    shown = widgets(synthesized, raw)
    query = 'SELECT SUM({}) FROM SCHEMA("AWS/Bedrock", ModelId) GROUP BY ModelId ORDER BY SUM() DESC LIMIT 10'
    throttling = widget(shown, "Bedrock throttling by model (account and region)")
    assert throttling["metrics"] == [[{"expression": query.format("InvocationThrottles")}]]
    tokens = widget(shown, "Bedrock tokens by model: input (left), output (right)")
    assert tokens["metrics"] == [
        [{"expression": query.format("InputTokenCount")}],
        [{"expression": query.format("OutputTokenCount"), "yAxis": "right"}],
    ]
    assert widget(shown, "Bedrock invocations by model (account and region)")["metrics"][0][0]["expression"] == (
        query.format("Invocations")
    )


def test_dashboard_shows_endpoint_latency_and_errors_by_name_prefix(operations) -> None:
    synthesized, _, raw = operations
    shown = widgets(synthesized, raw)
    prefix = endpoint_name_prefix(synthesized.config.name)
    search = (
        'SEARCH(\'{{AWS/SageMaker,EndpointName,VariantName}} MetricName="{}" '
        f"EndpointName={prefix.rstrip('-')}', '{{}}', 300)"
    )
    latency = widget(shown, f"Endpoints {prefix}*: model latency (µs)")["metrics"]
    assert [m[0]["expression"] for m in latency] == [
        search.format("ModelLatency", "Average"),
        search.format("ModelLatency", "p90"),
    ]
    errors = widget(shown, f"Endpoints {prefix}*: 5xx and 4xx errors")["metrics"]
    assert [m[0]["expression"] for m in errors] == [
        search.format("Invocation5XXErrors", "Sum"),
        search.format("Invocation4XXErrors", "Sum"),
    ]
    assert widget(shown, f"Endpoints {prefix}*: invocations")["metrics"][0][0]["expression"] == search.format(
        "Invocations", "Sum"
    )
    counts = widget(shown, "Endpoints in service and idle")["metrics"]
    assert [m[:4] for m in counts] == [
        ["Modelsmith", "EndpointsInService", "Environment", synthesized.config.name],
        ["Modelsmith", "IdleEndpoints", "Environment", synthesized.config.name],
    ]


def test_dashboard_shows_gpu_running_hours_and_utilisation(operations) -> None:
    synthesized, _, raw = operations
    shown = widgets(synthesized, raw)
    instance = produced(synthesized.stacks.training_instance, synthesized.stacks.training_instance.instance.instance_id)
    running = widget(shown, "GPU instance: running hours per day")["metrics"]
    assert running[0] == [{"label": "running hours", "expression": "FILL(samples, 0) / 60", "period": 86400}]
    assert running[1][:4] == ["AWS/EC2", "CPUUtilization", "InstanceId", instance]
    assert running[1][4] | {} == {
        "label": "CPU samples",
        "id": "samples",
        "visible": False,
        "period": 86400,
        "stat": "SampleCount",
    }
    utilisation = widget(shown, "GPU instance: GPU utilisation (%)")["metrics"]
    assert [m[:4] for m in utilisation] == [["CWAgent", "nvidia_smi_utilization_gpu", "InstanceId", instance]] * 2
    memory = widget(shown, "GPU instance: GPU memory used (%)")["metrics"]
    assert memory[0][0]["expression"] == "100 * used / total"
    assert {m[1] for m in memory[1:]} == {"nvidia_smi_memory_used", "nvidia_smi_memory_total"}


def test_alarm_status_row_lists_every_alarm(operations) -> None:
    synthesized, _, raw = operations
    (status,) = [w for w in widgets(synthesized, raw) if w["type"] == "alarm"]
    arns = {arn.rsplit(":", 1)[-1] for arn in status["properties"]["alarms"]}
    alarm_ids = {logical for logical, r in raw["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {arn.strip("<>").split(".")[0] for arn in arns} == alarm_ids


# --- alarms ----------------------------------------------------------------------------------------------


def test_every_alarm_notifies_the_project_topic(operations) -> None:
    synthesized, _, raw = operations
    topic = produced(synthesized.stacks.foundation, synthesized.stacks.foundation.notifications_topic.topic_arn)
    found = alarms(synthesized, raw)
    assert len(found) >= 9
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == [topic], name
        assert alarm.get("ActionsEnabled", True) is True, name
        assert len(alarm["AlarmDescription"]) > 40, name


def expected_alarms(synthesized) -> dict[str, dict]:
    """Alarm name -> the properties its config sets (threshold, comparison, periods, missing data)."""
    env, ops = synthesized.config.name, synthesized.config.operations
    at_least = "GreaterThanOrEqualToThreshold"
    expected = {}
    for title, *_ in workflows(synthesized):
        key = title.lower().replace(" ", "-")
        expected[f"modelsmith-{env}-{key}-failed-executions"] = dict(
            Threshold=ops.failed_executions, ComparisonOperator=at_least, EvaluationPeriods=1, DatapointsToAlarm=1
        )
        expected[f"modelsmith-{env}-{key}-lambda-throttles"] = dict(
            Threshold=ops.lambda_throttles,
            ComparisonOperator=at_least,
            EvaluationPeriods=ops.throttle_storm_periods,
            DatapointsToAlarm=ops.throttle_storm_periods,
        )
    if synthesized.stacks.agent is not None:
        expected[f"modelsmith-{env}-agent-tools-lambda-throttles"] = expected[
            f"modelsmith-{env}-lora-training-lambda-throttles"
        ]
    expected |= {
        f"modelsmith-{env}-bedrock-throttles": dict(
            Threshold=ops.bedrock_throttles, ComparisonOperator=at_least, EvaluationPeriods=ops.throttle_storm_periods
        ),
        f"modelsmith-{env}-endpoint-5xx-errors": dict(
            Threshold=ops.endpoint_5xx_errors,
            ComparisonOperator=at_least,
            EvaluationPeriods=2,
            DatapointsToAlarm=1,
            Period=300,
        ),
        f"modelsmith-{env}-idle-endpoints": dict(
            Threshold=1, ComparisonOperator=at_least, EvaluationPeriods=1, Period=3600
        ),
        f"modelsmith-{env}-endpoint-watch-silent": dict(
            Threshold=1, ComparisonOperator="LessThanThreshold", TreatMissingData="breaching", Period=3600
        ),
        f"modelsmith-{env}-gpu-instance-running-long": dict(
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            EvaluationPeriods=ops.max_gpu_instance_hours,
            DatapointsToAlarm=ops.max_gpu_instance_hours,
            TreatMissingData="notBreaching",
        ),
    }
    return expected


def test_alarm_thresholds_come_from_config(operations) -> None:
    synthesized, _, raw = operations
    found = alarms(synthesized, raw)
    expected = expected_alarms(synthesized)
    assert set(found) == set(expected)
    for name, properties in expected.items():
        assert {key: found[name].get(key) for key in properties} == properties, name


def test_failed_execution_and_throttle_alarms_watch_the_workflows(operations) -> None:
    synthesized, _, raw = operations
    found, env = alarms(synthesized, raw), synthesized.config.name
    for title, stack, machine, functions in workflows(synthesized):
        key = title.lower().replace(" ", "-")
        failed = found[f"modelsmith-{env}-{key}-failed-executions"]["Metrics"]
        assert failed[0]["Expression"] == "FILL(failed, 0) + FILL(timedOut, 0)"
        stats = {m["Id"]: m["MetricStat"] for m in failed[1:]}
        assert {
            metric_id: (s["Metric"]["MetricName"], s["Metric"]["Dimensions"][0]["Value"], s["Stat"], s["Period"])
            for metric_id, s in stats.items()
        } == {
            "failed": ("ExecutionsFailed", produced(stack, machine.state_machine_arn), "Sum", 300),
            "timedOut": ("ExecutionsTimedOut", produced(stack, machine.state_machine_arn), "Sum", 300),
        }
        throttled = found[f"modelsmith-{env}-{key}-lambda-throttles"]["Metrics"]
        watched = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for m in throttled[1:]}
        assert watched == {produced(stack, function.function_name) for function in functions.values()}
        assert {m["MetricStat"]["Metric"]["MetricName"] for m in throttled[1:]} == {"Throttles"}
        assert throttled[0]["Expression"] == " + ".join(f"FILL(throttles{i}, 0)" for i in range(len(functions)))


def test_bedrock_throttle_alarm_is_a_metrics_insights_query(operations) -> None:
    synthesized, _, raw = operations
    alarm = alarms(synthesized, raw)[f"modelsmith-{synthesized.config.name}-bedrock-throttles"]
    assert alarm["Metrics"] == [
        {
            "Expression": 'SELECT SUM(InvocationThrottles) FROM SCHEMA("AWS/Bedrock", ModelId)',
            "Id": "expr_1",
            "Label": "Bedrock throttles",
            "Period": 300,
            "ReturnData": True,
        }
    ]
    # Metrics Insights alarms evaluate the last 3 hours at most.
    assert alarm["EvaluationPeriods"] * 300 <= 3 * 3600


def test_gpu_running_hours_alarm_counts_cpu_samples_per_hour(operations) -> None:
    synthesized, _, raw = operations
    alarm = alarms(synthesized, raw)[f"modelsmith-{synthesized.config.name}-gpu-instance-running-long"]
    instance = produced(synthesized.stacks.training_instance, synthesized.stacks.training_instance.instance.instance_id)
    expression, samples = alarm["Metrics"]
    assert expression["Expression"] == "FILL(samples, 0) / 60"
    assert samples["MetricStat"] == {
        "Metric": {
            "Namespace": "AWS/EC2",
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "InstanceId", "Value": instance}],
        },
        "Period": 3600,
        "Stat": "SampleCount",
    }
    # CloudWatch evaluates at most 7 days of hourly periods.
    assert alarm["EvaluationPeriods"] <= 7 * 24


def test_endpoint_alarms_watch_the_metrics_the_watch_publishes(operations) -> None:
    synthesized, _, raw = operations
    found, env = alarms(synthesized, raw), synthesized.config.name
    for suffix, metric, statistic in (
        ("endpoint-5xx-errors", "EndpointInvocation5XXErrors", "Sum"),
        ("idle-endpoints", "IdleEndpoints", "Maximum"),
        ("endpoint-watch-silent", "EndpointsInService", "SampleCount"),
    ):
        alarm = found[f"modelsmith-{env}-{suffix}"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("Modelsmith", metric, statistic)
        assert alarm["Dimensions"] == [{"Name": "Environment", "Value": env}]
    assert (
        str(synthesized.config.operations.endpoint_idle_days)
        in found[f"modelsmith-{env}-idle-endpoints"]["AlarmDescription"]
    )


# --- endpoint watch --------------------------------------------------------------------------------------


def test_endpoint_watch_runs_every_five_minutes_with_the_environments_prefix(operations) -> None:
    synthesized, _, raw = operations
    env = synthesized.config.name
    functions = [r for r in raw["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    (watch,) = [f for f in functions if f["Properties"]["Environment"]["Variables"].get("ENDPOINT_PREFIX")]
    variables = watch["Properties"]["Environment"]["Variables"]
    assert variables["ENDPOINT_PREFIX"] == endpoint_name_prefix(env) == f"ms-{env}-"
    assert variables["IDLE_DAYS"] == str(synthesized.config.operations.endpoint_idle_days)
    assert variables["ENVIRONMENT"] == env
    assert watch["Properties"]["ReservedConcurrentExecutions"] == 1 and "DeadLetterConfig" in watch["Properties"]
    (rule,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert "DeadLetterConfig" in rule["Properties"]["Targets"][0]


def test_endpoint_watch_reads_endpoints_and_writes_only_its_namespace(operations) -> None:
    synthesized, _, raw = operations
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in raw["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
    ]
    statements = [s for document in policies for s in document]
    actions = {json.dumps(s["Action"]): s for s in statements}
    describe = actions['"sagemaker:DescribeEndpoint"']
    assert render(describe["Resource"], synthesized).endswith(f":endpoint/ms-{synthesized.config.name}-*")
    put = actions['"cloudwatch:PutMetricData"']
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Modelsmith"}}
    assert not any(
        "sagemaker:Delete" in json.dumps(s["Action"]) or "sagemaker:Update" in json.dumps(s["Action"])
        for s in statements
    )


def test_watch_constants_match_the_function(lambda_environment) -> None:  # noqa: F811
    import sys

    load_handler("endpoint_watch")
    function = sys.modules["lambda_src.endpoint_watch.endpoint_watch"]
    for name in ("NAMESPACE", "ENVIRONMENT_DIMENSION", "IN_SERVICE_METRIC", "IDLE_METRIC", "ERRORS_METRIC"):
        assert getattr(operations_endpoint_watch, name) == getattr(function, name), name


# --- wiring ----------------------------------------------------------------------------------------------


def test_no_stack_exports_a_value_for_operations(synthesized) -> None:
    """Weak references (Fn::GetStackOutput): the watched stacks stay free to change."""
    for stack in synthesized.stacks.all():
        outputs = synthesized.template_json(stack.stack_name).get("Outputs", {})
        assert not [name for name, output in outputs.items() if "Export" in output], stack.stack_name
    raw = synthesized.template_json(synthesized.stacks.operations.stack_name)
    assert "Fn::ImportValue" not in json.dumps(raw)
    assert synthesized.stacks.operations.dependencies  # deployed after what it watches
