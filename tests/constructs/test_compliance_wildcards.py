"""acknowledge_wildcards: exact cdk-nag IDs, resolved at validation time (cross-stack references included)."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from constructs.compliance import acknowledge_wildcards, flatten, wildcard_findings
from stacks.modelsmith_app import add_compliance_checks


def test_flatten_matches_cdk_nag() -> None:
    assert flatten({"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/x/*"]]}) == "<Bucket.Arn>/x/*"
    assert flatten({"Fn::Sub": "arn:${AWS::Partition}:s3:::b"}) == "arn:<AWS::Partition>:s3:::b"
    assert flatten({"Ref": "AWS::Region"}) == "<AWS::Region>"
    assert flatten({"Fn::GetStackOutput": {"OutputName": "O"}}) == '{"Fn::GetStackOutput":{"OutputName":"O"}}'


def test_wildcard_findings() -> None:
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:Get*", "s3:PutObject"], "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Action": "*", "Resource": "*"},
        ]
    }
    assert wildcard_findings(document) == ["Action::s3:Get*", "Resource::arn:aws:s3:::b/*"]


def _app_with_policy(tmp_path, patterns):
    app = App(outdir=str(tmp_path))
    producer = Stack(app, "Producer")
    bucket = s3.Bucket(producer, "Bucket")
    consumer = Stack(app, "Consumer")
    role = iam.Role(consumer, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    policy = iam.ManagedPolicy(
        consumer,
        "Policy",
        statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("prefix/*")])],
    )
    role.add_managed_policy(policy)
    acknowledge_wildcards(policy, patterns)
    return app, policy


def test_cross_stack_wildcards_are_acknowledged_exactly(tmp_path) -> None:
    app, policy = _app_with_policy(tmp_path, {"Resource::*/prefix/*": "Objects under the consumer's own prefix only."})
    add_compliance_checks(app)
    with pytest.raises(RuntimeError) as failed:  # the bare test bucket has findings of its own
        app.synth()
    assert "AwsSolutions-S1" in str(failed.value)
    assert "AwsSolutions-IAM5" not in str(failed.value)
    acknowledged = [
        entry.data for entry in policy.node.metadata if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    ]
    assert any(
        "AwsSolutions-IAM5[Resource::" in rule and rule.endswith("/prefix/*]") for data in acknowledged for rule in data
    )


def test_stale_patterns_fail_synthesis(tmp_path) -> None:
    app, _ = _app_with_policy(
        tmp_path,
        {
            "Resource::*/prefix/*": "Objects under the prefix only, nothing else.",
            "Action::s3:*": "There is no such wildcard in the policy at all.",
        },
    )
    with pytest.raises(RuntimeError, match="no wildcard matches the acknowledgment 'Action::s3:\\*'"):
        app.synth()


def test_patterns_need_a_kind_and_a_reason() -> None:
    stack = Stack(App(), "S")
    policy = iam.ManagedPolicy(stack, "P", statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"])])
    with pytest.raises(ValueError, match="start it with 'Action::' or 'Resource::'"):
        acknowledge_wildcards(policy, {"*": "A reason that is long enough."})
    with pytest.raises(ValueError, match="give a specific reason"):
        acknowledge_wildcards(policy, {"Resource::*": "short"})
