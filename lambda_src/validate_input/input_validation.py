"""Check a workflow's execution input against its JSON Schema and describe every problem by field.

Plain module (no Lambda imports): the state machines' first state, the command line and tests use it alike.
Each problem is one line that starts with the field's dotted path, e.g.::

    run_id: 'my run' does not match ^[A-Za-z0-9][A-Za-z0-9-]{0,79}$
    dataset_s3_uri: required field is missing
    publish_to_hub.repo_id: required field is missing (because publish_to_hub.enabled is true)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

# Bundled beside this module by the function's construct; in the repository they live in statemachines/schemas.
BUNDLED_SCHEMAS = Path(__file__).resolve().parent / "schemas"
REPOSITORY_SCHEMAS = Path(__file__).resolve().parents[2] / "statemachines" / "schemas"
_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def load_schema(name: Any) -> dict[str, Any]:
    """The JSON Schema called ``name`` (bundled with the function, or from the repository when run from it)."""
    if not isinstance(name, str) or not _SCHEMA_NAME.match(name):
        raise ValueError(f"schema_name = {name!r}: expected a workflow name such as 'lora_training'")
    for folder in (BUNDLED_SCHEMAS, REPOSITORY_SCHEMAS):
        path = folder / f"{name}.schema.json"
        if path.exists():
            return json.loads(path.read_text())
    raise ValueError(f"schema_name = {name!r}: no such schema in {BUNDLED_SCHEMAS} or {REPOSITORY_SCHEMAS}")


class InputValidationError(ValueError):
    """The execution input is invalid; ``problems`` lists one line per bad field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid execution input: " + "; ".join(problems))


def describe_problems(document: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every problem of ``document`` against ``schema``, one line each, sorted by field."""
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    return sorted({line for error in _leaves(validator.iter_errors(document)) for line in _describe(error)})


def validate(document: Any, schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``document`` with the schema's defaults filled in (nested objects too), or raise."""
    problems = describe_problems(document, schema)
    if problems:
        raise InputValidationError(problems)
    return _with_defaults(document, schema)


def _with_defaults(document: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    filled = dict(document)
    for key, spec in schema.get("properties", {}).items():
        if key not in filled and "default" in spec:
            filled[key] = spec["default"]
        elif isinstance(filled.get(key), dict) and spec.get("type") == "object":
            filled[key] = _with_defaults(filled[key], spec)
    return filled


def _leaves(errors: Iterable[ValidationError]) -> Iterable[ValidationError]:
    """The most specific errors: inside anyOf/oneOf/if-then, report what the branch needed."""
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def _path(error: ValidationError, extra: str | None = None) -> str:
    parts = [str(part) for part in error.absolute_path]
    if extra:
        parts.append(extra)
    return ".".join(parts) or "(input)"


def _describe(error: ValidationError) -> list[str]:
    validator, value = error.validator, error.instance
    if validator == "required":
        missing = [name for name in error.validator_value if name not in (value or {})]
        return [f"{_path(error, name)}: required field is missing" for name in missing]
    if validator == "not":
        # Conflicting fields: the schema's subschema says why in its description.
        forbidden = [name for name in _required_names(error.validator_value) if name in (value or {})]
        reason = error.schema.get("description", "not allowed together with the other fields")
        return [f"{_path(error, name)}: {reason}" for name in forbidden]
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extras = sorted(set(value) - set(allowed))
        return [f"{_path(error, name)}: unknown field; allowed: {', '.join(allowed)}" for name in extras]
    return [_describe_one(error)]


def _required_names(schema: Mapping[str, Any]) -> list[str]:
    names = list(schema.get("required", []))
    for branch in schema.get("anyOf", []):
        names.extend(_required_names(branch))
    return names


def _describe_one(error: ValidationError) -> str:
    validator, value = error.validator, error.instance
    if validator == "const":
        reason = error.schema.get("description", f"must be {error.validator_value!r}")
        return f"{_path(error)}: {value!r}: {reason}"
    if validator == "pattern":
        return f"{_path(error)}: {value!r} does not match {error.validator_value}"
    if validator == "enum":
        allowed = ", ".join(map(repr, error.validator_value))
        note = f" ({error.schema['description']})" if "description" in error.schema else ""
        return f"{_path(error)}: {value!r} is not one of {allowed}{note}"
    if validator == "type":
        return f"{_path(error)}: {value!r} is not of type {error.validator_value}"
    if validator in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        return f"{_path(error)}: {value!r} is out of range ({validator} {error.validator_value})"
    if validator in {"minLength", "maxLength", "minItems", "maxItems"}:
        return f"{_path(error)}: {value!r} violates {validator} {error.validator_value}"
    return f"{_path(error)}: {error.message}"
