"""Every IAM policy document in a deployed app, resolved, with the roles it applies to and its acknowledgments.

Kinds of document: ``identity`` (a role's inline policies, ``AWS::IAM::Policy``, ``AWS::IAM::ManagedPolicy``),
``trust`` (a role's assume-role policy) and ``resource`` (bucket, topic, queue, key, repository and secret
policies). Acknowledgments are the ``Contract-*`` rule IDs that ``constructs.compliance.acknowledge`` wrote into
the resource's template metadata, each with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from constructs.compliance import CONTRACT_METADATA_KEY
from tests.support.deployed_app import DeployedApp

# Resource type -> the property holding its resource-based policy.
RESOURCE_POLICY_PROPERTIES = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::ECR::Repository": "RepositoryPolicyText",
    "AWS::SecretsManager::ResourcePolicy": "ResourcePolicy",
}


@dataclass
class PolicyDocument:
    stack: str
    logical_id: str
    kind: str  # identity | trust | resource
    document: dict[str, Any]
    roles: list[str] = field(default_factory=list)  # logical IDs (in ``stack``) of the roles it applies to
    acknowledged: dict[str, str] = field(default_factory=dict)  # rule ID -> reason

    @property
    def path(self) -> str:
        return f"{self.stack}/{self.logical_id}"

    def statements(self) -> list[dict[str, Any]]:
        statements = self.document.get("Statement", [])
        return statements if isinstance(statements, list) else [statements]


def acknowledgments(resource: dict[str, Any]) -> dict[str, str]:
    entries = resource.get("Metadata", {}).get(CONTRACT_METADATA_KEY, [])
    return {entry["id"]: entry["reason"] for entry in entries}


def _role_ids(roles: list[Any]) -> list[str]:
    """Logical IDs of the in-stack roles among ``roles`` (``Ref``s; imported role names are skipped)."""
    return [role["Ref"] for role in roles if isinstance(role, dict) and "Ref" in role]


def policy_documents(app: DeployedApp) -> Iterator[PolicyDocument]:
    for stack, logical_id, resource in app.resources():
        resource_type, properties = resource["Type"], resource.get("Properties", {})
        acknowledged = acknowledgments(resource)
        if resource_type == "AWS::IAM::Role":
            yield PolicyDocument(
                stack.name,
                logical_id,
                "trust",
                app.resolve(stack.name, properties["AssumeRolePolicyDocument"]),
                acknowledged=acknowledged,
            )
            for inline in properties.get("Policies", []):
                yield PolicyDocument(
                    stack.name,
                    logical_id,
                    "identity",
                    app.resolve(stack.name, inline["PolicyDocument"]),
                    roles=[logical_id],
                    acknowledged=acknowledged,
                )
        elif resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield PolicyDocument(
                stack.name,
                logical_id,
                "identity",
                app.resolve(stack.name, properties["PolicyDocument"]),
                roles=_role_ids(properties.get("Roles", [])),
                acknowledged=acknowledged,
            )
        elif resource_type in RESOURCE_POLICY_PROPERTIES and RESOURCE_POLICY_PROPERTIES[resource_type] in properties:
            document = app.resolve(stack.name, properties[RESOURCE_POLICY_PROPERTIES[resource_type]])
            yield PolicyDocument(stack.name, logical_id, "resource", document, acknowledged=acknowledged)


def role_policies(app: DeployedApp) -> dict[tuple[str, str], list[PolicyDocument]]:
    """(stack, role logical ID) -> the identity policies that apply to it."""
    by_role: dict[tuple[str, str], list[PolicyDocument]] = {}
    for stack, logical_id, _ in app.resources("AWS::IAM::Role"):
        by_role[(stack.name, logical_id)] = []
    documents = list(policy_documents(app))
    for document in documents:
        if document.kind == "identity":
            for role in document.roles:
                by_role.setdefault((document.stack, role), []).append(document)
    # Managed policies attached through the role's ManagedPolicyArns (a Ref to a policy of the same stack).
    for stack, logical_id, resource in app.resources("AWS::IAM::Role"):
        for arn in resource["Properties"].get("ManagedPolicyArns", []):
            if isinstance(arn, dict) and "Ref" in arn:
                by_role[(stack.name, logical_id)] += [
                    d
                    for d in documents
                    if d.stack == stack.name
                    and d.logical_id == arn["Ref"]
                    and (stack.name, logical_id) not in [(d.stack, r) for r in d.roles]
                ]
    return by_role
