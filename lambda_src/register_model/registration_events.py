"""The register_model function's events, checked field by field into settings objects.

``{"action": "opensearch", ...}`` becomes ``OpenSearchRegistration`` and ``{"action": "pinecone", ...}``
``PineconeRegistration`` (the fields are listed on each class). A missing or malformed field raises
``InvalidEventError`` naming it; unknown fields are ignored, so the state machine may pass more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lambda_src.shared.run_storage import InvalidEventError, parse_s3_uri, run_prefix

ACTIONS = ("opensearch", "pinecone")
OPENSEARCH_AUTH_MODES = ("sigv4", "basic")
# Where ML Commons runs decides what the connector signs with (see OpenSearchRegistration).
CLUSTERS = ("amazon_opensearch_service", "self_managed")
PINECONE_CLOUDS = ("aws", "gcp", "azure")
# The execution input's rule for model names (statemachines/schemas): also a Pinecone namespace and an
# ML Commons model, model group and connector name.
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,46}[a-z0-9]$")
# SageMaker: up to 63 characters, letters, digits and single hyphens inside.
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
PINECONE_REGION = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Pinecone: 1-45 lowercase letters, digits and hyphens, starting and ending with a letter or digit.
PINECONE_INDEX_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$")
SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
MAX_EMBEDDING_DIMENSION = 20_000  # Pinecone's limit for a dense index


@dataclass(frozen=True)
class OpenSearchRegistration:
    """``{"action": "opensearch", "run_id", "model_name", "endpoint_name", "embedding_dimension", "region",
    "opensearch_endpoint", "opensearch_auth": "sigv4" | "basic", "opensearch_secret_arn" (basic only),
    "cluster": "amazon_opensearch_service" | "self_managed", "connector_credentials_secret_arn" (self_managed
    only), "connector_role_arn"}``; ``region`` is the SageMaker endpoint's.

    - ``amazon_opensearch_service`` (default): the connector's credential is ``{"roleArn": connector_role_arn}``,
      a role OpenSearch Service assumes. OpenSearch Service checks ``iam:PassRole`` on that role for the IAM
      identity that signs the request ("Amazon OpenSearch Service ML connectors for AWS services", Configure
      permissions), so the requests must be SigV4-signed: ``opensearch_auth`` must be ``sigv4``.
    - ``self_managed``: open-source ML Commons resolves no role; its ``AwsConnector`` requires ``access_key`` and
      ``secret_key`` ("Missing credential" otherwise; ml-commons ``AwsConnector.validate``). They come from the
      JSON secret ``connector_credentials_secret_arn``; the cluster is reached with ``basic`` auth.
    """

    run_id: str
    model_name: str
    endpoint_name: str
    embedding_dimension: int
    region: str
    opensearch_endpoint: str
    opensearch_auth: str
    opensearch_secret_arn: str
    connector_role_arn: str
    cluster: str = "amazon_opensearch_service"
    connector_credentials_secret_arn: str = ""


@dataclass(frozen=True)
class PineconeRegistration:
    """``{"action": "pinecone", "run_id", "model_name", "endpoint_name", "corpus_uri", "embedding_dimension",
    "index_name", "cloud", "region", "api_key_secret_arn" (or "api_key_secret_name"), "control_plane_host"
    (optional)}``; ``cloud`` and
    ``region`` say where a new serverless index goes."""

    run_id: str
    model_name: str
    endpoint_name: str
    corpus_uri: str
    embedding_dimension: int
    index_name: str
    cloud: str
    region: str
    api_key_secret_arn: str
    control_plane_host: str | None = None

    @property
    def namespace(self) -> str:
        return self.model_name


def parse_event(event: Any) -> OpenSearchRegistration | PineconeRegistration:
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"event: expected an object, got {type(event).__name__}")
    action = event.get("action")
    if action not in ACTIONS:
        raise InvalidEventError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    run_prefix(event.get("run_id"))  # raises naming run_id
    # The state machine passes the execution input's target object as it is: {"ml_commons": {...}} or
    # {"pinecone": {...}} (whose "region" is Pinecone's); its fields count as the event's own.
    nested = event.get("ml_commons" if action == "opensearch" else "pinecone")
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise InvalidEventError(f"{'ml_commons' if action == 'opensearch' else 'pinecone'}: expected an object")
        event = {**event, **nested}
    common = {
        "run_id": event["run_id"],
        "model_name": _matching(
            event, "model_name", MODEL_NAME, "lowercase letters, digits and hyphens, 3-48 characters"
        ),
        "endpoint_name": _matching(event, "endpoint_name", ENDPOINT_NAME, "a SageMaker endpoint name"),
        "embedding_dimension": _dimension(event),
    }
    if action == "opensearch":
        auth = event.get("opensearch_auth", "sigv4")
        if auth not in OPENSEARCH_AUTH_MODES:
            raise InvalidEventError(f"opensearch_auth: {auth!r} is not one of {', '.join(OPENSEARCH_AUTH_MODES)}")
        cluster = event.get("cluster", CLUSTERS[0])
        if cluster not in CLUSTERS:
            raise InvalidEventError(f"cluster: {cluster!r} is not one of {', '.join(CLUSTERS)}")
        if cluster == "amazon_opensearch_service" and auth != "sigv4":
            raise InvalidEventError(
                f"opensearch_auth: {auth!r} cannot create a connector on Amazon OpenSearch Service: it checks "
                "iam:PassRole on the connector role for the IAM identity that signs the request, so use sigv4 "
                "(or cluster: self_managed for a cluster outside OpenSearch Service)"
            )
        if cluster == "self_managed" and auth != "basic":
            raise InvalidEventError(
                f"opensearch_auth: {auth!r} signs for Amazon OpenSearch Service; a self_managed cluster takes basic"
            )
        secret = event.get("opensearch_secret_arn") or ""
        if auth == "basic":
            secret = _matching(
                event, "opensearch_secret_arn", SECRET_ARN, "a Secrets Manager secret ARN (required for basic auth)"
            )
        keys = ""
        if cluster == "self_managed":
            keys = _matching(
                event,
                "connector_credentials_secret_arn",
                SECRET_ARN,
                "a Secrets Manager secret ARN (required for a self_managed cluster: open-source ML Commons signs "
                "with access keys, not a role)",
            )
        return OpenSearchRegistration(
            **common,
            region=_matching(event, "region", AWS_REGION, "an AWS region such as us-east-1"),
            opensearch_endpoint=_url(event, "opensearch_endpoint"),
            opensearch_auth=auth,
            opensearch_secret_arn=secret,
            connector_role_arn=_matching(event, "connector_role_arn", ROLE_ARN, "an IAM role ARN"),
            cluster=cluster,
            connector_credentials_secret_arn=keys,
        )
    parse_s3_uri(event.get("corpus_uri"), "corpus_uri")
    cloud = event.get("cloud")
    if cloud not in PINECONE_CLOUDS:
        raise InvalidEventError(f"cloud: {cloud!r} is not one of {', '.join(PINECONE_CLOUDS)}")
    host = event.get("control_plane_host")
    return PineconeRegistration(
        **common,
        corpus_uri=event["corpus_uri"],
        index_name=_matching(event, "index_name", PINECONE_INDEX_NAME, "1-45 lowercase letters, digits and hyphens"),
        cloud=cloud,
        region=_matching(event, "region", PINECONE_REGION, "a cloud region such as us-east-1"),
        api_key_secret_arn=(
            _matching(event, "api_key_secret_name", SECRET_NAME, "a Secrets Manager secret name")
            if "api_key_secret_name" in event and "api_key_secret_arn" not in event
            else _matching(event, "api_key_secret_arn", SECRET_ARN, "a Secrets Manager secret ARN")
        ),
        control_plane_host=_url(event, "control_plane_host") if host not in (None, "") else None,
    )


def _matching(event: Mapping[str, Any], field: str, pattern: re.Pattern[str], description: str) -> str:
    value = event.get(field)
    if value is None:
        raise InvalidEventError(f"{field}: required ({description})")
    if not isinstance(value, str) or not pattern.match(value):
        raise InvalidEventError(f"{field}: {value!r} is not {description}")
    return value


def _dimension(event: Mapping[str, Any]) -> int:
    value = event.get("embedding_dimension")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EMBEDDING_DIMENSION:
        raise InvalidEventError(f"embedding_dimension: {value!r} is not an integer from 1 to {MAX_EMBEDDING_DIMENSION}")
    return value


def _url(event: Mapping[str, Any], field: str) -> str:
    value = event.get(field)
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidEventError(f"{field}: {value!r} is not an http(s) URL with a host name")
    return str(value).rstrip("/")
