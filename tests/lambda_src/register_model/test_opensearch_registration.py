"""Registration with OpenSearch ML Commons: opensearch-py against a local server speaking ML Commons' REST API."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from tests.support.lambdas import FakeLambdaContext
from tests.support.opensearch_server import TRUSTED_ENDPOINTS_SETTING, OpenSearchServer

RUN_ID = "run-2024-01-01"
ROLE_ARN = "arn:aws:iam::123456789012:role/modelsmith-opensearch-sagemaker"
SAGEMAKER_URL = "https://runtime.sagemaker.us-west-2.amazonaws.com/endpoints/handbook-minilm-run-1/invocations"
SAGEMAKER_REGEX = r"^https://runtime\.sagemaker\.us-west-2\.amazonaws\.com/.*$"


def opensearch_event(server: OpenSearchServer, **overrides) -> dict:
    return {
        "action": "opensearch",
        "run_id": RUN_ID,
        "model_name": "handbook-minilm",
        "endpoint_name": "handbook-minilm-run-1",
        "embedding_dimension": 384,
        "region": "us-west-2",
        "opensearch_endpoint": server.url,
        "opensearch_auth": "sigv4",
        "connector_role_arn": ROLE_ARN,
        **overrides,
    }


def register(registration, server: OpenSearchServer, sleeps: list | None = None, **overrides) -> dict:
    sleeps = [] if sleeps is None else sleeps
    return registration.registration.register_model(
        opensearch_event(server, **overrides), sleep=sleeps.append, poll_seconds=0.5
    )


def test_handler_trusts_the_endpoint_creates_connector_group_and_model_and_deploys(
    registration, artifacts, opensearch
) -> None:
    # GIVEN a cluster with ML Commons' default trusted endpoints (no SageMaker) and tasks that run for a poll
    opensearch.ml.task_polls_until_done = 0

    # WHEN the handler registers the model
    result = registration.handler(opensearch_event(opensearch), FakeLambdaContext())

    # THEN one connector, one group and one deployed model exist, and the result names them
    ml = opensearch.ml
    assert ml.counts == {"connectors": 1, "model_groups": 1, "models": 1}
    assert result == {
        "model_id": next(iter(ml.models)),
        "model_group_id": next(iter(ml.model_groups)),
        "connector_id": next(iter(ml.connectors)),
        "created": {"connector": True, "model_group": True, "model": True},
        "connector_updated": False,
        "trusted_endpoint_added": True,
    }
    model = ml.models[result["model_id"]]
    assert model | {"description": ""} == {
        "name": "handbook-minilm",
        "algorithm": "REMOTE",
        "model_group_id": result["model_group_id"],
        "model_version": "1",
        "connector_id": result["connector_id"],
        "description": "",
        "model_state": "DEPLOYED",
    }
    assert ml.model_groups[result["model_group_id"]]["name"] == "handbook-minilm"
    # AND the connector calls the endpoint with inference.py's contract, signed with the connector role
    connector = ml.connectors[result["connector_id"]]
    assert connector["name"] == "handbook-minilm-sagemaker" and connector["protocol"] == "aws_sigv4"
    assert ml.credentials[result["connector_id"]] == {"roleArn": ROLE_ARN}
    assert connector["parameters"] == {
        "region": "us-west-2",
        "service_name": "sagemaker",
        "response_filter": "$.embeddings",
    }
    [action] = connector["actions"]
    assert action == {
        "action_type": "predict",
        "method": "POST",
        "headers": {"content-type": "application/json"},
        "url": SAGEMAKER_URL,
        "request_body": '{"inputs": ${parameters.input}}',
        "pre_process_function": "connector.pre_process.default.embedding",
        "post_process_function": "connector.post_process.default.embedding",
    }
    # AND the SageMaker runtime of the region was added to the trusted endpoints, the defaults kept
    assert ml.persistent_settings[TRUSTED_ENDPOINTS_SETTING] == [*ml.default_trusted_endpoints, SAGEMAKER_REGEX]
    # AND every request was SigV4-signed
    assert all(
        request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256") for request in opensearch.requests
    )


def test_the_request_body_template_yields_what_inference_py_accepts(registration) -> None:
    # ML Commons' default embedding pre-process function puts the documents, as a JSON list, in ${parameters.input}
    from sagemaker_src.retrieval import inference

    body = registration.ml.REQUEST_BODY.replace("${parameters.input}", json.dumps(["first document", "second"]))

    assert inference.input_fn(body, "application/json") == ["first document", "second"]
    # AND the response filter finds the vectors in what output_fn answers
    answer = json.loads(inference.output_fn([[0.6, 0.8]], "application/json"))
    assert registration.ml.RESPONSE_FILTER == "$.embeddings" and answer["embeddings"] == [[0.6, 0.8]]


def test_a_rerun_reuses_the_connector_group_and_model(registration, artifacts, opensearch, caplog) -> None:
    # GIVEN a first registration (logged at INFO, as in Lambda)
    caplog.set_level(logging.INFO, logger="lambda_src.register_model.ml_commons_registration")
    first = register(registration, opensearch)
    assert "registered handbook-minilm in OpenSearch ML Commons" in caplog.messages
    requests_before = len(opensearch.requests)

    # WHEN the same model is registered again (a re-run of the execution)
    second = register(registration, opensearch)

    # THEN nothing new exists, the IDs are the same, and nothing was changed or redeployed
    assert opensearch.ml.counts == {"connectors": 1, "model_groups": 1, "models": 1}
    assert {key: second[key] for key in ("model_id", "model_group_id", "connector_id")} == {
        key: first[key] for key in ("model_id", "model_group_id", "connector_id")
    }
    assert second["created"] == {"connector": False, "model_group": False, "model": False}
    assert second["connector_updated"] is False and second["trusted_endpoint_added"] is False
    later = opensearch.requests[requests_before:]
    assert [r.method for r in later if r.path == "/_cluster/settings"] == ["GET"]
    assert not [r for r in later if r.path.endswith(("/_create", "/_register", "/_deploy")) or r.method == "PUT"]


def test_a_new_endpoint_for_the_same_model_updates_the_connector_in_place_and_redeploys(
    registration, artifacts, opensearch
) -> None:
    # GIVEN the model registered for last run's endpoint
    first = register(registration, opensearch)

    # WHEN this run registers it with its own endpoint
    second = register(registration, opensearch, endpoint_name="handbook-minilm-run-2")

    # THEN the same connector now calls the new endpoint, and the model was redeployed with it
    assert opensearch.ml.counts == {"connectors": 1, "model_groups": 1, "models": 1}
    assert second["connector_id"] == first["connector_id"] and second["model_id"] == first["model_id"]
    assert second["connector_updated"] is True and second["created"] == {
        "connector": False,
        "model_group": False,
        "model": False,
    }
    url = opensearch.ml.connectors[first["connector_id"]]["actions"][0]["url"]
    assert url.endswith("/endpoints/handbook-minilm-run-2/invocations")
    assert opensearch.ml.models[first["model_id"]]["model_state"] == "DEPLOYED"
    undeploys = [r.path for r in opensearch.requests if r.path.endswith("/_undeploy")]
    assert undeploys == [f"/_plugins/_ml/models/{first['model_id']}/_undeploy"]


def test_a_trusted_endpoint_already_in_force_is_left_alone(registration, artifacts, opensearch) -> None:
    # GIVEN defaults that already trust every SageMaker runtime (as recent ML Commons versions ship)
    opensearch.ml.default_trusted_endpoints.append(r"^https://runtime\.sagemaker\..*[a-z0-9-]\.amazonaws\.com/.*$")

    result = register(registration, opensearch)

    assert result["trusted_endpoint_added"] is False and opensearch.ml.settings_updates == []


def test_a_transient_trusted_list_is_extended_where_it_is(registration, artifacts, opensearch) -> None:
    # GIVEN an operator's transient list, which overrides the persistent one
    opensearch.ml.transient_settings[TRUSTED_ENDPOINTS_SETTING] = [r"^https://example\.com/.*$"]

    register(registration, opensearch)

    assert opensearch.ml.transient_settings[TRUSTED_ENDPOINTS_SETTING] == [
        r"^https://example\.com/.*$",
        SAGEMAKER_REGEX,
    ]
    assert TRUSTED_ENDPOINTS_SETTING not in opensearch.ml.persistent_settings


def test_searches_answered_404_before_the_ml_indices_exist_mean_nothing_is_there(
    registration, artifacts, opensearch
) -> None:
    opensearch.ml.missing_indices_answer_404 = True

    result = register(registration, opensearch)

    assert result["created"] == {"connector": True, "model_group": True, "model": True}


def test_a_model_group_hidden_from_search_but_taken_is_reused_by_the_id_in_the_refusal(
    registration, artifacts, opensearch
) -> None:
    # GIVEN the group exists, but model access control keeps it out of this identity's searches
    first = register(registration, opensearch)
    opensearch.ml.hidden_model_groups = True

    second = register(registration, opensearch)

    assert second["model_group_id"] == first["model_group_id"] and second["created"]["model_group"] is False
    assert opensearch.ml.counts == {"connectors": 1, "model_groups": 1, "models": 1}


def test_tasks_are_polled_until_completed(registration, artifacts, opensearch) -> None:
    # GIVEN tasks that are still running for two polls
    opensearch.ml.task_polls_until_done = 2
    sleeps: list[float] = []

    register(registration, opensearch, sleeps)

    # THEN the register and the deploy task were each polled three times, sleeping between polls
    task_polls = [r.path for r in opensearch.requests if r.path.startswith("/_plugins/_ml/tasks/")]
    assert len(task_polls) == 6 and len(set(task_polls)) == 2
    assert sleeps == [0.5] * 4


def test_a_failed_register_task_names_the_task_and_its_error(registration, artifacts, opensearch) -> None:
    opensearch.ml.fail_register_with = "Remote model registration failed: connector credential is invalid"

    with pytest.raises(registration.ml.MlCommonsTaskError) as raised:
        register(registration, opensearch)

    [task_id] = opensearch.ml.tasks
    assert str(raised.value) == (
        f"register task {task_id} of model handbook-minilm ended FAILED: "
        "Remote model registration failed: connector credential is invalid"
    )
    assert opensearch.ml.models == {}


def test_a_failed_deploy_task_names_the_task(registration, artifacts, opensearch) -> None:
    opensearch.ml.fail_deploy_with = "Failed to deploy model on node-1"

    with pytest.raises(
        registration.ml.MlCommonsTaskError,
        match=r"deploy task task\d+ of model handbook-minilm ended FAILED: Failed to deploy",
    ):
        register(registration, opensearch)


def test_a_task_that_never_finishes_stops_the_wait(registration, artifacts, opensearch) -> None:
    opensearch.ml.task_polls_until_done = 10_000

    with pytest.raises(
        registration.ml.MlCommonsTaskError,
        match=r"register task task\d+ of model handbook-minilm is still RUNNING after 0 s",
    ):
        registration.registration.register_model(opensearch_event(opensearch), sleep=lambda _: None, timeout_seconds=0)


def test_a_refused_step_names_the_step_and_the_reason(registration, artifacts, opensearch, monkeypatch) -> None:
    # GIVEN a cluster whose settings cannot be changed, so the endpoint stays untrusted
    monkeypatch.setattr(
        opensearch.ml,
        "_settings",
        lambda method, query, body: (
            (200, {"persistent": {}, "transient": {}}) if method == "GET" else (200, {"acknowledged": True})
        ),
    )

    with pytest.raises(
        registration.ml.MlCommonsError,
        match=r"^connector: OpenSearch answered HTTP 400: Connector URL is not matching the trusted",
    ):
        register(registration, opensearch)


def _secret(name: str, value: dict) -> str:
    return boto3.client("secretsmanager", region_name="us-west-2").create_secret(
        Name=name, SecretString=json.dumps(value)
    )["ARN"]


KEYS = {"access_key": "AKIAEXAMPLEKEY000001", "secret_key": "example/secret+key/000001"}


def test_a_self_managed_cluster_gets_a_connector_that_signs_with_the_access_keys_of_the_secret(
    registration, artifacts
) -> None:
    # GIVEN open-source ML Commons (it resolves no IAM role: an aws_sigv4 connector needs access_key/secret_key,
    # ml-commons AwsConnector.validate) behind basic auth, and the keys in a secret
    login = _secret("modelsmith/dev/opensearch-login", {"username": "admin", "password": "s3cret!"})
    keys = _secret("modelsmith/dev/opensearch-connector-keys", KEYS)
    self_managed = {
        "cluster": "self_managed",
        "opensearch_auth": "basic",
        "opensearch_secret_arn": login,
        "connector_credentials_secret_arn": keys,
    }
    with OpenSearchServer(username="admin", password="s3cret!") as server:
        server.ml.flavor = "self_managed"
        # WHEN the model is registered
        result = register(registration, server, **self_managed)

        # THEN the connector signs with the keys, and its description names the secret but never a key
        assert result["created"] == {"connector": True, "model_group": True, "model": True}
        assert server.ml.credentials[result["connector_id"]] == KEYS
        description = server.ml.connectors[result["connector_id"]]["description"]
        assert keys in description and KEYS["access_key"] not in description and KEYS["secret_key"] not in description

        # AND a rotated key in the same secret updates the connector in place on the next run
        boto3.client("secretsmanager", region_name="us-west-2").put_secret_value(
            SecretId=keys, SecretString=json.dumps({**KEYS, "access_key": "AKIAEXAMPLEKEY000002"})
        )
        again = register(registration, server, **self_managed)
        assert again["connector_updated"] is True and again["connector_id"] == result["connector_id"]
        assert server.ml.credentials[result["connector_id"]]["access_key"] == "AKIAEXAMPLEKEY000002"
        assert server.ml.counts == {"connectors": 1, "model_groups": 1, "models": 1}


def test_a_role_connector_is_what_a_self_managed_cluster_refuses(registration, artifacts) -> None:
    # The defect this option fixes: without cluster = self_managed the connector carries {"roleArn"}, which
    # open-source ML Commons refuses.
    login = _secret("modelsmith/dev/opensearch-login", {"username": "admin", "password": "s3cret!"})
    with OpenSearchServer(username="admin", password="s3cret!") as server:
        server.ml.flavor = "self_managed"
        with pytest.raises(registration.storage.InvalidEventError, match=r"^opensearch_auth: 'basic' cannot create"):
            register(registration, server, opensearch_auth="basic", opensearch_secret_arn=login)
        # The old connector body, sent over a basic-auth connection: refused as open-source ML Commons does.
        basic = registration.events.parse_event(
            opensearch_event(
                server,
                cluster="self_managed",
                opensearch_auth="basic",
                opensearch_secret_arn=login,
                connector_credentials_secret_arn=login,
            )
        )
        client = registration.opensearch_connection.connect(basic)
        role_connector = registration.events.parse_event(opensearch_event(server))
        with pytest.raises(registration.ml.MlCommonsError, match="Missing credential"):
            registration.ml.register_with_opensearch(role_connector, client, poll_seconds=0.01)
        assert server.ml.counts["connectors"] == 0


def test_basic_auth_reads_the_secret_and_a_wrong_password_or_bad_keys_name_the_secret(registration, artifacts) -> None:
    good = _secret("os-good", {"username": "admin", "password": "s3cret!"})
    bad = _secret("os-bad", {"username": "admin", "password": "wrong"})
    keys = _secret("os-keys", KEYS)
    half = _secret("os-half-keys", {"access_key": KEYS["access_key"]})
    self_managed = {"cluster": "self_managed", "opensearch_auth": "basic", "connector_credentials_secret_arn": keys}
    with OpenSearchServer(username="admin", password="s3cret!") as server:
        server.ml.flavor = "self_managed"
        result = register(registration, server, **self_managed, opensearch_secret_arn=good)
        assert result["created"]["model"] is True

        with pytest.raises(
            registration.ml.OpenSearchAccessError,
            match=r"^opensearch_secret_arn: .* refused the username and password in arn:aws:secretsmanager:.*os-bad.* \(HTTP 401\)",
        ):
            register(registration, server, **self_managed, opensearch_secret_arn=bad)
        with pytest.raises(
            registration.storage.InvalidEventError,
            match=r"^connector_credentials_secret_arn: secret arn:aws:secretsmanager:.*os-half-keys.* has no non-empty 'secret_key'",
        ):
            register(
                registration,
                server,
                **{**self_managed, "connector_credentials_secret_arn": half},
                opensearch_secret_arn=good,
            )
        missing = keys.replace("os-keys", "os-missing")
        with pytest.raises(
            registration.storage.InvalidEventError,
            match=r"^connector_credentials_secret_arn: cannot read secret .*os-missing.* \(ResourceNotFoundException\); "
            r"the function reads secrets named modelsmith/<env>/opensearch-\*",
        ):
            register(
                registration,
                server,
                **{**self_managed, "connector_credentials_secret_arn": missing},
                opensearch_secret_arn=good,
            )
        assert server.ml.counts == {"connectors": 1, "model_groups": 1, "models": 1}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"action": "elasticsearch"}, "action: 'elasticsearch' is not one of opensearch, pinecone"),
        ({"run_id": "../etc"}, "run_id: '../etc' does not match"),
        ({"model_name": "Handbook_Model"}, "model_name: 'Handbook_Model' is not lowercase letters"),
        ({"model_name": None}, "model_name: required"),
        ({"endpoint_name": "bad_endpoint!"}, "endpoint_name: 'bad_endpoint!' is not a SageMaker endpoint name"),
        ({"embedding_dimension": "384"}, "embedding_dimension: '384' is not an integer from 1 to 20000"),
        ({"embedding_dimension": True}, "embedding_dimension: True is not an integer"),
        ({"region": "Oregon"}, "region: 'Oregon' is not an AWS region"),
        (
            {"opensearch_endpoint": "search-domain.example.com"},
            "opensearch_endpoint: 'search-domain.example.com' is not an http",
        ),
        ({"opensearch_auth": "token"}, "opensearch_auth: 'token' is not one of sigv4, basic"),
        (
            {"opensearch_auth": "basic"},
            "opensearch_auth: 'basic' cannot create a connector on Amazon OpenSearch Service",
        ),
        ({"cluster": "on-premises"}, "cluster: 'on-premises' is not one of amazon_opensearch_service, self_managed"),
        ({"cluster": "self_managed"}, "opensearch_auth: 'sigv4' signs for Amazon OpenSearch Service"),
        ({"cluster": "self_managed", "opensearch_auth": "basic"}, "opensearch_secret_arn: required"),
        (
            {
                "cluster": "self_managed",
                "opensearch_auth": "basic",
                "opensearch_secret_arn": "arn:aws:secretsmanager:us-west-2:123456789012:secret:modelsmith/dev/opensearch-x",
            },
            "connector_credentials_secret_arn: required",
        ),
        ({"connector_role_arn": "modelsmith-role"}, "connector_role_arn: 'modelsmith-role' is not an IAM role ARN"),
        (
            {"opensearch_endpoint": "https://collection-1.us-west-2.aoss.amazonaws.com"},
            "opensearch_endpoint: OpenSearch Serverless collections",
        ),
    ],
)
def test_bad_events_are_refused_naming_the_field(
    registration, artifacts, opensearch, overrides: dict, message: str
) -> None:
    with pytest.raises(registration.storage.InvalidEventError, match=message.replace("(", r"\(").replace(".", r"\.")):
        registration.handler(opensearch_event(opensearch, **overrides), FakeLambdaContext())
    assert opensearch.ml.counts == {"connectors": 0, "model_groups": 0, "models": 0}


def test_an_event_that_is_not_an_object_is_refused(registration) -> None:
    with pytest.raises(registration.storage.InvalidEventError, match="event: expected an object, got list"):
        registration.registration.register_model([])
