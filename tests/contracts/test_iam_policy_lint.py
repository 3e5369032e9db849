"""Every policy document of every template, checked against the Service Authorization Reference's data.

Identity policies (role inline policies, ``AWS::IAM::Policy``, managed policies) and resource policies (bucket,
topic, queue, key, repository, secret) are resolved to realistic ARNs (``tests.support.deployed_app``), then each
statement is linted (``tests.support.iam_reference.lint_statement``): unknown actions, resource-scoped actions that
support no resource-level permissions, resources matching none of an action's resource types, unsupported
condition keys. A finding passes only when acknowledged beside its resource, with a reason, through
``constructs.compliance.acknowledge`` (``Contract-<Finding>[<subject>]``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam

from constructs.compliance import acknowledge
from tests.contracts.known_defects import expected_failure
from tests.support import iam_reference
from tests.support.deployed_app import DeployedApp
from tests.support.policies import policy_documents


def lint_app(app: DeployedApp) -> tuple[list[str], int, int]:
    """(unacknowledged findings, documents checked, statements checked)."""
    findings, documents, statements = [], 0, 0
    for document in policy_documents(app):
        documents += 1
        for statement in document.statements():
            statements += 1
            for finding in iam_reference.lint_statement(statement, region=app.region, account=app.account):
                if finding.rule_id not in document.acknowledged:
                    findings.append(f"{document.path} ({document.kind}): {finding}")
    return findings, documents, statements


def test_every_policy_statement_matches_the_service_authorization_reference(deployed: DeployedApp) -> None:
    findings, documents, statements = lint_app(deployed)
    assert documents > 50 and statements > 200, "the walk must see every policy"
    unknown = [finding for finding in findings if expected_failure(finding) is None]
    assert unknown == [], "\n".join(unknown)


def test_the_reference_data_knows_the_actions_the_project_depends_on() -> None:
    # GIVEN actions whose resource-level support the project relies on (Service Authorization Reference)
    # THEN the data says what AWS's pages say.
    assert iam_reference.action("ec2:DescribeInstanceStatus").resource_types == ()
    assert iam_reference.action("ssm:GetCommandInvocation").resource_types == ()
    assert {t.name for t in iam_reference.action("ec2:StartInstances").resource_types} >= {"instance"}
    assert iam_reference.action("sagemaker:AddTags") is not None


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            {
                "Effect": "Allow",
                "Action": "ec2:DescribeInstanceStatus",
                "Resource": "arn:aws:ec2:us-west-2:123456789012:instance/i-0123",
            },
            "Contract-IamNoResourceLevel[ec2:DescribeInstanceStatus]",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "ssm:GetCommandInvocation",
                "Resource": "arn:aws:ssm:us-west-2:123456789012:*",
            },
            "Contract-IamNoResourceLevel[ssm:GetCommandInvocation]",
        ),
        (
            {"Effect": "Allow", "Action": "ec2:StartInstance", "Resource": "*"},
            "Contract-IamUnknownAction[ec2:StartInstance]",
        ),
        (
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:s3:::bucket/*"},
            "Contract-IamResourceMismatch[kms:Decrypt]",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            "Contract-IamConditionKey[kms:Encrypt:kms:GrantIsForAWSResource]",
        ),
    ],
)
def test_negative_control_each_kind_of_finding_is_reported(statement: dict, expected: str) -> None:
    findings = iam_reference.lint_statement(statement, region="us-west-2", account="123456789012")
    assert [finding.rule_id for finding in findings] == [expected]


def test_negative_control_a_bad_grant_in_a_stack_fails_until_acknowledged(tmp_path: Path) -> None:
    # GIVEN a stack whose role scopes a Describe action to an instance, as the LoRA workflow once did
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["ec2:DescribeInstanceStatus"], resources=[f"arn:aws:ec2:us-west-2:{stack.account}:instance/i-0123"]
        )
    )
    app.synth()
    deployed = DeployedApp.from_templates([tmp_path / "Careless.template.json"], "us-west-2")
    # THEN the lint reports it
    findings, _, _ = lint_app(deployed)
    assert len(findings) == 1 and "Contract-IamNoResourceLevel[ec2:DescribeInstanceStatus]" in findings[0]

    # WHEN it is acknowledged beside the policy, with a reason
    app = App(outdir=str(tmp_path / "acknowledged"))
    stack = Stack(app, "Careless")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["ec2:DescribeInstanceStatus"], resources=[f"arn:aws:ec2:us-west-2:{stack.account}:instance/i-0123"]
        )
    )
    acknowledge(
        role.node.find_child("DefaultPolicy"),
        {
            "Contract-IamNoResourceLevel[ec2:DescribeInstanceStatus]": "A test of the acknowledgment path itself.",
        },
    )
    app.synth()
    deployed = DeployedApp.from_templates([tmp_path / "acknowledged" / "Careless.template.json"], "us-west-2")
    # THEN it passes
    assert lint_app(deployed)[0] == []
