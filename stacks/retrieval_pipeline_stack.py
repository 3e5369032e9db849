"""RetrievalPipeline: the fine-tuning pipeline state machine, its functions, and the roles Bedrock batch
inference, SageMaker (training and serving) and OpenSearch ML Commons (calling the endpoint) act with."""

from __future__ import annotations

from pathlib import Path
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
from constructs.sagemaker_code import SageMakerTrainingCode
from modelsmith_core import catalogue, naming
from modelsmith_core.config import EnvironmentConfig
from stacks.foundation_stack import FoundationStack
from statemachines.common import FOUNDATION_MODELS_ANY_REGION, cost_estimator_function, validator_function
from statemachines.retrieval_pipeline import (
    TRAINING_PROGRAM,
    RetrievalPipelineResources,
    SageMakerSettings,
    build_definition,
)

TRAINING_REQUIREMENTS = Path(__file__).resolve().parents[1] / "sagemaker_src" / "retrieval" / "requirements.txt"


class RetrievalPipelineStack(Stack):
    """Props: config, foundation (FoundationStack). ``poll_interval`` (default 2 minutes) sets how often a batch
    inference job is checked, ``endpoint_poll_interval`` (default 1 minute) how often a deploying endpoint is;
    tests shorten both. Exposes ``state_machine``, ``functions`` (name -> Function) and ``roles``.

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
        endpoint_poll_interval: Duration = Duration.minutes(1),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"Modelsmith {config.name}: retrieval fine-tuning pipeline", **kwargs
        )
        self.add_stack_dependency(foundation)
        key = foundation.key
        log_retention = retention_days(config.log_retention_days)
        data_bucket = bucket_from_tree(self, "DataBucket", environment_name=config.name, key="data-bucket")
        artifacts_bucket = bucket_from_tree(
            self, "ArtifactsBucket", environment_name=config.name, key="artifacts-bucket"
        )
        runs = artifacts_bucket.arn_for_objects(RUNS_PREFIX)

        def function(construct_id: str, source: str, description: str, **options: Any) -> PythonFunction:
            options.setdefault("shared_code", True)
            return PythonFunction(
                self,
                construct_id,
                source=source,
                description=description,
                encryption_key=key,
                log_retention=log_retention,
                environment={"ARTIFACTS_BUCKET": artifacts_bucket.bucket_name},
                **options,
            )

        validator = validator_function(
            self,
            "ValidateInput",
            description="Checks retrieval pipeline input against its schema",
            encryption_key=key,
            log_retention=log_retention,
        )
        extract = function(
            "ExtractCorpus",
            "extract_corpus",
            "Reads the corpus from S3 or OpenSearch into the run",
            timeout=Duration.minutes(15),
            memory_size=1024,
        )
        generate = function(
            "GenerateQueries",
            "generate_queries",
            "Writes synthetic queries with Bedrock",
            timeout=Duration.minutes(15),
            memory_size=512,
            reserved_concurrent_executions=8,
        )
        pairs = function(
            "BuildPairs",
            "build_pairs",
            "Joins queries and passages; splits train/eval by document",
            timeout=Duration.minutes(5),
            memory_size=1024,
        )
        report = function(
            "PublishTrainingReport",
            "publish_training_report",
            "Copies a training job's metrics and report into the run; returns the scores",
            timeout=Duration.minutes(2),
            memory_size=512,
        )
        register = function(
            "RegisterModel",
            "register_model",
            "Registers a deployed embedding model in OpenSearch ML Commons or Pinecone",
            timeout=Duration.minutes(15),
            memory_size=1024,
        )
        estimator = cost_estimator_function(
            self,
            "EstimateCost",
            config=config,
            description="Estimates what a run costs",
            encryption_key=key,
            log_retention=log_retention,
        )
        self.functions = {
            "validate_input": validator.function,
            "estimate_cost": estimator.function,
            "extract_corpus": extract.function,
            "generate_queries": generate.function,
            "build_pairs": pairs.function,
            "publish_training_report": report.function,
            "register_model": register.function,
        }

        for worker in (extract, generate, pairs, report, register):
            grant_run_prefix(worker.role, artifacts_bucket, key)
        extract.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[data_bucket.arn_for_objects("*")])
        )
        opensearch_domains = f"arn:{Aws.PARTITION}:es:{Aws.REGION}:{Aws.ACCOUNT_ID}:domain/*"
        extract.role.add_to_policy(
            iam.PolicyStatement(
                actions=["es:ESHttpGet", "es:ESHttpPost", "es:ESHttpDelete"],
                resources=[opensearch_domains, f"{opensearch_domains}/*"],
            )
        )
        opensearch_secrets = f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:secret:modelsmith/{config.name}/opensearch-*"
        extract.role.add_to_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[opensearch_secrets])
        )
        foundation_models = FOUNDATION_MODELS_ANY_REGION  # bedrock_model_id may name a cross-Region profile
        inference_profiles = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/*"
        generate.role.add_to_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel"],
                resources=[foundation_models, inference_profiles],
            )
        )

        # Bedrock batch inference reads the run's records and writes its outputs with this role.
        batch_role = iam.Role(
            self,
            "BatchInferenceRole",
            description="Bedrock batch inference of the retrieval pipeline",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-invocation-job/*"
                    },
                },
            ),
        )
        grant_run_prefix(batch_role, artifacts_bucket, key)
        batch_role.add_to_policy(
            iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=[foundation_models, inference_profiles])
        )

        sagemaker = self._sagemaker_roles(config, artifacts_bucket, key, runs)
        endpoint_prefix = naming.endpoint_name_prefix(config.name)
        endpoints = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:endpoint/{endpoint_prefix}*"
        # ML Commons calls the endpoint with this role (the connector's credential).
        connector_role = iam.Role(
            self,
            "MlCommonsConnectorRole",
            description="OpenSearch ML Commons connectors calling the pipeline's endpoints",
            assumed_by=iam.ServicePrincipal(
                "opensearchservice.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
        )
        connector_role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoints]))
        register.role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoints]))
        register.role.add_to_policy(
            iam.PolicyStatement(
                actions=["es:ESHttpGet", "es:ESHttpPost", "es:ESHttpPut"],
                resources=[opensearch_domains, f"{opensearch_domains}/*"],
            )
        )
        # OpenSearch Service checks iam:PassRole on the connector role for the identity that signs the request; its
        # guide's policy has no condition and it does not document setting iam:PassedToService, so none is set here
        # (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/ml-amazon-connector.html).
        register.role.add_to_policy(iam.PolicyStatement(actions=["iam:PassRole"], resources=[connector_role.role_arn]))
        # By name, not by reference: the Foundation stack's secret without a cross-stack export.
        pinecone_secret_name = f"modelsmith/{config.name}/pinecone-api-key"
        pinecone_secret = (
            f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:secret:{pinecone_secret_name}-*"
        )
        register.role.add_to_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"],
                resources=[pinecone_secret, opensearch_secrets],
            )
        )
        register.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}},
            )
        )

        code = SageMakerTrainingCode(
            self,
            "TrainingCode",
            entry_module="sagemaker_src.retrieval.train",
            program=TRAINING_PROGRAM,
            requirements=TRAINING_REQUIREMENTS,
        )
        # The training job reads its code archive: that one object, not the whole assets bucket.
        sagemaker["training"].add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[f"arn:{Aws.PARTITION}:s3:::{code.asset.s3_bucket_name}/{code.asset.s3_object_key}"],
            )
        )
        settings = config.retrieval_pipeline
        endpoint_family = (
            settings.endpoint_instance_type.split(".")[1] if settings.endpoint_instance_type != "serverless" else None
        )
        on_gpu = endpoint_family in catalogue.SAGEMAKER_GPU_FAMILIES
        sagemaker_settings = SageMakerSettings(
            training_role_arn=sagemaker["training"].role_arn,
            inference_role_arn=sagemaker["inference"].role_arn,
            training_image_uri=settings.training_image_uri
            or catalogue.dlc_image_uri(config.region, catalogue.HF_TRAINING_IMAGE, region_in_uri=Aws.REGION),
            inference_image_uri=settings.inference_image_uri
            or catalogue.dlc_image_uri(
                config.region,
                catalogue.HF_INFERENCE_IMAGE_GPU if on_gpu else catalogue.HF_INFERENCE_IMAGE_CPU,
                region_in_uri=Aws.REGION,
            ),
            training_instance_type=settings.training_instance_type,
            code_uri=code.s3_uri,
            endpoint_instance_type=settings.endpoint_instance_type,
            endpoint_name_prefix=endpoint_prefix,
            endpoint_kms_key_arn=None
            if endpoint_family in (None, *catalogue.SAGEMAKER_INSTANCE_STORAGE_FAMILIES)
            else key.key_arn,
            training_volume_kms_key_arn=None
            if settings.training_instance_type.split(".")[1] in catalogue.SAGEMAKER_INSTANCE_STORAGE_FAMILIES
            else key.key_arn,
            tags=naming.resource_tags(config.name, naming.RETRIEVAL_COMPONENT, config.tags),
            spot_training=settings.spot_training,
            max_training_hours=settings.max_training_hours,
            serverless_memory_mib=settings.serverless_memory_mib,
            serverless_max_concurrency=settings.serverless_max_concurrency,
        )

        definition, training_statements = build_definition(
            self,
            RetrievalPipelineResources(
                validator=validator.function,
                extract_corpus=extract.function,
                generate_queries=generate.function,
                build_pairs=pairs.function,
                batch_role=batch_role,
                artifacts_bucket_name=artifacts_bucket.bucket_name,
                encryption_key_arn=key.key_arn,
                topic=foundation.notifications_topic,
                publish_report=report.function,
                register_model=register.function,
                estimate_cost=estimator.function,
                sagemaker=sagemaker_settings,
                pinecone_secret_name=pinecone_secret_name,
                connector_role_arn=connector_role.role_arn,
                poll_interval=poll_interval,
                endpoint_poll_interval=endpoint_poll_interval,
            ),
        )
        workflow_logs = logs.LogGroup(
            self, "WorkflowLogs", encryption_key=key, retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "RetrievalPipeline",
            state_machine_name=f"Modelsmith-{config.name}-RetrievalPipeline",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.hours(96),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=workflow_logs, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        batch_role.grant_pass_role(self.state_machine.role)
        for statement in training_statements:
            self.state_machine.add_to_role_policy(statement)
        self.batch_role = batch_role
        self.roles = {"batch": batch_role, "connector": connector_role, **sagemaker}

        self._acknowledge(
            runs,
            data_bucket,
            opensearch_domains,
            opensearch_secrets,
            foundation_models,
            inference_profiles,
            extract,
            generate,
            pairs,
            batch_role,
        )
        runs_id = f"AwsSolutions-IAM5[Resource::{nag_resource(self, runs)}]"
        endpoints_id = f"AwsSolutions-IAM5[Resource::{nag_resource(self, endpoints)}]"
        endpoints_reason = f"Endpoints are named {endpoint_prefix}<model_name> at run time; only this environment's."
        acknowledge(
            report.role.node.find_child("DefaultPolicy"),
            {
                runs_id: "Reads the training output and writes the report under runs/<execution-name>/, named at run time.",
            },
        )
        acknowledge(
            register.role.node.find_child("DefaultPolicy"),
            {
                runs_id: "Reads the run's corpus under runs/<execution-name>/, named at run time.",
                endpoints_id: endpoints_reason,
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, opensearch_domains)}]": "The ML Commons domain is named per run (ml_commons.opensearch_endpoint); this account and region only.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, opensearch_domains)}/*]": "ML Commons paths (_plugins/_ml/..., _cluster/settings) of the run's domain.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, opensearch_secrets)}]": "Basic-auth secrets of self-managed clusters, limited to the modelsmith/<env>/opensearch-* names.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, pinecone_secret)}]": "The Pinecone API key secret by name; Secrets Manager appends a random suffix to its ARN.",
            },
        )
        acknowledge(
            connector_role.node.find_child("DefaultPolicy"),
            {
                endpoints_id: endpoints_reason,
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )
        # Publishing to the KMS-encrypted topic needs the key too (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
        foundation.notifications_topic.grant_publish(self.state_machine)
        sagemaker_reason = (
            "Training jobs, models and endpoint configs are named <model_name>-<id> at run time; tagged per run."
        )
        acknowledge(
            self.state_machine.role.node.find_child("DefaultPolicy"),
            {
                endpoints_id: endpoints_reason,
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": (
                    "CDK's grant to publish to the encrypted notification topic: kms:GenerateDataKey* on the project key only."
                ),
                **{
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:{kind}/*]": sagemaker_reason
                    for kind in ("training-job", "model", "endpoint-config")
                },
            },
        )
        jobs = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-invocation-job/*"
        training_jobs = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:training-job/*"
        self.abort_cleanup = AbortCleanup(
            self,
            "AbortCleanup",
            state_machine=self.state_machine,
            workflow="retrieval-pipeline",
            encryption_key=key,
            log_retention=log_retention,
            topic=foundation.notifications_topic,
            permissions=[
                iam.PolicyStatement(actions=["bedrock:StopModelInvocationJob"], resources=[jobs]),
                # ListModelInvocationJobs and ListTrainingJobs have no resource-level permissions.
                iam.PolicyStatement(
                    actions=["bedrock:ListModelInvocationJobs", "sagemaker:ListTrainingJobs"], resources=["*"]
                ),
                iam.PolicyStatement(
                    actions=["sagemaker:ListTags", "sagemaker:StopTrainingJob"], resources=[training_jobs]
                ),
            ],
        )
        acknowledge(
            self.abort_cleanup.role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "X-Ray, bedrock:ListModelInvocationJobs and sagemaker:ListTrainingJobs have no resource-level permissions."
                ),
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, jobs)}]": "The run's batch job is named after the execution.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, training_jobs)}]": "The run's training job is named at run time and found by its modelsmith:run-id tag.",
            },
        )

        tree = ParameterTree(self, "Parameters", environment_name=config.name)
        tree.publish(
            "workflows",
            "retrieval-pipeline-state-machine-arn",
            self.state_machine.state_machine_arn,
            description="Retrieval fine-tuning pipeline",
        )
        tree.publish(
            "retrieval-pipeline",
            "batch-inference-role-arn",
            batch_role.role_arn,
            description="Role Bedrock batch inference uses for pipeline runs",
        )

    def _sagemaker_roles(
        self, config: EnvironmentConfig, artifacts_bucket: s3.IBucket, key: Any, runs: str
    ) -> dict[str, iam.Role]:
        """The training job's and the endpoint's roles: the run prefix, the project key, their own logs and
        metrics, and pulling the images they run."""
        settings = config.retrieval_pipeline
        principal = iam.ServicePrincipal(
            "sagemaker.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
        )
        training = iam.Role(
            self,
            "TrainingJobRole",
            assumed_by=principal,
            description="SageMaker training jobs of the retrieval pipeline",
        )
        inference = iam.Role(
            self, "EndpointRole", assumed_by=principal, description="SageMaker endpoints of the retrieval pipeline"
        )
        grant_run_prefix(training, artifacts_bucket, key)
        # Encrypted training volumes and outputs: SageMaker creates grants on the project key for them
        # (kms:GrantIsForAWSResource exists only on grant actions: a statement that also lists Encrypt,
        # GenerateDataKey or DescribeKey under it never allows those; Service Authorization Reference, AWS KMS).
        training.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant"],
                resources=[key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        training.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            )
        )
        inference.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[runs]))
        inference.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            )
        )
        images = {
            "training": settings.training_image_uri
            or catalogue.dlc_image_uri(config.region, catalogue.HF_TRAINING_IMAGE, region_in_uri=Aws.REGION),
            "inference": settings.inference_image_uri
            or catalogue.dlc_image_uri(config.region, catalogue.HF_INFERENCE_IMAGE_GPU, region_in_uri=Aws.REGION),
        }
        for kind, role in (("training", training), ("inference", inference)):
            log_groups = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/" + (
                "TrainingJobs:*" if kind == "training" else "Endpoints/*"
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    resources=[log_groups],
                )
            )
            # PutMetricData and GetAuthorizationToken have no resource-level permissions.
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
                )
            )
            role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
            account, region, repository = _ecr_repository(images[kind])
            repositories = f"arn:{Aws.PARTITION}:ecr:{region}:{account}:repository/{repository}"
            if kind == "inference" and not settings.inference_image_uri:
                repositories = f"arn:{Aws.PARTITION}:ecr:{region}:{account}:repository/huggingface-pytorch-inference"
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                    resources=[repositories],
                )
            )
            acknowledge(
                role.node.find_child("DefaultPolicy"),
                {
                    "AwsSolutions-IAM5[Resource::*]": (
                        "cloudwatch:PutMetricData (limited to SageMaker namespaces by condition) and "
                        "ecr:GetAuthorizationToken have no resource-level permissions."
                    ),
                    f"AwsSolutions-IAM5[Resource::{nag_resource(self, log_groups)}]": "SageMaker names each job's or endpoint's log streams at run time, inside its own log group.",
                    f"AwsSolutions-IAM5[Resource::{nag_resource(self, runs)}]": "Runs read their pairs and write their model under runs/<execution-name>/, named at run time.",
                    "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
                },
            )
        return {"training": training, "inference": inference}

    def _acknowledge(
        self,
        runs: str,
        data_bucket: s3.IBucket,
        opensearch_domains: str,
        opensearch_secrets: str,
        foundation_models: str,
        inference_profiles: str,
        extract: PythonFunction,
        generate: PythonFunction,
        pairs: PythonFunction,
        batch_role: iam.Role,
    ) -> None:
        runs_id = f"AwsSolutions-IAM5[Resource::{nag_resource(self, runs)}]"
        runs_reason = "Each run reads and writes runs/<execution-name>/, a name chosen when the execution starts."
        models_reason = (
            "The Bedrock model is chosen per run in the execution input (bedrock_model_id); an inference "
            "profile routes to its model in other Regions."
        )
        for worker in (extract, generate, pairs):
            acknowledge(worker.role.node.find_child("DefaultPolicy"), {runs_id: runs_reason})
        acknowledge(
            extract.role.node.find_child("DefaultPolicy"),
            {
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, data_bucket.arn_for_objects('*'))}]": "The corpus file is named per run (s3_corpus_path); read-only, the data bucket only.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, opensearch_domains)}]": "The OpenSearch domain is named per run (opensearch_endpoint); this account and region only.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, opensearch_domains)}/*]": "Index paths of the run's domain; read, search and point-in-time deletion only.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, opensearch_secrets)}]": "Basic-auth secrets of self-managed clusters, limited to the modelsmith/<env>/opensearch-* names.",
            },
        )
        for principal in (generate.role, batch_role):
            acknowledge(
                principal.node.find_child("DefaultPolicy"),
                {
                    f"AwsSolutions-IAM5[Resource::{nag_resource(self, foundation_models)}]": models_reason,
                    f"AwsSolutions-IAM5[Resource::{nag_resource(self, inference_profiles)}]": models_reason,
                },
            )
        acknowledge(
            batch_role.node.find_child("DefaultPolicy"),
            {
                runs_id: runs_reason,
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )
        function_ids = {
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, fn.function_arn)}:*]": "Versions and aliases of this one function (CDK's LambdaInvoke grants both forms)."
            for fn in self.functions.values()
        }
        jobs = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-invocation-job/*"
        acknowledge(
            self.state_machine.role.node.find_child("DefaultPolicy"),
            {
                **function_ids,
                "AwsSolutions-IAM5[Resource::*]": (
                    "X-Ray, CloudWatch Logs delivery and sagemaker:ListEndpoints have no resource-level permissions."
                ),
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, jobs)}]": "Batch job names are made from the execution name at run time.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, foundation_models)}]": models_reason,
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, inference_profiles)}]": models_reason,
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )
        acknowledge(
            self.state_machine,
            {
                "W3005": "CDK adds DependsOn on the role beside the GetAtt so the role's policy exists before the workflow.",
            },
        )


def _ecr_repository(image_uri: str) -> tuple[str, str, str]:
    """(account, region, repository) of an ECR image URI ``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``."""
    registry, _, path = image_uri.partition("/")
    account, _, _, region = registry.removesuffix(".amazonaws.com").split(".", 3)
    repository = path.split("@")[0].rsplit(":", 1)[0]
    return account, region, repository
