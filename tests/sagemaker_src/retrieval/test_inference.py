"""The SageMaker inference handlers, run in-process on the packaged all-MiniLM-L6-v2 as the toolkit runs them.

The toolkit calls ``model_fn(model_dir)`` once, then ``input_fn`` -> ``predict_fn`` -> ``output_fn`` per
request, with the body decoded to ``str`` for JSON; a ``ValueError`` becomes HTTP 400 with its message.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sagemaker_src.retrieval import inference
from sagemaker_src.retrieval.train import EXIT_OK, main, package_inference_code

MINILM_DIMENSION = 384


@pytest.fixture(scope="module")
def model(minilm_path: Path) -> Any:
    return inference.model_fn(str(minilm_path))


def invoke(
    model: Any, body: str | bytes, content_type: str = "application/json", accept: str = "application/json"
) -> dict:
    """One request through the four handlers, the way the toolkit chains them."""
    data = inference.input_fn(body, content_type)
    return json.loads(inference.output_fn(inference.predict_fn(data, model), accept))


def test_a_request_returns_one_unit_length_embedding_per_input_in_order(model) -> None:
    # GIVEN three texts, two of them about the same thing
    texts = ["How do I reset my password?", "Steps to change a forgotten password", "The Andromeda galaxy is far away"]

    # WHEN they are embedded in one request
    response = invoke(model, json.dumps({"inputs": texts}))

    # THEN there is one 384-d unit vector per text, and the related pair is closer than the unrelated one
    embeddings = np.array(response["embeddings"])
    assert response["dimension"] == MINILM_DIMENSION and embeddings.shape == (3, MINILM_DIMENSION)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert embeddings[0] @ embeddings[1] > embeddings[0] @ embeddings[2] + 0.2
    # AND each row is the text's own embedding, whatever else is in the request
    alone = np.array(invoke(model, json.dumps({"inputs": [texts[2]]}))["embeddings"][0])
    assert np.allclose(alone, embeddings[2], atol=1e-5)


def test_a_single_string_bytes_and_a_charset_are_accepted(model) -> None:
    response = invoke(
        model, json.dumps({"inputs": "one text"}).encode(), content_type="application/json; charset=utf-8"
    )

    assert len(response["embeddings"]) == 1 and len(response["embeddings"][0]) == MINILM_DIMENSION


def test_values_are_rounded_to_seven_decimals_to_keep_responses_small(model) -> None:
    body = inference.output_fn(inference.predict_fn(["a text"], model), "application/json")

    values = json.loads(body)["embeddings"][0]
    assert all(round(value, 7) == value for value in values)
    assert len(body) < MINILM_DIMENSION * 13


def test_the_model_is_found_in_the_model_subdirectory_train_writes(minilm_path: Path, tmp_path: Path) -> None:
    # GIVEN a model.tar.gz layout: model/ beside code/ and metrics.json
    (tmp_path / "model").symlink_to(minilm_path, target_is_directory=True)
    (tmp_path / "metrics.json").write_text("{}")

    # THEN the handlers find the model below the archive root
    assert inference.find_model_directory(tmp_path) == tmp_path / "model"
    assert inference.find_model_directory(minilm_path) == minilm_path


def test_a_directory_without_a_model_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model_dir: no sentence-transformers model"):
        inference.find_model_directory(tmp_path)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("not json", "application/json", "body: not valid JSON"),
        (b"\xff\xfe", "application/json", "body: not UTF-8"),
        ('["a", "b"]', "application/json", "body: expected a JSON object"),
        ('{"texts": ["a"]}', "application/json", "inputs: required"),
        ('{"inputs": []}', "application/json", "inputs: must not be empty"),
        ('{"inputs": 5}', "application/json", "inputs: expected a string or a list of strings, got a number"),
        ('{"inputs": ["ok", 7]}', "application/json", r"inputs\[1\]: expected a string, got a number"),
        ('{"inputs": ["ok", null]}', "application/json", r"inputs\[1\]: expected a string, got null"),
        ('{"inputs": ["ok", "   "]}', "application/json", r"inputs\[1\]: must not be empty"),
        ('{"inputs": ""}', "application/json", "inputs: must not be empty"),
        (json.dumps({"inputs": ["t"] * 257}), "application/json", "inputs: at most 256 texts per request, got 257"),
        ('{"inputs": ["a"]}', "text/csv", "Content-Type: expected application/json"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(body: str | bytes, content_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inference.input_fn(body, content_type)


def test_the_largest_request_is_accepted() -> None:
    assert (
        len(inference.input_fn(json.dumps({"inputs": ["t"] * inference.MAX_INPUTS_PER_REQUEST}), "application/json"))
        == 256
    )


def test_only_json_responses_are_offered() -> None:
    with pytest.raises(ValueError, match="Accept: only application/json"):
        inference.output_fn(np.zeros((1, 3)), "text/csv")


def test_inference_module_imports_only_the_standard_library_numpy_torch_and_sentence_transformers() -> None:
    tree = ast.parse(Path(inference.__file__).read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }

    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]

    assert not relative, "relative imports would not work from code/ in model.tar.gz"
    assert imported - set(sys.stdlib_module_names) <= {"numpy", "torch", "sentence_transformers"}


def test_packaged_code_is_a_copy_that_runs_outside_the_repository(tmp_path: Path) -> None:
    # WHEN train.py's packaging step runs
    code_dir = package_inference_code(tmp_path)

    # THEN code/ holds this module and the sentence-transformers pin the model was saved with
    assert (code_dir / "inference.py").read_bytes() == Path(inference.__file__).read_bytes()
    from importlib.metadata import version

    assert (code_dir / "requirements.txt").read_text() == f"sentence-transformers=={version('sentence-transformers')}\n"
    # AND the copy imports and parses a request in a fresh interpreter that cannot see the repository
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import inference; "
        "assert not any(name.startswith('sagemaker_src') for name in sys.modules); "
        "print(json.dumps(inference.input_fn('{\"inputs\": \"x\"}', 'application/json')))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, str(code_dir)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["x"]


@pytest.mark.slow
def test_a_trained_model_directory_serves_embeddings_through_its_own_code(
    retrieval_data_dir: Path, tmp_path: Path
) -> None:
    # GIVEN a short real training run
    code = main(
        [
            "--model_name_or_path",
            "minilm",
            "--train_dir",
            str(retrieval_data_dir),
            "--eval_dir",
            str(retrieval_data_dir),
            "--model_dir",
            str(tmp_path / "model"),
            "--output_data_dir",
            str(tmp_path / "output"),
            "--no_dropout",
            "--max_seq_length",
            "64",
            "--batch_size",
            "16",
            "--max_steps",
            "2",
        ]
    )
    assert code == EXIT_OK

    # WHEN the handlers from the model directory's code/ load it, as the endpoint would
    sys.path.insert(0, str(tmp_path / "model" / "code"))
    try:
        import importlib

        served = importlib.import_module("inference")
        served = importlib.reload(served)
        model = served.model_fn(str(tmp_path / "model"))
        response = json.loads(
            served.output_fn(
                served.predict_fn(served.input_fn('{"inputs": ["a", "b"]}', "application/json"), model),
                "application/json",
            )
        )
    finally:
        sys.path.remove(str(tmp_path / "model" / "code"))
        sys.modules.pop("inference", None)

    # THEN it returns normalized embeddings of the fine-tuned model's size
    assert response["dimension"] == MINILM_DIMENSION and len(response["embeddings"]) == 2
    assert np.allclose(np.linalg.norm(np.array(response["embeddings"]), axis=1), 1.0, atol=1e-5)
    # AND the run report sits beside metrics.json
    assert (tmp_path / "output" / "report.md").is_file() and (tmp_path / "output" / "metrics.png").is_file()
    assert json.loads((tmp_path / "output" / "metrics.json").read_text())["outputs"]["inference_code"] == "code"
