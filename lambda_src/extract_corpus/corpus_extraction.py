"""Turn the run's document source into ``runs/<run_id>/corpus/corpus.jsonl`` plus a rejects file.

Event: ``{"run_id": str, "input": <validated execution input>}``. Returns::

    {"corpus_uri", "rejects_uri", "documents", "rejected", "duplicates", "source": "s3" | "opensearch",
     "questions": {...}}  # only with input.evaluation_questions_uri (see evaluation_questions)

Sources:

- ``input_type = "s3"``: a JSONL object read as a stream. Each line must be a JSON object with a non-empty
  string ``id`` and ``text``; other fields are kept as ``metadata``. A bad line goes to the rejects file as
  ``{"line": n, "reason": "...", "raw": <first 200 characters>}`` and counts in ``rejected``. A repeated id
  keeps its first line; the later ones go to the rejects file too but count in ``duplicates``. When more than
  ``max_documents`` remain, the documents whose seeded hash of the id is smallest are kept, so the same
  input and ``sample_seed`` always give the same corpus, whatever the line order. The documents that
  ``evaluation_questions_uri``'s questions name are always kept (read first, see ``evaluation_questions``).
- ``input_type = "opensearch"``: see ``opensearch_source``; the first ``max_documents`` documents of the
  index in point-in-time order.

Output lines are ``{"id", "text", "metadata"}`` in source order. The rejects file is always written (maybe
empty) and written before the corpus, so a corpus never exists without its rejects. No usable document
raises ``EmptyCorpusError`` (the Step Functions error name) saying why; no corpus object is written then.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from lambda_src.extract_corpus import evaluation_questions, opensearch_source
from lambda_src.extract_corpus.corpus_records import CorpusDocument, CorpusLineError, SourceOutcome, json_type
from lambda_src.shared.run_storage import (
    InvalidEventError,
    JsonLinesUpload,
    artifacts_bucket,
    iter_lines,
    parse_s3_uri,
    run_prefix,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_DOCUMENTS = 5000
DEFAULT_SAMPLE_SEED = 42
DEFAULT_TEXT_FIELD = "content"
DEFAULT_DOC_ID_FIELD = "_id"
RAW_EXCERPT_CHARACTERS = 200
INPUT_TYPES = ("s3", "opensearch")
OPENSEARCH_AUTH_MODES = ("sigv4", "basic")


class EmptyCorpusError(RuntimeError):
    """No document survived extraction; the message says why and where the rejects are."""


@dataclass(frozen=True)
class ExtractionSettings:
    """The fields of the execution input the extractor uses, checked, with defaults filled."""

    run_id: str
    input_type: str
    max_documents: int
    sample_seed: int
    s3_corpus_path: str = ""
    opensearch_endpoint: str = ""
    opensearch_auth: str = "sigv4"
    opensearch_secret_arn: str = ""
    index_name: str = ""
    text_field: str = DEFAULT_TEXT_FIELD
    doc_id_field: str = DEFAULT_DOC_ID_FIELD
    evaluation_questions_uri: str = ""

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ExtractionSettings:
        if not isinstance(event, Mapping):
            raise InvalidEventError(f"event: expected an object, got {json_type(event)}")
        run_prefix(event.get("run_id"))
        source = event.get("input")
        if not isinstance(source, Mapping):
            raise InvalidEventError(f"input: expected an object, got {json_type(source)}")
        input_type = source.get("input_type")
        if input_type not in INPUT_TYPES:
            raise InvalidEventError(f"input.input_type: {input_type!r} is not one of {', '.join(INPUT_TYPES)}")
        settings = cls(
            run_id=event["run_id"],
            input_type=input_type,
            max_documents=_positive_int(source, "max_documents", DEFAULT_MAX_DOCUMENTS),
            sample_seed=_int(source, "sample_seed", DEFAULT_SAMPLE_SEED),
            s3_corpus_path=source.get("s3_corpus_path", ""),
            opensearch_endpoint=source.get("opensearch_endpoint", ""),
            opensearch_auth=source.get("opensearch_auth", "sigv4"),
            opensearch_secret_arn=source.get("opensearch_secret_arn", ""),
            index_name=source.get("index_name", ""),
            text_field=source.get("text_field", DEFAULT_TEXT_FIELD),
            doc_id_field=source.get("doc_id_field", DEFAULT_DOC_ID_FIELD),
            evaluation_questions_uri=source.get("evaluation_questions_uri", ""),
        )
        if settings.evaluation_questions_uri:
            parse_s3_uri(settings.evaluation_questions_uri, "input.evaluation_questions_uri")
        if input_type == "s3":
            parse_s3_uri(settings.s3_corpus_path, "input.s3_corpus_path")
        else:
            settings._check_opensearch_fields()
        return settings

    def _check_opensearch_fields(self) -> None:
        if not isinstance(self.opensearch_endpoint, str) or not self.opensearch_endpoint.startswith(
            ("https://", "http://")
        ):
            raise InvalidEventError(f"input.opensearch_endpoint: {self.opensearch_endpoint!r} is not an https:// URL")
        if self.opensearch_auth not in OPENSEARCH_AUTH_MODES:
            raise InvalidEventError(
                f"input.opensearch_auth: {self.opensearch_auth!r} is not one of {', '.join(OPENSEARCH_AUTH_MODES)}"
            )
        if self.opensearch_auth == "basic" and not self.opensearch_secret_arn:
            raise InvalidEventError(
                "input.opensearch_secret_arn: required field is missing (because opensearch_auth is basic)"
            )
        for name in ("index_name", "text_field", "doc_id_field"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidEventError(f"input.{name}: {value!r} must be a non-empty string")


def extract_corpus(event: Mapping[str, Any], *, s3_client: Any = None, opensearch_client: Any = None) -> dict[str, Any]:
    """Run the extraction described in the module docstring and return its small JSON summary."""
    settings = ExtractionSettings.from_event(event)
    bucket = artifacts_bucket()
    prefix = run_prefix(settings.run_id) + "corpus/"
    s3 = s3_client or boto3.client("s3")
    questions_uri = settings.evaluation_questions_uri
    questions = evaluation_questions.read_questions(s3, questions_uri) if questions_uri else []
    rejects = JsonLinesUpload(s3, bucket, prefix + "rejects.jsonl")
    corpus = JsonLinesUpload(s3, bucket, prefix + "corpus.jsonl")
    try:
        if settings.input_type == "s3":
            outcome = read_s3_corpus(settings, s3, rejects, keep=evaluation_questions.keep_ids(questions))
        else:
            outcome = opensearch_source.read_index(settings, rejects, client=opensearch_client)
        rejects_uri = rejects.commit()
        if not outcome.documents:
            raise EmptyCorpusError(outcome.describe_empty(rejects_uri))
        for document in outcome.documents:
            corpus.write(document.to_json())
        question_summary = None
        if questions:  # before the corpus: a run whose questions cannot be scored leaves no corpus behind
            question_summary = evaluation_questions.write_questions(
                s3, bucket, run_prefix(settings.run_id), questions_uri, questions, {d.id for d in outcome.documents}
            )
        corpus_uri = corpus.commit()
    finally:
        rejects.discard()
        corpus.discard()
    summary = {
        "corpus_uri": corpus_uri,
        "rejects_uri": rejects_uri,
        "documents": len(outcome.documents),
        "rejected": outcome.rejected,
        "duplicates": outcome.duplicates,
        "source": settings.input_type,
    }
    if question_summary:
        summary["questions"] = question_summary
    logger.info("corpus extracted", extra=summary)
    return summary


# ---------------------------------------------------------------------------------------------------------
# S3 JSONL source
# ---------------------------------------------------------------------------------------------------------


def read_s3_corpus(
    settings: ExtractionSettings, s3: Any, rejects: JsonLinesUpload, keep: frozenset[str] = frozenset()
) -> SourceOutcome:
    """Stream, validate, de-duplicate and sample the JSONL corpus at ``input.s3_corpus_path``, keeping the
    documents whose ids are in ``keep``."""
    uri = settings.s3_corpus_path
    bucket, key = parse_s3_uri(uri, "input.s3_corpus_path")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchBucket", "404"):
            raise InvalidEventError(f"input.s3_corpus_path: {uri} does not exist") from error
        raise
    sample = DeterministicSample(settings.max_documents, settings.sample_seed, keep=keep)
    lines = rejected = duplicates = 0
    for line in read_corpus_lines(iter_lines(body)):
        lines += 1
        if line.document is None:
            if line.duplicate_of is None:
                rejected += 1
            else:
                duplicates += 1
            rejects.write({"line": line.number, "reason": line.problem, "raw": raw_excerpt(line.raw)})
            continue
        sample.offer(line.number, line.document)

    def describe_empty(rejects_uri: str) -> str:
        if lines == 0:
            return f"{uri} has no records (the object is empty or only blank lines)"
        return f"all {lines} lines rejected; see {rejects_uri}"

    return SourceOutcome(sample.selected(), rejected, duplicates, describe_empty)


@dataclass(frozen=True)
class CorpusLine:
    """One non-blank corpus line: its ``document``, or (``document`` None) the ``problem`` that rejects it;
    ``duplicate_of`` is the line that first had the same id (a repeat is rejected, the first kept)."""

    number: int
    raw: bytes
    document: CorpusDocument | None
    problem: str | None = None
    duplicate_of: int | None = None


def read_corpus_lines(lines: Iterable[bytes]) -> Iterator[CorpusLine]:
    """The corpus's lines (from ``run_storage.iter_lines``), numbered from 1, parsed and de-duplicated by id.

    Blank lines (a trailing newline, spacing) are not records and are skipped. The one reading of a corpus:
    the workflow's extraction, and the command line's ``validate corpus`` and ``rag ingest``."""
    first_line_of: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            document = parse_corpus_line(raw)
        except CorpusLineError as error:
            yield CorpusLine(number, raw, None, str(error))
            continue
        first = first_line_of.setdefault(document.id, number)
        if first != number:
            problem = f"id: duplicate {document.id!r} (first seen on line {first}, which is kept)"
            yield CorpusLine(number, raw, None, problem, duplicate_of=first)
            continue
        yield CorpusLine(number, raw, document)


def parse_corpus_line(raw: bytes) -> CorpusDocument:
    """One corpus line as a document, or ``CorpusLineError`` naming the field that is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorpusLineError(f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})") from None
    try:
        record = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as error:
        raise CorpusLineError(f"not valid JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(record, dict):
        raise CorpusLineError(f"expected a JSON object, got {json_type(record)}")
    document_id = _required_text(record, "id")
    body = _required_text(record, "text")
    extras = {name: value for name, value in record.items() if name not in ("id", "text")}
    nested = extras.pop("metadata", None)
    if isinstance(nested, dict):
        metadata = {**nested, **extras}  # a corpus written by this function reads back unchanged
    else:
        metadata = extras if nested is None else {**extras, "metadata": nested}
    return CorpusDocument(id=document_id, text=body, metadata=metadata)


def raw_excerpt(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")[:RAW_EXCERPT_CHARACTERS]


class DeterministicSample:
    """Keeps the ``capacity`` documents with the smallest seeded SHA-256 of their id, the ids in ``keep`` first.

    The choice depends only on the set of ids and the seed (not on line order or on the process's hash
    salt), and memory stays bounded by ``capacity`` however long the corpus is.
    """

    def __init__(self, capacity: int, seed: int, keep: frozenset[str] = frozenset()) -> None:
        self.capacity, self.seed, self.keep = capacity, seed, keep
        self._heap: list[tuple[int, int, CorpusDocument]] = []  # (-priority, line, document): a max-heap

    def priority(self, document_id: str) -> int:
        if document_id in self.keep:
            return -1  # below every digest: kept before any other document
        digest = hashlib.sha256(f"{self.seed}\x00{document_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def offer(self, line: int, document: CorpusDocument) -> None:
        entry = (-self.priority(document.id), line, document)
        if len(self._heap) < self.capacity:
            heapq.heappush(self._heap, entry)
        elif entry[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, entry)

    def selected(self) -> list[CorpusDocument]:
        """The kept documents in source order."""
        return [document for _, _, document in sorted(self._heap, key=lambda entry: entry[1])]


def _required_text(record: Mapping[str, Any], name: str) -> str:
    if name not in record:
        raise CorpusLineError(f"{name}: required field is missing")
    value = record[name]
    if not isinstance(value, str):
        raise CorpusLineError(f"{name}: expected a string, got {json_type(value)} {json.dumps(value)[:40]}")
    if not value.strip():
        raise CorpusLineError(f"{name}: must not be empty")
    return value


def _int(source: Mapping[str, Any], name: str, default: int) -> int:
    value = source.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidEventError(f"input.{name}: {value!r} is not of type integer")
    return value


def _positive_int(source: Mapping[str, Any], name: str, default: int) -> int:
    value = _int(source, name, default)
    if value < 1:
        raise InvalidEventError(f"input.{name}: {value!r} is out of range (minimum 1)")
    return value
