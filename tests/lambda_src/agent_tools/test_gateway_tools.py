"""The AgentCore Gateway's view of the tools: one definition (the routes) behind both runtimes' schemas.

- ``gateway_tools.json`` is what ``python -m lambda_src.agent_tools.astro_tools.gateway`` generates from the routes' own OpenAPI schema (the
  one Agents Classic reads), so the two cannot drift apart;
- every tool validates against botocore's ``bedrock-agentcore-control`` ``CreateGatewayTarget`` input shape (an
  MCP Lambda target with an inline tool schema);
- a Gateway call (arguments as the event, ``<target>___<tool>`` in the client context) is answered by the same
  routes, errors included.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import botocore.session
import pytest
from botocore.validate import validate_parameters

from tests.lambda_src.agent_tools.conftest import FUNCTION_DIR


def test_the_committed_tool_list_is_generated_from_the_routes() -> None:
    from lambda_src.agent_tools.astro_tools import gateway

    assert (FUNCTION_DIR / "gateway_tools.json").read_text() == gateway.generate(), (
        "run: python -m lambda_src.agent_tools.astro_tools.gateway"
    )
    assert gateway.main(["--check"]) == 0


def test_both_schemas_name_the_same_tools_with_the_same_parameters() -> None:
    openapi = json.loads((FUNCTION_DIR / "openapi.json").read_text())
    tools = json.loads((FUNCTION_DIR / "gateway_tools.json").read_text())
    operations = {op["operationId"]: op for methods in openapi["paths"].values() for op in methods.values()}
    assert {tool["name"] for tool in tools} == set(operations)
    for tool in tools:
        parameters = operations[tool["name"]]["parameters"]
        assert set(tool["inputSchema"]["properties"]) == {p["name"] for p in parameters}
        assert set(tool["inputSchema"].get("required", [])) == {p["name"] for p in parameters if p.get("required")}


def test_every_tool_is_a_valid_inline_payload_of_a_lambda_target() -> None:
    tools = json.loads((FUNCTION_DIR / "gateway_tools.json").read_text())
    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    request = {
        "gatewayIdentifier": "gw-0123456789",
        "name": "astronomy-tools",
        "targetConfiguration": {
            "mcp": {
                "lambda": {
                    "lambdaArn": "arn:aws:lambda:us-west-2:123456789012:function:modelsmith-dev-agent-tools",
                    "toolSchema": {"inlinePayload": tools},
                }
            }
        },
    }
    validate_parameters(request, model.operation_model("CreateGatewayTarget").input_shape)  # raises on any bad field
    # SchemaDefinition carries no bounds: they are in each description, and the function enforces them
    radius = next(t for t in tools if t["name"] == "gaiaConeSearch")["inputSchema"]["properties"]["radius_arcmin"]
    assert radius == {
        "type": "number",
        "description": "Search radius in arcminutes (at most 30) (> 0; <= 30; default 5.0)",
    }


def _context(tool: str) -> SimpleNamespace:
    return SimpleNamespace(
        client_context=SimpleNamespace(custom={"bedrockAgentCoreToolName": tool}),
        function_name="agent-tools",
        memory_limit_in_mb=1024,
        aws_request_id="req-1",
        invoked_function_arn="arn:aws:lambda:us-west-2:123456789012:function:agent-tools",
    )


def test_a_gateway_call_is_answered_by_the_same_routes(tools) -> None:
    answer = tools.handler.lambda_handler({"name": "M31"}, _context("astronomy-tools___resolveObject"))
    assert answer["main_id"] == "M 31" and answer["ra_deg"] == pytest.approx(10.6847, abs=1e-4)


@pytest.mark.parametrize(
    ("event", "tool", "status", "fragment"),
    [
        ({"name": "M13", "radius_arcmin": 90}, "astronomy-tools___gaiaConeSearch", 400, "radius_arcmin"),
        ({"query": "x"}, "astronomy-tools___launchRocket", 404, "no tool 'launchRocket'"),
        (["M31"], "astronomy-tools___resolveObject", 400, "arguments: expected an object, got list"),
    ],
)
def test_bad_gateway_calls_are_answered_naming_what_is_wrong(tools, event, tool, status, fragment) -> None:
    answer = tools.handler.lambda_handler(event, _context(tool))
    assert answer["status"] == status and fragment in answer["message"], answer


def test_an_event_without_the_gateways_tool_name_is_refused(tools) -> None:
    with pytest.raises(ValueError, match="bedrockAgentCoreToolName: missing"):
        tools.handler.lambda_handler(
            {"name": "M31"},
            SimpleNamespace(
                client_context=None,
                function_name="f",
                memory_limit_in_mb=128,
                aws_request_id="r",
                invoked_function_arn="arn",
            ),
        )
