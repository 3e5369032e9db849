"""Bedrock model customization of Llama 3.x: prepare → fine-tune → serve → evaluate → keep or remove.

Validate input → Estimate cost → Prepare training data → Start customization job → follow it → serve the custom
model → follow it → Evaluate against the base model → the custom model wins by ``min_gain``? keep it serving
(status ``deployed``) : remove what serves it (status ``not_improved``) → Notify.

How the custom model is served is the base model's (``CustomizableModel.deployment``, chosen at synth): an
on-demand custom model deployment (``CreateCustomModelDeployment``; Bedrock offers it for Llama 3.3 70B) or
Provisioned Throughput (``CreateProvisionedModelThroughput``, one model unit, no commitment: billed by the hour
until deleted). Both are created with the run's ``clientRequestToken``, so a retried state creates nothing twice.

Why not CDK's BedrockCreateModelCustomizationJob task (``.sync``): it builds the S3 URIs by concatenating a
bucket with a fixed path, and every run must read and write its own ``runs/<execution-name>/`` prefix. The job
is started and followed with SDK integrations instead, the way the batch-inference job of the retrieval
pipeline is. On failure: a running job is stopped, a created deployment deleted, the topic notified, and the
execution fails with a readable cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.permissions import Permission
from constructs.service_access import arn
from modelsmith_core.catalogue import ON_DEMAND, PROVISIONED_MODEL_UNITS, PROVISIONED_THROUGHPUT, CustomizableModel
from statemachines.common import (
    BEDROCK_TRANSIENT_ERRORS,
    RUN_ID,
    TRANSIENT_LAMBDA_ERRORS,
    TRANSIENT_SDK_ERRORS,
    cost_estimate_task,
    retry_transient,
    run_tags,
    validate_input_task,
)

SCHEMA_NAME = "llm_customization"
JOB_RUNNING = ["InProgress", "Stopping"]


@dataclass(frozen=True)
class Serving:
    """The Bedrock API that serves a custom model, as the workflow calls it (botocore ``bedrock`` model)."""

    label: str
    create: str
    get: str
    delete: str
    name_field: str
    model_field: str
    identifier_field: str
    arn_field: str
    resource: str  # the IAM resource type of what ``create`` makes
    ready: str
    pending: tuple[str, ...]
    extra: tuple[tuple[str, Any], ...] = ()
    described: bool = False  # the create request takes a Description


SERVINGS = {
    ON_DEMAND: Serving(
        label="on-demand",
        create="createCustomModelDeployment",
        get="getCustomModelDeployment",
        delete="deleteCustomModelDeployment",
        name_field="ModelDeploymentName",
        model_field="ModelArn",
        identifier_field="CustomModelDeploymentIdentifier",
        arn_field="CustomModelDeploymentArn",
        resource="custom-model-deployment",
        ready="Active",
        pending=("Creating",),
        described=True,
    ),
    PROVISIONED_THROUGHPUT: Serving(
        label="Provisioned Throughput",
        create="createProvisionedModelThroughput",
        get="getProvisionedModelThroughput",
        delete="deleteProvisionedModelThroughput",
        name_field="ProvisionedModelName",
        model_field="ModelId",
        identifier_field="ProvisionedModelId",
        arn_field="ProvisionedModelArn",
        resource="provisioned-model",
        ready="InService",
        pending=("Creating", "Updating"),
        # no CommitmentDuration: "To request a no-commit Provisioned Throughput, omit this field" (botocore)
        extra=(("ModelUnits", PROVISIONED_MODEL_UNITS),),
    ),
}


@dataclass(frozen=True)
class LlmCustomizationResources:
    prepare_data: lambda_.IFunction
    evaluate: lambda_.IFunction
    validator: lambda_.IFunction
    estimate_cost: lambda_.IFunction
    customization_role: iam.IRole
    base_model_id: str
    model: CustomizableModel
    artifacts_bucket_name: str
    encryption_key_arn: str
    topic: sns.ITopic
    tags: dict[
        str, str
    ]  # put on the job, the custom model and the deployment, with the run ID (modelsmith_core.naming)
    poll_interval: Duration = Duration.minutes(5)


class _Builder:
    def __init__(self, scope: Construct, resources: LlmCustomizationResources) -> None:
        self.scope, self.r = scope, resources
        self.serving = SERVINGS[resources.model.deployment]
        self.arn = lambda kind: f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:{kind}/*"
        self.failure_entry = self._failure_path()

    def _delete_serving(self, name: str) -> tasks.CallAwsService:
        """Delete what serves the custom model (the deployment or the Provisioned Throughput at ``$.deployment.arn``)."""
        return self._bedrock(
            name,
            self.serving.delete,
            {self.serving.identifier_field: sfn.JsonPath.string_at("$.deployment.arn")},
            [self.arn(self.serving.resource)],
            result_path=sfn.JsonPath.DISCARD,
        )

    def _bedrock(
        self, name: str, action: str, parameters: dict, resources: list[str], *, tagged: Sequence[str] = (), **kwargs
    ) -> tasks.CallAwsService:
        """``tagged``: the ARNs of what the call creates with tags (Bedrock authorizes tag-on-create as TagResource)."""
        statements = [iam.PolicyStatement(actions=["bedrock:TagResource"], resources=list(tagged))] if tagged else None
        task = tasks.CallAwsService(
            self.scope,
            name,
            service="bedrock",
            action=action,
            parameters=parameters,
            iam_resources=resources,
            additional_iam_statements=statements,
            **kwargs,
        )
        return retry_transient(task, BEDROCK_TRANSIENT_ERRORS)

    def _invoke(self, name: str, function: lambda_.IFunction, payload: dict, result_path: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self.scope,
            name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=result_path,
        )
        retry_transient(task, TRANSIENT_LAMBDA_ERRORS)
        task.add_catch(self.failure_entry, result_path="$.error")
        return task

    def _notify(self, name: str, subject: str, status: str, extra: dict) -> tasks.SnsPublish:
        task = tasks.SnsPublish(
            self.scope,
            name,
            topic=self.r.topic,
            subject=subject,
            message=sfn.TaskInput.from_object(
                {"workflow": "llm-customization", "run_id": RUN_ID, "status": status, **extra}
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        return retry_transient(task, TRANSIENT_SDK_ERRORS)

    def _failed(self, name: str, error: str, cause: str, *paths: str) -> sfn.Pass:
        return sfn.Pass(
            self.scope,
            name,
            result_path="$.error",
            parameters={
                "Error": error,
                "Cause": sfn.JsonPath.format(cause, *[sfn.JsonPath.string_at(p) for p in paths]),
            },
        )

    # Failure path ------------------------------------------------------------------------------------------------
    def _failure_path(self) -> sfn.IChainable:
        fail = sfn.Fail(self.scope, "Run failed", error_path="$.error.Error", cause_path="$.error.Cause")
        notify = self._notify(
            "Notify failure",
            "Modelsmith model customization failed",
            "FAILED",
            {"error": sfn.JsonPath.string_at("$.error.Error"), "cause": sfn.JsonPath.string_at("$.error.Cause")},
        )
        notify.add_catch(fail, result_path="$.notify_error")
        notify.next(fail)
        delete = self._delete_serving("Delete deployment after failure")
        delete.add_catch(notify, result_path="$.cleanup_error")
        delete.next(notify)
        deployed = (
            sfn.Choice(self.scope, "Deployment created?")
            .when(sfn.Condition.is_present("$.deployment.arn"), delete)
            .otherwise(notify)
        )
        stop = self._bedrock(
            "Stop customization job",
            "stopModelCustomizationJob",
            {"JobIdentifier": sfn.JsonPath.string_at("$.job.arn")},
            [self.arn("model-customization-job")],
            result_path=sfn.JsonPath.DISCARD,
        )
        stop.add_catch(deployed, result_path="$.cleanup_error")
        stop.next(deployed)
        return (
            sfn.Choice(self.scope, "Job still running?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.job.arn"), sfn.Condition.is_not_present("$.job.finished")
                ),
                stop,
            )
            .otherwise(deployed)
        )

    # The happy path ----------------------------------------------------------------------------------------------
    def build(self) -> sfn.IChainable:
        r, m = self.r, self.r.model
        validate = validate_input_task(self.scope, validator=r.validator, schema_name=SCHEMA_NAME)
        validate.add_catch(self.failure_entry, result_path="$.error")
        prepare = self._invoke(
            "Prepare training data",
            r.prepare_data,
            {
                "run_id": RUN_ID,
                "input": {
                    "train_s3_uri": sfn.JsonPath.string_at("$.train_s3_uri"),
                    **m.preparation_settings(),
                    "validation_fraction": sfn.JsonPath.number_at("$.validation_fraction"),
                    "seed": sfn.JsonPath.number_at("$.seed"),
                    "hyperparameters": sfn.JsonPath.object_at("$.hyperparameters"),
                },
            },
            "$.data",
        )
        run_prefix = f"s3://{r.artifacts_bucket_name}/runs/{{}}/"
        start = self._bedrock(
            "Start customization job",
            "createModelCustomizationJob",
            {
                "JobName": sfn.JsonPath.string_at("$.run_names.bedrock"),
                "CustomModelName": sfn.JsonPath.string_at("$.custom_model_name"),
                "RoleArn": r.customization_role.role_arn,
                "BaseModelIdentifier": r.base_model_id,
                "CustomizationType": "FINE_TUNING",
                "TrainingDataConfig": {"S3Uri": sfn.JsonPath.string_at("$.data.train_uri")},
                "ValidationDataConfig": {"Validators": [{"S3Uri": sfn.JsonPath.string_at("$.data.validation_uri")}]},
                "OutputDataConfig": {"S3Uri": sfn.JsonPath.format(run_prefix + "customization/", RUN_ID)},
                # Bedrock takes the values as strings; the preparation step writes them as plain decimals
                # ("0.0001"), as AWS's examples do, instead of States.Format's undocumented number rendering.
                "HyperParameters": sfn.JsonPath.object_at("$.data.job_hyperparameters"),
                "CustomModelKmsKeyId": r.encryption_key_arn,
                "ClientRequestToken": sfn.JsonPath.string_at("$.run_names.request_token"),
                "JobTags": run_tags(r.tags),
                "CustomModelTags": run_tags(r.tags),
            },
            # The job names the base model by its customization ID (":128k"); both forms of its ARN are granted.
            [
                self.arn("model-customization-job"),
                self.arn("custom-model"),
                f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{r.base_model_id}",
                f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{m.inference_model_id}",
            ],
            tagged=[self.arn("model-customization-job"), self.arn("custom-model")],
            result_selector={"arn": sfn.JsonPath.string_at("$.JobArn")},
            result_path="$.job",
        )
        start.add_catch(self.failure_entry, result_path="$.error")
        job_wait = sfn.Wait(self.scope, "Wait for customization job", time=sfn.WaitTime.duration(r.poll_interval))
        job_check = self._bedrock(
            "Get customization job status",
            "getModelCustomizationJob",
            {"JobIdentifier": sfn.JsonPath.string_at("$.job.arn")},
            [self.arn("model-customization-job")],
            result_selector={"arn": sfn.JsonPath.string_at("$.JobArn"), "status": sfn.JsonPath.string_at("$.Status")},
            result_path="$.job",
        )
        job_check.add_catch(self.failure_entry, result_path="$.error")
        job_done = sfn.Pass(
            self.scope,
            "Customization job completed",
            result_path="$.job",
            parameters={
                "arn": sfn.JsonPath.string_at("$.job.arn"),
                "status": sfn.JsonPath.string_at("$.job.status"),
                "finished": True,
            },
        )
        job_model = self._bedrock(
            "Get custom model",
            "getModelCustomizationJob",
            {"JobIdentifier": sfn.JsonPath.string_at("$.job.arn")},
            [self.arn("model-customization-job")],
            result_selector={"arn": sfn.JsonPath.string_at("$.OutputModelArn")},
            result_path="$.custom_model",
        )
        job_model.add_catch(self.failure_entry, result_path="$.error")
        job_failed = self._failed(
            "Customization job failed",
            "CustomizationJobFailed",
            "customization job {} ended {}; see it in the Bedrock console",
            "$.job.arn",
            "$.job.status",
        )
        job_failed.next(
            sfn.Pass(self.scope, "Job ended", result=sfn.Result.from_boolean(True), result_path="$.job.finished")
        ).next(self.failure_entry)
        job_status = (
            sfn.Choice(self.scope, "Customization job done?")
            .when(sfn.Condition.string_equals("$.job.status", "Completed"), job_done)
            .when(sfn.Condition.or_(*[sfn.Condition.string_equals("$.job.status", s) for s in JOB_RUNNING]), job_wait)
            .otherwise(job_failed)
        )

        serving = self.serving
        deploy = self._bedrock(
            f"Deploy custom model ({serving.label})",
            serving.create,
            {
                serving.name_field: sfn.JsonPath.string_at("$.run_names.bedrock"),
                # idempotency: a retried state gets the existing deployment instead of a second one
                "ClientRequestToken": sfn.JsonPath.string_at("$.run_names.request_token"),
                serving.model_field: sfn.JsonPath.string_at("$.custom_model.arn"),
                **({"Description": sfn.JsonPath.format("Modelsmith run {}", RUN_ID)} if serving.described else {}),
                **dict(serving.extra),
                "Tags": run_tags(r.tags),
            },
            # The Service Authorization Reference lists only the model (custom-model) for both creates; the created
            # resource is authorized as bedrock:TagResource for its tags.
            [self.arn("custom-model")],
            tagged=[self.arn(serving.resource)],
            result_selector={"arn": sfn.JsonPath.string_at(f"$.{serving.arn_field}")},
            result_path="$.deployment",
        )
        deploy.add_catch(self.failure_entry, result_path="$.error")
        deploy_wait = sfn.Wait(self.scope, "Wait for deployment", time=sfn.WaitTime.duration(r.poll_interval))
        deploy_check = self._bedrock(
            "Get deployment status",
            serving.get,
            {serving.identifier_field: sfn.JsonPath.string_at("$.deployment.arn")},
            [self.arn(serving.resource)],
            result_selector={
                "arn": sfn.JsonPath.string_at(f"$.{serving.arn_field}"),
                "status": sfn.JsonPath.string_at("$.Status"),
            },
            result_path="$.deployment",
        )
        deploy_check.add_catch(self.failure_entry, result_path="$.error")
        deploy_failed = self._failed(
            "Deployment failed", "DeploymentFailed", "deployment {} ended {}", "$.deployment.arn", "$.deployment.status"
        )
        deploy_failed.next(self.failure_entry)

        evaluate = self._invoke(
            "Evaluate against the base model",
            r.evaluate,
            {
                "run_id": RUN_ID,
                "test_suite_uri": sfn.JsonPath.string_at("$.test_suite_s3_uri"),
                "base_model_id": m.base_invocation_id,
                "custom_model_id": sfn.JsonPath.string_at("$.deployment.arn"),
                "metric": sfn.JsonPath.string_at("$.evaluation.metric"),
                "judge_model_id": sfn.JsonPath.string_at("$.evaluation.judge_model_id"),
                "min_gain": sfn.JsonPath.number_at("$.evaluation.min_gain"),
            },
            "$.scores",
        )
        deploy_status = (
            sfn.Choice(self.scope, "Deployment active?")
            .when(sfn.Condition.string_equals("$.deployment.status", serving.ready), evaluate)
            .when(
                sfn.Condition.or_(*[sfn.Condition.string_equals("$.deployment.status", s) for s in serving.pending]),
                deploy_wait,
            )
            .otherwise(deploy_failed)
        )

        def outcome(label: str, status: str) -> sfn.Pass:
            return sfn.Pass(
                self.scope,
                label,
                parameters={
                    "run_id": RUN_ID,
                    "status": status,
                    "base_model_id": r.base_model_id,
                    "deployment_mode": m.deployment,
                    "custom_model_arn": sfn.JsonPath.string_at("$.custom_model.arn"),
                    "deployment_arn": sfn.JsonPath.string_at("$.deployment.arn") if status == "deployed" else "none",
                    "base_score": sfn.JsonPath.number_at("$.scores.base_score"),
                    "custom_score": sfn.JsonPath.number_at("$.scores.custom_score"),
                    "gain": sfn.JsonPath.number_at("$.scores.gain"),
                    "report_uri": sfn.JsonPath.string_at("$.scores.report_uri"),
                    "cost_estimate": sfn.JsonPath.object_at("$.cost_estimate"),
                },
            )

        def delete(label: str) -> tasks.CallAwsService:
            task = self._delete_serving(label)
            task.add_catch(self.failure_entry, result_path="$.error")
            return task

        deployed = outcome("Keep the deployment", "deployed")
        not_improved = outcome("Not better than the base model", "not_improved")
        evaluated = outcome("Evaluated, not kept", "evaluated")
        notify_done = self._notify(
            "Notify result",
            "Modelsmith model customization finished",
            "SUCCEEDED",
            {
                "outcome": sfn.JsonPath.string_at("$.status"),
                "gain": sfn.JsonPath.number_at("$.gain"),
                "report_uri": sfn.JsonPath.string_at("$.report_uri"),
            },
        )
        for end in (deployed, not_improved, evaluated):
            end.next(notify_done)
        wins = (
            sfn.Choice(self.scope, "Custom model wins?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.boolean_equals("$.scores.custom_wins", True),
                    sfn.Condition.boolean_equals("$.keep_deployment", True),
                ),
                deployed,
            )
            .when(
                sfn.Condition.boolean_equals("$.scores.custom_wins", True),
                delete("Delete evaluation deployment").next(evaluated),
            )
            .otherwise(delete("Delete losing deployment").next(not_improved))
        )

        validate.next(
            cost_estimate_task(self.scope, estimator=r.estimate_cost, workflow="llm-customization", then=prepare)
        )
        prepare.next(start).next(job_wait)
        job_wait.next(job_check).next(job_status)
        job_done.next(job_model).next(deploy).next(deploy_wait)
        deploy_wait.next(deploy_check).next(deploy_status)
        evaluate.next(wins)
        return validate


def build_definition(scope: Construct, resources: LlmCustomizationResources) -> sfn.IChainable:
    """The workflow's definition (its first state), for a ``StateMachine`` in ``scope``."""
    return _Builder(scope, resources).build()


def abort_cleanup_permissions() -> list[Permission]:
    """What the clean-up of an aborted run stops or deletes: its job, its deployment or its Provisioned Throughput."""
    return [
        Permission(
            ["bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"],
            [arn("bedrock", "model-customization-job/*")],
            why="The run's job is named after the execution.",
        ),
        Permission(
            ["bedrock:DeleteCustomModelDeployment"],
            [arn("bedrock", "custom-model-deployment/*")],
            why="The run's deployment is named after the execution.",
        ),
        Permission(
            ["bedrock:DeleteProvisionedModelThroughput"],
            [arn("bedrock", "provisioned-model/*")],
            why="The run's Provisioned Throughput is named after the execution.",
        ),
    ]


def task_resource_reasons(model: CustomizableModel) -> dict[str, str]:
    """Why the workflow's own tasks (CDK's service integrations) name wildcard resources, by resource."""
    kinds = ("model-customization-job", "custom-model", SERVINGS[model.deployment].resource)
    return {
        arn("bedrock", f"{kind}/*"): "Jobs, custom models and deployments are named after the execution at run time."
        for kind in kinds
    }
