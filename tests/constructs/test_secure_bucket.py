"""SecureBucket: encryption, versioning, TLS, logging, lifecycle and removal, for retained (prod) and not (dev)."""

from __future__ import annotations

import pytest
from aws_cdk import Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from constructs.secure_bucket import SecureBucket


def _build(stack: Stack, retain: bool) -> tuple[Stack, SecureBucket, SecureBucket]:
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    lifecycle = dict(
        retain=retain,
        noncurrent_version_expiration=Duration.days(30),
        abort_incomplete_multipart_upload_after=Duration.days(7),
    )
    logs = SecureBucket(
        stack,
        "Logs",
        encryption_key=None,
        access_logs_bucket=None,
        current_version_expiration=Duration.days(365),
        **lifecycle,
    )
    data = SecureBucket(
        stack, "Data", encryption_key=key, access_logs_bucket=logs.bucket, access_logs_prefix="data/", **lifecycle
    )
    return stack, logs, data


@pytest.fixture(params=[True, False], ids=["retained", "destroyable"])
def built(request: pytest.FixtureRequest, stack: Stack) -> tuple[bool, Template, Stack, SecureBucket, SecureBucket]:
    stack, logs, data = _build(stack, request.param)
    return request.param, Template.from_stack(stack), stack, logs, data


def test_data_bucket_uses_the_kms_key_with_a_bucket_key(built) -> None:
    _, template, stack, _, data = built
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": Match.any_value(),
                        },
                    }
                ]
            },
            "LoggingConfiguration": {"DestinationBucketName": Match.any_value(), "LogFilePrefix": "data/"},
        },
    )


def test_log_bucket_uses_s3_managed_encryption_and_logs_nothing_itself(built) -> None:
    _, template, stack, logs, _ = built
    resource = template.to_json()["Resources"][stack.get_logical_id(logs.bucket.node.default_child)]
    properties = resource["Properties"]
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert "LoggingConfiguration" not in properties
    assert properties["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365


def test_every_bucket_is_versioned_private_and_owner_enforced(built) -> None:
    _, template, *_ = built
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket in buckets.values():
        properties = bucket["Properties"]
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        rule = properties["LifecycleConfiguration"]["Rules"][0]
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
        assert rule["Status"] == "Enabled"


def test_bucket_policies_deny_plain_http_and_old_tls(built) -> None:
    _, template, *_ = built
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        denies = {tuple(sorted(s["Condition"])): s for s in statements if s["Effect"] == "Deny"}
        assert denies[("Bool",)]["Condition"]["Bool"] == {"aws:SecureTransport": "false"}
        assert denies[("NumericLessThan",)]["Condition"]["NumericLessThan"] == {"s3:TlsVersion": 1.2}
        assert all(s["Action"] == "s3:*" and s["Principal"] == {"AWS": "*"} for s in denies.values())


def test_log_bucket_grants_only_s3_log_delivery(built) -> None:
    _, template, stack, logs, _ = built
    policy = template.find_resources(
        "AWS::S3::BucketPolicy",
        {
            "Properties": {"Bucket": {"Ref": stack.get_logical_id(logs.bucket.node.default_child)}},
        },
    )
    statements = next(iter(policy.values()))["Properties"]["PolicyDocument"]["Statement"]
    allows = [
        s
        for s in statements
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
    ]
    assert len(allows) == 1 and allows[0]["Action"] == "s3:PutObject"


def test_removal_follows_retain(built) -> None:
    retain, template, *_ = built
    policy = "Retain" if retain else "Delete"
    template.all_resources("AWS::S3::Bucket", {"DeletionPolicy": policy, "UpdateReplacePolicy": policy})
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0 if retain else 2)


def test_kms_bucket_without_key_is_refused(stack: Stack) -> None:
    logs = SecureBucket(
        stack,
        "Logs",
        encryption_key=None,
        access_logs_bucket=None,
        retain=True,
        noncurrent_version_expiration=Duration.days(1),
        abort_incomplete_multipart_upload_after=Duration.days(1),
    )
    with pytest.raises(ValueError, match="encryption_key is required"):
        SecureBucket(
            stack,
            "Data",
            encryption_key=None,
            access_logs_bucket=logs.bucket,
            retain=True,
            noncurrent_version_expiration=Duration.days(1),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        )


def test_log_target_with_kms_is_refused(stack: Stack) -> None:
    with pytest.raises(ValueError, match="cannot use SSE-KMS"):
        SecureBucket(
            stack,
            "Logs",
            encryption_key=kms.Key(stack, "Key"),
            access_logs_bucket=None,
            retain=True,
            noncurrent_version_expiration=Duration.days(1),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        )
