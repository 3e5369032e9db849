"""Run the real Lambda handlers in-process, alone or behind moto's Lambda service (no Docker needed)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-west-2:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_handler(source: str) -> Handler:
    """``lambda_src.<source>.handler.lambda_handler``, the function's handler as Lambda imports it, with the
    handler module imported afresh (module-level objects such as Powertools' logger start anew each test)."""
    return importlib.reload(importlib.import_module(f"lambda_src.{source}.handler")).lambda_handler


@pytest.fixture
def lambda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Powertools settings for in-process handlers: no X-Ray daemon, quiet logs."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")


class InProcessLambdas:
    """Routes moto's Lambda Invoke to Python handlers, returning errors the way Lambda does.

    A handler exception becomes ``FunctionError: Unhandled`` with ``{"errorType", "errorMessage"}``, which
    Step Functions turns into an error named after the exception class.
    """

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.invocations: list[tuple[str, Any]] = []

    def register(self, function_name: str, handler: Handler) -> None:
        self.handlers[function_name] = handler

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.awslambda.models import LambdaFunction

        router = self

        def invoke(function: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
            event = json.loads(body) if body else {}
            router.invocations.append((function.function_name, event))
            handler = router.handlers[function.function_name]
            try:
                result = handler(event, FakeLambdaContext(function_name=function.function_name))
            except Exception as error:  # noqa: BLE001 - reported to the caller exactly as Lambda would
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
            return json.dumps(result).encode()

        monkeypatch.setattr(LambdaFunction, "invoke", invoke)


def iter_payload_sizes(history: list[dict[str, Any]]) -> Iterator[int]:
    """Sizes (bytes) of every state input and output in an execution history."""
    for event in history:
        for details in event.values():
            if isinstance(details, dict):
                for key in ("input", "output"):
                    if isinstance(details.get(key), str):
                        yield len(details[key].encode())


def largest_payloads(history: list[dict[str, Any]], count: int = 3) -> list[tuple[int, str, str]]:
    """The ``count`` largest state inputs/outputs as (bytes, event type, key), for diagnosing payload growth."""
    sizes = []
    for event in history:
        for details in event.values():
            if isinstance(details, dict):
                for key in ("input", "output", "parameters"):
                    if isinstance(details.get(key), str):
                        sizes.append((len(details[key].encode()), event["type"], key))
    return sorted(sizes, reverse=True)[:count]
