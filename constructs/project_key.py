"""The project's customer-managed KMS key: one key encrypts every bucket, secret, topic and log group.

Props:
    alias (str): the key alias, e.g. ``alias/modelsmith/dev``. Required.
    retain (bool): keep the key when the stack is deleted (prod); otherwise schedule deletion. Required.
    pending_window (Duration): waiting period before a deleted key is gone. Default 30 days.

Rotation is always on (yearly). Besides the account's administrators (CDK's default key policy), the key
policy lets the services that encrypt with it on our behalf use it, each limited to this account:
CloudWatch Logs (log groups of this account and region), CloudWatch alarms and EventBridge (publishing to
the encrypted notification topic).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import Construct
from constructs.compliance import acknowledge


class ProjectKey(Construct):
    """A rotating KMS key with the service grants Modelsmith's resources need; see the module docstring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alias: str,
        retain: bool,
        pending_window: Duration = Duration.days(30),
    ) -> None:
        super().__init__(scope, construct_id)
        if not alias.startswith("alias/") or alias.startswith("alias/aws/"):
            raise ValueError(f"alias = {alias!r}: must start with 'alias/' and not 'alias/aws/'")

        self.key = kms.Key(
            self,
            "Key",
            description="Modelsmith: encrypts buckets, secrets, topics and logs",
            alias=alias,
            enable_key_rotation=True,
            pending_window=pending_window,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                # In a key policy "*" means this key.
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
        acknowledge(
            self.key,
            {
                "Contract-IamConditionKey[kms:Describe*:kms:EncryptionContext:aws:logs:arn]": (
                    "The statement CloudWatch Logs documents for encrypting log groups, word for word "
                    "(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html); DescribeKey "
                    "carries no encryption context, so the condition only narrows it, never widens it."
                ),
            },
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsAndEventsPublishToEncryptedTopics",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
