"""Load the run's corpus, embedded by the run's SageMaker endpoint, into a Pinecone serverless index.

1. API key: the Secrets Manager secret ``api_key_secret_arn``, either the key itself or JSON ``{"api_key"}``.
2. Index ``index_name``: described; when missing, created as a serverless (managed) index in ``cloud`` /
   ``region`` with one dense vector field of ``embedding_dimension`` and metric ``cosine`` (``_values``, the
   field the vectors API writes), then polled until ready. An existing index is used only if it has that
   field with the same dimension and metric; otherwise ``PineconeIndexMismatchError`` names both.
3. Corpus: ``corpus_uri`` is read twice as a stream, first to check every line and count the documents (so a
   bad line stops the registration before anything is written, and progress has a total), then to embed.
   A repeated id keeps its first document (as build_pairs does); blank texts are skipped.
4. Embedding through the endpoint in batches (``endpoint_embeddings``), then upserts of at most 1,000 vectors
   and 2 MB per request (Pinecone's limits), sent by a small thread pool while the next batch is embedded.
   Vector IDs are the document IDs (Pinecone needs 1-512 ASCII characters; any other ID becomes
   ``sha256-<hex of the id>``), so a re-run overwrites the same vectors instead of adding duplicates.
   Metadata: ``doc_id``, ``run_id``, ``model_name`` and the text cut to 8,000 UTF-8 bytes, far inside
   Pinecone's 40 KB per vector. The namespace is ``model_name``.

Vectors of documents that a later corpus no longer has stay in the namespace; delete the namespace to start
over. Progress is logged about every 5 % of the embedding batches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from lambda_src.register_model.endpoint_embeddings import EndpointEmbedder
from lambda_src.register_model.registration_events import PineconeRegistration
from lambda_src.shared.run_storage import InvalidEventError, iter_corpus

logger = logging.getLogger(__name__)

VECTOR_FIELD = "_values"  # the dense field of a vector index, the one /vectors/upsert writes
METRIC = "cosine"
MAX_VECTORS_PER_UPSERT = 1_000
MAX_UPSERT_BYTES = 2_000_000  # Pinecone: 2 MB per upsert request
UPSERT_ENVELOPE_BYTES = 1_024  # {"vectors": [...], "namespace": "..."} around the vectors
METADATA_TEXT_BYTES = 8_000
MAX_VECTOR_ID_LENGTH = 512
UPSERT_WORKERS = 4
INDEX_POLL_SECONDS = 5.0
INDEX_READY_TIMEOUT_SECONDS = 300.0
FAILED_INDEX_STATES = ("InitializationFailed", "Terminating", "Disabled")
PROGRESS_STEPS = 20


class PineconeIndexMismatchError(RuntimeError):
    """The existing index cannot hold this model's vectors; the message names its shape and the one needed."""


class PineconeRegistrationError(RuntimeError):
    """Pinecone refused a step (index not ready, upsert refused); the message names the step."""


@dataclass
class CorpusCount:
    documents: int = 0
    duplicates: int = 0
    blank: int = 0
    first_text: str = ""


def read_api_key(secrets_client: Any, secret_arn: str) -> str:
    """The Pinecone API key in the secret: its whole value, or its ``api_key`` when the value is JSON."""
    value = (secrets_client.get_secret_value(SecretId=secret_arn).get("SecretString") or "").strip()
    if value.startswith("{"):
        try:
            value = str(json.loads(value).get("api_key") or "").strip()
        except (json.JSONDecodeError, AttributeError):
            value = ""
    if not value:
        raise InvalidEventError(
            f'api_key_secret_arn: secret {secret_arn} holds no API key; set it to the key or to {{"api_key": ...}}'
        )
    return value


def connect(api_key: str, settings: PineconeRegistration) -> Any:
    from pinecone import Pinecone

    return Pinecone(api_key=api_key, host=settings.control_plane_host, source_tag="modelsmith")


def register_with_pinecone(
    settings: PineconeRegistration,
    *,
    pinecone: Any,
    s3_client: Any,
    runtime_client: Any,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float | None = None,
    ready_timeout_seconds: float | None = None,
    workers: int = UPSERT_WORKERS,
) -> dict[str, Any]:
    """Steps 2-4 of the module docstring with a connected ``Pinecone`` client; returns where the vectors are.

    Before the index is touched, every corpus line is checked and the first document is embedded, so a bad
    corpus, a wrong endpoint or an ``embedding_dimension`` that is not the model's changes nothing in Pinecone.
    """
    count = count_corpus(s3_client, settings.corpus_uri)
    if count.documents == 0:
        raise PineconeRegistrationError(f"corpus_uri: {settings.corpus_uri} holds no document with text to embed")
    embedder = EndpointEmbedder(runtime_client, settings.endpoint_name, settings.embedding_dimension)
    embedder.embed([count.first_text])
    index_model, created = ensure_index(
        pinecone,
        settings,
        sleep=sleep,
        poll_seconds=INDEX_POLL_SECONDS if poll_seconds is None else poll_seconds,
        timeout_seconds=INDEX_READY_TIMEOUT_SECONDS if ready_timeout_seconds is None else ready_timeout_seconds,
    )
    index = pinecone.index(host=index_model.host)
    upserted, requests = upsert_corpus(
        index,
        embedder,
        unique_documents(iter_corpus(s3_client, settings.corpus_uri)),
        settings=settings,
        total=count.documents,
        workers=workers,
    )
    logger.info("loaded %d vectors into %s/%s", upserted, settings.index_name, settings.namespace)
    return {
        "index_name": settings.index_name,
        "index_host": index_model.host,
        "namespace": settings.namespace,
        "vectors_upserted": upserted,
        "index_created": created,
        "documents": count.documents,
        "duplicates_skipped": count.duplicates,
        "blank_skipped": count.blank,
        "embedding_requests": embedder.requests,
        "upsert_requests": requests,
    }


def count_corpus(s3_client: Any, corpus_uri: str) -> CorpusCount:
    """Check every line of the corpus and count what will be embedded."""
    count = CorpusCount()
    seen: set[str] = set()
    for document_id, text in iter_corpus(s3_client, corpus_uri):
        if document_id in seen:
            count.duplicates += 1
        elif not text.strip():
            count.blank += 1
            seen.add(document_id)
        else:
            count.documents += 1
            count.first_text = count.first_text or text
            seen.add(document_id)
    return count


def unique_documents(documents: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """The first document of each id, without blank texts (the same rule as ``count_corpus``)."""
    seen: set[str] = set()
    for document_id, text in documents:
        if document_id not in seen:
            seen.add(document_id)
            if text.strip():
                yield document_id, text


# Index ---------------------------------------------------------------------------------------------------------


def ensure_index(
    pinecone: Any,
    settings: PineconeRegistration,
    *,
    sleep: Callable[[float], None],
    poll_seconds: float,
    timeout_seconds: float,
) -> tuple[Any, bool]:
    """The ready index (created when missing) and whether this call created it."""
    from pinecone import ApiError, ConflictError, ForbiddenError, NotFoundError, UnauthorizedError

    created = False
    try:
        model = pinecone.indexes.describe(settings.index_name)
    except (UnauthorizedError, ForbiddenError) as error:
        raise PineconeRegistrationError(
            f"api_key_secret_arn: Pinecone refused the API key in {settings.api_key_secret_arn} "
            f"(HTTP {error.status_code}: {error.message})"
        ) from error
    except NotFoundError:
        try:
            model = pinecone.indexes.create(
                name=settings.index_name,
                schema={
                    "fields": {
                        VECTOR_FIELD: {
                            "type": "dense_vector",
                            "dimension": settings.embedding_dimension,
                            "metric": METRIC,
                        }
                    }
                },
                deployment={"deployment_type": "managed", "cloud": settings.cloud, "region": settings.region},
                timeout=-1,  # waited for below, with this function's own bound
            )
            created = True
            logger.info(
                "creating Pinecone index %s (%d-d, %s) in %s/%s",
                settings.index_name,
                settings.embedding_dimension,
                METRIC,
                settings.cloud,
                settings.region,
            )
        except ConflictError:  # created by a concurrent run: use it like any existing index
            model = pinecone.indexes.describe(settings.index_name)
        except ApiError as error:  # e.g. a region the project's plan does not offer, or the index quota
            raise PineconeRegistrationError(
                f"index_name: Pinecone refused to create index {settings.index_name} in {settings.cloud}/{settings.region} "
                f"(HTTP {error.status_code}: {error.message})"
            ) from error
    check_index_shape(model, settings)
    deadline = time.monotonic() + timeout_seconds
    while not model.status.ready:
        if model.status.state in FAILED_INDEX_STATES:
            raise PineconeRegistrationError(f"index_name: Pinecone index {settings.index_name} is {model.status.state}")
        if time.monotonic() >= deadline:
            raise PineconeRegistrationError(
                f"index_name: Pinecone index {settings.index_name} is still {model.status.state} after {timeout_seconds:g} s"
            )
        sleep(poll_seconds)
        model = pinecone.indexes.describe(settings.index_name)
    if not model.host:
        raise PineconeRegistrationError(f"index_name: Pinecone index {settings.index_name} is ready but has no host")
    return model, created


def check_index_shape(model: Any, settings: PineconeRegistration) -> None:
    from pinecone import DenseVectorField

    dense = {name: spec for name, spec in model.schema.fields.items() if isinstance(spec, DenseVectorField)}
    wanted = f"dimension {settings.embedding_dimension} and metric {METRIC}"
    spec = dense.get(VECTOR_FIELD)
    if spec is None:
        shape = (
            ", ".join(f"{name} ({spec.dimension}-d, {spec.metric})" for name, spec in dense.items())
            or "no dense vector field"
        )
        raise PineconeIndexMismatchError(
            f"index_name: Pinecone index {settings.index_name} is not a vector index ({shape}); this model needs "
            f"{wanted}; choose another index_name"
        )
    if spec.dimension != settings.embedding_dimension or str(spec.metric).lower() != METRIC:
        raise PineconeIndexMismatchError(
            f"index_name: Pinecone index {settings.index_name} has dimension {spec.dimension} and metric {spec.metric}; "
            f"this model needs {wanted}; choose another index_name or delete that index"
        )


# Vectors -------------------------------------------------------------------------------------------------------


def vector_id(document_id: str) -> str:
    """The document id when Pinecone accepts it as a vector id, else a stable hash of it."""
    if 0 < len(document_id) <= MAX_VECTOR_ID_LENGTH and document_id.isascii() and "\x00" not in document_id:
        return document_id
    return "sha256-" + hashlib.sha256(document_id.encode("utf-8")).hexdigest()


def truncate_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def build_vector(document_id: str, text: str, values: list[float], settings: PineconeRegistration) -> dict[str, Any]:
    return {
        "id": vector_id(document_id),
        "values": values,
        "metadata": {
            "doc_id": document_id,
            "run_id": settings.run_id,
            "model_name": settings.model_name,
            "text": truncate_utf8(text, METADATA_TEXT_BYTES),
        },
    }


def encoded_size(vector: dict[str, Any]) -> int:
    """An upper bound of the vector's size in the request body (JSON with spaces, non-ASCII escaped)."""
    return len(json.dumps(vector)) + 2


class UpsertRequests:
    """Groups vectors into upsert requests of at most ``max_vectors`` vectors and ``max_bytes`` bytes."""

    def __init__(self, max_vectors: int = MAX_VECTORS_PER_UPSERT, max_bytes: int = MAX_UPSERT_BYTES) -> None:
        self.max_vectors, self.budget = max_vectors, max_bytes - UPSERT_ENVELOPE_BYTES
        self._vectors: list[dict[str, Any]] = []
        self._size = 0

    def add(self, vector: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Add a vector; returns a full request when this one no longer fits beside the pending ones."""
        size = encoded_size(vector)
        if size > self.budget:
            raise PineconeRegistrationError(
                f"vector {vector['id']}: {size} bytes alone exceed an upsert request's limit"
            )
        full = None
        if self._vectors and (len(self._vectors) == self.max_vectors or self._size + size > self.budget):
            full = self.flush()
        self._vectors.append(vector)
        self._size += size
        return full

    def flush(self) -> list[dict[str, Any]] | None:
        vectors, self._vectors, self._size = self._vectors, [], 0
        return vectors or None


def upsert_corpus(
    index: Any,
    embedder: EndpointEmbedder,
    documents: Iterable[tuple[str, str]],
    *,
    settings: PineconeRegistration,
    total: int,
    workers: int = UPSERT_WORKERS,
) -> tuple[int, int]:
    """Embed ``documents`` batch by batch and upsert them in parallel; returns (vectors upserted, requests)."""
    total_batches = max(1, -(-total // embedder.batch_size))
    log_every = -(-total_batches // PROGRESS_STEPS)  # about every 5 %
    requests = UpsertRequests()
    upserted = sent = 0
    pending: set[Future[int]] = set()

    def collect(done: Iterable[Future[int]]) -> None:
        nonlocal upserted
        for future in done:
            pending.discard(future)
            upserted += future.result()  # re-raises the upsert's error

    def upsert(vectors: list[dict[str, Any]], number: int) -> int:
        from pinecone import PineconeError

        try:
            response = index.upsert(vectors=vectors, namespace=settings.namespace)
        except PineconeError as error:
            raise PineconeRegistrationError(
                f"upsert request {number} ({len(vectors)} vectors) to {settings.index_name}/{settings.namespace} failed: {error}"
            ) from error
        return int(response.upserted_count)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pinecone-upsert") as pool:

        def submit(vectors: list[dict[str, Any]] | None) -> None:
            nonlocal sent
            if not vectors:
                return
            if len(pending) >= 2 * workers:  # bound memory: wait for a request to finish first
                collect(wait(pending, return_when=FIRST_COMPLETED).done)
            sent += 1
            pending.add(pool.submit(upsert, vectors, sent))

        try:
            for number, batch in enumerate(_batches(documents, embedder.batch_size), start=1):
                values = embedder.embed([text for _, text in batch])
                for (document_id, text), vector in zip(batch, values):
                    submit(requests.add(build_vector(document_id, text, vector, settings)))
                if number % log_every == 0 or number == total_batches:
                    logger.info(
                        "embedding batch %d/%d done; %d upsert request(s) sent",
                        number,
                        total_batches,
                        sent,
                        extra={"batches_done": number, "batches_total": total_batches, "upsert_requests": sent},
                    )
            submit(requests.flush())
            collect(wait(pending).done)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return upserted, sent


def _batches(documents: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for document in documents:
        batch.append(document)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
