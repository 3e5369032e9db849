"""The astronomy agent on Amazon Bedrock AgentCore: a Gateway in front of the tools function, and a managed harness.

Agents Classic no longer takes new customers (https://docs.aws.amazon.com/bedrock/latest/userguide/
agents-classic-maintenance-mode.html: "will no longer be open to new customers starting on July 30, 2026"); the
same page recommends AgentCore's managed harness, the most managed way to host an agent that CloudFormation offers:
"Specify a model, system prompt, and tools inline — the harness handles orchestration, tool execution, memory
management, and response generation" (AWS::BedrockAgentCore::Harness), with no container of our own.

- **Gateway** (``AWS::BedrockAgentCore::Gateway``): MCP, inbound ``AWS_IAM`` (callers sign with SigV4 and need
  ``bedrock-agentcore:InvokeGateway``), encrypted with the project key. Its role trusts
  ``bedrock-agentcore.amazonaws.com`` for this account's gateways only and may invoke the tools function and use
  the key through AgentCore (gateway-encryption.html: ``kms:CreateGrant``, ``kms:DescribeKey``, ``kms:Decrypt``,
  ``kms:GenerateDataKey``).
- **Target** (``AWS::BedrockAgentCore::GatewayTarget``): the tools function as an MCP Lambda target, signed with the
  gateway's role (``GATEWAY_IAM_ROLE``), its tools inline from ``gateway_tools.json`` (generated from the same
  routes as the Classic action group's OpenAPI schema).
- **Harness** (``AWS::BedrockAgentCore::Harness``): the model (an inference profile by default), the instruction, the
  Gateway as its one tool source (outbound ``AwsIam``), and managed memory encrypted with the project key. Its
  role trusts ``bedrock-agentcore.amazonaws.com`` for this account's harnesses only, and may invoke the model (the
  profile here, the model in its destination Regions), the Gateway, and the memory.

Props:
    name (str): e.g. ``modelsmith-dev-astronomy`` (the gateway's name; the harness's with ``_``). Required.
    model_id (str): a model or cross-Region inference profile ID. Required.
    base_model_id (str): the foundation model behind it (``model_id`` without a profile's prefix). Required.
    tools_function (lambda.IFunction): the tools. Required.
    tool_definitions (list[dict]): the Gateway's tool list (``ToolDefinition`` shapes). Required.
    encryption_key (kms.IKey): the project key. Required.
    instruction (str): the system prompt. Required.
    memory_days (int | None): keep conversation events this many days (3-365); ``None`` turns memory off.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_

from constructs import Construct
from constructs.compliance import INLINE_POLICY_REASON, acknowledge, nag_resource

TARGET_NAME = "astronomy-tools"
AGENTCORE = "bedrock-agentcore.amazonaws.com"
# AWS::BedrockAgentCore::Harness HarnessName: ^[a-zA-Z][a-zA-Z0-9_]{0,39}$ ; Gateway Name: ^([0-9a-zA-Z][-]?){1,48}$
HARNESS_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,39}$")
GATEWAY_NAME = re.compile(r"^([0-9a-zA-Z][-]?){1,48}$")


class AgentCoreAssistant(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        model_id: str,
        base_model_id: str,
        tools_function: lambda_.IFunction,
        tool_definitions: list[dict[str, Any]],
        encryption_key: kms.IKey,
        instruction: str,
        memory_days: int | None,
    ) -> None:
        super().__init__(scope, construct_id)
        harness_name = name.replace("-", "_")
        if not GATEWAY_NAME.match(name) or not HARNESS_NAME.match(harness_name):
            raise ValueError(
                f"name {name!r}: a gateway takes ([0-9a-zA-Z][-]?){{1,48}}, a harness [a-zA-Z][a-zA-Z0-9_]{{0,39}}"
            )
        if memory_days is not None and not 3 <= memory_days <= 365:
            raise ValueError(f"memory_days {memory_days}: managed memory keeps events 3 to 365 days")
        region_account = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        via_agentcore = {"StringEquals": {"kms:ViaService": f"bedrock-agentcore.{Aws.REGION}.amazonaws.com"}}

        # --- Gateway and its Lambda target -------------------------------------------------------------------
        self.gateway_role = iam.Role(
            self,
            "GatewayRole",
            description=f"AgentCore Gateway {name}: invokes the tools function",
            assumed_by=iam.ServicePrincipal(
                AGENTCORE,
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:bedrock-agentcore:{region_account}:gateway/*"},
                },
            ),
        )
        tools_function.grant_invoke(self.gateway_role)
        self.gateway_role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"],
                resources=[encryption_key.key_arn],
                conditions=via_agentcore,
            )
        )
        self.gateway = agentcore.CfnGateway(
            self,
            "Gateway",
            name=name,
            authorizer_type="AWS_IAM",
            protocol_type="MCP",
            role_arn=self.gateway_role.role_arn,
            kms_key_arn=encryption_key.key_arn,
            description="Modelsmith astronomy tools (SIMBAD, Gaia DR3, NASA ADS, plots) over MCP",
        )
        # The role's policy (not only the role) must exist before the gateway and the target use it.
        gateway_policy = self.gateway_role.node.find_child("DefaultPolicy")
        self.gateway.node.add_dependency(gateway_policy)
        self.target = agentcore.CfnGatewayTarget(
            self,
            "ToolsTarget",
            gateway_identifier=self.gateway.attr_gateway_identifier,
            name=TARGET_NAME,
            description="The astronomy tools function",
            credential_provider_configurations=[
                agentcore.CfnGatewayTarget.CredentialProviderConfigurationProperty(
                    credential_provider_type="GATEWAY_IAM_ROLE"
                )
            ],
            target_configuration=agentcore.CfnGatewayTarget.TargetConfigurationProperty(
                mcp=agentcore.CfnGatewayTarget.McpTargetConfigurationProperty(
                    lambda_=agentcore.CfnGatewayTarget.McpLambdaTargetConfigurationProperty(
                        lambda_arn=tools_function.function_arn,
                        tool_schema=agentcore.CfnGatewayTarget.ToolSchemaProperty(
                            inline_payload=[_tool(definition) for definition in tool_definitions]
                        ),
                    )
                )
            ),
        )
        self.target.node.add_dependency(gateway_policy)

        # --- Harness -----------------------------------------------------------------------------------------
        self.harness_role = iam.Role(
            self,
            "HarnessRole",
            description=f"AgentCore harness {harness_name}: the model, the gateway, its memory",
            assumed_by=iam.ServicePrincipal(
                AGENTCORE,
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:bedrock-agentcore:{region_account}:harness/*"},
                },
            ),
        )
        # A cross-Region inference profile routes to the model in its destination Regions: the profile here, the
        # model anywhere (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html).
        self.harness_role.add_to_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=[
                    f"arn:{Aws.PARTITION}:bedrock:{region_account}:inference-profile/{model_id}",
                    f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/{base_model_id}",
                ],
            )
        )
        self.harness_role.add_to_policy(
            iam.PolicyStatement(
                actions=["bedrock-agentcore:InvokeGateway"],
                resources=[self.gateway.attr_gateway_arn],
            )
        )
        memories = f"arn:{Aws.PARTITION}:bedrock-agentcore:{region_account}:memory/*"
        if memory_days is not None:
            self.harness_role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "bedrock-agentcore:CreateEvent",
                        "bedrock-agentcore:ListEvents",
                        "bedrock-agentcore:RetrieveMemoryRecords",
                    ],
                    resources=[memories],
                )
            )
            self.harness_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"],
                    resources=[encryption_key.key_arn],
                    conditions=via_agentcore,
                )
            )
        harness = agentcore.CfnHarness
        memory = (
            harness.HarnessMemoryConfigurationProperty(disabled={})
            if memory_days is None
            else harness.HarnessMemoryConfigurationProperty(
                managed_memory_configuration=harness.HarnessManagedMemoryConfigurationProperty(
                    encryption_key_arn=encryption_key.key_arn, event_expiry_duration=memory_days
                )
            )
        )
        self.harness = harness(
            self,
            "Harness",
            harness_name=harness_name,
            execution_role_arn=self.harness_role.role_arn,
            model=harness.HarnessModelConfigurationProperty(
                bedrock_model_config=harness.HarnessBedrockModelConfigProperty(model_id=model_id)
            ),
            system_prompt=[harness.HarnessSystemContentBlockProperty(text=instruction)],
            tools=[
                harness.HarnessToolProperty(
                    type="agentcore_gateway",
                    name=TARGET_NAME,
                    config=harness.HarnessToolConfigurationProperty(
                        agent_core_gateway=harness.HarnessAgentCoreGatewayConfigProperty(
                            gateway_arn=self.gateway.attr_gateway_arn,
                            outbound_auth=harness.HarnessGatewayOutboundAuthProperty(aws_iam={}),
                        )
                    ),
                )
            ],
            memory=memory,
        )
        self.harness.node.add_dependency(self.harness_role.node.find_child("DefaultPolicy"))
        self.harness.node.add_dependency(self.target)

        self._acknowledge(tools_function, memories if memory_days is not None else None, base_model_id)

    def _acknowledge(self, tools_function: lambda_.IFunction, memories: str | None, base_model_id: str) -> None:
        acknowledge(
            self.gateway_role.node.find_child("DefaultPolicy"),
            {
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, tools_function.function_arn)}:*]": "Versions and aliases of this one function (CDK's grant_invoke grants both forms).",
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )
        reasons = {
            "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{base_model_id}]": "The model of a cross-Region inference profile, in the profile's destination Regions "
            "(inference-profiles-prereq.html): this one model only.",
        }
        if memories is not None:
            reasons[f"AwsSolutions-IAM5[Resource::{nag_resource(self, memories)}]"] = (
                "The harness's managed memory is created by AgentCore with a generated ID; this account and Region only."
            )
        acknowledge(self.harness_role.node.find_child("DefaultPolicy"), reasons)


def _tool(definition: dict[str, Any]) -> agentcore.CfnGatewayTarget.ToolDefinitionProperty:
    target = agentcore.CfnGatewayTarget
    return target.ToolDefinitionProperty(
        name=definition["name"],
        description=definition["description"],
        input_schema=_schema(definition["inputSchema"]),
    )


def _schema(schema: dict[str, Any]) -> agentcore.CfnGatewayTarget.SchemaDefinitionProperty:
    return agentcore.CfnGatewayTarget.SchemaDefinitionProperty(
        type=schema["type"],
        description=schema.get("description"),
        properties={key: _schema(value) for key, value in schema["properties"].items()}
        if "properties" in schema
        else None,
        required=schema.get("required"),
        items=_schema(schema["items"]) if "items" in schema else None,
    )
