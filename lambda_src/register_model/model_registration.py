"""Register a deployed retrieval model with OpenSearch ML Commons or Pinecone, as the event's action says.

``register_model(event)`` checks the event (``registration_events``), builds the clients the action needs from
the function's AWS credentials, and runs ``ml_commons_registration`` or ``pinecone_registration``. Tests pass
their own clients (moto, local HTTP servers, an in-process endpoint).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from lambda_src.register_model import ml_commons_registration, opensearch_connection, pinecone_registration
from lambda_src.register_model.registration_events import OpenSearchRegistration, PineconeRegistration, parse_event

# Standard retry mode: backoff with jitter on throttling and transient errors of SageMaker and S3.
AWS_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


def register_model(
    event: Mapping[str, Any],
    *,
    session: boto3.Session | None = None,
    opensearch_client: Any = None,
    pinecone_client: Any = None,
    runtime_client: Any = None,
    s3_client: Any = None,
    **options: Any,
) -> dict[str, Any]:
    """The action's result (see the two modules); ``options`` go to the action (poll intervals in tests)."""
    settings = parse_event(event)
    session = session or boto3.Session()
    if isinstance(settings, OpenSearchRegistration):
        keys = opensearch_connection.connector_keys(settings, session=session)
        client = opensearch_client or opensearch_connection.connect(settings, session=session)
        return ml_commons_registration.register_with_opensearch(settings, client, connector_keys=keys, **options)
    assert isinstance(settings, PineconeRegistration)
    if pinecone_client is None:
        secrets = session.client("secretsmanager", region_name=_arn_region(settings.api_key_secret_arn))
        api_key = pinecone_registration.read_api_key(secrets, settings.api_key_secret_arn)
        pinecone_client = pinecone_registration.connect(api_key, settings)
    return pinecone_registration.register_with_pinecone(
        settings,
        pinecone=pinecone_client,
        s3_client=s3_client or session.client("s3", config=AWS_CLIENT_CONFIG),
        runtime_client=runtime_client or session.client("sagemaker-runtime", config=AWS_CLIENT_CONFIG),
        **options,
    )


def _arn_region(secret: str) -> str | None:
    """The region of a secret ARN; None (the function's own region) for a secret name."""
    return secret.split(":")[3] if secret.startswith("arn:") else None
