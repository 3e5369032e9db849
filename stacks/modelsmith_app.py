"""Wires the stacks of one environment into an app and turns on the compliance checks.

``app.py`` calls :func:`add_stacks` and :func:`add_compliance_checks` with the config it loaded; the tests
call the same functions, so what they check is what ``cdk synth`` produces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import jsii
from aws_cdk import App, AspectPriority, Aspects, CfnResource, IAspect, Stack, TagManager, Tags, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks

from constructs import IConstruct
from constructs.operations_metrics import WatchedWorkflow
from modelsmith_core.config import EnvironmentConfig
from modelsmith_core.naming import resource_tags
from stacks.agent_stack import AgentStack
from stacks.foundation_stack import FoundationStack
from stacks.llm_customization_stack import LlmCustomizationStack
from stacks.network_stack import NetworkStack
from stacks.operations_stack import OperationsStack
from stacks.retrieval_pipeline_stack import RetrievalPipelineStack
from stacks.training_instance_stack import TrainingInstanceStack

# CDK's singleton custom-resource providers (bucket auto-deletion, default security group restriction) are
# plain CfnResources that Tags.of() cannot reach; these are the taggable types among them (list-form Tags).
_PLAIN_TAGGABLE_TYPES = frozenset({"AWS::IAM::Role", "AWS::Lambda::Function"})


@dataclass(frozen=True)
class ModelsmithStacks:
    """The stacks of one environment, for tests and for wiring stacks that depend on each other."""

    foundation: FoundationStack
    network: NetworkStack | None  # None with an existing VPC (network.vpc_id): nothing of the network is ours
    training_instance: TrainingInstanceStack
    retrieval_pipeline: RetrievalPipelineStack
    llm_customization: LlmCustomizationStack | None = None
    agent: AgentStack | None = None
    operations: OperationsStack | None = None

    def all(self) -> list[Stack]:
        stacks: list[Stack | None] = [
            self.foundation,
            self.network,
            self.training_instance,
            self.retrieval_pipeline,
            self.llm_customization,
            self.agent,
            self.operations,
        ]
        return [stack for stack in stacks if stack is not None]

    def watched_workflows(self) -> list[WatchedWorkflow]:
        """Every workflow with its steps' functions (the agent's tools function counts as a one-step workflow)."""
        workflows = [
            WatchedWorkflow(
                "retrieval-pipeline", self.retrieval_pipeline.state_machine, self.retrieval_pipeline.functions
            ),
            WatchedWorkflow(
                "lora-training",
                self.training_instance.state_machine,
                {"validate_input": self.training_instance.validator},
            ),
        ]
        if self.llm_customization is not None:
            workflows.append(
                WatchedWorkflow(
                    "llm-customization", self.llm_customization.state_machine, self.llm_customization.functions
                )
            )
        if self.agent is not None:
            workflows.append(WatchedWorkflow("agent-tools", None, {"tools": self.agent.tools.function}))
        return workflows


def stack_id(config: EnvironmentConfig, component: str) -> str:
    """``Modelsmith-<env>-<Component>``: the stack's construct ID and CloudFormation name."""
    return f"Modelsmith-{config.name}-{component}"


def cost_allocation_tags(config: EnvironmentConfig, stack: Stack) -> dict[str, str]:
    """``modelsmith_core.naming.resource_tags`` with the stack's part in kebab case as ``component`` (e.g.
    ``retrieval-pipeline``: what its runs' resources are tagged with)."""
    component = re.sub(r"(?<!^)(?=[A-Z])", "-", stack.node.id.rsplit("-", 1)[-1]).lower()
    return resource_tags(config.name, component, config.tags)


@jsii.implements(IAspect)
class _TagPlainResources:
    """Writes the cost-allocation tags into taggable plain CfnResources (CDK's custom-resource providers)."""

    def __init__(self, tags_of: Mapping[str, dict[str, str]]) -> None:
        self._tags_of = tags_of  # stack path -> tags

    def visit(self, node: IConstruct) -> None:
        if (
            isinstance(node, CfnResource)
            and node.cfn_resource_type in _PLAIN_TAGGABLE_TYPES
            and not TagManager.is_taggable(node)
        ):
            tags = self._tags_of[Stack.of(node).node.path]
            node.add_property_override("Tags", [{"Key": key, "Value": value} for key, value in sorted(tags.items())])


def add_stacks(app: App, config: EnvironmentConfig) -> ModelsmithStacks:
    """Add every stack of ``config``'s environment to ``app``, tagged for cost allocation."""
    foundation = FoundationStack(app, stack_id(config, "Foundation"), config=config)
    network = None
    if config.network.vpc_id is None:
        network = NetworkStack(app, stack_id(config, "Network"), config=config, encryption_key=foundation.key)
    training_instance = TrainingInstanceStack(
        app,
        stack_id(config, "TrainingInstance"),
        config=config,
        foundation=foundation,
        vpc=network.vpc if network else None,
        workload_subnets=network.workload_subnets if network else None,
    )
    retrieval_pipeline = RetrievalPipelineStack(
        app, stack_id(config, "RetrievalPipeline"), config=config, foundation=foundation
    )
    llm_customization = None
    if config.llm_customization.enabled:
        llm_customization = LlmCustomizationStack(
            app, stack_id(config, "LlmCustomization"), config=config, foundation=foundation
        )
    agent = None
    if config.agent.enabled:
        agent = AgentStack(
            app,
            stack_id(config, "Agent"),
            config=config,
            encryption_key=foundation.key,
            data_bucket=foundation.data_bucket,
            artifacts_bucket=foundation.artifacts_bucket,
            ads_token_secret=foundation.secrets["nasa-ads-token"],
            pinecone_api_key_secret=foundation.secrets["pinecone-api-key"],
        )
    stacks = ModelsmithStacks(
        foundation=foundation,
        network=network,
        training_instance=training_instance,
        retrieval_pipeline=retrieval_pipeline,
        llm_customization=llm_customization,
        agent=agent,
    )
    operations = OperationsStack(
        app,
        stack_id(config, "Operations"),
        config=config,
        foundation=foundation,
        workflows=stacks.watched_workflows(),
        gpu_instance_id=training_instance.instance.instance_id,
    )
    stacks = replace(stacks, operations=operations)

    tags_of = {stack.node.path: cost_allocation_tags(config, stack) for stack in stacks.all()}
    for stack in stacks.all():
        for key, value in tags_of[stack.node.path].items():
            Tags.of(stack).add(key, value)
    Aspects.of(app).add(_TagPlainResources(tags_of), priority=AspectPriority.MUTATING)
    return stacks


def add_compliance_checks(app: App) -> None:
    """cdk-nag's AWS Solutions and HIPAA Security packs; any unacknowledged finding fails synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), HIPAASecurityChecks(app))
