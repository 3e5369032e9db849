"""The committed OpenAPI schema is the one the typed routes generate, and it is what Bedrock accepts."""

from __future__ import annotations

import json

from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV30SpecValidator

from lambda_src.agent_tools.astro_tools import openapi


def test_committed_schema_matches_the_routes() -> None:
    assert openapi.SCHEMA_PATH.read_text() == openapi.generate(), (
        "lambda_src/agent_tools/openapi.json is out of date: python -m lambda_src.agent_tools.astro_tools.openapi"
    )
    assert openapi.main(["--check"]) == 0


def test_schema_is_valid_openapi_3_0() -> None:
    schema = json.loads(openapi.SCHEMA_PATH.read_text())
    # agents-api-schema.html: the value "must be "3.0.0" for the action group to work" (Powertools writes 3.0.3)
    assert schema["openapi"] == "3.0.0"
    validate(schema, cls=OpenAPIV30SpecValidator)


def test_every_operation_is_described_for_the_agent() -> None:
    schema = json.loads(openapi.SCHEMA_PATH.read_text())
    operations = {path: item["get"] for path, item in schema["paths"].items()}
    assert set(operations) == {
        "/objects/resolve",
        "/gaia/cone-search",
        "/gaia/select",
        "/plots/colour-magnitude",
        "/plots/sky-positions",
        "/literature/search",
        "/knowledge-base/search",
    }
    assert len({op["operationId"] for op in operations.values()}) == len(operations)
    for path, operation in operations.items():
        assert len(operation["description"]) > 60, path
        for parameter in operation["parameters"]:
            assert parameter["in"] == "query", (path, parameter["name"])
            assert parameter["description"], (path, parameter["name"])
            assert parameter["schema"]["type"] in ("string", "number", "integer"), (path, parameter["name"])
            assert "anyOf" not in parameter["schema"], (path, parameter["name"])
        for status in ("200", "400", "404", "502", "504"):
            assert status in operation["responses"], (path, status)


def test_bounds_reach_the_agent() -> None:
    schema = json.loads(openapi.SCHEMA_PATH.read_text())
    radius = next(p for p in schema["paths"]["/gaia/cone-search"]["get"]["parameters"] if p["name"] == "radius_arcmin")
    assert radius["schema"] == {
        **radius["schema"],
        "maximum": 30.0,
        "minimum": 0.0,
        "exclusiveMinimum": True,
        "default": 5.0,
    }


def test_conversion_to_3_0() -> None:
    converted = openapi.to_openapi_30(
        {"anyOf": [{"type": "string", "maxLength": 5}], "nullable": True, "items": [{"exclusiveMaximum": 3}]}
    )
    assert converted == {
        "type": "string",
        "maxLength": 5,
        "nullable": True,
        "items": [{"maximum": 3, "exclusiveMaximum": True}],
    }
