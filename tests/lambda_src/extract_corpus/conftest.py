"""Fixtures for the corpus extractor: moto S3 (artifacts), the local OpenSearch stand-in, the modules."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401
from tests.support.opensearch_server import OpenSearchServer
from tests.support.pipeline_artifacts import artifacts  # noqa: F401


@pytest.fixture
def extractor(lambda_environment) -> SimpleNamespace:  # noqa: F811
    """The function's handler and plain modules, imported the way the Lambda runtime imports them."""
    handler = load_handler("extract_corpus")
    from lambda_src.extract_corpus import corpus_extraction, opensearch_source
    from lambda_src.shared import run_storage

    return SimpleNamespace(
        handler=handler, extraction=corpus_extraction, storage=run_storage, opensearch=opensearch_source
    )


@pytest.fixture
def opensearch() -> Iterator[OpenSearchServer]:
    """A started OpenSearch stand-in on 127.0.0.1 (version 3.3.0, 2 shards, no auth); stopped afterwards."""
    server = OpenSearchServer().start()
    try:
        yield server
    finally:
        server.stop()
