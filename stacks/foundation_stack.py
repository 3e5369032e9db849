"""Foundation: the stateful core every other stack builds on.

A KMS key; data, artifacts and access-log buckets; the third-party credential secrets; the run-notification
topic; and the SSM parameters that publish their IDs. With ``retain_stateful_resources`` (prod) all of it
survives stack deletion and the stack is termination-protected; otherwise (dev) ``cdk destroy`` removes it.

The logical IDs of the stateful resources are pinned by ``tests/stacks/test_foundation_stack.py``: renaming
a construct here would replace a bucket or key, so that test must fail first.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack

from constructs import Construct
from constructs.notifications import Notifications
from constructs.parameter_tree import ParameterTree
from constructs.project_key import ProjectKey
from constructs.project_secrets import ProjectSecrets
from constructs.secure_bucket import SecureBucket
from modelsmith_core.config import EnvironmentConfig

AGENT_OUTPUT_RETENTION_DAYS = 30

# Secret ID -> what it holds. Their IDs are also the parameter keys under /modelsmith/<env>/secrets/.
THIRD_PARTY_SECRETS: dict[str, str] = {
    "hugging-face-token": "Hugging Face Hub access token (write scope) for publishing models.",
    "pinecone-api-key": "Pinecone API key for registering embeddings.",
    "nasa-ads-token": "NASA ADS API token for the astronomy agent's literature search.",
}


class FoundationStack(Stack):
    """Key, buckets, secrets, topic and parameter tree of one environment.

    Props:
        config (EnvironmentConfig): the environment. Required.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Modelsmith {config.name}: key, buckets, secrets, notifications, parameters (stateful)",
            termination_protection=config.retain_stateful_resources,
            **kwargs,
        )
        retain = config.retain_stateful_resources

        self.key = ProjectKey(self, "ProjectKey", alias=f"alias/modelsmith/{config.name}", retain=retain).key

        lifecycle: dict[str, Any] = dict(
            retain=retain,
            noncurrent_version_expiration=Duration.days(config.noncurrent_version_expiration_days),
            abort_incomplete_multipart_upload_after=Duration.days(config.abort_incomplete_multipart_upload_days),
        )
        self.access_logs_bucket = SecureBucket(
            self,
            "AccessLogs",
            encryption_key=None,
            access_logs_bucket=None,
            current_version_expiration=Duration.days(config.log_retention_days),
            **lifecycle,
        ).bucket
        self.data_bucket = SecureBucket(
            self,
            "Data",
            encryption_key=self.key,
            access_logs_bucket=self.access_logs_bucket,
            access_logs_prefix="data/",
            **lifecycle,
        ).bucket
        self.artifacts_bucket = SecureBucket(
            self,
            "Artifacts",
            encryption_key=self.key,
            access_logs_bucket=self.access_logs_bucket,
            access_logs_prefix="artifacts/",
            # The agent's tool outputs are shared through presigned links that expire after hours; keep a month.
            expiring_prefixes={config.agent.output_prefix: Duration.days(AGENT_OUTPUT_RETENTION_DAYS)},
            **lifecycle,
        ).bucket

        self.secrets = ProjectSecrets(
            self,
            "Secrets",
            encryption_key=self.key,
            secrets=THIRD_PARTY_SECRETS,
            name_prefix=f"modelsmith/{config.name}",
            retain=retain,
        ).secrets

        self.notifications_topic = Notifications(
            self, "Notifications", encryption_key=self.key, email_addresses=config.notification_emails
        ).topic

        self.parameters = ParameterTree(self, "Parameters", environment_name=config.name)
        publish = self.parameters.publish
        publish("kms", "key-arn", self.key.key_arn, description="ARN of the project KMS key")
        publish("kms", "key-id", self.key.key_id, description="ID of the project KMS key")
        publish("s3", "data-bucket", self.data_bucket.bucket_name, description="Bucket for input corpora and datasets")
        publish(
            "s3",
            "artifacts-bucket",
            self.artifacts_bucket.bucket_name,
            description="Bucket for run outputs (runs/<execution-name>/)",
        )
        publish(
            "s3",
            "access-logs-bucket",
            self.access_logs_bucket.bucket_name,
            description="Server access logs of the buckets",
        )
        for secret_id, secret in self.secrets.items():
            publish(
                "secrets",
                secret_id,
                secret.secret_arn,
                description=f"ARN of the secret: {THIRD_PARTY_SECRETS[secret_id]}",
            )
        publish(
            "sns",
            "notifications-topic-arn",
            self.notifications_topic.topic_arn,
            description="ARN of the run-notification topic",
        )
