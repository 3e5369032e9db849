"""Read an OpenSearch index page by page inside a point in time (PIT) with ``search_after``.

- Authentication: SigV4 with the function's AWS credentials for Amazon OpenSearch Service domains
  (``opensearch_auth = "sigv4"``), or HTTP basic auth with ``{"username", "password"}`` from the Secrets
  Manager secret ``opensearch_secret_arn`` (``"basic"``).
- Paging: one PIT (``POST /<index>/_search/point_in_time``), then ``POST /_search`` with ``pit``, ``sort``
  and ``search_after`` in pages of 500, always with the most recent PIT ID a response returned. The PIT is
  deleted in ``finally``, also when a page fails.
- Order: ``_shard_doc``, the PIT tiebreaker, on OpenSearch 3.3 and later. Earlier versions do not know it
  (opensearch-project/OpenSearch#17064, added in 3.3.0), so there ``_doc`` then ``_id`` gives the same
  total order.
- Documents: text from ``text_field``, a dotted path into nested objects (``body.text``; strings found under
  arrays are joined by blank lines), id from ``doc_id_field`` or the hit's ``_id``. A hit without usable text
  or id goes to the rejects file as ``{"hit": n, "opensearch_id", "reason"}``. Reading stops once
  ``max_documents`` documents are kept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator
from contextlib import closing
from typing import TYPE_CHECKING, Any

import boto3
from opensearchpy import OpenSearch
from opensearchpy.exceptions import AuthenticationException, AuthorizationException, NotFoundError, TransportError

from lambda_src.extract_corpus.corpus_records import CorpusDocument, CorpusLineError, SourceOutcome
from lambda_src.shared.opensearch_client import open_client
from lambda_src.shared.run_storage import InvalidEventError, JsonLinesUpload

if TYPE_CHECKING:
    from lambda_src.extract_corpus.corpus_extraction import ExtractionSettings

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
PIT_KEEP_ALIVE = "5m"
REQUEST_TIMEOUT_SECONDS = 30
SHARD_DOC_MINIMUM_VERSION = (3, 3)
SHARD_DOC_SORT = [{"_shard_doc": "asc"}]
LEGACY_SORT = [{"_doc": "asc"}, {"_id": "asc"}]


class OpenSearchAccessError(RuntimeError):
    """The cluster refused the function's credentials (401) or permissions (403); the message says which input."""


def connect(settings: ExtractionSettings, *, session: boto3.Session | None = None) -> OpenSearch:
    """An opensearch-py client for ``input.opensearch_endpoint`` with the configured authentication."""
    return open_client(
        settings.opensearch_endpoint,
        settings.opensearch_auth,
        settings.opensearch_secret_arn,
        session=session,
        field_prefix="input.",
        timeout_seconds=REQUEST_TIMEOUT_SECONDS,
        serverless_refusal=(
            "OpenSearch Serverless collections do not support point in time search; export the "
            "documents to S3 as JSONL and use input_type 's3'"
        ),
    )


def choose_sort(client: OpenSearch) -> list[dict[str, str]]:
    """``_shard_doc`` where the cluster supports it, otherwise ``_doc`` + ``_id`` (see the module docstring)."""
    try:
        version = client.info()["version"]
    except AuthorizationException as error:  # a role without cluster:monitor/main: the legacy order works everywhere
        logger.warning("cannot read the cluster version (%s); sorting by _doc and _id", error)
        return LEGACY_SORT
    numbers = tuple(int(part) for part in re.findall(r"\d+", str(version.get("number", "0")))[:2])
    if version.get("distribution") == "opensearch" and numbers >= SHARD_DOC_MINIMUM_VERSION:
        return SHARD_DOC_SORT
    return LEGACY_SORT


def read_index(
    settings: ExtractionSettings, rejects: JsonLinesUpload, *, client: OpenSearch | None = None
) -> SourceOutcome:
    """Keep up to ``max_documents`` usable documents of ``input.index_name``; reject the others."""
    client = client or connect(settings)
    documents: list[CorpusDocument] = []
    seen_ids: set[str] = set()
    hits_read = rejected = duplicates = 0
    try:
        with closing(iter_hits(client, settings)) as hits:  # closing: the PIT is deleted as soon as we stop
            for hit in hits:
                hits_read += 1
                try:
                    document = document_from_hit(hit, settings.text_field, settings.doc_id_field)
                except CorpusLineError as error:
                    rejected += 1
                    rejects.write({"hit": hits_read, "opensearch_id": hit.get("_id"), "reason": str(error)})
                    continue
                if document.id in seen_ids:
                    duplicates += 1
                    rejects.write(
                        {"hit": hits_read, "opensearch_id": hit.get("_id"), "reason": f"id: duplicate {document.id!r}"}
                    )
                    continue
                seen_ids.add(document.id)
                documents.append(document)
                if len(documents) >= settings.max_documents:
                    break
    except (AuthenticationException, AuthorizationException) as error:
        raise OpenSearchAccessError(describe_refusal(error, settings)) from error

    def describe_empty(rejects_uri: str) -> str:
        if hits_read == 0:
            return f"index '{settings.index_name}' returned no documents"
        return (
            f"index '{settings.index_name}' returned no documents with field '{settings.text_field}' "
            f"(all {hits_read} hits rejected; see {rejects_uri})"
        )

    return SourceOutcome(documents, rejected, duplicates, describe_empty)


def describe_refusal(error: TransportError, settings: ExtractionSettings) -> str:
    """Which input to fix when the cluster says 401 or 403."""
    if error.status_code == 401 and settings.opensearch_auth == "basic":
        return (
            f"input.opensearch_secret_arn: {settings.opensearch_endpoint} refused the username and password "
            f"in {settings.opensearch_secret_arn} (HTTP 401)"
        )
    if error.status_code == 401:
        return (
            f"input.opensearch_auth: {settings.opensearch_endpoint} refused the SigV4-signed request (HTTP 401); "
            "is it an Amazon OpenSearch Service domain with IAM authentication?"
        )
    return (
        f"input.index_name: the function's identity may not read index '{settings.index_name}' at "
        f"{settings.opensearch_endpoint} (HTTP 403); map its role to a backend role with read and "
        "point-in-time permissions on the index"
    )


def iter_hits(client: OpenSearch, settings: ExtractionSettings) -> Generator[dict[str, Any], None, None]:
    """Every hit of the index in PIT order; the PIT is deleted when the iteration ends, however it ends."""
    sort = choose_sort(client)
    source_fields = [settings.text_field] + ([] if settings.doc_id_field == "_id" else [settings.doc_id_field])
    try:
        pit_id = client.create_pit(index=settings.index_name, keep_alive=PIT_KEEP_ALIVE)["pit_id"]
    except NotFoundError as error:
        raise InvalidEventError(f"input.index_name: index '{settings.index_name}' was not found") from error
    try:
        search_after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": PAGE_SIZE,
                "query": {"match_all": {}},
                "pit": {"id": pit_id, "keep_alive": PIT_KEEP_ALIVE},
                "sort": sort,
                "_source": source_fields,
                "track_total_hits": False,
            }
            if search_after is not None:
                body["search_after"] = search_after
            response = client.search(body=body)
            pit_id = response.get("pit_id") or pit_id  # a response may carry a newer PIT ID; always use the latest
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < PAGE_SIZE:
                return
            search_after = hits[-1]["sort"]
    finally:
        try:
            client.delete_pit(body={"pit_id": [pit_id]})
        except Exception as error:  # noqa: BLE001 - never hide the error that ended the paging
            logger.warning("could not delete point in time (%s); it expires after %s", error, PIT_KEEP_ALIVE)


def document_from_hit(hit: dict[str, Any], text_field: str, doc_id_field: str) -> CorpusDocument:
    source = hit.get("_source") or {}
    texts = values_at(source, text_field)
    if not texts:
        raise CorpusLineError(f"{text_field}: field is missing")
    if not all(isinstance(value, str) for value in texts):
        raise CorpusLineError(
            f"{text_field}: expected text, got {type(next(v for v in texts if not isinstance(v, str))).__name__}"
        )
    text = "\n\n".join(value for value in texts if value.strip())
    if not text:
        raise CorpusLineError(f"{text_field}: must not be empty")
    if doc_id_field == "_id":
        document_id = hit.get("_id")
    else:
        ids = values_at(source, doc_id_field)
        document_id = ids[0] if len(ids) == 1 else None
        if isinstance(document_id, (int, float)) and not isinstance(document_id, bool):
            document_id = str(document_id)
    if not isinstance(document_id, str) or not document_id.strip():
        raise CorpusLineError(f"{doc_id_field}: missing or not a single non-empty string or number")
    return CorpusDocument(
        id=document_id, text=text, metadata={"index": hit.get("_index"), "opensearch_id": hit.get("_id")}
    )


def values_at(source: Any, path: str) -> list[Any]:
    """The values at a dotted path, through nested objects and arrays of objects (flattened)."""
    if isinstance(source, dict) and path in source:  # a literal dotted key, as OpenSearch allows in _source
        return _flatten([source[path]])
    values = [source]
    for part in path.split("."):
        found = []
        for value in _flatten(values):
            if isinstance(value, dict) and part in value:
                found.append(value[part])
        values = found
    return [value for value in _flatten(values) if value is not None]


def _flatten(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        flat.extend(_flatten(value) if isinstance(value, list) else [value])
    return flat
