"""AstronomyAgent: the L2 agent with its action group, knowledge base, guardrail, memory, alias and permission."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_bedrock_alpha as bedrock
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from constructs.agent_research_assistant import INSTRUCTION, AstronomyAgent, foundation_model
from stacks.agent_stack import API_SCHEMA_PATH

CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def _build(**overrides):
    stack = Stack(App(context=CDK_CONTEXT), "Test")
    function = lambda_.Function(
        stack,
        "Tools",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
    )
    props = dict(
        agent_name="modelsmith-dev-astronomy",
        foundation_model_id="amazon.nova-pro-v1:0",
        tools_function=function,
        api_schema_path=API_SCHEMA_PATH,
        knowledge_base_id="KB12345678",
        knowledge_base_arn="arn:aws:bedrock:us-west-2:111122223333:knowledge-base/KB12345678",
        encryption_key=kms.Key(stack, "Key"),
    )
    props.update(overrides)
    assistant = AstronomyAgent(stack, "Assistant", **props)
    return stack, assistant, Template.from_stack(stack)


@pytest.fixture(scope="module")
def built():
    return _build(guardrail=False, memory_duration=None, idle_session_ttl=Duration.minutes(10), alias_name="prod")


def test_agent_properties(built) -> None:
    _, _, template = built
    agent = next(iter(template.find_resources("AWS::Bedrock::Agent").values()))["Properties"]
    assert agent["Instruction"] == INSTRUCTION and agent["IdleSessionTTLInSeconds"] == 600
    assert "MemoryConfiguration" not in agent and "GuardrailConfiguration" not in agent
    assert agent["FoundationModel"]["Fn::Join"][1][-1] == "::foundation-model/amazon.nova-pro-v1:0"
    assert agent["KnowledgeBases"][0]["KnowledgeBaseId"] == "KB12345678"
    template.resource_count_is("AWS::Bedrock::Guardrail", 0)
    template.has_resource_properties("AWS::Bedrock::AgentAlias", {"AgentAliasName": "prod"})


def test_the_function_answers_this_agent_only(built) -> None:
    stack, assistant, template = built
    agent_id = stack.get_logical_id(assistant.cfn_agent)
    permission = next(iter(template.find_resources("AWS::Lambda::Permission").values()))["Properties"]
    assert permission["Principal"] == "bedrock.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": [agent_id, "AgentArn"]}


def test_missing_schema_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        _build(api_schema_path=tmp_path / "openapi.json")


def test_inference_profiles_and_models() -> None:
    assert isinstance(
        foundation_model("us.anthropic.claude-3-5-haiku-20241022-v1:0"), bedrock.CrossRegionInferenceProfile
    )
    assert isinstance(foundation_model("amazon.nova-pro-v1:0"), bedrock.BedrockFoundationModel)
