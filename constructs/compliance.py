"""One way to record a deliberate departure from a compliance rule, beside the resource it concerns.

``acknowledge(construct, {rule_id: reason, ...})`` routes each rule to the tool that checks it:

- cdk-nag rules (``AwsSolutions-*``, ``HIPAA.Security-*``) become ``Validations.of(construct).acknowledge``;
- checkov checks (``CKV_*``, ``CKV2_*``) become ``checkov: skip`` entries in the resource's template metadata;
- cfn-lint rules (``W1234``, ``E1234``, ``I1234``) become ``cfn-lint: config: ignore_checks`` metadata.

Every acknowledgment carries its own reason; an empty or placeholder reason is refused.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

INLINE_POLICY_REASON = (
    "CDK generates this least-privilege policy for exactly one role and deletes it with the role; a managed "
    "policy would add a second resource to keep in step with the same statements."
)

_NAG = re.compile(r"^(AwsSolutions|HIPAA\.Security)-[A-Za-z0-9]+(\[.+\])?$")
_CHECKOV = re.compile(r"^CKV2?_AWS_\d+$")
_CFN_LINT = re.compile(r"^[EWI]\d{4}$")
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
            Validations.of(construct).acknowledge(Acknowledgment(id=f"{pack}::{rule_id}", reason=reason))
        elif _CHECKOV.match(rule_id):
            resource = _cfn_resource(construct, rule_id)
            checkov = dict(resource.get_metadata("checkov") or {})
            checkov["skip"] = [*checkov.get("skip", []), {"id": rule_id, "comment": reason}]
            resource.add_metadata("checkov", checkov)
        elif _CFN_LINT.match(rule_id):
            # cfn-lint metadata has no place for a reason; it stays in the code beside this call.
            resource = _cfn_resource(construct, rule_id)
            cfn_lint = dict(resource.get_metadata("cfn-lint") or {})
            config = dict(cfn_lint.get("config", {}))
            config["ignore_checks"] = [*config.get("ignore_checks", []), rule_id]
            resource.add_metadata("cfn-lint", {**cfn_lint, "config": config})
        else:
            raise ValueError(f"acknowledgment on {construct.node.path}: unknown rule ID format {rule_id!r}")


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
    acknowledge(role, {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]":
            prefix + "CDK attaches the basic execution policy to its provider role.",
    })  # fmt: skip
    acknowledge(handler, {
        "HIPAA.Security-LambdaConcurrency": prefix + "runs only during CloudFormation deployments.",
        "HIPAA.Security-LambdaDLQ": prefix + "invoked synchronously by CloudFormation.",
        "HIPAA.Security-LambdaInsideVPC": prefix + "calls only AWS APIs; no private resource to reach.",
        "CKV_AWS_115": prefix + "runs only during CloudFormation deployments; nothing to reserve.",
        "CKV_AWS_116": prefix + "invoked synchronously by CloudFormation; no DLQ applies.",
        "CKV_AWS_117": prefix + "calls only AWS APIs; no private resource to reach.",
        "CKV_AWS_173": prefix + "its environment holds no secrets.",
        "W3005": prefix + "CDK writes both DependsOn and GetAtt on its own role.",
    })  # fmt: skip


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
        (function, argument), = resolved.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(_render(part) for part in parts)
    raise ValueError(f"cannot render {json.dumps(resolved)} as cdk-nag does; it is probably a cross-stack reference")
