"""Wires the stacks of one environment into an app and turns on the compliance checks.

``app.py`` calls :func:`add_stacks` and :func:`add_compliance_checks` with the config it loaded; the tests
call the same functions, so what they check is what ``cdk synth`` produces.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Stack, Tags, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks

from modelsmith.config import EnvironmentConfig
from stacks.agent_stack import AgentStack
from stacks.foundation_stack import FoundationStack
from stacks.llm_customization_stack import LlmCustomizationStack
from stacks.network_stack import NetworkStack
from stacks.retrieval_pipeline_stack import RetrievalPipelineStack
from stacks.training_instance_stack import TrainingInstanceStack


@dataclass(frozen=True)
class ModelsmithStacks:
    """The stacks of one environment, for tests and for wiring stacks that depend on each other."""

    foundation: FoundationStack
    network: NetworkStack
    training_instance: TrainingInstanceStack
    retrieval_pipeline: RetrievalPipelineStack
    llm_customization: LlmCustomizationStack | None = None
    agent: AgentStack | None = None

    def all(self) -> list[Stack]:
        stacks: list[Stack | None] = [self.foundation, self.network, self.training_instance, self.retrieval_pipeline,
                                      self.llm_customization, self.agent]
        return [stack for stack in stacks if stack is not None]


def stack_id(config: EnvironmentConfig, component: str) -> str:
    """``Modelsmith-<env>-<Component>``: the stack's construct ID and CloudFormation name."""
    return f"Modelsmith-{config.name}-{component}"


def add_stacks(app: App, config: EnvironmentConfig) -> ModelsmithStacks:
    """Add every stack of ``config``'s environment to ``app``, tagged for cost allocation."""
    foundation = FoundationStack(app, stack_id(config, "Foundation"), config=config)
    network = NetworkStack(app, stack_id(config, "Network"), config=config, encryption_key=foundation.key)
    training_instance = TrainingInstanceStack(
        app, stack_id(config, "TrainingInstance"), config=config, foundation=foundation,
        vpc=network.vpc, workload_subnets=network.workload_subnets,
    )  # fmt: skip
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
            app, stack_id(config, "Agent"), config=config, encryption_key=foundation.key,
            data_bucket=foundation.data_bucket, artifacts_bucket=foundation.artifacts_bucket,
            ads_token_secret=foundation.secrets["nasa-ads-token"],
            pinecone_api_key_secret=foundation.secrets["pinecone-api-key"],
        )  # fmt: skip
    stacks = ModelsmithStacks(
        foundation=foundation, network=network, training_instance=training_instance,
        retrieval_pipeline=retrieval_pipeline, llm_customization=llm_customization, agent=agent,
    )  # fmt: skip

    Tags.of(app).add("project", "modelsmith")
    Tags.of(app).add("environment", config.name)
    for key, value in config.tags.items():
        Tags.of(app).add(key, value)
    for stack in stacks.all():
        Tags.of(stack).add("component", stack.node.id.rsplit("-", 1)[-1].lower())
    return stacks


def add_compliance_checks(app: App) -> None:
    """cdk-nag's AWS Solutions and HIPAA Security packs; any unacknowledged finding fails synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), HIPAASecurityChecks(app))
