"""Every service limit and model fact the code relies on, each with the published source that states it.

The contract checks (``tests/contracts/test_limits.py``) keep the project's values inside these. Values marked
``confirmed=False`` could not be read from a published source offline; they are listed, not enforced.
Read on 2026-12-05.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Limit:
    value: float
    unit: str
    source: str
    confirmed: bool = True


LIMITS: Mapping[str, Limit] = MappingProxyType(
    {
        # amazon-ssm-agent agent/plugins/pluginutil/pluginutil.go ValidateExecutionTimeout: outside 5..172800 the agent
        # logs and runs with the default 3600 s; AWS-RunShellScript: "Maximum is 172800 (48 hours)".
        "ssm_execution_timeout_min": Limit(
            5, "s", "https://github.com/aws/amazon-ssm-agent/blob/mainline/agent/plugins/pluginutil/pluginutil.go"
        ),
        "ssm_execution_timeout_max": Limit(
            172_800, "s", "https://github.com/aws/amazon-ssm-agent/blob/mainline/agent/plugins/pluginutil/pluginutil.go"
        ),
        # Step Functions quotas: "Maximum input or output size for a task, state, or execution: 256 KiB";
        # "Maximum execution history size: 25,000 events" (Standard).
        "step_functions_payload_bytes": Limit(
            256 * 1024, "bytes", "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
        ),
        "step_functions_history_events": Limit(
            25_000, "events", "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
        ),
        # Lambda quotas: "Function timeout: 900 seconds (15 minutes)".
        "lambda_timeout": Limit(900, "s", "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
        # Bedrock model customization quotas, Meta Llama 3.1/3.2/3.3: "Sum of training and validation records" 10,000.
        "bedrock_llama_customization_records": Limit(
            10_000, "records", "https://docs.aws.amazon.com/bedrock/latest/userguide/quotas.html"
        ),
        # Bedrock batch inference: per-model quotas "Minimum/Maximum number of records per batch inference job"; the
        # page names the quotas without values (read them with Service Quotas); 100 and 50,000 are the common defaults.
        "bedrock_batch_min_records": Limit(
            100,
            "records",
            "https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html",
            confirmed=False,
        ),
        "bedrock_batch_max_records": Limit(
            50_000,
            "records",
            "https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html",
            confirmed=False,
        ),
        # SageMaker CreateTrainingJob StoppingCondition.MaxRuntimeInSeconds: "The maximum value is 28 days."
        "sagemaker_training_max_runtime": Limit(
            28 * 24 * 3600, "s", "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html"
        ),
    }
)

# Bedrock's model lifecycle (https://docs.aws.amazon.com/bedrock/latest/userguide/model-lifecycle-legacy.html; models
# launched before 2026-09-07 are listed there once Legacy or EOL): model ID -> status and date.
LEGACY_OR_END_OF_LIFE_MODELS: Mapping[str, str] = MappingProxyType(
    {
        "meta.llama3-2-1b-instruct-v1:0": "EOL 2026-07-07",
        "meta.llama3-2-3b-instruct-v1:0": "EOL 2026-07-07",
        "meta.llama3-2-11b-instruct-v1:0": "EOL 2026-07-07",
        "meta.llama3-2-90b-instruct-v1:0": "EOL 2026-07-07",
        "anthropic.claude-3-5-haiku-20241022-v1:0": "EOL 2026-06-19",
        "anthropic.claude-3-haiku-20240307-v1:0": "EOL 2026-09-10",
        "anthropic.claude-3-5-sonnet-20240620-v1:0": "EOL by 2026-07-30",
        "anthropic.claude-3-5-sonnet-20241022-v2:0": "EOL by 2026-07-30",
    }
)
MODEL_LIFECYCLE_SOURCE = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-lifecycle-legacy.html"


# The longest fine-tune the GPU workflow accepts: the SSM command's executionTimeout is at most 172,800 s (48 h);
# one hour of it is kept for the inputs' download, `timeout --kill-after` and the job's own exit.
MAX_FINE_TUNE_HOURS = int(LIMITS["ssm_execution_timeout_max"].value // 3600) - 1
