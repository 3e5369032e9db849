"""The run-notification topic: every workflow reports success and failure here.

Props:
    encryption_key (kms.IKey): the project key (the key policy lets alarms and EventBridge use it). Required.
    email_addresses (Sequence[str]): e-mail subscriptions; each must be confirmed by its owner. Default none.

The topic refuses publishing over plain HTTP (``aws:SecureTransport``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions

from constructs import Construct


class Notifications(Construct):
    """An encrypted, TLS-only SNS topic with optional e-mail subscribers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        email_addresses: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Modelsmith run notifications",
            master_key=encryption_key,
            enforce_ssl=True,
        )
        for address in email_addresses:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
