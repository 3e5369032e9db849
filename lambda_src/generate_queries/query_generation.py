"""On-demand query generation for one shard of the corpus with Bedrock Runtime ``Converse``.

Event: ``{"action": "generate", "run_id", "corpus_uri", "shard": {"start", "end"}, "queries_per_document",
"bedrock_model_id", "prompt_template"?}``. Documents ``[start, end)`` of the corpus (0-based line order) are
sent to the model, at most ``MAX_CONCURRENT_REQUESTS`` at a time, each request with ``maxTokens`` and
``temperature`` set. Throttling and transient service errors are retried with exponential backoff and full
jitter, a bounded number of times. The queries go to ``runs/<run_id>/queries/part-<start:06d>.jsonl`` as
``{"doc_id", "query"}`` lines, written in one upload.

Returns ``{"queries_uri", "documents", "queries", "failed_documents"}``. A document that still fails after
the retries, or whose answer holds no usable query, counts in ``failed_documents``; when every document of
the shard fails, or the model cannot be called at all (access denied, unknown model), nothing is written and
``QueryGenerationError`` is raised.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.generate_queries.query_events import (
    integer,
    prompt_template,
    queries_per_document,
    require_mapping,
    text,
)
from lambda_src.generate_queries.query_parsing import parse_queries
from lambda_src.generate_queries.query_prompts import MAX_OUTPUT_TOKENS, TEMPERATURE, render_prompt
from lambda_src.shared.bedrock_runtime import RetryPolicy, answer_text, bedrock_runtime_client, with_retries
from lambda_src.shared.run_storage import (
    InvalidEventError,
    JsonLinesUpload,
    artifacts_bucket,
    iter_corpus,
    run_prefix,
    s3_uri_field,
)

logger = logging.getLogger(__name__)

MAX_CONCURRENT_REQUESTS = 4
# The same for every document: stop the shard at once rather than fail each document in turn.
FATAL_ERROR_CODES = frozenset({"AccessDeniedException", "ResourceNotFoundException", "UnrecognizedClientException"})


class QueryGenerationError(RuntimeError):
    """No query could be generated for the shard (or batch); the message gives the first cause."""


class ModelUnavailableError(RuntimeError):
    """The model cannot be called with this configuration (access, model ID); retrying cannot help."""


@dataclass
class QueryGenerator:
    """Asks one model for ``count`` queries per document, retrying transient errors."""

    client: Any
    model_id: str
    template: str
    count: int
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    random_fraction: Callable[[], float] = random.random

    def request(self, document_text: str) -> dict[str, Any]:
        prompt = render_prompt(self.template, document_text, self.count)
        return {
            "modelId": self.model_id,
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"maxTokens": MAX_OUTPUT_TOKENS, "temperature": TEMPERATURE},
        }

    def generate(self, document_text: str) -> list[str]:
        request = self.request(document_text)
        try:
            response = with_retries(
                lambda: self.client.converse(**request),
                policy=self.policy,
                sleep=self.sleep,
                random_fraction=self.random_fraction,
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in FATAL_ERROR_CODES:
                raise ModelUnavailableError(f"{code}: {error.response['Error'].get('Message', '')}") from error
            raise
        return parse_queries(answer_text(response), self.count)


def generate(
    event: Mapping[str, Any],
    *,
    s3_client: Any = None,
    bedrock_client: Any = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_workers: int = MAX_CONCURRENT_REQUESTS,
) -> dict[str, Any]:
    """Generate the queries of one shard (see the module docstring)."""
    event = require_mapping(event)
    prefix = run_prefix(event.get("run_id"))
    corpus_uri = s3_uri_field(event.get("corpus_uri"), "corpus_uri")
    start, end = _shard(event.get("shard"))
    generator = QueryGenerator(
        client=bedrock_client or bedrock_runtime_client(),
        model_id=text(event, "bedrock_model_id"),
        template=prompt_template(event),
        count=queries_per_document(event),
        policy=policy or RetryPolicy(),
        sleep=sleep,
    )
    s3 = s3_client or boto3.client("s3")

    documents: list[tuple[str, str]] = []
    corpus_size = 0
    for index, document in enumerate(iter_corpus(s3, corpus_uri)):
        corpus_size = index + 1
        if index >= end:
            break
        if index >= start:
            documents.append(document)
    if not documents:
        raise InvalidEventError(f"shard: start {start} is past the end of the corpus ({corpus_size} documents)")

    queries, errors = _generate_all(generator, documents, max_workers)
    failed = [doc_id for doc_id, _ in documents if not queries.get(doc_id)]
    if len(failed) == len(documents):
        first = errors.get(failed[0], "the answer held no usable query")
        raise QueryGenerationError(
            f"all {len(documents)} documents of shard {start}-{end} failed with model {generator.model_id}; "
            f"first cause ({failed[0]}): {first}"
        )
    for doc_id in failed:
        logger.warning(
            "no queries for document", extra={"doc_id": doc_id, "cause": errors.get(doc_id, "no usable query")}
        )

    upload = JsonLinesUpload(s3, artifacts_bucket(), f"{prefix}queries/part-{start:06d}.jsonl")
    for doc_id, _ in documents:
        for query in queries.get(doc_id, []):
            upload.write({"doc_id": doc_id, "query": query})
    return {
        "queries_uri": upload.commit(),
        "documents": len(documents),
        "queries": upload.lines,
        "failed_documents": len(failed),
    }


def _generate_all(
    generator: QueryGenerator, documents: list[tuple[str, str]], max_workers: int
) -> tuple[dict[str, list[str]], dict[str, str]]:
    queries: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, MAX_CONCURRENT_REQUESTS)))
    try:
        futures = {pool.submit(generator.generate, body): doc_id for doc_id, body in documents}
        for future in as_completed(futures):
            doc_id = futures[future]
            try:
                queries[doc_id] = future.result()
            except ModelUnavailableError as error:
                raise QueryGenerationError(
                    f"bedrock_model_id: model {generator.model_id} cannot be called ({error}); "
                    "check the model ID, model access in the Bedrock console, and the function's permissions"
                ) from error
            except (ClientError, BotoCoreError) as error:
                errors[doc_id] = str(error)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return queries, errors


def _shard(shard: Any) -> tuple[int, int]:
    if not isinstance(shard, Mapping):
        raise InvalidEventError(f"shard: expected an object with start and end, got {shard!r}")
    try:
        start = integer(shard, "start", minimum=0)
        end = integer(shard, "end", minimum=1)
    except InvalidEventError as error:
        raise InvalidEventError(f"shard.{error}") from None
    if end <= start:
        raise InvalidEventError(f"shard: end {end} must be greater than start {start}")
    return start, end
