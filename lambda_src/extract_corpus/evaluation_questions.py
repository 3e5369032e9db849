"""Evaluation questions written by people (``evaluation_questions_uri``): read and checked line by line when
the corpus is extracted, so a bad file stops the run before any query is generated.

Each line is ``{"question": "<non-empty text>", "relevant_ids": ["<document id>", ...]}`` (other fields are
ignored). Every bad line is reported, as ``evaluation_questions_uri: <uri> line <n>: <field>: <problem>``
(the first ``MAX_LISTED_PROBLEMS``), and nothing is written. The questions' relevant ids are kept whenever
the corpus is sampled (``keep_ids``); after extraction, :func:`write_questions` writes them to
``runs/<run_id>/pairs/questions.jsonl``, beside the evaluation pairs the training job reads
(``sagemaker_src/retrieval/data.py``), and lists the ids that are not in the corpus.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lambda_src.shared.run_storage import InvalidEventError, JsonLinesUpload, iter_lines, open_object

FIELD = "evaluation_questions_uri"
MAX_QUESTIONS = 10_000  # a hand-written set is tens to hundreds; more is not a question file
MAX_QUESTION_CHARACTERS = 2_000
MAX_RELEVANT_IDS = 100
MAX_LISTED_PROBLEMS = 20
MAX_LISTED_UNKNOWN = 20  # in the state; the report lists them all
QUESTIONS_KEY = "pairs/questions.jsonl"


@dataclass(frozen=True)
class Question:
    line: int
    question: str
    relevant_ids: tuple[str, ...]


def read_questions(s3: Any, uri: str) -> list[Question]:
    """Every question of ``uri``; raises ``InvalidEventError`` listing the bad lines."""
    questions: list[Question] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(iter_lines(open_object(s3, uri, FIELD)), start=1):
        if not raw.strip():
            continue
        problem = _check(raw, number, seen)
        if isinstance(problem, str):
            problems.append(f"{FIELD}: {uri} line {number}: {problem}")
        else:
            questions.append(problem)
        if len(questions) > MAX_QUESTIONS:
            raise InvalidEventError(f"{FIELD}: {uri} has more than {MAX_QUESTIONS} questions")
    if problems:
        more = f"; and {len(problems) - MAX_LISTED_PROBLEMS} more" if len(problems) > MAX_LISTED_PROBLEMS else ""
        raise InvalidEventError("; ".join(problems[:MAX_LISTED_PROBLEMS]) + more)
    if not questions:
        raise InvalidEventError(f"{FIELD}: {uri} has no questions")
    return questions


def _check(raw: bytes, number: int, seen: dict[str, int]) -> Question | str:
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"not valid JSON ({error})"
    if not isinstance(record, dict):
        return "expected a JSON object"
    question, ids = record.get("question"), record.get("relevant_ids")
    if not isinstance(question, str) or not question.strip():
        return "question: expected a non-empty string" + ("" if "question" in record else " (missing)")
    if len(question) > MAX_QUESTION_CHARACTERS:
        return f"question: {len(question)} characters, more than {MAX_QUESTION_CHARACTERS}"
    if not isinstance(ids, list) or not ids:
        return "relevant_ids: expected a non-empty list of document ids" + (
            "" if "relevant_ids" in record else " (missing)"
        )
    if len(ids) > MAX_RELEVANT_IDS:
        return f"relevant_ids: {len(ids)} ids, more than {MAX_RELEVANT_IDS}"
    bad = [index for index, value in enumerate(ids) if not isinstance(value, str) or not value]
    if bad:
        return f"relevant_ids[{bad[0]}]: expected a non-empty string, got {ids[bad[0]]!r}"
    key = " ".join(question.casefold().split())
    if key in seen:
        return f"question: the same question as line {seen[key]}"
    seen[key] = number
    return Question(number, question.strip(), tuple(dict.fromkeys(ids)))


def keep_ids(questions: list[Question]) -> frozenset[str]:
    return frozenset(doc_id for question in questions for doc_id in question.relevant_ids)


def write_questions(
    s3: Any, bucket: str, prefix: str, uri: str, questions: list[Question], corpus_ids: set[str]
) -> dict[str, Any]:
    """Write every question for the training job (which scores those with a relevant id in the corpus and lists
    the missing ids in its report); the summary counts them and lists the first. None scoreable is an error."""
    unknown = []
    scored = 0
    upload = JsonLinesUpload(s3, bucket, prefix + QUESTIONS_KEY)
    try:
        for question in questions:
            known = [doc_id for doc_id in question.relevant_ids if doc_id in corpus_ids]
            missing = [doc_id for doc_id in question.relevant_ids if doc_id not in corpus_ids]
            if missing:
                unknown.append({"line": question.line, "missing_ids": missing[:5], "scored": bool(known)})
            scored += bool(known)
            record = {"id": f"line-{question.line}", "question": question.question}
            upload.write({**record, "relevant_ids": list(question.relevant_ids)})
        if not scored:
            raise InvalidEventError(
                f"{FIELD}: none of the {len(questions)} questions of {uri} has a relevant id in the corpus "
                f"(line {questions[0].line} asks for {list(questions[0].relevant_ids)[:3]}); check the ids"
            )
        written = upload.commit()
    finally:
        upload.discard()
    return {
        "source_uri": uri,
        "questions_uri": written,
        "questions": len(questions),
        "scored": scored,
        "unknown_count": len(unknown),
        "unknown": unknown[:MAX_LISTED_UNKNOWN],
    }
