"""IAM permissions with their reasons: the one way a role is granted a statement the project writes itself.

A :class:`Permission` is one statement; where a resource holds a wildcard (``runs/*``, ``endpoint/<prefix>*``, or
``*`` for an API with no resource-level permissions), it carries ``why``, and :func:`grant` acknowledges that
cdk-nag finding (``AwsSolutions-IAM5[Resource::...]``) on the role's policy beside the statement it adds. A
wildcard without a reason is refused at synthesis.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam

from constructs import Construct
from constructs.compliance import INLINE_POLICY_REASON, acknowledge, nag_resource


@dataclass(frozen=True)
class Permission:
    """``actions`` on ``resources`` (ARNs, tokens allowed), under ``conditions``; ``why`` each wildcard is needed."""

    actions: Sequence[str]
    resources: Sequence[str]
    why: str = ""
    conditions: Mapping[str, Any] | None = field(default=None)

    def statement(self) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            actions=list(self.actions), resources=list(self.resources), conditions=self.conditions
        )


def grant(role: iam.IRole, *permissions: Permission) -> None:
    """Add each permission to ``role``'s default policy and acknowledge its wildcards there, with their reasons."""
    findings: dict[str, str] = {}
    for permission in permissions:
        role.add_to_principal_policy(permission.statement())
        for resource in permission.resources:
            if "*" not in json.dumps(Stack.of(role).resolve(resource)):
                continue
            rendered = nag_resource(role, resource)
            if not permission.why:
                raise ValueError(
                    f"{role.node.path}: {', '.join(permission.actions)} on {rendered}: say why the wildcard is needed"
                )
            finding = f"AwsSolutions-IAM5[Resource::{rendered}]"
            if permission.why not in findings.get(finding, ""):
                findings[finding] = f"{findings[finding]} {permission.why}" if finding in findings else permission.why
    findings["HIPAA.Security-IAMNoInlinePolicy"] = INLINE_POLICY_REASON
    acknowledge(role.node.find_child("DefaultPolicy"), findings)


def service_role(
    scope: Construct,
    construct_id: str,
    *,
    service: str,
    description: str,
    source_arn: str | None = None,
) -> iam.Role:
    """A role an AWS service assumes for this account only (``aws:SourceAccount``; and ``aws:SourceArn`` when the
    service names what acts: the confused-deputy guard of https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
    Grant it permissions with :func:`grant`."""
    trust: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
    if source_arn is not None:
        trust["ArnLike"] = {"aws:SourceArn": source_arn}
    return iam.Role(
        scope, construct_id, description=description, assumed_by=iam.ServicePrincipal(service, conditions=trust)
    )
