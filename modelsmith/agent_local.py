"""The astronomy agent's loop on this machine: a Strands agent whose tools are served over MCP, as a Gateway does.

The tools are the agent-tools function itself (``lambda_src/agent_tools``), called with the Gateway's Lambda-target
event (``astro_tools.gateway``) and listed from its ``gateway_tools.json``: the same code, schema and errors an
AgentCore Gateway puts in front of the deployed agent. They reach the agent through the real MCP protocol (the
``mcp`` SDK's server and client sessions over in-memory streams, no socket) and the Strands SDK's ``MCPClient``.

- :func:`tool_server` is the MCP server: ``tools/list`` answers the committed tool list; ``tools/call`` runs the
  handler and answers its JSON, or an ``isError`` result whose text names the bad parameter.
- :func:`run_agent` runs one question with any Strands ``Model``: Bedrock for a real answer, or a scripted one
  (tests, ``modelsmith agent ask --local``). Every tool call and result is returned, in order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

TOOLS_DIR = Path(__file__).resolve().parents[1] / "lambda_src" / "agent_tools"
ToolInvoker = Callable[[str, dict[str, Any]], dict[str, Any]]


def lambda_invoker(target_name: str = "astronomy-tools") -> ToolInvoker:
    """Call the agent-tools handler as an AgentCore Gateway Lambda target does (``<target>___<tool>``)."""
    from lambda_src.agent_tools import handler

    def invoke(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        context = SimpleNamespace(
            client_context=SimpleNamespace(custom={"bedrockAgentCoreToolName": f"{target_name}___{tool}"}),
            function_name="agent-tools-local",
            memory_limit_in_mb=1024,
            aws_request_id="local",
            invoked_function_arn="arn:aws:lambda:local:000000000000:function:agent-tools-local",
        )
        return handler.lambda_handler(arguments, context)

    return invoke


def is_tool_error(answer: dict[str, Any]) -> bool:
    """A tool's error answer (``astro_tools.gateway.handle``: ``{"error", "message", "status"}``)."""
    return "status" in answer and "error" in answer


def tool_definitions() -> list[dict[str, Any]]:
    """The committed Gateway tool list (``lambda_src/agent_tools/gateway_tools.json``)."""
    return json.loads((TOOLS_DIR / "gateway_tools.json").read_text())


def tool_server(invoke: ToolInvoker) -> Any:
    """A low-level MCP server listing :func:`tool_definitions` and answering calls with ``invoke``."""
    from mcp import types
    from mcp.server.lowlevel.server import Server

    definitions = tool_definitions()

    async def list_tools(context: Any, params: Any) -> types.ListToolsResult:
        tools = [
            types.Tool(name=d["name"], description=d["description"], input_schema=d["inputSchema"]) for d in definitions
        ]
        return types.ListToolsResult(tools=tools)

    async def call_tool(context: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        answer = invoke(params.name, dict(params.arguments or {}))
        text = json.dumps(answer)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=is_tool_error(answer))

    return Server("modelsmith-astronomy-tools", on_list_tools=list_tools, on_call_tool=call_tool)


def mcp_transport(server: Any) -> Callable[[], Any]:
    """A Strands ``MCPClient`` transport: the server runs in the client's event loop, over memory streams."""
    import anyio
    from mcp.shared.memory import create_client_server_memory_streams

    @asynccontextmanager
    async def transport() -> AsyncIterator[Any]:
        async with create_client_server_memory_streams() as (client_streams, server_streams):
            async with anyio.create_task_group() as tasks:
                options = server.create_initialization_options()
                tasks.start_soon(lambda: server.run(server_streams[0], server_streams[1], options))
                try:
                    yield client_streams
                finally:
                    tasks.cancel_scope.cancel()

    return transport


@dataclass
class AgentRun:
    answer: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"name", "input", "status", "result"}


def run_agent(
    question: str, model: Any, *, invoke: ToolInvoker | None = None, system_prompt: str | None = None
) -> AgentRun:
    """Ask ``question``; the agent may call the tools (through MCP) as often as its model asks."""
    from strands import Agent
    from strands.tools.mcp import MCPClient

    calls: list[dict[str, Any]] = []
    base = invoke or lambda_invoker()

    def recorded(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = base(tool, arguments)
        calls.append(
            {
                "name": tool,
                "input": arguments,
                "result": result,
                "status": "error" if is_tool_error(result) else "success",
            }
        )
        return result

    client = MCPClient(mcp_transport(tool_server(recorded)))
    with client:
        agent = Agent(model=model, tools=client.list_tools_sync(), system_prompt=system_prompt, callback_handler=None)
        result = agent(question)
    return AgentRun(answer=str(result).strip(), tool_calls=calls)
