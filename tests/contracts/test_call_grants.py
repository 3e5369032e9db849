"""Every AWS API call each principal makes has its grant, dependent permissions included.

The inventory (``tests.support.call_inventory``): the workflows' task states (SDK and optimized integrations and
the calls a ``.sync`` integration makes on its own), the boto3 calls in ``lambda_src/``, the GPU instance scripts'
``aws`` CLI calls and the image CI's calls. Each call, and each permission ``DEPENDENT_RULES`` adds to it (KMS keys,
tags, the reference's dependent actions; each rule with the URL that states it), is evaluated offline against the
calling role's identity policies (``tests.support.iam_evaluation``).
"""

from __future__ import annotations

import copy

import pytest

from tests.contracts.known_defects import expected_failure
from tests.support.call_inventory import DEPENDENT_RULES, inventory, with_dependents
from tests.support.deployed_app import DeployedApp
from tests.support.iam_evaluation import granted_resources, is_allowed
from tests.support.iam_reference import action as reference_action
from tests.support.iam_reference import arn_matches
from tests.support.policies import role_policies


def _allowed(call, documents, app) -> bool:
    if call.exact:
        return all(is_allowed(documents, call.action, resource, call.context) for resource in call.resources)
    # The resource is not known: some granted resource of the action's type must be allowed.
    record = reference_action(call.action)
    candidates = call.resources or granted_resources(documents, call.action)
    for resource in candidates:
        if (
            resource != "*"
            and record is not None
            and record.resource_types
            and not any(
                arn_matches(resource, arn, region=app.region, account=app.account)
                for rtype in record.resource_types
                for arn in rtype.arns
            )
        ):
            continue
        if is_allowed(documents, call.action, resource, call.context):
            return True
    return False


def ungranted(app: DeployedApp) -> tuple[list[str], int, int]:
    """(calls without their grant, calls inventoried, permissions checked with dependents)."""
    policies = role_policies(app)
    calls = inventory(app)
    checks = with_dependents(calls, app, policies)
    missing = []
    for call in checks:
        documents = [document.document for document in policies.get(call.principal, [])]
        if not _allowed(call, documents, app):
            missing.append(f"{call.principal[1]} — {call.describe()}")
    return sorted(set(missing)), len(calls), len(checks)


def test_every_call_has_its_grant_and_dependent_permissions(deployed: DeployedApp) -> None:
    missing, calls, checks = ungranted(deployed)
    assert calls > 100 and checks > calls
    unknown = [entry for entry in missing if expected_failure(entry) is None]
    assert unknown == [], "\n".join(unknown)


def test_every_dependent_rule_cites_its_source() -> None:
    assert all(rule.source.startswith("https://docs.aws.amazon.com/") for rule in DEPENDENT_RULES)


def test_negative_control_removing_one_grant_fails_the_check(deployed: DeployedApp) -> None:
    # GIVEN the app as synthesized, WHEN the notification topic's KMS grant is removed from one workflow's role
    broken = copy.deepcopy(deployed)
    removed = 0
    for stack, logical_id, resource in broken.resources("AWS::IAM::Policy"):
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "sns:Publish" in actions and len(actions) == 1 and "LlmCustomization" in stack.name + logical_id:
                statement["Action"] = "sns:GetTopicAttributes"
                removed += 1
    assert removed, "expected the customization workflow to publish to the topic"
    # THEN the check reports the missing call
    missing, _, _ = ungranted(broken)
    assert any("sns:Publish" in entry and "LlmCustomization" in entry for entry in missing), missing


@pytest.fixture(scope="module")
def variant(tmp_path_factory) -> DeployedApp:
    """dev with what its defaults leave out: a CPU endpoint (its config carries the project key), a GitHub
    repository that builds the training image (the publisher role exists) and a customization base model served by
    Provisioned Throughput (Llama 3.1 8B). One synthesis serves the tests below."""
    import json as _json

    from aws_cdk import App

    from modelsmith_core.config import load_config
    from stacks.modelsmith_app import add_stacks
    from tests.conftest import CDK_CONTEXT

    environments = _json.loads(_json.dumps(CDK_CONTEXT["environments"]))
    environments["dev"].setdefault("retrieval_pipeline", {})["endpoint_instance_type"] = "ml.m5.xlarge"
    environments["dev"].setdefault("training_instance", {})["image_publisher_github_repository"] = "acme/modelsmith"
    environments["dev"].setdefault("llm_customization", {})["base_model_id"] = "meta.llama3-1-8b-instruct-v1:0:128k"
    outdir = tmp_path_factory.mktemp("variant")
    app = App(outdir=str(outdir), context={**CDK_CONTEXT, "environments": environments})
    add_stacks(app, load_config(environments, "dev"))
    app.synth()
    return DeployedApp.from_templates(sorted(outdir.glob("*.template.json")), "us-west-2")


def test_a_cpu_endpoint_with_the_project_key_has_its_grant(variant: DeployedApp) -> None:
    # GIVEN an endpoint type without instance storage: its config carries the project key (KmsKeyId)
    deployed = variant
    missing, _, _ = ungranted(deployed)
    # THEN creating and updating the endpoint may create the grant SageMaker needs on the key
    assert missing == [], "\n".join(missing)
    creates = [call for call in inventory(deployed) if call.action == "sagemaker:CreateEndpoint"]
    rules = {call.rule for call in with_dependents(creates, deployed, role_policies(deployed))}
    assert "sagemaker-endpoint-kms" in rules


def test_provisioned_throughput_calls_have_their_grants(variant: DeployedApp) -> None:
    # GIVEN a base model Bedrock serves only through Provisioned Throughput: the workflow buys, reads and deletes it
    actions = {call.action for call in inventory(variant)}
    assert {
        "bedrock:CreateProvisionedModelThroughput",
        "bedrock:GetProvisionedModelThroughput",
        "bedrock:DeleteProvisionedModelThroughput",
    } <= actions
    assert "bedrock:CreateCustomModelDeployment" not in actions
    # THEN every call has its grant (the variant's other test checks the whole app; this names the calls)
    missing, _, _ = ungranted(variant)
    assert [entry for entry in missing if "Provisioned" in entry] == []


def test_the_image_ci_can_find_and_push_to_its_repository(variant: DeployedApp) -> None:
    # GIVEN an environment whose training image is built by GitHub Actions (a publisher role exists)
    import json as _json

    from tests.support.call_inventory import ci_calls

    deployed = variant
    # WHEN the CI workflow's calls are checked against the publisher role
    calls = list(ci_calls(deployed))
    assert {"ssm:GetParameter", "ecr:GetAuthorizationToken", "ecr:PutImage"} <= {call.action for call in calls}
    policies = role_policies(deployed)
    missing = [
        call.describe()
        for call in with_dependents(calls, deployed, policies)
        if not _allowed(call, [d.document for d in policies.get(call.principal, [])], deployed)
    ]
    # THEN each has its grant
    assert missing == [], _json.dumps(missing, indent=1)


def test_the_workflow_branch_table_covers_what_the_code_calls() -> None:
    # The functions serving several workflows: every AWS call their code makes, except the notification, belongs
    # to exactly the branches the table names (so a new call cannot slip past the per-workflow grant check).
    from tests.support.call_inventory import IAM_ACTION, IAM_PREFIX, WORKFLOW_BRANCHES, lambda_operations

    for function, branches in WORKFLOW_BRANCHES.items():
        found = set()
        for service, operations in lambda_operations(function).items():
            for operation in operations:
                action = f"{IAM_PREFIX.get(service, service)}:{operation}"
                found.add(IAM_ACTION.get(action, action))
        assert found - {"sns:Publish"} == set().union(*branches.values()), function
