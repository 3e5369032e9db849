"""TrainingInstance: the GPU instance, its checkpoint volume, image repository, SSM documents, idle stop,
and the LoRA training workflow that drives them."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2

from constructs import Construct
from constructs.gpu_training_instance import GpuTrainingInstance
from constructs.idle_stop import IdleStop
from constructs.log_retention import retention_days
from constructs.parameter_tree import bucket_from_tree
from constructs.private_network import PrivateNetwork
from constructs.training_documents import TrainingDocuments
from constructs.training_image_repository import TrainingImageRepository
from constructs.workflow_state_machine import WorkflowFunctions, WorkflowStateMachine
from modelsmith_core.config import EnvironmentConfig
from modelsmith_core.limits import MAX_FINE_TUNE_HOURS
from stacks.foundation_stack import FoundationStack
from statemachines.lora_training import LoraTrainingResources, abort_cleanup_permissions, build_definition


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
        documents = TrainingDocuments(self, "Documents", name_prefix=prefix)
        self.documents = documents.names
        IdleStop(
            self,
            "IdleStop",
            instance=gpu.instance,
            idle_minutes=config.training_instance.idle_stop_minutes,
            topic=foundation.notifications_topic,
        )

        def definition(functions: WorkflowFunctions) -> Any:
            return build_definition(
                self,
                LoraTrainingResources(
                    validator=functions.validator,
                    estimate_cost=functions.estimator,
                    instance_id=gpu.instance.instance_id,
                    instance_arn=gpu.instance_arn,
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

        workflow = WorkflowStateMachine(
            self,
            "Default",  # the logical IDs this stack's resources had before the construct (see its docstring)
            name="LoraTraining",
            workflow="lora-training",
            title="LoRA training workflow",
            config=config,
            encryption_key=key,
            log_retention=log_retention,
            topic=foundation.notifications_topic,
            validator_description="Checks LoRA workflow input against its schema",
            estimator_description="Estimates what a LoRA run costs",
            definition=definition,
            # The longest fine-tune (MAX_FINE_TUNE_HOURS) plus start-up, health checks, archive and publication.
            timeout=Duration.hours(MAX_FINE_TUNE_HOURS + 5),
            abort_cleanup=abort_cleanup_permissions(gpu.instance_arn),
            cleanup_environment={"INSTANCE_ID": gpu.instance.instance_id},
            no_resource_level="ec2:DescribeInstanceStatus and ssm:GetCommandInvocation (Service Authorization Reference)",
        )
        gpu.grant_drive(workflow.role)
        self.state_machine = workflow.state_machine
        self.validator = workflow.validator.function
        self.estimator = workflow.estimator.function

        for publisher in (gpu, documents, image):
            publisher.publish(workflow.parameters)
