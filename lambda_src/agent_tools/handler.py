"""Lambda entry point of the agent's action group: Powertools logging and tracing around the resolver.

The routes and their logic live in ``astro_tools`` (see ``astro_tools/api.py``); this file only wires them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from astro_tools.api import app, logger

tracer = Tracer(service="agent-tools")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
