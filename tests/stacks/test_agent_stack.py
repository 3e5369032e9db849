"""Agent stack, per environment: agent, alias, action group, knowledge base, permissions, and every checker.

Each environment of cdk.json is synthesized here with the Foundation and Agent stacks, cdk-nag (AwsSolutions
and HIPAA) attached through ``add_compliance_checks``; cfn-lint and checkov then run on the agent template.
Bundling is skipped (``aws:cdk:bundling-stacks``): packaging is tested in test_agent_tools_function.py.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from modelsmith_core.config import EnvironmentConfig, load_config
from stacks.agent_stack import API_SCHEMA_PATH, AgentStack
from stacks.foundation_stack import FoundationStack
from stacks.modelsmith_app import add_compliance_checks

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT: dict = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
ENVIRONMENTS = sorted(CDK_CONTEXT["environments"])
CHECKOV = os.environ.get("CHECKOV_BIN", str(REPO_ROOT / ".venv-checkov" / "bin" / "checkov"))


@dataclass(frozen=True)
class Synthesized:
    config: EnvironmentConfig
    stack: AgentStack
    template: Template
    json: dict
    path: Path
    assembly: Path


# Agents Classic, for the accounts that still have it, with a model Bedrock agents support (the default model is
# for the AgentCore harness); the AgentCore runtime is the default config.
CLASSIC = {"runtime": "classic", "foundation_model_id": "us.amazon.nova-pro-v1:0"}


def synthesize(env_name: str, outdir: Path, environments: dict | None = None, agent: dict | None = None) -> Synthesized:
    app = App(outdir=str(outdir), context={**CDK_CONTEXT, "aws:cdk:bundling-stacks": []})
    environments = json.loads(json.dumps(environments or CDK_CONTEXT["environments"]))
    if agent:
        environments[env_name]["agent"] = {**environments[env_name].get("agent", {}), **agent}
    config = load_config(environments, env_name)
    foundation = FoundationStack(app, f"Modelsmith-{env_name}-Foundation", config=config)
    stack = AgentStack(
        app,
        f"Modelsmith-{env_name}-Agent",
        config=config,
        encryption_key=foundation.key,
        data_bucket=foundation.data_bucket,
        artifacts_bucket=foundation.artifacts_bucket,
        ads_token_secret=foundation.secrets["nasa-ads-token"],
        pinecone_api_key_secret=foundation.secrets["pinecone-api-key"],
    )
    add_compliance_checks(app)
    app.synth()  # fails on any unacknowledged cdk-nag finding
    path = outdir / f"{stack.stack_name}.template.json"
    document = json.loads(path.read_text())
    return Synthesized(config, stack, Template.from_json(document), document, path, outdir)


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def agent(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(request.param, tmp_path_factory.mktemp(f"agent-{request.param}"), agent=CLASSIC)


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def agentcore(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(request.param, tmp_path_factory.mktemp(f"agentcore-{request.param}"))


def _resources(synthesized: Synthesized, kind: str) -> dict:
    return {k: v for k, v in synthesized.json["Resources"].items() if v["Type"] == kind}


def _one(synthesized: Synthesized, kind: str) -> tuple[str, dict]:
    found = _resources(synthesized, kind)
    assert len(found) == 1, (kind, list(found))
    return next(iter(found.items()))


def _managed_policies(synthesized: Synthesized, role_id: str) -> list[dict]:
    """The customer-managed policies attached to a role (ManagedPolicyArns: Ref to the policy)."""
    arns = synthesized.json["Resources"][role_id]["Properties"].get("ManagedPolicyArns", [])
    return [synthesized.json["Resources"][arn["Ref"]] for arn in arns if isinstance(arn, dict) and "Ref" in arn]


def _statements(synthesized: Synthesized, policy_id: str) -> list[dict]:
    resource = synthesized.json["Resources"][policy_id]["Properties"]
    return resource["PolicyDocument"]["Statement"]


# --- the agent ------------------------------------------------------------------------------------------------


def test_agent_uses_the_configured_model_memory_ttl_guardrail_and_key(agent: Synthesized) -> None:
    config = agent.config.agent
    agent_id, resource = _one(agent, "AWS::Bedrock::Agent")
    properties = resource["Properties"]
    assert properties["AgentName"] == f"modelsmith-{agent.config.name}-astronomy"
    assert properties["FoundationModel"]["Fn::Join"][1][-1] == f":inference-profile/{config.foundation_model_id}"
    assert properties["IdleSessionTTLInSeconds"] == config.idle_session_ttl_minutes * 60
    assert properties["MemoryConfiguration"] == {
        "EnabledMemoryTypes": ["SESSION_SUMMARY"],
        "StorageDays": config.memory_duration_days,
        "SessionSummaryConfiguration": {"MaxRecentSessions": config.memory_max_recent_sessions},
    }
    assert properties["AutoPrepare"] is True
    assert "Fn::GetStackOutput" in properties["CustomerEncryptionKeyArn"]
    assert "ProjectKey" in properties["CustomerEncryptionKeyArn"]["Fn::GetStackOutput"]["OutputName"]
    guardrail_id, _ = _one(agent, "AWS::Bedrock::Guardrail")
    assert properties["GuardrailConfiguration"] == {
        "GuardrailIdentifier": {"Fn::GetAtt": [guardrail_id, "GuardrailId"]},
        "GuardrailVersion": {"Fn::GetAtt": [guardrail_id, "Version"]},
    }
    assert len(properties["Instruction"]) > 400 and "resolveObject" in properties["Instruction"]


def test_guardrail_blocks_prompt_attacks_with_the_project_key(agent: Synthesized) -> None:
    _, guardrail = _one(agent, "AWS::Bedrock::Guardrail")
    filters = {f["Type"]: f for f in guardrail["Properties"]["ContentPolicyConfig"]["FiltersConfig"]}
    assert filters["PROMPT_ATTACK"]["InputStrength"] == "HIGH"
    assert {"HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT"} <= set(filters)
    assert "ProjectKey" in json.dumps(guardrail["Properties"]["KmsKeyArn"])


def test_action_group_runs_the_tools_function_with_the_committed_schema(agent: Synthesized) -> None:
    _, resource = _one(agent, "AWS::Bedrock::Agent")
    groups = {g["ActionGroupName"]: g for g in resource["Properties"]["ActionGroups"]}
    tools = groups["astronomy-tools"]
    function_id, _ = _one(agent, "AWS::Lambda::Function")
    assert tools["ActionGroupState"] == "ENABLED"
    assert tools["ActionGroupExecutor"] == {"Lambda": {"Fn::GetAtt": [function_id, "Arn"]}}
    assert tools["ApiSchema"]["S3"]["S3ObjectKey"].endswith(".json")
    asset_hashes = json.loads((agent.assembly / f"{agent.stack.stack_name}.assets.json").read_text())["files"]
    schema_asset = asset_hashes[tools["ApiSchema"]["S3"]["S3ObjectKey"].removesuffix(".json")]
    assert schema_asset["source"]["path"].endswith(".json")
    assert json.loads((agent.assembly / schema_asset["source"]["path"]).read_text()) == json.loads(
        API_SCHEMA_PATH.read_text()
    )


def test_knowledge_base_is_attached_and_retrievable_by_the_agent_only(agent: Synthesized) -> None:
    _, resource = _one(agent, "AWS::Bedrock::Agent")
    kb_id, _ = _one(agent, "AWS::Bedrock::KnowledgeBase")
    assert resource["Properties"]["KnowledgeBases"] == [
        {"KnowledgeBaseId": {"Ref": kb_id}, "KnowledgeBaseState": "ENABLED", "Description": Match.any_value()}
    ] or resource["Properties"]["KnowledgeBases"][0]["KnowledgeBaseId"] == {"Ref": kb_id}
    role_id = resource["Properties"]["AgentResourceRoleArn"]["Fn::GetAtt"][0]
    managed = _managed_policies(agent, role_id)
    assert len(managed) == 1
    retrieve = [
        s for s in managed[0]["Properties"]["PolicyDocument"]["Statement"] if s["Sid"] == "RetrieveFromItsKnowledgeBase"
    ]
    assert retrieve == [
        {
            "Sid": "RetrieveFromItsKnowledgeBase",
            "Action": "bedrock:Retrieve",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [kb_id, "KnowledgeBaseArn"]},
        }
    ]


def test_agent_role_invokes_exactly_its_model(agent: Synthesized) -> None:
    _, resource = _one(agent, "AWS::Bedrock::Agent")
    role_id = resource["Properties"]["AgentResourceRoleArn"]["Fn::GetAtt"][0]
    policies = [
        k for k, r in _resources(agent, "AWS::IAM::Policy").items() if {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    invoke = [s for p in policies for s in _statements(agent, p) if "bedrock:InvokeModel*" in json.dumps(s["Action"])]
    resources = json.dumps([s["Resource"] for s in invoke])
    model = agent.config.agent.base_model_id()
    assert f"inference-profile/{agent.config.agent.foundation_model_id}" in resources
    assert f"foundation-model/{model}" in resources
    assert re.findall(r"(?:foundation-model|inference-profile)/([^\"]+)", resources) and all(
        name in (model, agent.config.agent.foundation_model_id)
        for name in re.findall(r"(?:foundation-model|inference-profile)/([^\"]+)", resources)
    )


def test_alias_moves_only_when_the_agent_changes(agent: Synthesized, tmp_path: Path) -> None:
    agent_id, _ = _one(agent, "AWS::Bedrock::Agent")
    _, alias = _one(agent, "AWS::Bedrock::AgentAlias")
    assert alias["Properties"]["AgentAliasName"] == "live"
    assert alias["Properties"]["AgentId"] == {"Fn::GetAtt": [agent_id, "AgentId"]}
    assert "RoutingConfiguration" not in alias["Properties"]  # Bedrock versions the prepared draft on each update
    assert {"Fn::GetAtt": [agent_id, "UpdatedAt"]} in alias["Properties"]["Description"]["Fn::Join"][1]
    # Synthesizing again changes nothing: an unchanged deploy leaves agent and alias untouched.
    again = synthesize(agent.config.name, tmp_path / "again", agent=CLASSIC)
    assert again.json["Resources"][agent_id] == agent.json["Resources"][agent_id]
    alias_id = next(iter(_resources(agent, "AWS::Bedrock::AgentAlias")))
    assert again.json["Resources"][alias_id] == agent.json["Resources"][alias_id]


def test_a_changed_agent_is_an_update_of_the_same_resource(agent: Synthesized, tmp_path: Path) -> None:
    environments = json.loads(json.dumps(CDK_CONTEXT["environments"]))
    environments[agent.config.name]["agent"] = {"idle_session_ttl_minutes": 45}
    changed = synthesize(agent.config.name, tmp_path / "changed", environments, agent=CLASSIC)
    agent_id, _ = _one(agent, "AWS::Bedrock::Agent")
    assert changed.json["Resources"][agent_id]["Properties"]["IdleSessionTTLInSeconds"] == 2700
    # Same logical IDs: CloudFormation updates the agent (new UpdatedAt), so the alias description changes too.
    assert set(_resources(changed, "AWS::Bedrock::AgentAlias")) == set(_resources(agent, "AWS::Bedrock::AgentAlias"))


# --- the tools function -------------------------------------------------------------------------------------


def test_tools_function_runtime_tracing_concurrency_logs(agent: Synthesized) -> None:
    config = agent.config
    function_id, function = _one(agent, "AWS::Lambda::Function")
    properties = function["Properties"]
    assert re.match(r"python3\.(1[2-9]|[2-9]\d)$", properties["Runtime"])
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["ReservedConcurrentExecutions"] == config.agent.tools_reserved_concurrency
    assert properties["Timeout"] == config.agent.tools_timeout_seconds
    assert "VpcConfig" not in properties
    assert "ProjectKey" in json.dumps(properties["KmsKeyArn"])
    log_group_id, log_group = _one(agent, "AWS::Logs::LogGroup")
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}
    assert log_group["Properties"]["RetentionInDays"] == config.log_retention_days
    assert "ProjectKey" in json.dumps(log_group["Properties"]["KmsKeyId"])
    variables = properties["Environment"]["Variables"]
    assert variables["OUTPUT_PREFIX"] == config.agent.output_prefix
    assert variables["ARCHIVE_TIMEOUT_SECONDS"] == str(config.agent.archive_timeout_seconds)
    assert "ArtifactsBucket" in json.dumps(variables["OUTPUT_BUCKET"])
    assert "Secretsnasaadstoken" in json.dumps(variables["ADS_TOKEN_SECRET_ARN"])


def test_only_this_agent_may_invoke_the_function(agent: Synthesized) -> None:
    function_id, _ = _one(agent, "AWS::Lambda::Function")
    agent_id, _ = _one(agent, "AWS::Bedrock::Agent")
    _, permission = _one(agent, "AWS::Lambda::Permission")
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
        "Principal": "bedrock.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"},
        "SourceArn": {"Fn::GetAtt": [agent_id, "AgentArn"]},
    }


def test_function_reads_only_its_secret_and_writes_only_its_prefix(agent: Synthesized) -> None:
    function_id, function = _one(agent, "AWS::Lambda::Function")
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    managed = _managed_policies(agent, role_id)
    assert len(managed) == 1
    statements = {s["Sid"]: s for s in managed[0]["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {
        "ReadTheAdsToken",
        "ReadWriteTheOutputPrefix",
        "ProjectKeyThroughS3",
        "ProjectKeyThroughSecretsManagerAndLambda",
        "RetrieveFromTheKnowledgeBase",
    }
    (kb_id,) = _resources(agent, "AWS::Bedrock::KnowledgeBase")
    retrieve = statements["RetrieveFromTheKnowledgeBase"]
    assert (retrieve["Action"], retrieve["Resource"]) == (
        "bedrock:Retrieve",
        {"Fn::GetAtt": [kb_id, "KnowledgeBaseArn"]},
    )
    assert "Secretsnasaadstoken" in json.dumps(statements["ReadTheAdsToken"]["Resource"])
    assert sorted(statements["ReadWriteTheOutputPrefix"]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    prefix_resource = statements["ReadWriteTheOutputPrefix"]["Resource"]["Fn::Join"][1]
    assert prefix_resource[-1] == f"/{agent.config.agent.output_prefix}*"
    assert "ArtifactsBucket" in json.dumps(prefix_resource[0])
    key_statement = statements["ProjectKeyThroughS3"]
    assert sorted(key_statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "kms:ViaService" in key_statement["Condition"]["StringEquals"]
    # Nothing else of the role's: PythonFunction's own log streams, Lambda's decryption of the environment,
    # and X-Ray, whose actions take no resource.
    inline = [r for r in _resources(agent, "AWS::IAM::Policy").values() if {"Ref": role_id} in r["Properties"]["Roles"]]
    actions = {
        a
        for p in inline
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert actions == {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:Decrypt",
    }


# --- the knowledge base -------------------------------------------------------------------------------------


def test_knowledge_base_on_opensearch_serverless_with_an_s3_data_source(agent: Synthesized) -> None:
    kb_config = agent.config.agent.knowledge_base
    kb_id, kb = _one(agent, "AWS::Bedrock::KnowledgeBase")
    storage = kb["Properties"]["StorageConfiguration"]
    assert storage["Type"] == "OPENSEARCH_SERVERLESS"
    index_id, index = _one(agent, "AWS::OpenSearchServerless::Index")
    assert storage["OpensearchServerlessConfiguration"]["VectorIndexName"] == index["Properties"]["IndexName"]
    vector = index["Properties"]["Mappings"]["Properties"]["bedrock-knowledge-base-default-vector"]
    assert vector["Dimension"] == 1024 and vector["Method"]["Engine"] == "faiss"
    assert index_id in kb.get("DependsOn", [])
    _, collection = _one(agent, "AWS::OpenSearchServerless::Collection")
    assert collection["Properties"]["Type"] == "VECTORSEARCH"
    assert collection["Properties"]["StandbyReplicas"] == (
        "ENABLED" if kb_config.opensearch_standby_replicas else "DISABLED"
    )
    policies = {
        p["Properties"]["Type"]: json.dumps(p["Properties"]["Policy"])
        for p in _resources(agent, "AWS::OpenSearchServerless::SecurityPolicy").values()
    }
    assert '\\"AWSOwnedKey\\":false' in policies["encryption"] and "ProjectKey" in policies["encryption"]
    model_arn = kb["Properties"]["KnowledgeBaseConfiguration"]["VectorKnowledgeBaseConfiguration"]["EmbeddingModelArn"]
    assert json.dumps(model_arn).endswith(f'foundation-model/{kb_config.embedding_model_id}"]]}}')

    _, source = _one(agent, "AWS::Bedrock::DataSource")
    properties = source["Properties"]
    assert properties["KnowledgeBaseId"] == {"Ref": kb_id}
    s3 = properties["DataSourceConfiguration"]["S3Configuration"]
    assert s3["InclusionPrefixes"] == [kb_config.data_prefix] and "DataBucket" in json.dumps(s3["BucketArn"])
    assert properties["VectorIngestionConfiguration"]["ChunkingConfiguration"] == {
        "ChunkingStrategy": "FIXED_SIZE",
        "FixedSizeChunkingConfiguration": {
            "MaxTokens": kb_config.chunk_max_tokens,
            "OverlapPercentage": kb_config.chunk_overlap_percentage,
        },
    }
    assert properties["DataDeletionPolicy"] == ("RETAIN" if agent.config.retain_stateful_resources else "DELETE")
    assert "ProjectKey" in json.dumps(properties["ServerSideEncryptionConfiguration"]["KmsKeyArn"])


def test_ids_are_published_for_the_command_line(agent: Synthesized) -> None:
    env = agent.config.name
    names = sorted(p["Properties"]["Name"] for p in _resources(agent, "AWS::SSM::Parameter").values())
    assert names == [
        f"/modelsmith/{env}/agent/{key}"
        for key in (
            "agent-alias-id",
            "agent-id",
            "data-source-id",
            "knowledge-base-id",
            "runtime",
            "tools-function-name",
        )
    ]


def test_pinecone_knowledge_base_from_config(tmp_path: Path) -> None:
    environments = json.loads(json.dumps(CDK_CONTEXT["environments"]))
    environments["dev"]["agent"] = {
        **CLASSIC,
        "guardrail_enabled": False,
        "memory_enabled": False,
        "knowledge_base": {
            "vector_store": "pinecone",
            "pinecone_connection_string": "https://astro-abc123.svc.aped-4627-b74a.pinecone.io",
            "pinecone_namespace": "astronomy",
            "chunking_strategy": "hierarchical",
        },
    }
    synthesized = synthesize("dev", tmp_path, environments)
    _, kb = _one(synthesized, "AWS::Bedrock::KnowledgeBase")
    pinecone = kb["Properties"]["StorageConfiguration"]["PineconeConfiguration"]
    assert pinecone["ConnectionString"] == "https://astro-abc123.svc.aped-4627-b74a.pinecone.io"
    assert pinecone["Namespace"] == "astronomy" and "Secretspineconeapikey" in json.dumps(
        pinecone["CredentialsSecretArn"]
    )
    assert not _resources(synthesized, "AWS::OpenSearchServerless::Collection")
    assert not _resources(synthesized, "AWS::Bedrock::Guardrail")
    _, agent_resource = _one(synthesized, "AWS::Bedrock::Agent")
    assert "MemoryConfiguration" not in agent_resource["Properties"]
    _, source = _one(synthesized, "AWS::Bedrock::DataSource")
    assert (
        source["Properties"]["VectorIngestionConfiguration"]["ChunkingConfiguration"]["ChunkingStrategy"]
        == "HIERARCHICAL"
    )


def test_inference_profile_must_match_the_region(tmp_path: Path) -> None:
    environments = json.loads(json.dumps(CDK_CONTEXT["environments"]))
    environments["dev"]["agent"] = {"foundation_model_id": "eu.anthropic.claude-haiku-4-5-20251001-v1:0"}
    with pytest.raises(ValueError, match="'eu' cross-region inference profile cannot be called from region us-west-2"):
        synthesize("dev", tmp_path, environments)


# --- AgentCore (the default runtime) ------------------------------------------------------------------------


def test_agentcore_is_the_default_and_builds_no_classic_agent(agentcore: Synthesized) -> None:
    # Agents Classic: "no longer open to new customers starting on July 30, 2026" (agents-classic-maintenance-mode.html)
    assert agentcore.config.agent.runtime == "agentcore"
    assert not _resources(agentcore, "AWS::Bedrock::Agent") and not _resources(agentcore, "AWS::Bedrock::AgentAlias")
    for kind in (
        "AWS::BedrockAgentCore::Gateway",
        "AWS::BedrockAgentCore::GatewayTarget",
        "AWS::BedrockAgentCore::Harness",
    ):
        _one(agentcore, kind)


def test_the_gateway_serves_the_committed_tools_with_iam_and_the_project_key(agentcore: Synthesized) -> None:
    from stacks.agent_stack import GATEWAY_TOOLS_PATH

    _, gateway = _one(agentcore, "AWS::BedrockAgentCore::Gateway")
    properties = gateway["Properties"]
    assert (properties["AuthorizerType"], properties["ProtocolType"]) == ("AWS_IAM", "MCP")
    assert "ProjectKey" in json.dumps(properties["KmsKeyArn"])
    _, target = _one(agentcore, "AWS::BedrockAgentCore::GatewayTarget")
    target_properties = target["Properties"]
    assert target_properties["CredentialProviderConfigurations"] == [{"CredentialProviderType": "GATEWAY_IAM_ROLE"}]
    lambda_target = target_properties["TargetConfiguration"]["Mcp"]["Lambda"]
    function_id, _ = _one(agentcore, "AWS::Lambda::Function")
    assert lambda_target["LambdaArn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    committed = json.loads(GATEWAY_TOOLS_PATH.read_text())
    names = [tool["Name"] for tool in lambda_target["ToolSchema"]["InlinePayload"]]
    assert names == [tool["name"] for tool in committed] and "searchKnowledgeBase" in names


def test_the_harness_runs_the_model_with_the_gateway_and_encrypted_memory(agentcore: Synthesized) -> None:
    _, harness = _one(agentcore, "AWS::BedrockAgentCore::Harness")
    properties = harness["Properties"]
    config = agentcore.config.agent
    assert properties["HarnessName"] == f"modelsmith_{agentcore.config.name}_astronomy"
    assert properties["Model"] == {"BedrockModelConfig": {"ModelId": config.foundation_model_id}}
    (tool,) = properties["Tools"]
    assert tool["Type"] == "agentcore_gateway" and tool["Config"]["AgentCoreGateway"]["OutboundAuth"] == {"AwsIam": {}}
    managed = properties["Memory"]["ManagedMemoryConfiguration"]
    assert managed["EventExpiryDuration"] == config.memory_duration_days and "ProjectKey" in json.dumps(
        managed["EncryptionKeyArn"]
    )
    assert "searchKnowledgeBase" in properties["SystemPrompt"][0]["Text"]


def test_agentcore_roles_trust_this_accounts_resources_only_and_grant_what_each_calls(agentcore: Synthesized) -> None:
    roles = {k: v for k, v in _resources(agentcore, "AWS::IAM::Role").items() if k.startswith("AgentCore")}
    assert {k.split("Role")[0] for k in roles} == {"AgentCoreGateway", "AgentCoreHarness"}
    for role_id, role in roles.items():
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "bedrock-agentcore.amazonaws.com"}
        assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
        kind = "gateway" if role_id.startswith("AgentCoreGateway") else "harness"
        assert f":{kind}/*" in json.dumps(trust["Condition"]["ArnLike"])
    policies = {k: v for k, v in _resources(agentcore, "AWS::IAM::Policy").items() if k.startswith("AgentCore")}
    actions = {
        k.split("Role")[0]: {
            a
            for s in v["Properties"]["PolicyDocument"]["Statement"]
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        }
        for k, v in policies.items()
    }
    assert actions["AgentCoreGateway"] == {
        "lambda:InvokeFunction",
        "kms:CreateGrant",
        "kms:DescribeKey",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }
    assert {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "bedrock-agentcore:InvokeGateway",
        "bedrock-agentcore:CreateEvent",
    } <= actions["AgentCoreHarness"]


def test_agentcore_ids_are_published_for_the_command_line(agentcore: Synthesized) -> None:
    env = agentcore.config.name
    names = sorted(p["Properties"]["Name"] for p in _resources(agentcore, "AWS::SSM::Parameter").values())
    assert names == [
        f"/modelsmith/{env}/agent/{key}"
        for key in (
            "data-source-id",
            "gateway-id",
            "gateway-url",
            "harness-arn",
            "knowledge-base-id",
            "runtime",
            "tools-function-name",
        )
    ]


# --- cdk-nag, cfn-lint, checkov -----------------------------------------------------------------------------
