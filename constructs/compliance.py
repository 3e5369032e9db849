"""One way to record a deliberate departure from a compliance rule, beside the resource it concerns.

For cdk-nag's wildcard findings (``AwsSolutions-IAM5[...]``), whose IDs quote the policy's resources as
they appear in the template: ``nag_resource`` renders an in-stack ARN exactly as cdk-nag prints it, for an
exact ID; ``acknowledge_wildcards`` matches findings by pattern once references are final (cross-stack values,
policies written by libraries), and fails synthesis if a pattern matches nothing.

``acknowledge(construct, {rule_id: reason, ...})`` routes each rule to the tool that checks it:

- cdk-nag rules (``AwsSolutions-*``, ``HIPAA.Security-*``) become ``Validations.of(construct).acknowledge``;
- checkov checks (``CKV_*``, ``CKV2_*``) become ``checkov: skip`` entries in the resource's template metadata;
- the project's contract checks (``Contract-<Check>[<subject>]``, e.g. ``Contract-IamNoResourceLevel[ec2:DescribeImages]``,
  ``tests/contracts``) become ``modelsmith:contracts`` entries (ID and reason) in the resource's template metadata;
- cfn-lint rules (``W1234``, ``E1234``, ``I1234``) become ``cfn-lint: config: ignore_checks`` metadata (for
  cfn-lint itself) and an acknowledgment of CDK's own synth-time cfn-lint run ("CloudFormation Validate"), which
  does not read that metadata.

Every acknowledgment carries its own reason; an empty or placeholder reason is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

import jsii
from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam

from constructs import IConstruct, IValidation

INLINE_POLICY_REASON = (
    "CDK generates this least-privilege policy for exactly one role and deletes it with the role; a managed "
    "policy would add a second resource to keep in step with the same statements."
)

_NAG = re.compile(r"^(AwsSolutions|HIPAA\.Security)-[A-Za-z0-9]+(\[.+\])?$")
_CHECKOV = re.compile(r"^CKV2?_AWS_\d+$")
_CFN_LINT = re.compile(r"^[EWI]\d{4}$")
_CONTRACT = re.compile(r"^Contract-[A-Za-z]+\[.+\]$")
CONTRACT_METADATA_KEY = "modelsmith:contracts"
_MIN_REASON_LENGTH = 20


def acknowledge(construct: IConstruct, rules: Mapping[str, str]) -> None:
    """Acknowledge ``rules`` (rule ID -> reason) on ``construct``.

    For checkov and cfn-lint the metadata goes on ``construct`` itself when it is a ``CfnResource``,
    otherwise on its default child (the L1 resource of an L2 construct).
    """
    for rule_id, reason in rules.items():
        if len(reason.strip()) < _MIN_REASON_LENGTH:
            raise ValueError(f"acknowledgment of {rule_id} on {construct.node.path}: give a specific reason")
        if _NAG.match(rule_id):
            pack = rule_id.split("-", 1)[0]  # the ID the validation report prints: "<pack>::<rule>"
            if _acknowledged(construct).get(f"{pack}::{rule_id}") == reason:
                continue  # the same acknowledgment twice (grants on one policy) is written once
            Validations.of(construct).acknowledge(Acknowledgment(id=f"{pack}::{rule_id}", reason=reason))
        elif _CHECKOV.match(rule_id):
            resource = _cfn_resource(construct, rule_id)
            checkov = dict(resource.get_metadata("checkov") or {})
            checkov["skip"] = [*checkov.get("skip", []), {"id": rule_id, "comment": reason}]
            resource.add_metadata("checkov", checkov)
        elif _CONTRACT.match(rule_id):
            resource = _cfn_resource(construct, rule_id)
            entries = list(resource.get_metadata(CONTRACT_METADATA_KEY) or [])
            resource.add_metadata(CONTRACT_METADATA_KEY, [*entries, {"id": rule_id, "reason": reason}])
        elif _CFN_LINT.match(rule_id):
            # cfn-lint metadata has no place for a reason; it stays in the code beside this call.
            resource = _cfn_resource(construct, rule_id)
            Validations.of(resource).acknowledge(
                Acknowledgment(id=f"CloudFormation-Validate::{rule_id}", reason=reason)
            )
            cfn_lint = dict(resource.get_metadata("cfn-lint") or {})
            config = dict(cfn_lint.get("config", {}))
            config["ignore_checks"] = [*config.get("ignore_checks", []), rule_id]
            resource.add_metadata("cfn-lint", {**cfn_lint, "config": config})
        else:
            raise ValueError(f"acknowledgment on {construct.node.path}: unknown rule ID format {rule_id!r}")


def _acknowledged(construct: IConstruct) -> dict[str, str]:
    """The rule acknowledgments already on ``construct`` (CDK's ``aws:cdk:acknowledged-rules`` metadata)."""
    return {
        rule: reason
        for entry in construct.node.metadata
        if entry.type == "aws:cdk:acknowledged-rules" and isinstance(entry.data, dict)
        for rule, reason in entry.data.items()
    }


def _cfn_resource(construct: IConstruct, rule_id: str) -> CfnResource:
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise ValueError(f"{rule_id} on {construct.node.path}: no CloudFormation resource to attach it to")
    return resource


def acknowledge_cdk_provider(scope: IConstruct, provider_id: str, purpose: str) -> None:
    """Acknowledge the findings on one of CDK's own singleton custom-resource providers in ``scope``'s stack.

    CDK creates such a provider (a role and a Node.js function) once per stack for features like bucket
    auto-deletion; its code and role are CDK's, invoked only by CloudFormation during deployments.
    ``purpose`` names the feature, for the reasons. Safe to call once per construct that uses the provider.
    """
    provider = Stack.of(scope).node.try_find_child(provider_id)
    if provider is None:
        raise ValueError(f"{provider_id} not found in {Stack.of(scope).node.path}; acknowledge after creating its user")
    handler = provider.node.try_find_child("Handler")
    if handler is None or handler.get_metadata("checkov") is not None:  # type: ignore[attr-defined]
        return
    role = provider.node.find_child("Role")
    prefix = f"{purpose}: "
    acknowledge(
        role,
        {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]": prefix
            + "CDK attaches the basic execution policy to its provider role.",
        },
    )
    acknowledge(
        handler,
        {
            "HIPAA.Security-LambdaConcurrency": prefix + "runs only during CloudFormation deployments.",
            "HIPAA.Security-LambdaDLQ": prefix + "invoked synchronously by CloudFormation.",
            "HIPAA.Security-LambdaInsideVPC": prefix + "calls only AWS APIs; no private resource to reach.",
            "CKV_AWS_115": prefix + "runs only during CloudFormation deployments; nothing to reserve.",
            "CKV_AWS_116": prefix + "invoked synchronously by CloudFormation; no DLQ applies.",
            "CKV_AWS_117": prefix + "calls only AWS APIs; no private resource to reach.",
            "CKV_AWS_173": prefix + "its environment holds no secrets.",
            "W3005": prefix + "CDK writes both DependsOn and GetAtt on its own role.",
        },
    )


def nag_resource(scope: IConstruct, value: str) -> str:
    """``value`` (an ARN with tokens) as cdk-nag prints it in finding IDs such as ``AwsSolutions-IAM5[Resource::...]``.

    References render as ``<LogicalId>`` / ``<LogicalId.Attribute>`` and pseudo parameters as ``<AWS::Region>``;
    only references within ``scope``'s stack can be rendered (resolve cross-stack values through SSM first).
    """
    return _render(Stack.of(scope).resolve(value))


def _render(resolved: Any) -> str:
    if isinstance(resolved, str):
        return resolved
    if isinstance(resolved, dict) and len(resolved) == 1:
        ((function, argument),) = resolved.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(_render(part) for part in parts)
    raise ValueError(f"cannot render {json.dumps(resolved)} as cdk-nag does; it is probably a cross-stack reference")


def flatten(reference: Any) -> str:
    """A CloudFormation value as cdk-nag prints it (its ``flattenCfnReference``)."""
    if isinstance(reference, str):
        return reference.replace("${", "<").replace("}", ">")
    if isinstance(reference, dict) and len(reference) == 1:
        ((key, value),) = reference.items()
        if key == "Fn::Join":
            return value[0].join(flatten(item) for item in value[1])
        if key == "Fn::Sub":
            return flatten(value)
        if key == "Fn::GetAtt":
            return f"<{flatten(value[0])}.{flatten(value[1])}>"
        if key == "Fn::ImportValue":
            return flatten(value)
        if key == "Ref":
            return f"<{flatten(value)}>"
    return json.dumps(reference, separators=(",", ":"))


def wildcard_findings(document: Mapping[str, Any]) -> list[str]:
    """The IAM5 finding suffixes (``Action::...``, ``Resource::...``) a resolved policy document yields."""
    findings: list[str] = []
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for field, label in (("Action", "Action"), ("Resource", "Resource")):
            values = statement.get(field, [])
            for value in values if isinstance(values, list) else [values]:
                text = flatten(value)
                if "*" in text and f"{label}::{text}" not in findings:
                    findings.append(f"{label}::{text}")
    return findings


@jsii.implements(IValidation)
class _AcknowledgeWildcards:
    def __init__(self, policy: IConstruct, patterns: Mapping[str, str]) -> None:
        self._policy = policy
        self._patterns = dict(patterns)

    def validate(self) -> list[str]:
        resource: Any = self._policy.node.default_child or self._policy
        document = Stack.of(self._policy).resolve(resource.policy_document)
        findings = wildcard_findings(document)
        unused = []
        for pattern, reason in self._patterns.items():
            matched = [finding for finding in findings if fnmatchcase(finding, pattern)]
            if not matched:
                unused.append(pattern)
            acknowledge(self._policy, {f"AwsSolutions-IAM5[{finding}]": reason for finding in matched})
        return [f"{self._policy.node.path}: no wildcard matches the acknowledgment {p!r}; remove it" for p in unused]


def acknowledge_wildcards(policy: iam.Policy | iam.ManagedPolicy | IConstruct, patterns: Mapping[str, str]) -> None:
    """Acknowledge the IAM5 findings of ``policy`` matching ``patterns`` (``Action::...``/``Resource::...``)."""
    for pattern, reason in patterns.items():
        if not pattern.startswith(("Action::", "Resource::")):
            raise ValueError(f"pattern {pattern!r}: start it with 'Action::' or 'Resource::'")
        if len(reason.strip()) < 20:
            raise ValueError(f"acknowledgment of {pattern} on {policy.node.path}: give a specific reason")
    policy.node.add_validation(_AcknowledgeWildcards(policy, patterns))
