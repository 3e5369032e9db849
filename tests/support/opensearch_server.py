"""A local HTTP server speaking the part of OpenSearch's REST API that point-in-time paging uses.

Endpoints (as documented for OpenSearch 2.x/3.x):

- ``GET /``: cluster info with ``version.distribution = "opensearch"`` and ``version.number``;
- ``POST /<index>/_search/point_in_time?keep_alive=<time>``: ``{"pit_id", "_shards", "creation_time"}``
  (404 ``index_not_found_exception`` for an unknown index, 400 without ``keep_alive``);
- ``POST|GET /_search`` with ``pit``, ``size``, ``sort``, ``search_after``, ``_source`` and a ``match_all``
  query: hits carry ``sort`` values, the response carries ``pit_id``. Sort keys: ``_shard_doc`` (3.3.0 and
  later; earlier versions answer 400 like the real ones), ``_doc`` and ``_id``, ascending. A search that
  names an index together with a PIT is refused, as OpenSearch does;
- ``DELETE /_search/point_in_time`` with ``{"pit_id": [...]}``: ``{"pits": [{"pit_id", "successful"}]}``.

A PIT sees the index as it was when created. Documents are spread over ``shards`` shards by a stable hash
of their id. With ``username``/``password`` set, every request needs that basic ``Authorization`` header
(401 otherwise). ``fail_searches`` holds 1-based numbers of ``_search`` requests to answer with HTTP 500;
``forbidden_indices`` answer PIT creation with 403 as the security plugin does; ``rotate_pit_ids`` makes
every search answer with a new PIT ID, as Elasticsearch-style servers may.
Every request is recorded in ``requests`` (header names in lower case).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class StoredDocument:
    index: str
    id: str
    source: dict[str, Any]
    shard: int
    doc: int  # Lucene-style document number within the shard


@dataclass
class OpenSearchServer:
    """Start with ``start()`` (or use as a context manager); ``url`` is ``http://127.0.0.1:<port>``."""

    version: str = "3.3.0"
    shards: int = 2
    username: str | None = None
    password: str | None = None
    rotate_pit_ids: bool = False
    fail_searches: set[int] = field(default_factory=set)
    forbidden_indices: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    indices: dict[str, list[StoredDocument]] = field(default_factory=dict)
    open_pits: dict[str, list[StoredDocument]] = field(default_factory=dict)
    deleted_pits: list[str] = field(default_factory=list)
    created_pits: list[str] = field(default_factory=list)
    _searches: int = 0
    _pit_counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> OpenSearchServer:
        owner = self

        class Handler(_RequestHandler):
            server_state = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="opensearch-stand-in", daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenSearchServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- data ------------------------------------------------------------------------------------------------

    def add_index(self, name: str, documents: list[tuple[str, dict[str, Any]]]) -> None:
        """Index ``(id, source)`` pairs; each goes to shard ``crc32(id) % shards`` in insertion order."""
        stored: list[StoredDocument] = []
        per_shard = [0] * self.shards
        for document_id, source in documents:
            shard = zlib.crc32(document_id.encode()) % self.shards
            stored.append(StoredDocument(name, document_id, source, shard, per_shard[shard]))
            per_shard[shard] += 1
        self.indices[name] = stored

    def search_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == "/_search"]

    # -- behaviour -------------------------------------------------------------------------------------------

    def _version_tuple(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.version.split(".")[:2])

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/":
            return 200, {"name": "node-1", "cluster_name": "stand-in", "tagline": "The OpenSearch Project: https://opensearch.org/",
                         "version": {"distribution": "opensearch", "number": self.version}}  # fmt: skip
        if path == "/_search/point_in_time" and method == "DELETE":
            return self._delete_pits(body)
        if path.endswith("/_search/point_in_time") and method == "POST":
            return self._create_pit(path.split("/")[1], query)
        if path.endswith("/_search") and method in ("GET", "POST"):
            return self._search(path, body or {})
        return 404, _error("no_handler_found_exception", f"no handler found for uri [{path}] and method [{method}]", 404)

    def _create_pit(self, index: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if "keep_alive" not in query:
            return 400, _error("action_request_validation_exception", "Validation Failed: 1: keep alive not specified;", 400)
        if index in self.forbidden_indices:
            return 403, _error("security_exception", f"no permissions for [indices:data/read/point_in_time/create] on [{index}]", 403)
        if index not in self.indices:
            return 404, _error("index_not_found_exception", f"no such index [{index}]", 404)
        with self._lock:
            self._pit_counter += 1
            pit_id = base64.urlsafe_b64encode(f"pit-{index}-{self._pit_counter}".encode()).decode()
            self.open_pits[pit_id] = list(self.indices[index])
            self.created_pits.append(pit_id)
        return 200, {"pit_id": pit_id, "_shards": {"total": self.shards, "successful": self.shards, "skipped": 0, "failed": 0},
                     "creation_time": int(time.time() * 1000)}  # fmt: skip

    def _delete_pits(self, body: Any) -> tuple[int, Any]:
        pit_ids = (body or {}).get("pit_id", [])
        pit_ids = [pit_ids] if isinstance(pit_ids, str) else pit_ids
        results = []
        with self._lock:
            for pit_id in pit_ids:
                found = self.open_pits.pop(pit_id, None) is not None
                if found:
                    self.deleted_pits.append(pit_id)
                results.append({"pit_id": pit_id, "successful": found})
        return 200, {"pits": results}

    def _search(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self._searches += 1
            number = self._searches
        if number in self.fail_searches:
            return 500, _error("search_phase_execution_exception", "all shards failed", 500)
        pit = body.get("pit")
        if not pit:
            return 400, _error("illegal_argument_exception", "this stand-in only answers point-in-time searches", 400)
        if path != "/_search":
            return 400, _error("action_request_validation_exception", "[indices] cannot be used with point in time", 400)
        documents = self.open_pits.get(pit.get("id"))
        if documents is None:
            return 404, _error("search_context_missing_exception", f"No search context found for id [{pit.get('id')}]", 404)
        if body.get("query", {"match_all": {}}) != {"match_all": {}}:
            return 400, _error("parsing_exception", "this stand-in only supports match_all", 400)
        try:
            keys = [self._sort_key(entry) for entry in body.get("sort", [{"_shard_doc": "asc"}])]
        except ValueError as error:
            return 400, _error("query_shard_exception", str(error), 400)
        ordered = sorted(documents, key=lambda document: [key(document) for key in keys])
        after = body.get("search_after")
        if after is not None:
            if len(after) != len(keys):
                return 400, _error("illegal_argument_exception", "search_after has a different number of sort fields", 400)
            ordered = [document for document in ordered if [key(document) for key in keys] > list(after)]
        page = ordered[: body.get("size", 10)]
        hits = [{"_index": document.index, "_id": document.id, "_score": None,
                 "_source": _filter_source(document.source, body.get("_source", True)),
                 "sort": [key(document) for key in keys]} for document in page]  # fmt: skip
        pit_id = pit["id"]
        if self.rotate_pit_ids:
            with self._lock:
                self._pit_counter += 1
                new_id = base64.urlsafe_b64encode(f"{pit_id}-{self._pit_counter}".encode()).decode()
                self.open_pits[new_id] = self.open_pits.pop(pit_id)
                pit_id = new_id
        return 200, {"pit_id": pit_id, "took": 1, "timed_out": False,
                     "_shards": {"total": self.shards, "successful": self.shards, "skipped": 0, "failed": 0},
                     "hits": {"total": {"value": len(documents), "relation": "eq"}, "max_score": None, "hits": hits}}  # fmt: skip

    def _sort_key(self, entry: Any) -> Any:
        name, order = (entry, "asc") if isinstance(entry, str) else next(iter(entry.items()))
        order = order.get("order", "asc") if isinstance(order, dict) else order
        if order != "asc":
            raise ValueError(f"this stand-in sorts ascending only, not [{name}] {order}")
        if name == "_shard_doc":
            if self._version_tuple() < (3, 3):
                raise ValueError("No mapping found for [_shard_doc] in order to sort on")
            return lambda document: (document.shard << 32) | document.doc
        if name == "_doc":
            return lambda document: document.doc
        if name == "_id":
            return lambda document: document.id
        raise ValueError(f"this stand-in cannot sort on [{name}]")


def _error(kind: str, reason: str, status: int) -> dict[str, Any]:
    return {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}


def _filter_source(source: dict[str, Any], includes: Any) -> dict[str, Any]:
    """``_source`` filtering by dotted include paths (``true`` keeps everything)."""
    if includes is True:
        return source
    if isinstance(includes, dict):
        includes = includes.get("includes", [])
    if isinstance(includes, str):
        includes = [includes]
    kept: dict[str, Any] = {}
    for path in includes:
        _copy_path(source, kept, path.split("."))
    return kept


def _copy_path(source: Any, target: dict[str, Any], parts: list[str]) -> None:
    if not isinstance(source, dict) or parts[0] not in source:
        return
    value = source[parts[0]]
    if len(parts) == 1:
        target[parts[0]] = value
    elif isinstance(value, list):
        copies = []
        for item in value:
            copy: dict[str, Any] = {}
            _copy_path(item, copy, parts[1:])
            copies.append(copy)
        target[parts[0]] = copies
    else:
        nested = target.setdefault(parts[0], {})
        _copy_path(value, nested, parts[1:])


class _RequestHandler(BaseHTTPRequestHandler):
    server_state: OpenSearchServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass

    def _respond(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self) -> None:
        state = self.server_state
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding") == "gzip":
            raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
        body = json.loads(raw) if raw else None
        headers = {name.lower(): value for name, value in self.headers.items()}
        state.requests.append(RecordedRequest(self.command, url.path, parse_qs(url.query), headers, body))
        if state.username is not None:
            expected = "Basic " + base64.b64encode(f"{state.username}:{state.password}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._respond(401, _error("security_exception", "Unauthorized", 401),
                              {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'})  # fmt: skip
                return
        status, payload = state.handle(self.command, url.path, parse_qs(url.query), body)
        self._respond(status, payload)

    do_GET = do_POST = do_DELETE = do_PUT = _dispatch  # noqa: N815 - http.server's naming
