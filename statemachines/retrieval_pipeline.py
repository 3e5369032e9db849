"""The retrieval fine-tuning pipeline: documents → synthetic queries → fine-tuned embedding model → endpoint.

Part 1: Validate input → Extract corpus → Plan query generation → (on-demand: Generate queries, one Lambda
per shard in a bounded Map | batch: Prepare batch records → Start batch inference job → follow it → Collect
batch queries) → Build training pairs.

Part 2: Name run resources → Train embedding model (a SageMaker training job running
``sagemaker_src.retrieval.train``, awaited natively with ``.sync``) → Publish training report (metrics and
report into the run prefix, and the quality gate's decision: on the questions written by people when
``evaluation_questions_uri`` is given, else the held-out synthetic queries, the nDCG@10 gain (``gate: mean``) or
the lower bound of its paired bootstrap 95% interval (``gate: ci_lower``) above 0 and at least ``min_ndcg_gain``,
see ``lambda_src/publish_training_report/quality_gate.py``) → "Better than the base model?" (otherwise notify and
end with status ``not_improved``) → SageMaker model → endpoint
config → create the endpoint ``ms-<env>-<model_name>`` or update it in place → wait until InService →
register (OpenSearch ML Commons and/or Pinecone, as the input asks) → Notify → output.

On any failure: stop the batch inference job if one was started; delete the endpoint (only if this run
created it), endpoint config and model this run created; notify; fail with a readable cause. Only S3 URIs,
IDs, counts and scores pass between states; everything a run writes is under
``s3://<artifacts>/runs/<execution-name>/``.
"""

from __future__ import annotations

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
from constructs.service_access import FOUNDATION_MODELS_ANY_REGION, arn, invoke_bedrock_models, invoke_endpoints
from modelsmith_core import catalogue, naming
from modelsmith_core.config import EnvironmentConfig
from modelsmith_core.naming import TAG_RUN_ID
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

SCHEMA_NAME = "retrieval_pipeline"
WORKFLOW = "retrieval-pipeline"
# botocore bedrock ModelInvocationJobStatus: PartiallyCompleted is final ("partially completed... view the output
# files"), like Completed; the collection step decides by batch_min_success_fraction whether the run goes on.
BATCH_RUNNING = ["Submitted", "Validating", "Scheduled", "InProgress", "Stopping"]
BATCH_DONE = ["Completed", "PartiallyCompleted"]
ENDPOINT_BUSY = ["Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"]
TRAINING_PROGRAM = "retrieval_train.py"
# SageMaker's managed rule through which Step Functions follows a training job (.sync).
TRAINING_EVENTS_RULE = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"


CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"  # CheckpointConfig.LocalPath's default (API_CheckpointConfig)


@dataclass(frozen=True)
class SageMakerSettings:
    """How runs train and serve. ``endpoint_instance_type`` is an instance type or ``serverless``;
    ``endpoint_kms_key_arn`` is None for instance types with NVMe instance storage (SageMaker refuses a key
    there; that storage is hardware-encrypted). ``tags`` are put on everything a run creates."""

    training_role_arn: str
    inference_role_arn: str
    training_image_uri: str
    inference_image_uri: str
    training_instance_type: str
    code_uri: str
    endpoint_instance_type: str
    endpoint_name_prefix: str
    endpoint_kms_key_arn: str | None
    tags: dict[str, str]
    # None for training instance types with local NVMe storage: "You can't request a VolumeKmsKeyId when using an
    # instance type with local storage" (botocore sagemaker ResourceConfig.VolumeKmsKeyId).
    training_volume_kms_key_arn: str | None = None
    spot_training: bool = False
    max_training_hours: int = 24
    serverless_memory_mib: int = 6144
    serverless_max_concurrency: int = 5
    training_volume_gib: int = 50

    @staticmethod
    def image_uris(config: EnvironmentConfig) -> tuple[str, str]:
        """(training, inference) image URIs: the config's, else the Hugging Face DLCs of the config's Region (the
        inference image for GPU or CPU by the endpoint's instance family)."""
        settings = config.retrieval_pipeline
        on_gpu = _endpoint_family(config) in catalogue.SAGEMAKER_GPU_FAMILIES
        inference = catalogue.HF_INFERENCE_IMAGE_GPU if on_gpu else catalogue.HF_INFERENCE_IMAGE_CPU
        return (
            settings.training_image_uri
            or catalogue.dlc_image_uri(config.region, catalogue.HF_TRAINING_IMAGE, region_in_uri=Aws.REGION),
            settings.inference_image_uri or catalogue.dlc_image_uri(config.region, inference, region_in_uri=Aws.REGION),
        )

    @classmethod
    def from_config(
        cls, config: EnvironmentConfig, *, training_role_arn: str, inference_role_arn: str, code_uri: str, key_arn: str
    ) -> SageMakerSettings:
        """The environment's settings, with the roles, the code archive and the project key."""
        settings = config.retrieval_pipeline
        endpoint_family = _endpoint_family(config)
        training_image_uri, inference_image_uri = cls.image_uris(config)
        return cls(
            training_role_arn=training_role_arn,
            inference_role_arn=inference_role_arn,
            training_image_uri=training_image_uri,
            inference_image_uri=inference_image_uri,
            training_instance_type=settings.training_instance_type,
            code_uri=code_uri,
            endpoint_instance_type=settings.endpoint_instance_type,
            endpoint_name_prefix=naming.endpoint_name_prefix(config.name),
            endpoint_kms_key_arn=None
            if endpoint_family in (None, *catalogue.SAGEMAKER_INSTANCE_STORAGE_FAMILIES)
            else key_arn,
            training_volume_kms_key_arn=None
            if settings.training_instance_type.split(".")[1] in catalogue.SAGEMAKER_INSTANCE_STORAGE_FAMILIES
            else key_arn,
            tags=naming.resource_tags(config.name, naming.RETRIEVAL_COMPONENT, config.tags),
            spot_training=settings.spot_training,
            max_training_hours=settings.max_training_hours,
            serverless_memory_mib=settings.serverless_memory_mib,
            serverless_max_concurrency=settings.serverless_max_concurrency,
        )


def _endpoint_family(config: EnvironmentConfig) -> str | None:
    """The endpoint's instance family (``g5``), or None for a serverless endpoint."""
    instance_type = config.retrieval_pipeline.endpoint_instance_type
    return instance_type.split(".")[1] if instance_type != "serverless" else None


@dataclass(frozen=True)
class RetrievalPipelineResources:
    """What the workflow uses. ``generation_concurrency`` bounds parallel on-demand shards (Bedrock quotas)."""

    validator: lambda_.IFunction
    extract_corpus: lambda_.IFunction
    generate_queries: lambda_.IFunction
    build_pairs: lambda_.IFunction
    batch_role: iam.IRole
    artifacts_bucket_name: str
    encryption_key_arn: str
    topic: sns.ITopic
    publish_report: lambda_.IFunction
    register_model: lambda_.IFunction
    estimate_cost: lambda_.IFunction
    sagemaker: SageMakerSettings
    pinecone_secret_name: str
    connector_role_arn: str
    poll_interval: Duration = Duration.minutes(2)
    endpoint_poll_interval: Duration = Duration.minutes(1)
    generation_concurrency: int = 4


class _Builder:
    def __init__(self, scope: Construct, resources: RetrievalPipelineResources) -> None:
        self.scope = scope
        self.r = resources
        self.failure_entry = self._failure_path()

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

    def _bedrock(
        self, name: str, action: str, parameters: dict, iam_resources: list[str], **kwargs
    ) -> tasks.CallAwsService:
        task = tasks.CallAwsService(
            self.scope,
            name,
            service="bedrock",
            action=action,
            parameters=parameters,
            iam_resources=iam_resources,
            **kwargs,
        )
        return retry_transient(task, BEDROCK_TRANSIENT_ERRORS)

    def _job_arns(self) -> list[str]:
        return [f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-invocation-job/*"]

    # Failure path ------------------------------------------------------------------------------------------------
    def _failure_path(self) -> sfn.IChainable:
        fail = sfn.Fail(self.scope, "Run failed", error_path="$.error.Error", cause_path="$.error.Cause")
        notify = tasks.SnsPublish(
            self.scope,
            "Notify failure",
            topic=self.r.topic,
            subject="Modelsmith retrieval pipeline failed",
            message=sfn.TaskInput.from_object(
                {
                    "workflow": "retrieval-pipeline",
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
        stop_batch = self._bedrock(
            "Stop batch inference job",
            "stopModelInvocationJob",
            {"JobIdentifier": sfn.JsonPath.string_at("$.batch_job.job_arn")},
            self._job_arns(),
            result_path=sfn.JsonPath.DISCARD,
        )
        stop_batch.add_catch(notify, result_path="$.stop_error")
        stop_batch.next(notify)
        return (
            sfn.Choice(self.scope, "Batch job started?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.batch_job.job_arn"),
                    sfn.Condition.is_not_present("$.batch_job.finished"),
                ),
                stop_batch,
            )
            .otherwise(notify)
        )

    # On-demand and batch generation ------------------------------------------------------------------------------------
    def _on_demand(self) -> sfn.Map:
        generate = tasks.LambdaInvoke(
            self.scope,
            "Generate queries for a shard",
            lambda_function=self.r.generate_queries,
            payload=sfn.TaskInput.from_object(
                {
                    "action": "generate",
                    "run_id": sfn.JsonPath.string_at("$.run_id"),
                    "corpus_uri": sfn.JsonPath.string_at("$.corpus_uri"),
                    "shard": sfn.JsonPath.object_at("$.shard"),
                    "queries_per_document": sfn.JsonPath.number_at("$.queries_per_document"),
                    "bedrock_model_id": sfn.JsonPath.string_at("$.bedrock_model_id"),
                    "prompt_template": sfn.JsonPath.string_at("$.prompt_template"),
                }
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,
        )
        retry_transient(generate, TRANSIENT_LAMBDA_ERRORS)
        shards = sfn.Map(
            self.scope,
            "Generate queries (on-demand)",
            items_path="$.plan.shards",
            max_concurrency=self.r.generation_concurrency,
            item_selector={
                "run_id": RUN_ID,
                "shard": sfn.JsonPath.object_at("$$.Map.Item.Value"),
                "corpus_uri": sfn.JsonPath.string_at("$.corpus.corpus_uri"),
                "queries_per_document": sfn.JsonPath.number_at("$.queries_per_document"),
                "bedrock_model_id": sfn.JsonPath.string_at("$.bedrock_model_id"),
                "prompt_template": sfn.JsonPath.string_at("$.prompt_template"),
            },
            result_selector={"shards": sfn.JsonPath.list_at("$")},
            result_path="$.generation",
        )
        shards.item_processor(generate)
        shards.add_catch(self.failure_entry, result_path="$.error")
        return shards

    def _batch(self, then: sfn.IChainable) -> sfn.IChainable:
        prepare = self._invoke(
            "Prepare batch records",
            self.r.generate_queries,
            {
                "action": "prepare_batch",
                "run_id": RUN_ID,
                "corpus_uri": sfn.JsonPath.string_at("$.corpus.corpus_uri"),
                "queries_per_document": sfn.JsonPath.number_at("$.queries_per_document"),
                "bedrock_model_id": sfn.JsonPath.string_at("$.bedrock_model_id"),
                "prompt_template": sfn.JsonPath.string_at("$.prompt_template"),
            },
            "$.batch",
        )
        start = self._bedrock(
            "Start batch inference job",
            "createModelInvocationJob",
            {
                "JobName": sfn.JsonPath.string_at("$.run_names.bedrock"),
                "RoleArn": self.r.batch_role.role_arn,
                "ModelId": sfn.JsonPath.string_at("$.bedrock_model_id"),
                "InputDataConfig": {
                    "S3InputDataConfig": {
                        "S3Uri": sfn.JsonPath.string_at("$.batch.input_uri"),
                        "S3InputFormat": "JSONL",
                    }
                },
                "OutputDataConfig": {
                    "S3OutputDataConfig": {
                        "S3Uri": sfn.JsonPath.string_at("$.batch.output_uri"),
                        "S3EncryptionKeyId": self.r.encryption_key_arn,
                    }
                },
                "TimeoutDurationInHours": 72,
                "ClientRequestToken": sfn.JsonPath.string_at("$.run_names.request_token"),
            },
            [
                *self._job_arns(),
                FOUNDATION_MODELS_ANY_REGION,
                f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/*",
            ],
            result_selector={"job_arn": sfn.JsonPath.string_at("$.JobArn")},
            result_path="$.batch_job",
        )
        start.add_catch(self.failure_entry, result_path="$.error")
        self.batch_start_task = start
        wait = sfn.Wait(self.scope, "Wait for batch inference", time=sfn.WaitTime.duration(self.r.poll_interval))
        check = self._bedrock(
            "Get batch inference status",
            "getModelInvocationJob",
            {"JobIdentifier": sfn.JsonPath.string_at("$.batch_job.job_arn")},
            self._job_arns(),
            result_selector={
                "job_arn": sfn.JsonPath.string_at("$.JobArn"),
                "status": sfn.JsonPath.string_at("$.Status"),
            },
            result_path="$.batch_job",
        )
        check.add_catch(self.failure_entry, result_path="$.error")
        failed = sfn.Pass(
            self.scope,
            "Batch inference failed",
            parameters={
                "Error": "BatchInferenceFailed",
                "Cause": sfn.JsonPath.format(
                    "batch inference job {} ended {}; see its details in the Bedrock console",
                    sfn.JsonPath.string_at("$.batch_job.job_arn"),
                    sfn.JsonPath.string_at("$.batch_job.status"),
                ),
            },
            result_path="$.error",
        )
        # A job that ended on its own needs no stopping.
        failed.next(
            sfn.Pass(
                self.scope, "Batch job ended", result=sfn.Result.from_boolean(True), result_path="$.batch_job.finished"
            )
        ).next(self.failure_entry)
        collect = self._invoke(
            "Collect batch queries",
            self.r.generate_queries,
            {
                "action": "collect_batch",
                "run_id": RUN_ID,
                "output_uri": sfn.JsonPath.string_at("$.batch.output_uri"),
                "queries_per_document": sfn.JsonPath.number_at("$.queries_per_document"),
                "min_success_fraction": sfn.JsonPath.number_at("$.batch_min_success_fraction"),
            },
            "$.generation",
        )
        finished = sfn.Pass(
            self.scope,
            "Batch inference finished",
            result=sfn.Result.from_boolean(True),
            result_path="$.batch_job.finished",
        )
        status = (
            sfn.Choice(self.scope, "Batch inference done?")
            .when(
                sfn.Condition.or_(*[sfn.Condition.string_equals("$.batch_job.status", s) for s in BATCH_DONE]), finished
            )
            .when(
                sfn.Condition.or_(*[sfn.Condition.string_equals("$.batch_job.status", s) for s in BATCH_RUNNING]), wait
            )
            .otherwise(failed)
        )
        finished.next(collect).next(then)
        prepare.next(start).next(wait)
        wait.next(check).next(status)
        return prepare

    # Part 2: train, prove it is better, deploy, register ------------------------------------------------------------
    def _sagemaker(
        self,
        name: str,
        action: str,
        parameters: dict,
        resource_types: list[str],
        extra_statements: list[iam.PolicyStatement] | None = None,
        **kwargs: Any,
    ) -> tasks.CallAwsService:
        arns = {
            "model": self._sagemaker_arn("model/*"),
            "endpoint-config": self._sagemaker_arn("endpoint-config/*"),
            "endpoint": self._sagemaker_arn(f"endpoint/{self.r.sagemaker.endpoint_name_prefix}*"),
        }
        resources = [arns[kind] for kind in resource_types] or ["*"]
        # A Create* call that carries Tags is also authorized as sagemaker:AddTags on the new resource, narrowed to
        # that call by sagemaker:TaggingAction = the create action's name
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/security_iam_id-based-policy-examples.html#grant-tagging-permissions).
        tagging = [
            iam.PolicyStatement(
                actions=["sagemaker:AddTags"],
                resources=resources[:1],
                conditions={"StringEquals": {"sagemaker:TaggingAction": action[0].upper() + action[1:]}},
            )
        ]
        statements = [
            *(tagging if action.startswith("create") and "Tags" in parameters else []),
            *(extra_statements or []),
        ]
        task = tasks.CallAwsService(
            self.scope,
            name,
            service="sagemaker",
            action=action,
            parameters=parameters,
            iam_resources=resources,
            additional_iam_statements=statements or None,
            **kwargs,
        )
        return retry_transient(task, [*TRANSIENT_SDK_ERRORS, "SageMaker.ThrottlingException"])

    def _sagemaker_arn(self, resource: str) -> str:
        return f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"

    def _run_uri(self, suffix: str) -> str:
        return sfn.JsonPath.format(f"s3://{self.r.artifacts_bucket_name}/runs/{{}}/{suffix}", RUN_ID)

    def _training(self) -> sfn.CustomState:
        sm = self.r.sagemaker
        channel = {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri.$": self._run_uri("pairs/"),
                    "S3DataDistributionType": "FullyReplicated",
                }
            }
        }
        text = "States.Format('{{}}', $.{})".format
        parameters: dict[str, Any] = {
            "TrainingJobName.$": "$.names.resource_name",
            "RoleArn": sm.training_role_arn,
            "AlgorithmSpecification": {"TrainingImage": sm.training_image_uri, "TrainingInputMode": "File"},
            "HyperParameters": {
                "sagemaker_program": TRAINING_PROGRAM,
                "sagemaker_submit_directory": sm.code_uri,
                "model_name_or_path.$": "$.base_model_id",
                "epochs.$": text("epochs"),
                "batch_size.$": text("batch_size"),
                "mini_batch_size.$": text("mini_batch_size"),
                "learning_rate.$": text("learning_rate"),
                "hard_negatives.$": text("hard_negatives"),
                "hard_negative_margin.$": text("hard_negative_margin"),
                "round_trip_top_k.$": text("round_trip_top_k"),
                "seed.$": text("sample_seed"),
            },
            "InputDataConfig": [{"ChannelName": "train", **channel}, {"ChannelName": "eval", **channel}],
            "OutputDataConfig": {"S3OutputPath.$": self._run_uri("training/"), "KmsKeyId": self.r.encryption_key_arn},
            "ResourceConfig": {
                "InstanceType": sm.training_instance_type,
                "InstanceCount": 1,
                "VolumeSizeInGB": sm.training_volume_gib,
                **({"VolumeKmsKeyId": sm.training_volume_kms_key_arn} if sm.training_volume_kms_key_arn else {}),
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": sm.max_training_hours * 3600},
            "EnableInterContainerTrafficEncryption": True,
            # run_tags in raw ASL (a CustomState): the run ID as a ".$" path instead of a JsonPath token
            "Tags": [{"Key": key, "Value": value} for key, value in sm.tags.items()]
            + [{"Key": TAG_RUN_ID, "Value.$": "$$.Execution.Name"}],
        }
        if sm.spot_training:
            parameters["EnableManagedSpotTraining"] = True
            parameters["StoppingCondition"]["MaxWaitTimeInSeconds"] = 2 * sm.max_training_hours * 3600
            # SageMaker syncs LocalPath to S3Uri and restores it when it restarts an interrupted spot job; train.py
            # saves there and resumes from it (https://docs.aws.amazon.com/sagemaker/latest/dg/model-checkpoints.html).
            parameters["CheckpointConfig"] = {
                "S3Uri.$": self._run_uri("checkpoints/"),
                "LocalPath": CHECKPOINT_LOCAL_PATH,
            }
            parameters["HyperParameters"]["checkpoint_dir"] = CHECKPOINT_LOCAL_PATH
        training = sfn.CustomState(
            self.scope,
            "Train embedding model",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:createTrainingJob.sync",
                "Parameters": parameters,
                "ResultSelector": {
                    "job_name.$": "$.TrainingJobName",
                    "status.$": "$.TrainingJobStatus",
                    "model_artifacts_uri.$": "$.ModelArtifacts.S3ModelArtifacts",
                },
                "ResultPath": "$.training",
            },
        )
        # The .sync integration fails with States.TaskFailed and the job's description as the cause; the run
        # reports it under a name of its own (Fail states cannot use the reserved States.* names).
        failed = sfn.Pass(
            self.scope,
            "Training job failed",
            parameters={
                "Error": "TrainingJobFailed",
                "Cause": sfn.JsonPath.format(
                    "training job {} did not complete: {}",
                    sfn.JsonPath.string_at("$.names.resource_name"),
                    sfn.JsonPath.string_at("$.error.Cause"),
                ),
            },
            result_path="$.error",
        )
        failed.next(self.failure_entry)
        training.add_catch(failed, errors=["States.TaskFailed"], result_path="$.error")
        training.add_catch(self.failure_entry, result_path="$.error")
        return training

    def training_statements(self) -> list[iam.PolicyStatement]:
        """What the state machine's role needs for the .sync training task (CustomState gets no generated policy)."""
        sm = self.r.sagemaker
        jobs = self._sagemaker_arn("training-job/*")
        return [
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=[jobs],
            ),
            # The Step Functions guide's policy for createTrainingJob.sync grants ListTags on "*"
            # (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html).
            iam.PolicyStatement(actions=["sagemaker:ListTags"], resources=["*"]),
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{TRAINING_EVENTS_RULE}"],
            ),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[sm.training_role_arn, sm.inference_role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
        ]

    def _not_improved(self) -> sfn.IChainable:
        notify = tasks.SnsPublish(
            self.scope,
            "Notify not improved",
            topic=self.r.topic,
            subject="Modelsmith retrieval pipeline: the fine-tuned model is not better",
            message=sfn.TaskInput.from_object(
                {
                    "workflow": "retrieval-pipeline",
                    "run_id": RUN_ID,
                    "status": "NOT_IMPROVED",
                    "model_name": sfn.JsonPath.string_at("$.model_name"),
                    "gate": sfn.JsonPath.object_at("$.evaluation.gate"),
                    "report_uri": sfn.JsonPath.string_at("$.evaluation.metrics_uri"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(notify, TRANSIENT_SDK_ERRORS)
        summary = sfn.Pass(
            self.scope,
            "Summarize run (not improved)",
            parameters={
                **self._summary_fields(),
                "status": "not_improved",
                "reason": sfn.JsonPath.string_at("$.evaluation.gate.reason"),
            },
        )
        return notify.next(summary)

    def _summary_fields(self) -> dict[str, Any]:
        return {
            "run_id": RUN_ID,
            "model_name": sfn.JsonPath.string_at("$.model_name"),
            "generation_mode": sfn.JsonPath.string_at("$.plan.mode"),
            "corpus": sfn.JsonPath.object_at("$.corpus"),
            "pairs": sfn.JsonPath.object_at("$.pairs"),
            "training_job": sfn.JsonPath.string_at("$.training.job_name"),
            "cost_estimate": sfn.JsonPath.object_at("$.cost_estimate"),
            "metrics": {
                "base": sfn.JsonPath.object_at("$.evaluation.base"),
                "fine_tuned": sfn.JsonPath.object_at("$.evaluation.fine_tuned"),
                "difference": sfn.JsonPath.object_at("$.evaluation.difference"),
                "evaluations": sfn.JsonPath.object_at("$.evaluation.evaluations"),
            },
            "gate": sfn.JsonPath.object_at("$.evaluation.gate"),
            "report": {
                "metrics_uri": sfn.JsonPath.string_at("$.evaluation.metrics_uri"),
                "report_uri": sfn.JsonPath.string_at("$.evaluation.report_uri"),
                "plot_uri": sfn.JsonPath.string_at("$.evaluation.plot_uri"),
            },
        }

    def _endpoint_cleanup(self) -> sfn.IChainable:
        """Delete what this run created for serving (endpoint only if it created it), then the failure path."""

        def delete(name: str, action: str, parameters: dict, kind: str) -> tasks.CallAwsService:
            task = self._sagemaker(name, action, parameters, [kind], result_path=sfn.JsonPath.DISCARD)
            return task

        delete_model = delete(
            "Delete SageMaker model",
            "deleteModel",
            {"ModelName": sfn.JsonPath.string_at("$.names.resource_name")},
            "model",
        )
        delete_config = delete(
            "Delete endpoint config",
            "deleteEndpointConfig",
            {"EndpointConfigName": sfn.JsonPath.string_at("$.names.resource_name")},
            "endpoint-config",
        )
        delete_endpoint = delete(
            "Delete endpoint",
            "deleteEndpoint",
            {"EndpointName": sfn.JsonPath.string_at("$.names.endpoint_name")},
            "endpoint",
        )
        # Best effort: a failed deletion is recorded, and the run still reports the error that stopped it.
        for task in (delete_endpoint, delete_config, delete_model):
            task.add_catch(self.failure_entry, result_path="$.cleanup_error")
        delete_endpoint.next(delete_config)
        delete_config.next(delete_model)
        delete_model.next(self.failure_entry)
        self.delete_model_entry = delete_model
        return (
            sfn.Choice(self.scope, "Endpoint created by this run?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.endpoint.created"),
                    sfn.Condition.boolean_equals("$.endpoint.created", True),
                ),
                delete_endpoint,
            )
            .otherwise(delete_config)
        )

    def _deploy(self, then: sfn.IChainable) -> sfn.IChainable:
        sm = self.r.sagemaker
        tags = run_tags(self.r.sagemaker.tags)
        create_model = self._sagemaker(
            "Create SageMaker model",
            "createModel",
            {
                "ModelName": sfn.JsonPath.string_at("$.names.resource_name"),
                "ExecutionRoleArn": sm.inference_role_arn,
                "PrimaryContainer": {
                    "Image": sm.inference_image_uri,
                    "ModelDataUrl": sfn.JsonPath.string_at("$.training.model_artifacts_uri"),
                    "Environment": {"SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": Aws.REGION},
                },
                "Tags": tags,
            },
            ["model"],
            result_selector={"arn": sfn.JsonPath.string_at("$.ModelArn")},
            result_path="$.sagemaker_model",
        )
        create_model.add_catch(self.failure_entry, result_path="$.error")

        if sm.endpoint_instance_type == "serverless":
            variant: dict[str, Any] = {
                "ServerlessConfig": {
                    "MemorySizeInMB": sm.serverless_memory_mib,
                    "MaxConcurrency": sm.serverless_max_concurrency,
                }
            }
        else:
            variant = {"InstanceType": sm.endpoint_instance_type, "InitialInstanceCount": 1}
        config_parameters: dict[str, Any] = {
            "EndpointConfigName": sfn.JsonPath.string_at("$.names.resource_name"),
            "ProductionVariants": [
                {"VariantName": "AllTraffic", "ModelName": sfn.JsonPath.string_at("$.names.resource_name"), **variant}
            ],
            "Tags": tags,
        }
        if sm.endpoint_kms_key_arn:
            config_parameters["KmsKeyId"] = sm.endpoint_kms_key_arn
        create_config = self._sagemaker(
            "Create endpoint config",
            "createEndpointConfig",
            config_parameters,
            ["endpoint-config"],
            result_path=sfn.JsonPath.DISCARD,
        )

        cleanup = self._endpoint_cleanup()
        create_config.add_catch(self.delete_model_entry, result_path="$.error")

        # ListEndpoints has no resource-level permissions: "*".
        look = self._sagemaker(
            "Look for the endpoint",
            "listEndpoints",
            {
                "NameContains": sfn.JsonPath.string_at("$.names.endpoint_name"),
                "MaxResults": 100,
            },
            [],
            result_selector={"names": sfn.JsonPath.list_at("$.Endpoints[*].EndpointName")},
            result_path="$.existing",
        )
        look.add_catch(cleanup, result_path="$.error")
        exists = sfn.Pass(
            self.scope,
            "Endpoint exists?",
            parameters={
                "found": sfn.JsonPath.array_contains(
                    sfn.JsonPath.list_at("$.existing.names"), sfn.JsonPath.string_at("$.names.endpoint_name")
                ),
            },
            result_path="$.existing",
        )
        endpoint_resources = ["endpoint", "endpoint-config"]
        # An endpoint whose config names a KmsKeyId: the caller of CreateEndpoint/UpdateEndpoint lets SageMaker create a
        # grant on the key ("kms:CreateGrant ... required only if the associated EndPointConfig has a KmsKeyId",
        # https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html).
        key_statements = (
            []
            if not sm.endpoint_kms_key_arn
            else [
                iam.PolicyStatement(
                    actions=["kms:CreateGrant"],
                    resources=[sm.endpoint_kms_key_arn],
                    conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
                ),
                iam.PolicyStatement(actions=["kms:DescribeKey"], resources=[sm.endpoint_kms_key_arn]),
            ]
        )
        create_endpoint = self._sagemaker(
            "Create endpoint",
            "createEndpoint",
            {
                "EndpointName": sfn.JsonPath.string_at("$.names.endpoint_name"),
                "EndpointConfigName": sfn.JsonPath.string_at("$.names.resource_name"),
                "Tags": tags,
            },
            endpoint_resources,
            key_statements,
            result_selector={"arn": sfn.JsonPath.string_at("$.EndpointArn"), "created": True},
            result_path="$.endpoint",
        )
        update_endpoint = self._sagemaker(
            "Update endpoint in place",
            "updateEndpoint",
            {
                "EndpointName": sfn.JsonPath.string_at("$.names.endpoint_name"),
                "EndpointConfigName": sfn.JsonPath.string_at("$.names.resource_name"),
            },
            endpoint_resources,
            key_statements,
            result_selector={"arn": sfn.JsonPath.string_at("$.EndpointArn"), "created": False},
            result_path="$.endpoint",
        )
        for task in (create_endpoint, update_endpoint):
            task.add_catch(cleanup, result_path="$.error")

        wait = sfn.Wait(self.scope, "Wait for the endpoint", time=sfn.WaitTime.duration(self.r.endpoint_poll_interval))
        describe = self._sagemaker(
            "Get endpoint status",
            "describeEndpoint",
            {
                "EndpointName": sfn.JsonPath.string_at("$.names.endpoint_name"),
            },
            ["endpoint"],
            result_path="$.endpoint_status",
        )
        describe.add_catch(cleanup, result_path="$.error")
        failed = sfn.Pass(
            self.scope,
            "Endpoint deployment failed",
            parameters={
                "Error": "EndpointDeploymentFailed",
                "Cause": sfn.JsonPath.format(
                    "endpoint {} did not come into service with config {}: {}",
                    sfn.JsonPath.string_at("$.names.endpoint_name"),
                    sfn.JsonPath.string_at("$.names.resource_name"),
                    sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.endpoint_status")),
                ),
            },
            result_path="$.error",
        )
        failed.next(cleanup)
        in_service = sfn.Condition.string_equals("$.endpoint_status.EndpointStatus", "InService")
        status = (
            sfn.Choice(self.scope, "Endpoint in service?")
            .when(
                sfn.Condition.and_(
                    in_service,
                    sfn.Condition.string_equals_json_path(
                        "$.endpoint_status.EndpointConfigName", "$.names.resource_name"
                    ),
                ),
                then,
            )
            # In service with another config: the update failed and SageMaker rolled the endpoint back.
            .when(in_service, failed)
            .when(
                sfn.Condition.or_(
                    *[sfn.Condition.string_equals("$.endpoint_status.EndpointStatus", s) for s in ENDPOINT_BUSY]
                ),
                wait,
            )
            .otherwise(failed)
        )
        choose = (
            sfn.Choice(self.scope, "Create or update the endpoint?")
            .when(sfn.Condition.boolean_equals("$.existing.found", True), update_endpoint)
            .otherwise(create_endpoint)
        )
        create_endpoint.next(wait)
        update_endpoint.next(wait)
        wait.next(describe).next(status)
        create_model.next(create_config).next(look).next(exists).next(choose)
        return create_model

    def _register(self) -> sfn.Parallel:
        r = self.r
        common = {
            "run_id": RUN_ID,
            "model_name": sfn.JsonPath.string_at("$.model_name"),
            "endpoint_name": sfn.JsonPath.string_at("$.names.endpoint_name"),
            "embedding_dimension": sfn.JsonPath.number_at("$.embedding_dimension"),
            "region": Aws.REGION,
        }
        opensearch = self._invoke_plain(
            "Register in OpenSearch ML Commons",
            r.register_model,
            {
                **common,
                "action": "opensearch",
                "ml_commons": sfn.JsonPath.object_at("$.ml_commons"),
                "connector_role_arn": r.connector_role_arn,
            },
        )
        pinecone = self._invoke_plain(
            "Index the corpus in Pinecone",
            r.register_model,
            {
                **common,
                "action": "pinecone",
                "pinecone": sfn.JsonPath.object_at("$.pinecone"),
                "corpus_uri": sfn.JsonPath.string_at("$.corpus.corpus_uri"),
                "api_key_secret_name": r.pinecone_secret_name,
            },
        )
        parallel = sfn.Parallel(
            self.scope,
            "Register model",
            result_selector={
                "opensearch": sfn.JsonPath.object_at("$[0]"),
                "pinecone": sfn.JsonPath.object_at("$[1]"),
            },
            result_path="$.registration",
        )
        for target, task in (("opensearch", opensearch), ("pinecone", pinecone)):
            skip = sfn.Pass(self.scope, f"Skip {target}", result=sfn.Result.from_object({"skipped": True}))
            parallel.branch(
                sfn.Choice(self.scope, f"Register in {target}?")
                .when(sfn.Condition.boolean_equals(f"$.targets.{target}", True), task)
                .otherwise(skip)
            )
        parallel.add_catch(self.failure_entry, result_path="$.error")
        return parallel

    def _invoke_plain(self, name: str, function: lambda_.IFunction, payload: dict) -> tasks.LambdaInvoke:
        """A Lambda step inside a branch: retried, its errors caught by the enclosing state."""
        task = tasks.LambdaInvoke(
            self.scope,
            name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=False,
        )
        return retry_transient(task, TRANSIENT_LAMBDA_ERRORS)

    # The happy path ----------------------------------------------------------------------------------------------
    def build(self) -> sfn.IChainable:
        r = self.r
        validate = validate_input_task(self.scope, validator=r.validator, schema_name=SCHEMA_NAME)
        validate.add_catch(self.failure_entry, result_path="$.error")
        extract = self._invoke(
            "Extract corpus",
            r.extract_corpus,
            {
                "run_id": RUN_ID,
                "input": sfn.JsonPath.entire_payload,
            },
            "$.corpus",
        )
        plan = self._invoke(
            "Plan query generation",
            r.generate_queries,
            {
                "action": "plan",
                "run_id": RUN_ID,
                "documents": sfn.JsonPath.number_at("$.corpus.documents"),
                "generation_mode": sfn.JsonPath.string_at("$.generation_mode"),
            },
            "$.plan",
        )
        pairs = self._invoke(
            "Build training pairs",
            r.build_pairs,
            {
                "run_id": RUN_ID,
                "corpus_uri": sfn.JsonPath.string_at("$.corpus.corpus_uri"),
                "queries_prefix": sfn.JsonPath.format(f"s3://{r.artifacts_bucket_name}/runs/{{}}/queries/", RUN_ID),
                "eval_fraction": 0.2,
                "seed": sfn.JsonPath.number_at("$.sample_seed"),
                "query_filter": sfn.JsonPath.string_at("$.query_filter"),
            },
            "$.pairs",
        )
        names = sfn.Pass(
            self.scope,
            "Name run resources",
            parameters={
                # Training job, model and endpoint config: <model_name>-<8 hex>; the endpoint is the model's own.
                "resource_name": sfn.JsonPath.format(
                    "{}-{}",
                    sfn.JsonPath.string_at("$.model_name"),
                    sfn.JsonPath.array_get_item(sfn.JsonPath.string_split(sfn.JsonPath.uuid(), "-"), 0),
                ),
                "endpoint_name": sfn.JsonPath.format(
                    f"{r.sagemaker.endpoint_name_prefix}{{}}", sfn.JsonPath.string_at("$.model_name")
                ),
            },
            result_path="$.names",
        )
        targets = sfn.Pass(
            self.scope,
            "Choose registration targets",
            parameters={
                target: sfn.JsonPath.array_contains(sfn.JsonPath.list_at("$.register_targets"), target)
                for target in ("opensearch", "pinecone")
            },
            result_path="$.targets",
        )
        report = self._invoke(
            "Publish training report",
            r.publish_report,
            {
                "run_id": RUN_ID,
                "model_artifacts_uri": sfn.JsonPath.string_at("$.training.model_artifacts_uri"),
                "gate": sfn.JsonPath.string_at("$.gate"),
                "min_ndcg_gain": sfn.JsonPath.number_at("$.min_ndcg_gain"),
            },
            "$.evaluation",
        )
        # The decision is the report function's (quality_gate.decide, which the dry run calls too).
        gate = (
            sfn.Choice(self.scope, "Better than the base model?")
            .when(sfn.Condition.boolean_equals("$.evaluation.gate.passed", True), self._deploy_and_register())
            .otherwise(self._not_improved())
        )
        pairs.next(names).next(targets).next(self._training()).next(report).next(gate)
        mode = (
            sfn.Choice(self.scope, "Batch or on-demand?")
            .when(sfn.Condition.string_equals("$.plan.mode", "batch"), self._batch(pairs))
            .otherwise(self._on_demand().next(pairs))
        )
        validate.next(cost_estimate_task(self.scope, estimator=r.estimate_cost, workflow=WORKFLOW, then=extract))
        extract.next(plan).next(mode)
        return validate

    def _deploy_and_register(self) -> sfn.IChainable:
        r = self.r
        register = self._register()
        notify = tasks.SnsPublish(
            self.scope,
            "Notify success",
            topic=r.topic,
            subject="Modelsmith retrieval pipeline deployed a model",
            message=sfn.TaskInput.from_object(
                {
                    "workflow": "retrieval-pipeline",
                    "run_id": RUN_ID,
                    "status": "SUCCEEDED",
                    "model_name": sfn.JsonPath.string_at("$.model_name"),
                    "endpoint_name": sfn.JsonPath.string_at("$.names.endpoint_name"),
                    "ndcg_at_10_gain": sfn.JsonPath.number_at("$.evaluation.ndcg_at_10_gain"),
                    "gate": sfn.JsonPath.object_at("$.evaluation.gate"),
                    "report_uri": sfn.JsonPath.string_at("$.evaluation.metrics_uri"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(notify, TRANSIENT_SDK_ERRORS)
        summary = sfn.Pass(
            self.scope,
            "Summarize run",
            parameters={
                **self._summary_fields(),
                "status": "deployed",
                "endpoint_name": sfn.JsonPath.string_at("$.names.endpoint_name"),
                "endpoint_updated_in_place": sfn.JsonPath.string_at("$.existing.found"),
                "sagemaker_model": sfn.JsonPath.string_at("$.names.resource_name"),
                "registration": sfn.JsonPath.object_at("$.registration"),
            },
        )
        register.next(notify).next(summary)
        return self._deploy(register)


def build_definition(
    scope: Construct, resources: RetrievalPipelineResources
) -> tuple[sfn.IChainable, list[iam.PolicyStatement]]:
    """The workflow's definition (its first state), for a ``StateMachine`` in ``scope``, and the statements its
    role needs beyond what CDK generates (the .sync training task)."""
    builder = _Builder(scope, resources)
    return builder.build(), builder.training_statements()


def abort_cleanup_permissions() -> list[Permission]:
    """What the clean-up of an aborted run stops: its batch inference job and its training job."""
    return [
        Permission(
            ["bedrock:StopModelInvocationJob"],
            [arn("bedrock", "model-invocation-job/*")],
            why="The run's batch job is named after the execution.",
        ),
        Permission(
            ["bedrock:ListModelInvocationJobs", "sagemaker:ListTrainingJobs"],
            ["*"],
            why="bedrock:ListModelInvocationJobs and sagemaker:ListTrainingJobs have no resource-level permissions.",
        ),
        Permission(
            ["sagemaker:ListTags", "sagemaker:StopTrainingJob"],
            [arn("sagemaker", "training-job/*")],
            why="The run's training job is named at run time and found by its modelsmith:run-id tag.",
        ),
    ]


def task_resource_reasons(endpoint_prefix: str) -> dict[str, str]:
    """Why the workflow's own tasks (CDK's service integrations) name wildcard resources, by resource."""
    jobs_reason = "Training jobs, models and endpoint configs are named <model_name>-<id> at run time; tagged per run."
    models = invoke_bedrock_models()
    endpoints = invoke_endpoints(endpoint_prefix)
    return {
        arn("bedrock", "model-invocation-job/*"): "Batch job names are made from the execution name at run time.",
        **{resource: models.why for resource in models.resources},
        endpoints.resources[0]: endpoints.why,
        **{arn("sagemaker", f"{kind}/*"): jobs_reason for kind in ("training-job", "model", "endpoint-config")},
    }
