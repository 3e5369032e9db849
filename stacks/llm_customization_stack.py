"""LlmCustomization: Bedrock fine-tuning of the environment's Llama 3.x model, evaluated against its base model."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack

from constructs import Construct
from constructs.customization_access import customization_functions, customization_role, grant_custom_model_encryption
from constructs.log_retention import retention_days
from constructs.parameter_tree import bucket_from_tree
from constructs.workflow_state_machine import WorkflowFunctions, WorkflowStateMachine
from modelsmith_core import naming
from modelsmith_core.catalogue import BEDROCK_CUSTOMIZATION_MODELS
from modelsmith_core.config import EnvironmentConfig
from stacks.foundation_stack import FoundationStack
from statemachines.llm_customization import (
    SERVINGS,
    LlmCustomizationResources,
    abort_cleanup_permissions,
    build_definition,
    task_resource_reasons,
)


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
        self.model = model = BEDROCK_CUSTOMIZATION_MODELS[base_model_id]
        prepare, evaluate = customization_functions(
            self,
            artifacts_bucket=artifacts,
            data_bucket=bucket_from_tree(self, "DataBucket", environment_name=config.name, key="data-bucket"),
            encryption_key=key,
            log_retention=log_retention,
            serving=SERVINGS[model.deployment].resource,  # what serves the custom model
        )
        self.customization_role = customization_role(
            self, "CustomizationRole", artifacts_bucket=artifacts, encryption_key=key
        )

        def definition(functions: WorkflowFunctions) -> Any:
            return build_definition(
                self,
                LlmCustomizationResources(
                    prepare_data=prepare.function,
                    evaluate=evaluate.function,
                    validator=functions.validator,
                    estimate_cost=functions.estimator,
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

        workflow = WorkflowStateMachine(
            self,
            "Default",  # the logical IDs this stack's resources had before the construct (see its docstring)
            name="LlmCustomization",
            workflow="llm-customization",
            title="Bedrock model customization workflow",
            config=config,
            encryption_key=key,
            log_retention=log_retention,
            topic=foundation.notifications_topic,
            validator_description="Checks customization input against its schema",
            estimator_description="Estimates what a customization run costs",
            definition=definition,
            timeout=Duration.days(7),
            abort_cleanup=abort_cleanup_permissions(),
        )
        self.state_machine = workflow.state_machine
        self.customization_role.grant_pass_role(workflow.role)
        grant_custom_model_encryption(workflow.role, key)
        workflow.invokes(prepare.function, evaluate.function)
        workflow.acknowledge_task_resources(task_resource_reasons(model))
        self.functions = {
            "validate_input": workflow.validator.function,
            "estimate_cost": workflow.estimator.function,
            "prepare_customization_data": prepare.function,
            "evaluate_customization": evaluate.function,
        }
