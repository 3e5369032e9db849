"""`modelsmith rag ingest|ask|serve`: bad arguments, missing index or model, the index's own model, Bedrock."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelsmith.cli_support import AppState
from modelsmith.rag.store import MANIFEST_FILE
from modelsmith_core.config import DEFAULT_AGENT_MODEL
from tests.support.bedrock import FakeBedrockRuntime

from .conftest import DOCUMENTS, invoke


class FakeSession:
    def __init__(self, **clients: Any) -> None:
        self.clients = clients

    def client(self, name: str, **kwargs: Any) -> Any:
        return self.clients[name]


# --- ingest ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chunk-size", "10"], "Invalid value for '--chunk-size'"),
        (
            ["--chunk-size", "200", "--overlap", "150"],
            "overlap 150 must be at least 0 and less than half the chunk size (100)",
        ),
        (["--batch-size", "0"], "Invalid value for '--batch-size'"),
    ],
)
def test_ingest_refuses_bad_chunking(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke(["rag", "ingest", str(DOCUMENTS), "--index", str(tmp_path / "index"), "--model", "minilm", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()).replace("│ ", "")
    assert not (tmp_path / "index").exists()


def test_ingest_needs_documents(tmp_path: Path) -> None:
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.7")
    result = invoke(["rag", "ingest", str(tmp_path / "notes.pdf"), "--index", str(tmp_path / "index")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'notes.pdf'}: unsupported file type .pdf")
    (tmp_path / "empty").mkdir()
    result = invoke(["rag", "ingest", str(tmp_path / "empty"), "--index", str(tmp_path / "index")])
    assert result.exit_code == 2 and "error: no .jsonl, .markdown, .md, .rst, .text, .txt files in" in result.stderr
    result = invoke(["rag", "ingest", str(tmp_path / "missing"), "--index", str(tmp_path / "index")])
    assert result.exit_code == 2 and f"{tmp_path / 'missing'}: no such file or directory" in result.stderr


def test_ingest_names_every_bad_line_and_keeps_the_previous_index(tmp_path: Path, rag_index: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(rag_index, index)
    before = (index / MANIFEST_FILE).read_text()
    corpus = tmp_path / "docs" / "corpus.jsonl"
    corpus.parent.mkdir()
    corpus.write_text('{"id": "a", "text": "fine"}\n{"id": "b"}\n{"id": "a", "text": "again"}\n')
    (tmp_path / "docs" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    result = invoke(["rag", "ingest", str(tmp_path / "docs"), "--index", str(index), "--model", "minilm"])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{corpus}:2: text: required field is missing",
        f"{corpus}:3: id: duplicate 'a' (first seen on line 1, which is kept)",
        f"{tmp_path / 'docs' / 'latin1.txt'}: not valid UTF-8 (byte 0xe9 at offset 3)",
    ]
    assert result.stderr.startswith("error: 3 problems in the documents; nothing indexed")
    assert (index / MANIFEST_FILE).read_text() == before


def test_ingest_with_a_missing_model_directory_says_how_to_make_one(tmp_path: Path) -> None:
    result = invoke(
        ["rag", "ingest", str(DOCUMENTS), "--index", str(tmp_path / "index"), "--model", str(tmp_path / "tuned")]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: no embedding model at {tmp_path / 'tuned'}"
    assert "python -m sagemaker_src.retrieval.train" in result.stderr
    assert not (tmp_path / "index").exists()


# --- ask -------------------------------------------------------------------------------------------------


def test_ask_without_an_index_says_to_ingest_first(tmp_path: Path) -> None:
    result = invoke(["rag", "ask", "Where is the VPN?", "--index", str(tmp_path / "nothing-here")])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: no index at {tmp_path / 'nothing-here'}",
        f"hint: run `modelsmith rag ingest DOCS --index {tmp_path / 'nothing-here'}` first (DOCS: a folder or files of your documents)",
    ]


def test_an_incomplete_index_says_to_ingest_again(tmp_path: Path, rag_index: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(rag_index, index)
    (index / "index.faiss").unlink()
    result = invoke(["rag", "ask", "Where is the VPN?", "--index", str(index), "--generator", "none"])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: the index at {index} is incomplete (missing index.faiss)\nhint: run `modelsmith rag ingest"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-k", "0"], "Invalid value for '-k' / '--top-k'"),
        (["-k", "21"], "Invalid value for '-k' / '--top-k'"),
        (["--max-new-tokens", "0"], "Invalid value for '--max-new-tokens'"),
        (["--generator", "openai"], "Invalid value for '--generator' / '-g'"),
        (["--precision", "int3"], "Invalid value for '--precision'"),
    ],
)
def test_ask_refuses_bad_arguments(rag_index: Path, args: list[str], message: str) -> None:
    result = invoke(["rag", "ask", "Where is the VPN?", "--index", str(rag_index), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_ask_refuses_an_empty_question_before_loading_anything(tmp_path: Path) -> None:
    result = invoke(["rag", "ask", "   ", "--index", str(tmp_path / "no-index")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: the question is empty\n")


def test_ask_refuses_another_embedding_model_than_the_index_was_built_with(rag_index: Path, tmp_path: Path) -> None:
    other = tmp_path / "tuned-model"
    other.mkdir()
    (other / "modules.json").write_text("[]")
    (other / "config.json").write_text("{}")
    result = invoke(
        ["rag", "ask", "Where is the VPN?", "--index", str(rag_index), "--model", str(other), "--generator", "none"]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: the index was built with minilm (384-d), not {other} (a model with other weights)",
        "hint: leave out --model to use the index's own model (or pass a copy of it), "
        "or re-run `modelsmith rag ingest` with the new model",
    ]


def test_an_index_moves_to_another_machine_with_a_copy_of_its_model(rag_index: Path, tmp_path: Path) -> None:
    """The manifest identifies a model by its files, not its path: a copy elsewhere (the GPU instance) is accepted,
    and a model directory missing on this machine is named with what to do."""
    from sagemaker_src.retrieval.modeling import packaged_minilm_path

    model = tmp_path / "on-my-laptop" / "embedding-model"
    shutil.copytree(packaged_minilm_path(), model)
    index = tmp_path / "index"
    built = invoke(
        ["rag", "ingest", str(DOCUMENTS / "handbook" / "vpn.md"), "--index", str(index), "--model", str(model)]
    )
    assert built.exit_code == 0, built.output
    copy = tmp_path / "on-the-instance" / "embedding-model"
    shutil.move(model, copy)
    question = ["rag", "ask", "Which UDP port?", "--index", str(index), "--generator", "none", "-k", "1"]
    result = invoke(question)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: the index's embedding model {model} is not on this machine"
    result = invoke([*question, "--model", str(copy)])
    assert result.exit_code == 0, result.output
    assert "vpn.md" in result.stdout


def test_ask_with_a_missing_local_model_says_how_to_make_one(rag_index: Path, tmp_path: Path) -> None:
    result = invoke(["rag", "ask", "Where is the VPN?", "--index", str(rag_index), "--llm", str(tmp_path / "merged")])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: no model at {tmp_path / 'merged'}"
    assert "python -m sagemaker_src.llm_lora convert-gguf --smollm2 DIR" in result.stderr
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    result = invoke(["rag", "ask", "Where is the VPN?", "--index", str(rag_index), "--llm", str(adapter)])
    assert result.exit_code == 1 and result.stderr.startswith(
        f"error: {adapter} holds a LoRA adapter, not a whole model"
    )


def test_ask_with_bedrock_answers_from_the_numbered_sources(rag_index: Path) -> None:
    runtime = FakeBedrockRuntime(lambda prompt: "Use UDP port 51820 [1].")
    state = AppState(session=FakeSession(**{"bedrock-runtime": runtime}), sleep=lambda seconds: None)
    result = invoke(
        [
            "rag",
            "ask",
            "Which UDP port does the VPN gateway listen on?",
            "--index",
            str(rag_index),
            "-k",
            "2",
            "--generator",
            "bedrock",
            "--llm",
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        ],
        state,
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Use UDP port 51820 [1]."
    assert lines[2] == "Sources:" and lines[3].startswith("[1] ") and lines[3].endswith("(cited)") and len(lines) == 5
    (call,) = runtime.calls
    assert call["modelId"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert call["inferenceConfig"] == {"maxTokens": 256, "temperature": 0.0}
    prompt = call["messages"][0]["content"][0]["text"]
    assert prompt.startswith("You answer questions using only the numbered sources")
    assert "\n\n[1] (" in prompt and "\n\n[2] (" in prompt and "\n\n[3] (" not in prompt
    assert prompt.endswith("Question: Which UDP port does the VPN gateway listen on?")


def test_ask_with_bedrock_defaults_to_the_environments_agent_model(rag_index: Path) -> None:
    runtime = FakeBedrockRuntime(lambda prompt: "I do not know.")
    state = AppState(session=FakeSession(**{"bedrock-runtime": runtime}), sleep=lambda seconds: None)
    result = invoke(
        ["rag", "ask", "Who won the 1998 world cup?", "--index", str(rag_index), "--generator", "bedrock"], state
    )
    assert result.exit_code == 0, result.output
    assert runtime.calls[0]["modelId"] == DEFAULT_AGENT_MODEL == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert "(cited)" not in result.stdout


# --- serve -----------------------------------------------------------------------------------------------


def test_serve_without_an_index_stops_before_listening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("the server must not start"))
    result = invoke(["rag", "serve", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "run `modelsmith rag ingest DOCS --index" in result.stderr


@pytest.mark.parametrize("port", ["0", "70000"])
def test_serve_refuses_a_bad_port(rag_index: Path, port: str) -> None:
    result = invoke(["rag", "serve", "--index", str(rag_index), "--port", port])
    assert result.exit_code == 2 and "Invalid value for '--port'" in result.output


def test_serve_runs_uvicorn_and_loads_the_models_in_the_background(
    rag_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda service, **kwargs: started.update(service=service, **kwargs))
    result = invoke(["rag", "serve", "--index", str(rag_index), "--generator", "none", "--port", "8181"])
    assert result.exit_code == 0, result.output
    assert (started["host"], started["port"]) == ("127.0.0.1", 8181)
    with TestClient(started["service"]) as client:  # runs the lifespan: loading starts
        deadline = time.monotonic() + 120
        while (health := client.get("/health")).status_code == 503 and time.monotonic() < deadline:
            assert health.json()["status"] == "loading"
            time.sleep(0.2)
        assert health.status_code == 200, health.json()
        assert health.json() | {"device": None} == {
            "status": "ok",
            "index_loaded": True,
            "model_loaded": True,
            "stage": "ready",
            "chunks": health.json()["chunks"],
            "embedding_model": "minilm",
            "llm": None,
            "device": None,
            "error": None,
        }
        answer = client.post("/ask", json={"question": "How often do passwords have to be changed?", "k": 2})
        assert answer.status_code == 200
        assert answer.json()["answer"] is None and len(answer.json()["sources"]) == 2
        assert json.dumps(answer.json()).count("rotated every 90 days") >= 1


def test_fp16_without_a_gpu_is_refused(rag_index: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: fp16 is allowed")
    result = invoke(
        ["rag", "ask", "Where is the VPN?", "--index", str(rag_index), "--generator", "none", "--precision", "fp16"]
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --precision fp16 needs a CUDA GPU and none is available",
        "hint: use --precision bf16 or fp32 on a CPU",
    ]
