"""Join the generated queries with their passages and split the pairs into train and eval by document.

Event: ``{"run_id", "corpus_uri", "queries_prefix": "s3://.../runs/<id>/queries/", "eval_fraction": 0.2,
"seed": 42, "query_filter": false}``. Reads the corpus (``{"id", "text", ...}`` lines) and every ``*.jsonl`` under
``queries_prefix`` (``{"doc_id", "query"}`` lines), and writes under ``runs/<run_id>/pairs/``:

- ``train.jsonl`` and ``eval.jsonl``: ``{"query", "passage", "doc_id"}`` lines. Documents, not pairs, are
  split, so no document (and none of its queries) is on both sides. The split ranks the documents that have
  queries by a seeded SHA-256 of their id and puts the first ``round(n * eval_fraction)`` in eval, at least 1
  and at most ``n - 1`` when there are two or more: the same inputs and seed always give the same split.
- ``eval_corpus.jsonl``: every corpus document as ``{"id", "text"}``; retrieval evaluation searches all of
  them, so documents without queries serve as distractors.

Returns ``{"train_uri", "eval_uri", "eval_corpus_uri", "train_pairs", "eval_pairs", "train_documents",
"eval_documents", "filtered"}``. No pair at all raises ``NoTrainingPairsError`` saying why. Queries whose document
is not in the corpus and repeated (document, query) pairs are skipped and logged; with ``query_filter``, generic
and copied queries too (``query_filters``), counted by kind in ``filtered``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import boto3

from lambda_src.build_pairs.query_filters import problem as query_problem
from lambda_src.shared.run_storage import (
    InvalidEventError,
    JsonLinesUpload,
    MalformedLineError,
    artifacts_bucket,
    iter_json_lines,
    list_keys,
    parse_s3_uri,
    run_prefix,
    s3_uri_field,
)

logger = logging.getLogger(__name__)

DEFAULT_EVAL_FRACTION = 0.2
DEFAULT_SEED = 42


class NoTrainingPairsError(RuntimeError):
    """No (query, passage) pair could be built; the message says why."""


def split_documents(doc_ids: list[str], eval_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """``(train, eval)`` document ids, each in the order given (see the module docstring for the rule)."""
    ranked = sorted(doc_ids, key=lambda doc_id: hashlib.sha256(f"{seed}\x00{doc_id}".encode()).digest())
    eval_count = 0 if len(ranked) < 2 else min(len(ranked) - 1, max(1, round(len(ranked) * eval_fraction)))
    chosen = set(ranked[:eval_count])
    return [doc_id for doc_id in doc_ids if doc_id not in chosen], [doc_id for doc_id in doc_ids if doc_id in chosen]


def build_pairs(event: Mapping[str, Any], *, s3_client: Any = None) -> dict[str, Any]:
    """Build and store the train and eval pairs (see the module docstring)."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"event: expected an object, got {type(event).__name__}")
    prefix = run_prefix(event.get("run_id")) + "pairs/"
    corpus_uri = s3_uri_field(event.get("corpus_uri"), "corpus_uri")
    queries_bucket, queries_key_prefix = parse_s3_uri(event.get("queries_prefix"), "queries_prefix")
    queries_prefix = event["queries_prefix"]
    eval_fraction = event.get("eval_fraction", DEFAULT_EVAL_FRACTION)
    if isinstance(eval_fraction, bool) or not isinstance(eval_fraction, (int, float)) or not 0 < eval_fraction < 1:
        raise InvalidEventError(f"eval_fraction: {eval_fraction!r} must be a number between 0 and 1 (exclusive)")
    seed = event.get("seed", DEFAULT_SEED)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidEventError(f"seed: {seed!r} is not of type integer")
    query_filter = event.get("query_filter", False)
    if not isinstance(query_filter, bool):
        raise InvalidEventError(f"query_filter: {query_filter!r} is not of type boolean")
    s3 = s3_client or boto3.client("s3")

    passages = read_corpus(s3, corpus_uri)
    query_keys = list_keys(s3, queries_bucket, queries_key_prefix, ".jsonl")
    if not query_keys:
        raise NoTrainingPairsError(f"no query files (*.jsonl) under {queries_prefix}")
    queries_of: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    read = orphans = repeats = 0
    filtered = {"generic": 0, "copied": 0}
    for key in query_keys:
        uri = f"s3://{queries_bucket}/{key}"
        for number, record in iter_json_lines(s3, uri, "queries_prefix"):
            doc_id, query = record.get("doc_id"), record.get("query")
            if not isinstance(doc_id, str) or not isinstance(query, str) or not query.strip():
                raise MalformedLineError(
                    f"{uri} line {number}: expected a string 'doc_id' and a non-empty string 'query'"
                )
            read += 1
            if doc_id not in passages:
                orphans += 1
                continue
            if (doc_id, query) in seen:
                repeats += 1
                continue
            found = query_problem(query, passages[doc_id]) if query_filter else None
            if found:
                filtered[found] += 1
                continue
            seen.add((doc_id, query))
            queries_of.setdefault(doc_id, []).append(query)
    if orphans or repeats:
        logger.warning("queries skipped", extra={"unknown_document": orphans, "repeated": repeats})
    if not queries_of:
        if read == 0:
            raise NoTrainingPairsError(f"the query files under {queries_prefix} hold no queries")
        if sum(filtered.values()):
            raise NoTrainingPairsError(
                f"the query filter dropped all {read} queries under {queries_prefix} ({filtered})"
            )
        raise NoTrainingPairsError(
            f"none of the {read} queries under {queries_prefix} belongs to a document of {corpus_uri}"
        )

    train_documents, eval_documents = split_documents(
        [doc_id for doc_id in passages if doc_id in queries_of], eval_fraction, seed
    )
    bucket = artifacts_bucket()
    outputs = {name: JsonLinesUpload(s3, bucket, f"{prefix}{name}.jsonl") for name in ("eval_corpus", "eval", "train")}
    try:
        for doc_id, text in passages.items():
            outputs["eval_corpus"].write({"id": doc_id, "text": text})
        for name, documents in (("eval", eval_documents), ("train", train_documents)):
            for doc_id in documents:
                for query in queries_of[doc_id]:
                    outputs[name].write({"query": query, "passage": passages[doc_id], "doc_id": doc_id})
        uris = {
            name: upload.commit() for name, upload in outputs.items()
        }  # train last: its presence means all are there
    finally:
        for upload in outputs.values():
            upload.discard()
    return {
        "train_uri": uris["train"],
        "eval_uri": uris["eval"],
        "eval_corpus_uri": uris["eval_corpus"],
        "train_pairs": outputs["train"].lines,
        "eval_pairs": outputs["eval"].lines,
        "train_documents": len(train_documents),
        "eval_documents": len(eval_documents),
        "filtered": filtered,
    }


def read_corpus(s3: Any, corpus_uri: str) -> dict[str, str]:
    """Document id to text, in corpus order; a line without a string id and text raises naming the line."""
    passages: dict[str, str] = {}
    for number, record in iter_json_lines(s3, corpus_uri, "corpus_uri"):
        doc_id, text = record.get("id"), record.get("text")
        if not isinstance(doc_id, str) or not doc_id or not isinstance(text, str):
            raise MalformedLineError(f"{corpus_uri} line {number}: expected string fields 'id' and 'text'")
        passages.setdefault(doc_id, text)
    return passages
