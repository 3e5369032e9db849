"""Checks for the fields of the query generator's events; every error names its field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambda_src.generate_queries.query_prompts import DEFAULT_PROMPT_TEMPLATE, PLACEHOLDERS
from lambda_src.shared.run_storage import InvalidEventError

MAX_QUERIES_PER_DOCUMENT = 10


def require_mapping(event: Any) -> Mapping[str, Any]:
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"event: expected an object, got {type(event).__name__}")
    return event


def integer(
    event: Mapping[str, Any], name: str, *, minimum: int, maximum: int | None = None, default: int | None = None
) -> int:
    if name not in event and default is None:
        raise InvalidEventError(f"{name}: required field is missing")
    value = event.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidEventError(f"{name}: {value!r} is not of type integer")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum}..{maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidEventError(f"{name}: {value!r} is out of range ({bound})")
    return value


def fraction(event: Mapping[str, Any], name: str, *, default: float) -> float:
    """A number from 0 to 1 (absent: ``default``)."""
    value = event.get(name, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InvalidEventError(f"{name}: {value!r} is not a number from 0 to 1")
    return float(value)


def text(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if name not in event:
        raise InvalidEventError(f"{name}: required field is missing")
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"{name}: {value!r} must be a non-empty string")
    return value


def queries_per_document(event: Mapping[str, Any]) -> int:
    return integer(event, "queries_per_document", minimum=1, maximum=MAX_QUERIES_PER_DOCUMENT, default=3)


def prompt_template(event: Mapping[str, Any]) -> str:
    """The event's ``prompt_template`` (absent, null or empty: the default), checked for its placeholders."""
    template = event.get("prompt_template") or DEFAULT_PROMPT_TEMPLATE
    if not isinstance(template, str):
        raise InvalidEventError(f"prompt_template: expected a string, got {type(template).__name__}")
    missing = [placeholder for placeholder in PLACEHOLDERS if placeholder not in template]
    if missing:
        raise InvalidEventError(f"prompt_template: must contain {' and '.join(missing)}")
    return template
