"""Configuration: every environment in cdk.json loads, and bad configs fail naming key, value and what is allowed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from modelsmith_core.config import ConfigError, EnvironmentConfig, load_config

Mutation = Callable[[dict], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(environments: dict) -> None:
        *parents, leaf = path.split(".")
        node = environments
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(environments: dict) -> None:
        *parents, leaf = path.split(".")
        node = environments
        for part in parents:
            node = node[part]
        del node[leaf]

    return mutate


@dataclasses.dataclass(frozen=True)
class BadConfig:
    name: str
    mutate: Mutation
    env: str
    expected: tuple[str, ...]  # fragments the message must contain: the key, the value, what is allowed


BAD_CONFIGS = [
    BadConfig(
        "unknown environment", lambda e: None, "staging", ("env = 'staging'", "unknown environment", "dev, prod")
    ),
    BadConfig(
        "wrong type: bool as string",
        _set("prod.retain_stateful_resources", "yes"),
        "prod",
        ("retain_stateful_resources = 'yes'", "valid boolean"),
    ),
    BadConfig(
        "wrong type: number as string",
        _set("dev.training_instance.checkpoint_volume_gib", "200"),
        "dev",
        ("training_instance.checkpoint_volume_gib = '200'", "valid integer"),
    ),
    BadConfig("missing required key", _delete("prod.region"), "prod", ("region: required key is missing",)),
    BadConfig(
        "missing retention choice",
        _delete("dev.retain_stateful_resources"),
        "dev",
        ("retain_stateful_resources: required key is missing",),
    ),
    BadConfig(
        "unknown top-level key (typo)",
        _set("dev.retain_stateful_resource", True),
        "dev",
        ("retain_stateful_resource: unknown key", "did you mean 'retain_stateful_resources'?"),
    ),
    BadConfig(
        "unknown nested key (typo)",
        _set("dev.training_instance.instance_typ", "g6.xlarge"),
        "dev",
        ("training_instance.instance_typ: unknown key", "did you mean 'instance_type'?"),
    ),
    BadConfig(
        "CPU instance for GPU training",
        _set("prod.training_instance.instance_type", "t3.large"),
        "prod",
        ("training_instance.instance_type = 't3.large'", "not an NVIDIA GPU instance", "g6"),
    ),
    BadConfig(
        "malformed instance type",
        _set("prod.training_instance.instance_type", "g6-2xlarge"),
        "prod",
        ("training_instance.instance_type = 'g6-2xlarge'", "family.size"),
    ),
    BadConfig(
        "unknown region",
        _set("prod.region", "us-west-9"),
        "prod",
        ("region = 'us-west-9'", "not an AWS commercial region"),
    ),
    BadConfig(
        "region without Bedrock Llama fine-tuning",
        lambda e: (
            _set("prod.region", "eu-west-1")(e),
            _set("prod.agent", {"foundation_model_id": "eu.anthropic.claude-haiku-4-5-20251001-v1:0"})(e),
        ),
        "prod",
        ("region = 'eu-west-1'", "meta.llama3-3-70b-instruct-v1:0:128k", "offered only in us-west-2"),
    ),
    BadConfig(
        "model Bedrock cannot fine-tune",
        _set("dev.llm_customization.base_model_id", "meta.llama3-70b-instruct-v1:0"),
        "dev",
        ("llm_customization.base_model_id = 'meta.llama3-70b-instruct-v1:0'", "allowed: meta.llama3-1-70b"),
    ),
    # model-lifecycle-legacy.html: Claude 3.5 Haiku (the agent's old default) reached end of life on 2026-06-19
    BadConfig(
        "agent model past its end of life",
        _set("dev.agent", {"foundation_model_id": "us.anthropic.claude-3-5-haiku-20241022-v1:0"}),
        "dev",
        ("agent.foundation_model_id = 'us.anthropic.claude-3-5-haiku-20241022-v1:0'", "EOL 2026-06-19"),
    ),
    BadConfig(
        "Agents Classic with a model it does not support",
        _set("dev.agent", {"runtime": "classic"}),
        "dev",
        ("agent.foundation_model_id = 'us.anthropic.claude-haiku-4-5-20251001-v1:0'", "runtime: classic"),
    ),
    # botocore bedrock-agent HierarchicalChunkingLevelConfiguration.maxTokens <= 8192; the parent is 5x the child
    BadConfig(
        "hierarchical chunks whose parents exceed Bedrock's limit",
        _set("dev.agent", {"knowledge_base": {"chunking_strategy": "hierarchical", "chunk_max_tokens": 2000}}),
        "dev",
        ("agent.knowledge_base.chunk_max_tokens = 2000", "at most 1638"),
    ),
    BadConfig("unknown agent runtime", _set("dev.agent", {"runtime": "lambda"}), "dev", ("agent.runtime", "lambda")),
    # custom-model-supported.html: a customization job takes the ":128k" ID
    BadConfig(
        "customization model by its inference ID",
        _set("dev.llm_customization.base_model_id", "meta.llama3-1-70b-instruct-v1:0"),
        "dev",
        (
            "llm_customization.base_model_id = 'meta.llama3-1-70b-instruct-v1:0'",
            "addresses this model as meta.llama3-1-70b-instruct-v1:0:128k",
        ),
    ),
    # model-lifecycle-legacy.html: Llama 3.2 reached end of life on 2026-07-07; the evaluation could not invoke it
    BadConfig(
        "customization of an end-of-life base model",
        _set("dev.llm_customization.base_model_id", "meta.llama3-2-3b-instruct-v1:0:128k"),
        "dev",
        (
            "llm_customization.base_model_id = 'meta.llama3-2-3b-instruct-v1:0:128k'",
            "EOL 2026-07-07",
            "could not invoke it",
        ),
    ),
    BadConfig(
        "embedding dimension of a known model",
        _set("dev.retrieval_pipeline.embedding_dimension", 384),
        "dev",
        ("retrieval_pipeline.embedding_dimension = 384", "BAAI/bge-base-en-v1.5 produces 768"),
    ),
    BadConfig(
        "SageMaker type without ml. prefix",
        _set("dev.retrieval_pipeline.training_instance_type", "g5.xlarge"),
        "dev",
        ("retrieval_pipeline.training_instance_type = 'g5.xlarge'", "ml.family.size"),
    ),
    BadConfig(
        "log retention CloudWatch refuses",
        _set("dev.log_retention_days", 45),
        "dev",
        ("log_retention_days = 45", "accepts only 1, 3, 5"),
    ),
    BadConfig(
        "gp3 IOPS above 500 per GiB",
        _set("dev.training_instance", {"checkpoint_volume_gib": 20, "checkpoint_volume_iops": 12000}),
        "dev",
        ("training_instance.checkpoint_volume_iops = 12000", "at most 10000 for 20 GiB"),
    ),
    BadConfig(
        "gp3 throughput above 0.25 MiB/s per IOPS",
        _set("dev.training_instance.checkpoint_volume_throughput_mibps", 1000),
        "dev",
        ("training_instance.checkpoint_volume_throughput_mibps = 1000", "at most 750 at 3000 IOPS"),
    ),
    BadConfig(
        "value out of range", _set("dev.network.max_azs", 5), "dev", ("network.max_azs = 5", "less than or equal to 3")
    ),
    BadConfig(
        "malformed VPC ID",
        _set("prod.network.vpc_id", "vpc-123"),
        "prod",
        ("network.vpc_id = 'vpc-123'", "not a VPC ID"),
    ),
    BadConfig(
        "existing VPC without its subnets",
        _set("prod.network.vpc_id", "vpc-0123456789abcdef0"),
        "prod",
        ("network.private_subnet_ids = ()", "required with vpc_id vpc-0123456789abcdef0"),
    ),
    BadConfig(
        "subnets and zones that do not pair up",
        _set(
            "prod.network",
            {
                "vpc_id": "vpc-0123456789abcdef0",
                "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                "availability_zones": ["us-west-2a"],
            },
        ),
        "prod",
        ("network.availability_zones = ('us-west-2a',)", "one zone per private subnet (2)"),
    ),
    BadConfig(
        "malformed subnet ID",
        _set("prod.network.private_subnet_ids", ["subnet-xyz"]),
        "prod",
        ("network.private_subnet_ids", "not subnet IDs: ['subnet-xyz']"),
    ),
    BadConfig(
        "GitHub repository without owner",
        _set("dev.training_instance.image_publisher_github_repository", "modelsmith"),
        "dev",
        ("training_instance.image_publisher_github_repository = 'modelsmith'", "owner/name"),
    ),
    BadConfig(
        "agent inference profile of another geography",
        _set("prod.agent", {"foundation_model_id": "eu.anthropic.claude-haiku-4-5-20251001-v1:0"}),
        "prod",
        (
            "agent.foundation_model_id = 'eu.anthropic.claude-haiku-4-5-20251001-v1:0'",
            "cannot be called from region us-west-2",
        ),
    ),
    BadConfig(
        "bad e-mail address",
        _set("prod.notification_emails", ["ops@example.com", "oncall"]),
        "prod",
        ("notification_emails", "'oncall'", "not e-mail addresses"),
    ),
    BadConfig("reserved tag key", _set("prod.tags", {"aws:owner": "x"}), "prod", ("tags", "aws:owner", "not aws:")),
    BadConfig("environment not an object", _set("dev", "us-west-2"), "dev", ("environments.dev: expected an object",)),
    BadConfig("name set explicitly", _set("dev.name", "prod"), "dev", ("environments.dev.name: not settable",)),
    BadConfig(
        "GPU hours beyond what an alarm can evaluate",
        _set("prod.operations.max_gpu_instance_hours", 200),
        "prod",
        ("operations.max_gpu_instance_hours = 200", "less than or equal to 168"),
    ),
    BadConfig(
        "endpoint idle days of zero",
        _set("dev.operations.endpoint_idle_days", 0),
        "dev",
        ("operations.endpoint_idle_days = 0", "greater than or equal to 1"),
    ),
    BadConfig(
        "throttle storm periods as string",
        _set("dev.operations.throttle_storm_periods", "3"),
        "dev",
        ("operations.throttle_storm_periods = '3'", "valid integer"),
    ),
    BadConfig(
        "throttle storm longer than an hour",
        _set("dev.operations.throttle_storm_periods", 13),
        "dev",
        ("operations.throttle_storm_periods = 13", "less than or equal to 12"),
    ),
    BadConfig(
        "negative throttle threshold",
        _set("prod.operations.bedrock_throttles", -5),
        "prod",
        ("operations.bedrock_throttles = -5", "greater than or equal to 1"),
    ),
    BadConfig(
        "unknown operations key (typo)",
        _set("dev.operations.max_gpu_hours", 12),
        "dev",
        ("operations.max_gpu_hours: unknown key", "did you mean 'max_gpu_instance_hours'?"),
    ),
]


def test_every_environment_in_cdk_json_loads(environments_context: dict) -> None:
    for name in environments_context:
        config = load_config(environments_context, name)
        assert config.name == name
        assert config.parameter_prefix() == f"/modelsmith/{name}"


def test_operations_defaults_and_cdk_json_values(environments_context: dict) -> None:
    assert EnvironmentConfig(
        name="qa", region="us-west-2", retain_stateful_resources=False
    ).operations.model_dump() == {
        "max_gpu_instance_hours": 24,
        "endpoint_idle_days": 3,
        "endpoint_5xx_errors": 5,
        "failed_executions": 1,
        "lambda_throttles": 10,
        "bedrock_throttles": 50,
        "throttle_storm_periods": 3,
    }
    assert load_config(environments_context, "dev").operations.max_gpu_instance_hours == 12
    assert load_config(environments_context, "prod").operations.endpoint_idle_days == 7


def test_prod_retains_and_dev_does_not(environments_context: dict) -> None:
    assert load_config(environments_context, "prod").retain_stateful_resources is True
    assert load_config(environments_context, "dev").retain_stateful_resources is False


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=[case.name for case in BAD_CONFIGS])
def test_bad_config_names_key_value_and_allowed(case: BadConfig, environments_context: dict) -> None:
    case.mutate(environments_context)
    with pytest.raises(ConfigError) as raised:
        load_config(environments_context, case.env)
    message = str(raised.value)
    assert f"environment '{case.env}'" in message
    for fragment in case.expected:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"


def test_every_problem_is_reported_at_once(environments_context: dict) -> None:
    dev = environments_context["dev"]
    dev["region"] = "mars-1"
    dev["log_retention_days"] = 2
    dev["training_instance"]["instance_type"] = "c5.large"
    dev["surprise"] = 1
    with pytest.raises(ConfigError) as raised:
        load_config(environments_context, "dev")
    keys = [problem.split(" ")[0].rstrip(":") for problem in raised.value.problems]
    assert keys == ["region", "log_retention_days", "training_instance.instance_type", "surprise"]


def test_unknown_model_keeps_the_stated_dimension(environments_context: dict) -> None:
    environments_context["dev"]["retrieval_pipeline"] = {"base_model_id": "acme/embedder", "embedding_dimension": 512}
    assert load_config(environments_context, "dev").retrieval_pipeline.embedding_dimension == 512


def test_customization_can_be_switched_off_outside_its_regions(environments_context: dict) -> None:
    environments_context["prod"]["region"] = "eu-west-1"
    environments_context["prod"]["llm_customization"] = {"enabled": False}
    environments_context["prod"]["agent"] = {"foundation_model_id": "eu.anthropic.claude-haiku-4-5-20251001-v1:0"}
    assert load_config(environments_context, "prod").region == "eu-west-1"


def test_config_is_immutable(environments_context: dict) -> None:
    config = load_config(environments_context, "dev")
    with pytest.raises(ValidationError):
        config.region = "us-east-1"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.training_instance.instance_type = "p5.48xlarge"  # type: ignore[misc]


def test_missing_environments_block() -> None:
    with pytest.raises(ConfigError, match="environments: missing or empty"):
        load_config(None, "dev")


def test_environment_name_rules() -> None:
    with pytest.raises(ConfigError, match=r"name = 'Prod_1'.*lowercase"):
        load_config({"Prod_1": {"region": "us-west-2", "retain_stateful_resources": True}}, "Prod_1")
    assert isinstance(
        load_config({"qa-2": {"region": "us-west-2", "retain_stateful_resources": False}}, "qa-2"), EnvironmentConfig
    )
