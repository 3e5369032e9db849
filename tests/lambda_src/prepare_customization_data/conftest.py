"""Fixtures for the customization data preparer: moto S3 (artifacts) and the function's modules."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401
from tests.support.pipeline_artifacts import artifacts  # noqa: F401


@pytest.fixture
def preparer(lambda_environment) -> SimpleNamespace:  # noqa: F811
    """The function's handler, its module and the shared library, imported the way the Lambda runtime does."""
    handler = load_handler("prepare_customization_data")
    from lambda_src.prepare_customization_data import customization_preparation
    from lambda_src.shared import customization_data

    return SimpleNamespace(handler=handler, preparation=customization_preparation, data=customization_data)
