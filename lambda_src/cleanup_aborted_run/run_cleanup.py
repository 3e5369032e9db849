"""Clean up after a workflow execution that was aborted or timed out (its own failure path never ran).

Step Functions runs no Catch when an execution is stopped by hand or by its timeout, so the cost-bearing
things a run may have started are found by the names the workflows give them (all derived from the
execution name) and stopped here:

- ``lora-training``: the run's SSM commands still pending or in progress on the GPU instance (found by the
  comment ``Modelsmith run <run>`` the workflow gives them) are cancelled first, so that no job is cut off
  mid-write by the stop and none is picked up again by the SSM agent at the next start; then the instance is
  stopped (idempotent);
- ``retrieval-pipeline``: the batch inference job ``run_names.bedrock_name(<run>)`` is stopped if it still runs, and so is
  the run's SageMaker training job (found by its ``modelsmith:run-id`` tag; its name is chosen at run time);
- ``llm-customization``: the customization job of that name is stopped if it still runs, and what serves the
  custom model under that name is deleted if it exists: the on-demand deployment or the Provisioned Throughput
  (billed by the hour until deleted; DeleteProvisionedModelThroughput takes its name or ARN).

Each action is best-effort and reported; the topic is told what was cleaned up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lambda_src.shared.run_names import bedrock_name

WORKFLOWS = ("lora-training", "retrieval-pipeline", "llm-customization")
CLEANED_STATUSES = ("ABORTED", "TIMED_OUT")
NOT_FOUND = ("ResourceNotFoundException", "ValidationException")
RUNNING_JOB = ("InProgress", "Submitted", "Validating", "Scheduled")
ACTIVE_COMMAND = ("Pending", "InProgress", "Delayed")
COMMAND_COMMENT = "Modelsmith run {}"  # statemachines/lora_training.py: the Comment of every command it sends
RUN_ID_TAG = "modelsmith:run-id"  # modelsmith_core/naming.py TAG_RUN_ID: what runs tag their SageMaker resources with


class CleanupEventError(ValueError):
    """The event is not a Step Functions execution status change this function handles; names the field."""


@dataclass
class CleanupReport:
    workflow: str
    run_id: str
    status: str
    actions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_message(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "run_id": self.run_id,
            "status": self.status,
            "cleanup": self.actions,
            "cleanup_problems": self.problems,
        }


def parse_event(event: Mapping[str, Any]) -> tuple[str, str]:
    """(execution name, status) of an EventBridge "Step Functions Execution Status Change" event."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise CleanupEventError("detail: missing; expected a Step Functions execution status change event")
    name, status = detail.get("name"), detail.get("status")
    if not isinstance(name, str) or not name:
        raise CleanupEventError("detail.name: missing execution name")
    if status not in CLEANED_STATUSES:
        raise CleanupEventError(f"detail.status = {status!r}: only {', '.join(CLEANED_STATUSES)} are cleaned up")
    return name, status


def clean_up(
    event: Mapping[str, Any],
    *,
    workflow: str,
    bedrock: Any = None,
    ec2: Any = None,
    instance_id: str | None = None,
    sagemaker: Any = None,
    ssm: Any = None,
) -> CleanupReport:
    if workflow not in WORKFLOWS:
        raise CleanupEventError(f"workflow = {workflow!r}: expected one of {', '.join(WORKFLOWS)}")
    run_id, status = parse_event(event)
    report = CleanupReport(workflow, run_id, status)
    resource = bedrock_name(run_id)
    if workflow == "lora-training":
        if ssm is not None:
            _cancel_commands(report, ssm, instance_id, run_id)
        _attempt(report, f"stopped instance {instance_id}", lambda: ec2.stop_instances(InstanceIds=[instance_id]))
    elif workflow == "retrieval-pipeline":
        jobs = bedrock.list_model_invocation_jobs(nameContains=resource).get("invocationJobSummaries", [])
        for job in jobs:
            if job.get("jobName") == resource and job.get("status") in RUNNING_JOB:
                _attempt(
                    report,
                    f"stopped batch inference job {job['jobArn']}",
                    lambda arn=job["jobArn"]: bedrock.stop_model_invocation_job(jobIdentifier=arn),
                )
        if sagemaker is not None:
            _stop_training_jobs(report, sagemaker, run_id)
    else:
        try:
            job_status = bedrock.get_model_customization_job(jobIdentifier=resource)["status"]
        except ClientError as error:
            if _code(error) not in NOT_FOUND:
                _record(report, "customization job", error)
            job_status = None
        if job_status in RUNNING_JOB:
            _attempt(
                report,
                f"stopped customization job {resource}",
                lambda: bedrock.stop_model_customization_job(jobIdentifier=resource),
            )
        _attempt(
            report,
            f"deleted deployment {resource}",
            lambda: bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=resource),
            missing_ok=True,
        )
        _attempt(
            report,
            f"deleted Provisioned Throughput {resource}",
            lambda: bedrock.delete_provisioned_model_throughput(provisionedModelId=resource),
            missing_ok=True,
        )
    return report


def _cancel_commands(report: CleanupReport, ssm: Any, instance_id: str | None, run_id: str) -> None:
    """Cancel this run's commands still pending or in progress on the instance."""
    comment = COMMAND_COMMENT.format(run_id)
    try:
        pages = ssm.get_paginator("list_commands").paginate(InstanceId=instance_id)
        active = [
            command
            for page in pages
            for command in page.get("Commands", [])
            if command.get("Comment") == comment and command.get("Status") in ACTIVE_COMMAND
        ]
    except ClientError as error:
        _record(report, "commands", error)
        return
    for command in active:
        _attempt(
            report,
            f"cancelled command {command['CommandId']}",
            lambda command_id=command["CommandId"]: ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id]),
        )


def _stop_training_jobs(report: CleanupReport, sagemaker: Any, run_id: str) -> None:
    """Stop the in-progress SageMaker training jobs tagged with this run's ID."""
    try:
        pages = sagemaker.get_paginator("list_training_jobs").paginate(StatusEquals="InProgress")
        running = [job for page in pages for job in page.get("TrainingJobSummaries", [])]
        for job in running:
            tags = sagemaker.list_tags(ResourceArn=job["TrainingJobArn"]).get("Tags", [])
            if {"Key": RUN_ID_TAG, "Value": run_id} in tags:
                _attempt(
                    report,
                    f"stopped training job {job['TrainingJobName']}",
                    lambda name=job["TrainingJobName"]: sagemaker.stop_training_job(TrainingJobName=name),
                )
    except ClientError as error:
        _record(report, "training jobs", error)


def notify(report: CleanupReport, *, sns: Any, topic_arn: str) -> None:
    sns.publish(
        TopicArn=topic_arn,
        Subject=f"Modelsmith {report.workflow} run {report.status.lower()}"[:100],
        Message=json.dumps(report.as_message()),
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _record(report: CleanupReport, what: str, error: ClientError) -> None:
    report.problems.append(f"{what}: {_code(error)}: {error.response.get('Error', {}).get('Message', '')}")


def _attempt(report: CleanupReport, action: str, call: Any, *, missing_ok: bool = False) -> None:
    try:
        call()
    except ClientError as error:
        if missing_ok and _code(error) in NOT_FOUND:
            return
        _record(report, action, error)
    else:
        report.actions.append(action)
