"""The HTTP service: POST /ask answers with numbered sources; bad requests get 4xx with a message; /health."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from modelsmith.cli_support import CliError
from modelsmith.rag import MAX_K
from modelsmith.rag.engine import RagEngine
from modelsmith.rag.service import create_app

from .conftest import FakeGenerator


@pytest.fixture
def generator() -> FakeGenerator:
    return FakeGenerator()


@pytest.fixture
def client(retrieval_engine: RagEngine, generator: FakeGenerator):
    engine = RagEngine(
        index=retrieval_engine.index, embedder=retrieval_engine.embedder, generator=generator, stage="ready"
    )
    with TestClient(create_app(engine)) as test_client:
        yield test_client


def test_health_says_what_is_loaded(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["index_loaded"], body["model_loaded"]) == ("ok", True, True)
    assert (body["embedding_model"], body["llm"], body["device"]) == ("minilm", "fake-llm", "cpu, float32")
    assert body["chunks"] > 7


def test_ask_answers_with_numbered_sources(client: TestClient, generator: FakeGenerator) -> None:
    response = client.post("/ask", json={"question": "  Where do new employees pick up their laptop? ", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["question"] == "Where do new employees pick up their laptop?"
    assert body["answer"] == "According to the handbook, see [1]."
    assert [source["number"] for source in body["sources"]] == [1, 2, 3]
    assert [source["cited"] for source in body["sources"]] == [True, False, False]
    assert any("IT front desk on the third floor" in source["text"] for source in body["sources"])
    assert body["sources"][0]["chunk_id"].startswith(body["sources"][0]["source"] + "#")
    (messages,) = generator.prompts
    assert messages[0]["role"] == "system" and "Cite the sources" in messages[0]["content"]
    assert messages[1]["content"].endswith("Question: Where do new employees pick up their laptop?")


def test_sources_that_do_not_fit_the_context_are_dropped_least_similar_first(retrieval_engine: RagEngine) -> None:
    engine = RagEngine(
        index=retrieval_engine.index, embedder=retrieval_engine.embedder, generator=FakeGenerator(max_sources=2)
    )
    with TestClient(create_app(engine)) as client:
        body = client.post("/ask", json={"question": "How often do passwords have to be changed?", "k": 5}).json()
    assert [source["number"] for source in body["sources"]] == [1, 2]
    full = retrieval_engine.retrieve("How often do passwords have to be changed?", 5)
    assert [source["chunk_id"] for source in body["sources"]] == [hit.chunk.chunk_id for hit in full[:2]]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"question": ""}, "question: must not be empty"),
        ({"question": "   \n"}, "question: must not be empty"),
        ({}, "question: Field required"),
        ({"question": "Where?", "k": 0}, "k: Input should be greater than or equal to 1"),
        ({"question": "Where?", "k": MAX_K + 1}, f"k: Input should be less than or equal to {MAX_K}"),
        (
            {"question": "Where?", "k": "three"},
            "k: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            {"question": "Where?", "max_new_tokens": 100_000},
            "max_new_tokens: Input should be less than or equal to 2048",
        ),
        ({"question": "x" * 2001}, "question: String should have at most 2000 characters"),
        ({"question": "Where?", "temperature": 2}, "temperature: Extra inputs are not permitted"),
        ({"question": 42}, "question: Input should be a valid string"),
    ],
)
def test_bad_requests_get_422_with_a_message(
    client: TestClient, generator: FakeGenerator, payload: dict, error: str
) -> None:
    response = client.post("/ask", json=payload)
    assert response.status_code == 422
    assert response.json()["error"] == error
    assert response.json()["problems"] == [error]
    assert generator.prompts == []


def test_a_body_that_is_not_json_gets_422(client: TestClient) -> None:
    response = client.post("/ask", content=b"question=hello", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "body: not valid JSON (Expecting value)"


def test_wrong_methods_and_paths_are_4xx(client: TestClient) -> None:
    assert client.get("/ask").status_code == 405
    assert client.post("/answer", json={"question": "x"}).status_code == 404


def test_while_loading_health_and_ask_say_503() -> None:
    release = threading.Event()
    engine = RagEngine()
    with TestClient(create_app(engine, load=lambda loading: release.wait(30))) as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "loading" and health.json()["index_loaded"] is False
        response = client.post("/ask", json={"question": "Where?"})
        assert response.status_code == 503 and response.json()["error"].startswith("not ready yet")
        release.set()


def test_a_failed_load_is_reported_by_health(tmp_path) -> None:
    def load(engine: RagEngine) -> None:
        raise CliError(f"no index at {tmp_path}", "run `modelsmith rag ingest` first")

    engine = RagEngine()
    with TestClient(create_app(engine, load=load)) as client:
        for _ in range(100):
            if engine.error:
                break
            threading.Event().wait(0.05)
        health = client.get("/health").json()
        assert health["status"] == "error"
        assert health["error"] == f"no index at {tmp_path} (run `modelsmith rag ingest` first)"
        assert client.post("/ask", json={"question": "Where?"}).json()["error"].startswith("not ready: no index at")
