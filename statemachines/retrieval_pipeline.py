"""The retrieval fine-tuning pipeline, part 1: validated input → corpus → Bedrock-generated queries → pairs.

Validate input → Extract corpus → Plan query generation → (on-demand: Generate queries, one Lambda per
shard in a bounded Map | batch: Prepare batch records → Start batch inference job → follow it → Collect batch
queries) → Build training pairs → Notify → output.

On any failure: stop the batch inference job if one was started, notify, and fail with a readable cause.
Only S3 URIs, IDs and counts pass between states; everything a run writes is under
``s3://<artifacts>/runs/<execution-name>/``. Part 2 (training, evaluation, deployment) continues from
``$.pairs``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from statemachines.common import (
    BEDROCK_TRANSIENT_ERRORS,
    TRANSIENT_LAMBDA_ERRORS,
    TRANSIENT_SDK_ERRORS,
    retry_transient,
    validate_input_task,
)

SCHEMA_NAME = "retrieval_pipeline"
RUN_ID = sfn.JsonPath.string_at("$$.Execution.Name")
BATCH_RUNNING = ["Submitted", "Validating", "Scheduled", "InProgress", "Stopping", "PartiallyCompleted"]


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
    poll_interval: Duration = Duration.minutes(2)
    generation_concurrency: int = 4


class _Builder:
    def __init__(self, scope: Construct, resources: RetrievalPipelineResources) -> None:
        self.scope = scope
        self.r = resources
        self.failure_entry = self._failure_path()

    def _invoke(self, name: str, function: lambda_.IFunction, payload: dict, result_path: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self.scope, name, lambda_function=function, payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True, retry_on_service_exceptions=False, result_path=result_path,
        )  # fmt: skip
        retry_transient(task, TRANSIENT_LAMBDA_ERRORS)
        task.add_catch(self.failure_entry, result_path="$.error")
        return task

    def _bedrock(self, name: str, action: str, parameters: dict, iam_resources: list[str], **kwargs) -> tasks.CallAwsService:
        task = tasks.CallAwsService(
            self.scope, name, service="bedrock", action=action, parameters=parameters,
            iam_resources=iam_resources, **kwargs,
        )  # fmt: skip
        return retry_transient(task, BEDROCK_TRANSIENT_ERRORS)

    def _job_arns(self) -> list[str]:
        return [f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-invocation-job/*"]

    # Failure path ------------------------------------------------------------------------------------------------
    def _failure_path(self) -> sfn.IChainable:
        fail = sfn.Fail(self.scope, "Run failed", error_path="$.error.Error", cause_path="$.error.Cause")
        notify = tasks.SnsPublish(
            self.scope, "Notify failure", topic=self.r.topic, subject="Modelsmith retrieval pipeline failed",
            message=sfn.TaskInput.from_object({
                "workflow": "retrieval-pipeline", "run_id": RUN_ID, "status": "FAILED",
                "error": sfn.JsonPath.string_at("$.error.Error"), "cause": sfn.JsonPath.string_at("$.error.Cause"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        )  # fmt: skip
        retry_transient(notify, TRANSIENT_SDK_ERRORS)
        notify.add_catch(fail, result_path="$.notify_error")
        notify.next(fail)
        stop_batch = self._bedrock(
            "Stop batch inference job", "stopModelInvocationJob",
            {"JobIdentifier": sfn.JsonPath.string_at("$.batch_job.job_arn")}, self._job_arns(),
            result_path=sfn.JsonPath.DISCARD,
        )  # fmt: skip
        stop_batch.add_catch(notify, result_path="$.stop_error")
        stop_batch.next(notify)
        return (
            sfn.Choice(self.scope, "Batch job started?")
            .when(sfn.Condition.and_(sfn.Condition.is_present("$.batch_job.job_arn"),
                                     sfn.Condition.is_not_present("$.batch_job.finished")), stop_batch)
            .otherwise(notify)
        )  # fmt: skip

    # On-demand and batch generation ------------------------------------------------------------------------------------
    def _on_demand(self) -> sfn.Map:
        generate = tasks.LambdaInvoke(
            self.scope, "Generate queries for a shard", lambda_function=self.r.generate_queries,
            payload=sfn.TaskInput.from_object({
                "action": "generate",
                "run_id": sfn.JsonPath.string_at("$.run_id"),
                "corpus_uri": sfn.JsonPath.string_at("$.corpus_uri"),
                "shard": sfn.JsonPath.object_at("$.shard"),
                "queries_per_document": sfn.JsonPath.number_at("$.queries_per_document"),
                "bedrock_model_id": sfn.JsonPath.string_at("$.bedrock_model_id"),
                "prompt_template": sfn.JsonPath.string_at("$.prompt_template"),
            }),
            payload_response_only=True, retry_on_service_exceptions=False,
        )  # fmt: skip
        retry_transient(generate, TRANSIENT_LAMBDA_ERRORS)
        shards = sfn.Map(
            self.scope, "Generate queries (on-demand)",
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
        )  # fmt: skip
        shards.item_processor(generate)
        shards.add_catch(self.failure_entry, result_path="$.error")
        return shards

    def _batch(self, then: sfn.IChainable) -> sfn.IChainable:
        prepare = self._invoke("Prepare batch records", self.r.generate_queries, {
            "action": "prepare_batch", "run_id": RUN_ID,
            "corpus_uri": sfn.JsonPath.string_at("$.corpus.corpus_uri"),
            "queries_per_document": sfn.JsonPath.number_at("$.queries_per_document"),
            "bedrock_model_id": sfn.JsonPath.string_at("$.bedrock_model_id"),
            "prompt_template": sfn.JsonPath.string_at("$.prompt_template"),
        }, "$.batch")  # fmt: skip
        start = self._bedrock(
            "Start batch inference job", "createModelInvocationJob",
            {
                "JobName": sfn.JsonPath.format("modelsmith-{}", RUN_ID),
                "RoleArn": self.r.batch_role.role_arn,
                "ModelId": sfn.JsonPath.string_at("$.bedrock_model_id"),
                "InputDataConfig": {"S3InputDataConfig": {"S3Uri": sfn.JsonPath.string_at("$.batch.input_uri"),
                                                          "S3InputFormat": "JSONL"}},
                "OutputDataConfig": {"S3OutputDataConfig": {"S3Uri": sfn.JsonPath.string_at("$.batch.output_uri"),
                                                            "S3EncryptionKeyId": self.r.encryption_key_arn}},
                "TimeoutDurationInHours": 72,
                "ClientRequestToken": RUN_ID,
            },
            [*self._job_arns(), f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/*",
             f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/*"],
            result_selector={"job_arn": sfn.JsonPath.string_at("$.JobArn")},
            result_path="$.batch_job",
        )  # fmt: skip
        start.add_catch(self.failure_entry, result_path="$.error")
        self.batch_start_task = start
        wait = sfn.Wait(self.scope, "Wait for batch inference", time=sfn.WaitTime.duration(self.r.poll_interval))
        check = self._bedrock(
            "Get batch inference status", "getModelInvocationJob",
            {"JobIdentifier": sfn.JsonPath.string_at("$.batch_job.job_arn")}, self._job_arns(),
            result_selector={"job_arn": sfn.JsonPath.string_at("$.JobArn"), "status": sfn.JsonPath.string_at("$.Status")},
            result_path="$.batch_job",
        )  # fmt: skip
        check.add_catch(self.failure_entry, result_path="$.error")
        failed = sfn.Pass(
            self.scope, "Batch inference failed",
            parameters={
                "Error": "BatchInferenceFailed",
                "Cause": sfn.JsonPath.format("batch inference job {} ended {}; see its details in the Bedrock console",
                                             sfn.JsonPath.string_at("$.batch_job.job_arn"),
                                             sfn.JsonPath.string_at("$.batch_job.status")),
            },
            result_path="$.error",
        )  # fmt: skip
        # A job that ended on its own needs no stopping.
        failed.next(sfn.Pass(self.scope, "Batch job ended", result=sfn.Result.from_boolean(True),
                             result_path="$.batch_job.finished")).next(self.failure_entry)
        collect = self._invoke("Collect batch queries", self.r.generate_queries, {
            "action": "collect_batch", "run_id": RUN_ID,
            "output_uri": sfn.JsonPath.string_at("$.batch.output_uri"),
            "queries_per_document": sfn.JsonPath.number_at("$.queries_per_document"),
        }, "$.generation")  # fmt: skip
        finished = sfn.Pass(self.scope, "Batch inference finished", result=sfn.Result.from_boolean(True),
                            result_path="$.batch_job.finished")  # fmt: skip
        status = (
            sfn.Choice(self.scope, "Batch inference done?")
            .when(sfn.Condition.string_equals("$.batch_job.status", "Completed"), finished)
            .when(sfn.Condition.or_(*[sfn.Condition.string_equals("$.batch_job.status", s) for s in BATCH_RUNNING]), wait)
            .otherwise(failed)
        )  # fmt: skip
        finished.next(collect).next(then)
        prepare.next(start).next(wait)
        wait.next(check).next(status)
        return prepare

    # The happy path ----------------------------------------------------------------------------------------------
    def build(self) -> sfn.IChainable:
        r = self.r
        validate = validate_input_task(self.scope, validator=r.validator, schema_name=SCHEMA_NAME)
        validate.add_catch(self.failure_entry, result_path="$.error")
        extract = self._invoke("Extract corpus", r.extract_corpus, {
            "run_id": RUN_ID, "input": sfn.JsonPath.entire_payload,
        }, "$.corpus")  # fmt: skip
        plan = self._invoke("Plan query generation", r.generate_queries, {
            "action": "plan", "run_id": RUN_ID,
            "documents": sfn.JsonPath.number_at("$.corpus.documents"),
            "generation_mode": sfn.JsonPath.string_at("$.generation_mode"),
        }, "$.plan")  # fmt: skip
        pairs = self._invoke("Build training pairs", r.build_pairs, {
            "run_id": RUN_ID,
            "corpus_uri": sfn.JsonPath.string_at("$.corpus.corpus_uri"),
            "queries_prefix": sfn.JsonPath.format(f"s3://{r.artifacts_bucket_name}/runs/{{}}/queries/", RUN_ID),
            "eval_fraction": 0.2,
            "seed": sfn.JsonPath.number_at("$.sample_seed"),
        }, "$.pairs")  # fmt: skip
        notify = tasks.SnsPublish(
            self.scope, "Notify success", topic=r.topic, subject="Modelsmith retrieval pipeline succeeded",
            message=sfn.TaskInput.from_object({
                "workflow": "retrieval-pipeline", "run_id": RUN_ID, "status": "SUCCEEDED",
                "model_name": sfn.JsonPath.string_at("$.model_name"),
                "train_pairs": sfn.JsonPath.number_at("$.pairs.train_pairs"),
                "eval_pairs": sfn.JsonPath.number_at("$.pairs.eval_pairs"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        )  # fmt: skip
        retry_transient(notify, TRANSIENT_SDK_ERRORS)
        summary = sfn.Pass(
            self.scope, "Summarize run",
            parameters={
                "run_id": RUN_ID,
                "status": "SUCCEEDED",
                "model_name": sfn.JsonPath.string_at("$.model_name"),
                "generation_mode": sfn.JsonPath.string_at("$.plan.mode"),
                "corpus": sfn.JsonPath.object_at("$.corpus"),
                "pairs": sfn.JsonPath.object_at("$.pairs"),
            },
        )  # fmt: skip
        pairs.next(notify).next(summary)
        mode = (
            sfn.Choice(self.scope, "Batch or on-demand?")
            .when(sfn.Condition.string_equals("$.plan.mode", "batch"), self._batch(pairs))
            .otherwise(self._on_demand().next(pairs))
        )  # fmt: skip
        validate.next(extract).next(plan).next(mode)
        return validate


def build_definition(scope: Construct, resources: RetrievalPipelineResources) -> sfn.IChainable:
    """The workflow's definition (its first state), for a ``StateMachine`` in ``scope``."""
    return _Builder(scope, resources).build()
