"""The one way the pipeline's functions open an OpenSearch cluster (extract_corpus reads from it, register_model
registers in its ML Commons): an opensearch-py client for an ``https://`` endpoint, authenticated

- ``"sigv4"``: requests signed with the function's AWS credentials for service ``es``, in the region the
  domain's host name names (``search-x.us-east-1.es.amazonaws.com``), else ``fallback_region``;
- ``"basic"``: ``{"username", "password"}`` from a JSON secret in Secrets Manager.

OpenSearch Serverless collections (``*.aoss.amazonaws.com``) are refused with the caller's reason. Errors name
the event field (``field_prefix`` + ``opensearch_endpoint``, ...) and never a secret's value.
Needs ``opensearch-py`` in the function's own requirements.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import ClientError
from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth, Urllib3HttpConnection

from lambda_src.shared.run_storage import InvalidEventError

MAX_RETRIES = 3
_AWS_HOST = re.compile(r"\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.(?P<service>es|aoss)\.amazonaws\.com$")


def open_client(
    endpoint: str,
    auth: str,
    secret_arn: str | None,
    *,
    session: boto3.Session | None = None,
    field_prefix: str = "",
    serverless_refusal: str,
    fallback_region: str | None = None,
    timeout_seconds: int = 30,
) -> OpenSearch:
    session = session or boto3.Session()
    url = urlsplit(endpoint)
    if not url.hostname:
        raise InvalidEventError(f"{field_prefix}opensearch_endpoint: {endpoint!r} has no host name")
    secure = url.scheme == "https"
    host: dict[str, Any] = {"host": url.hostname, "port": url.port or (443 if secure else 80), "use_ssl": secure}
    if url.path.strip("/"):
        host["url_prefix"] = url.path.rstrip("/")
    aws_host = _AWS_HOST.search(url.hostname)
    if aws_host and aws_host["service"] == "aoss":
        raise InvalidEventError(f"{field_prefix}opensearch_endpoint: {serverless_refusal}")
    if auth == "sigv4":
        credentials = session.get_credentials()
        if credentials is None:
            raise InvalidEventError(f"{field_prefix}opensearch_auth: 'sigv4' needs AWS credentials and none were found")
        region = aws_host["region"] if aws_host else (session.region_name or fallback_region)
        http_auth: Any = Urllib3AWSV4SignerAuth(credentials, region, "es")
    else:
        http_auth = read_basic_credentials(secret_arn or "", session, field_prefix=field_prefix)
    return OpenSearch(
        hosts=[host],
        http_auth=http_auth,
        use_ssl=secure,
        verify_certs=secure,
        ssl_show_warn=secure,
        connection_class=Urllib3HttpConnection,
        timeout=timeout_seconds,
        max_retries=MAX_RETRIES,
        retry_on_timeout=True,
    )


def read_basic_credentials(secret_arn: str, session: boto3.Session, *, field_prefix: str = "") -> tuple[str, str]:
    """``(username, password)`` from a JSON secret; errors name the key, never the secret's value."""
    values = read_json_secret(secret_arn, session, f"{field_prefix}opensearch_secret_arn", ("username", "password"))
    return values["username"], values["password"]


def read_json_secret(secret_arn: str, session: boto3.Session, field: str, keys: tuple[str, ...]) -> dict[str, str]:
    """The non-empty string ``keys`` of the JSON secret ``secret_arn`` (named by event ``field``); errors name the
    field and the key, never the secret's value. A refused read says which secrets the function may read."""
    try:
        secret = session.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in ("AccessDeniedException", "ResourceNotFoundException"):
            raise
        raise InvalidEventError(
            f"{field}: cannot read secret {secret_arn} ({code}); the function reads secrets named "
            "modelsmith/<env>/opensearch-* in its own account and region"
        ) from None
    try:
        values = json.loads(secret.get("SecretString") or "")
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        shape = ", ".join(f'"{key}": ...' for key in keys)
        raise InvalidEventError(f"{field}: secret {secret_arn} must be JSON like {{{shape}}}")
    for key in keys:
        if not isinstance(values.get(key), str) or not values[key]:
            raise InvalidEventError(f"{field}: secret {secret_arn} has no non-empty '{key}'")
    return {key: values[key] for key in keys}
