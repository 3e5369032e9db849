"""An S3 bucket with every protection Modelsmith requires of stored data.

Props:
    encryption_key (kms.IKey | None): the project key (SSE-KMS with an S3 Bucket Key). Required for every
        bucket except the access-log bucket, which S3 server access logging only allows to use SSE-S3.
    access_logs_bucket (s3.IBucket | None): where this bucket's server access logs go. ``None`` makes this
        bucket the access-log target itself (SSE-S3, no logs of its own, a delivery grant for S3 logging).
    access_logs_prefix (str): key prefix of this bucket's logs in the log bucket. Default ``<id>/``.
    retain (bool): keep the bucket and its objects when the stack is deleted (prod). ``False`` deletes the
        bucket and empties it first (dev). Required.
    noncurrent_version_expiration (Duration): how long overwritten or deleted versions are kept. Required.
    abort_incomplete_multipart_upload_after (Duration): when unfinished uploads are cleaned up. Required.
    current_version_expiration (Duration | None): expire current objects too (for logs). Default: never.
    expiring_prefixes (Mapping[str, Duration]): key prefixes whose objects expire after the given time
        (scratch outputs such as presigned-link targets). Default none.

Always: versioning, Block Public Access, bucket-owner-enforced ownership, a TLS-only (TLS 1.2+) policy.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.compliance import acknowledge, acknowledge_cdk_provider

_AUTO_DELETE_PROVIDER_ID = "Custom::S3AutoDeleteObjectsCustomResourceProvider"


class SecureBucket(Construct):
    """A versioned, encrypted, TLS-only, logged bucket; see the module docstring for its props."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey | None,
        access_logs_bucket: s3.IBucket | None,
        retain: bool,
        noncurrent_version_expiration: Duration,
        abort_incomplete_multipart_upload_after: Duration,
        access_logs_prefix: str | None = None,
        current_version_expiration: Duration | None = None,
        expiring_prefixes: Mapping[str, Duration] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        is_log_target = access_logs_bucket is None
        if not is_log_target and encryption_key is None:
            raise ValueError(
                f"{self.node.path}: encryption_key is required; only the access-log bucket "
                "(access_logs_bucket=None) may use S3-managed encryption"
            )
        if is_log_target and encryption_key is not None:
            raise ValueError(
                f"{self.node.path}: an access-log target bucket cannot use SSE-KMS "
                "(S3 server access logging delivers only to SSE-S3 buckets); pass encryption_key=None"
            )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED if is_log_target else s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            bucket_key_enabled=not is_log_target,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix=None if is_log_target else (access_logs_prefix or f"{construct_id.lower()}/"),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=noncurrent_version_expiration,
                    abort_incomplete_multipart_upload_after=abort_incomplete_multipart_upload_after,
                    expiration=current_version_expiration,
                    expired_object_delete_marker=None if current_version_expiration else True,
                ),
                *[
                    s3.LifecycleRule(
                        id=f"expire-{prefix.strip('/').replace('/', '-')}", prefix=prefix, expiration=after
                    )
                    for prefix, after in (expiring_prefixes or {}).items()
                ],
            ],
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            auto_delete_objects=not retain,
        )

        replication_reason = (
            "Cross-region replication is a per-site disaster-recovery decision (second region, second key); "
            "versioning and retention in prod protect against deletion here."
        )
        acknowledge(self.bucket, {"HIPAA.Security-S3BucketReplicationEnabled": replication_reason})
        if is_log_target:
            loop_reason = "This is the server access log target; logging it to itself would loop."
            acknowledge(
                self.bucket,
                {
                    "AwsSolutions-S1": loop_reason,
                    "HIPAA.Security-S3BucketLoggingEnabled": loop_reason,
                    "CKV_AWS_18": loop_reason,
                    "HIPAA.Security-S3DefaultEncryptionKMS": (
                        "S3 server access logging delivers only to buckets encrypted with SSE-S3, not SSE-KMS."
                    ),
                },
            )
        if not retain:
            acknowledge_cdk_provider(
                self,
                _AUTO_DELETE_PROVIDER_ID,
                "CDK's auto-delete-objects provider, dev only (retain_stateful_resources=false)",
            )
