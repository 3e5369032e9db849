"""The LoRA training workflow: one fine-tune on the GPU instance, from start to stop.

Validate input → Start GPU instance → wait until its status checks pass → Send fine-tune command → follow
it to the end → Archive run artifacts → (Publish to Hugging Face Hub) → Stop GPU instance → Notify.

On any failure: archive whatever exists, stop the instance, notify, and fail with a readable cause. The run
ID is the execution name, so everything a run writes is under ``runs/<execution-name>/``. Only IDs, URIs and
statuses pass between states.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.permissions import Permission
from statemachines.common import RUN_ID, TRANSIENT_SDK_ERRORS, cost_estimate_task, retry_transient, validate_input_task

SCHEMA_NAME = "lora_training"
COMMAND_DONE_OK = "Success"
COMMAND_STILL_RUNNING = ["Pending", "InProgress", "Delayed"]
EC2_TRANSIENT_ERRORS = [*TRANSIENT_SDK_ERRORS, "Ec2.RequestLimitExceeded", "Ec2.InternalError", "Ec2.Unavailable"]
# Step Functions names an SDK integration's errors <Service>.<ErrorName> and adds the "Exception" suffix where the
# API's own name lacks it (botocore's ssm shapes InternalServerError, InvocationDoesNotExist): "always add the
# Exception suffix" (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html).
SSM_TRANSIENT_ERRORS = [*TRANSIENT_SDK_ERRORS, "Ssm.ThrottlingException", "Ssm.InternalServerErrorException"]
SSM_INVOCATION_NOT_YET = "Ssm.InvocationDoesNotExistException"
# ec2:DescribeInstanceStatus and ssm:GetCommandInvocation support no resource-level permissions (Service
# Authorization Reference): a statement scoped to an ARN never matches them.
NO_RESOURCE_LEVEL = ["*"]


@dataclass(frozen=True)
class LoraTrainingResources:
    """What the workflow drives. ``poll_interval`` and ``health_checks`` bound the waits
    (the instance must pass its status checks within ``poll_interval * health_checks``); the fine-tune is followed
    every ``fine_tune_poll_interval``."""

    validator: lambda_.IFunction
    estimate_cost: lambda_.IFunction
    instance_id: str
    instance_arn: str
    run_fine_tune_document: str
    archive_run_document: str
    publish_to_hub_document: str
    command_log_group_name: str
    topic: sns.ITopic
    poll_interval: Duration = Duration.seconds(30)
    health_checks: int = 40
    # A fine-tune runs for hours: polling it every 2 minutes keeps a 47-hour run at ~12,700 history events,
    # under Step Functions' 25,000 (9 events per poll).
    fine_tune_poll_interval: Duration = Duration.minutes(2)


def _document_arn(name: str) -> str:
    return f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:document/{name}"


class _Builder:
    """Builds the states; one instance per state machine definition."""

    def __init__(self, scope: Construct, resources: LoraTrainingResources) -> None:
        self.scope = scope
        self.resources = resources
        self.failure_entry = self._failure_path()

    # Building blocks -------------------------------------------------------------------------------------------
    def _ec2(self, name: str, action: str, parameters: dict, **kwargs) -> tasks.CallAwsService:
        resources = NO_RESOURCE_LEVEL if action.startswith("describe") else [self.resources.instance_arn]
        task = tasks.CallAwsService(
            self.scope,
            name,
            service="ec2",
            action=action,
            parameters=parameters,
            iam_resources=resources,
            **kwargs,
        )
        return retry_transient(task, EC2_TRANSIENT_ERRORS)

    def _send_command(self, name: str, document: str, parameters: dict, result_path: str) -> tasks.CallAwsService:
        task = tasks.CallAwsService(
            self.scope,
            name,
            service="ssm",
            action="sendCommand",
            parameters={
                "DocumentName": document,
                "InstanceIds": [self.resources.instance_id],
                "Parameters": parameters,
                "CloudWatchOutputConfig": {
                    "CloudWatchOutputEnabled": True,
                    "CloudWatchLogGroupName": self.resources.command_log_group_name,
                },
                "Comment": sfn.JsonPath.format("Modelsmith run {}", RUN_ID),
            },
            iam_resources=[_document_arn(document), self.resources.instance_arn],
            result_selector={"command_id": sfn.JsonPath.string_at("$.Command.CommandId")},
            result_path=result_path,
        )
        return retry_transient(task, SSM_TRANSIENT_ERRORS)

    def _follow(
        self, label: str, command_path: str, *, error: str, on_failure: sfn.IChainable, interval: Duration | None = None
    ) -> tuple[sfn.Wait, sfn.Pass]:
        """Wait → Get command status → Choice; returns (its entry, the state reached when the command succeeded)."""
        wait = sfn.Wait(
            self.scope, f"Wait for {label}", time=sfn.WaitTime.duration(interval or self.resources.poll_interval)
        )
        check = tasks.CallAwsService(
            self.scope,
            f"Get {label} status",
            service="ssm",
            action="getCommandInvocation",
            parameters={
                "CommandId": sfn.JsonPath.string_at(f"{command_path}.command_id"),
                "InstanceId": self.resources.instance_id,
            },
            iam_resources=NO_RESOURCE_LEVEL,
            result_selector={
                "command_id": sfn.JsonPath.string_at("$.CommandId"),
                "status": sfn.JsonPath.string_at("$.Status"),
                "details": sfn.JsonPath.string_at("$.StatusDetails"),
            },
            result_path=command_path,
        )
        # The invocation appears a moment after SendCommand returns.
        retry_transient(check, [*SSM_TRANSIENT_ERRORS, SSM_INVOCATION_NOT_YET], max_attempts=6)
        check.add_catch(self.failure_entry, result_path="$.error")
        failed = sfn.Pass(
            self.scope,
            f"{label.capitalize()} failed",
            parameters={
                "Error": error,
                "Cause": sfn.JsonPath.format(
                    f"{label} command {{}} ended {{}} ({{}}); its output is in log group "
                    f"{self.resources.command_log_group_name}",
                    sfn.JsonPath.string_at(f"{command_path}.command_id"),
                    sfn.JsonPath.string_at(f"{command_path}.status"),
                    sfn.JsonPath.string_at(f"{command_path}.details"),
                ),
            },
            result_path="$.error",
        )
        failed.next(on_failure)
        running = sfn.Condition.or_(
            *[sfn.Condition.string_equals(f"{command_path}.status", status) for status in COMMAND_STILL_RUNNING]
        )
        succeeded = sfn.Pass(self.scope, f"{label.capitalize()} succeeded")
        done = (
            sfn.Choice(self.scope, f"{label.capitalize()} finished?")
            .when(sfn.Condition.string_equals(f"{command_path}.status", COMMAND_DONE_OK), succeeded)
            .when(running, wait)
            .otherwise(failed)
        )
        wait.next(check).next(done)
        return wait, succeeded

    # Failure path ------------------------------------------------------------------------------------------------
    def _failure_path(self) -> sfn.IChainable:
        """Archive what exists, stop the instance, notify, fail with the recorded cause. Each step is best-effort."""
        fail = sfn.Fail(self.scope, "Run failed", error_path="$.error.Error", cause_path="$.error.Cause")
        notify = tasks.SnsPublish(
            self.scope,
            "Notify failure",
            topic=self.resources.topic,
            subject="Modelsmith LoRA run failed",
            message=sfn.TaskInput.from_object(
                {
                    "workflow": "lora-training",
                    "run_id": RUN_ID,
                    "status": "FAILED",
                    "error": sfn.JsonPath.string_at("$.error.Error"),
                    "cause": sfn.JsonPath.string_at("$.error.Cause"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(notify, TRANSIENT_SDK_ERRORS)
        notify.add_catch(fail, result_path="$.notify_error")
        notify.next(fail)

        stop = self._ec2(
            "Stop GPU instance after failure",
            "stopInstances",
            {"InstanceIds": [self.resources.instance_id]},
            result_path=sfn.JsonPath.DISCARD,
        )
        stop.add_catch(notify, result_path="$.stop_error")
        stop.next(notify)

        archive = self._send_command(
            "Archive what exists",
            self.resources.archive_run_document,
            {"RunId": sfn.JsonPath.array(RUN_ID)},
            result_path="$.failure_archive",
        )
        archive.add_catch(stop, result_path="$.archive_error")
        wait = sfn.Wait(
            self.scope, "Wait for failure archive", time=sfn.WaitTime.duration(self.resources.poll_interval)
        )
        check = tasks.CallAwsService(
            self.scope,
            "Get failure archive status",
            service="ssm",
            action="getCommandInvocation",
            parameters={
                "CommandId": sfn.JsonPath.string_at("$.failure_archive.command_id"),
                "InstanceId": self.resources.instance_id,
            },
            iam_resources=NO_RESOURCE_LEVEL,
            result_selector={
                "command_id": sfn.JsonPath.string_at("$.CommandId"),
                "status": sfn.JsonPath.string_at("$.Status"),
            },
            result_path="$.failure_archive",
        )
        retry_transient(check, [*SSM_TRANSIENT_ERRORS, SSM_INVOCATION_NOT_YET], max_attempts=6)
        check.add_catch(stop, result_path="$.archive_error")
        archived = (
            sfn.Choice(self.scope, "Failure archive finished?")
            .when(
                sfn.Condition.or_(
                    *[sfn.Condition.string_equals("$.failure_archive.status", s) for s in COMMAND_STILL_RUNNING]
                ),
                wait,
            )
            .otherwise(stop)
        )
        archive.next(wait)
        wait.next(check).next(archived)

        started = (
            sfn.Choice(self.scope, "Instance started?")
            .when(sfn.Condition.is_present("$.instance_started"), archive)
            .otherwise(notify)
        )
        return started

    # The happy path ----------------------------------------------------------------------------------------------
    def build(self) -> sfn.IChainable:
        r = self.resources
        validate = validate_input_task(self.scope, validator=r.validator, schema_name=SCHEMA_NAME)
        validate.add_catch(self.failure_entry, result_path="$.error")

        start = self._ec2(
            "Start GPU instance",
            "startInstances",
            {"InstanceIds": [r.instance_id]},
            result_selector={"state": sfn.JsonPath.string_at("$.StartingInstances[0].CurrentState.Name")},
            result_path="$.instance_started",
        )
        start.add_catch(self.failure_entry, result_path="$.error")

        count = sfn.Pass(self.scope, "Count health checks", parameters={"checks": 0}, result_path="$.health")
        wait = sfn.Wait(self.scope, "Wait for instance status checks", time=sfn.WaitTime.duration(r.poll_interval))
        describe = self._ec2(
            "Check instance status",
            "describeInstanceStatus",
            {"InstanceIds": [r.instance_id], "IncludeAllInstances": True},
            result_selector={
                "instance": sfn.JsonPath.string_at("$.InstanceStatuses[0].InstanceStatus.Status"),
                "system": sfn.JsonPath.string_at("$.InstanceStatuses[0].SystemStatus.Status"),
            },
            result_path="$.health.status",
        )
        describe.add_catch(self.failure_entry, result_path="$.error")
        increment = sfn.Pass(
            self.scope,
            "Count another check",
            parameters={"checks": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.health.checks"), 1)},
            result_path="$.health",
        )
        never_healthy = sfn.Pass(
            self.scope,
            "Instance never became healthy",
            parameters={
                "Error": "InstanceUnhealthy",
                "Cause": f"the GPU instance did not pass its status checks within "
                f"{int(r.poll_interval.to_seconds()) * r.health_checks} seconds",
            },
            result_path="$.error",
        )
        never_healthy.next(self.failure_entry)

        send = self._send_command(
            "Send fine-tune command",
            r.run_fine_tune_document,
            {
                "RunId": sfn.JsonPath.array(RUN_ID),
                "ConfigS3Uri": sfn.JsonPath.array(sfn.JsonPath.string_at("$.config_s3_uri")),
                "TrainS3Uri": sfn.JsonPath.array(sfn.JsonPath.string_at("$.train_s3_uri")),
                "ValidationS3Uri": sfn.JsonPath.array(sfn.JsonPath.string_at("$.validation_s3_uri")),
                "BaseModel": sfn.JsonPath.array(sfn.JsonPath.string_at("$.base_model")),
                "TimeoutHours": sfn.JsonPath.array(
                    sfn.JsonPath.format("{}", sfn.JsonPath.string_at("$.timeout_hours"))
                ),
            },
            result_path="$.fine_tune",
        )
        send.add_catch(self.failure_entry, result_path="$.error")
        fine_tune_wait, fine_tune_done = self._follow(
            "fine-tune",
            "$.fine_tune",
            error="FineTuneFailed",
            on_failure=self.failure_entry,
            interval=r.fine_tune_poll_interval,
        )

        archive = self._send_command(
            "Archive run artifacts",
            r.archive_run_document,
            {"RunId": sfn.JsonPath.array(RUN_ID)},
            result_path="$.archive",
        )
        archive.add_catch(self.failure_entry, result_path="$.error")
        archive_wait, archive_done = self._follow(
            "archive", "$.archive", error="ArchiveFailed", on_failure=self.failure_entry
        )

        publish = self._send_command(
            "Publish to Hugging Face Hub",
            r.publish_to_hub_document,
            {
                "RunId": sfn.JsonPath.array(RUN_ID),
                "RepoId": sfn.JsonPath.array(sfn.JsonPath.string_at("$.publish.repo_id")),
                "What": sfn.JsonPath.array(sfn.JsonPath.string_at("$.publish.what")),
                "Private": sfn.JsonPath.array(sfn.JsonPath.format("{}", sfn.JsonPath.string_at("$.publish.private"))),
            },
            result_path="$.publication",
        )
        publish.add_catch(self.failure_entry, result_path="$.error")
        publish_wait, publish_done = self._follow(
            "publish", "$.publication", error="PublishFailed", on_failure=self.failure_entry
        )

        stop = self._ec2(
            "Stop GPU instance", "stopInstances", {"InstanceIds": [r.instance_id]}, result_path=sfn.JsonPath.DISCARD
        )
        stop.add_catch(self.failure_entry, result_path="$.error")
        notify = tasks.SnsPublish(
            self.scope,
            "Notify success",
            topic=r.topic,
            subject="Modelsmith LoRA run succeeded",
            message=sfn.TaskInput.from_object(
                {
                    "workflow": "lora-training",
                    "run_id": RUN_ID,
                    "status": "SUCCEEDED",
                    "artifacts": sfn.JsonPath.format("s3 prefix runs/{}/ of the artifacts bucket", RUN_ID),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(notify, TRANSIENT_SDK_ERRORS)
        done = sfn.Pass(
            self.scope,
            "Summarize run",
            parameters={
                "run_id": RUN_ID,
                "status": "SUCCEEDED",
                "fine_tune_command_id": sfn.JsonPath.string_at("$.fine_tune.command_id"),
                "archive_command_id": sfn.JsonPath.string_at("$.archive.command_id"),
                "published_to": sfn.JsonPath.string_at("$.published_to.repo"),
                "cost_estimate": sfn.JsonPath.object_at("$.cost_estimate"),
            },
        )
        mark_unpublished = sfn.Pass(
            self.scope,
            "Nothing to publish",
            result=sfn.Result.from_object({"repo": "none"}),
            result_path="$.published_to",
        )
        mark_published = sfn.Pass(
            self.scope,
            "Record publication",
            parameters={"repo": sfn.JsonPath.string_at("$.publish.repo_id")},
            result_path="$.published_to",
        )

        publish_requested = sfn.Choice(self.scope, "Publish requested?")
        stop.next(notify).next(done)
        publish_requested.when(sfn.Condition.is_present("$.publish"), publish).otherwise(mark_unpublished)
        mark_unpublished.next(stop)
        publish.next(publish_wait)
        publish_done.next(mark_published)
        mark_published.next(stop)

        archive.next(archive_wait)
        archive_done.next(publish_requested)
        send.next(fine_tune_wait)
        fine_tune_done.next(archive)

        healthy = (
            sfn.Choice(self.scope, "Instance healthy?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.string_equals("$.health.status.instance", "ok"),
                    sfn.Condition.string_equals("$.health.status.system", "ok"),
                ),
                send,
            )
            .when(sfn.Condition.number_greater_than_equals("$.health.checks", r.health_checks), never_healthy)
            .otherwise(increment)
        )
        increment.next(wait)
        validate.next(cost_estimate_task(self.scope, estimator=r.estimate_cost, workflow="lora-training", then=start))
        start.next(count).next(wait).next(describe).next(healthy)
        return validate


def build_definition(scope: Construct, resources: LoraTrainingResources) -> sfn.IChainable:
    """The workflow's definition (its first state), for a ``StateMachine`` in ``scope``."""
    return _Builder(scope, resources).build()


def abort_cleanup_permissions(instance_arn: str) -> list[Permission]:
    """The clean-up of an aborted run cancels the run's commands, then stops the instance."""
    return [
        Permission(["ec2:StopInstances"], [instance_arn]),
        # Neither ssm:ListCommands nor ssm:CancelCommand supports resource-level permissions (Service Authorization
        # Reference).
        Permission(
            ["ssm:ListCommands", "ssm:CancelCommand"],
            ["*"],
            why="ssm:ListCommands and ssm:CancelCommand have no resource-level permissions.",
        ),
    ]
