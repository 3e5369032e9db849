"""Cost allocation: every taggable resource of every stack carries ``project``, ``environment`` and ``component``.

"Taggable" is what CloudFormation's resource schemas say (``tagging.taggable`` with a ``Tags`` property), read
from the schemas cfn-lint ships, so a new resource type is covered without a list to maintain here.
"""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from modelsmith_core.naming import PROJECT
from stacks.modelsmith_app import cost_allocation_tags

COMPONENTS = {
    "Foundation": "foundation",
    "Network": "network",
    "TrainingInstance": "training-instance",
    "RetrievalPipeline": "retrieval-pipeline",
    "LlmCustomization": "llm-customization",
    "Agent": "agent",
    "Operations": "operations",
}


def taggable(resource_type: str, region: str) -> bool:
    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    except Exception:  # noqa: BLE001 - custom resources (Custom::*) and CDK metadata have no schema
        return False
    tagging = schema.get("tagging") or {}
    return bool(tagging.get("taggable")) and tagging.get("tagProperty", "/properties/Tags") == "/properties/Tags"


def tags_of(properties: dict[str, Any]) -> dict[str, Any]:
    tags = properties.get("Tags", {})
    return {tag["Key"]: tag["Value"] for tag in tags} if isinstance(tags, list) else dict(tags)


def test_every_taggable_resource_carries_the_cost_allocation_tags(synthesized) -> None:
    region = synthesized.config.region
    checked = 0
    for stack in synthesized.stacks.all():
        component = COMPONENTS[stack.stack_name.rsplit("-", 1)[-1]]
        expected = {
            "project": PROJECT,
            "environment": synthesized.config.name,
            "component": component,
            **synthesized.config.tags,
        }
        assert cost_allocation_tags(synthesized.config, stack) == expected
        for logical_id, resource in synthesized.template_json(stack.stack_name)["Resources"].items():
            if not taggable(resource["Type"], region):
                continue
            tags = tags_of(resource.get("Properties", {}))
            missing = {key: value for key, value in expected.items() if tags.get(key) != value}
            assert not missing, f"{stack.stack_name}/{logical_id} ({resource['Type']}) lacks {missing}"
            checked += 1
    assert checked > 50


def test_cdk_custom_resource_providers_are_tagged_too(synthesized) -> None:
    """CDK's own provider role and function are plain CfnResources that Tags.of() cannot reach."""
    network = synthesized.template_json(synthesized.stacks.network.stack_name)["Resources"]
    providers = {logical: r for logical, r in network.items() if logical.startswith("CustomVpcRestrictDefaultSG")}
    assert {r["Type"] for r in providers.values()} >= {"AWS::IAM::Role", "AWS::Lambda::Function"}
    for resource in providers.values():
        if resource["Type"] in ("AWS::IAM::Role", "AWS::Lambda::Function"):
            assert tags_of(resource["Properties"])["component"] == "network"


@pytest.mark.parametrize(
    ("resource_type", "expected"),
    [
        ("AWS::S3::Bucket", True),
        ("AWS::CloudWatch::Alarm", True),
        ("AWS::IAM::Policy", False),
        ("AWS::EC2::LaunchTemplate", False),
        ("Custom::S3AutoDeleteObjects", False),
    ],
)
def test_taggable_types_come_from_the_resource_schemas(resource_type: str, expected: bool) -> None:
    assert taggable(resource_type, "us-west-2") is expected
