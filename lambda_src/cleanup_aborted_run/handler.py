"""Cleans up after an aborted or timed-out workflow execution (EventBridge → this function).

Environment: ``WORKFLOW`` (lora-training | retrieval-pipeline | llm-customization), ``TOPIC_ARN`` and, for
lora-training, ``INSTANCE_ID``. The logic is in ``run_cleanup``.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.cleanup_aborted_run.run_cleanup import clean_up, notify

WORKFLOW_ENV, TOPIC_ARN_ENV, INSTANCE_ID_ENV = "WORKFLOW", "TOPIC_ARN", "INSTANCE_ID"

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    workflow = os.environ[WORKFLOW_ENV]
    report = clean_up(
        event,
        workflow=workflow,
        bedrock=boto3.client("bedrock") if workflow != "lora-training" else None,
        ec2=boto3.client("ec2") if workflow == "lora-training" else None,
        instance_id=os.environ.get(INSTANCE_ID_ENV),
        sagemaker=boto3.client("sagemaker") if workflow == "retrieval-pipeline" else None,
        ssm=boto3.client("ssm") if workflow == "lora-training" else None,
    )
    logger.info("aborted run cleaned up", extra=report.as_message())
    notify(report, sns=boto3.client("sns"), topic_arn=os.environ[TOPIC_ARN_ENV])
    return report.as_message()
