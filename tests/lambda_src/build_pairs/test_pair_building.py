"""Building train/eval pairs: the join, the split by document, the eval corpus, and the failure cases."""

from __future__ import annotations

import pytest

from tests.support.lambdas import FakeLambdaContext

RUN_ID = "run-2024-01-01"


@pytest.fixture
def corpus_uri(artifacts) -> str:
    """Twelve documents ``d00`` … ``d11``."""
    uri = artifacts.run_uri(RUN_ID, "corpus/corpus.jsonl")
    artifacts.put_jsonl(uri, [{"id": f"d{n:02d}", "text": f"Passage {n}.", "metadata": {"n": n}} for n in range(12)])
    return uri


def put_queries(artifacts, part: str, queries: dict[str, list[str]]) -> None:
    lines = [{"doc_id": doc_id, "query": query} for doc_id, items in queries.items() for query in items]
    artifacts.put_jsonl(artifacts.run_uri(RUN_ID, f"queries/{part}"), lines)


def pairs_event(artifacts, corpus_uri: str, **extra) -> dict:
    return {
        "run_id": RUN_ID,
        "corpus_uri": corpus_uri,
        "queries_prefix": artifacts.run_uri(RUN_ID, "queries/"),
        "eval_fraction": 0.2,
        "seed": 42,
        **extra,
    }


def test_handler_joins_queries_with_passages_and_splits_by_document(pairs, artifacts, corpus_uri) -> None:
    # GIVEN two query parts covering ten of the twelve documents, two queries each
    put_queries(artifacts, "part-000000.jsonl", {f"d{n:02d}": [f"q1 for {n}", f"q2 for {n}"] for n in range(5)})
    put_queries(artifacts, "part-000005.jsonl", {f"d{n:02d}": [f"q1 for {n}", f"q2 for {n}"] for n in range(5, 10)})

    # WHEN the handler builds the pairs
    result = pairs.handler(pairs_event(artifacts, corpus_uri), FakeLambdaContext())

    # THEN 2 of the 10 documents (20 %) are in eval, with their queries, and 8 in train
    assert result == {
        "train_uri": artifacts.run_uri(RUN_ID, "pairs/train.jsonl"),
        "eval_uri": artifacts.run_uri(RUN_ID, "pairs/eval.jsonl"),
        "eval_corpus_uri": artifacts.run_uri(RUN_ID, "pairs/eval_corpus.jsonl"),
        "train_pairs": 16,
        "eval_pairs": 4,
        "train_documents": 8,
        "eval_documents": 2,
        "filtered": {"generic": 0, "copied": 0},
    }
    train, evaluation = artifacts.read_jsonl(result["train_uri"]), artifacts.read_jsonl(result["eval_uri"])
    for pair in train + evaluation:
        number = int(pair["doc_id"][1:])
        assert pair["passage"] == f"Passage {number}." and pair["query"] in (f"q1 for {number}", f"q2 for {number}")
    # AND no document is on both sides
    assert {pair["doc_id"] for pair in train}.isdisjoint({pair["doc_id"] for pair in evaluation})
    assert len({pair["doc_id"] for pair in train} | {pair["doc_id"] for pair in evaluation}) == 10
    # AND the eval corpus holds all twelve documents, those without queries too
    assert artifacts.read_jsonl(result["eval_corpus_uri"]) == [
        {"id": f"d{n:02d}", "text": f"Passage {n}."} for n in range(12)
    ]


def test_the_split_is_deterministic_and_depends_on_the_seed(pairs, artifacts, corpus_uri) -> None:
    # GIVEN queries for all twelve documents
    put_queries(artifacts, "part-000000.jsonl", {f"d{n:02d}": [f"query for {n}"] for n in range(12)})

    def eval_documents(seed: int) -> list[str]:
        result = pairs.building.build_pairs(pairs_event(artifacts, corpus_uri, seed=seed))
        return [pair["doc_id"] for pair in artifacts.read_jsonl(result["eval_uri"])]

    # WHEN the pairs are built twice with seed 42, then with other seeds
    first, again = eval_documents(42), eval_documents(42)
    others = {tuple(eval_documents(seed)) for seed in (1, 2, 3)}

    # THEN the same seed gives the same eval documents; other seeds give other ones
    assert first == again and len(first) == 2
    assert others != {tuple(first)}


def test_split_keeps_at_least_one_document_on_each_side(pairs) -> None:
    split = pairs.building.split_documents
    assert split(["a", "b"], 0.01, 42)[1] != [] and split(["a", "b"], 0.99, 42)[0] != []
    assert split(["only"], 0.5, 42) == (["only"], [])
    train, evaluation = split([f"d{n}" for n in range(100)], 0.2, 7)
    assert len(evaluation) == 20 and len(train) == 80 and set(train).isdisjoint(evaluation)


def test_unknown_documents_and_repeated_pairs_are_skipped(pairs, artifacts, corpus_uri) -> None:
    # GIVEN a repeated query, a query for a document not in the corpus, and two usable documents
    put_queries(
        artifacts,
        "part-000000.jsonl",
        {"d00": ["same query", "same query"], "zz": ["orphan query"], "d01": ["other query"]},
    )

    # WHEN the pairs are built
    result = pairs.building.build_pairs(pairs_event(artifacts, corpus_uri))

    # THEN each (document, query) pair appears once and the orphan is dropped
    assert result["train_pairs"] + result["eval_pairs"] == 2
    assert (result["train_documents"], result["eval_documents"]) == (1, 1)


def test_no_query_files_raises_no_training_pairs_error(pairs, artifacts, corpus_uri) -> None:
    with pytest.raises(Exception) as raised:
        pairs.handler(pairs_event(artifacts, corpus_uri), FakeLambdaContext())
    assert type(raised.value).__name__ == "NoTrainingPairsError"
    assert "no query files (*.jsonl) under s3://" in str(raised.value)
    assert artifacts.keys(f"runs/{RUN_ID}/pairs/") == []


def test_queries_matching_no_document_raise_no_training_pairs_error(pairs, artifacts, corpus_uri) -> None:
    put_queries(artifacts, "part-batch.jsonl", {"x1": ["a query"], "x2": ["another query"]})
    with pytest.raises(
        pairs.building.NoTrainingPairsError, match="none of the 2 queries under .* belongs to a document"
    ):
        pairs.building.build_pairs(pairs_event(artifacts, corpus_uri))
    assert artifacts.keys(f"runs/{RUN_ID}/pairs/") == []


def test_empty_query_files_raise_no_training_pairs_error(pairs, artifacts, corpus_uri) -> None:
    artifacts.put_bytes(artifacts.run_uri(RUN_ID, "queries/part-000000.jsonl"), b"")
    with pytest.raises(pairs.building.NoTrainingPairsError, match="hold no queries"):
        pairs.building.build_pairs(pairs_event(artifacts, corpus_uri))


def test_a_malformed_query_line_is_named_by_file_and_line(pairs, artifacts, corpus_uri) -> None:
    artifacts.put_bytes(
        artifacts.run_uri(RUN_ID, "queries/part-000000.jsonl"),
        b'{"doc_id": "d00", "query": "fine query"}\n{"doc_id": "d01"}\n',
    )
    with pytest.raises(
        pairs.storage.MalformedLineError, match=r"queries/part-000000\.jsonl line 2: expected a string 'doc_id'"
    ):
        pairs.building.build_pairs(pairs_event(artifacts, corpus_uri))
    assert artifacts.keys(f"runs/{RUN_ID}/pairs/") == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"eval_fraction": 0}, "eval_fraction: 0 must be a number between 0 and 1", id="fraction-zero"),
        pytest.param({"eval_fraction": "0.2"}, "eval_fraction: '0.2' must be a number", id="fraction-type"),
        pytest.param({"seed": 1.5}, "seed: 1.5 is not of type integer", id="seed"),
        pytest.param({"queries_prefix": "queries/"}, "queries_prefix: 'queries/' is not an S3 URI", id="prefix"),
        pytest.param({"run_id": ""}, "run_id: '' does not match", id="run-id"),
    ],
)
def test_bad_event_fields_are_named(pairs, artifacts, corpus_uri, overrides: dict, message: str) -> None:
    with pytest.raises(pairs.storage.InvalidEventError) as raised:
        pairs.building.build_pairs({**pairs_event(artifacts, corpus_uri), **overrides})
    assert message in str(raised.value)
