"""A model named by a cross-Region inference profile can be invoked by every role that invokes it.

The retrieval pipeline's ``bedrock_model_id`` accepts inference profile IDs (``us.meta.llama3-1-8b-instruct-v1:0``);
Bedrock routes such a request from the source Region to any of the profile's destination Regions, and the caller
needs the inference action on the profile *and* on the foundation model in every destination Region:

- "Prerequisites for inference profiles" (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html):
  the policy it gives allows ``bedrock:InvokeModel*`` on ``arn:aws:bedrock:*::foundation-model/*`` and
  ``arn:aws:bedrock:*:*:inference-profile/*``;
- "Supported Regions and models for inference profiles"
  (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html): update "IAM policies to
  allow all required Amazon Bedrock inference actions (for example, ``bedrock:InvokeModel*`` or
  ``bedrock:CreateModelInvocationJob``) in all destination Regions included in your selected inference profile".

The US profile's destinations checked here are the three Regions the US profiles of Meta Llama 3.1 route to from
us-west-2 (the same support page); a policy scoped to the stack's own Region fails for two of them.
"""

from __future__ import annotations

import pytest

from tests.support.deployed_app import DeployedApp
from tests.support.iam_evaluation import is_allowed
from tests.support.policies import role_policies

PROFILE = "us.meta.llama3-1-8b-instruct-v1:0"
DESTINATIONS = ("us-east-1", "us-east-2", "us-west-2")


def _callers(app: DeployedApp) -> dict[str, tuple[str, str]]:
    """Role of each caller of the retrieval pipeline's query-writing model: name -> (stack, role logical ID)."""
    callers = {}
    for stack, _, resource in app.resources("AWS::Lambda::Function"):
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        if stack.name.endswith("RetrievalPipeline") and variables.get("POWERTOOLS_SERVICE_NAME") == "generate_queries":
            callers["generate_queries (InvokeModel)"] = (stack.name, resource["Properties"]["Role"]["Fn::GetAtt"][0])
    for stack, logical_id, _ in app.resources("AWS::IAM::Role"):
        if stack.name.endswith("RetrievalPipeline") and logical_id.startswith("BatchInferenceRole"):
            callers["batch inference role (InvokeModel)"] = (stack.name, logical_id)
    for stack, _, resource in app.resources("AWS::StepFunctions::StateMachine"):
        if stack.name.endswith("RetrievalPipeline"):
            callers["workflow (CreateModelInvocationJob)"] = (
                stack.name,
                resource["Properties"]["RoleArn"]["Fn::GetAtt"][0],
            )
    assert len(callers) == 3, callers
    return callers


def test_query_writers_can_use_a_us_cross_region_profile(deployed: DeployedApp) -> None:
    policies = role_policies(deployed)
    problems = []
    for caller, principal in _callers(deployed).items():
        action = "bedrock:CreateModelInvocationJob" if "CreateModelInvocationJob" in caller else "bedrock:InvokeModel"
        documents = [document.document for document in policies[principal]]
        profile = f"arn:aws:bedrock:{deployed.region}:{deployed.account}:inference-profile/{PROFILE}"
        model = PROFILE.removeprefix("us.")
        needed = [profile] + [f"arn:aws:bedrock:{region}::foundation-model/{model}" for region in DESTINATIONS]
        problems += [f"{caller}: {action} on {arn}" for arn in needed if not is_allowed(documents, action, arn)]
    assert problems == []


def test_profiles_stay_in_the_stacks_account_and_region(deployed: DeployedApp) -> None:
    # Negative control: only foundation models (which have no account) are granted in every Region; an inference
    # profile of another account, or of another Region, is refused.
    policies = role_policies(deployed)
    for principal in _callers(deployed).values():
        documents = [document.document for document in policies[principal]]
        for arn in (
            f"arn:aws:bedrock:{deployed.region}:999999999999:inference-profile/{PROFILE}",
            f"arn:aws:bedrock:eu-west-1:{deployed.account}:inference-profile/eu.meta.llama3-1-8b-instruct-v1:0",
        ):
            assert not is_allowed(documents, "bedrock:InvokeModel", arn), arn
            assert not is_allowed(documents, "bedrock:CreateModelInvocationJob", arn), arn


def test_the_customization_evaluation_can_invoke_its_base_model_through_its_profile(deployed: DeployedApp) -> None:
    # Llama 3.3 (and 3.2) base models are invoked through their US cross-Region profile (catalogue.base_invocation_id)
    from modelsmith_core.catalogue import BEDROCK_CUSTOMIZATION_MODELS

    stacks = [name for name in deployed.stacks if name.endswith("LlmCustomization")]
    if not stacks:
        pytest.skip("llm_customization is disabled in this environment")
    (stack,) = stacks
    functions = [(s.name, resource["Properties"]) for s, _, resource in deployed.resources("AWS::Lambda::Function")]
    (role,) = [
        properties["Role"]["Fn::GetAtt"][0]
        for name, properties in functions
        if name == stack
        and properties.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
        == "evaluate_customization"
    ]
    documents = [document.document for document in role_policies(deployed)[(stack, role)]]
    models = BEDROCK_CUSTOMIZATION_MODELS.values()
    profiles = {model.base_invocation_id for model in models if model.base_invocation_id.startswith("us.")}
    assert profiles, "the catalogue names US profiles"
    for profile in sorted(profiles):
        arns = [f"arn:aws:bedrock:{deployed.region}:{deployed.account}:inference-profile/{profile}"]
        arns += [f"arn:aws:bedrock:{region}::foundation-model/{profile.removeprefix('us.')}" for region in DESTINATIONS]
        assert [arn for arn in arns if not is_allowed(documents, "bedrock:InvokeModel", arn)] == []
