"""LlmCustomization: Bedrock fine-tuning of the environment's Llama 3.x model, evaluated against its base model."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from constructs.abort_cleanup import AbortCleanup
from constructs.compliance import INLINE_POLICY_REASON, acknowledge, nag_resource
from constructs.log_retention import retention_days
from constructs.parameter_tree import ParameterTree, bucket_from_tree
from constructs.python_function import PythonFunction
from constructs.run_access import RUNS_PREFIX, grant_run_prefix
from modelsmith_core import naming
from modelsmith_core.catalogue import BEDROCK_CUSTOMIZATION_MODELS
from modelsmith_core.config import EnvironmentConfig
from stacks.foundation_stack import FoundationStack
from statemachines.common import FOUNDATION_MODELS_ANY_REGION, cost_estimator_function, validator_function
from statemachines.llm_customization import SERVINGS, LlmCustomizationResources, build_definition


class LlmCustomizationStack(Stack):
    """Props: config (its ``llm_customization`` names the base model), foundation. ``poll_interval`` (default
    5 minutes) sets how often the job and the deployment are checked; tests shorten it. Exposes
    ``state_machine``, ``functions`` and ``customization_role``.

    IAM: the functions read and write only ``runs/*`` of the artifacts bucket (the run ID is the execution
    name, chosen at run time); the customization role (assumed by Bedrock for this account's jobs only) reads
    the runs' prepared data and writes their outputs; evaluation invokes the base model, the judge model and the
    run's deployment.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        foundation: FoundationStack,
        poll_interval: Duration = Duration.minutes(5),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"Modelsmith {config.name}: Bedrock model customization", **kwargs
        )
        self.add_stack_dependency(foundation)
        key = foundation.key
        log_retention = retention_days(config.log_retention_days)
        base_model_id = config.llm_customization.base_model_id
        artifacts = bucket_from_tree(self, "ArtifactsBucket", environment_name=config.name, key="artifacts-bucket")
        runs = artifacts.arn_for_objects(RUNS_PREFIX)

        def function(construct_id: str, source: str, description: str, **options: Any) -> PythonFunction:
            return PythonFunction(
                self,
                construct_id,
                source=source,
                description=description,
                encryption_key=key,
                log_retention=log_retention,
                shared_code=True,
                environment={"ARTIFACTS_BUCKET": artifacts.bucket_name},
                **options,
            )

        validator = validator_function(
            self,
            "ValidateInput",
            description="Checks customization input against its schema",
            encryption_key=key,
            log_retention=log_retention,
        )
        prepare = function(
            "PrepareData",
            "prepare_customization_data",
            "Converts and validates fine-tuning data",
            timeout=Duration.minutes(10),
            memory_size=1024,
        )
        evaluate = function(
            "Evaluate",
            "evaluate_customization",
            "Runs the test suite on base and custom models",
            timeout=Duration.minutes(15),
            memory_size=512,
        )
        estimator = cost_estimator_function(
            self,
            "EstimateCost",
            config=config,
            description="Estimates what a customization run costs",
            encryption_key=key,
            log_retention=log_retention,
        )
        self.functions = {
            "validate_input": validator.function,
            "estimate_cost": estimator.function,
            "prepare_customization_data": prepare.function,
            "evaluate_customization": evaluate.function,
        }

        data_bucket = bucket_from_tree(self, "DataBucket", environment_name=config.name, key="data-bucket")
        for worker in (prepare, evaluate):
            grant_run_prefix(worker.role, artifacts, key)
            worker.role.add_to_policy(
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[data_bucket.arn_for_objects("*")])
            )
        self.model = model = BEDROCK_CUSTOMIZATION_MODELS[base_model_id]
        # What serves the custom model: its on-demand deployment or its Provisioned Throughput (SERVINGS).
        deployments = (
            f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:{SERVINGS[model.deployment].resource}/*"
        )
        # The base model may be invoked through a cross-Region inference profile (Llama 3.2 and 3.3), which routes
        # to the model in other Regions (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html).
        foundation_models = FOUNDATION_MODELS_ANY_REGION
        inference_profiles = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/*"
        evaluate.role.add_to_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel"],
                resources=[foundation_models, inference_profiles, deployments],
            )
        )
        # The custom model is encrypted with the project key (CustomModelKmsKeyId): invoking it decrypts through
        # Bedrock (https://docs.aws.amazon.com/bedrock/latest/userguide/encryption-custom-job.html).
        evaluate.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"bedrock.{Aws.REGION}.amazonaws.com"}},
            )
        )

        self.customization_role = iam.Role(
            self,
            "CustomizationRole",
            description="Bedrock model customization jobs of Modelsmith runs",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-customization-job/*"
                    },
                },
            ),
        )
        grant_run_prefix(self.customization_role, artifacts, key)

        workflow_logs = logs.LogGroup(
            self, "WorkflowLogs", encryption_key=key, retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "LlmCustomization",
            state_machine_name=f"Modelsmith-{config.name}-LlmCustomization",
            definition_body=sfn.DefinitionBody.from_chainable(
                build_definition(
                    self,
                    LlmCustomizationResources(
                        prepare_data=prepare.function,
                        evaluate=evaluate.function,
                        validator=validator.function,
                        estimate_cost=estimator.function,
                        customization_role=self.customization_role,
                        base_model_id=base_model_id,
                        model=model,
                        artifacts_bucket_name=artifacts.bucket_name,
                        encryption_key_arn=key.key_arn,
                        topic=foundation.notifications_topic,
                        poll_interval=poll_interval,
                        tags=naming.resource_tags(config.name, naming.LLM_CUSTOMIZATION_COMPONENT, config.tags),
                    ),
                )
            ),
            timeout=Duration.days(7),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=workflow_logs, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        self.customization_role.grant_pass_role(self.state_machine.role)
        # Bedrock encrypts the custom model with the project key on the caller's behalf.
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:DescribeKey", "kms:GenerateDataKey", "kms:CreateGrant", "kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"bedrock.{Aws.REGION}.amazonaws.com"}},
            )
        )

        jobs = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-customization-job/*"
        on_demand = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:custom-model-deployment/*"
        provisioned = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:provisioned-model/*"
        cleanup = AbortCleanup(
            self,
            "AbortCleanup",
            state_machine=self.state_machine,
            workflow="llm-customization",
            encryption_key=key,
            log_retention=log_retention,
            topic=foundation.notifications_topic,
            permissions=[
                iam.PolicyStatement(
                    actions=["bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"], resources=[jobs]
                ),
                iam.PolicyStatement(actions=["bedrock:DeleteCustomModelDeployment"], resources=[on_demand]),
                iam.PolicyStatement(actions=["bedrock:DeleteProvisionedModelThroughput"], resources=[provisioned]),
            ],
        )
        acknowledge(
            cleanup.role.node.find_child("DefaultPolicy"),
            {
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, jobs)}]": "The run's job is named after the execution.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, on_demand)}]": "The run's deployment is named after the execution.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, provisioned)}]": "The run's Provisioned Throughput is named after the execution.",
            },
        )

        # Publishing to the KMS-encrypted topic needs the key too (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
        foundation.notifications_topic.grant_publish(self.state_machine)
        models = (foundation_models, inference_profiles, deployments)
        self._acknowledge(runs, data_bucket.arn_for_objects("*"), models, prepare, evaluate)
        tree = ParameterTree(self, "Parameters", environment_name=config.name)
        tree.publish(
            "workflows",
            "llm-customization-state-machine-arn",
            self.state_machine.state_machine_arn,
            description="Bedrock model customization workflow",
        )

    def _acknowledge(
        self,
        runs: str,
        data_objects: str,
        models: tuple[str, str, str],
        prepare: PythonFunction,
        evaluate: PythonFunction,
    ) -> None:
        foundation_models, inference_profiles, deployments = models
        runs_id = f"AwsSolutions-IAM5[Resource::{nag_resource(self, runs)}]"
        runs_reason = "Each run reads and writes runs/<execution-name>/, a name chosen when the execution starts."
        data_id = f"AwsSolutions-IAM5[Resource::{nag_resource(self, data_objects)}]"
        data_reason = "The training file and test suite are named per run in the execution input; read-only."
        for worker in (prepare, evaluate):
            acknowledge(worker.role.node.find_child("DefaultPolicy"), {runs_id: runs_reason, data_id: data_reason})
        acknowledge(
            evaluate.role.node.find_child("DefaultPolicy"),
            {
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, foundation_models)}]": "The base and judge models are foundation models named in config and execution input; an inference "
                "profile routes to its model in other Regions.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, inference_profiles)}]": "The base model's cross-Region inference profile (Llama 3.2 and 3.3), this account and Region only.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, deployments)}]": "The run's own deployment, created by the workflow under a name known only at run time.",
            },
        )
        acknowledge(
            self.customization_role.node.find_child("DefaultPolicy"),
            {
                runs_id: runs_reason,
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )
        arn = lambda kind: f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:{kind}/*"  # noqa: E731
        acknowledge(
            self.state_machine.role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": (
                    "CDK's grant to publish to the encrypted notification topic: kms:GenerateDataKey* on the project key only."
                ),
                **{
                    f"AwsSolutions-IAM5[Resource::{nag_resource(self, fn.function_arn)}:*]": "Versions and aliases of this one function (CDK's LambdaInvoke grants both forms)."
                    for fn in self.functions.values()
                },
                "AwsSolutions-IAM5[Resource::*]": "X-Ray and CloudWatch Logs delivery have no resource-level permissions.",
                **{
                    f"AwsSolutions-IAM5[Resource::{nag_resource(self, arn(kind))}]": "Jobs, custom models and deployments are named after the execution at run time."
                    for kind in ("model-customization-job", "custom-model", SERVINGS[self.model.deployment].resource)
                },
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )
        acknowledge(
            self.state_machine,
            {
                "W3005": "CDK adds DependsOn on the role beside the GetAtt so the role's policy exists before the workflow.",
            },
        )
