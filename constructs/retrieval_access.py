"""The retrieval pipeline's functions and service roles, and what each may do.

The pipeline's stack says who acts; the statements and the reasons for their wildcards are here, beside each other.
Every function reads and writes the run prefix (``runs/*``); extraction also reads the data bucket, OpenSearch and
its basic-auth secrets; generation invokes Bedrock models; registration calls the endpoint, ML Commons or Pinecone.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.permissions import grant, service_role
from constructs.python_function import PythonFunction
from constructs.run_access import bedrock_job_role, run_function
from constructs.service_access import (
    decrypt_through,
    invoke_bedrock_models,
    invoke_endpoints,
    opensearch_http,
    pass_role,
    read_objects,
    read_secrets,
)

OPENSEARCH_SECRETS_REASON = (
    "Basic-auth secrets of self-managed clusters, limited to the modelsmith/<env>/opensearch-* names."
)


def secret_names(environment_name: str) -> tuple[str, str]:
    """(the Pinecone API key's secret, the prefix of OpenSearch basic-auth secrets): by name, so the Foundation
    stack's secret needs no cross-stack export."""
    return f"modelsmith/{environment_name}/pinecone-api-key", f"modelsmith/{environment_name}/opensearch"


# The pipeline's functions: construct ID, lambda_src package, description, timeout (minutes), memory (MB), reserved
# concurrency (generation runs shards in parallel).
FUNCTIONS = (
    ("ExtractCorpus", "extract_corpus", "Reads the corpus from S3 or OpenSearch into the run", 15, 1024, 5),
    ("GenerateQueries", "generate_queries", "Writes synthetic queries with Bedrock", 15, 512, 8),
    ("BuildPairs", "build_pairs", "Joins queries and passages; splits train/eval by document", 5, 1024, 5),
    (
        "PublishTrainingReport",
        "publish_training_report",
        "Copies a training job's metrics and report into the run; returns the scores",
        2,
        512,
        5,
    ),
    (
        "RegisterModel",
        "register_model",
        "Registers a deployed embedding model in OpenSearch ML Commons or Pinecone",
        15,
        1024,
        5,
    ),
)


def pipeline_functions(
    scope: Construct,
    *,
    artifacts_bucket: s3.IBucket,
    data_bucket: s3.IBucket,
    encryption_key: kms.IKey,
    log_retention: logs.RetentionDays,
    environment_name: str,
) -> dict[str, PythonFunction]:
    """The functions of ``FUNCTIONS`` in ``scope``, by their ``lambda_src`` package, with the run prefix, and
    extraction's and generation's access. Registration's needs the connector role: ``grant_model_registration``."""
    workers = {
        source: run_function(
            scope,
            construct_id,
            source=source,
            description=description,
            minutes=minutes,
            memory=memory,
            artifacts_bucket=artifacts_bucket,
            encryption_key=encryption_key,
            log_retention=log_retention,
            reserved_concurrency=concurrency,
        )
        for construct_id, source, description, minutes, memory, concurrency in FUNCTIONS
    }
    grant_corpus_extraction(workers["extract_corpus"], data_bucket=data_bucket, environment_name=environment_name)
    workers["generate_queries"].grant(invoke_bedrock_models())  # bedrock_model_id may name a cross-Region profile
    return workers


def grant_corpus_extraction(extract: PythonFunction, *, data_bucket: s3.IBucket, environment_name: str) -> None:
    """The corpus from the data bucket, or from an OpenSearch domain (point in time + search_after)."""
    _, opensearch = secret_names(environment_name)
    extract.grant(
        read_objects(
            data_bucket, why="The corpus file is named per run (s3_corpus_path); read-only, the data bucket only."
        ),
        opensearch_http(
            "es:ESHttpGet",
            "es:ESHttpPost",
            "es:ESHttpDelete",
            why="The OpenSearch domain is named per run (opensearch_endpoint); reads, searches and point-in-time deletion.",
        ),
        read_secrets(opensearch, why=OPENSEARCH_SECRETS_REASON),
    )


def grant_model_registration(
    register: PythonFunction,
    *,
    connector_role: iam.IRole,
    endpoint_prefix: str,
    encryption_key: kms.IKey,
    environment_name: str,
) -> None:
    """Embedding through the run's endpoint; ML Commons (connector, model group, model) or a Pinecone index."""
    pinecone, opensearch = secret_names(environment_name)
    register.grant(
        invoke_endpoints(endpoint_prefix),
        opensearch_http(
            "es:ESHttpGet",
            "es:ESHttpPost",
            "es:ESHttpPut",
            why="The ML Commons domain is named per run (ml_commons.opensearch_endpoint); its _plugins/_ml and _cluster/settings paths.",
        ),
        # OpenSearch Service checks iam:PassRole on the connector role for the identity that signs the request; its
        # guide's policy has no condition and it does not document iam:PassedToService, so none is set
        # (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/ml-amazon-connector.html).
        pass_role(connector_role),
        read_secrets(
            pinecone,
            opensearch,
            why=f"The Pinecone API key's secret by name (Secrets Manager appends a random suffix). {OPENSEARCH_SECRETS_REASON}",
        ),
        decrypt_through(encryption_key, "secretsmanager"),
    )


def batch_inference_role(
    scope: Construct, construct_id: str, *, artifacts_bucket: s3.IBucket, encryption_key: kms.IKey
) -> iam.Role:
    """The role Bedrock batch inference reads the run's records and writes its outputs with."""
    role = bedrock_job_role(
        scope,
        construct_id,
        job="model-invocation-job",
        description="Bedrock batch inference of the retrieval pipeline",
        artifacts_bucket=artifacts_bucket,
        encryption_key=encryption_key,
    )
    grant(role, invoke_bedrock_models())
    return role


def ml_commons_connector_role(scope: Construct, construct_id: str, *, endpoint_prefix: str) -> iam.Role:
    """The role ML Commons calls the endpoint with (the connector's credential)."""
    role = service_role(
        scope,
        construct_id,
        service="opensearchservice.amazonaws.com",
        description="OpenSearch ML Commons connectors calling the pipeline's endpoints",
    )
    grant(role, invoke_endpoints(endpoint_prefix))
    return role
