"""What a role needs to work inside run prefixes of the artifacts bucket; the one place that grant is written.

Every run reads and writes ``runs/<execution-name>/``, a name chosen when the execution starts, so policies
name ``runs/*``: objects there, listing under that prefix, and the project key through S3 only.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.permissions import Permission, grant, service_role
from constructs.python_function import PythonFunction

RUNS_PREFIX = "runs/*"


RUNS_REASON = "Each run reads and writes runs/<execution-name>/, a name chosen when the execution starts."


def run_prefix_permissions(artifacts_bucket: s3.IBucket, encryption_key: kms.IKey) -> list[Permission]:
    """Read and write objects under ``runs/*``, list that prefix, use the project key through S3."""
    return [
        Permission(["s3:GetObject", "s3:PutObject"], [artifacts_bucket.arn_for_objects(RUNS_PREFIX)], why=RUNS_REASON),
        Permission(
            ["s3:ListBucket"],
            [artifacts_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [RUNS_PREFIX]}},
        ),
        Permission(
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [encryption_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
        ),
    ]


def grant_run_prefix(role: iam.IRole, artifacts_bucket: s3.IBucket, encryption_key: kms.IKey) -> None:
    grant(role, *run_prefix_permissions(artifacts_bucket, encryption_key))


def bedrock_job_role(
    scope: Construct,
    construct_id: str,
    *,
    job: str,
    description: str,
    artifacts_bucket: s3.IBucket,
    encryption_key: kms.IKey,
) -> iam.Role:
    """A role Bedrock assumes for this account's ``job`` jobs (``model-invocation-job``,
    ``model-customization-job``) to read a run's inputs and write its outputs under ``runs/*``."""
    role = service_role(
        scope,
        construct_id,
        service="bedrock.amazonaws.com",
        description=description,
        source_arn=f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:{job}/*",
    )
    grant_run_prefix(role, artifacts_bucket, encryption_key)
    return role


def run_function(
    scope: Construct,
    construct_id: str,
    *,
    source: str,
    description: str,
    minutes: int,
    memory: int,
    artifacts_bucket: s3.IBucket,
    encryption_key: kms.IKey,
    log_retention: logs.RetentionDays,
    reserved_concurrency: int = 5,
) -> PythonFunction:
    """A workflow step's function: ``lambda_src/<source>`` with the shared modules, the artifacts bucket in
    ``ARTIFACTS_BUCKET``, and the run prefix granted."""
    function = PythonFunction(
        scope,
        construct_id,
        source=source,
        description=description,
        encryption_key=encryption_key,
        log_retention=log_retention,
        environment={"ARTIFACTS_BUCKET": artifacts_bucket.bucket_name},
        shared_code=True,
        timeout=Duration.minutes(minutes),
        memory_size=memory,
        reserved_concurrent_executions=reserved_concurrency,
    )
    grant_run_prefix(function.role, artifacts_bucket, encryption_key)
    return function
