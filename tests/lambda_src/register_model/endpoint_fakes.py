"""Stand-ins at the SageMaker edge for the registration tests: an endpoint that runs inference.py in-process,
and a model of any dimension that embeds texts by hashing them (fast, deterministic, unit length)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

ENDPOINT_NAME = "handbook-minilm-run-1"
MINILM_DIMENSION = 384


class HashModel:
    """A stand-in for the sentence-transformers model: a deterministic unit vector per text, any dimension."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def encode(self, texts: list[str], **_options: Any) -> np.ndarray:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
            row = np.random.default_rng(seed).standard_normal(self.dimension)
            rows.append(row / np.linalg.norm(row))
        return np.array(rows, dtype=np.float32)


class InProcessEndpoint:
    """``sagemaker-runtime``'s ``invoke_endpoint`` for one endpoint, answered by inference.py's handlers.

    Unknown endpoints get SageMaker's ValidationError; a request the handlers refuse gets ModelError with
    their message, as the real endpoint answers a 4xx from the container.
    """

    def __init__(self, model: Any, endpoint_name: str = ENDPOINT_NAME) -> None:
        from sagemaker_src.retrieval import inference

        self.inference, self.model, self.endpoint_name = inference, model, endpoint_name
        self.calls: list[int] = []

    def invoke_endpoint(self, *, EndpointName: str, Body: bytes, ContentType: str, Accept: str) -> dict[str, Any]:  # noqa: N803
        if EndpointName != self.endpoint_name:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Endpoint {EndpointName} of account 123456789012 not found.",
                    }
                },
                "InvokeEndpoint",
            )
        try:
            texts = self.inference.input_fn(Body, ContentType)
            answer = self.inference.output_fn(self.inference.predict_fn(texts, self.model), Accept)
        except ValueError as error:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ModelError",
                        "Message": f'Received client error (400) from primary with message "{error}"',
                    }
                },
                "InvokeEndpoint",
            ) from error
        self.calls.append(len(texts))
        return {"Body": io.BytesIO(answer.encode()), "ContentType": "application/json"}
