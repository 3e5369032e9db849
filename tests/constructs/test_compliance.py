"""acknowledge(): each rule reaches the tool that checks it, always with a reason."""

from __future__ import annotations

import pytest
from aws_cdk import Stack, Validations
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from constructs.compliance import acknowledge, nag_resource

REASON = "A reason specific enough to review later."


def _topic(stack: Stack) -> tuple[Stack, sns.Topic]:
    return stack, sns.Topic(stack, "Topic")


def test_checkov_and_cfn_lint_rules_become_template_metadata(stack: Stack) -> None:
    stack, topic = _topic(stack)
    acknowledge(topic, {"CKV_AWS_26": REASON, "W3005": REASON})
    acknowledge(topic, {"CKV2_AWS_1": "Another reason, equally specific."})
    metadata = next(iter(Template.from_stack(stack).find_resources("AWS::SNS::Topic").values()))["Metadata"]
    assert metadata["checkov"]["skip"] == [
        {"id": "CKV_AWS_26", "comment": REASON},
        {"id": "CKV2_AWS_1", "comment": "Another reason, equally specific."},
    ]
    assert metadata["cfn-lint"] == {"config": {"ignore_checks": ["W3005"]}}


def test_nag_rules_become_acknowledgments_with_their_pack(stack: Stack) -> None:
    _, topic = _topic(stack)
    acknowledge(topic, {"AwsSolutions-SNS2": REASON, "HIPAA.Security-SNSEncryptedKMS": REASON})
    entries = [entry.data for entry in topic.node.metadata if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY]
    acknowledged = {rule: reason for entry in entries for rule, reason in entry.items()}
    assert acknowledged == {
        "AwsSolutions::AwsSolutions-SNS2": REASON,
        "HIPAA.Security::HIPAA.Security-SNSEncryptedKMS": REASON,
    }


@pytest.mark.parametrize("reason", ["", "   ", "n/a", "false positive"])
def test_a_vague_reason_is_refused(reason: str, stack: Stack) -> None:
    _, topic = _topic(stack)
    with pytest.raises(ValueError, match="give a specific reason"):
        acknowledge(topic, {"AwsSolutions-SNS2": reason})


def test_an_unknown_rule_id_is_refused(stack: Stack) -> None:
    _, topic = _topic(stack)
    with pytest.raises(ValueError, match="unknown rule ID format 'SNS2'"):
        acknowledge(topic, {"SNS2": REASON})


def test_nag_resource_renders_references_as_cdk_nag_prints_them(stack: Stack) -> None:
    from aws_cdk import aws_logs as logs

    group = logs.LogGroup(stack, "Logs")
    logical_id = stack.get_logical_id(group.node.default_child)
    assert nag_resource(stack, group.log_group_arn) == f"<{logical_id}.Arn>"
    assert nag_resource(stack, f"{group.log_group_arn}:log-stream:*") == f"<{logical_id}.Arn>:log-stream:*"
    assert nag_resource(stack, stack.format_arn(service="s3", resource="b", region="", account="")) == (
        "arn:<AWS::Partition>:s3:::b"
    )
