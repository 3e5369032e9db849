"""Offline evaluation of identity policies: does a role's policy set allow one request?

IAM's evaluation logic for a single account with identity-based policies only
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an explicit Deny
wins, otherwise some Allow statement must match the action (``Action``/``NotAction``, wildcards, case-insensitive),
the resource (``Resource``/``NotResource``, wildcards, case-sensitive) and every condition. Condition operators the
project uses are implemented (String*, Arn*, Bool, Null, with ``IfExists`` and ``ForAnyValue``/``ForAllValues``);
a key missing from the request context fails its condition, as in IAM. An unknown operator raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(fnmatchcase(action.lower(), str(pattern).lower()) for pattern in patterns)


def _resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(fnmatchcase(resource, str(pattern)) for pattern in patterns)


def _compare(operator: str, context_value: str, policy_value: str) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return context_value == policy_value
    if operator == "StringEqualsIgnoreCase":
        return context_value.lower() == policy_value.lower()
    if operator in ("StringLike", "ArnLike"):
        return fnmatchcase(context_value, policy_value)
    if operator == "Bool":
        return context_value.lower() == policy_value.lower()
    raise NotImplementedError(f"condition operator {operator} is not modelled")


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
}


def _condition_holds(operator: str, key: str, values: Any, context: Mapping[str, Any]) -> bool:
    present = {k.lower(): v for k, v in context.items()}
    context_values = _as_list(present.get(key.lower()))
    policy_values = [str(v) for v in _as_list(values)]
    if operator == "Null":
        return (not context_values) == (policy_values[0].lower() == "true")
    qualifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    if not context_values:
        return if_exists or (qualifier == "ForAllValues")
    negated = operator in _NEGATED
    base = _NEGATED.get(operator, operator)

    def one(value: Any) -> bool:
        matched = any(_compare(base, str(value), policy) for policy in policy_values)
        return not matched if negated else matched

    if qualifier == "ForAllValues":
        return all(one(value) for value in context_values)
    return any(one(value) for value in context_values)


def statement_applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    if "Action" in statement and not _action_matches(_as_list(statement["Action"]), action):
        return False
    if "NotAction" in statement and _action_matches(_as_list(statement["NotAction"]), action):
        return False
    if "Resource" in statement and not _resource_matches(_as_list(statement["Resource"]), resource):
        return False
    if "NotResource" in statement and _resource_matches(_as_list(statement["NotResource"]), resource):
        return False
    for operator, block in (statement.get("Condition") or {}).items():
        for key, values in block.items():
            if not _condition_holds(operator, key, values, context):
                return False
    return True


def is_allowed(
    documents: Iterable[Mapping[str, Any]], action: str, resource: str, context: Mapping[str, Any] | None = None
) -> bool:
    """Whether identity policy ``documents`` allow ``action`` on ``resource`` with request ``context``."""
    context = context or {}
    statements = [s for document in documents for s in _as_list(document.get("Statement"))]
    if any(s.get("Effect") == "Deny" and statement_applies(s, action, resource, context) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and statement_applies(s, action, resource, context) for s in statements)


def granted_resources(documents: Iterable[Mapping[str, Any]], action: str) -> list[str]:
    """The resources of the Allow statements that name ``action`` (for calls whose exact resource is not known)."""
    return [
        str(resource)
        for document in documents
        for s in _as_list(document.get("Statement"))
        if s.get("Effect") == "Allow" and "Action" in s and _action_matches(_as_list(s["Action"]), action)
        for resource in _as_list(s.get("Resource"))
    ]
