"""Register the run's SageMaker endpoint as a remote text-embedding model in OpenSearch ML Commons.

Steps, each one idempotent so that re-running reuses what an earlier run made instead of duplicating it:

1. Trusted endpoints: ML Commons only creates connectors whose URL matches a regex in
   ``plugins.ml_commons.trusted_connector_endpoints_regex``. When no regex in force (persistent, transient or
   default) matches the endpoint's URL, ``^https://runtime\\.sagemaker\\.<region>\\.amazonaws\\.com/.*$`` is
   appended to the list in force, in the scope it came from, keeping every existing entry.
2. Connector ``<model_name>-sagemaker`` (found by name, else created): protocol ``aws_sigv4`` with the
   credential ``{"roleArn": connector_role_arn}``, a role OpenSearch Service assumes to call
   ``sagemaker:InvokeEndpoint`` (on a ``self_managed`` cluster: the ``{"access_key", "secret_key"}`` the caller
   read from ``connector_credentials_secret_arn``, see ``registration_events``). Its predict action POSTs ``{"inputs": [texts]}`` to
   ``https://runtime.sagemaker.<region>.amazonaws.com/endpoints/<endpoint>/invocations``: the default embedding
   pre-process function turns the documents into that JSON list, and the default embedding post-process
   function reads the vectors at ``response_filter = $.embeddings`` of the ``{"embeddings", "dimension"}``
   answer of ``sagemaker_src/retrieval/inference.py``. A connector of that name that points elsewhere (another
   endpoint, region or role) is updated in place, after undeploying the models that use it.
3. Model group ``<model_name>`` (found by name, else registered; a name taken meanwhile is reused).
4. Remote model ``<model_name>`` in that group with that connector (found by name in the group, else
   registered); the register task is polled until ``COMPLETED``.
5. Deploy (unless already deployed with an unchanged connector), polling the deploy task until ``COMPLETED``.

A task that ends ``FAILED`` (or is still running when the wait ends) raises ``MlCommonsTaskError`` naming the
task and the error ML Commons recorded. HTTP 401/403 raise ``OpenSearchAccessError`` saying which permission
is missing; any other refusal raises ``MlCommonsError`` naming the step.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import AuthenticationException, AuthorizationException, NotFoundError, TransportError

from lambda_src.register_model.registration_events import OpenSearchRegistration

logger = logging.getLogger(__name__)

TRUSTED_ENDPOINTS_SETTING = "plugins.ml_commons.trusted_connector_endpoints_regex"
PRE_PROCESS_FUNCTION = "connector.pre_process.default.embedding"
POST_PROCESS_FUNCTION = "connector.post_process.default.embedding"
REQUEST_BODY = '{"inputs": ${parameters.input}}'
RESPONSE_FILTER = "$.embeddings"
TASK_POLL_SECONDS = 2.0
TASK_TIMEOUT_SECONDS = 300.0
FINISHED, FAILED_STATES = "COMPLETED", ("FAILED", "CANCELLED", "COMPLETED_WITH_ERROR")
DEPLOYED_STATES = ("DEPLOYED", "PARTIALLY_DEPLOYED", "DEPLOYING")
SEARCH_SIZE = 20
_GROUP_NAME_TAKEN = re.compile(r"already being used by a model group with ID: ?(?P<id>[A-Za-z0-9_-]+)")


class MlCommonsError(RuntimeError):
    """ML Commons refused a step; the message names the step and what OpenSearch answered."""


class MlCommonsTaskError(MlCommonsError):
    """An ML Commons task failed or did not finish in time; the message names the task and its error."""


class OpenSearchAccessError(RuntimeError):
    """The cluster refused the function's credentials (401) or permissions (403)."""


@dataclass
class Registration:
    model_id: str = ""
    model_group_id: str = ""
    connector_id: str = ""
    created: dict[str, bool] = field(default_factory=lambda: {"connector": False, "model_group": False, "model": False})
    connector_updated: bool = False
    trusted_endpoint_added: bool = False

    def as_result(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_group_id": self.model_group_id,
            "connector_id": self.connector_id,
            "created": dict(self.created),
            "connector_updated": self.connector_updated,
            "trusted_endpoint_added": self.trusted_endpoint_added,
        }


def connector_name(model_name: str) -> str:
    return f"{model_name}-sagemaker"


def invocation_url(region: str, endpoint_name: str) -> str:
    return f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{endpoint_name}/invocations"


def trusted_endpoint_pattern(region: str) -> str:
    # Region names hold only letters, digits and hyphens, all literal in a Java regex outside a class.
    return rf"^https://runtime\.sagemaker\.{region}\.amazonaws\.com/.*$"


def connector_credential(settings: OpenSearchRegistration, keys: dict[str, str] | None = None) -> dict[str, str]:
    """``{"roleArn"}`` on OpenSearch Service; on a self-managed cluster the access keys ``keys``."""
    if settings.cluster == "self_managed":
        if not keys:
            raise ValueError("a self_managed cluster needs the access keys of connector_credentials_secret_arn")
        return {"access_key": keys["access_key"], "secret_key": keys["secret_key"]}
    return {"roleArn": settings.connector_role_arn}


def connector_body(settings: OpenSearchRegistration, credential: dict[str, str]) -> dict[str, Any]:
    return {
        "name": connector_name(settings.model_name),
        "description": connector_description(settings, credential),
        "version": 1,
        "protocol": "aws_sigv4",
        "credential": credential,
        "parameters": {"region": settings.region, "service_name": "sagemaker", "response_filter": RESPONSE_FILTER},
        "actions": [
            {
                "action_type": "predict",
                "method": "POST",
                "headers": {"content-type": "application/json"},
                "url": invocation_url(settings.region, settings.endpoint_name),
                "request_body": REQUEST_BODY,
                "pre_process_function": PRE_PROCESS_FUNCTION,
                "post_process_function": POST_PROCESS_FUNCTION,
            }
        ],
    }


def connector_description(settings: OpenSearchRegistration, credential: dict[str, str]) -> str:
    # The signer is part of the description because ML Commons never returns a connector's credential, so this
    # is how a re-run sees that the role (or the access key) changed. Keys appear only as a digest.
    if "roleArn" in credential:
        signer = credential["roleArn"]
    else:
        digest = hashlib.sha256(f"{credential['access_key']}:{credential['secret_key']}".encode()).hexdigest()[:12]
        signer = f"the access key in {settings.connector_credentials_secret_arn} (digest {digest})"
    return (
        f"Modelsmith: {settings.model_name} ({settings.embedding_dimension}-d embeddings) from SageMaker endpoint "
        f"{settings.endpoint_name} in {settings.region}, signed with {signer}"
    )


def register_with_opensearch(
    settings: OpenSearchRegistration,
    client: OpenSearch,
    *,
    connector_keys: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float | None = None,
    timeout_seconds: float | None = None,
) -> dict[str, Any]:
    """Run steps 1-5 of the module docstring; returns the IDs and what was created."""
    steps = _Steps(
        settings,
        connector_credential(settings, connector_keys),
        client,
        sleep,
        TASK_POLL_SECONDS if poll_seconds is None else poll_seconds,
        TASK_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds,
    )
    try:
        return steps.run().as_result()
    except (AuthenticationException, AuthorizationException) as error:
        raise OpenSearchAccessError(_describe_refusal(error, settings, steps.current)) from error


class _Steps:
    def __init__(
        self,
        settings: OpenSearchRegistration,
        credential: dict[str, str],
        client: OpenSearch,
        sleep: Callable[[float], None],
        poll_seconds: float,
        timeout_seconds: float,
    ) -> None:
        self.settings, self.credential, self.client, self.sleep = settings, credential, client, sleep
        self.poll_seconds, self.timeout_seconds = poll_seconds, timeout_seconds
        self.ml = client.plugins.ml
        self.current = "start"
        self.result = Registration()

    def run(self) -> Registration:
        settings, result = self.settings, self.result
        self.current = "trusted connector endpoints"
        result.trusted_endpoint_added = self.ensure_trusted_endpoint()
        self.current = "connector"
        result.connector_id = self.ensure_connector()
        self.current = "model group"
        result.model_group_id = self.ensure_model_group()
        self.current = "model"
        model = self.ensure_model()
        self.current = "deploy"
        if result.created["model"] or result.connector_updated or model.get("model_state") != "DEPLOYED":
            self.deploy(result.model_id)
        else:
            logger.info("model %s is already deployed with this connector", result.model_id)
        logger.info(
            "registered %s in OpenSearch ML Commons", settings.model_name, extra={"registration": result.as_result()}
        )
        return result

    # 1 -------------------------------------------------------------------------------------------------------
    def ensure_trusted_endpoint(self) -> bool:
        url = invocation_url(self.settings.region, self.settings.endpoint_name)
        settings = self._call(
            self.client.cluster.get_settings, params={"include_defaults": "true", "flat_settings": "true"}
        )
        scope, patterns = "persistent", []
        for candidate in ("transient", "persistent", "defaults"):  # transient wins over persistent over defaults
            value = (settings.get(candidate) or {}).get(TRUSTED_ENDPOINTS_SETTING)
            if value is not None:
                scope = "transient" if candidate == "transient" else "persistent"
                patterns = [value] if isinstance(value, str) else list(value)
                break
        if any(_matches(pattern, url) for pattern in patterns):
            logger.info("the SageMaker runtime URL is already a trusted connector endpoint")
            return False
        updated = patterns + [trusted_endpoint_pattern(self.settings.region)]
        self._call(self.client.cluster.put_settings, body={scope: {TRUSTED_ENDPOINTS_SETTING: updated}})
        logger.info("added the SageMaker runtime of %s to the trusted connector endpoints", self.settings.region)
        return True

    # 2 -------------------------------------------------------------------------------------------------------
    def ensure_connector(self) -> str:
        body = connector_body(self.settings, self.credential)
        hits = self._search(self.ml.search_connectors, "name", body["name"])
        if not hits:
            response = self._call(self.ml.create_connector, body=body)
            self.result.created["connector"] = True
            logger.info("created connector %s", response["connector_id"])
            return response["connector_id"]
        connector = hits[0]
        if len(hits) > 1:
            logger.warning("%d connectors are named %s; using %s", len(hits), body["name"], connector["_id"])
        if not _connector_matches(connector.get("_source") or {}, body):
            self._update_connector(connector["_id"], body)
        return connector["_id"]

    def _update_connector(self, connector_id: str, body: dict[str, Any]) -> None:
        """ML Commons refuses to change a connector that a deployed model uses, so undeploy those first."""
        # connector_id is not in ML Commons' model mapping, so dynamic mapping decides whether it is a keyword or
        # a text field with a .keyword sub-field: ask for either, then compare exactly.
        query = {
            "bool": {
                "should": [{"term": {"connector_id": connector_id}}, {"term": {"connector_id.keyword": connector_id}}],
                "minimum_should_match": 1,
            }
        }
        hits = self._search_hits(self.ml.search_models, query)
        using = [hit for hit in hits if (hit.get("_source") or {}).get("connector_id") == connector_id]
        for model in using:
            if (model.get("_source") or {}).get("model_state") in DEPLOYED_STATES:
                logger.info("undeploying model %s to update its connector", model["_id"])
                self._call(self.ml.undeploy_model, model_id=model["_id"])
        changes = {key: body[key] for key in ("description", "parameters", "actions", "credential")}
        self._call(self.ml.update_connector, connector_id=connector_id, body=changes)
        self.result.connector_updated = True
        logger.info("updated connector %s to %s", connector_id, body["actions"][0]["url"])

    # 3 -------------------------------------------------------------------------------------------------------
    def ensure_model_group(self) -> str:
        name = self.settings.model_name
        hits = self._search(self.ml.search_model_group, "name", name)
        if hits:
            return hits[0]["_id"]
        try:
            response = self.ml.register_model_group(
                body={"name": name, "description": f"Modelsmith retrieval model {name}"}
            )
        except (AuthenticationException, AuthorizationException):
            raise
        except TransportError as error:
            taken = _GROUP_NAME_TAKEN.search(_reason(error))
            if taken:  # registered meanwhile, or hidden from search by model access control
                return taken["id"]
            raise self._refused(error) from error
        self.result.created["model_group"] = True
        logger.info("registered model group %s", response["model_group_id"])
        return response["model_group_id"]

    # 4 -------------------------------------------------------------------------------------------------------
    def ensure_model(self) -> dict[str, Any]:
        settings, result = self.settings, self.result
        query = {
            "bool": {
                "filter": [
                    {"term": {"name.keyword": settings.model_name}},
                    {"term": {"model_group_id": result.model_group_id}},
                ],
                "must_not": [{"exists": {"field": "chunk_number"}}],
            }
        }
        hits = [
            hit
            for hit in self._search_hits(self.ml.search_models, query)
            if (hit.get("_source") or {}).get("name") == settings.model_name
        ]
        if hits:
            model = hits[0]["_source"]
            result.model_id = hits[0]["_id"]
            if model.get("connector_id") != result.connector_id:
                self._repoint_model(result.model_id, model)
            return model
        response = self._call(
            self.ml.register_model,
            body={
                "name": settings.model_name,
                "function_name": "remote",
                "model_group_id": result.model_group_id,
                "description": f"Fine-tuned retrieval model {settings.model_name} served by SageMaker endpoint {settings.endpoint_name}",
                "connector_id": result.connector_id,
            },
        )
        task = self.wait_for_task(response["task_id"], "register")
        result.model_id = task.get("model_id") or response.get("model_id") or ""
        if not result.model_id:
            raise MlCommonsError(f"model: register task {response['task_id']} completed without a model_id")
        result.created["model"] = True
        logger.info("registered model %s", result.model_id)
        return {"model_state": "REGISTERED", "connector_id": result.connector_id}

    def _repoint_model(self, model_id: str, model: dict[str, Any]) -> None:
        if model.get("model_state") in DEPLOYED_STATES:
            self._call(self.ml.undeploy_model, model_id=model_id)
        self._call(self.ml.update_model, model_id=model_id, body={"connector_id": self.result.connector_id})
        self.result.connector_updated = True
        logger.info(
            "model %s now uses connector %s (was %s)", model_id, self.result.connector_id, model.get("connector_id")
        )

    # 5 -------------------------------------------------------------------------------------------------------
    def deploy(self, model_id: str) -> None:
        response = self._call(self.ml.deploy_model, model_id=model_id)
        if response.get("task_id"):
            self.wait_for_task(response["task_id"], "deploy")
        logger.info("deployed model %s", model_id)

    def wait_for_task(self, task_id: str, kind: str) -> dict[str, Any]:
        """Poll ``GET _plugins/_ml/tasks/<id>`` until ``COMPLETED``; a failure or the time limit raises."""
        deadline = time.monotonic() + self.timeout_seconds
        polls = 0
        while True:
            task = self._call(self.ml.get_task, task_id=task_id)
            polls += 1
            state = task.get("state")
            if state == FINISHED:
                logger.info("%s task %s completed after %d poll(s)", kind, task_id, polls)
                return task
            if state in FAILED_STATES:
                raise MlCommonsTaskError(
                    f"{kind} task {task_id} of model {self.settings.model_name} ended {state}: "
                    f"{task.get('error') or 'ML Commons recorded no error message'}"
                )
            if time.monotonic() >= deadline:
                raise MlCommonsTaskError(
                    f"{kind} task {task_id} of model {self.settings.model_name} is still {state} after "
                    f"{self.timeout_seconds:g} s; check GET _plugins/_ml/tasks/{task_id}"
                )
            self.sleep(self.poll_seconds)

    # helpers -------------------------------------------------------------------------------------------------
    def _search(self, search: Callable[..., Any], field_name: str, value: str) -> list[dict[str, Any]]:
        """Documents whose text field ``field_name`` is exactly ``value``."""
        hits = self._search_hits(search, {"term": {f"{field_name}.keyword": value}})
        return [hit for hit in hits if (hit.get("_source") or {}).get(field_name) == value]

    def _search_hits(self, search: Callable[..., Any], query: dict[str, Any]) -> list[dict[str, Any]]:
        """The hits of a search; a system index that does not exist yet means none."""
        try:
            return _hits(search(body={"query": query, "size": SEARCH_SIZE}))
        except NotFoundError:
            return []
        except (AuthenticationException, AuthorizationException):
            raise
        except TransportError as error:
            raise self._refused(error) from error

    def _call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except (AuthenticationException, AuthorizationException):
            raise
        except TransportError as error:
            raise self._refused(error) from error

    def _refused(self, error: TransportError) -> MlCommonsError:
        return MlCommonsError(f"{self.current}: OpenSearch answered HTTP {error.status_code}: {_reason(error)}")


def _hits(response: Any) -> list[dict[str, Any]]:
    return list(((response or {}).get("hits") or {}).get("hits") or [])


def _connector_matches(source: dict[str, Any], wanted: dict[str, Any]) -> bool:
    actions = source.get("actions") or [{}]
    predict: dict[str, Any] = next((action for action in actions if action.get("action_type") == "predict"), {})
    wanted_action = wanted["actions"][0]
    parameters = source.get("parameters") or {}
    return (
        source.get("description") == wanted["description"]
        and all(
            predict.get(key) == wanted_action[key]
            for key in ("url", "request_body", "pre_process_function", "post_process_function")
        )
        and all(parameters.get(key) == value for key, value in wanted["parameters"].items())
    )


def _matches(pattern: str, url: str) -> bool:
    try:
        return re.search(pattern, url) is not None
    except re.error:  # a Java-only construct: not ours to judge; ours is added beside it
        return False


def _reason(error: TransportError) -> str:
    info = error.info if isinstance(error.info, dict) else {}
    details = info.get("error")
    if isinstance(details, dict):
        return str(details.get("reason") or details.get("type") or details)
    if details:
        return str(details)
    return str(error.error or error)


def _describe_refusal(error: TransportError, settings: OpenSearchRegistration, step: str) -> str:
    if error.status_code == 401 and settings.opensearch_auth == "basic":
        return (
            f"opensearch_secret_arn: {settings.opensearch_endpoint} refused the username and password in "
            f"{settings.opensearch_secret_arn} (HTTP 401)"
        )
    if error.status_code == 401:
        return (
            f"opensearch_auth: {settings.opensearch_endpoint} refused the SigV4-signed request (HTTP 401); is it "
            "an Amazon OpenSearch Service domain with IAM authentication?"
        )
    return (
        f"{step}: the function's identity may not do this at {settings.opensearch_endpoint} (HTTP 403: "
        f"{_reason(error)}); map its role to the ml_full_access role (and, to add a trusted endpoint, to a role "
        "with cluster:admin/settings/update), and let it iam:PassRole the connector role"
    )
