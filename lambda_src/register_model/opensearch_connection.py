"""An opensearch-py client for the registration's cluster, authenticated the way extract_corpus does it
(``lambda_src/shared/opensearch_client.py``).

- ``opensearch_auth = "sigv4"``: requests signed with the function's AWS credentials for service ``es``, in the
  region named by the domain's host name (``search-x.us-east-1.es.amazonaws.com``), else the event's region.
- ``"basic"``: ``{"username", "password"}`` from the JSON secret ``opensearch_secret_arn``.

``connector_keys`` reads the access keys a ``self_managed`` cluster's connector signs with.

OpenSearch Serverless collections are refused: ML Commons connectors and models need a managed domain or a
self-managed cluster.
"""

from __future__ import annotations

import boto3
from opensearchpy import OpenSearch

from lambda_src.register_model.registration_events import OpenSearchRegistration
from lambda_src.shared.opensearch_client import open_client, read_json_secret

REQUEST_TIMEOUT_SECONDS = 60


def connect(settings: OpenSearchRegistration, *, session: boto3.Session | None = None) -> OpenSearch:
    return open_client(
        settings.opensearch_endpoint,
        settings.opensearch_auth,
        settings.opensearch_secret_arn,
        session=session,
        fallback_region=settings.region,
        timeout_seconds=REQUEST_TIMEOUT_SECONDS,
        serverless_refusal=(
            "OpenSearch Serverless collections do not run ML Commons connectors; use an OpenSearch Service domain"
        ),
    )


def connector_keys(settings: OpenSearchRegistration, *, session: boto3.Session) -> dict[str, str] | None:
    """``{"access_key", "secret_key"}`` from ``connector_credentials_secret_arn`` for a ``self_managed`` cluster;
    None on OpenSearch Service, whose connectors sign with a role."""
    if settings.cluster != "self_managed":
        return None
    return read_json_secret(
        settings.connector_credentials_secret_arn,
        session,
        "connector_credentials_secret_arn",
        ("access_key", "secret_key"),
    )
