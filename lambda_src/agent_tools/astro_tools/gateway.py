"""The tools as an Amazon Bedrock AgentCore Gateway Lambda target: their schema and their events.

One definition: the typed routes of :mod:`astro_tools.api`. Their OpenAPI schema (``openapi.json``, for Bedrock
Agents Classic) is turned into the Gateway's tool list (``gateway_tools.json``), and a Gateway call is answered by
the same resolver, so bounds, errors and logic are the same on both runtimes.

    cd lambda_src/agent_tools
    python -m astro_tools.gateway            # rewrite gateway_tools.json after changing a route
    python -m astro_tools.gateway --check    # exit 1 if the committed file is out of date

- The tool list follows botocore's ``bedrock-agentcore-control`` ``ToolDefinition`` (``name``, ``description``,
  ``inputSchema``) whose ``SchemaDefinition`` takes only ``type``, ``properties``, ``required``, ``items`` and
  ``description``: bounds and defaults are written into each parameter's description, and the function checks them.
- A Gateway invokes the target with the tool's arguments as the event and the tool's name, prefixed with the
  target's name and ``___``, in ``context.client_context.custom["bedrockAgentCoreToolName"]`` (AgentCore developer
  guide, Gateway Lambda targets). :func:`handle` answers with the tool's JSON result, or with ``{"error",
  "message", "status"}`` naming the bad parameter, which the agent's model reads as the tool's answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TOOLS_PATH = Path(__file__).resolve().parents[1] / "gateway_tools.json"
OPENAPI_PATH = Path(__file__).resolve().parents[1] / "openapi.json"
TOOL_NAME_KEY = "bedrockAgentCoreToolName"
TARGET_SEPARATOR = "___"
SCHEMA_TYPES = ("string", "number", "object", "array", "boolean", "integer")


def operations(openapi: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (path, method, operation) of an OpenAPI document."""
    paths = openapi["paths"].items()
    return {op["operationId"]: (path, method, op) for path, methods in paths for method, op in methods.items()}


def tool_definitions(openapi: dict[str, Any]) -> list[dict[str, Any]]:
    """The Gateway's tool list for the operations of ``openapi`` (see the module docstring)."""
    tools = []
    for name, (_, _, operation) in sorted(operations(openapi).items()):
        properties, required = {}, []
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if schema.get("type") not in SCHEMA_TYPES:
                raise ValueError(f"{name}.{parameter['name']}: type {schema.get('type')!r} has no Gateway schema type")
            properties[parameter["name"]] = {"type": schema["type"], "description": _described(parameter, schema)}
            if parameter.get("required"):
                required.append(parameter["name"])
        description = operation.get("description") or operation.get("summary", "")
        input_schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            input_schema["required"] = required
        tools.append({"name": name, "description": description, "inputSchema": input_schema})
    return tools


def _described(parameter: dict[str, Any], schema: dict[str, Any]) -> str:
    """The parameter's description with the bounds the Gateway's schema cannot carry."""
    notes = []
    for key, word in (("minLength", "at least {} characters"), ("maxLength", "at most {} characters")):
        if key in schema:
            notes.append(word.format(schema[key]))
    if "minimum" in schema:
        notes.append(f"{'>' if schema.get('exclusiveMinimum') is True else '>='} {schema['minimum']:g}")
    if "maximum" in schema:
        notes.append(f"{'<' if schema.get('exclusiveMaximum') is True else '<='} {schema['maximum']:g}")
    if "default" in schema:
        notes.append(f"default {schema['default']}")
    text = parameter.get("description") or schema.get("description", "")
    return f"{text} ({'; '.join(notes)})" if notes else text


def generate() -> str:
    """``gateway_tools.json`` as committed: from the routes' own OpenAPI schema, sorted, with a final newline."""
    from lambda_src.agent_tools.astro_tools.openapi import generate as openapi_document

    return json.dumps(tool_definitions(json.loads(openapi_document())), indent=2, sort_keys=True) + "\n"


def tool_name(context: Any) -> str:
    """The called tool's name, without the Gateway target's prefix; ``ValueError`` when the context has none."""
    custom = getattr(getattr(context, "client_context", None), "custom", None) or {}
    name = custom.get(TOOL_NAME_KEY)
    if not isinstance(name, str) or not name:
        raise ValueError(f"context.client_context.custom.{TOOL_NAME_KEY}: missing; not an AgentCore Gateway call")
    return name.split(TARGET_SEPARATOR, 1)[-1]


def handle(event: Any, context: Any) -> dict[str, Any]:
    """Answer one Gateway tool call through the routes' resolver (validation, errors and logic included)."""
    from lambda_src.agent_tools.astro_tools.api import app

    name = tool_name(context)
    known = operations(json.loads(OPENAPI_PATH.read_text()))
    if name not in known:
        return {
            "error": "unknown_tool",
            "message": f"no tool {name!r}; tools: {', '.join(sorted(known))}",
            "status": 404,
        }
    if not isinstance(event, dict):
        message = f"arguments: expected an object, got {type(event).__name__}"
        return {"error": "bad_arguments", "message": message, "status": 400}
    path, method, _ = known[name]
    parameters = [
        {"name": key, "type": _type_name(value), "value": _text(value)}
        for key, value in event.items()
        if value is not None
    ]
    agent_event = {
        "messageVersion": "1.0",
        "actionGroup": "gateway",
        "apiPath": path,
        "httpMethod": method.upper(),
        "sessionId": "gateway",
        "sessionAttributes": {},
        "promptSessionAttributes": {},
        "inputText": "",
        "agent": {"name": "agentcore-gateway", "id": "gateway", "alias": "gateway", "version": "1"},
        "parameters": parameters,
    }
    answer = app.resolve(agent_event, context)
    response = answer["response"]
    status = int(response.get("httpStatusCode", 200))
    body = json.loads(response["responseBody"]["application/json"]["body"])
    return body if status == 200 else {**body, "status": status}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "integer" if isinstance(value, int) else "number" if isinstance(value, float) else "string"


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def main(argv: list[str] | None = None) -> int:
    from lambda_src.agent_tools.astro_tools.openapi import write_or_check

    return write_or_check(
        argv, TOOLS_PATH, generate, "lambda_src.agent_tools.astro_tools.gateway", (__doc__ or "").splitlines()[0]
    )


if __name__ == "__main__":
    sys.exit(main())
