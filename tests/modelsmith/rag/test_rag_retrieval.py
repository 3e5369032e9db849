"""Ingest, then retrieve: the chunk holding each question's answer is among the top k, and the index on disk
is what the manifest says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelsmith.rag.store import CHUNKS_FILE, INDEX_FILE, MANIFEST_FILE

from .conftest import QUESTIONS, TOP_K, invoke


@pytest.mark.parametrize(("question", "answer"), QUESTIONS, ids=[answer for _, answer in QUESTIONS])
def test_the_answer_chunk_is_in_the_top_k(retrieval_engine, question: str, answer: str) -> None:
    hits = retrieval_engine.retrieve(question, TOP_K)
    assert len(hits) == TOP_K
    assert [hit.rank for hit in hits] == [1, 2, 3]
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert any(answer in hit.chunk.text for hit in hits), [hit.chunk.chunk_id for hit in hits]


def test_ask_without_a_generator_lists_the_retrieved_chunks(rag_index: Path) -> None:
    result = invoke(
        [
            "rag",
            "ask",
            "Which UDP port does the VPN gateway listen on?",
            "--index",
            str(rag_index),
            "--generator",
            "none",
            "-k",
            "2",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["answer"] is None
    assert [source["number"] for source in payload["sources"]] == [1, 2]
    assert any("UDP port 51820" in source["text"] for source in payload["sources"])
    assert payload["sources"][0]["source"].endswith("handbook/vpn.md")


def test_ask_prints_sources_for_people(rag_index: Path) -> None:
    result = invoke(
        [
            "rag",
            "ask",
            "How far away is the Andromeda galaxy?",
            "--index",
            str(rag_index),
            "--generator",
            "none",
            "-k",
            "1",
        ]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Sources:"
    assert (
        lines[1].startswith("[1] ")
        and "astronomy.jsonl:andromeda, characters 0-" in lines[1]
        and ", score 0." in lines[1]
    )
    assert "2.5 million light-years" in lines[2]


def test_the_index_directory_holds_vectors_chunks_and_manifest(rag_index: Path) -> None:
    manifest = json.loads((rag_index / MANIFEST_FILE).read_text())
    chunks = [json.loads(line) for line in (rag_index / CHUNKS_FILE).read_text().splitlines()]
    assert (rag_index / INDEX_FILE).stat().st_size > 0
    assert manifest["embedding_model"] == "minilm" and manifest["dimension"] == 384
    assert (manifest["chunk_size"], manifest["chunk_overlap"]) == (500, 100)
    assert manifest["documents"] == 7 and manifest["chunks"] == len(chunks)
    assert all(len(chunk["text"]) <= 500 for chunk in chunks)
    assert {chunk["source"].split("documents/")[1] for chunk in chunks} >= {
        "handbook/vpn.md",
        "handbook/facilities.rst",
        "astronomy.jsonl:andromeda",
    }
    assert sorted(path.name for path in rag_index.iterdir()) == sorted([CHUNKS_FILE, INDEX_FILE, MANIFEST_FILE])
