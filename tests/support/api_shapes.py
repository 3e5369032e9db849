"""Request parameters checked against botocore's service models (the APIs' published shapes).

botocore's own ``ParamValidator`` checks required members, types and minimums, but not maximum lengths or
patterns; ``validate`` checks all of them, plus enums, so that a name the service would refuse (Bedrock's
``jobName``: ``[a-zA-Z0-9](-*[a-zA-Z0-9\\+\\-\\.])*``, at most 63 characters) fails here.

Step Functions writes SDK parameters in PascalCase even where the API's members are camelCase, so members are
matched with their first letter's case ignored. ``UNRESOLVED`` values (``tests.support.asl``) are not checked.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from tests.support.asl import UNRESOLVED


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation)


def _pattern_matches(pattern: str, value: str) -> bool | None:
    """Whether ``value`` matches botocore ``pattern`` (None when Python cannot compile the Java-style pattern)."""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return None
    anchored = pattern.startswith("^") or pattern.endswith("$")
    return bool(compiled.search(value) if anchored else compiled.fullmatch(value))


def validate(service: str, operation: str, parameters: dict[str, Any]) -> list[str]:
    """Problems of ``parameters`` as a request of ``service``'s ``operation``; [] when the service would accept it."""
    shape = operation_model(service, operation).input_shape
    if shape is None:
        return [f"{operation} takes no parameters"] if parameters else []
    return _check(shape, parameters, operation)


def _check(shape: Shape, value: Any, where: str) -> list[str]:
    if value is UNRESOLVED:
        return []
    problems: list[str] = []
    metadata = shape.metadata
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        members = {name[0].lower() + name[1:]: name for name in shape.members}
        given = set()
        for key, item in value.items():
            name = members.get(key[0].lower() + key[1:])
            if name is None:
                problems.append(f"{where}.{key}: not a member of {shape.name} (members: {sorted(shape.members)})")
                continue
            given.add(name)
            problems += _check(shape.members[name], item, f"{where}.{name}")
        for required in shape.required_members:
            if required not in given:
                problems.append(f"{where}.{required}: required by {shape.name}, missing")
        return problems
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {value!r}"]
        problems += _bounds(metadata, len(value), where, "items")
        for index, item in enumerate(value):
            problems += _check(shape.member, item, f"{where}[{index}]")
        return problems
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [f"{where}: expected a map, got {value!r}"]
        for key, item in value.items():
            problems += _check(shape.key, key, f"{where} key")
            problems += _check(shape.value, item, f"{where}[{key}]")
        return problems
    type_name = shape.type_name
    if type_name == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {value!r}"]
        problems += _bounds(metadata, len(value), where, "characters")
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {value!r} is not one of {shape.enum}")
        if "pattern" in metadata and _pattern_matches(metadata["pattern"], value) is False:
            problems.append(f"{where}: {value!r} does not match the pattern {metadata['pattern']}")
    elif type_name in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{where}: expected an integer, got {value!r}"]
        problems += _bounds(metadata, value, where, "")
    elif type_name in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return [f"{where}: expected a number, got {value!r}"]
        problems += _bounds(metadata, value, where, "")
    elif type_name == "boolean":
        if not isinstance(value, bool):
            return [f"{where}: expected a boolean, got {value!r}"]
    return problems


def _bounds(metadata: dict[str, Any], measure: float, where: str, unit: str) -> list[str]:
    problems = []
    if "min" in metadata and measure < metadata["min"]:
        problems.append(f"{where}: {measure} {unit} is below the minimum {metadata['min']}".replace("  ", " "))
    if "max" in metadata and measure > metadata["max"]:
        problems.append(f"{where}: {measure} {unit} is above the maximum {metadata['max']}".replace("  ", " "))
    return problems
