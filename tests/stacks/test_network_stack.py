"""Network stack, per environment: private subnets, endpoints, flow logs; an existing VPC is imported as is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from constructs.private_network import INTERFACE_ENDPOINTS, PrivateNetwork
from modelsmith_core.config import NetworkConfig

CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


@pytest.fixture
def network(synthesized):
    return synthesized, synthesized.template(synthesized.stacks.network.stack_name)


def test_every_endpoint_the_instance_needs(network) -> None:
    synthesized, template = network
    template.resource_count_is("AWS::EC2::VPCEndpoint", len(INTERFACE_ENDPOINTS) + 1)
    services = [e["Properties"]["ServiceName"] for e in template.find_resources("AWS::EC2::VPCEndpoint").values()]
    rendered = json.dumps(services)
    for service in (
        "ssm",
        "ssmmessages",
        "ec2messages",
        "logs",
        "monitoring",
        "ecr.api",
        "ecr.dkr",
        "secretsmanager",
        "sts",
        "s3",
    ):
        assert f".{service}" in rendered, service
    template.all_resources_properties("AWS::EC2::VPCEndpoint", Match.object_like({"VpcId": Match.any_value()}))
    interface = [
        e
        for e in template.find_resources("AWS::EC2::VPCEndpoint").values()
        if e["Properties"].get("VpcEndpointType") == "Interface"
    ]
    assert all(e["Properties"]["PrivateDnsEnabled"] is True for e in interface)


def test_endpoints_accept_only_https_from_the_vpc(network) -> None:
    _, template = network
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Interface endpoints: HTTPS from inside the VPC only",
            "SecurityGroupIngress": [
                {
                    "CidrIp": "10.42.0.0/16",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpProtocol": "tcp",
                    "Description": "HTTPS from the VPC",
                }
            ],
        },
    )


def test_subnets_never_assign_public_ips_and_nat_follows_config(network) -> None:
    synthesized, template = network
    template.all_resources_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})
    template.resource_count_is("AWS::EC2::NatGateway", 1 if synthesized.config.network.internet_egress else 0)


def test_flow_logs_capture_all_traffic_encrypted(network) -> None:
    _, template = network
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value(), "RetentionInDays": Match.any_value()}
    )


def _private_network(config: NetworkConfig) -> Template:
    stack = Stack(App(context=CDK_CONTEXT), "Test")
    PrivateNetwork(
        stack,
        "Network",
        config=config,
        encryption_key=kms.Key(stack, "Key"),
        log_retention=logs.RetentionDays.ONE_MONTH,
    )
    return Template.from_stack(stack)


def test_isolated_network_without_internet_egress() -> None:
    template = _private_network(NetworkConfig(internet_egress=False, max_azs=2))
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.resource_count_is("AWS::EC2::Subnet", 2)


def test_existing_vpc_is_imported_without_new_network_resources() -> None:
    config = NetworkConfig(
        vpc_id="vpc-0123456789abcdef0",
        private_subnet_ids=("subnet-0123456789abcdef0",),
        availability_zones=("us-west-2a",),
    )
    template = _private_network(config)
    for resource_type in ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::VPCEndpoint", "AWS::EC2::NatGateway"):
        template.resource_count_is(resource_type, 0)


def test_an_existing_vpc_synthesizes_cleanly_with_no_network_stack(tmp_path: Path) -> None:
    # GIVEN dev with an existing VPC: two private subnets in two zones
    from modelsmith_core.config import load_config
    from stacks.modelsmith_app import add_compliance_checks, add_stacks

    context = json.loads(json.dumps(CDK_CONTEXT))
    context["environments"]["dev"].update(
        agent={"enabled": False},
        llm_customization={"enabled": False},
        network={
            "vpc_id": "vpc-0123456789abcdef0",
            "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
            "availability_zones": ["us-west-2b", "us-west-2c"],
        },
    )
    app = App(outdir=str(tmp_path), context=context)
    # WHEN the app synthesizes (cdk-nag and CDK's own template validation run)
    stacks = add_stacks(app, load_config(context["environments"], "dev"))
    add_compliance_checks(app)
    assembly = app.synth()

    # THEN nothing of the network is created, and the instance and its volume sit in the first subnet's zone
    assert stacks.network is None
    assert [stack.stack_name for stack in assembly.stacks if stack.stack_name.endswith("-Network")] == []
    training = Template.from_json(assembly.get_stack_by_name(stacks.training_instance.stack_name).template)
    for resource_type in ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::VPCEndpoint"):
        training.resource_count_is(resource_type, 0)
    training.has_resource_properties(
        "AWS::EC2::Instance",
        {
            "AvailabilityZone": "us-west-2b",
            "NetworkInterfaces": [
                Match.object_like({"SubnetId": "subnet-0123456789abcdef0", "AssociatePublicIpAddress": False})
            ],
        },
    )
    training.has_resource_properties("AWS::EC2::Volume", {"AvailabilityZone": "us-west-2b"})
    # and no check reports anything, not even a warning (an empty stack, an unread route table, a literal zone)
    report = tmp_path / "validation-report.json"
    violations = (
        [
            violation["ruleName"]
            for plugin in json.loads(report.read_text())["pluginReports"]
            for violation in plugin["violations"]
        ]
        if report.exists()
        else []
    )
    assert violations == []
    warnings = [
        message.entry.data
        for stack in assembly.stacks
        for message in stack.messages
        if message.level.value == "warning"
    ]
    assert warnings == []
