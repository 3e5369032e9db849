"""Embed texts through the run's SageMaker endpoint (``sagemaker_src/retrieval/inference.py``'s contract).

Request ``{"inputs": [texts]}``, answer ``{"embeddings": [[...]], "dimension": d}``. Batches stay inside the
endpoint's limits: at most 64 texts (the handler accepts 256), fewer for wide embeddings so an answer stays
near 4.5 MB of SageMaker's 6 MB payload limit, and at most ~4 MB of request body. Each text is cut to
``MAX_TEXT_CHARACTERS`` first: the model reads at most a few hundred tokens of it anyway.

Every answer is checked (one vector per text, each ``expected_dimension`` numbers), so a wrong endpoint or a
model of another size stops the registration before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

MAX_TEXTS_PER_REQUEST = 64
MAX_REQUEST_BYTES = 4_000_000
MAX_RESPONSE_BYTES = 4_500_000
BYTES_PER_VALUE = 12  # "-0.0123457, " in the handler's JSON
MAX_TEXT_CHARACTERS = 8_192


class EndpointError(RuntimeError):
    """The endpoint refused a batch or answered something that is not the embeddings contract."""


def texts_per_request(dimension: int) -> int:
    return max(1, min(MAX_TEXTS_PER_REQUEST, MAX_RESPONSE_BYTES // (dimension * BYTES_PER_VALUE)))


class EndpointEmbedder:
    """``embed(texts)`` through ``sagemaker-runtime`` ``InvokeEndpoint``; the client is passed in."""

    def __init__(self, runtime_client: Any, endpoint_name: str, expected_dimension: int) -> None:
        self.runtime, self.endpoint_name, self.dimension = runtime_client, endpoint_name, expected_dimension
        self.batch_size = texts_per_request(expected_dimension)
        self.requests = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, in as many requests as the limits need."""
        vectors: list[list[float]] = []
        for chunk in self._chunks([text[:MAX_TEXT_CHARACTERS] for text in texts]):
            vectors.extend(self._invoke(chunk))
        return vectors

    def _chunks(self, texts: list[str]) -> Iterator[list[str]]:
        chunk: list[str] = []
        size = 0
        for text in texts:
            text_bytes = len(json.dumps(text)) + 2
            if chunk and (len(chunk) == self.batch_size or size + text_bytes > MAX_REQUEST_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk.append(text)
            size += text_bytes
        if chunk:
            yield chunk

    def _invoke(self, texts: list[str]) -> list[list[float]]:
        self.requests += 1
        try:
            response = self.runtime.invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps({"inputs": texts}).encode("utf-8"),
            )
        except ClientError as error:
            details = error.response.get("Error", {})
            raise EndpointError(
                f"endpoint_name: SageMaker endpoint {self.endpoint_name} refused a batch of {len(texts)} texts "
                f"({details.get('Code')}: {details.get('Message')})"
            ) from error
        raw = response["Body"].read()
        try:
            answer = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise EndpointError(f"endpoint_name: {self.endpoint_name} did not answer JSON: {raw[:200]!r}") from None
        embeddings = answer.get("embeddings") if isinstance(answer, dict) else None
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            raise EndpointError(
                f"endpoint_name: {self.endpoint_name} answered {len(embeddings) if isinstance(embeddings, list) else 'no'} "
                f'embeddings for {len(texts)} texts; expected {{"embeddings": [[...], ...], "dimension": d}}'
            )
        for vector in embeddings:
            if not isinstance(vector, list) or len(vector) != self.dimension:
                width = len(vector) if isinstance(vector, list) else type(vector).__name__
                raise EndpointError(
                    f"embedding_dimension: {self.endpoint_name} returns {width}-dimensional embeddings, "
                    f"not {self.dimension}"
                )
        return embeddings
