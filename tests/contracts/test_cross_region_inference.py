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
    for stack, logical_id, resource in app.resources("AWS::Lambda::Function"):
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        if stack.name.endswith("RetrievalPipeline") and variables.get("POWERTOOLS_SERVICE_NAME") == "generate_queries":
            callers["generate_queries (InvokeModel)"] = (stack.name, resource["Properties"]["Role"]["Fn::GetAtt"][0])
    for stack, logical_id, resource in app.resources("AWS::IAM::Role"):
        if stack.name.endswith("RetrievalPipeline") and logical_id.startswith("BatchInferenceRole"):
            callers["batch inference role (InvokeModel)"] = (stack.name, logical_id)
    for stack, logical_id, resource in app.resources("AWS::StepFunctions::StateMachine"):
        if stack.name.endswith("RetrievalPipeline"):
            callers["workflow (CreateModelInvocationJob)"] = (stack.name, resource["Properties"]["RoleArn"]["Fn::GetAtt"][0])
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


@pytest.mark.parametrize("region", ["eu-west-1", "ap-northeast-1"])
def test_other_geographies_stay_out_of_the_stacks_account_profiles(deployed: DeployedApp, region: str) -> None:
    # Negative control: the profile grant stays in this account and Region; only foundation models (which have
    # no account) are granted in every Region.
    policies = role_policies(deployed)
    for principal in _callers(deployed).values():
        documents = [document.document for document in policies[principal]]
        other_account = f"arn:aws:bedrock:{deployed.region}:999999999999:inference-profile/{PROFILE}"
        assert not is_allowed(documents, "bedrock:InvokeModel", other_account)
        assert not is_allowed(documents, "bedrock:CreateModelInvocationJob", other_account)
