"""RetrievalPipeline: the fine-tuning pipeline state machine, its functions and the batch-inference role."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from constructs.abort_cleanup import AbortCleanup
from constructs.compliance import INLINE_POLICY_REASON, acknowledge, nag_resource
from constructs.log_retention import retention_days
from constructs.parameter_tree import ParameterTree, bucket_from_tree
from constructs.python_function import PythonFunction
from constructs.run_access import RUNS_PREFIX, grant_run_prefix
from modelsmith.config import EnvironmentConfig
from stacks.foundation_stack import FoundationStack
from statemachines.common import validator_function
from statemachines.retrieval_pipeline import RetrievalPipelineResources, build_definition

class RetrievalPipelineStack(Stack):
    """Props: config, foundation (FoundationStack). ``poll_interval`` (default 2 minutes) sets how often a batch
    inference job is checked; tests shorten it. Exposes ``state_machine`` and ``functions`` (name -> Function).

    IAM: every function reads and writes only ``runs/*`` of the artifacts bucket (the run ID is chosen at run
    time, so ``runs/<execution-name>/`` cannot be named in a policy); extraction reads the data bucket and the
    OpenSearch domains of this account; generation invokes Bedrock foundation models and inference profiles.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        foundation: FoundationStack,
        poll_interval: Duration = Duration.minutes(2),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description=f"Modelsmith {config.name}: retrieval fine-tuning pipeline", **kwargs)
        self.add_stack_dependency(foundation)
        key = foundation.key
        log_retention = retention_days(config.log_retention_days)
        data_bucket = bucket_from_tree(self, "DataBucket", environment_name=config.name, key="data-bucket")
        artifacts_bucket = bucket_from_tree(self, "ArtifactsBucket", environment_name=config.name, key="artifacts-bucket")
        runs = artifacts_bucket.arn_for_objects(RUNS_PREFIX)

        def function(construct_id: str, source: str, description: str, **options: Any) -> PythonFunction:
            options.setdefault("shared_code", True)
            return PythonFunction(
                self, construct_id, source=source, description=description, encryption_key=key,
                log_retention=log_retention, environment={"ARTIFACTS_BUCKET": artifacts_bucket.bucket_name},
                **options,
            )  # fmt: skip

        validator = validator_function(self, "ValidateInput", description="Checks retrieval pipeline input against its schema",
                                       encryption_key=key, log_retention=log_retention)  # fmt: skip
        extract = function("ExtractCorpus", "extract_corpus", "Reads the corpus from S3 or OpenSearch into the run",
                           timeout=Duration.minutes(15), memory_size=1024)  # fmt: skip
        generate = function("GenerateQueries", "generate_queries", "Writes synthetic queries with Bedrock",
                            timeout=Duration.minutes(15), memory_size=512, reserved_concurrent_executions=8)  # fmt: skip
        pairs = function("BuildPairs", "build_pairs", "Joins queries and passages; splits train/eval by document",
                         timeout=Duration.minutes(5), memory_size=1024)  # fmt: skip
        self.functions = {"validate_input": validator.function, "extract_corpus": extract.function,
                          "generate_queries": generate.function, "build_pairs": pairs.function}  # fmt: skip

        for worker in (extract, generate, pairs):
            grant_run_prefix(worker.role, artifacts_bucket, key)
        extract.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[data_bucket.arn_for_objects("*")]))
        opensearch_domains = f"arn:{Aws.PARTITION}:es:{Aws.REGION}:{Aws.ACCOUNT_ID}:domain/*"
        extract.role.add_to_policy(iam.PolicyStatement(
            actions=["es:ESHttpGet", "es:ESHttpPost", "es:ESHttpDelete"], resources=[opensearch_domains, f"{opensearch_domains}/*"],
        ))  # fmt: skip
        opensearch_secrets = f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:secret:modelsmith/{config.name}/opensearch-*"
        extract.role.add_to_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[opensearch_secrets]))
        foundation_models = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/*"
        inference_profiles = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/*"
        generate.role.add_to_policy(iam.PolicyStatement(
            actions=["bedrock:InvokeModel"], resources=[foundation_models, inference_profiles],
        ))  # fmt: skip

        # Bedrock batch inference reads the run's records and writes its outputs with this role.
        batch_role = iam.Role(
            self, "BatchInferenceRole", description="Bedrock batch inference of the retrieval pipeline",
            assumed_by=iam.ServicePrincipal("bedrock.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-invocation-job/*"},
            }),
        )  # fmt: skip
        grant_run_prefix(batch_role, artifacts_bucket, key)
        batch_role.add_to_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=[foundation_models, inference_profiles]))

        workflow_logs = logs.LogGroup(self, "WorkflowLogs", encryption_key=key, retention=log_retention,
                                      removal_policy=RemovalPolicy.DESTROY)  # fmt: skip
        self.state_machine = sfn.StateMachine(
            self,
            "RetrievalPipeline",
            state_machine_name=f"Modelsmith-{config.name}-RetrievalPipeline",
            definition_body=sfn.DefinitionBody.from_chainable(build_definition(self, RetrievalPipelineResources(
                validator=validator.function,
                extract_corpus=extract.function,
                generate_queries=generate.function,
                build_pairs=pairs.function,
                batch_role=batch_role,
                artifacts_bucket_name=artifacts_bucket.bucket_name,
                encryption_key_arn=key.key_arn,
                topic=foundation.notifications_topic,
                poll_interval=poll_interval,
            ))),
            timeout=Duration.hours(96),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=workflow_logs, level=sfn.LogLevel.ALL, include_execution_data=True),
        )  # fmt: skip
        batch_role.grant_pass_role(self.state_machine)
        self.batch_role = batch_role

        self._acknowledge(runs, data_bucket, opensearch_domains, opensearch_secrets, foundation_models,
                          inference_profiles, extract, generate, pairs, batch_role)  # fmt: skip
        jobs = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-invocation-job/*"
        self.abort_cleanup = AbortCleanup(
            self, "AbortCleanup", state_machine=self.state_machine, workflow="retrieval-pipeline", encryption_key=key,
            log_retention=log_retention, topic=foundation.notifications_topic,
            permissions=[
                iam.PolicyStatement(actions=["bedrock:StopModelInvocationJob"], resources=[jobs]),
                # ListModelInvocationJobs has no resource-level permissions.
                iam.PolicyStatement(actions=["bedrock:ListModelInvocationJobs"], resources=["*"]),
            ],
        )  # fmt: skip
        acknowledge(self.abort_cleanup.function.role.node.find_child("DefaultPolicy"), {
            "AwsSolutions-IAM5[Resource::*]": (
                "X-Ray and bedrock:ListModelInvocationJobs have no resource-level permissions."
            ),
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, jobs)}]": "The run's batch job is named after the execution.",
        })  # fmt: skip

        tree = ParameterTree(self, "Parameters", environment_name=config.name)
        tree.publish("workflows", "retrieval-pipeline-state-machine-arn", self.state_machine.state_machine_arn,
                     description="Retrieval fine-tuning pipeline")  # fmt: skip
        tree.publish("retrieval-pipeline", "batch-inference-role-arn", batch_role.role_arn,
                     description="Role Bedrock batch inference uses for pipeline runs")  # fmt: skip

    def _acknowledge(self, runs: str, data_bucket: s3.IBucket, opensearch_domains: str, opensearch_secrets: str,
                     foundation_models: str, inference_profiles: str, extract: PythonFunction,
                     generate: PythonFunction, pairs: PythonFunction, batch_role: iam.Role) -> None:  # fmt: skip
        runs_id = f"AwsSolutions-IAM5[Resource::{nag_resource(self, runs)}]"
        runs_reason = "Each run reads and writes runs/<execution-name>/, a name chosen when the execution starts."
        models_reason = "The Bedrock model is chosen per run in the execution input (bedrock_model_id)."
        for worker in (extract, generate, pairs):
            acknowledge(worker.role.node.find_child("DefaultPolicy"), {runs_id: runs_reason})
        acknowledge(extract.role.node.find_child("DefaultPolicy"), {
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, data_bucket.arn_for_objects('*'))}]":
                "The corpus file is named per run (s3_corpus_path); read-only, the data bucket only.",
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, opensearch_domains)}]":
                "The OpenSearch domain is named per run (opensearch_endpoint); this account and region only.",
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, opensearch_domains)}/*]":
                "Index paths of the run's domain; read, search and point-in-time deletion only.",
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, opensearch_secrets)}]":
                "Basic-auth secrets of self-managed clusters, limited to the modelsmith/<env>/opensearch-* names.",
        })  # fmt: skip
        for principal in (generate.role, batch_role):
            acknowledge(principal.node.find_child("DefaultPolicy"), {
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, foundation_models)}]": models_reason,
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, inference_profiles)}]": models_reason,
            })  # fmt: skip
        acknowledge(batch_role.node.find_child("DefaultPolicy"), {
            runs_id: runs_reason, "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
        })  # fmt: skip
        function_ids = {
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, fn.function_arn)}:*]":
                "Versions and aliases of this one function (CDK's LambdaInvoke grants both forms)."
            for fn in self.functions.values()
        }  # fmt: skip
        jobs = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-invocation-job/*"
        acknowledge(self.state_machine.role.node.find_child("DefaultPolicy"), {
            **function_ids,
            "AwsSolutions-IAM5[Resource::*]": "X-Ray and CloudWatch Logs delivery have no resource-level permissions.",
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, jobs)}]": "Batch job names are made from the execution name at run time.",
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, foundation_models)}]": models_reason,
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, inference_profiles)}]": models_reason,
            "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
        })  # fmt: skip
        acknowledge(self.state_machine, {
            "W3005": "CDK adds DependsOn on the role beside the GetAtt so the role's policy exists before the workflow.",
        })  # fmt: skip
