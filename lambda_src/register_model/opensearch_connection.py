"""An opensearch-py client for the registration's cluster, authenticated the way extract_corpus does it.

- ``opensearch_auth = "sigv4"``: requests signed with the function's AWS credentials for service ``es``, in the
  region named by the domain's host name (``search-x.us-east-1.es.amazonaws.com``), else the event's region.
- ``"basic"``: ``{"username", "password"}`` from the JSON secret ``opensearch_secret_arn``.

OpenSearch Serverless collections are refused: ML Commons connectors and models need a managed domain or a
self-managed cluster.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import boto3
from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth, Urllib3HttpConnection
from registration_events import OpenSearchRegistration
from run_storage import InvalidEventError

REQUEST_TIMEOUT_SECONDS = 60
MAX_RETRIES = 3
_AWS_HOST = re.compile(r"\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.(?P<service>es|aoss)\.amazonaws\.com$")


def connect(settings: OpenSearchRegistration, *, session: boto3.Session | None = None) -> OpenSearch:
    session = session or boto3.Session()
    url = urlsplit(settings.opensearch_endpoint)
    if not url.hostname:
        raise InvalidEventError(f"opensearch_endpoint: {settings.opensearch_endpoint!r} has no host name")
    secure = url.scheme == "https"
    host: dict[str, Any] = {"host": url.hostname, "port": url.port or (443 if secure else 80), "use_ssl": secure}
    if url.path.strip("/"):
        host["url_prefix"] = url.path.rstrip("/")
    aws_host = _AWS_HOST.search(url.hostname)
    if aws_host and aws_host["service"] == "aoss":
        raise InvalidEventError(
            "opensearch_endpoint: OpenSearch Serverless collections do not run ML Commons connectors; "
            "use an OpenSearch Service domain"
        )
    if settings.opensearch_auth == "sigv4":
        credentials = session.get_credentials()
        if credentials is None:
            raise InvalidEventError("opensearch_auth: 'sigv4' needs AWS credentials and none were found")
        region = aws_host["region"] if aws_host else (session.region_name or settings.region)
        http_auth: Any = Urllib3AWSV4SignerAuth(credentials, region, "es")
    else:
        http_auth = read_basic_credentials(settings.opensearch_secret_arn, session)
    return OpenSearch(
        hosts=[host],
        http_auth=http_auth,
        use_ssl=secure,
        verify_certs=secure,
        ssl_show_warn=secure,
        connection_class=Urllib3HttpConnection,
        timeout=REQUEST_TIMEOUT_SECONDS,
        max_retries=MAX_RETRIES,
        retry_on_timeout=True,
    )


def read_basic_credentials(secret_arn: str, session: boto3.Session) -> tuple[str, str]:
    """``(username, password)`` from a JSON secret; errors name the key, never the secret's value."""
    secret = session.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    try:
        values = json.loads(secret.get("SecretString") or "")
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        raise InvalidEventError(
            f'opensearch_secret_arn: secret {secret_arn} must be JSON like {{"username": ..., "password": ...}}'
        )
    for key in ("username", "password"):
        if not isinstance(values.get(key), str) or not values[key]:
            raise InvalidEventError(f"opensearch_secret_arn: secret {secret_arn} has no non-empty '{key}'")
    return values["username"], values["password"]
