"""ProjectKey: rotation, removal, and service grants limited to this account."""

from __future__ import annotations

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from constructs.project_key import ProjectKey


@pytest.mark.parametrize("retain", [True, False], ids=["retained", "destroyable"])
def test_key_rotates_and_follows_retain(retain: bool, stack: Stack) -> None:
    ProjectKey(stack, "Key", alias="alias/modelsmith/test", retain=retain)
    template = Template.from_stack(stack)
    policy = "Retain" if retain else "Delete"
    template.has_resource(
        "AWS::KMS::Key",
        {
            "Properties": {"EnableKeyRotation": True, "PendingWindowInDays": 30},
            "DeletionPolicy": policy,
            "UpdateReplacePolicy": policy,
        },
    )
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/modelsmith/test"})


@pytest.fixture
def statements(stack: Stack) -> dict[str, dict]:
    ProjectKey(stack, "Key", alias="alias/modelsmith/test", retain=True)
    key = next(iter(Template.from_stack(stack).find_resources("AWS::KMS::Key").values()))
    return {s.get("Sid", "default"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}


def test_logs_may_use_the_key_only_for_this_accounts_log_groups(statements: dict[str, dict]) -> None:
    statement = statements["CloudWatchLogsOfThisAccount"]
    assert statement["Principal"] == {
        "Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    }
    condition = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert {"Ref": "AWS::AccountId"} in condition["Fn::Join"][1]
    assert "kms:Decrypt*" in statement["Action"] and "kms:CreateGrant" not in statement["Action"]


def test_alarms_and_events_are_limited_to_this_account(statements: dict[str, dict]) -> None:
    statement = statements["AlarmsAndEventsPublishToEncryptedTopics"]
    assert sorted(statement["Principal"]["Service"]) == ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


@pytest.mark.parametrize("alias", ["modelsmith", "alias/aws/s3"])
def test_bad_alias_is_refused(alias: str, stack: Stack) -> None:
    with pytest.raises(ValueError, match="must start with 'alias/'"):
        ProjectKey(stack, "Key", alias=alias, retain=True)
