"""Foundation stack, per environment: pinned stateful IDs, retention, parameters, tags, nothing sensitive."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match

from modelsmith_core import catalogue

# Logical IDs of the stateful resources. A change here means CloudFormation would REPLACE the resource
# (a new, empty bucket; a new key that cannot decrypt old data). Never edit this list to make a test pass.
PINNED_STATEFUL_IDS = {
    "ProjectKey99EBDA78": "AWS::KMS::Key",
    "AccessLogsBucketCD784A59": "AWS::S3::Bucket",
    "DataBucketE6B0FAA8": "AWS::S3::Bucket",
    "ArtifactsBucket88671897": "AWS::S3::Bucket",
    "SecretshuggingfacetokenFE4D69D4": "AWS::SecretsManager::Secret",
    "SecretspineconeapikeyCD64CA34": "AWS::SecretsManager::Secret",
    "Secretsnasaadstoken0E631F8D": "AWS::SecretsManager::Secret",
    "NotificationsTopicAE679CBD": "AWS::SNS::Topic",
}
STATEFUL_TYPES = {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::SecretsManager::Secret", "AWS::SNS::Topic"}


@pytest.fixture
def foundation(synthesized):
    name = synthesized.stacks.foundation.stack_name
    return synthesized, synthesized.template(name), synthesized.template_json(name)


def test_stateful_logical_ids_are_pinned(foundation) -> None:
    _, _, template = foundation
    stateful = {logical_id: r["Type"] for logical_id, r in template["Resources"].items() if r["Type"] in STATEFUL_TYPES}
    assert stateful == PINNED_STATEFUL_IDS


def test_stateful_resources_follow_the_environment(foundation) -> None:
    synthesized, _, template = foundation
    retain = synthesized.config.retain_stateful_resources
    for logical_id in PINNED_STATEFUL_IDS:
        resource = template["Resources"][logical_id]
        if resource["Type"] == "AWS::SNS::Topic":
            continue  # a topic holds no data; replacing it loses nothing
        assert resource["DeletionPolicy"] == ("Retain" if retain else "Delete"), logical_id
        assert resource["UpdateReplacePolicy"] == ("Retain" if retain else "Delete"), logical_id
    auto_delete = [r for r in template["Resources"].values() if r["Type"] == "Custom::S3AutoDeleteObjects"]
    assert len(auto_delete) == (0 if retain else 3)


def test_termination_protection_in_prod_only(synthesized) -> None:
    assert synthesized.stacks.foundation.termination_protection is synthesized.config.retain_stateful_resources


def test_every_resource_id_is_published_under_the_tree(foundation) -> None:
    synthesized, template, _ = foundation
    env = synthesized.config.name
    parameters = template.find_resources("AWS::SSM::Parameter")
    names = sorted(p["Properties"]["Name"] for p in parameters.values())
    assert names == sorted(
        f"/modelsmith/{env}/{suffix}"
        for suffix in [
            "kms/key-arn",
            "kms/key-id",
            "s3/data-bucket",
            "s3/artifacts-bucket",
            "s3/access-logs-bucket",
            "secrets/hugging-face-token",
            "secrets/pinecone-api-key",
            "secrets/nasa-ads-token",
            "sns/notifications-topic-arn",
        ]
    )
    template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": f"/modelsmith/{env}/s3/artifacts-bucket",
            "Value": {"Ref": "ArtifactsBucket88671897"},
        },
    )
    template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": f"/modelsmith/{env}/kms/key-arn",
            "Value": {"Fn::GetAtt": ["ProjectKey99EBDA78", "Arn"]},
        },
    )


def test_everything_encrypts_with_the_project_key(foundation) -> None:
    _, template, _ = foundation
    key_arn = {"Fn::GetAtt": ["ProjectKey99EBDA78", "Arn"]}
    template.all_resources_properties("AWS::SecretsManager::Secret", {"KmsKeyId": key_arn})
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": key_arn})
    for bucket_id in ("DataBucketE6B0FAA8", "ArtifactsBucket88671897"):
        encryption = template.to_json()["Resources"][bucket_id]["Properties"]["BucketEncryption"]
        assert encryption["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn,
        }


def test_buckets_log_to_the_access_log_bucket_with_their_own_prefix(foundation) -> None:
    _, template, _ = foundation
    for bucket_id, prefix in (("DataBucketE6B0FAA8", "data/"), ("ArtifactsBucket88671897", "artifacts/")):
        logging = template.to_json()["Resources"][bucket_id]["Properties"]["LoggingConfiguration"]
        assert logging == {"DestinationBucketName": {"Ref": "AccessLogsBucketCD784A59"}, "LogFilePrefix": prefix}


def test_lifecycle_comes_from_config(foundation) -> None:
    synthesized, template, _ = foundation
    config = synthesized.config
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "NoncurrentVersionExpiration": {
                                "NoncurrentDays": config.noncurrent_version_expiration_days
                            },
                            "AbortIncompleteMultipartUpload": {
                                "DaysAfterInitiation": config.abort_incomplete_multipart_upload_days
                            },
                        }
                    )
                ]
            }
        },
    )
    rules = template.to_json()["Resources"]["AccessLogsBucketCD784A59"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules[0]["ExpirationInDays"] == config.log_retention_days


def test_cost_allocation_tags(foundation) -> None:
    synthesized, template, _ = foundation
    tags = template.to_json()["Resources"]["DataBucketE6B0FAA8"]["Properties"]["Tags"]
    assert {"Key": "project", "Value": "modelsmith"} in tags
    assert {"Key": "environment", "Value": synthesized.config.name} in tags
    assert {"Key": "component", "Value": "foundation"} in tags


def test_no_secret_account_or_region_in_any_template(synthesized) -> None:
    for path in synthesized.template_paths:
        text = path.read_text()
        template = json.loads(text)
        # AWS's public Deep Learning Container registries are the only accounts a template may name.
        accounts = [a for a in re.findall(r"\b\d{12}\b", text) if not catalogue.is_dlc_registry_account(a)]
        assert not accounts, f"account ID-like number in {path.name}: {accounts}"
        for region in ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-"):
            assert f'"{region}' not in text and f":{region}" not in text, f"hard-coded region {region} in {path.name}"
        for resource in template["Resources"].values():
            properties = resource.get("Properties", {})
            assert "SecretString" not in properties and "SecretBinary" not in properties
        assert not re.search(r"(hf_[A-Za-z0-9]{20,}|pcsk_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16})", text)


def test_agent_tool_outputs_expire(foundation) -> None:
    synthesized, _, template = foundation
    rules = template["Resources"]["ArtifactsBucket88671897"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r.get("Prefix") == synthesized.config.agent.output_prefix]
    assert rule["ExpirationInDays"] == 30 and rule["Status"] == "Enabled"
