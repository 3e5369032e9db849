"""A local HTTP server speaking the part of Pinecone's REST API (version 2026-07) that loading vectors uses.

Control plane (``url``; point ``Pinecone(api_key=..., host=server.url)`` at it):

- ``GET /indexes``: ``{"indexes": [...]}``; ``GET /indexes/<name>``: the index, or 404 ``NOT_FOUND``;
- ``POST /indexes`` with ``{"name", "schema": {"fields": {...}}, "deployment": {"deployment_type": "managed",
  "cloud", "region"}, ...}``: 201 with the index ``Initializing``; 409 ``ALREADY_EXISTS`` for a taken name, 400
  for a bad name, field, dimension (1-20,000) or metric. An index turns ``Ready`` on its
  ``describes_until_ready``-th describe, and only then gets its data-plane host;
- ``DELETE /indexes/<name>``: 202.

Data plane (one more local server per index, at the index's ``host``, ``http://127.0.0.1:<port>``):

- ``POST /vectors/upsert`` ``{"vectors": [{"id", "values", "metadata"}], "namespace"}``: ``{"upsertedCount"}``.
  Refused like Pinecone: more than 1,000 vectors or a body over 2 MB (HTTP 400 / 413), a vector whose
  dimension differs from the index's, an id that is not 1-512 ASCII characters, metadata over 40 KB;
- ``POST /describe_index_stats``: ``{"namespaces": {ns: {"vectorCount"}}, "dimension", "totalVectorCount", ...}``;
- ``GET /vectors/fetch?ids=..&namespace=..``: ``{"vectors": {id: {...}}, "namespace"}``;
- ``POST /query`` ``{"vector", "topK", "namespace", "includeMetadata", "includeValues"}``: cosine matches.

Every request needs the ``Api-Key`` header (401 otherwise). Requests are recorded in ``requests`` with their
body size; upserts also in ``upserts`` as ``(index, vector count, body bytes)``.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_UPSERT_VECTORS = 1_000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_DIMENSION = 20_000
METRICS = ("cosine", "euclidean", "dotproduct")
INDEX_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$")


@dataclass(frozen=True)
class RecordedRequest:
    plane: str  # "control" or the index name
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    size: int


@dataclass
class StoredIndex:
    name: str
    schema: dict[str, Any]
    deployment: dict[str, Any]
    describes: int = 0
    ready: bool = False
    namespaces: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def dense_field(self) -> dict[str, Any] | None:
        return next((spec for spec in self.schema["fields"].values() if spec.get("type") == "dense_vector"), None)

    @property
    def host(self) -> str | None:
        return f"http://127.0.0.1:{self.server.server_address[1]}" if self.server else None


@dataclass
class PineconeServer:
    """Start with ``start()`` (or use as a context manager); ``url`` is the control plane's base URL."""

    api_key: str = "test-pinecone-key"
    describes_until_ready: int = 2
    requests: list[RecordedRequest] = field(default_factory=list)
    upserts: list[tuple[str, int, int]] = field(default_factory=list)
    indexes: dict[str, StoredIndex] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = field(default_factory=list)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> PineconeServer:
        self._control = self._serve("control")
        return self

    def stop(self) -> None:
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._servers.clear()

    def __enter__(self) -> PineconeServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._control.server_address[1]}"

    def _serve(self, plane: str) -> ThreadingHTTPServer:
        owner = self

        class Handler(_RequestHandler):
            server_state = owner
            plane_name = plane

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"pinecone-{plane}", daemon=True
        )
        thread.start()
        self._servers.append((server, thread))
        return server

    # -- test helpers ----------------------------------------------------------------------------------------

    def add_index(
        self, name: str, *, dimension: int, metric: str = "cosine", field_name: str = "_values"
    ) -> StoredIndex:
        """An index that already exists and is ready (as one made before the test)."""
        index = StoredIndex(
            name,
            {"fields": {field_name: {"type": "dense_vector", "dimension": dimension, "metric": metric}}},
            {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
            ready=True,
        )
        index.server = self._serve(name)
        self.indexes[name] = index
        return index

    def vectors(self, index: str, namespace: str) -> dict[str, dict[str, Any]]:
        return self.indexes[index].namespaces.get(namespace, {})

    def control_requests(self, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.plane == "control" and (method is None or r.method == method)]

    # -- control plane ---------------------------------------------------------------------------------------

    def control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts[0] != "indexes" or len(parts) > 2:
            return 404, _error(404, "NOT_FOUND", f"Unknown path {path}")
        with self._lock:
            if len(parts) == 1 and method == "GET":
                return 200, {"indexes": [self._describe(index, count=False) for index in self.indexes.values()]}
            if len(parts) == 1 and method == "POST":
                return self._create(body or {})
            index = self.indexes.get(parts[1])
            if index is None:
                return 404, _error(404, "NOT_FOUND", f"Resource {parts[1]} not found")
            if method == "GET":
                return 200, self._describe(index)
            if method == "DELETE":
                del self.indexes[parts[1]]
                return 202, None
        return 405, _error(405, "METHOD_NOT_ALLOWED", f"{method} {path}")

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not INDEX_NAME.match(name):
            return 400, _error(
                400, "INVALID_ARGUMENT", f"Name must consist of lower case alphanumeric characters or '-': {name!r}"
            )
        if name in self.indexes:
            return 409, _error(409, "ALREADY_EXISTS", f"Resource {name} already exists")
        fields = (body.get("schema") or {}).get("fields")
        if not isinstance(fields, dict) or not fields:
            return 400, _error(400, "INVALID_ARGUMENT", "schema.fields must declare at least one field")
        for field_name, spec in fields.items():
            if spec.get("type") == "dense_vector":
                if not isinstance(spec.get("dimension"), int) or not 1 <= spec["dimension"] <= MAX_DIMENSION:
                    return 400, _error(
                        400, "INVALID_ARGUMENT", f"schema.fields.{field_name}.dimension must be 1-{MAX_DIMENSION}"
                    )
                if spec.get("metric") not in METRICS:
                    return 400, _error(
                        400, "INVALID_ARGUMENT", f"schema.fields.{field_name}.metric must be one of {METRICS}"
                    )
        deployment = body.get("deployment") or {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
        if (
            deployment.get("deployment_type") != "managed"
            or not deployment.get("cloud")
            or not deployment.get("region")
        ):
            return 400, _error(
                400, "INVALID_ARGUMENT", "this stand-in creates managed (serverless) indexes with a cloud and region"
            )
        index = StoredIndex(name, {"fields": fields}, deployment)
        self.indexes[name] = index
        return 201, self._describe(index, count=False)

    def _describe(self, index: StoredIndex, *, count: bool = True) -> dict[str, Any]:
        if count and not index.ready:
            index.describes += 1
            if index.describes >= self.describes_until_ready:
                index.ready = True
                index.server = self._serve(index.name)
        return {
            "name": index.name,
            "host": index.host if index.ready else None,
            "status": {"ready": index.ready, "state": "Ready" if index.ready else "Initializing"},
            "schema": index.schema,
            "deployment": {
                **index.deployment,
                "environment": f"{index.deployment['region']}-{index.deployment['cloud']}",
            },
            "deletion_protection": "disabled",
            "read_capacity": {"mode": "OnDemand", "status": {"state": "Ready"}},
            "tags": None,
        }

    # -- data plane ------------------------------------------------------------------------------------------

    def data(
        self, index_name: str, method: str, path: str, query: dict[str, list[str]], body: Any, size: int
    ) -> tuple[int, Any]:
        with self._lock:
            index = self.indexes.get(index_name)
            if index is None:
                return 404, _error(404, "NOT_FOUND", f"index {index_name} was deleted")
            if (method, path) == ("POST", "/vectors/upsert"):
                return self._upsert(index, body or {}, size)
            if (method, path) == ("POST", "/describe_index_stats"):
                return 200, self._stats(index)
            if (method, path) == ("GET", "/vectors/fetch"):
                namespace = query.get("namespace", [""])[0]
                stored = index.namespaces.get(namespace, {})
                return 200, {
                    "vectors": {i: stored[i] for i in query.get("ids", []) if i in stored},
                    "namespace": namespace,
                    "usage": {"readUnits": 1},
                }
            if (method, path) == ("POST", "/query"):
                return self._query(index, body or {})
        return 404, _error(404, "NOT_FOUND", f"Unknown path {path}")

    def _upsert(self, index: StoredIndex, body: dict[str, Any], size: int) -> tuple[int, Any]:
        self.upserts.append((index.name, len(body.get("vectors") or []), size))
        if size > MAX_REQUEST_BYTES:
            return 413, _error(
                413,
                "REQUEST_TOO_LARGE",
                f"Request size {size} bytes exceeds the maximum supported size of {MAX_REQUEST_BYTES} bytes",
            )
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            return 400, _error(400, "INVALID_ARGUMENT", "vectors must be a non-empty list")
        if len(vectors) > MAX_UPSERT_VECTORS:
            return 400, _error(
                400,
                "INVALID_ARGUMENT",
                f"Vector count {len(vectors)} exceeds the maximum of {MAX_UPSERT_VECTORS} per request",
            )
        dimension = (index.dense_field or {}).get("dimension")
        for vector in vectors:
            vector_id, values = vector.get("id"), vector.get("values")
            if not isinstance(vector_id, str) or not 1 <= len(vector_id) <= 512 or not vector_id.isascii():
                return 400, _error(400, "INVALID_ARGUMENT", f"Vector ID must be 1-512 ASCII characters: {vector_id!r}")
            if not isinstance(values, list) or len(values) != dimension:
                return 400, _error(
                    400,
                    "INVALID_ARGUMENT",
                    f"Vector dimension {len(values) if isinstance(values, list) else 0} does not match the dimension of the index {dimension}",
                )
            metadata_bytes = len(json.dumps(vector.get("metadata") or {}, separators=(",", ":")).encode())
            if metadata_bytes > MAX_METADATA_BYTES:
                return 400, _error(
                    400,
                    "INVALID_ARGUMENT",
                    f"Metadata size is {metadata_bytes} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector",
                )
        stored = index.namespaces.setdefault(body.get("namespace") or "", {})
        for vector in vectors:
            stored[vector["id"]] = {"id": vector["id"], "values": vector["values"], "metadata": vector.get("metadata")}
        return 200, {"upsertedCount": len(vectors)}

    def _stats(self, index: StoredIndex) -> dict[str, Any]:
        spec = index.dense_field or {}
        namespaces = {name: {"vectorCount": len(vectors)} for name, vectors in index.namespaces.items() if vectors}
        return {
            "namespaces": namespaces,
            "dimension": spec.get("dimension"),
            "indexFullness": 0.0,
            "totalVectorCount": sum(item["vectorCount"] for item in namespaces.values()),
            "metric": spec.get("metric"),
            "vectorType": "dense",
        }

    def _query(self, index: StoredIndex, body: dict[str, Any]) -> tuple[int, Any]:
        query = body.get("vector")
        if not isinstance(query, list):
            return 400, _error(400, "INVALID_ARGUMENT", "this stand-in queries by vector only")
        namespace = body.get("namespace") or ""

        def cosine(values: list[float]) -> float:
            norm = math.sqrt(sum(v * v for v in values)) * math.sqrt(sum(q * q for q in query)) or 1.0
            return sum(v * q for v, q in zip(values, query)) / norm

        scored = sorted(
            ((cosine(v["values"]), v) for v in index.namespaces.get(namespace, {}).values()), key=lambda item: -item[0]
        )
        matches = [
            {
                "id": v["id"],
                "score": score,
                **({"values": v["values"]} if body.get("includeValues") else {}),
                **({"metadata": v["metadata"]} if body.get("includeMetadata") and v["metadata"] else {}),
            }
            for score, v in scored[: body.get("topK", 10)]
        ]
        return 200, {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}}


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, "status": status}


class _RequestHandler(BaseHTTPRequestHandler):
    server_state: PineconeServer
    plane_name: str
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass

    def _respond(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self) -> None:
        state = self.server_state
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        headers = {name.lower(): value for name, value in self.headers.items()}
        with state._lock:
            state.requests.append(RecordedRequest(self.plane_name, self.command, url.path, headers, body, len(raw)))
        if headers.get("api-key") != state.api_key:
            self._respond(401, _error(401, "UNAUTHENTICATED", "Invalid API Key"))
            return
        if self.plane_name == "control":
            status, payload = state.control(self.command, url.path, body)
        else:
            status, payload = state.data(self.plane_name, self.command, url.path, parse_qs(url.query), body, len(raw))
        self._respond(status, payload)

    do_GET = do_POST = do_DELETE = do_PATCH = _dispatch  # noqa: N815 - http.server's naming
