"""The one retry loop around Bedrock Runtime calls (lambda_src.shared.bedrock_runtime.with_retries), and why it is
not botocore's own retry mode."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.retries import standard

from lambda_src.shared.bedrock_runtime import RETRYABLE_ERROR_CODES, RetryPolicy, with_retries


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Converse")


class Flaky:
    """Raises the given errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


def test_retryable_codes_and_connection_errors_are_retried_with_jittered_backoff() -> None:
    call = Flaky(
        _error("ModelTimeoutException"),
        EndpointConnectionError(endpoint_url="https://x"),
        _error("ThrottlingException"),
    )
    slept, retried = [], []
    answer = with_retries(
        call,
        policy=RetryPolicy(max_attempts=4, base_delay_seconds=1, max_delay_seconds=3),
        sleep=slept.append,
        random_fraction=lambda: 0.5,
        on_retry=lambda code, attempt: retried.append((code, attempt)),
    )
    assert answer == "answer" and call.calls == 4
    assert slept == [0.5, 1.0, 1.5]  # U(0, min(3, 1 * 2**n)) at fraction 0.5
    assert retried == [("ModelTimeoutException", 1), ("EndpointConnectionError", 2), ("ThrottlingException", 3)]


def test_other_codes_are_raised_at_once_and_the_last_retryable_one_after_the_last_attempt() -> None:
    call = Flaky(_error("ValidationException"))
    with pytest.raises(ClientError, match="ValidationException"):
        with_retries(call, policy=RetryPolicy(max_attempts=5), sleep=lambda _: None)
    assert call.calls == 1
    call = Flaky(*[_error("ThrottlingException")] * 3)
    with pytest.raises(ClientError, match="ThrottlingException"):
        with_retries(call, policy=RetryPolicy(max_attempts=3), sleep=lambda _: None)
    assert call.calls == 3


def test_botocore_standard_retries_would_not_retry_a_model_timeout() -> None:
    """Why the loop is ours: ModelTimeoutException (HTTP 408) is neither a transient code or status of botocore's
    standard/adaptive mode nor marked retryable in its bedrock-runtime model. Should botocore change, this fails
    and the loop can go."""
    shape = botocore.session.get_session().get_service_model("bedrock-runtime").shape_for("ModelTimeoutException")
    assert shape.metadata["error"]["httpStatusCode"] == 408 and "retryable" not in shape.metadata
    assert "ModelTimeoutException" not in standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES
    assert 408 not in standard.TransientRetryableChecker._TRANSIENT_STATUS_CODES
    assert "ModelTimeoutException" in RETRYABLE_ERROR_CODES
