"""TrainingInstance: the GPU instance, its checkpoint volume, image repository, SSM documents, idle stop,
and the LoRA training workflow that drives them."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from constructs.abort_cleanup import AbortCleanup
from constructs.compliance import INLINE_POLICY_REASON, acknowledge, nag_resource
from constructs.gpu_training_instance import GpuTrainingInstance
from constructs.idle_stop import IdleStop
from constructs.log_retention import retention_days
from constructs.parameter_tree import ParameterTree, bucket_from_tree
from constructs.private_network import PrivateNetwork
from constructs.training_documents import TrainingDocuments
from constructs.training_image_repository import TrainingImageRepository
from modelsmith_core.config import EnvironmentConfig
from modelsmith_core.limits import MAX_FINE_TUNE_HOURS
from stacks.foundation_stack import FoundationStack
from statemachines.common import cost_estimator_function, validator_function
from statemachines.lora_training import LoraTrainingResources, build_definition


class TrainingInstanceStack(Stack):
    """Props: config, foundation (FoundationStack), vpc and workload_subnets (from NetworkStack; both None when
    ``config.network.vpc_id`` names an existing VPC, which is then imported here and no Network stack exists).

    ``poll_interval`` (default 30 s) sets how often the workflow checks the instance and its commands, and
    ``health_checks`` (default 40, i.e. 20 minutes) how many status checks the instance gets to become healthy;
    ``fine_tune_poll_interval`` (default 2 minutes) how often a running fine-tune is checked (a 47-hour run then
    stays under Step Functions' 25,000 history events); tests shorten all three. Exposes ``instance``, ``instance_log_group``, ``validator``, ``state_machine``,
    ``documents``, ``repository``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        foundation: FoundationStack,
        vpc: ec2.IVpc | None = None,
        workload_subnets: ec2.SubnetSelection | None = None,
        poll_interval: Duration = Duration.seconds(30),
        health_checks: int = 40,
        fine_tune_poll_interval: Duration = Duration.minutes(2),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Modelsmith {config.name}: GPU training instance and LoRA workflow",
            **kwargs,
        )
        retain = config.retain_stateful_resources
        key = foundation.key
        log_retention = retention_days(config.log_retention_days)
        prefix = f"Modelsmith-{config.name}"

        self.add_stack_dependency(foundation)
        if vpc is None or workload_subnets is None:
            if vpc is not None or workload_subnets is not None or config.network.vpc_id is None:
                raise ValueError("give both vpc and workload_subnets (a created VPC), or neither with network.vpc_id")
            existing = PrivateNetwork(
                self, "ExistingNetwork", config=config.network, encryption_key=key, log_retention=log_retention
            )
            vpc, workload_subnets = existing.vpc, existing.workload_subnets
        data_bucket = bucket_from_tree(self, "DataBucket", environment_name=config.name, key="data-bucket")
        artifacts_bucket = bucket_from_tree(
            self, "ArtifactsBucket", environment_name=config.name, key="artifacts-bucket"
        )
        image = TrainingImageRepository(
            self,
            "TrainingImage",
            encryption_key=key,
            retain=retain,
            github_repository=config.training_instance.image_publisher_github_repository,
        )
        self.repository = image.repository
        gpu = GpuTrainingInstance(
            self,
            "GpuInstance",
            vpc=vpc,
            subnets=workload_subnets,
            config=config.training_instance,
            encryption_key=key,
            data_bucket=data_bucket,
            artifacts_bucket=artifacts_bucket,
            hugging_face_token=foundation.secrets["hugging-face-token"],
            image_repository=self.repository,
            log_retention=log_retention,
            retain_volume=retain,
        )
        self.instance = gpu.instance
        self.instance_log_group = gpu.log_group
        self.documents = TrainingDocuments(self, "Documents", name_prefix=prefix).names
        IdleStop(
            self,
            "IdleStop",
            instance=gpu.instance,
            idle_minutes=config.training_instance.idle_stop_minutes,
            topic=foundation.notifications_topic,
        )

        validator = validator_function(
            self,
            "ValidateInput",
            description="Checks LoRA workflow input against its schema",
            encryption_key=key,
            log_retention=log_retention,
        )
        self.validator = validator.function
        self.estimator = cost_estimator_function(
            self,
            "EstimateCost",
            config=config,
            description="Estimates what a LoRA run costs",
            encryption_key=key,
            log_retention=log_retention,
        ).function
        workflow_logs = logs.LogGroup(
            self, "WorkflowLogs", encryption_key=key, retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        instance_arn = f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:instance/{gpu.instance.instance_id}"
        self.state_machine = sfn.StateMachine(
            self,
            "LoraTraining",
            state_machine_name=f"{prefix}-LoraTraining",
            definition_body=sfn.DefinitionBody.from_chainable(
                build_definition(
                    self,
                    LoraTrainingResources(
                        validator=validator.function,
                        estimate_cost=self.estimator,
                        instance_id=gpu.instance.instance_id,
                        instance_arn=instance_arn,
                        run_fine_tune_document=self.documents.run_fine_tune,
                        archive_run_document=self.documents.archive_run,
                        publish_to_hub_document=self.documents.publish_to_hub,
                        command_log_group_name=gpu.log_group.log_group_name,
                        topic=foundation.notifications_topic,
                        poll_interval=poll_interval,
                        health_checks=health_checks,
                        fine_tune_poll_interval=fine_tune_poll_interval,
                    ),
                )
            ),
            # The longest fine-tune (MAX_FINE_TUNE_HOURS) plus start-up, health checks, archive and publication.
            timeout=Duration.hours(MAX_FINE_TUNE_HOURS + 5),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=workflow_logs, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        acknowledge(
            self.state_machine,
            {
                "W3005": "CDK adds DependsOn on the role beside the GetAtt so the role's policy exists before the workflow.",
            },
        )
        gpu.log_group.grant_write(self.state_machine)  # SSM writes command output with the caller's rights
        # Starting an instance whose volumes the project key encrypts: EC2 creates a grant on the key for the caller
        # and decrypts through it (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html).
        through_ec2 = {"kms:ViaService": f"ec2.{Aws.REGION}.amazonaws.com"}
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant"],
                resources=[key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}, "StringEquals": through_ec2},
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[key.key_arn],
                conditions={"StringEquals": through_ec2},
            )
        )
        # Publishing to the KMS-encrypted topic needs the key too (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
        foundation.notifications_topic.grant_publish(self.state_machine)
        acknowledge(
            self.state_machine.role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "ec2:DescribeInstanceStatus, ssm:GetCommandInvocation, X-Ray and CloudWatch Logs delivery have no "
                    "resource-level permissions (Service Authorization Reference)."
                ),
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": (
                    "CDK's grant to publish to the encrypted notification topic: kms:GenerateDataKey* on the project key only."
                ),
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, validator.function.function_arn)}:*]": (
                    "Versions and aliases of the one validator function (CDK's LambdaInvoke grants both forms)."
                ),
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, self.estimator.function_arn)}:*]": (
                    "Versions and aliases of the one cost estimator function (CDK's LambdaInvoke grants both forms)."
                ),
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )

        cleanup = AbortCleanup(
            self,
            "AbortCleanup",
            state_machine=self.state_machine,
            workflow="lora-training",
            encryption_key=key,
            log_retention=log_retention,
            topic=foundation.notifications_topic,
            environment={"INSTANCE_ID": gpu.instance.instance_id},
            permissions=[
                iam.PolicyStatement(actions=["ec2:StopInstances"], resources=[instance_arn]),
                # The run's commands are cancelled before the stop; neither ssm:ListCommands nor ssm:CancelCommand
                # supports resource-level permissions (Service Authorization Reference).
                iam.PolicyStatement(actions=["ssm:ListCommands", "ssm:CancelCommand"], resources=["*"]),
            ],
        )
        acknowledge(
            cleanup.role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Resource::*]": "ssm:ListCommands and ssm:CancelCommand have no resource-level permissions.",
            },
        )

        tree = ParameterTree(self, "Parameters", environment_name=config.name)
        tree.publish(
            "training-instance", "instance-id", gpu.instance.instance_id, description="GPU training instance ID"
        )
        tree.publish(
            "training-instance",
            "checkpoint-volume-id",
            gpu.checkpoint_volume.volume_id,
            description="Checkpoint EBS volume ID",
        )
        tree.publish(
            "training-instance",
            "log-group",
            gpu.log_group.log_group_name,
            description="Log group of the instance and its commands",
        )
        repository_uri = tree.publish(
            "training-instance",
            "image-repository-uri",
            self.repository.repository_uri,
            description="ECR repository of the training image",
        )
        tree.publish(
            "training-instance",
            "run-fine-tune-document",
            self.documents.run_fine_tune,
            description="SSM document: run a fine-tune",
        )
        tree.publish(
            "training-instance",
            "archive-run-document",
            self.documents.archive_run,
            description="SSM document: archive a run",
        )
        tree.publish(
            "training-instance",
            "publish-to-hub-document",
            self.documents.publish_to_hub,
            description="SSM document: publish to the Hub",
        )
        if image.publisher_role is not None:
            # The image CI (.github/workflows/training-image.yml) finds the repository through this parameter.
            repository_uri.grant_read(image.publisher_role)
            tree.publish(
                "training-instance",
                "image-publisher-role-arn",
                image.publisher_role.role_arn,
                description="Role GitHub Actions assumes to push the training image",
            )
        tree.publish(
            "workflows",
            "lora-training-state-machine-arn",
            self.state_machine.state_machine_arn,
            description="LoRA training workflow",
        )
