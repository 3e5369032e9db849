"""The agent section of the configuration: defaults, and bad values named by key, value and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelsmith_core.config import AgentConfig, ConfigError, KnowledgeBaseConfig, load_config

CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def _load(agent: dict[str, Any], env: str = "dev"):
    environments = json.loads(json.dumps(CDK_CONTEXT["environments"]))
    environments[env]["agent"] = agent
    return load_config(environments, env)


@pytest.mark.parametrize("env", sorted(CDK_CONTEXT["environments"]))
def test_every_environment_gets_a_working_default_agent(env: str) -> None:
    agent = load_config(CDK_CONTEXT["environments"], env).agent
    assert agent == AgentConfig()
    assert agent.enabled and agent.guardrail_enabled and agent.memory_enabled
    assert agent.runtime == "agentcore"  # Agents Classic takes no new customers since 2026-07-30
    assert (agent.inference_profile_geography(), agent.base_model_id()) == (
        "us",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
    )
    assert agent.knowledge_base == KnowledgeBaseConfig()
    assert agent.knowledge_base.vector_store == "opensearch-serverless"
    assert agent.output_prefix == "agent-tools/" and agent.archive_timeout_seconds * 3 <= agent.tools_timeout_seconds


def test_an_on_demand_model_and_pinecone() -> None:
    agent = _load(
        {
            "foundation_model_id": "amazon.nova-pro-v1:0",
            "knowledge_base": {
                "vector_store": "pinecone",
                "pinecone_connection_string": "https://astro-abc123.svc.aped-4627-b74a.pinecone.io",
                "pinecone_api_key_secret_arn": "arn:aws:secretsmanager:us-west-2:123456789012:secret:pinecone-AbCdEf",
            },
        }
    ).agent
    assert agent.inference_profile_geography() is None and agent.base_model_id() == "amazon.nova-pro-v1:0"
    assert agent.knowledge_base.vector_store == "pinecone"


def test_the_section_is_frozen() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        AgentConfig().enabled = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("agent", "fragments"),
    [
        (
            {"runtime": "classic", "foundation_model_id": "us.anthropic.claude-3-5-sonnet-20241022-v1:0"},
            (
                "agent.foundation_model_id = 'us.anthropic.claude-3-5-sonnet-20241022-v1:0'",
                "not a model Bedrock agents (runtime: classic) support",
                "did you mean 'us.anthropic.claude-3-5-sonnet-20241022-v2:0'?",
            ),
        ),
        ({"runtime": "classic", "foundation_model_id": "gpt-4"}, ("agent.foundation_model_id = 'gpt-4'",)),
        ({"foundation_model_id": "gpt-4"}, ("agent.foundation_model_id = 'gpt-4'", "not a Bedrock model ID")),
        ({"idle_session_ttl_minutes": 120}, ("agent.idle_session_ttl_minutes = 120", "less than or equal to 60")),
        ({"tools_reserved_concurrency": "5"}, ("agent.tools_reserved_concurrency = '5'", "valid integer")),
        (
            {"archive_timeout_seconds": 60, "tools_timeout_seconds": 120},
            ("agent.archive_timeout_seconds = 60", "at most a third of tools_timeout_seconds (120)"),
        ),
        ({"output_prefix": "runs/agent/"}, ("agent.output_prefix = 'runs/agent/'", "not under runs/")),
        ({"output_prefix": "agent-tools"}, ("agent.output_prefix = 'agent-tools'", "ending with '/'")),
        ({"guardrail": True}, ("agent.guardrail: unknown key", "did you mean 'guardrail_enabled'?")),
        (
            {"knowledge_base": {"vector_store": "faiss"}},
            ("agent.knowledge_base.vector_store = 'faiss'", "'opensearch-serverless' or 'pinecone'"),
        ),
        (
            {"knowledge_base": {"vector_store": "pinecone"}},
            ("agent.knowledge_base.pinecone_connection_string = None", "required when vector_store is 'pinecone'"),
        ),
        (
            {"knowledge_base": {"pinecone_namespace": "x"}},
            ("agent.knowledge_base.pinecone_namespace = 'x'", "applies only when vector_store is 'pinecone'"),
        ),
        (
            {"knowledge_base": {"vector_store": "pinecone", "pinecone_connection_string": "astro.pinecone.io"}},
            ("agent.knowledge_base.pinecone_connection_string = 'astro.pinecone.io'", "not a Pinecone index host"),
        ),
        (
            {
                "knowledge_base": {
                    "vector_store": "pinecone",
                    "pinecone_connection_string": "https://a-b.svc.c.pinecone.io",
                    "pinecone_api_key_secret_arn": "pinecone-api-key",
                }
            },
            (
                "agent.knowledge_base.pinecone_api_key_secret_arn = 'pinecone-api-key'",
                "not a Secrets Manager secret ARN",
            ),
        ),
        (
            {"knowledge_base": {"embedding_model_id": "amazon.titan-embed-text-v3:0"}},
            (
                "agent.knowledge_base.embedding_model_id = 'amazon.titan-embed-text-v3:0'",
                "amazon.titan-embed-text-v2:0",
            ),
        ),
        (
            {"knowledge_base": {"chunking_strategy": "fixed"}},
            ("agent.knowledge_base.chunking_strategy = 'fixed'", "'fixed-size', 'hierarchical', 'semantic' or 'none'"),
        ),
        (
            {"knowledge_base": {"chunk_overlap_percentage": 0}},
            ("agent.knowledge_base.chunk_overlap_percentage = 0", "greater than or equal to 1"),
        ),
        (
            {"knowledge_base": {"data_prefix": "/docs"}},
            ("agent.knowledge_base.data_prefix = '/docs'", "ending with '/'"),
        ),
        (
            {"knowledge_base": {"embeding_model_id": "x"}},
            ("agent.knowledge_base.embeding_model_id: unknown key", "did you mean 'embedding_model_id'?"),
        ),
    ],
    ids=lambda value: json.dumps(value)[:60] if isinstance(value, dict) else None,
)
def test_bad_agent_config_names_key_value_and_allowed(agent: dict, fragments: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(agent)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, message
