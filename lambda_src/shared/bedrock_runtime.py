"""Calling Bedrock Runtime from the functions: one client factory, one retry policy, one answer reader.

botocore's own retries are off (a single attempt per call); callers retry the codes in
``RETRYABLE_ERROR_CODES`` with ``RetryPolicy`` (exponential backoff, full jitter), so throttling never turns
into a retry storm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Worth another try: the same request may succeed a moment later.
RETRYABLE_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalServerException",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "TooManyRequestsException",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: before retry n (0-based), sleep U(0, min(cap, base * 2**n))."""

    max_attempts: int = 6
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0

    def delay(self, retry_number: int, fraction: float) -> float:
        return fraction * min(self.max_delay_seconds, self.base_delay_seconds * 2**retry_number)


def bedrock_runtime_client() -> Any:
    """Bedrock Runtime with botocore's own retries off: the caller owns the retry policy."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=10, read_timeout=120),
    )


def answer_text(response: Mapping[str, Any]) -> str:
    """The text of a Converse response (text blocks joined by newlines)."""
    blocks = response.get("output", {}).get("message", {}).get("content", [])
    return "\n".join(block["text"] for block in blocks if isinstance(block.get("text"), str))
