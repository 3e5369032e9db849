"""Evaluation questions written by people, read when the corpus is extracted: line-by-line checks, their
documents kept through sampling, unknown ids listed, nothing written for a bad file."""

from __future__ import annotations

import pytest

from tests.support.lambdas import FakeLambdaContext

RUN_ID = "run-2024-01-01"
SOURCE_URI = "s3://modelsmith-test-source/corpora/docs.jsonl"
QUESTIONS_URI = "s3://modelsmith-test-source/questions/people.jsonl"


def event(**overrides) -> dict:
    source = {
        "input_type": "s3",
        "s3_corpus_path": SOURCE_URI,
        "max_documents": 5000,
        "sample_seed": 42,
        "evaluation_questions_uri": QUESTIONS_URI,
    }
    return {"run_id": RUN_ID, "input": {**source, **overrides}}


def corpus(count: int) -> list[dict[str, str]]:
    return [{"id": f"d{index:03d}", "text": f"Document {index}."} for index in range(count)]


def test_the_questions_documents_survive_sampling_and_unknown_ids_are_listed(extractor, artifacts) -> None:
    # GIVEN 200 documents sampled down to 10, and questions about documents the plain sample would drop
    artifacts.put_jsonl(SOURCE_URI, corpus(200))
    plain = extractor.handler(event(max_documents=10, evaluation_questions_uri=""), FakeLambdaContext())
    plain_ids = {doc["id"] for doc in artifacts.read_jsonl(plain["corpus_uri"])}
    wanted = sorted({f"d{index:03d}" for index in range(200)} - plain_ids)[:3]
    artifacts.put_jsonl(
        QUESTIONS_URI,
        [
            {"question": "first?", "relevant_ids": [wanted[0], wanted[1]]},
            {"question": "second?", "relevant_ids": [wanted[2], "nowhere"]},
            {"question": "third?", "relevant_ids": ["nowhere-else"], "note": "other fields are ignored"},
        ],
    )

    # WHEN the corpus is extracted with the questions
    result = extractor.handler(event(max_documents=10), FakeLambdaContext())

    # THEN their documents are in the 10 kept, and the ids that are not are listed by line
    kept = [doc["id"] for doc in artifacts.read_jsonl(result["corpus_uri"])]
    assert len(kept) == 10 and set(wanted) <= set(kept)
    questions = result["questions"]
    assert (questions["questions"], questions["scored"], questions["unknown_count"]) == (3, 2, 2)
    assert questions["unknown"] == [
        {"line": 2, "missing_ids": ["nowhere"], "scored": True},
        {"line": 3, "missing_ids": ["nowhere-else"], "scored": False},
    ]
    written = artifacts.read_jsonl(questions["questions_uri"])
    assert questions["questions_uri"] == artifacts.run_uri(RUN_ID, "pairs/questions.jsonl")
    assert written[1] == {"id": "line-2", "question": "second?", "relevant_ids": [wanted[2], "nowhere"]}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"{not json", "line 2: not valid JSON"),
        (b'["a list"]', "line 2: expected a JSON object"),
        (b'{"relevant_ids": ["d001"]}', "line 2: question: expected a non-empty string (missing)"),
        (b'{"question": "  ", "relevant_ids": ["d001"]}', "line 2: question: expected a non-empty string"),
        (b'{"question": "q?"}', "line 2: relevant_ids: expected a non-empty list of document ids (missing)"),
        (
            b'{"question": "q?", "relevant_ids": "d001"}',
            "line 2: relevant_ids: expected a non-empty list of document ids",
        ),
        (
            b'{"question": "q?", "relevant_ids": ["d001", 7]}',
            "line 2: relevant_ids[1]: expected a non-empty string, got 7",
        ),
        (
            b'{"question": "First  QUESTION?", "relevant_ids": ["d002"]}',
            "line 2: question: the same question as line 1",
        ),
    ],
)
def test_a_bad_question_line_is_named_and_nothing_is_written(extractor, artifacts, line: bytes, problem: str) -> None:
    artifacts.put_jsonl(SOURCE_URI, corpus(5))
    artifacts.put_bytes(QUESTIONS_URI, b'{"question": "first question?", "relevant_ids": ["d001"]}\n' + line + b"\n")

    with pytest.raises(extractor.storage.InvalidEventError) as raised:
        extractor.handler(event(), FakeLambdaContext())

    assert f"evaluation_questions_uri: {QUESTIONS_URI} {problem}" in str(raised.value)
    assert artifacts.keys(f"runs/{RUN_ID}/") == []


def test_questions_none_of_which_is_in_the_corpus_stop_the_run_without_a_corpus(extractor, artifacts) -> None:
    artifacts.put_jsonl(SOURCE_URI, corpus(5))
    artifacts.put_jsonl(QUESTIONS_URI, [{"question": "where?", "relevant_ids": ["x1", "x2"]}])

    with pytest.raises(extractor.storage.InvalidEventError, match="none of the 1 questions .* has a relevant id"):
        extractor.handler(event(), FakeLambdaContext())

    assert not [key for key in artifacts.keys(f"runs/{RUN_ID}/") if key.endswith(("corpus.jsonl", "questions.jsonl"))]


def test_a_missing_questions_file_is_named(extractor, artifacts) -> None:
    artifacts.put_jsonl(SOURCE_URI, corpus(5))
    with pytest.raises(
        extractor.storage.InvalidEventError, match=f"evaluation_questions_uri: {QUESTIONS_URI} does not exist"
    ):
        extractor.handler(event(), FakeLambdaContext())
