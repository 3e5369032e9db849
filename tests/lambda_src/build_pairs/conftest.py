"""Fixtures for the pair builder: moto S3 (artifacts) and the function's modules."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401
from tests.support.pipeline_artifacts import artifacts  # noqa: F401


@pytest.fixture
def pairs(lambda_environment) -> SimpleNamespace:  # noqa: F811
    """The function's handler and plain modules, imported the way the Lambda runtime imports them."""
    handler = load_handler("build_pairs")
    from lambda_src.build_pairs import pair_building
    from lambda_src.shared import run_storage

    return SimpleNamespace(handler=handler, building=pair_building, storage=run_storage)
