"""AgentToolsFunction: runtime, tracing, logs, least-privilege grants, acknowledgments, and its packaging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from constructs.agent_tools_function import AgentToolsFunction
from constructs.python_function import RUNTIME

CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def _build(**overrides) -> tuple[Stack, AgentToolsFunction, Template]:
    stack = Stack(App(context={**CDK_CONTEXT, "aws:cdk:bundling-stacks": []}), "Test")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    props = dict(
        encryption_key=key,
        output_bucket=s3.Bucket(stack, "Bucket", encryption_key=key),
        output_prefix="agent-tools/",
        ads_token_secret=secretsmanager.Secret(stack, "Secret", encryption_key=key),
        log_retention=logs.RetentionDays.ONE_MONTH,
    )
    props.update(overrides)
    tools = AgentToolsFunction(stack, "Tools", **props)
    return stack, tools, Template.from_stack(stack)


@pytest.fixture(scope="module")
def built() -> tuple[Stack, AgentToolsFunction, Template]:
    return _build()


def test_function_settings(built) -> None:
    _, _, template = built
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": RUNTIME.name,
            "Handler": "lambda_src.agent_tools.handler.lambda_handler",
            "MemorySize": 1536,
            "Timeout": 120,
            "ReservedConcurrentExecutions": 5,
            "TracingConfig": {"Mode": "Active"},
            "Architectures": ["x86_64"],
        },
    )
    assert RUNTIME.name >= "python3.12"
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_environment_matches_what_the_function_reads(built) -> None:
    from lambda_src.agent_tools.astro_tools import settings

    _, _, template = built
    function = next(iter(template.find_resources("AWS::Lambda::Function").values()))
    variables = function["Properties"]["Environment"]["Variables"]
    for name in (
        settings.OUTPUT_BUCKET,
        settings.OUTPUT_PREFIX,
        settings.ADS_TOKEN_SECRET_ARN,
        settings.ARCHIVE_TIMEOUT_SECONDS,
        settings.PRESIGNED_URL_EXPIRY_SECONDS,
    ):
        assert name in variables
    assert (variables["ARCHIVE_TIMEOUT_SECONDS"], variables["PRESIGNED_URL_EXPIRY_SECONDS"]) == ("20", "3600")
    assert variables["HOME"] == "/tmp"


def test_acknowledgments_for_dlq_and_vpc(built) -> None:
    _, tools, _ = built
    checkov = tools.function.node.default_child.get_metadata("checkov")
    assert {skip["id"] for skip in checkov["skip"]} == {"CKV_AWS_116", "CKV_AWS_117"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"output_prefix": "/agent-tools"}, "a relative prefix ending with '/'"),
        ({"archive_timeout": Duration.seconds(200)}, "must be below timeout"),
    ],
)
def test_bad_props_are_refused(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        _build(**overrides)
