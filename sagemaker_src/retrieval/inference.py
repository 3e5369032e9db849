"""SageMaker inference handlers that turn texts into normalized embeddings with the fine-tuned bi-encoder.

The SageMaker Hugging Face inference toolkit imports ``code/inference.py`` from the model archive and calls
``model_fn(model_dir[, context])`` once, then ``input_fn`` -> ``predict_fn`` -> ``output_fn`` per request.
``train.py`` copies this file there (``package_inference_code``), so it must stay self-contained: the
standard library, numpy and sentence-transformers only, never ``sagemaker_src``.

Model archive (``model.tar.gz``, the training job's ``model_dir``)::

    model/                 the sentence-transformers model (modules.json, weights, tokenizer)
    code/inference.py      this file
    code/requirements.txt  the sentence-transformers version that saved the model
    metrics.json

Request (``Content-Type: application/json``)::

    {"inputs": ["first text", "second text"]}      or      {"inputs": "one text"}

At most ``MAX_INPUTS_PER_REQUEST`` (256) non-empty strings. Response (``Accept: application/json``)::

    {"embeddings": [[0.0123457, ...], ...], "dimension": 384}

one unit-length vector per input, in input order, so cosine similarity is a dot product. Values are rounded
to 7 decimal places (about float32 precision), which keeps a full request's response well inside SageMaker's
6 MB payload limit for common sizes (256 x 768 dimensions is about 2.5 MB). A bad request raises
``ValueError`` naming the field; the toolkit returns it to the caller as HTTP 400 with that message.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MAX_INPUTS_PER_REQUEST = 256
ENCODE_BATCH_SIZE = 32
DECIMALS = 7
JSON_CONTENT_TYPE = "application/json"
MODEL_SUBDIRECTORY = "model"
# A directory is a sentence-transformers model when it holds this file.
MODULES_FILE = "modules.json"


def find_model_directory(model_dir: str | Path) -> Path:
    """The sentence-transformers model inside ``model_dir``: ``model_dir/model/`` (what train.py writes) or
    ``model_dir`` itself."""
    root = Path(model_dir)
    for candidate in (root / MODEL_SUBDIRECTORY, root):
        if (candidate / MODULES_FILE).is_file():
            return candidate
    raise FileNotFoundError(
        f"model_dir: no sentence-transformers model ({MODULES_FILE}) in {root} or {root / MODEL_SUBDIRECTORY}"
    )


def model_fn(model_dir: str, context: Any = None) -> Any:
    """Load the fine-tuned model once per worker (on the GPU when there is one)."""
    from sentence_transformers import SentenceTransformer

    path = find_model_directory(model_dir)
    model = SentenceTransformer(str(path))
    model.eval()
    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    logger.info("loaded %s (dimension %s) on %s", path, dimension(), model.device)
    return model


def input_fn(request_body: str | bytes | bytearray, request_content_type: str | None) -> list[str]:
    """The texts of a request, checked: ``inputs`` is a non-empty string or a list of 1..256 of them."""
    media_type = (request_content_type or JSON_CONTENT_TYPE).split(";")[0].strip().lower()
    if media_type != JSON_CONTENT_TYPE:
        raise ValueError(f"Content-Type: expected {JSON_CONTENT_TYPE}, got {request_content_type!r}")
    if isinstance(request_body, (bytes, bytearray)):
        try:
            request_body = bytes(request_body).decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"body: not UTF-8 ({error})") from None
    try:
        payload = json.loads(request_body)
    except json.JSONDecodeError as error:
        raise ValueError(f"body: not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(payload, dict):
        raise ValueError(f'body: expected a JSON object like {{"inputs": ["text", ...]}}, got {_json_type(payload)}')
    if "inputs" not in payload:
        raise ValueError('inputs: required, e.g. {"inputs": ["text", ...]}')
    inputs = payload["inputs"]
    if isinstance(inputs, str):
        inputs = [inputs]
        single = True
    else:
        single = False
    if not isinstance(inputs, list):
        raise ValueError(f"inputs: expected a string or a list of strings, got {_json_type(inputs)}")
    if not inputs:
        raise ValueError("inputs: must not be empty")
    if len(inputs) > MAX_INPUTS_PER_REQUEST:
        raise ValueError(f"inputs: at most {MAX_INPUTS_PER_REQUEST} texts per request, got {len(inputs)}")
    for position, text in enumerate(inputs):
        field = "inputs" if single else f"inputs[{position}]"
        if not isinstance(text, str):
            raise ValueError(f"{field}: expected a string, got {_json_type(text)}")
        if not text.strip():
            raise ValueError(f"{field}: must not be empty or only whitespace")
    return inputs


def predict_fn(data: list[str], model: Any) -> Any:
    """Unit-length embeddings, one row per text (a float32 numpy array)."""
    import torch

    with torch.inference_mode():
        return model.encode(
            data,
            batch_size=ENCODE_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


def output_fn(prediction: Any, accept: str | None) -> str:
    """``{"embeddings": [[...]], "dimension": d}`` as JSON."""
    media_type = (accept or JSON_CONTENT_TYPE).split(";")[0].strip().lower()
    if media_type not in (JSON_CONTENT_TYPE, "*/*"):
        raise ValueError(f"Accept: only {JSON_CONTENT_TYPE} is supported, got {accept!r}")
    import numpy as np

    embeddings = np.asarray(prediction, dtype=np.float64)
    if embeddings.ndim == 1:
        embeddings = embeddings[np.newaxis, :]
    return json.dumps({"embeddings": np.round(embeddings, DECIMALS).tolist(), "dimension": int(embeddings.shape[1])})


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, (int, float)) else type(value).__name__
