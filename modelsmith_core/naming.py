"""Names and tags of what pipeline runs create at run time (not CDK): the one place they are spelled.

SageMaker endpoints of the retrieval pipeline are named ``ms-<env>-<model_name>`` (at most 63 characters:
model names have at most 48, environment names at most 12), so a re-run of the same model updates its
endpoint in place, dashboards and alarms can select an environment's endpoints by prefix, and the clean-up
command can find them. Every SageMaker resource a run creates (training job, model, endpoint config,
endpoint) and every Bedrock resource a customization run creates (job, custom model, deployment) carries
:func:`resource_tags` plus ``TAG_RUN_ID``, the execution name, which is how ``modelsmith.cleanup`` finds them.
"""

from __future__ import annotations

from collections.abc import Mapping

PROJECT = "modelsmith"
TAG_PROJECT = "project"
TAG_ENVIRONMENT = "environment"
TAG_COMPONENT = "component"
TAG_RUN_ID = "modelsmith:run-id"
RETRIEVAL_COMPONENT = "retrieval-pipeline"
LLM_CUSTOMIZATION_COMPONENT = "llm-customization"


def resource_tags(environment_name: str, component: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The cost-allocation tags of a stack's resources and of what its runs create: ``project``, ``environment``,
    ``component`` (kebab case, e.g. ``retrieval-pipeline``), then the config's own ``tags`` (``extra``)."""
    return {TAG_PROJECT: PROJECT, TAG_ENVIRONMENT: environment_name, TAG_COMPONENT: component, **extra}


def endpoint_name_prefix(environment_name: str) -> str:
    """``ms-<env>-``: what every retrieval-pipeline endpoint name of ``environment_name`` starts with."""
    return f"ms-{environment_name}-"


def endpoint_name(environment_name: str, model_name: str) -> str:
    return f"{endpoint_name_prefix(environment_name)}{model_name}"
