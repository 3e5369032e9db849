"""The retrieval pipeline's files, every line checked before any model loads.

- ``train.jsonl`` / ``eval.jsonl``: one ``{"query": str, "passage": str, "doc_id": str}`` per line.
- ``eval_corpus.jsonl``: one ``{"id": str, "text": str}`` per line; every ``doc_id`` of ``eval.jsonl`` must
  be one of its ids.
- ``questions.jsonl`` (optional, beside ``eval.jsonl``): evaluation questions written by people, one
  ``{"question": str, "relevant_ids": [str, ...]}`` per line (an ``id`` too when the pipeline wrote it).
  They are searched over ``eval_corpus.jsonl`` and never trained on; a relevant id that is not in the corpus
  is listed in the results (``unknown_ids``), and a question left without any is not scored.

Problems are reported as ``file:line:field: what is wrong`` so the pipeline that wrote the line can be fixed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAIR_FIELDS = ("query", "passage", "doc_id")
CORPUS_FIELDS = ("id", "text")
TRAIN_FILE = "train.jsonl"
EVAL_FILE = "eval.jsonl"
EVAL_CORPUS_FILE = "eval_corpus.jsonl"
QUESTIONS_FILE = "questions.jsonl"
MAX_PROBLEMS_PER_FILE = 50  # a wholly wrong file should not flood the log


class DataError(ValueError):
    """Bad input lines, each as ``file:line:field: problem``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Pair:
    query: str
    passage: str
    doc_id: str


@dataclass(frozen=True)
class EvaluationData:
    """Held-out queries, the corpus they are searched in, and which documents answer which query."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant_docs: dict[str, set[str]]


def resolve_file(location: str | Path, default_name: str) -> Path:
    """A file as given, or ``default_name`` inside a directory (a SageMaker channel)."""
    path = Path(location)
    return path / default_name if path.is_dir() else path


def _json_objects(path: Path, problems: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line that is a JSON object; a problem for each other line."""
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"{path}:{number}: not valid JSON ({error.msg})")
                continue
            if not isinstance(value, dict):
                problems.append(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
                continue
            yield number, value


def _read_objects(path: Path, fields: tuple[str, ...], problems: list[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, object) for each valid non-blank line; problems for the others."""
    if not path.is_file():
        problems.append(f"{path}: file not found")
        return []
    found: list[tuple[int, dict[str, str]]] = []
    file_problems: list[str] = []
    for number, value in _json_objects(path, file_problems):
        line_problems = []
        for name in fields:
            if name not in value:
                line_problems.append(f"{path}:{number}:{name}: missing")
            elif not isinstance(value[name], str):
                line_problems.append(f"{path}:{number}:{name}: expected a string, got {type(value[name]).__name__}")
            elif not value[name].strip():
                line_problems.append(f"{path}:{number}:{name}: empty")
        if line_problems:
            file_problems.extend(line_problems)
        else:
            found.append((number, {name: value[name] for name in fields}))
    if not found and not file_problems:
        file_problems.append(f"{path}: no records")
    if len(file_problems) > MAX_PROBLEMS_PER_FILE:
        hidden = len(file_problems) - MAX_PROBLEMS_PER_FILE
        file_problems = file_problems[:MAX_PROBLEMS_PER_FILE] + [f"{path}: ... and {hidden} more problem(s)"]
    problems.extend(file_problems)
    return found


def read_pairs(path: Path, problems: list[str]) -> list[Pair]:
    return [Pair(**record) for _, record in _read_objects(path, PAIR_FIELDS, problems)]


def read_training_data(train_path: Path, eval_path: Path, corpus_path: Path) -> tuple[list[Pair], EvaluationData]:
    """All three files, checked together; raises :class:`DataError` listing every problem found."""
    problems: list[str] = []
    train_pairs = read_pairs(train_path, problems)
    eval_records = _read_objects(eval_path, PAIR_FIELDS, problems)
    corpus_records = _read_objects(corpus_path, CORPUS_FIELDS, problems)

    corpus: dict[str, str] = {}
    for number, record in corpus_records:
        if record["id"] in corpus:
            problems.append(f"{corpus_path}:{number}:id: duplicate id {record['id']!r}")
        corpus[record["id"]] = record["text"]
    queries: dict[str, str] = {}
    relevant_docs: dict[str, set[str]] = {}
    query_ids: dict[str, str] = {}  # the same query text twice is one query with several answers
    for number, record in eval_records:
        if corpus_records and record["doc_id"] not in corpus:
            problems.append(f"{eval_path}:{number}:doc_id: {record['doc_id']!r} is not an id in {corpus_path}")
            continue
        query_id = query_ids.setdefault(record["query"], f"q{len(query_ids)}")
        queries[query_id] = record["query"]
        relevant_docs.setdefault(query_id, set()).add(record["doc_id"])
    if problems:
        raise DataError(problems)
    return train_pairs, EvaluationData(queries=queries, corpus=corpus, relevant_docs=relevant_docs)


@dataclass(frozen=True)
class HumanQuestions:
    """The questions that can be scored, and those whose relevant ids are (partly) missing from the corpus."""

    data: EvaluationData
    unknown_ids: list[dict[str, object]]


def read_questions(path: Path, corpus: dict[str, str]) -> HumanQuestions:
    """``questions.jsonl`` checked line by line against ``corpus``; raises :class:`DataError` listing every bad
    line (``file:line:field: problem``)."""
    problems: list[str] = []
    queries: dict[str, str] = {}
    relevant_docs: dict[str, set[str]] = {}
    unknown: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    for number, value in _json_objects(path, problems):
        question, ids = value.get("question"), value.get("relevant_ids")
        if not isinstance(question, str) or not question.strip():
            problems.append(f"{path}:{number}:question: expected a non-empty string, got {question!r}")
            continue
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            problems.append(f"{path}:{number}:relevant_ids: expected a non-empty list of ids, got {ids!r}")
            continue
        key = " ".join(question.casefold().split())
        if key in seen:
            problems.append(f"{path}:{number}:question: the same question as line {seen[key]}")
            continue
        seen[key] = number
        missing = [doc_id for doc_id in ids if doc_id not in corpus]
        known = {doc_id for doc_id in ids if doc_id in corpus}
        if missing:
            unknown.append({"line": number, "question": question, "missing_ids": missing, "scored": bool(known)})
        if known:
            query_id = str(value.get("id") or f"line-{number}")
            queries[query_id] = question
            relevant_docs[query_id] = known
    if not problems and not seen:
        problems.append(f"{path}: no questions")
    if problems:
        raise DataError(problems[:MAX_PROBLEMS_PER_FILE])
    return HumanQuestions(EvaluationData(queries=queries, corpus=corpus, relevant_docs=relevant_docs), unknown)
