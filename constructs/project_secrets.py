"""Secrets Manager secrets for third-party credentials, created empty of any value we know.

Props:
    encryption_key (kms.IKey): the project key. Required.
    secrets (Mapping[str, str]): secret ID -> description, e.g. ``{"hugging-face-token": "..."}``. Required.
    name_prefix (str): secret names are ``<name_prefix>/<id>``, e.g. ``modelsmith/dev/hugging-face-token``.
    retain (bool): keep the secrets when the stack is deleted (prod). Required.

CloudFormation fills each secret with a random placeholder (no value appears in the template); operators
replace it with ``aws secretsmanager put-secret-value`` (see README). The tokens are issued by third parties
(Hugging Face, Pinecone, NASA ADS) whose keys no rotation function of ours can mint, so rotation is
acknowledged, not configured.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from constructs.compliance import acknowledge

_ROTATION_REASON = (
    "Third-party API token (Hugging Face, Pinecone, NASA ADS): only the issuing service can mint a new one, "
    "so operators rotate it there and put the new value here."
)


class ProjectSecrets(Construct):
    """One KMS-encrypted secret per third-party credential; see the module docstring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        secrets: Mapping[str, str],
        name_prefix: str,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.secrets: dict[str, secretsmanager.Secret] = {}
        for secret_id, description in secrets.items():
            secret = secretsmanager.Secret(
                self,
                secret_id,
                secret_name=f"{name_prefix}/{secret_id}",
                description=f"{description} Set its value with put-secret-value; see README.",
                encryption_key=encryption_key,
                removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            )
            acknowledge(
                secret,
                {
                    "AwsSolutions-SMG4": _ROTATION_REASON,
                    "HIPAA.Security-SecretsManagerRotationEnabled": _ROTATION_REASON,
                },
            )
            self.secrets[secret_id] = secret
