"""The private network the GPU instance and functions run in: a new VPC, or an existing one imported.

Props:
    config (NetworkConfig): ``vpc_id`` to import an existing VPC (with its private subnets and zones),
        otherwise a VPC is created with ``max_azs`` zones and, when ``internet_egress``, one NAT gateway.
    encryption_key (kms.IKey): encrypts the flow-log group. Required.
    log_retention (logs.RetentionDays): flow-log retention. Required.

A created VPC has private subnets only for workloads (public subnets exist only to hold the NAT gateway),
rejected-and-accepted flow logs to CloudWatch Logs, an S3 gateway endpoint and interface endpoints for
SSM, SSM messages, EC2 messages, CloudWatch Logs and metrics, ECR (API and Docker), Secrets Manager and STS,
each accepting HTTPS from inside the VPC only.
"""

from __future__ import annotations

from aws_cdk import Annotations, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from constructs import Construct
from constructs.compliance import INLINE_POLICY_REASON, acknowledge, acknowledge_cdk_provider
from modelsmith_core.config import NetworkConfig

INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "SsmMessages": ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
    "Ec2Messages": ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
}


VPC_CIDR = "10.42.0.0/16"


class PrivateNetwork(Construct):
    """``self.vpc`` and ``self.workload_subnets`` (where instances and functions go)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: NetworkConfig,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        if config.vpc_id is not None:
            self.vpc: ec2.IVpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=config.vpc_id,
                availability_zones=list(config.availability_zones),
                private_subnet_ids=list(config.private_subnet_ids),
            )
            self.workload_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
            Annotations.of(self.vpc).acknowledge_warning(
                "@aws-cdk/aws-ec2:noSubnetRouteTableId",
                "Nothing here reads the existing subnets' route tables: no gateway endpoint or route is added to a "
                "VPC that is not ours.",
            )
            return

        workload_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if config.internet_egress else ec2.SubnetType.PRIVATE_ISOLATED
        )
        subnets = [ec2.SubnetConfiguration(name="workload", subnet_type=workload_type, cidr_mask=20)]
        if config.internet_egress:
            subnets.insert(
                0,
                ec2.SubnetConfiguration(
                    name="nat", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26, map_public_ip_on_launch=False
                ),
            )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=config.max_azs,
            nat_gateways=1 if config.internet_egress else 0,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.vpc = vpc
        self.workload_subnets = ec2.SubnetSelection(subnet_type=workload_type)

        vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.workload_subnets])
        endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description="Interface endpoints: HTTPS from inside the VPC only",
        )
        # A literal CIDR (not the VPC token) so that reviewers and cdk-nag can read the rule.
        endpoint_security_group.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), "HTTPS from the VPC")
        for name, service in INTERFACE_ENDPOINTS.items():
            vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.workload_subnets,
                security_groups=[endpoint_security_group],
                private_dns_enabled=True,
                open=False,
            )
        acknowledge_cdk_provider(
            self,
            "Custom::VpcRestrictDefaultSGCustomResourceProvider",
            "CDK's provider that removes the default security group's rules",
        )
        flow_log_role_policy = vpc.node.find_child("all").node.find_child("IAMRole").node.find_child("DefaultPolicy")
        acknowledge(flow_log_role_policy, {"HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON})
        if config.internet_egress:
            for subnet in vpc.public_subnets:
                acknowledge(
                    subnet.node.find_child("DefaultRoute"),
                    {
                        "HIPAA.Security-VPCNoUnrestrictedRouteToIGW": "Only the NAT gateway's subnet routes to the internet gateway; workloads have no public IP "
                        "and sit in private subnets (internet_egress: false removes this subnet).",
                    },
                )
