"""ProjectSecrets: KMS-encrypted, no value in the template, removal per environment."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from constructs.project_secrets import ProjectSecrets


@pytest.mark.parametrize("retain", [True, False], ids=["retained", "destroyable"])
def test_secrets_are_encrypted_named_and_hold_no_value(retain: bool, stack: Stack) -> None:
    key = kms.Key(stack, "Key")
    ProjectSecrets(
        stack,
        "Secrets",
        encryption_key=key,
        name_prefix="modelsmith/qa",
        retain=retain,
        secrets={"hugging-face-token": "HF token.", "pinecone-api-key": "Pinecone key."},
    )
    template = Template.from_stack(stack)
    policy = "Retain" if retain else "Delete"
    template.resource_count_is("AWS::SecretsManager::Secret", 2)
    for name in ("modelsmith/qa/hugging-face-token", "modelsmith/qa/pinecone-api-key"):
        template.has_resource(
            "AWS::SecretsManager::Secret",
            {
                "Properties": {"Name": name, "KmsKeyId": Match.any_value(), "GenerateSecretString": {}},
                "DeletionPolicy": policy,
            },
        )
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"]
        assert "put-secret-value" in secret["Properties"]["Description"]
    assert '"SecretString":' not in json.dumps(template.to_json())
