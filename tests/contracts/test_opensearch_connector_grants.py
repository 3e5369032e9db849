"""The registration function may pass the ML Commons connector role the way Amazon OpenSearch Service checks it.

"Amazon OpenSearch Service ML connectors for AWS services", Configure permissions
(https://docs.aws.amazon.com/opensearch-service/latest/developerguide/ml-amazon-connector.html): the identity that
signs the create-connector request needs ``iam:PassRole`` on the connector role and ``es:ESHttpPost`` on the
domain; the policy it gives has no condition. Whether OpenSearch Service sets ``iam:PassedToService`` in that check
is not documented, so a grant conditioned on it may be refused: the request context here carries no such key.
"""

from __future__ import annotations

from tests.support.deployed_app import DeployedApp
from tests.support.iam_evaluation import is_allowed
from tests.support.policies import role_policies


def test_the_registration_function_can_pass_the_connector_role_without_a_service_condition(
    deployed: DeployedApp,
) -> None:
    (stack,) = [stack for name, stack in deployed.stacks.items() if name.endswith("RetrievalPipeline")]
    roles = [logical_id for s, logical_id, _ in deployed.resources("AWS::IAM::Role") if s is stack]
    (connector_role,) = [logical_id for logical_id in roles if logical_id.startswith("MlCommonsConnectorRole")]
    (register_role,) = [
        resource["Properties"]["Role"]["Fn::GetAtt"][0]
        for s, _, resource in deployed.resources("AWS::Lambda::Function")
        if s is stack and _service_name(resource) == "register_model"
    ]
    documents = [document.document for document in role_policies(deployed)[(stack.name, register_role)]]
    role_arn = deployed.get_att(stack.name, connector_role, "Arn")
    domain = f"arn:aws:es:{deployed.region}:{deployed.account}:domain/handbook/_plugins/_ml/connectors/_create"

    assert is_allowed(documents, "iam:PassRole", role_arn, {})
    assert is_allowed(documents, "es:ESHttpPost", domain, {})
    # Negative control: no other role of the account.
    assert not is_allowed(documents, "iam:PassRole", f"arn:aws:iam::{deployed.account}:role/someone-else", {})


def _service_name(function: dict) -> str | None:
    return function["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
