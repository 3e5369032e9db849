"""Agent: the astronomy research assistant, its tools function and its knowledge base.

``agent.runtime`` decides where the agent runs: ``agentcore`` (default) puts an Amazon Bedrock AgentCore Gateway in
front of the tools and hosts the agent in a managed harness (``constructs/agent_core_assistant.py``); ``classic``
builds a Bedrock Agents Classic agent (``constructs/agent_research_assistant.py``), for accounts that still have it.

Uses the Foundation's key, data bucket (knowledge-base documents), artifacts bucket (tool outputs under
``agent.output_prefix``) and secrets (NASA ADS token; Pinecone API key when the knowledge base uses Pinecone).
Publishes ``/modelsmith/<env>/agent/{runtime,knowledge-base-id,data-source-id,tools-function-name}`` and, per
runtime, ``{harness-arn,gateway-id,gateway-url}`` or ``{agent-id,agent-alias-id}``, for ``modelsmith agent`` and
operators.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from constructs.agent_core_assistant import AgentCoreAssistant
from constructs.agent_knowledge_base import AgentKnowledgeBase
from constructs.agent_research_assistant import INSTRUCTION, AstronomyAgent
from constructs.agent_tools_function import FUNCTION_DIR, AgentToolsFunction
from constructs.log_retention import retention_days
from constructs.parameter_tree import ParameterTree
from modelsmith_core.config import KNOWLEDGE_BASE_EMBEDDING_MODELS, EnvironmentConfig

API_SCHEMA_PATH = FUNCTION_DIR / "openapi.json"
GATEWAY_TOOLS_PATH = FUNCTION_DIR / "gateway_tools.json"


class AgentStack(Stack):
    """Agent, tools function and knowledge base of one environment.

    Props:
        config (EnvironmentConfig): the environment; ``config.agent`` describes this stack. Required.
        encryption_key (kms.IKey): the project key. Required.
        data_bucket (s3.IBucket): holds the knowledge base's documents. Required.
        artifacts_bucket (s3.IBucket): receives the tools' outputs. Required.
        ads_token_secret (secretsmanager.ISecret): the NASA ADS token. Required.
        pinecone_api_key_secret (secretsmanager.ISecret | None): used when the knowledge base is on Pinecone and
            ``agent.knowledge_base.pinecone_api_key_secret_arn`` is not set. Default none.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        encryption_key: kms.IKey,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        ads_token_secret: secretsmanager.ISecret,
        pinecone_api_key_secret: secretsmanager.ISecret | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Modelsmith {config.name}: Bedrock astronomy agent, its tools function and knowledge base",
            **kwargs,
        )
        agent, kb = config.agent, config.agent.knowledge_base
        name = f"modelsmith-{config.name}-astronomy"

        self.tools = AgentToolsFunction(
            self,
            "Tools",
            encryption_key=encryption_key,
            output_bucket=artifacts_bucket,
            output_prefix=agent.output_prefix,
            ads_token_secret=ads_token_secret,
            log_retention=retention_days(config.log_retention_days),
            reserved_concurrency=agent.tools_reserved_concurrency,
            memory_size_mib=agent.tools_memory_mib,
            timeout=Duration.seconds(agent.tools_timeout_seconds),
            archive_timeout=Duration.seconds(agent.archive_timeout_seconds),
            link_expiry=Duration.minutes(agent.presigned_url_expiry_minutes),
        )

        pinecone_secret = None
        if kb.vector_store == "pinecone":
            pinecone_secret = (
                secretsmanager.Secret.from_secret_complete_arn(self, "PineconeApiKey", kb.pinecone_api_key_secret_arn)
                if kb.pinecone_api_key_secret_arn
                else pinecone_api_key_secret
            )
            if pinecone_secret is None:
                raise ValueError("agent.knowledge_base.vector_store 'pinecone' needs the Pinecone API key secret")
        self.knowledge_base = AgentKnowledgeBase(
            self,
            "KnowledgeBase",
            name=name,
            data_bucket=data_bucket,
            data_prefix=kb.data_prefix,
            encryption_key=encryption_key,
            embedding_model_id=kb.embedding_model_id,
            embedding_dimension=KNOWLEDGE_BASE_EMBEDDING_MODELS[kb.embedding_model_id],
            vector_store=kb.vector_store,
            opensearch_standby_replicas=kb.opensearch_standby_replicas,
            pinecone_connection_string=kb.pinecone_connection_string,
            pinecone_api_key_secret=pinecone_secret,
            pinecone_namespace=kb.pinecone_namespace,
            chunking_strategy=kb.chunking_strategy,
            chunk_max_tokens=kb.chunk_max_tokens,
            chunk_overlap_percentage=kb.chunk_overlap_percentage,
            retain_data=config.retain_stateful_resources,
        )

        self.tools.connect_knowledge_base(self.knowledge_base.knowledge_base_id, self.knowledge_base.knowledge_base_arn)

        self.parameters = ParameterTree(self, "Parameters", environment_name=config.name)
        publish = self.parameters.publish
        publish("agent", "runtime", agent.runtime, description="Where the agent runs: agentcore or classic")
        self.assistant: AstronomyAgent | None = None
        self.agentcore: AgentCoreAssistant | None = None
        if agent.runtime == "classic":
            self.assistant = AstronomyAgent(
                self,
                "Assistant",
                agent_name=name,
                foundation_model_id=agent.foundation_model_id,
                tools_function=self.tools.function,
                api_schema_path=API_SCHEMA_PATH,
                knowledge_base_id=self.knowledge_base.knowledge_base_id,
                knowledge_base_arn=self.knowledge_base.knowledge_base_arn,
                encryption_key=encryption_key,
                idle_session_ttl=Duration.minutes(agent.idle_session_ttl_minutes),
                memory_duration=Duration.days(agent.memory_duration_days) if agent.memory_enabled else None,
                memory_max_recent_sessions=agent.memory_max_recent_sessions,
                guardrail=agent.guardrail_enabled,
            )
            published = [
                ("agent-id", self.assistant.agent.agent_id, "ID of the astronomy agent"),
                ("agent-alias-id", self.assistant.alias.alias_id, "ID of the agent alias clients call"),
            ]
        else:
            self.agentcore = AgentCoreAssistant(
                self,
                "AgentCore",
                name=name,
                model_id=agent.foundation_model_id,
                base_model_id=agent.base_model_id(),
                tools_function=self.tools.function,
                tool_definitions=json.loads(GATEWAY_TOOLS_PATH.read_text()),
                encryption_key=encryption_key,
                instruction=INSTRUCTION,
                memory_days=agent.memory_duration_days if agent.memory_enabled else None,
            )
            published = [
                ("harness-arn", self.agentcore.harness.attr_arn, "ARN of the agent's AgentCore harness"),
                ("gateway-id", self.agentcore.gateway.attr_gateway_identifier, "ID of the tools' AgentCore Gateway"),
                ("gateway-url", self.agentcore.gateway.attr_gateway_url, "MCP URL of the tools' AgentCore Gateway"),
            ]
        published += [
            ("knowledge-base-id", self.knowledge_base.knowledge_base_id, "ID of the agent's knowledge base"),
            ("data-source-id", self.knowledge_base.data_source_id, "ID of the knowledge base's S3 data source"),
            ("tools-function-name", self.tools.function.function_name, "Name of the action-group function"),
        ]
        for parameter, value, description in published:
            publish("agent", parameter, value, description=description)
