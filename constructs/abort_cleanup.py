"""Cleans up after an aborted or timed-out execution of a workflow, whose own failure path never runs then.

Props:
    state_machine (sfn.IStateMachine): the workflow watched. Required.
    workflow (str): ``lora-training``, ``retrieval-pipeline`` or ``llm-customization`` (what to clean). Required.
    encryption_key (kms.IKey), log_retention (logs.RetentionDays): for the function and its dead-letter queue.
    topic (sns.ITopic): told what was cleaned up. Required.
    permissions (Sequence[Permission]): what the clean-up may do for this workflow, each wildcard with its
        reason. Required.
    environment (Mapping[str, str]): extra settings (e.g. ``INSTANCE_ID``). Default none.

An EventBridge rule matches the workflow's ``Step Functions Execution Status Change`` events with status
ABORTED or TIMED_OUT and invokes ``lambda_src/cleanup_aborted_run`` (retried twice; undeliverable events and
failed invocations go to an encrypted dead-letter queue).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from constructs.compliance import acknowledge
from constructs.permissions import Permission, grant
from constructs.python_function import PythonFunction, dead_letter_queue


class AbortCleanup(Construct):
    """``function`` (with its ``role``), ``rule`` and ``dead_letter_queue``; see the module docstring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        workflow: str,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
        topic: sns.ITopic,
        permissions: Sequence[Permission],
        environment: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(
            self, encryption_key=encryption_key, owner="the clean-up function and its rule"
        )
        cleanup = PythonFunction(
            self,
            "Function",
            source="cleanup_aborted_run",
            description=f"Stops what an aborted {workflow} run left running",
            encryption_key=encryption_key,
            log_retention=log_retention,
            dead_letter_queue=self.dead_letter_queue,
            environment={"WORKFLOW": workflow, "TOPIC_ARN": topic.topic_arn, **(environment or {})},
            reserved_concurrent_executions=2,
            shared_code=True,
        )
        self.function = cleanup.function
        self.role = cleanup.role
        grant(cleanup.role, *permissions)
        topic.grant_publish(cleanup.role)
        acknowledge(
            cleanup.role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": (
                    "CDK's grants to publish to the encrypted topic and to write the encrypted dead-letter queue: "
                    "kms:GenerateDataKey* on the project key only."
                ),
            },
        )
        self.rule = events.Rule(
            self,
            "OnAbort",
            description=f"Clean up after aborted or timed-out {workflow} runs",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": ["ABORTED", "TIMED_OUT"], "stateMachineArn": [state_machine.state_machine_arn]},
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=Duration.hours(2),
                )
            ],
        )
