"""Facts about AWS offerings that configuration is checked against.

Kept in one module so that a new region, model or instance family is a one-line change with a test,
never a string scattered through stacks. Sources are the AWS documentation pages named beside each table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# Commercial regions where every service the foundation uses (KMS, S3, SNS, SSM, Secrets Manager) exists.
# https://docs.aws.amazon.com/general/latest/gr/rande.html
AWS_REGIONS: frozenset[str] = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "ca-west-1",
        "sa-east-1",
        "mx-central-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-east-1",
        "me-south-1",
        "me-central-1",
        "il-central-1",
        "af-south-1",
    }
)


# Bedrock model customization (fine-tuning) of Meta Llama 3.x, keyed by the ID a customization job's
# baseModelIdentifier takes (the ":128k" variant), each with what Bedrock offers for it:
# - IDs and regions: https://docs.aws.amazon.com/bedrock/latest/userguide/custom-model-supported.html ("Meta |
#   Llama 3.1 8B Instruct | meta.llama3-1-8b-instruct-v1:0:128k | us-west-2", ...; every Llama model us-west-2 only);
# - data format: https://docs.aws.amazon.com/bedrock/latest/userguide/model-customization-prepare.html (Llama 3.1:
#   prompt/completion; Llama 3.2 and 3.3: the Converse format, schemaVersion bedrock-conversation-2024);
# - records and tokens: the same page's model requirements ("Sum of training and validation records | 100 | 10,000";
#   "Sum of Input and Output tokens | 0 | 16,000 (10000 for Meta Llama 3.2 90B)"); validation at most 1,000 records
#   as AWS's dataset validator checks it (aws-samples/amazon-bedrock-samples, custom-models/bedrock-fine-tuning/
#   meta-llama/dataset_validation: "validation datasets must contain less than or equal to 1k rows");
# - hyperparameters: https://docs.aws.amazon.com/bedrock/latest/userguide/cm-hp-meta-llama31.html (and -llama32;
#   no Llama 3.3 page: the 3.1/3.2 ranges are assumed for it);
# - serving: on-demand custom model deployment (CreateCustomModelDeployment) only for Llama 3.3 70B among Llama
#   models, customized on or after 2025-07-16 (https://docs.aws.amazon.com/bedrock/latest/userguide/
#   deploy-custom-model-on-demand.html); the others through Provisioned Throughput (CreateProvisionedModelThroughput,
#   no commitment: "To request a no-commit Provisioned Throughput, omit this field", botocore bedrock model).
# - evaluation: the base model is invoked with ``base_invocation_id``: its on-demand ID, or for Llama 3.2 and 3.3
#   (which Bedrock serves through cross-Region inference profiles) the US profile.
@dataclass(frozen=True)
class HyperparameterRange:
    minimum: float
    maximum: float
    default: float


ON_DEMAND, PROVISIONED_THROUGHPUT = "on_demand", "provisioned_throughput"
DEPLOYMENT_MODES: tuple[str, ...] = (ON_DEMAND, PROVISIONED_THROUGHPUT)


@dataclass(frozen=True)
class CustomizableModel:
    name: str
    inference_model_id: str  # the base model's foundation-model ID (prices, lifecycle)
    base_invocation_id: str  # what the evaluation invokes for the base model (an ID or a cross-Region profile)
    regions: frozenset[str]
    data_format: str  # "prompt_completion" or "conversation"
    epoch_count: HyperparameterRange
    batch_size: HyperparameterRange
    learning_rate: HyperparameterRange
    min_records: int  # training + validation
    max_records: int  # training + validation
    max_validation_records: int
    max_tokens_per_record: int
    deployment: str  # ON_DEMAND or PROVISIONED_THROUGHPUT

    def __post_init__(self) -> None:
        if self.deployment not in DEPLOYMENT_MODES:
            raise ValueError(f"deployment: {self.deployment!r} is not one of {', '.join(DEPLOYMENT_MODES)}")

    def preparation_settings(self) -> dict[str, Any]:
        """How the data is converted and checked for this model: the one source of the workflow's preparation
        step and ``modelsmith validate training-data`` (keys of ``customization_data.Limits`` + ``target_format``)."""
        return {
            "target_format": self.data_format,
            "min_records": self.min_records,
            "max_records": self.max_records,
            "max_validation_records": self.max_validation_records,
            "max_tokens_per_record": self.max_tokens_per_record,
        }


_LLAMA: dict[str, Any] = dict(
    regions=frozenset({"us-west-2"}),
    epoch_count=HyperparameterRange(1, 10, 5),
    batch_size=HyperparameterRange(1, 1, 1),
    learning_rate=HyperparameterRange(5e-6, 0.1, 1e-4),
    min_records=100,
    max_records=10_000,
    max_validation_records=1_000,
)


def _llama(
    name: str, model: str, data_format: str, deployment: str, *, tokens: int = 16_000, profile: bool = False
) -> tuple[str, CustomizableModel]:
    inference = f"meta.{model}-instruct-v1:0"
    return f"{inference}:128k", CustomizableModel(
        name=name,
        inference_model_id=inference,
        base_invocation_id=f"us.{inference}" if profile else inference,
        data_format=data_format,
        deployment=deployment,
        max_tokens_per_record=tokens,
        **_LLAMA,
    )


PT, CONVERSE = PROVISIONED_THROUGHPUT, "conversation"
BEDROCK_CUSTOMIZATION_MODELS: Mapping[str, CustomizableModel] = MappingProxyType(
    dict(
        [
            _llama("Llama 3.1 8B Instruct", "llama3-1-8b", "prompt_completion", PT),
            _llama("Llama 3.1 70B Instruct", "llama3-1-70b", "prompt_completion", PT),
            _llama("Llama 3.2 1B Instruct", "llama3-2-1b", CONVERSE, PT, profile=True),
            _llama("Llama 3.2 3B Instruct", "llama3-2-3b", CONVERSE, PT, profile=True),
            _llama("Llama 3.2 11B Instruct", "llama3-2-11b", CONVERSE, PT, profile=True),
            _llama("Llama 3.2 90B Instruct", "llama3-2-90b", CONVERSE, PT, tokens=10_000, profile=True),
            _llama("Llama 3.3 70B Instruct", "llama3-3-70b", CONVERSE, ON_DEMAND, profile=True),
        ]
    )
)
BEDROCK_LLAMA_FINE_TUNING_REGIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {model_id: model.regions for model_id, model in BEDROCK_CUSTOMIZATION_MODELS.items()}
)
DEFAULT_CUSTOMIZATION_MODEL = "meta.llama3-3-70b-instruct-v1:0:128k"  # on demand: nothing bills while it is idle
# Provisioned Throughput a run buys for its evaluation: one model unit, no commitment (billed by the hour).
PROVISIONED_MODEL_UNITS = 1


def customization_model_id(model_id: str) -> str | None:
    """The customization ID of a model given by its inference ID (``...-v1:0`` -> ``...-v1:0:128k``), for messages."""
    return next(
        (key for key, model in BEDROCK_CUSTOMIZATION_MODELS.items() if model.inference_model_id == model_id), None
    )


# Knowledge-base hierarchical chunking: the parent level is this many times the child's size
# (constructs/agent_knowledge_base.py), and each level is at most 8192 tokens (botocore bedrock-agent
# HierarchicalChunkingLevelConfiguration.maxTokens: min 1, max 8192).
HIERARCHICAL_PARENT_FACTOR = 5
HIERARCHICAL_CHUNK_MAX_TOKENS = 8192

# Output dimension of the retrieval base models we know; an unknown model is accepted with the
# dimension the operator states. Values are from each model's card (hidden size of the pooled output).
EMBEDDING_DIMENSIONS: Mapping[str, int] = MappingProxyType(
    {
        "BAAI/bge-small-en-v1.5": 384,
        "BAAI/bge-base-en-v1.5": 768,
        "BAAI/bge-large-en-v1.5": 1024,
        "BAAI/bge-m3": 1024,
        "sentence-transformers/all-MiniLM-L6-v2": 384,
        "sentence-transformers/all-MiniLM-L12-v2": 384,
        "sentence-transformers/all-mpnet-base-v2": 768,
        "sentence-transformers/multi-qa-mpnet-base-dot-v1": 768,
        "intfloat/e5-small-v2": 384,
        "intfloat/e5-base-v2": 768,
        "intfloat/e5-large-v2": 1024,
        "thenlper/gte-small": 384,
        "thenlper/gte-base": 768,
        "thenlper/gte-large": 1024,
        "nomic-ai/nomic-embed-text-v1.5": 768,
    }
)

# EC2 families with NVIDIA GPUs that LoRA/QLoRA of Llama-class models can use (CUDA + bf16 or fp16).
# https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html
EC2_NVIDIA_GPU_FAMILIES: frozenset[str] = frozenset(
    {"g4dn", "g5", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en"}
)

# SageMaker instance families with NVIDIA GPUs, and the CPU families acceptable for real-time endpoints.
SAGEMAKER_GPU_FAMILIES: frozenset[str] = frozenset({"g4dn", "g5", "g6", "g6e", "p3", "p4d", "p4de", "p5"})
SAGEMAKER_CPU_FAMILIES: frozenset[str] = frozenset({"c5", "c6i", "c7i", "m5", "m6i", "m7i", "r5", "r6i"})

# SageMaker families whose instances carry NVMe instance storage: an endpoint config for them takes no
# KmsKeyId (that storage is encrypted by the hardware). https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html
SAGEMAKER_INSTANCE_STORAGE_FAMILIES: frozenset[str] = frozenset({"g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5"})

# AWS Deep Learning Containers: the registry account per region (763104351884 unless listed) and the
# Hugging Face PyTorch images the retrieval pipeline uses by default (override the URIs in config).
# https://github.com/aws/deep-learning-containers/blob/master/available_images.md
DLC_REGISTRY_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {
        "af-south-1": "626614931356",
        "ap-east-1": "871362719292",
        "ap-south-2": "772153158452",
        "ap-southeast-3": "907027046896",
        "ap-southeast-4": "457447274322",
        "ap-southeast-5": "550225433462",
        "ap-southeast-7": "590183813437",
        "ca-west-1": "204538143572",
        "eu-central-2": "380420809688",
        "eu-south-1": "692866216735",
        "eu-south-2": "503227376785",
        "il-central-1": "780543022126",
        "me-central-1": "914824155844",
        "me-south-1": "217643126080",
        "mx-central-1": "637423239942",
    }
)
DLC_DEFAULT_ACCOUNT = "763104351884"
# The newest published Hugging Face images whose Python and torch run what the jobs install (tests/contracts/
# test_images.py checks each requirement's Requires-Python and Requires-Dist against IMAGE_VERSIONS below): the
# training job installs sagemaker_src/retrieval/requirements.txt (transformers 5, Python >= 3.11), the endpoint the
# model's sentence-transformers 6 (transformers >= 5, torch >= 2.2), which these images already satisfy.
HF_TRAINING_IMAGE = "huggingface-pytorch-training:2.9.0-transformers5.3.0-gpu-py312-cu130-ubuntu22.04"
HF_INFERENCE_IMAGE_GPU = "huggingface-pytorch-inference:2.6.0-transformers5.5.3-gpu-py312-cu124-ubuntu22.04"
HF_INFERENCE_IMAGE_CPU = "huggingface-pytorch-inference:2.6.0-transformers5.5.3-cpu-py312-ubuntu22.04"


@dataclass(frozen=True)
class ImageVersions:
    """What a container image runs: its Python, torch and transformers versions (None: not installed), and
    where those versions are published."""

    python: str
    torch: str | None
    transformers: str | None
    source: str


# Every image the config can choose, with its versions as AWS publishes them (the Deep Learning Containers'
# per-image data files, aws/deep-learning-containers at e0ecedea6a1c56d6b5914f9cfb2fec5c548e67e0, 2026-08-21;
# the SageMaker Python SDK's image_uri_config/huggingface.json agrees). The tags carry the Python version (py312).
_DLC_DATA = (
    "https://github.com/aws/deep-learning-containers/blob/e0ecedea6a1c56d6b5914f9cfb2fec5c548e67e0/docs/src/data"
)
IMAGE_VERSIONS: Mapping[str, ImageVersions] = MappingProxyType(
    {
        HF_TRAINING_IMAGE: ImageVersions(
            "3.12", "2.9.0", "5.3.0", f"{_DLC_DATA}/huggingface-pytorch-training/2.9-gpu-sagemaker.yml"
        ),
        HF_INFERENCE_IMAGE_GPU: ImageVersions(
            "3.12", "2.6.0", "5.5.3", f"{_DLC_DATA}/huggingface-pytorch-inference/2.6-gpu-sagemaker.yml"
        ),
        HF_INFERENCE_IMAGE_CPU: ImageVersions(
            "3.12", "2.6.0", "5.5.3", f"{_DLC_DATA}/huggingface-pytorch-inference/2.6-cpu-sagemaker.yml"
        ),
        # The images this project used before (py310, torch 2.1): kept so the check shows why they cannot run the jobs.
        "huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04": ImageVersions(
            "3.10", "2.1.0", "4.36.0", f"{_DLC_DATA}/huggingface-pytorch-training/2.1-gpu-sagemaker.yml"
        ),
        "huggingface-pytorch-inference:2.1.0-transformers4.37.0-gpu-py310-cu118-ubuntu20.04": ImageVersions(
            "3.10", "2.1.0", "4.37.0", f"{_DLC_DATA}/huggingface-pytorch-inference/2.1-gpu-sagemaker.yml"
        ),
        # The project's own training image (sagemaker_src/Dockerfile): its base image; torch and transformers come
        # from requirements-ml.txt at build time.
        "python:3.11-slim-bookworm": ImageVersions(
            "3.11", None, None, "https://hub.docker.com/_/python (tag 3.11-slim-bookworm)"
        ),
    }
)


def dlc_image_uri(region: str, image: str, *, region_in_uri: str | None = None) -> str:
    """The ECR URI of Deep Learning Container ``image`` (``repository:tag``) in ``region``; ``region_in_uri``
    (e.g. the ``AWS::Region`` token) is written in its place, keeping templates free of literal regions."""
    account = DLC_REGISTRY_ACCOUNTS.get(region, DLC_DEFAULT_ACCOUNT)
    return f"{account}.dkr.ecr.{region_in_uri or region}.amazonaws.com/{image}"


def is_dlc_registry_account(account: str) -> bool:
    """AWS's public Deep Learning Containers registries (not an account of the user's)."""
    return account == DLC_DEFAULT_ACCOUNT or account in DLC_REGISTRY_ACCOUNTS.values()


# CloudWatch Logs accepts only these retention periods (days).
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# gp3 limits: https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html#gp3-ebs-volume-type
GP3_MIN_IOPS, GP3_MAX_IOPS = 3000, 16000
GP3_MIN_THROUGHPUT_MIBPS, GP3_MAX_THROUGHPUT_MIBPS = 125, 1000
GP3_MAX_IOPS_PER_GIB = 500
GP3_MAX_THROUGHPUT_PER_IOPS = 0.25
