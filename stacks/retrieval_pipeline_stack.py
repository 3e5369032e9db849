"""RetrievalPipeline: the fine-tuning pipeline state machine, its functions, and the roles Bedrock batch
inference, SageMaker (training and serving) and OpenSearch ML Commons (calling the endpoint) act with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack

from constructs import Construct
from constructs.log_retention import retention_days
from constructs.parameter_tree import bucket_from_tree
from constructs.retrieval_access import (
    batch_inference_role,
    grant_model_registration,
    ml_commons_connector_role,
    pipeline_functions,
    secret_names,
)
from constructs.sagemaker_code import SageMakerTrainingCode
from constructs.sagemaker_roles import sagemaker_execution_roles
from constructs.workflow_state_machine import Definition, WorkflowFunctions, WorkflowStateMachine
from modelsmith_core import naming
from modelsmith_core.config import EnvironmentConfig
from stacks.foundation_stack import FoundationStack
from statemachines.retrieval_pipeline import (
    TRAINING_PROGRAM,
    RetrievalPipelineResources,
    SageMakerSettings,
    abort_cleanup_permissions,
    build_definition,
    task_resource_reasons,
)

TRAINING_REQUIREMENTS = Path(__file__).resolve().parents[1] / "sagemaker_src" / "retrieval" / "requirements.txt"


class RetrievalPipelineStack(Stack):
    """Props: config, foundation (FoundationStack). ``poll_interval`` (default 2 minutes) sets how often a batch
    inference job is checked, ``endpoint_poll_interval`` (default 1 minute) how often a deploying endpoint is;
    tests shorten both. Exposes ``state_machine``, ``functions`` (name -> Function) and ``roles``. What each
    function and role may do: constructs/retrieval_access.py and constructs/sagemaker_roles.py.
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
        artifacts = bucket_from_tree(self, "ArtifactsBucket", environment_name=config.name, key="artifacts-bucket")
        workers = pipeline_functions(
            self,
            artifacts_bucket=artifacts,
            data_bucket=data_bucket,
            encryption_key=key,
            log_retention=log_retention,
            environment_name=config.name,
        )
        extract, generate, register = workers["extract_corpus"], workers["generate_queries"], workers["register_model"]
        batch_role = batch_inference_role(self, "BatchInferenceRole", artifacts_bucket=artifacts, encryption_key=key)

        code = SageMakerTrainingCode(
            self,
            "TrainingCode",
            entry_module="sagemaker_src.retrieval.train",
            program=TRAINING_PROGRAM,
            requirements=TRAINING_REQUIREMENTS,
        )
        training_role, inference_role = sagemaker_execution_roles(
            self,
            purpose="retrieval pipeline",
            images=SageMakerSettings.image_uris(config),
            artifacts_bucket=artifacts,
            encryption_key=key,
        )
        code.grant_read(training_role)
        endpoint_prefix = naming.endpoint_name_prefix(config.name)
        connector_role = ml_commons_connector_role(self, "MlCommonsConnectorRole", endpoint_prefix=endpoint_prefix)
        grant_model_registration(
            register,
            connector_role=connector_role,
            endpoint_prefix=endpoint_prefix,
            encryption_key=key,
            environment_name=config.name,
        )

        sagemaker = SageMakerSettings.from_config(
            config,
            training_role_arn=training_role.role_arn,
            inference_role_arn=inference_role.role_arn,
            code_uri=code.s3_uri,
            key_arn=key.key_arn,
        )

        def definition(functions: WorkflowFunctions) -> Definition:
            return build_definition(
                self,
                RetrievalPipelineResources(
                    validator=functions.validator,
                    extract_corpus=extract.function,
                    generate_queries=generate.function,
                    build_pairs=workers["build_pairs"].function,
                    batch_role=batch_role,
                    artifacts_bucket_name=artifacts.bucket_name,
                    encryption_key_arn=key.key_arn,
                    topic=foundation.notifications_topic,
                    publish_report=workers["publish_training_report"].function,
                    register_model=register.function,
                    estimate_cost=functions.estimator,
                    sagemaker=sagemaker,
                    pinecone_secret_name=secret_names(config.name)[0],
                    connector_role_arn=connector_role.role_arn,
                    poll_interval=poll_interval,
                    endpoint_poll_interval=endpoint_poll_interval,
                ),
            )

        workflow = WorkflowStateMachine(
            self,
            "Default",  # the logical IDs this stack's resources had before the construct (see its docstring)
            name="RetrievalPipeline",
            workflow="retrieval-pipeline",
            title="Retrieval fine-tuning pipeline",
            config=config,
            encryption_key=key,
            log_retention=log_retention,
            topic=foundation.notifications_topic,
            validator_description="Checks retrieval pipeline input against its schema",
            estimator_description="Estimates what a run costs",
            definition=definition,
            timeout=Duration.hours(96),
            abort_cleanup=abort_cleanup_permissions(),
            no_resource_level="sagemaker:ListEndpoints",
        )
        batch_role.grant_pass_role(workflow.role)
        workflow.invokes(*(worker.function for worker in workers.values()))
        workflow.acknowledge_task_resources(task_resource_reasons(endpoint_prefix))
        self.state_machine = workflow.state_machine
        self.batch_role = batch_role
        self.roles = {
            "batch": batch_role,
            "connector": connector_role,
            "training": training_role,
            "inference": inference_role,
        }
        self.functions = {
            "validate_input": workflow.validator.function,
            "estimate_cost": workflow.estimator.function,
            **{source: worker.function for source, worker in workers.items()},
        }
        workflow.parameters.publish(
            "retrieval-pipeline",
            "batch-inference-role-arn",
            batch_role.role_arn,
            description="Role Bedrock batch inference uses for pipeline runs",
        )
