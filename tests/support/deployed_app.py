"""An environment's templates as they would stand deployed: every intrinsic function resolved to a realistic value.

The contract checks (``tests/contracts``) compare what the templates grant and call with AWS's published
reference data, so the ARNs they compare must look like the ones AWS evaluates. ``DeployedApp`` gives every
resource of every stack a physical ID the way CloudFormation does (the name property when one is set, else
``<stack>-<LogicalId>-<suffix>``) and resolves:

- ``Ref`` and ``Fn::GetAtt`` per resource type, as each type's CloudFormation reference page documents its
  return values (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-template-resource-type-ref.html);
- pseudo parameters (``AWS::Partition`` ``aws``, ``AWS::Region`` the environment's region, an example account);
- ``Fn::GetStackOutput`` from the producing stack's outputs, and SSM-typed parameters
  (``AWS::SSM::Parameter::Value<String>``) from the ``AWS::SSM::Parameter`` resource publishing that name;
- ``Fn::Join``, ``Fn::Sub``, ``Fn::Select``, ``Fn::Split``, ``Fn::GetAZs``, ``Fn::Base64``.

A reference to a resource type it does not know fails loudly naming the type, so a new resource type in a
policy is modelled here before the checks can pass.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
PARTITION = "aws"


def _suffix(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length].upper()


def _uuid(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class UnresolvableReference(KeyError):
    """A reference this model of CloudFormation does not know how to resolve."""


@dataclass
class StackTemplate:
    name: str
    template: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.get("Resources", {})


@dataclass
class DeployedApp:
    """The stacks of one environment (templates keyed by stack name) in ``region``."""

    stacks: dict[str, StackTemplate]
    region: str
    account: str = ACCOUNT
    _ssm_values: dict[str, tuple[str, Any]] = field(default_factory=dict, init=False)

    @classmethod
    def from_templates(cls, paths: list[Path], region: str) -> DeployedApp:
        stacks = {}
        for path in paths:
            name = path.name.removesuffix(".template.json")
            stacks[name] = StackTemplate(name, json.loads(path.read_text()))
        app = cls(stacks=stacks, region=region)
        for stack in stacks.values():
            for resource in stack.resources.values():
                if resource["Type"] == "AWS::SSM::Parameter":
                    properties = resource["Properties"]
                    if isinstance(properties.get("Name"), str):
                        app._ssm_values[properties["Name"]] = (stack.name, properties["Value"])
        return app

    # Walking ----------------------------------------------------------------------------------------------------
    def resources(self, *types: str) -> Iterator[tuple[StackTemplate, str, dict[str, Any]]]:
        for stack in self.stacks.values():
            for logical_id, resource in stack.resources.items():
                if not types or resource["Type"] in types:
                    yield stack, logical_id, resource

    # Resolution -------------------------------------------------------------------------------------------------
    def resolve(self, stack: str, value: Any) -> Any:
        """``value`` (any template fragment) of stack ``stack`` with every intrinsic function resolved."""
        if isinstance(value, list):
            return [self.resolve(stack, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._function(stack, key, argument)
        return {key: self.resolve(stack, item) for key, item in value.items()}

    def _function(self, stack: str, function: str, argument: Any) -> Any:
        if function == "Ref":
            return self.ref(stack, argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(stack, logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(stack, part)) for part in self.resolve(stack, parts))
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            variables = {name: self.resolve(stack, item) for name, item in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match[1]
                if name in variables:
                    return str(variables[name])
                if "." in name and not name.startswith("AWS::"):
                    return str(self.get_att(stack, *name.split(".", 1)))
                return str(self.ref(stack, name))

            return re.sub(r"\$\{([^!}][^}]*)\}", substitute, text)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(stack, items)[int(self.resolve(stack, index))]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(stack, text)).split(separator)
        if function == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if function == "Fn::Base64":
            return base64.b64encode(str(self.resolve(stack, argument)).encode()).decode()
        if function == "Fn::GetStackOutput":
            producer = self.stacks[argument["StackName"]]
            output = producer.template["Outputs"][argument["OutputName"]]
            return self.resolve(producer.name, output["Value"])
        if function == "Fn::ImportValue":
            export = self.resolve(stack, argument)
            for producer in self.stacks.values():
                for output in producer.template.get("Outputs", {}).values():
                    if self.resolve(producer.name, output.get("Export", {}).get("Name")) == export:
                        return self.resolve(producer.name, output["Value"])
            raise UnresolvableReference(f"no stack exports {export}")
        raise UnresolvableReference(f"{stack}: cannot resolve {function}")

    def ref(self, stack: str, name: str) -> Any:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
            "AWS::NoValue": None,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{self.region}:{self.account}:stack/{stack}/{_uuid(stack)}",
        }
        if name in pseudo:
            return pseudo[name]
        template = self.stacks[stack].template
        if name in template.get("Parameters", {}):
            return self._parameter(stack, name, template["Parameters"][name])
        if name not in template.get("Resources", {}):
            raise UnresolvableReference(f"{stack}: Ref to unknown {name}")
        return self._physical(stack, name)["Ref"]

    def get_att(self, stack: str, logical_id: str, attribute: str) -> Any:
        attributes = self._physical(stack, logical_id)
        if attribute not in attributes:
            resource_type = self.stacks[stack].resources[logical_id]["Type"]
            raise UnresolvableReference(f"{stack}: {resource_type} {logical_id} has no modelled attribute {attribute}")
        return attributes[attribute]

    def _parameter(self, stack: str, name: str, parameter: Mapping[str, Any]) -> Any:
        if parameter["Type"] == "AWS::SSM::Parameter::Value<String>":
            parameter_name = parameter["Default"]
            if parameter_name in self._ssm_values:
                producer, value = self._ssm_values[parameter_name]
                return self.resolve(producer, value)
            if parameter_name.startswith("/cdk-bootstrap/"):
                return "30"
        if parameter["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>":
            return "ami-0123456789abcdef0"
        if "Default" in parameter:
            return parameter["Default"]
        raise UnresolvableReference(f"{stack}: parameter {name} has no value")

    # Physical IDs, per resource type ------------------------------------------------------------------------------
    def _name(self, stack: str, logical_id: str, name_property: str | None, *, max_length: int = 64) -> str:
        properties = self.stacks[stack].resources[logical_id].get("Properties", {})
        if name_property and properties.get(name_property) is not None:
            return str(self.resolve(stack, properties[name_property]))
        generated = f"{stack}-{logical_id}"[: max_length - 13] + "-" + _suffix(stack, logical_id)
        return generated

    def _physical(self, stack: str, logical_id: str) -> dict[str, Any]:
        resource = self.stacks[stack].resources[logical_id]
        resource_type = resource["Type"]
        properties = resource.get("Properties", {})
        region, account, partition = self.region, self.account, PARTITION
        arn = f"arn:{partition}:{{service}}:{region}:{account}:{{resource}}"
        suffix = _suffix(stack, logical_id, length=17).lower()

        def named(prop: str | None, **kwargs: Any) -> str:
            return self._name(stack, logical_id, prop, **kwargs)

        if resource_type == "AWS::IAM::Role":
            name = named("RoleName")
            path = properties.get("Path", "/")
            return {
                "Ref": name,
                "Arn": f"arn:{partition}:iam::{account}:role{path}{name}",
                "RoleId": "AROA" + suffix.upper(),
            }
        if resource_type == "AWS::IAM::InstanceProfile":
            name = named("InstanceProfileName")
            return {"Ref": name, "Arn": f"arn:{partition}:iam::{account}:instance-profile/{name}"}
        if resource_type == "AWS::IAM::ManagedPolicy":
            name = named("ManagedPolicyName")
            return {
                "Ref": f"arn:{partition}:iam::{account}:policy/{name}",
                "PolicyArn": f"arn:{partition}:iam::{account}:policy/{name}",
            }
        if resource_type == "AWS::IAM::Policy":
            return {"Ref": named("PolicyName")}
        if resource_type == "AWS::S3::Bucket":
            name = named("BucketName").lower()[:63]
            return {
                "Ref": name,
                "Arn": f"arn:{partition}:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            }
        if resource_type == "AWS::KMS::Key":
            key_id = _uuid(stack, logical_id)
            return {"Ref": key_id, "KeyId": key_id, "Arn": arn.format(service="kms", resource=f"key/{key_id}")}
        if resource_type == "AWS::KMS::Alias":
            return {"Ref": self.resolve(stack, properties["AliasName"])}
        if resource_type == "AWS::SNS::Topic":
            name = named("TopicName", max_length=256)
            topic_arn = arn.format(service="sns", resource=name)
            return {"Ref": topic_arn, "TopicArn": topic_arn, "TopicName": name}
        if resource_type == "AWS::SQS::Queue":
            name = named("QueueName", max_length=80)
            return {
                "Ref": f"https://sqs.{region}.amazonaws.com/{account}/{name}",
                "QueueName": name,
                "Arn": arn.format(service="sqs", resource=name),
                "QueueUrl": f"https://sqs.{region}.amazonaws.com/{account}/{name}",
            }
        if resource_type == "AWS::Lambda::Function":
            name = named("FunctionName")
            return {"Ref": name, "Arn": arn.format(service="lambda", resource=f"function:{name}")}
        if resource_type == "AWS::Lambda::LayerVersion":
            name = named("LayerName")
            return {"Ref": arn.format(service="lambda", resource=f"layer:{name}:1")}
        if resource_type == "AWS::SecretsManager::Secret":
            name = named("Name", max_length=512)
            secret_arn = arn.format(service="secretsmanager", resource=f"secret:{name}-{suffix[:6]}")
            return {"Ref": secret_arn, "Id": secret_arn}
        if resource_type == "AWS::SSM::Parameter":
            name = named("Name", max_length=1011)
            return {
                "Ref": name,
                "Type": properties.get("Type", "String"),
                "Value": self.resolve(stack, properties.get("Value")),
            }
        if resource_type == "AWS::SSM::Document":
            return {"Ref": named("Name", max_length=128)}
        if resource_type == "AWS::Logs::LogGroup":
            name = named("LogGroupName", max_length=512)
            return {"Ref": name, "Arn": arn.format(service="logs", resource=f"log-group:{name}:*")}
        if resource_type == "AWS::StepFunctions::StateMachine":
            name = named("StateMachineName", max_length=80)
            machine_arn = arn.format(service="states", resource=f"stateMachine:{name}")
            return {"Ref": machine_arn, "Arn": machine_arn, "Name": name}
        if resource_type == "AWS::Events::Rule":
            name = named("Name")
            return {"Ref": name, "Arn": arn.format(service="events", resource=f"rule/{name}")}
        if resource_type == "AWS::ECR::Repository":
            name = named("RepositoryName", max_length=256).lower()
            return {
                "Ref": name,
                "Arn": arn.format(service="ecr", resource=f"repository/{name}"),
                "RepositoryUri": f"{account}.dkr.ecr.{region}.amazonaws.com/{name}",
            }
        if resource_type == "AWS::EC2::Instance":
            instance_id = f"i-{suffix}"
            return {
                "Ref": instance_id,
                "InstanceId": instance_id,
                "AvailabilityZone": f"{region}a",
                "PrivateIp": "10.0.0.10",
                "PrivateDnsName": f"ip-10-0-0-10.{region}.compute.internal",
            }
        if resource_type == "AWS::EC2::Volume":
            return {"Ref": f"vol-{suffix}", "VolumeId": f"vol-{suffix}"}
        if resource_type == "AWS::EC2::LaunchTemplate":
            return {
                "Ref": f"lt-0{suffix[:16]}",
                "LaunchTemplateId": f"lt-0{suffix[:16]}",
                "LatestVersionNumber": "1",
                "DefaultVersionNumber": "1",
            }
        if resource_type == "AWS::EC2::SecurityGroup":
            return {"Ref": f"sg-0{suffix[:16]}", "GroupId": f"sg-0{suffix[:16]}", "VpcId": "vpc-0123456789abcdef0"}
        if resource_type == "AWS::EC2::VPC":
            return {
                "Ref": f"vpc-0{suffix[:16]}",
                "VpcId": f"vpc-0{suffix[:16]}",
                "CidrBlock": "10.0.0.0/16",
                "DefaultSecurityGroup": f"sg-0{suffix[1:17]}",
            }
        if resource_type == "AWS::EC2::Subnet":
            return {
                "Ref": f"subnet-0{suffix[:16]}",
                "SubnetId": f"subnet-0{suffix[:16]}",
                "AvailabilityZone": f"{region}a",
            }
        if resource_type in (
            "AWS::EC2::RouteTable",
            "AWS::EC2::InternetGateway",
            "AWS::EC2::NatGateway",
            "AWS::EC2::VPCEndpoint",
            "AWS::EC2::EIP",
            "AWS::EC2::FlowLog",
        ):
            prefix = {
                "AWS::EC2::RouteTable": "rtb",
                "AWS::EC2::InternetGateway": "igw",
                "AWS::EC2::NatGateway": "nat",
                "AWS::EC2::VPCEndpoint": "vpce",
                "AWS::EC2::EIP": "eipalloc",
                "AWS::EC2::FlowLog": "fl",
            }[resource_type]
            return {
                "Ref": f"{prefix}-0{suffix[:16]}",
                "AllocationId": f"eipalloc-0{suffix[:16]}",
                "Id": f"{prefix}-0{suffix[:16]}",
            }
        if resource_type == "AWS::CloudWatch::Alarm" or resource_type == "AWS::CloudWatch::CompositeAlarm":
            name = named("AlarmName", max_length=255)
            return {"Ref": name, "Arn": arn.format(service="cloudwatch", resource=f"alarm:{name}")}
        if resource_type == "AWS::OpenSearchServerless::Collection":
            collection_id = suffix[:20].lower()
            return {
                "Ref": collection_id,
                "Id": collection_id,
                "Arn": arn.format(service="aoss", resource=f"collection/{collection_id}"),
                "CollectionEndpoint": f"https://{collection_id}.{region}.aoss.amazonaws.com",
            }
        if resource_type == "AWS::Bedrock::KnowledgeBase":
            kb_id = suffix[:10].upper()
            return {
                "Ref": kb_id,
                "KnowledgeBaseId": kb_id,
                "KnowledgeBaseArn": arn.format(service="bedrock", resource=f"knowledge-base/{kb_id}"),
            }
        if resource_type == "AWS::Bedrock::DataSource":
            return {"Ref": suffix[:10].upper(), "DataSourceId": suffix[:10].upper()}
        if resource_type == "AWS::Bedrock::Guardrail":
            guardrail_id = suffix[:12].lower()
            guardrail_arn = arn.format(service="bedrock", resource=f"guardrail/{guardrail_id}")
            return {
                "Ref": guardrail_arn,
                "GuardrailArn": guardrail_arn,
                "GuardrailId": guardrail_id,
                "Version": "DRAFT",
            }
        if resource_type == "AWS::Bedrock::Agent":
            agent_id = suffix[:10].upper()
            return {
                "Ref": agent_id,
                "AgentId": agent_id,
                "AgentArn": arn.format(service="bedrock", resource=f"agent/{agent_id}"),
            }
        if resource_type == "AWS::Bedrock::AgentAlias":
            alias_id = suffix[:10].upper()
            agent_id = self.resolve(stack, properties["AgentId"])
            return {
                "Ref": alias_id,
                "AgentAliasId": alias_id,
                "AgentAliasArn": arn.format(service="bedrock", resource=f"agent-alias/{agent_id}/{alias_id}"),
            }
        if resource_type.startswith("AWS::BedrockAgentCore::"):
            kind = resource_type.rsplit("::", 1)[1]
            resource_id = f"{kind.lower()}-{suffix[:10]}"
            resource_kind = re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()
            resource_arn = arn.format(service="bedrock-agentcore", resource=f"{resource_kind}/{resource_id}")
            return {
                "Ref": resource_id,
                f"{kind}Id": resource_id,
                f"{kind}Arn": resource_arn,
                "Arn": resource_arn,
                "GatewayUrl": f"https://{resource_id}.gateway.bedrock-agentcore.{region}.amazonaws.com/mcp",
            }
        raise UnresolvableReference(f"{stack}: no physical-ID model for {resource_type} ({logical_id})")
