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

ML Commons (``ml``, an ``MlCommons``) answers the remote-model registration APIs, keeping its state in memory
so a test can count connectors, model groups and models:

- ``GET|PUT /_cluster/settings`` (``flat_settings``, ``include_defaults``) for
  ``plugins.ml_commons.trusted_connector_endpoints_regex``; ``ml.default_trusted_endpoints`` is its default;
- ``POST /_plugins/_ml/connectors/_create`` (refused with 400 unless the predict URL matches a trusted
  regex, as ML Commons does; with ``ml.flavor = "self_managed"``, an ``aws_sigv4`` connector without
  ``access_key``/``secret_key`` is refused with "Missing credential", as open-source ML Commons does), ``/connectors/_search``, ``GET|PUT /connectors/<id>`` (an update is refused
  while a deployed model uses the connector); ``GET`` never returns the credential;
- ``POST /_plugins/_ml/model_groups/_register`` (a taken name is refused with ML Commons' message) and
  ``/model_groups/_search``;
- ``POST /_plugins/_ml/models/_register`` (remote models), ``/models/_search``, ``GET|PUT /models/<id>``,
  ``POST /models/<id>/_deploy`` and ``/_undeploy``; ``GET /_plugins/_ml/tasks/<id>``. Tasks report
  ``RUNNING`` for ``ml.task_polls_until_done`` polls, then ``COMPLETED`` (or ``FAILED`` with
  ``ml.fail_register_with`` / ``ml.fail_deploy_with`` as the error).

Searches understand ``match_all``, ``term`` (``field`` or ``field.keyword``), ``exists`` and ``bool`` with
``filter``/``must``/``must_not``/``should`` (``minimum_should_match``), and ``size``.
"""

from __future__ import annotations

import base64
import json
import re
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
    ml: MlCommons = field(default_factory=lambda: MlCommons())
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
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="opensearch-stand-in", daemon=True
        )
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
        if path == "/_cluster/settings" or path.startswith("/_plugins/_ml/"):
            with self._lock:
                return self.ml.handle(method, path, query, body)
        if method == "GET" and path == "/":
            return 200, {
                "name": "node-1",
                "cluster_name": "stand-in",
                "tagline": "The OpenSearch Project: https://opensearch.org/",
                "version": {"distribution": "opensearch", "number": self.version},
            }
        if path == "/_search/point_in_time" and method == "DELETE":
            return self._delete_pits(body)
        if path.endswith("/_search/point_in_time") and method == "POST":
            return self._create_pit(path.split("/")[1], query)
        if path.endswith("/_search") and method in ("GET", "POST"):
            return self._search(path, body or {})
        return 404, _error(
            "no_handler_found_exception", f"no handler found for uri [{path}] and method [{method}]", 404
        )

    def _create_pit(self, index: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if "keep_alive" not in query:
            return 400, _error(
                "action_request_validation_exception", "Validation Failed: 1: keep alive not specified;", 400
            )
        if index in self.forbidden_indices:
            return 403, _error(
                "security_exception", f"no permissions for [indices:data/read/point_in_time/create] on [{index}]", 403
            )
        if index not in self.indices:
            return 404, _error("index_not_found_exception", f"no such index [{index}]", 404)
        with self._lock:
            self._pit_counter += 1
            pit_id = base64.urlsafe_b64encode(f"pit-{index}-{self._pit_counter}".encode()).decode()
            self.open_pits[pit_id] = list(self.indices[index])
            self.created_pits.append(pit_id)
        return 200, {
            "pit_id": pit_id,
            "_shards": {"total": self.shards, "successful": self.shards, "skipped": 0, "failed": 0},
            "creation_time": int(time.time() * 1000),
        }

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
            return 400, _error(
                "action_request_validation_exception", "[indices] cannot be used with point in time", 400
            )
        documents = self.open_pits.get(pit.get("id"))
        if documents is None:
            return 404, _error(
                "search_context_missing_exception", f"No search context found for id [{pit.get('id')}]", 404
            )
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
                return 400, _error(
                    "illegal_argument_exception", "search_after has a different number of sort fields", 400
                )
            ordered = [document for document in ordered if [key(document) for key in keys] > list(after)]
        page = ordered[: body.get("size", 10)]
        hits = [
            {
                "_index": document.index,
                "_id": document.id,
                "_score": None,
                "_source": _filter_source(document.source, body.get("_source", True)),
                "sort": [key(document) for key in keys],
            }
            for document in page
        ]
        pit_id = pit["id"]
        if self.rotate_pit_ids:
            with self._lock:
                self._pit_counter += 1
                new_id = base64.urlsafe_b64encode(f"{pit_id}-{self._pit_counter}".encode()).decode()
                self.open_pits[new_id] = self.open_pits.pop(pit_id)
                pit_id = new_id
        return 200, {
            "pit_id": pit_id,
            "took": 1,
            "timed_out": False,
            "_shards": {"total": self.shards, "successful": self.shards, "skipped": 0, "failed": 0},
            "hits": {"total": {"value": len(documents), "relation": "eq"}, "max_score": None, "hits": hits},
        }

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


TRUSTED_ENDPOINTS_SETTING = "plugins.ml_commons.trusted_connector_endpoints_regex"
ML_COMMONS_DEFAULT_TRUSTED_ENDPOINTS = ["^https://api\\.openai\\.com/.*$", "^https://api\\.cohere\\.ai/.*$"]


@dataclass
class MlCommons:
    """ML Commons' remote-model APIs with in-memory state (see the module docstring)."""

    # "amazon_opensearch_service" resolves a {"roleArn"} credential (OpenSearch Service assumes the role);
    # "self_managed" is open-source ML Commons, whose AwsConnector refuses any aws_sigv4 connector without
    # access_key and secret_key ("Missing credential", ml-commons common/.../connector/AwsConnector.java).
    flavor: str = "amazon_opensearch_service"
    default_trusted_endpoints: list[str] = field(default_factory=lambda: list(ML_COMMONS_DEFAULT_TRUSTED_ENDPOINTS))
    persistent_settings: dict[str, Any] = field(default_factory=dict)
    transient_settings: dict[str, Any] = field(default_factory=dict)
    task_polls_until_done: int = 1
    fail_register_with: str | None = None
    fail_deploy_with: str | None = None
    connectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)  # connector id -> credential, never returned
    settings_updates: list[dict[str, Any]] = field(default_factory=list)
    # Older ML Commons answers a search with 404 until its system index exists; model access control hides
    # other users' model groups from search while their names stay taken.
    missing_indices_answer_404: bool = False
    hidden_model_groups: bool = False
    _counter: int = 0

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:04d}"

    def trusted_endpoints(self) -> list[str]:
        for scope in (self.transient_settings, self.persistent_settings):
            if TRUSTED_ENDPOINTS_SETTING in scope:
                return list(scope[TRUSTED_ENDPOINTS_SETTING])
        return list(self.default_trusted_endpoints)

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if path == "/_cluster/settings":
            return self._settings(method, query, body or {})
        resource, rest = parts[2], parts[3:]
        route = (method, resource, rest[0] if rest else "", rest[1] if len(rest) > 1 else "")
        handlers = {
            ("POST", "connectors", "_create", ""): lambda: self._create_connector(body or {}),
            ("POST", "connectors", "_search", ""): lambda: self._search(self.connectors, body, hide=("credential",)),
            ("GET", "connectors", route[2], ""): lambda: self._get(self.connectors, route[2], "connector"),
            ("PUT", "connectors", route[2], ""): lambda: self._update_connector(route[2], body or {}),
            ("POST", "model_groups", "_register", ""): lambda: self._register_group(body or {}),
            ("POST", "model_groups", "_search", ""): lambda: self._search(
                {} if self.hidden_model_groups else self.model_groups, body
            ),
            ("POST", "models", "_register", ""): lambda: self._register_model(body or {}),
            ("POST", "models", "_search", ""): lambda: self._search(self.models, body),
            ("GET", "models", route[2], ""): lambda: self._get(self.models, route[2], "model"),
            ("PUT", "models", route[2], ""): lambda: self._update_model(route[2], body or {}),
            ("POST", "models", route[2], "_deploy"): lambda: self._deploy(route[2]),
            ("POST", "models", route[2], "_undeploy"): lambda: self._undeploy(route[2]),
            ("GET", "tasks", route[2], ""): lambda: self._task(route[2]),
        }
        handler = handlers.get(route)
        if handler is None:
            return 400, _error(
                "illegal_argument_exception", f"this stand-in has no ML Commons API [{method} {path}]", 400
            )
        return handler()

    # settings ----------------------------------------------------------------------------------------------

    def _settings(self, method: str, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET":
            if query.get("flat_settings") != ["true"]:
                return 400, _error("illegal_argument_exception", "this stand-in answers flat_settings=true only", 400)
            answer: dict[str, Any] = {
                "persistent": dict(self.persistent_settings),
                "transient": dict(self.transient_settings),
            }
            if query.get("include_defaults") == ["true"]:
                answer["defaults"] = {TRUSTED_ENDPOINTS_SETTING: list(self.default_trusted_endpoints)}
            return 200, answer
        if method != "PUT":
            return 405, _error("illegal_argument_exception", f"method [{method}] not allowed", 405)
        self.settings_updates.append(body)
        for scope, target in (("persistent", self.persistent_settings), ("transient", self.transient_settings)):
            for key, value in (body.get(scope) or {}).items():
                if key != TRUSTED_ENDPOINTS_SETTING:
                    return 400, _error(
                        "illegal_argument_exception", f"this stand-in does not know setting [{key}]", 400
                    )
                if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                    return 400, _error("illegal_argument_exception", f"[{key}] must be a list of strings", 400)
                target[key] = list(value)
        return 200, {
            "acknowledged": True,
            "persistent": body.get("persistent", {}),
            "transient": body.get("transient", {}),
        }

    # connectors --------------------------------------------------------------------------------------------

    def _create_connector(self, body: dict[str, Any]) -> tuple[int, Any]:
        problem = self._connector_problem(body, creating=True)
        if problem:
            return 400, _error("illegal_argument_exception", problem, 400)
        connector_id = self._new_id("conn")
        self.credentials[connector_id] = dict(body.get("credential") or {})
        self.connectors[connector_id] = {key: value for key, value in body.items() if key != "credential"} | {
            "created_time": self._counter
        }
        return 200, {"connector_id": connector_id}

    def _connector_problem(self, body: dict[str, Any], *, creating: bool) -> str | None:
        required = ("name", "protocol", "actions", "credential") if creating else ()
        missing = [key for key in required if not body.get(key)]
        if missing:
            return f"connector is missing {missing}"
        if creating and body["protocol"] == "aws_sigv4":
            credential = set(body["credential"])
            if self.flavor == "self_managed" and not {"access_key", "secret_key"} <= credential:
                # ml-commons AwsConnector.validate(): open-source ML Commons signs only with keys of its own.
                return "Missing credential"
            if not ({"roleArn"} <= credential or {"access_key", "secret_key"} <= credential):
                return "aws_sigv4 connectors need a roleArn or access_key/secret_key credential"
        for action in body.get("actions") or []:
            url = action.get("url", "")
            if not any(re.search(pattern, url) for pattern in self.trusted_endpoints()):
                return "Connector URL is not matching the trusted connector endpoint regex, URL is: " + url
            for key in ("action_type", "method", "url"):
                if not action.get(key):
                    return f"connector action is missing [{key}]"
        return None

    def _update_connector(self, connector_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        if connector_id not in self.connectors:
            return 404, _error("status_exception", "Failed to find connector", 404)
        using = [
            model_id
            for model_id, model in self.models.items()
            if model.get("connector_id") == connector_id and model.get("model_state") == "DEPLOYED"
        ]
        if using:
            return 400, _error(
                "illegal_argument_exception",
                f"{len(using)} models are still using this connector, please undeploy the models first: {using}",
                400,
            )
        problem = self._connector_problem(body, creating=False)
        if problem:
            return 400, _error("illegal_argument_exception", problem, 400)
        if "credential" in body:
            self.credentials[connector_id] = dict(body["credential"])
        self.connectors[connector_id].update({key: value for key, value in body.items() if key != "credential"})
        return 200, {"_index": ".plugins-ml-connector", "_id": connector_id, "result": "updated"}

    # model groups ------------------------------------------------------------------------------------------

    def _register_group(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = body.get("name")
        if not name:
            return 400, _error("illegal_argument_exception", "model group name can't be null or empty", 400)
        for group_id, group in self.model_groups.items():
            if group["name"] == name:
                reason = f"The name you provided is already being used by a model group with ID: {group_id}."
                return 400, _error("illegal_argument_exception", reason, 400)
        group_id = self._new_id("group")
        self.model_groups[group_id] = {
            "name": name,
            "description": body.get("description", ""),
            "latest_version": 0,
            "access": body.get("access_mode", "private"),
        }
        return 200, {"model_group_id": group_id, "status": "CREATED"}

    # models and tasks --------------------------------------------------------------------------------------

    def _register_model(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("function_name", "").lower() != "remote":
            return 400, _error("illegal_argument_exception", "this stand-in registers remote models only", 400)
        if body.get("connector_id") not in self.connectors:
            return 400, _error(
                "illegal_argument_exception", f"Failed to find connector: {body.get('connector_id')}", 400
            )
        group = self.model_groups.get(body.get("model_group_id", ""))
        if group is None:
            return 404, _error("status_exception", "Failed to find model group", 404)
        if not body.get("name"):
            return 400, _error("illegal_argument_exception", "model name can't be null", 400)
        task_id = self._new_id("task")
        if self.fail_register_with is not None:
            self.tasks[task_id] = self._task_document("REGISTER_MODEL", None, error=self.fail_register_with)
            return 200, {"task_id": task_id, "status": "CREATED"}
        model_id = self._new_id("model")
        group["latest_version"] += 1
        self.models[model_id] = {
            "name": body["name"],
            "algorithm": "REMOTE",
            "model_group_id": body["model_group_id"],
            "model_version": str(group["latest_version"]),
            "connector_id": body["connector_id"],
            "description": body.get("description", ""),
            "model_state": "REGISTERED",
        }
        self.tasks[task_id] = self._task_document("REGISTER_MODEL", model_id)
        return 200, {"task_id": task_id, "status": "CREATED", "model_id": model_id}

    def _update_model(self, model_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        model = self.models.get(model_id)
        if model is None:
            return 404, _error("status_exception", "Failed to find model", 404)
        if model["model_state"] == "DEPLOYED":
            return 400, _error(
                "illegal_argument_exception", "Model is deployed; undeploy it before updating its connector", 400
            )
        if "connector_id" in body and body["connector_id"] not in self.connectors:
            return 400, _error("illegal_argument_exception", "Failed to find connector", 400)
        model.update(body)
        return 200, {"_index": ".plugins-ml-model", "_id": model_id, "result": "updated"}

    def _deploy(self, model_id: str) -> tuple[int, Any]:
        if model_id not in self.models:
            return 404, _error("status_exception", "Failed to find model", 404)
        task_id = self._new_id("task")
        self.tasks[task_id] = self._task_document("DEPLOY_MODEL", model_id, error=self.fail_deploy_with)
        self.models[model_id]["model_state"] = "DEPLOYING"
        return 200, {"task_id": task_id, "task_type": "DEPLOY_MODEL", "status": "CREATED"}

    def _undeploy(self, model_id: str) -> tuple[int, Any]:
        if model_id not in self.models:
            return 404, _error("status_exception", "Failed to find model", 404)
        self.models[model_id]["model_state"] = "UNDEPLOYED"
        return 200, {"node-1": {"stats": {model_id: "undeployed"}}}

    def _task_document(self, task_type: str, model_id: str | None, *, error: str | None = None) -> dict[str, Any]:
        return {
            "model_id": model_id,
            "task_type": task_type,
            "function_name": "REMOTE",
            "state": "CREATED",
            "worker_node": ["node-1"],
            "is_async": task_type == "DEPLOY_MODEL",
            "_polls": 0,
            "_error": error,
        }

    def _task(self, task_id: str) -> tuple[int, Any]:
        task = self.tasks.get(task_id)
        if task is None:
            return 404, _error("status_exception", "Failed to find task", 404)
        task["_polls"] += 1
        if task["state"] not in ("COMPLETED", "FAILED"):
            if task["_polls"] <= self.task_polls_until_done:
                task["state"] = "RUNNING"
            elif task["_error"] is not None:
                task["state"] = "FAILED"
                task["error"] = task["_error"]
                if task["model_id"] and task["task_type"] == "DEPLOY_MODEL":
                    self.models[task["model_id"]]["model_state"] = "DEPLOY_FAILED"
            else:
                task["state"] = "COMPLETED"
                if task["task_type"] == "DEPLOY_MODEL":
                    self.models[task["model_id"]]["model_state"] = "DEPLOYED"
        return 200, {key: value for key, value in task.items() if not key.startswith("_") and value is not None}

    # reading -----------------------------------------------------------------------------------------------

    def _get(self, store: dict[str, dict[str, Any]], document_id: str, kind: str) -> tuple[int, Any]:
        if document_id not in store:
            return 404, _error(
                "status_exception", f"Failed to find {kind} with the provided {kind} id: {document_id}", 404
            )
        return 200, dict(store[document_id])

    def _search(self, store: dict[str, dict[str, Any]], body: Any, *, hide: tuple[str, ...] = ()) -> tuple[int, Any]:
        body = body or {}
        if not store and self.missing_indices_answer_404:
            return 404, _error("index_not_found_exception", "no such index [.plugins-ml-*]", 404)
        try:
            matches = [
                (doc_id, doc) for doc_id, doc in store.items() if _ml_matches(body.get("query", {"match_all": {}}), doc)
            ]
        except ValueError as error:
            return 400, _error("parsing_exception", str(error), 400)
        hits = [
            {
                "_index": ".plugins-ml",
                "_id": doc_id,
                "_score": 1.0,
                "_source": {key: value for key, value in doc.items() if key not in hide},
            }
            for doc_id, doc in matches[: body.get("size", 10)]
        ]
        return 200, {
            "took": 1,
            "timed_out": False,
            "hits": {"total": {"value": len(matches), "relation": "eq"}, "max_score": 1.0, "hits": hits},
        }

    @property
    def counts(self) -> dict[str, int]:
        return {"connectors": len(self.connectors), "model_groups": len(self.model_groups), "models": len(self.models)}


def _ml_matches(query: dict[str, Any], document: dict[str, Any]) -> bool:
    ((kind, spec),) = query.items()
    if kind == "match_all":
        return True
    if kind == "term":
        ((name, value),) = spec.items()
        value = value.get("value") if isinstance(value, dict) else value
        return document.get(name.removesuffix(".keyword")) == value
    if kind == "exists":
        return document.get(spec["field"]) is not None
    if kind == "bool":

        def clauses(key: str) -> list[dict[str, Any]]:
            found = spec.get(key, [])
            return [found] if isinstance(found, dict) else found

        should = clauses("should")
        minimum = spec.get("minimum_should_match", 0 if clauses("filter") + clauses("must") else 1)
        return (
            all(_ml_matches(clause, document) for clause in clauses("filter") + clauses("must"))
            and not any(_ml_matches(clause, document) for clause in clauses("must_not"))
            and (not should or sum(_ml_matches(clause, document) for clause in should) >= minimum)
        )
    raise ValueError(f"this stand-in does not understand [{kind}] queries")


def _error(kind: str, reason: str, status: int) -> dict[str, Any]:
    return {
        "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
        "status": status,
    }


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
                self._respond(
                    401,
                    _error("security_exception", "Unauthorized", 401),
                    {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'},
                )
                return
        status, payload = state.handle(self.command, url.path, parse_qs(url.query), body)
        self._respond(status, payload)

    do_GET = do_POST = do_DELETE = do_PUT = _dispatch  # noqa: N815 - http.server's naming
