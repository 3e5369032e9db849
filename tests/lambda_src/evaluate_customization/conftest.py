"""Fixtures for the customization evaluator: moto S3 (artifacts), a fake Bedrock Runtime, the function's modules."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401
from tests.support.pipeline_artifacts import artifacts  # noqa: F401


@pytest.fixture
def evaluator(lambda_environment, monkeypatch) -> SimpleNamespace:  # noqa: F811
    """The function's handler and module; sleeping between retries is a no-op that records the delays."""
    handler = load_handler("evaluate_customization")
    from lambda_src.evaluate_customization import customization_evaluation

    delays: list[float] = []
    monkeypatch.setattr(customization_evaluation.time, "sleep", delays.append)
    return SimpleNamespace(handler=handler, evaluation=customization_evaluation, delays=delays)
