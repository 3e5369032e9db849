"""Notifications: an encrypted topic that refuses plain HTTP, with e-mail subscribers from config."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from constructs.notifications import Notifications


def _template(stack: Stack, emails: tuple[str, ...]) -> Template:
    Notifications(stack, "Notifications", encryption_key=kms.Key(stack, "Key"), email_addresses=emails)
    return Template.from_stack(stack)


def test_topic_is_encrypted_with_the_key_and_tls_only(stack: Stack) -> None:
    template = _template(stack, ())
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^Key"), "Arn"]}}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                    ]
                )
            }
        },
    )
    template.resource_count_is("AWS::SNS::Subscription", 0)


def test_each_address_is_subscribed(stack: Stack) -> None:
    template = _template(stack, ("ops@example.com", "ml@example.com"))
    template.resource_count_is("AWS::SNS::Subscription", 2)
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
