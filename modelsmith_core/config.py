"""Typed, validated, immutable configuration of one Modelsmith environment.

The environments are described in one place, the ``environments`` context key of ``cdk.json``; ``app.py``
picks one (``-c env=prod``), turns it into an :class:`EnvironmentConfig` with :func:`load_config` and
passes it to the stacks as a prop. Nothing else reads context or the process environment.

Every problem is reported at once, each on its own line naming the key, the bad value and what is
allowed, for example::

    environment 'prod': training_instance.instance_type = 't3.large': not an NVIDIA GPU instance; allowed families: g4dn, g5, g6, ...
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelsmith_core import catalogue
from modelsmith_core.limits import LEGACY_OR_END_OF_LIFE_MODELS, MODEL_LIFECYCLE_SOURCE

ENV_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,11}$")
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_VPC_ID_PATTERN = re.compile(r"^vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_SUBNET_ID_PATTERN = re.compile(r"^subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
_EC2_INSTANCE_TYPE = re.compile(
    r"^(?P<family>[a-z][a-z0-9-]*?)\.(?P<size>[0-9]*x?large|metal[-0-9a-z]*|medium|small|micro|nano)$"
)
_SAGEMAKER_INSTANCE_TYPE = re.compile(r"^ml\.(?P<family>[a-z][a-z0-9-]*?)\.(?P<size>[0-9]*x?large|medium)$")
_TAG_KEY = re.compile(r"^[A-Za-z0-9 _.:/=+@-]{1,128}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_PINECONE_HOST = re.compile(r"^https://[a-z0-9-]+\.svc\.[a-z0-9.-]+\.pinecone\.io/?$")
# The agent's default model: Claude Haiku 4.5 through its US cross-Region profile (its Bedrock model card: Active,
# end of life "no sooner than 10/1/2026"; check the lifecycle page, the ID is configurable).
DEFAULT_AGENT_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
_MODEL_ID = re.compile(r"^[a-z0-9-]+\.[a-z0-9][a-z0-9.:-]*$")
_S3_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]*(?:/[a-z0-9][a-z0-9-]*)*/$")


class ConfigError(ValueError):
    """A configuration that cannot work; ``problems`` holds one readable line per bad key."""

    def __init__(self, environment: str, problems: list[str]) -> None:
        self.environment = environment
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid Modelsmith configuration for environment '{environment}':\n{lines}")


class _Section(BaseModel):
    """Base of every config section: immutable, strict types, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class NetworkConfig(_Section):
    """Where the GPU instance and the functions run.

    ``vpc_id``: an existing VPC to use instead of creating one (default: create one). With it,
    ``private_subnet_ids`` and their ``availability_zones`` (same order) are required, and the VPC must already
    have the endpoints the README lists (an existing VPC is imported as it is, into the TrainingInstance stack;
    nothing is added to it and no Network stack is made).
    ``max_azs``: availability zones of a created VPC (default 2).
    ``internet_egress``: a NAT gateway for the Hugging Face Hub and pip (default true). Without it the
    created subnets are isolated and reach AWS only through VPC endpoints.
    """

    vpc_id: str | None = None
    private_subnet_ids: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    max_azs: int = Field(default=2, ge=1, le=3)
    internet_egress: bool = True

    @field_validator("private_subnet_ids", "availability_zones", mode="before")
    @classmethod
    def _lists_are_tuples(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("vpc_id")
    @classmethod
    def _vpc_id_format(cls, value: str | None) -> str | None:
        if value is not None and not _VPC_ID_PATTERN.match(value):
            raise ValueError("not a VPC ID; expected vpc- followed by 8 or 17 hexadecimal digits")
        return value

    @field_validator("private_subnet_ids")
    @classmethod
    def _subnet_id_format(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [item for item in value if not _SUBNET_ID_PATTERN.match(item)]
        if bad:
            raise ValueError(f"not subnet IDs: {bad!r}; expected subnet- followed by 8 or 17 hexadecimal digits")
        return value

    @model_validator(mode="after")
    def _existing_vpc_is_complete(self) -> NetworkConfig:
        if self.vpc_id is None:
            if self.private_subnet_ids or self.availability_zones:
                raise _KeyedError("vpc_id", None, "private_subnet_ids and availability_zones need a vpc_id")
            return self
        if not self.private_subnet_ids:
            raise _KeyedError("private_subnet_ids", self.private_subnet_ids, f"required with vpc_id {self.vpc_id}")
        if len(self.availability_zones) != len(self.private_subnet_ids):
            raise _KeyedError(
                "availability_zones",
                self.availability_zones,
                f"give one zone per private subnet ({len(self.private_subnet_ids)}), in the same order",
            )
        return self


class TrainingInstanceConfig(_Section):
    """The GPU instance for LoRA/QLoRA and its checkpoint volume (EBS gp3).

    Defaults: ``g6.2xlarge``, a 500 GiB volume at 3000 IOPS and 250 MiB/s, stopped after 60 idle minutes.
    ``image_publisher_github_repository`` (``owner/name``, default none): creates a role that this repository's
    GitHub Actions workflow on ``main`` assumes through the account's GitHub OIDC provider to push the
    training image.
    """

    instance_type: str = "g6.2xlarge"
    checkpoint_volume_gib: int = Field(default=500, ge=20, le=16384)
    checkpoint_volume_iops: int = Field(default=3000, ge=catalogue.GP3_MIN_IOPS, le=catalogue.GP3_MAX_IOPS)
    checkpoint_volume_throughput_mibps: int = Field(
        default=250, ge=catalogue.GP3_MIN_THROUGHPUT_MIBPS, le=catalogue.GP3_MAX_THROUGHPUT_MIBPS
    )
    idle_stop_minutes: int = Field(default=60, ge=15, le=1440)
    image_publisher_github_repository: str | None = None

    @field_validator("image_publisher_github_repository")
    @classmethod
    def _github_repository(cls, value: str | None) -> str | None:
        if value is not None and not _GITHUB_REPOSITORY.match(value):
            raise ValueError("expected a GitHub repository as owner/name")
        return value

    @field_validator("instance_type")
    @classmethod
    def _gpu_instance(cls, value: str) -> str:
        match = _EC2_INSTANCE_TYPE.match(value)
        if not match:
            raise ValueError("not an EC2 instance type (expected family.size, e.g. g6.2xlarge)")
        if match["family"] not in catalogue.EC2_NVIDIA_GPU_FAMILIES:
            allowed = ", ".join(sorted(catalogue.EC2_NVIDIA_GPU_FAMILIES))
            raise ValueError(f"not an NVIDIA GPU instance; allowed families: {allowed}")
        return value

    @model_validator(mode="after")
    def _gp3_ratios(self) -> TrainingInstanceConfig:
        max_iops = self.checkpoint_volume_gib * catalogue.GP3_MAX_IOPS_PER_GIB
        if self.checkpoint_volume_iops > max_iops:
            raise _KeyedError(
                "checkpoint_volume_iops",
                self.checkpoint_volume_iops,
                f"gp3 allows at most {catalogue.GP3_MAX_IOPS_PER_GIB} IOPS per GiB, "
                f"so at most {max_iops} for {self.checkpoint_volume_gib} GiB",
            )
        max_throughput = int(self.checkpoint_volume_iops * catalogue.GP3_MAX_THROUGHPUT_PER_IOPS)
        if self.checkpoint_volume_throughput_mibps > max_throughput:
            raise _KeyedError(
                "checkpoint_volume_throughput_mibps",
                self.checkpoint_volume_throughput_mibps,
                f"gp3 allows at most 0.25 MiB/s per provisioned IOPS, "
                f"so at most {max_throughput} at {self.checkpoint_volume_iops} IOPS",
            )
        return self


_ECR_IMAGE_PATTERN = (
    r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$"
)


class RetrievalPipelineConfig(_Section):
    """Defaults of the retrieval fine-tuning pipeline (an execution input may override the model).

    Defaults: ``BAAI/bge-base-en-v1.5`` (768-d), training on ``ml.g5.xlarge`` (on-demand; ``spot_training``
    uses managed spot with checkpoints in the run prefix), endpoint on ``ml.g5.xlarge`` (or ``serverless``
    with ``serverless_memory_mib``/``serverless_max_concurrency``).
    """

    base_model_id: str = "BAAI/bge-base-en-v1.5"
    embedding_dimension: int = Field(default=768, ge=32, le=8192)
    training_instance_type: str = "ml.g5.xlarge"
    endpoint_instance_type: str = "ml.g5.xlarge"
    # Images: the Hugging Face PyTorch Deep Learning Containers of the region (modelsmith_core/catalogue.py)
    # unless set, e.g. to the project's own image from the TrainingInstance stack's ECR repository.
    training_image_uri: str | None = Field(default=None, pattern=_ECR_IMAGE_PATTERN)
    inference_image_uri: str | None = Field(default=None, pattern=_ECR_IMAGE_PATTERN)
    spot_training: bool = False
    max_training_hours: int = Field(default=24, ge=1, le=120)
    serverless_memory_mib: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 6144
    serverless_max_concurrency: int = Field(default=5, ge=1, le=200)

    @field_validator("training_instance_type")
    @classmethod
    def _training_instance(cls, value: str) -> str:
        family = _sagemaker_family(value)
        allowed = catalogue.SAGEMAKER_GPU_FAMILIES | catalogue.SAGEMAKER_CPU_FAMILIES
        if family not in allowed:
            raise ValueError(f"not a SageMaker training instance family; allowed: {', '.join(sorted(allowed))}")
        return value

    @field_validator("endpoint_instance_type")
    @classmethod
    def _endpoint_instance(cls, value: str) -> str:
        if value == "serverless":
            return value
        family = _sagemaker_family(value)
        allowed = catalogue.SAGEMAKER_GPU_FAMILIES | catalogue.SAGEMAKER_CPU_FAMILIES
        if family not in allowed:
            raise ValueError(
                f"not a SageMaker endpoint instance family; allowed: 'serverless' or {', '.join(sorted(allowed))}"
            )
        return value

    @model_validator(mode="after")
    def _dimension_matches_model(self) -> RetrievalPipelineConfig:
        known = catalogue.EMBEDDING_DIMENSIONS.get(self.base_model_id)
        if known is not None and known != self.embedding_dimension:
            raise _KeyedError(
                "embedding_dimension",
                self.embedding_dimension,
                f"{self.base_model_id} produces {known}-dimensional embeddings; set {known}",
            )
        return self


class LlmCustomizationConfig(_Section):
    """Bedrock model customization of Llama 3.x.

    ``enabled`` (default true) and ``base_model_id``: a customization ID of ``catalogue.BEDROCK_CUSTOMIZATION_MODELS``
    (default ``meta.llama3-3-70b-instruct-v1:0:128k``, the Llama model Bedrock serves as an on-demand custom model
    deployment: no hourly charge while the model is idle). The environment's region must offer fine-tuning of that
    model, and the base model must not have reached end of life (the evaluation invokes it).
    """

    enabled: bool = True
    base_model_id: str = catalogue.DEFAULT_CUSTOMIZATION_MODEL

    @property
    def model(self) -> catalogue.CustomizableModel:
        """What Bedrock offers for the base model (data format, limits, deployment mode)."""
        return catalogue.BEDROCK_CUSTOMIZATION_MODELS[self.base_model_id]

    @field_validator("base_model_id")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in catalogue.BEDROCK_CUSTOMIZATION_MODELS:
            suggestion = catalogue.customization_model_id(value)
            if suggestion:
                raise ValueError(f"a customization job addresses this model as {suggestion} (its fine-tuning ID)")
            allowed = ", ".join(sorted(catalogue.BEDROCK_CUSTOMIZATION_MODELS))
            raise ValueError(f"Bedrock cannot fine-tune this model; allowed: {allowed}")
        lifecycle = LEGACY_OR_END_OF_LIFE_MODELS.get(catalogue.BEDROCK_CUSTOMIZATION_MODELS[value].inference_model_id)
        if lifecycle:
            raise ValueError(
                f"the base model is {lifecycle} on Bedrock's model lifecycle page ({MODEL_LIFECYCLE_SOURCE}): the "
                "workflow could not invoke it to evaluate the custom model against it"
            )
        return value


# Models a Bedrock agent can orchestrate with (on-demand IDs; an inference profile adds a geography prefix).
# https://docs.aws.amazon.com/bedrock/latest/userguide/agents-supported.html
AGENT_FOUNDATION_MODELS: frozenset[str] = frozenset(
    {
        "anthropic.claude-3-haiku-20240307-v1:0",
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "amazon.nova-micro-v1:0",
        "amazon.nova-lite-v1:0",
        "amazon.nova-pro-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        "mistral.mistral-large-2407-v1:0",
    }
)
# Cross-region inference profile prefixes and the region prefixes each may be called from.
INFERENCE_PROFILE_GEOGRAPHIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"us": ("us-",), "eu": ("eu-",), "apac": ("ap-",)}
)
# Embedding models a knowledge base can use -> vector dimension.
KNOWLEDGE_BASE_EMBEDDING_MODELS: Mapping[str, int] = MappingProxyType(
    {
        "amazon.titan-embed-text-v2:0": 1024,
        "amazon.titan-embed-text-v1": 1536,
        "cohere.embed-english-v3": 1024,
        "cohere.embed-multilingual-v3": 1024,
    }
)


class KnowledgeBaseConfig(_Section):
    """The agent's knowledge base: vector store, embeddings, and how documents in S3 are chunked.

    ``vector_store``: ``opensearch-serverless`` (created by the stack; default) or ``pinecone`` (an index you
    own: ``pinecone_connection_string`` is its host URL, ``pinecone_api_key_secret_arn`` a secret holding
    ``{"apiKey": "..."}``; default the Foundation ``pinecone-api-key`` secret; ``pinecone_namespace`` optional).
    ``opensearch_standby_replicas`` (default true): a second availability zone for the collection.
    ``embedding_model_id`` (default ``amazon.titan-embed-text-v2:0``).
    ``data_prefix`` (default ``knowledge-base/``): documents are read from this prefix of the data bucket.
    ``chunking_strategy`` (default ``fixed-size``; or ``hierarchical``, ``semantic``, ``none``) with
    ``chunk_max_tokens`` (300) and ``chunk_overlap_percentage`` (20).
    """

    vector_store: Literal["opensearch-serverless", "pinecone"] = "opensearch-serverless"
    opensearch_standby_replicas: bool = True
    pinecone_connection_string: str | None = None
    pinecone_api_key_secret_arn: str | None = None
    pinecone_namespace: str | None = Field(default=None, min_length=1, max_length=64)
    embedding_model_id: str = "amazon.titan-embed-text-v2:0"
    data_prefix: str = "knowledge-base/"
    chunking_strategy: Literal["fixed-size", "hierarchical", "semantic", "none"] = "fixed-size"
    chunk_max_tokens: int = Field(default=300, ge=20, le=8192)
    chunk_overlap_percentage: int = Field(default=20, ge=1, le=99)

    @model_validator(mode="after")
    def _hierarchical_parent_fits(self) -> KnowledgeBaseConfig:
        largest = catalogue.HIERARCHICAL_CHUNK_MAX_TOKENS // catalogue.HIERARCHICAL_PARENT_FACTOR
        if self.chunking_strategy == "hierarchical" and self.chunk_max_tokens > largest:
            raise _KeyedError(
                "chunk_max_tokens",
                self.chunk_max_tokens,
                f"hierarchical chunks' parents are {catalogue.HIERARCHICAL_PARENT_FACTOR}x their children and Bedrock "
                f"takes at most {catalogue.HIERARCHICAL_CHUNK_MAX_TOKENS} tokens per level: at most {largest}",
            )
        return self

    @field_validator("embedding_model_id")
    @classmethod
    def _embedding_model(cls, value: str) -> str:
        if value not in KNOWLEDGE_BASE_EMBEDDING_MODELS:
            raise ValueError(
                f"not a knowledge base embedding model; allowed: {', '.join(sorted(KNOWLEDGE_BASE_EMBEDDING_MODELS))}"
            )
        return value

    @field_validator("pinecone_connection_string")
    @classmethod
    def _pinecone_host(cls, value: str | None) -> str | None:
        if value is not None and not _PINECONE_HOST.match(value):
            raise ValueError(
                "not a Pinecone index host; expected https://<index>-<project>.svc.<environment>.pinecone.io"
            )
        return value

    @field_validator("pinecone_api_key_secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_ARN.match(value):
            raise ValueError(
                "not a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)"
            )
        return value

    @field_validator("data_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _S3_PREFIX.match(value):
            raise ValueError(
                "an S3 prefix of lowercase letters, digits and hyphens, ending with '/', e.g. knowledge-base/"
            )
        return value

    @model_validator(mode="after")
    def _store_settings_agree(self) -> KnowledgeBaseConfig:
        if self.vector_store == "pinecone" and self.pinecone_connection_string is None:
            raise _KeyedError("pinecone_connection_string", None, "required when vector_store is 'pinecone'")
        if self.vector_store != "pinecone":
            for key in ("pinecone_connection_string", "pinecone_api_key_secret_arn", "pinecone_namespace"):
                if getattr(self, key) is not None:
                    raise _KeyedError(key, getattr(self, key), "applies only when vector_store is 'pinecone'")
        return self


class AgentConfig(_Section):
    """The astronomy research assistant, its tools function and its knowledge base.

    ``enabled`` (default true). ``runtime``: ``agentcore`` (default; Amazon Bedrock AgentCore: a Gateway in front of
    the tools and a managed harness) or ``classic`` (Bedrock Agents Classic, closed to new customers since
    2026-07-30: only for accounts that already use it). ``foundation_model_id``: a Bedrock model or cross-region
    inference profile (``us.``/``eu.``/``apac.`` prefix; default ``us.anthropic.claude-haiku-4-5-20251001-v1:0``);
    with ``classic``, one Bedrock agents support; never one past its end of life.
    ``idle_session_ttl_minutes`` (30), session-summary memory ``memory_enabled`` (true) kept
    ``memory_duration_days`` (30) for ``memory_max_recent_sessions`` (20), ``guardrail_enabled`` (true).
    Tools function: ``tools_reserved_concurrency`` (5), ``tools_memory_mib`` (1536), ``tools_timeout_seconds``
    (120), ``archive_timeout_seconds`` (20; below the function timeout), ``presigned_url_expiry_minutes`` (60),
    ``output_prefix`` (``agent-tools/`` in the artifacts bucket). ``knowledge_base``: see KnowledgeBaseConfig.
    """

    enabled: bool = True
    runtime: Literal["agentcore", "classic"] = "agentcore"
    foundation_model_id: str = DEFAULT_AGENT_MODEL
    idle_session_ttl_minutes: int = Field(default=30, ge=1, le=60)
    memory_enabled: bool = True
    memory_duration_days: int = Field(default=30, ge=1, le=365)
    memory_max_recent_sessions: int = Field(default=20, ge=1, le=50)
    guardrail_enabled: bool = True
    tools_reserved_concurrency: int = Field(default=5, ge=1, le=100)
    tools_memory_mib: int = Field(default=1536, ge=512, le=10240)
    tools_timeout_seconds: int = Field(default=120, ge=10, le=900)
    archive_timeout_seconds: int = Field(default=20, ge=2, le=120)
    presigned_url_expiry_minutes: int = Field(default=60, ge=1, le=720)
    output_prefix: str = "agent-tools/"
    knowledge_base: KnowledgeBaseConfig = KnowledgeBaseConfig()

    @model_validator(mode="after")
    def _agent_model(self) -> AgentConfig:
        value = self.foundation_model_id
        geography, _, model = (
            value.partition(".") if value.split(".", 1)[0] in INFERENCE_PROFILE_GEOGRAPHIES else ("", "", value)
        )
        if not _MODEL_ID.match(model):
            raise _KeyedError("foundation_model_id", value, "not a Bedrock model ID (provider.model-version)")
        lifecycle = LEGACY_OR_END_OF_LIFE_MODELS.get(model)
        if lifecycle:
            reason = f"the model is {lifecycle} on Bedrock's model lifecycle page ({MODEL_LIFECYCLE_SOURCE})"
            raise _KeyedError("foundation_model_id", value, reason)
        if self.runtime == "classic" and model not in AGENT_FOUNDATION_MODELS:
            close = difflib.get_close_matches(model, sorted(AGENT_FOUNDATION_MODELS), n=1)
            hint = f"did you mean '{(geography + '.') if geography else ''}{close[0]}'? " if close else ""
            raise _KeyedError(
                "foundation_model_id",
                value,
                f"not a model Bedrock agents (runtime: classic) support; {hint}allowed: "
                f"{', '.join(sorted(AGENT_FOUNDATION_MODELS))}, optionally prefixed with an inference profile geography "
                f"({', '.join(INFERENCE_PROFILE_GEOGRAPHIES)})",
            )
        return self

    @field_validator("output_prefix")
    @classmethod
    def _output_prefix(cls, value: str) -> str:
        if not _S3_PREFIX.match(value) or value.startswith("runs/"):
            raise ValueError("an S3 prefix of lowercase letters, digits and hyphens ending with '/', not under runs/")
        return value

    @model_validator(mode="after")
    def _archive_timeout_fits(self) -> AgentConfig:
        if self.archive_timeout_seconds * 3 > self.tools_timeout_seconds:
            raise _KeyedError(
                "archive_timeout_seconds",
                self.archive_timeout_seconds,
                f"a cone search by name makes two archive calls and then writes to S3; keep it at most a third of "
                f"tools_timeout_seconds ({self.tools_timeout_seconds}), i.e. <= {self.tools_timeout_seconds // 3}",
            )
        return self

    def inference_profile_geography(self) -> str | None:
        """``us``, ``eu`` or ``apac`` when the model is a cross-region inference profile, else ``None``."""
        prefix = self.foundation_model_id.split(".", 1)[0]
        return prefix if prefix in INFERENCE_PROFILE_GEOGRAPHIES else None

    def base_model_id(self) -> str:
        """The foundation model ID without an inference profile prefix."""
        return (
            self.foundation_model_id.split(".", 1)[1]
            if self.inference_profile_geography()
            else self.foundation_model_id
        )


class OperationsConfig(_Section):
    """Alarm thresholds of the Operations stack (dashboard and alarms; every alarm notifies the project topic).

    ``max_gpu_instance_hours`` (default 24, 1-168): alarm when the GPU training instance has been running in
    each of this many consecutive clock hours (CloudWatch evaluates at most 7 days, hence 168).
    ``endpoint_idle_days`` (default 3, 1-30): alarm when an environment's SageMaker endpoint (``ms-<env>-*``)
    has served no invocation for this many days (it keeps billing by the hour).
    ``endpoint_5xx_errors`` (default 5): alarm when the environment's endpoints answer with at least this many
    5xx errors within 5 minutes.
    ``failed_executions`` (default 1): alarm when a workflow has at least this many failed or timed-out
    executions within 5 minutes.
    ``lambda_throttles`` (default 10) and ``bedrock_throttles`` (default 50): throttled invocations per 5 minutes
    (the workflow's functions; Bedrock models in the account and region) that count as a storm when sustained
    for ``throttle_storm_periods`` (default 3, 1-12) consecutive 5-minute periods.
    """

    max_gpu_instance_hours: int = Field(default=24, ge=1, le=168)
    endpoint_idle_days: int = Field(default=3, ge=1, le=30)
    endpoint_5xx_errors: int = Field(default=5, ge=1, le=100_000)
    failed_executions: int = Field(default=1, ge=1, le=1000)
    lambda_throttles: int = Field(default=10, ge=1, le=100_000)
    bedrock_throttles: int = Field(default=50, ge=1, le=100_000)
    throttle_storm_periods: int = Field(default=3, ge=1, le=12)


class EnvironmentConfig(_Section):
    """One deployment environment (``dev``, ``prod``, ...).

    Required: ``region`` (where it is deployed; checked against what Bedrock and EC2 offer there) and
    ``retain_stateful_resources`` (true keeps keys, buckets and secrets on stack deletion and turns on
    termination protection; false lets ``cdk destroy`` remove them, objects included).
    Optional, with defaults: ``log_retention_days`` (365), ``noncurrent_version_expiration_days`` (90),
    ``abort_incomplete_multipart_upload_days`` (7), ``notification_emails`` (none), ``tags`` (none), and the
    sections ``network``, ``training_instance``, ``retrieval_pipeline``, ``llm_customization``, ``agent``,
    ``operations``.
    """

    name: str
    region: str
    retain_stateful_resources: bool
    log_retention_days: int = 365
    noncurrent_version_expiration_days: int = Field(default=90, ge=1, le=3650)
    abort_incomplete_multipart_upload_days: int = Field(default=7, ge=1, le=30)
    notification_emails: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    network: NetworkConfig = NetworkConfig()
    training_instance: TrainingInstanceConfig = TrainingInstanceConfig()
    retrieval_pipeline: RetrievalPipelineConfig = RetrievalPipelineConfig()
    llm_customization: LlmCustomizationConfig = LlmCustomizationConfig()
    agent: AgentConfig = AgentConfig()
    operations: OperationsConfig = OperationsConfig()

    @field_validator("name")
    @classmethod
    def _name_format(cls, value: str) -> str:
        if not ENV_NAME_PATTERN.match(value):
            raise ValueError(
                "must be 2-12 lowercase letters, digits or hyphens, starting with a letter (it is part of resource names such as endpoints ms-<env>-<model_name>)"
            )
        return value

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in catalogue.AWS_REGIONS:
            close = difflib.get_close_matches(value, sorted(catalogue.AWS_REGIONS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"not an AWS commercial region{hint}")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_allowed(cls, value: int) -> int:
        if value not in catalogue.LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts only {', '.join(map(str, catalogue.LOG_RETENTION_DAYS))}")
        return value

    @field_validator("notification_emails", mode="before")
    @classmethod
    def _emails(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = tuple(value)
        if isinstance(value, tuple):
            bad = [item for item in value if not isinstance(item, str) or not _EMAIL_PATTERN.match(item)]
            if bad:
                raise ValueError(f"not e-mail addresses: {bad!r}")
        return value

    @field_validator("tags")
    @classmethod
    def _tag_keys(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [key for key in value if not _TAG_KEY.match(key) or key.lower().startswith("aws:")]
        if bad:
            raise ValueError(f"invalid tag keys {bad!r}: 1-128 letters, digits, spaces or _.:/=+@-, not aws:")
        return value

    @model_validator(mode="after")
    def _agent_model_reachable_from_region(self) -> EnvironmentConfig:
        geography = self.agent.inference_profile_geography()
        if geography and not self.region.startswith(INFERENCE_PROFILE_GEOGRAPHIES[geography]):
            raise _KeyedError(
                "agent.foundation_model_id",
                self.agent.foundation_model_id,
                f"a '{geography}' cross-region inference profile cannot be called from region {self.region}; use "
                f"the profile of the region's geography or the model ID without a prefix",
            )
        return self

    @model_validator(mode="after")
    def _region_offers_customization(self) -> EnvironmentConfig:
        customization = self.llm_customization
        if customization.enabled:
            regions = catalogue.BEDROCK_LLAMA_FINE_TUNING_REGIONS[customization.base_model_id]
            if self.region not in regions:
                raise _KeyedError(
                    "region",
                    self.region,
                    f"Bedrock fine-tuning of {customization.base_model_id} (llm_customization.enabled) is "
                    f"offered only in {', '.join(sorted(regions))}; deploy there or set "
                    "llm_customization.enabled to false",
                )
        return self

    def parameter_prefix(self) -> str:
        """The root of this environment's SSM parameter tree, ``/modelsmith/<env>``."""
        return f"/modelsmith/{self.name}"


class _KeyedError(ValueError):
    """A cross-field problem that belongs to one key; keeps the key's name in the message."""

    def __init__(self, key: str, value: Any, reason: str) -> None:
        self.key, self.value, self.reason = key, value, reason
        super().__init__(f"{key} = {value!r}: {reason}")


def _sagemaker_family(value: str) -> str:
    match = _SAGEMAKER_INSTANCE_TYPE.match(value)
    if not match:
        raise ValueError("not a SageMaker instance type (expected ml.family.size, e.g. ml.g5.xlarge)")
    return match["family"]


def load_config(environments: Any, env_name: Any) -> EnvironmentConfig:
    """Build the config of ``env_name`` from the ``environments`` mapping of ``cdk.json``.

    Raises :class:`ConfigError` listing every problem: unknown environment, wrong type, missing or unknown
    key (with the closest known key), values the services cannot accept.
    """
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError(str(env_name), ["environments: missing or empty; define them in cdk.json context"])
    if not isinstance(env_name, str) or env_name not in environments:
        defined = ", ".join(sorted(environments))
        raise ConfigError(str(env_name), [f"env = {env_name!r}: unknown environment; defined: {defined}"])
    raw = environments[env_name]
    if not isinstance(raw, Mapping):
        raise ConfigError(env_name, [f"environments.{env_name}: expected an object, got {type(raw).__name__}"])
    if "name" in raw:
        raise ConfigError(env_name, [f"environments.{env_name}.name: not settable; the name is the key '{env_name}'"])
    try:
        return EnvironmentConfig.model_validate({"name": env_name, **raw})
    except ValidationError as error:
        raise ConfigError(env_name, [_describe(error_item) for error_item in error.errors()]) from None


def _describe(item: Mapping[str, Any]) -> str:
    """One readable line for one pydantic error: key path, bad value, what is allowed."""
    path = [str(part) for part in item["loc"]]
    context_error = (item.get("ctx") or {}).get("error")
    if isinstance(context_error, _KeyedError):
        return ".".join([*path, context_error.key]) + f" = {context_error.value!r}: {context_error.reason}"
    key = ".".join(path)
    value = item.get("input")
    kind = item["type"]
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "extra_forbidden":
        known = _known_keys(path[:-1])
        close = difflib.get_close_matches(path[-1], known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{key}: unknown key; {hint}known keys: {', '.join(known)}"
    message = item["msg"].removeprefix("Value error, ")
    return f"{key} = {value!r}: {message}"


def _known_keys(path: list[str]) -> list[str]:
    model: type[BaseModel] = EnvironmentConfig
    for part in path:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(name for name in model.model_fields if name != "name")
