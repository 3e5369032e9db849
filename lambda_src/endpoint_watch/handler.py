"""Publishes the state of the environment's SageMaker endpoints as CloudWatch metrics (EventBridge schedule →
this function). Environment: ``ENVIRONMENT``, ``ENDPOINT_PREFIX`` (``ms-<env>-``), ``IDLE_DAYS``. The logic is in
``endpoint_watch``."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.endpoint_watch.endpoint_watch import watch

ENVIRONMENT_ENV, ENDPOINT_PREFIX_ENV, IDLE_DAYS_ENV = "ENVIRONMENT", "ENDPOINT_PREFIX", "IDLE_DAYS"

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = watch(
        boto3.client("sagemaker"),
        boto3.client("cloudwatch"),
        environment=os.environ[ENVIRONMENT_ENV],
        prefix=os.environ[ENDPOINT_PREFIX_ENV],
        idle_days=int(os.environ[IDLE_DAYS_ENV]),
        now=datetime.now(UTC),
    )
    if report.idle:
        logger.warning("idle endpoints", extra={"idle": report.idle})
    logger.info("endpoints measured", extra=report.as_message())
    return report.as_message()
