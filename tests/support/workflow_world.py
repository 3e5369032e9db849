"""What every workflow test deploys into moto before an execution: in-process functions and a topic whose
messages can be read back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import boto3

from tests.support.lambdas import InProcessLambdas, load_handler
from tests.support.stepfunctions import PSEUDO_PARAMETERS

REGION = PSEUDO_PARAMETERS["AWS::Region"]


def deploy_functions(lambdas: InProcessLambdas, sources: Iterable[str]) -> dict[str, str]:
    """A moto Lambda function per ``lambda_src/<source>``, each served by its real handler; returns their ARNs."""
    role = boto3.client("iam", region_name=REGION).create_role(RoleName="functions", AssumeRolePolicyDocument="{}")
    client = boto3.client("lambda", region_name=REGION)
    arns = {}
    for source in sources:
        arns[source] = client.create_function(
            FunctionName=source,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="handler.lambda_handler",
            Code={"ZipFile": b"the handler runs in-process"},
        )["FunctionArn"]
        lambdas.register(source, load_handler(source))
    return arns


class NotificationInbox:
    """An SNS topic with an SQS queue subscribed (raw delivery): what the workflow announced, as JSON."""

    def __init__(self, name: str = "notifications") -> None:
        sns = boto3.client("sns", region_name=REGION)
        self.topic_arn = sns.create_topic(Name=name)["TopicArn"]
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )

    def messages(self) -> list[dict[str, Any]]:
        received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in received]


def use_cost_config(template: dict[str, Any], estimator_logical_id: str, monkeypatch: Any) -> None:
    """Give the in-process cost estimator the ``COST_CONFIG`` its synthesized function carries."""
    from tests.support.stepfunctions import render_value

    variables = template["Resources"][estimator_logical_id]["Properties"]["Environment"]["Variables"]
    monkeypatch.setenv("COST_CONFIG", render_value(variables["COST_CONFIG"]))
