"""ParameterTree: one naming rule, /modelsmith/<env>/<category>/<key>, enforced for every parameter."""

from __future__ import annotations

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from constructs.parameter_tree import ParameterTree, parameter_name


def test_publish_writes_the_named_string_parameter(stack: Stack) -> None:
    tree = ParameterTree(stack, "Parameters", environment_name="qa")
    tree.publish("s3", "artifacts-bucket", "my-bucket", description="Artifacts")
    Template.from_stack(stack).has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": "/modelsmith/qa/s3/artifacts-bucket",
            "Type": "String",
            "Value": "my-bucket",
            "Description": "Artifacts",
            "Tier": "Standard",
        },
    )


def test_a_name_is_published_once(stack: Stack) -> None:
    tree = ParameterTree(stack, "Parameters", environment_name="qa")
    tree.publish("s3", "bucket", "a", description="first")
    with pytest.raises(ValueError, match="/modelsmith/qa/s3/bucket is already published"):
        tree.publish("s3", "bucket", "b", description="second")


@pytest.mark.parametrize(
    ("environment", "category", "key", "bad"),
    [
        ("dev", "S3", "bucket", "category = 'S3'"),
        ("dev", "s3", "my_bucket", "key = 'my_bucket'"),
        ("dev", "s3", "a/b", "key = 'a/b'"),
        ("", "s3", "bucket", "environment_name = ''"),
    ],
)
def test_bad_segments_are_refused(environment: str, category: str, key: str, bad: str) -> None:
    with pytest.raises(ValueError, match=bad.replace("/", "/")):
        parameter_name(environment, category, key)


def test_bad_environment_fails_when_the_tree_is_built(stack: Stack) -> None:
    with pytest.raises(ValueError, match="environment_name = 'Prod'"):
        ParameterTree(stack, "Parameters", environment_name="Prod")
