"""Corpus extraction from an S3 JSONL object: validation per line, de-duplication, sampling, empty corpus."""

from __future__ import annotations

import json
import random
import re

import pytest

from tests.support.lambdas import FakeLambdaContext

RUN_ID = "run-2024-01-01"
SOURCE_URI = "s3://modelsmith-test-source/corpora/docs.jsonl"


def s3_event(**overrides) -> dict:
    source = {"input_type": "s3", "s3_corpus_path": SOURCE_URI, "max_documents": 5000, "sample_seed": 42}
    return {"run_id": RUN_ID, "input": {**source, **overrides}}


def test_handler_writes_valid_lines_with_metadata_and_an_empty_rejects_file(extractor, artifacts) -> None:
    # GIVEN a clean corpus, one line with extra fields
    artifacts.put_jsonl(
        SOURCE_URI,
        [
            {"id": "a", "text": "Alpha document."},
            {"id": "b", "text": "Beta document.", "title": "Beta", "tags": ["x"]},
            {"id": "c", "text": "Gamma document.", "metadata": {"source": "wiki"}},
        ],
    )

    # WHEN the handler runs as Lambda would call it
    result = extractor.handler(s3_event(), FakeLambdaContext())

    # THEN every document is kept, in order, with extra fields as metadata
    assert result == {
        "corpus_uri": artifacts.run_uri(RUN_ID, "corpus/corpus.jsonl"),
        "rejects_uri": artifacts.run_uri(RUN_ID, "corpus/rejects.jsonl"),
        "documents": 3,
        "rejected": 0,
        "duplicates": 0,
        "source": "s3",
    }
    assert artifacts.read_jsonl(result["corpus_uri"]) == [
        {"id": "a", "text": "Alpha document.", "metadata": {}},
        {"id": "b", "text": "Beta document.", "metadata": {"title": "Beta", "tags": ["x"]}},
        {"id": "c", "text": "Gamma document.", "metadata": {"source": "wiki"}},
    ]
    assert artifacts.read_bytes(result["rejects_uri"]) == b""
    assert len(json.dumps(result)) < 1024, "states pass small JSON only"


BAD_LINES = [
    pytest.param(b'{"id": "x", "text": ', "not valid JSON", id="bad-json"),
    pytest.param(b'{"text": "no id here"}', "id: required field is missing", id="missing-id"),
    pytest.param(b'{"id": "x", "text": "   "}', "text: must not be empty", id="empty-text"),
    pytest.param(b'{"id": 17, "text": "numeric id"}', "id: expected a string, got number 17", id="non-string-id"),
    pytest.param(b'{"id": "", "text": "blank id"}', "id: must not be empty", id="empty-id"),
    pytest.param(b'{"id": "x"}', "text: required field is missing", id="missing-text"),
    pytest.param(b'["id", "text"]', "expected a JSON object, got array", id="not-an-object"),
    pytest.param(b'{"id": "x", "text": "caf\xe9"}', "not valid UTF-8 (byte 0xe9 at offset 24)", id="non-utf8"),
]


@pytest.mark.parametrize(("bad_line", "reason"), BAD_LINES)
def test_a_bad_line_is_rejected_with_its_line_number_and_reason(
    extractor, artifacts, bad_line: bytes, reason: str
) -> None:
    # GIVEN a good line, the bad line on line 2, and another good line
    good = [
        json.dumps({"id": "g1", "text": "good one"}).encode(),
        json.dumps({"id": "g2", "text": "good two"}).encode(),
    ]
    artifacts.put_bytes(SOURCE_URI, b"\n".join([good[0], bad_line, good[1]]) + b"\n")

    # WHEN the corpus is extracted
    result = extractor.extraction.extract_corpus(s3_event())

    # THEN only the bad line is rejected, with its number, a reason naming the problem and an excerpt
    assert (result["documents"], result["rejected"], result["duplicates"]) == (2, 1, 0)
    [reject] = artifacts.read_jsonl(result["rejects_uri"])
    assert reject["line"] == 2
    assert reason in reject["reason"]
    assert reject["raw"] == bad_line.decode("utf-8", errors="replace")[:200]
    assert [doc["id"] for doc in artifacts.read_jsonl(result["corpus_uri"])] == ["g1", "g2"]


def test_raw_excerpt_of_a_rejected_line_is_capped_at_200_characters(extractor, artifacts) -> None:
    # GIVEN a long line that is not JSON
    artifacts.put_bytes(SOURCE_URI, b'{"id": "ok", "text": "fine"}\n' + b"x" * 5000 + b"\n")

    # WHEN the corpus is extracted
    result = extractor.extraction.extract_corpus(s3_event())

    # THEN the reject keeps only the first 200 characters
    [reject] = artifacts.read_jsonl(result["rejects_uri"])
    assert reject["line"] == 2 and reject["raw"] == "x" * 200


def test_duplicate_ids_keep_the_first_line_and_are_counted(extractor, artifacts) -> None:
    # GIVEN id "a" on lines 1 and 3 and id "b" on lines 2 and 4
    artifacts.put_jsonl(
        SOURCE_URI,
        [
            {"id": "a", "text": "first a"},
            {"id": "b", "text": "first b"},
            {"id": "a", "text": "second a"},
            {"id": "b", "text": "second b"},
        ],
    )

    # WHEN the corpus is extracted
    result = extractor.extraction.extract_corpus(s3_event())

    # THEN the first occurrences win and the repeats are listed with the line they repeat
    assert (result["documents"], result["rejected"], result["duplicates"]) == (2, 0, 2)
    assert [(doc["id"], doc["text"]) for doc in artifacts.read_jsonl(result["corpus_uri"])] == [
        ("a", "first a"),
        ("b", "first b"),
    ]
    rejects = artifacts.read_jsonl(result["rejects_uri"])
    assert [(reject["line"], reject["reason"]) for reject in rejects] == [
        (3, "id: duplicate 'a' (first seen on line 1, which is kept)"),
        (4, "id: duplicate 'b' (first seen on line 2, which is kept)"),
    ]


def test_blank_lines_crlf_and_chunk_boundaries_do_not_change_the_result(extractor, artifacts, monkeypatch) -> None:
    # GIVEN CRLF line endings, blank lines, a byte-order mark, and reads of 7 bytes at a time
    monkeypatch.setattr(extractor.storage, "READ_CHUNK_BYTES", 7)
    lines = ['\ufeff{"id": "a", "text": "Alpha"}', "", '{"id": "b", "text": "Beta – ünïcode"}', "   ", "{bad"]
    artifacts.put_bytes(SOURCE_URI, "\r\n".join(lines).encode("utf-8"))

    # WHEN the corpus is extracted
    result = extractor.extraction.extract_corpus(s3_event())

    # THEN line numbers count every physical line and the text survives intact
    assert [doc["text"] for doc in artifacts.read_jsonl(result["corpus_uri"])] == ["Alpha", "Beta – ünïcode"]
    assert [reject["line"] for reject in artifacts.read_jsonl(result["rejects_uri"])] == [5]


def _corpus_ids(artifacts, result) -> list[str]:
    return [doc["id"] for doc in artifacts.read_jsonl(result["corpus_uri"])]


def test_sampling_is_deterministic_for_a_seed_whatever_the_line_order(extractor, artifacts) -> None:
    # GIVEN 60 documents and room for 10
    records = [{"id": f"doc-{number:03d}", "text": f"text {number}"} for number in range(60)]
    artifacts.put_jsonl(SOURCE_URI, records)
    first = _corpus_ids(artifacts, extractor.extraction.extract_corpus(s3_event(max_documents=10, sample_seed=7)))

    # WHEN the same corpus is extracted again, then shuffled, then with another seed
    again = _corpus_ids(artifacts, extractor.extraction.extract_corpus(s3_event(max_documents=10, sample_seed=7)))
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    artifacts.put_jsonl(SOURCE_URI, shuffled)
    reordered = _corpus_ids(artifacts, extractor.extraction.extract_corpus(s3_event(max_documents=10, sample_seed=7)))
    other_seed = _corpus_ids(artifacts, extractor.extraction.extract_corpus(s3_event(max_documents=10, sample_seed=8)))

    # THEN the same seed keeps the same 10 documents; another seed keeps another sample
    assert len(first) == 10 and len(set(first)) == 10
    assert again == first
    assert sorted(reordered) == sorted(first)
    assert sorted(other_seed) != sorted(first)


def test_sampled_documents_keep_their_source_order(extractor, artifacts) -> None:
    # GIVEN 30 documents and room for 12
    artifacts.put_jsonl(SOURCE_URI, [{"id": f"d{number:02d}", "text": "t"} for number in range(30)])

    # WHEN the corpus is sampled
    result = extractor.extraction.extract_corpus(s3_event(max_documents=12))

    # THEN the kept documents appear in the order of the source lines
    ids = _corpus_ids(artifacts, result)
    assert result["documents"] == 12 and ids == sorted(ids)


def test_all_lines_rejected_raises_empty_corpus_error_and_writes_only_the_rejects(extractor, artifacts) -> None:
    # GIVEN a corpus with no usable line
    artifacts.put_bytes(SOURCE_URI, b'{"id": 1, "text": "x"}\nnot json\n{"id": "a", "text": ""}\n')

    # WHEN the handler runs
    with pytest.raises(Exception) as raised:
        extractor.handler(s3_event(), FakeLambdaContext())

    # THEN the error is EmptyCorpusError pointing at the rejects, which exist, and no corpus was written
    rejects_uri = artifacts.run_uri(RUN_ID, "corpus/rejects.jsonl")
    assert type(raised.value).__name__ == "EmptyCorpusError"
    assert str(raised.value) == f"all 3 lines rejected; see {rejects_uri}"
    assert [reject["line"] for reject in artifacts.read_jsonl(rejects_uri)] == [1, 2, 3]
    assert artifacts.keys(f"runs/{RUN_ID}/") == [f"runs/{RUN_ID}/corpus/rejects.jsonl"]


def test_an_empty_object_raises_empty_corpus_error(extractor, artifacts) -> None:
    # GIVEN an object with only blank lines
    artifacts.put_bytes(SOURCE_URI, b"\n\n  \n")

    # WHEN / THEN the extraction says the object has no records
    with pytest.raises(extractor.extraction.EmptyCorpusError, match="has no records"):
        extractor.extraction.extract_corpus(s3_event())


def test_a_missing_corpus_object_names_the_input_field(extractor, artifacts) -> None:
    with pytest.raises(extractor.storage.InvalidEventError, match=r"input\.s3_corpus_path: s3://.*does not exist"):
        extractor.extraction.extract_corpus(s3_event(s3_corpus_path="s3://modelsmith-test-source/nope.jsonl"))


@pytest.mark.parametrize(
    ("event", "message"),
    [
        pytest.param(
            {"run_id": "../other-run", "input": {"input_type": "s3", "s3_corpus_path": SOURCE_URI}},
            "run_id:",
            id="run-id",
        ),
        pytest.param({"run_id": RUN_ID, "input": {"input_type": "ftp"}}, "input.input_type: 'ftp'", id="input-type"),
        pytest.param(
            {"run_id": RUN_ID, "input": {"input_type": "s3", "s3_corpus_path": "/tmp/x.jsonl"}},
            "input.s3_corpus_path: '/tmp/x.jsonl' is not an S3 URI",
            id="s3-path",
        ),
        pytest.param(
            {"run_id": RUN_ID, "input": {"input_type": "s3", "s3_corpus_path": SOURCE_URI, "max_documents": 0}},
            "input.max_documents: 0 is out of range",
            id="max-documents",
        ),
        pytest.param(
            {
                "run_id": RUN_ID,
                "input": {
                    "input_type": "opensearch",
                    "opensearch_endpoint": "https://x",
                    "opensearch_auth": "basic",
                    "index_name": "docs",
                },
            },
            "input.opensearch_secret_arn: required field is missing",
            id="basic-auth-secret",
        ),
    ],
)
def test_bad_event_fields_are_named_and_nothing_is_written(extractor, artifacts, event: dict, message: str) -> None:
    with pytest.raises(extractor.storage.InvalidEventError, match=re.escape(message)):
        extractor.extraction.extract_corpus(event)
    assert artifacts.keys("runs/") == []
