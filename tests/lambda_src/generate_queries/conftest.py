"""Fixtures for the query generator: moto S3 (artifacts), Bedrock Runtime behind botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber

from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401
from tests.support.pipeline_artifacts import REGION, artifacts  # noqa: F401


@pytest.fixture
def generator(lambda_environment) -> SimpleNamespace:  # noqa: F811
    """The function's handler and plain modules, imported the way the Lambda runtime imports them."""
    handler = load_handler("generate_queries")
    from lambda_src.generate_queries import (
        batch_records,
        generation_plan,
        query_generation,
        query_parsing,
        query_prompts,
    )
    from lambda_src.shared import run_storage

    return SimpleNamespace(
        handler=handler,
        plan=generation_plan,
        generation=query_generation,
        parsing=query_parsing,
        prompts=query_prompts,
        batch=batch_records,
        storage=run_storage,
    )


@pytest.fixture
def bedrock() -> Iterator[tuple[object, Stubber]]:
    """A real Bedrock Runtime client whose Converse answers come from a Stubber (moto has no Converse)."""
    client = boto3.client(
        "bedrock-runtime", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
