"""Calling Bedrock Runtime from the functions: one client factory, one retry loop, one answer reader.

botocore's own retries are off (a single attempt per call); ``with_retries`` retries the codes in
``RETRYABLE_ERROR_CODES`` with ``RetryPolicy`` (exponential backoff, full jitter), so throttling never turns
into a retry storm. Not botocore's ``standard`` or ``adaptive`` mode: they retry throttling codes, HTTP 500/502/
503/504, three transient codes and errors the service model marks retryable (botocore/retries/standard.py), which
leaves out Bedrock Runtime's ``ModelTimeoutException`` (HTTP 408, not marked retryable in botocore's
bedrock-runtime model): a model that timed out once answers the same prompt a moment later.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

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


def with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    random_fraction: Callable[[], float] = random.random,
    on_retry: Callable[[str, int], None] | None = None,
) -> T:
    """``call()``, retried while it raises a retryable ``ClientError`` or a connection error (``BotoCoreError``:
    reset, read timeout), at most ``policy.max_attempts`` times; any other error, or the last one, is raised.
    ``on_retry(code, attempt)`` is told of each retry."""
    from botocore.exceptions import BotoCoreError, ClientError

    for attempt in range(1, policy.max_attempts + 1):
        try:
            return call()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code not in RETRYABLE_ERROR_CODES or attempt == policy.max_attempts:
                raise
        except BotoCoreError as error:
            if attempt == policy.max_attempts:
                raise
            code = type(error).__name__
        if on_retry is not None:
            on_retry(code, attempt)
        sleep(policy.delay(attempt - 1, random_fraction()))
    raise AssertionError("unreachable: the last attempt returns or raises")
