"""What stack deletion keeps, per environment: nothing in dev, every store of data in prod.

dev (``retain_stateful_resources: false``): ``cdk destroy`` must leave nothing behind, so no resource is retained or
snapshotted, buckets are emptied first (CDK's auto-delete custom resource), the image repository is emptied, the
knowledge base deletes its vectors and the key is scheduled for deletion. prod: every resource that holds data
nobody can recreate is retained (and survives replacement), the Foundation stack is termination-protected.

Every type that can hold data must be classified below, so a new store cannot slip in with the wrong policy.
What runs create outside the stacks is removed by ``python -m modelsmith.cleanup`` (tests/modelsmith/test_cleanup.py).
"""

from __future__ import annotations

import json

# Stores of data nobody can recreate: Retain in prod, Delete in dev.
RETAINED_IN_PROD = {
    "AWS::KMS::Key": "decrypts every object, secret and log; losing it loses the data",
    "AWS::S3::Bucket": "corpora, datasets, run outputs and models, access logs",
    "AWS::SecretsManager::Secret": "third-party credentials an operator set by hand",
    "AWS::ECR::Repository": "the training images CI pushed",
    "AWS::EC2::Volume": "checkpoints of a LoRA run in progress",
}
# Deleted with the stack in every environment, each for a reason.
DELETED_EVERYWHERE = {
    "AWS::Logs::LogGroup": "operational logs, expiring after log_retention_days anyway; run results live in S3",
    "AWS::OpenSearchServerless::Collection": "knowledge-base vectors, rebuilt by ingesting the retained data bucket",
    "AWS::SQS::Queue": "dead-letter queues of clean-up events; nothing is stored there on purpose",
    "AWS::StepFunctions::StateMachine": "workflow definitions (code); each run's outputs live in the artifacts bucket",
}
# Types that store data; each one present in a template must be classified above.
DATA_STORE_TYPES = {
    *RETAINED_IN_PROD,
    *DELETED_EVERYWHERE,
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::EFS::FileSystem",
    "AWS::FSx::FileSystem",
    "AWS::Kinesis::Stream",
    "AWS::Backup::BackupVault",
    "AWS::OpenSearchService::Domain",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::Timestream::Database",
    "AWS::SageMaker::Model",
    "AWS::SageMaker::Endpoint",
    "AWS::SageMaker::ModelPackageGroup",
    "AWS::ECR::PublicRepository",
}
RETAINING_POLICIES = {"Retain", "RetainExceptOnCreate", "Snapshot"}


def _resources(synthesized) -> list[tuple[str, str, dict]]:
    """``(stack name, logical ID, resource)`` of every resource of every stack."""
    found = []
    for stack in synthesized.stacks.all():
        template = synthesized.template_json(stack.stack_name)
        found += [(stack.stack_name, logical_id, r) for logical_id, r in template["Resources"].items()]
    return found


def test_every_data_store_type_is_classified(synthesized) -> None:
    unclassified = {
        (stack, r["Type"])
        for stack, _, r in _resources(synthesized)
        if (r["Type"] in DATA_STORE_TYPES or r.get("DeletionPolicy") in RETAINING_POLICIES)
        and r["Type"] not in RETAINED_IN_PROD
        and r["Type"] not in DELETED_EVERYWHERE
    }
    assert unclassified == set(), "add each type to RETAINED_IN_PROD or DELETED_EVERYWHERE, with its reason"


def test_stores_follow_the_environment(synthesized) -> None:
    retain = synthesized.config.retain_stateful_resources
    for stack, logical_id, resource in _resources(synthesized):
        where = f"{stack}/{logical_id} ({resource['Type']})"
        if resource["Type"] in RETAINED_IN_PROD:
            expected = "Retain" if retain else "Delete"
            assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == (expected, expected), where
        elif resource["Type"] in DELETED_EVERYWHERE:
            assert resource.get("DeletionPolicy", "Delete") == "Delete", where


def test_dev_retains_nothing(synthesized) -> None:
    if synthesized.config.retain_stateful_resources:
        return
    retained = [
        f"{stack}/{logical_id}"
        for stack, logical_id, r in _resources(synthesized)
        if {r.get("DeletionPolicy"), r.get("UpdateReplacePolicy")} & RETAINING_POLICIES
    ]
    assert retained == []
    assert [s.stack_name for s in synthesized.stacks.all() if s.termination_protection] == []


def test_dev_empties_what_cloudformation_cannot_delete_while_full(synthesized) -> None:
    if synthesized.config.retain_stateful_resources:
        return
    resources = _resources(synthesized)
    emptied = {
        json.dumps(r["Properties"]["BucketName"]) for _, _, r in resources if r["Type"] == "Custom::S3AutoDeleteObjects"
    }
    for stack, logical_id, resource in resources:
        if resource["Type"] == "AWS::S3::Bucket":
            assert json.dumps({"Ref": logical_id}) in emptied, f"{stack}/{logical_id}: not emptied before deletion"
        if resource["Type"] == "AWS::ECR::Repository":
            assert resource["Properties"].get("EmptyOnDelete") is True, (
                f"{stack}/{logical_id}: images would block deletion"
            )
        if resource["Type"] == "AWS::KMS::Key":
            assert resource["Properties"].get("PendingWindowInDays", 30) <= 30, f"{stack}/{logical_id}"
        if resource["Type"] == "AWS::Bedrock::DataSource":
            assert resource["Properties"]["DataDeletionPolicy"] == "DELETE", f"{stack}/{logical_id}: vectors would stay"


def test_prod_keeps_its_data_and_protects_the_foundation(synthesized) -> None:
    if not synthesized.config.retain_stateful_resources:
        return
    resources = _resources(synthesized)
    assert [r for _, _, r in resources if r["Type"] == "Custom::S3AutoDeleteObjects"] == []
    for stack, logical_id, resource in resources:
        if resource["Type"] == "AWS::ECR::Repository":
            assert not resource["Properties"].get("EmptyOnDelete"), f"{stack}/{logical_id}: images would be deleted"
        if resource["Type"] == "AWS::Bedrock::DataSource":
            assert resource["Properties"]["DataDeletionPolicy"] == "RETAIN", f"{stack}/{logical_id}"
    kinds = {r["Type"] for _, _, r in resources}
    assert set(RETAINED_IN_PROD) <= kinds, "every kind of store is present in prod (and so checked above)"
    assert synthesized.stacks.foundation.termination_protection is True
