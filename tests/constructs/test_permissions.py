"""Permissions carry the reason for each wildcard; grant() acknowledges it beside the statement, and refuses a
wildcard without one."""

from __future__ import annotations

import pytest
from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from constructs.permissions import Permission, grant, service_role


def _role(stack: Stack) -> iam.Role:
    return iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))


def test_a_wildcard_without_a_reason_is_refused(stack: Stack) -> None:
    with pytest.raises(ValueError, match=r"Role: ec2:StopInstances on arn:aws:ec2:.*instance/\*: say why"):
        grant(_role(stack), Permission(["ec2:StopInstances"], ["arn:aws:ec2:us-west-2:123456789012:instance/*"]))


def test_statements_are_added_in_order_with_their_conditions(stack: Stack) -> None:
    role = _role(stack)
    grant(
        role,
        Permission(["s3:GetObject"], ["arn:aws:s3:::bucket/key"]),
        Permission(["ssm:ListCommands"], ["*"], why="ssm:ListCommands has no resource-level permissions."),
        Permission(["kms:Decrypt"], ["arn:aws:kms:us-west-2:123456789012:key/k"], conditions={"Bool": {"a": "true"}}),
    )
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Action"], s["Resource"], s.get("Condition")) for s in statements] == [
        ("s3:GetObject", "arn:aws:s3:::bucket/key", None),
        ("ssm:ListCommands", "*", None),
        ("kms:Decrypt", "arn:aws:kms:us-west-2:123456789012:key/k", {"Bool": {"a": "true"}}),
    ]


def test_service_roles_trust_the_service_for_this_account_and_its_resources(stack: Stack) -> None:
    service_role(
        stack,
        "Batch",
        service="bedrock.amazonaws.com",
        description="test",
        source_arn="arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/*",
    )
    (role,) = Template.from_stack(stack).find_resources("AWS::IAM::Role").values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert set(statement["Condition"]) == {"StringEquals", "ArnLike"}
    assert statement["Condition"]["ArnLike"] == {
        "aws:SourceArn": "arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/*"
    }


def test_each_acknowledgment_is_written_once_however_many_grants_share_the_policy(stack: Stack) -> None:
    role = _role(stack)
    grant(role, Permission(["s3:GetObject"], ["arn:aws:s3:::bucket/a"]))
    grant(role, Permission(["s3:GetObject"], ["arn:aws:s3:::bucket/*"], why="Objects are named per run."))
    grant(role, Permission(["s3:PutObject"], ["arn:aws:s3:::bucket/*"], why="Objects are named per run."))
    entries = [
        rule
        for entry in role.node.find_child("DefaultPolicy").node.metadata
        if entry.type == "aws:cdk:acknowledged-rules"
        for rule in entry.data
    ]
    assert sorted(entries) == [
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::bucket/*]",
        "HIPAA.Security::HIPAA.Security-IAMNoInlinePolicy",
    ]
