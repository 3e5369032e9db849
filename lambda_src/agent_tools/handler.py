"""Lambda entry point of the agent's tools: Powertools logging and tracing around the resolver.

Two event shapes, one registry of tools (the routes in ``astro_tools/api.py``): a Bedrock Agents Classic
action-group event (it has ``apiPath``) and an Amazon Bedrock AgentCore Gateway Lambda-target call (the tool's
arguments, the tool's name in the client context; ``astro_tools/gateway.py``). This file only wires them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.agent_tools.astro_tools import gateway
from lambda_src.agent_tools.astro_tools.api import app, logger

tracer = Tracer(service="agent-tools")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "apiPath" in event:
        return app.resolve(event, context)
    return gateway.handle(event, context)
