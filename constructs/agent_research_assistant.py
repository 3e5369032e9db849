"""The Bedrock agent: an astronomy research assistant with its tools, knowledge base, memory and alias.

Props:
    agent_name (str): e.g. ``modelsmith-dev-astronomy``. Required.
    foundation_model_id (str): a model ID, or a cross-region inference profile ID (``us.``, ``eu.``, ``apac.``
        prefix). Required.
    tools_function (lambda.IFunction): the action group's function; the agent may invoke it and it gets a
        resource policy allowing this agent only. Required.
    api_schema_path (Path): the action group's committed OpenAPI schema. Required.
    knowledge_base_id (str), knowledge_base_arn (str): the knowledge base the agent searches. Required.
    encryption_key (kms.IKey): encrypts the agent's resources, its memory and the guardrail. Required.
    instruction (str): what the agent does and how it uses its tools. Default :data:`INSTRUCTION`.
    idle_session_ttl (Duration): a session ends after this long without a message. Default 30 minutes.
    memory_duration (Duration | None): keep session summaries this long; ``None`` turns memory off.
        Default 30 days.
    memory_max_recent_sessions (int): session summaries used as context. Default 20.
    guardrail (bool): create and attach a guardrail (prompt attacks, harmful content). Default true.
    alias_name (str): the alias clients call. Default ``live``.

The alpha L2 ``Agent`` builds the agent, its role, action group and guardrail; it cannot yet attach a
knowledge base, so that one property is set on its ``CfnAgent``, and the role gets ``bedrock:Retrieve`` on
that knowledge base only. The alias description carries the agent's ``UpdatedAt``: deploying an unchanged
agent leaves the alias (and the version it serves) as it is; any change to the agent changes the alias,
which makes Bedrock cut a new version and move the alias to it.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_bedrock as bedrock_l1
from aws_cdk import aws_bedrock_alpha as bedrock
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_

from constructs import Construct
from constructs.compliance import acknowledge, acknowledge_wildcards

ACTION_GROUP_NAME = "astronomy-tools"
_GEOGRAPHIES = {
    "us": bedrock.CrossRegionInferenceProfileRegion.US,
    "eu": bedrock.CrossRegionInferenceProfileRegion.EU,
    "apac": bedrock.CrossRegionInferenceProfileRegion.APAC,
}

INSTRUCTION = """You are an astronomy research assistant for professional astronomers. Answer with facts from \
real archives, obtained through your tools, and explain them with the knowledge base.
- Object names: resolve them with resolveObject (SIMBAD) before quoting coordinates; give RA/Dec in degrees \
and sexagesimal, and the object type.
- Gaia: use gaiaConeSearch with a name or a position (radius at most 30 arcmin). Keep its result_id: \
selectGaiaSources and the plot tools work on it. Say when a result was truncated by its row limit.
- Selections such as "red giants with 0.8 < BP-RP < 1.5" use selectGaiaSources on a cone-search result; \
report counts, the fraction and the statistics.
- Plots: plotColourMagnitudeDiagram or plotSkyPositions on a result_id; give the user the image link.
- Literature: searchLiterature (NASA ADS); cite papers with their citation string and bibcode.
- Background on catalogues, instruments and methods: searchKnowledgeBase; name the source document.
- When a tool answers with an error, tell the user what went wrong in plain words and what they can change; \
do not invent data. Links expire; say so."""


class AstronomyAgent(Construct):
    """Agent, action group, knowledge base association, guardrail and alias; see the module docstring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        agent_name: str,
        foundation_model_id: str,
        tools_function: lambda_.IFunction,
        api_schema_path: Path,
        knowledge_base_id: str,
        knowledge_base_arn: str,
        encryption_key: kms.IKey,
        instruction: str = INSTRUCTION,
        idle_session_ttl: Duration = Duration.minutes(30),
        memory_duration: Duration | None = Duration.days(30),
        memory_max_recent_sessions: int = 20,
        guardrail: bool = True,
        alias_name: str = "live",
    ) -> None:
        super().__init__(scope, construct_id)
        if not api_schema_path.is_file():
            raise ValueError(
                f"api_schema_path = {api_schema_path}: no such file; generate it with python -m astro_tools.openapi"
            )

        self.model = foundation_model(foundation_model_id)
        schema = bedrock.ApiSchema.from_local_asset(str(api_schema_path))
        schema.bind(self)  # an asset schema must be bound to a scope before an action group uses it
        action_group = bedrock.AgentActionGroup(
            name=ACTION_GROUP_NAME,
            description="Query SIMBAD, Gaia DR3 and NASA ADS; select and plot Gaia results.",
            executor=bedrock.ActionGroupExecutor.from_lambda(tools_function),
            api_schema=schema,
            enabled=True,
        )
        self.guardrail = self._guardrail(agent_name, encryption_key) if guardrail else None
        self.agent = bedrock.Agent(
            self,
            "Agent",
            agent_name=agent_name,
            description="Astronomy research assistant: SIMBAD, Gaia DR3, NASA ADS tools and a knowledge base",
            instruction=instruction,
            foundation_model=self.model,
            action_groups=[action_group],
            guardrail=self.guardrail,
            idle_session_ttl=idle_session_ttl,
            memory=(
                bedrock.Memory.session_summary(
                    max_recent_sessions=memory_max_recent_sessions, memory_duration=memory_duration
                )
                if memory_duration is not None
                else None
            ),
            kms_key=encryption_key,
            user_input_enabled=True,
            should_prepare_agent=True,  # the alias versions the prepared draft
            force_delete=True,
        )
        self.cfn_agent: bedrock_l1.CfnAgent = self.agent.node.default_child  # type: ignore[assignment]
        self.cfn_agent.knowledge_bases = [
            bedrock_l1.CfnAgent.AgentKnowledgeBaseProperty(
                knowledge_base_id=knowledge_base_id,
                description=(
                    "Background on astronomy: stellar populations, colour-magnitude diagrams, Gaia photometry and "
                    "astrometry, star clusters. Use it to explain results the tools return."
                ),
                knowledge_base_state="ENABLED",
            )
        ]
        self._grant_runtime_access(knowledge_base_arn, encryption_key)
        self._only_this_agent_invokes(tools_function)

        self.alias = bedrock.AgentAlias(
            self,
            "Alias",
            agent=self.agent,
            agent_alias_name=alias_name,
            # UpdatedAt changes exactly when the agent does; so does this description, and with it the version.
            description=f"Serves the latest prepared version; agent updated {self.agent.last_updated}",
        )
        self._acknowledge()

    def _acknowledge(self) -> None:
        role = self.agent.role
        patterns = {
            "Action::bedrock:InvokeModel*": (
                "The alpha Agent grants InvokeModel and InvokeModelWithResponseStream on its one model (or "
                "inference profile); the wildcard spans those two actions only."
            ),
            "Resource::<*.Arn>:*": (
                "Invoking the tools function's versions and aliases; it is the one function of this action group."
            ),
            "Action::s3:Get*": "Reading the OpenAPI schema asset from the CDK assets bucket (CDK's asset read grant).",
            "Action::s3:List*": "Reading the OpenAPI schema asset from the CDK assets bucket (CDK's asset read grant).",
        }
        if isinstance(self.model, bedrock.CrossRegionInferenceProfile):
            patterns["Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/*"] = (
                "A cross-region inference profile routes to the same model in any region of its geography; the "
                "grant names exactly that model, in those regions."
            )
        acknowledge_wildcards(role.node.find_child("DefaultPolicy"), patterns)
        acknowledge(
            role,
            {
                "HIPAA.Security-IAMNoInlinePolicy": (
                    "The alpha Agent writes its model, action-group and schema grants into the role's default policy, "
                    "each scoped to one resource; the knowledge base and key grants are in a managed policy."
                ),
            },
        )

    def _only_this_agent_invokes(self, tools_function: lambda_.IFunction) -> None:
        """The L2 grants bedrock.amazonaws.com invoke rights before the agent's ARN exists, so without a source
        ARN (any agent of the account could call the function); pin the permission to this agent."""
        permissions = [
            child
            for child in tools_function.node.children
            if isinstance(child, lambda_.CfnPermission) and child.principal == "bedrock.amazonaws.com"
        ]
        if len(permissions) != 1:
            raise ValueError(
                f"{tools_function.node.path}: expected one Bedrock invoke permission, found {len(permissions)}"
            )
        permissions[0].source_arn = self.agent.agent_arn

    def _guardrail(self, agent_name: str, key: kms.IKey) -> bedrock.Guardrail:
        guardrail = bedrock.Guardrail(
            self,
            "Guardrail",
            guardrail_name=f"{agent_name}-guardrail",
            description="Blocks prompt attacks and harmful content; astronomy questions pass",
            kms_key=key,
            blocked_input_messaging="Sorry, I can only help with astronomy research questions.",
            blocked_outputs_messaging="Sorry, I cannot answer that; please rephrase your astronomy question.",
        )
        guardrail.add_content_filter(
            type=bedrock.ContentFilterType.PROMPT_ATTACK,
            input_strength=bedrock.ContentFilterStrength.HIGH,
            output_strength=bedrock.ContentFilterStrength.NONE,
        )
        for kind in (
            bedrock.ContentFilterType.HATE,
            bedrock.ContentFilterType.INSULTS,
            bedrock.ContentFilterType.SEXUAL,
            bedrock.ContentFilterType.VIOLENCE,
            bedrock.ContentFilterType.MISCONDUCT,
        ):
            guardrail.add_content_filter(
                type=kind,
                input_strength=bedrock.ContentFilterStrength.MEDIUM,
                output_strength=bedrock.ContentFilterStrength.MEDIUM,
            )
        return guardrail

    def _grant_runtime_access(self, knowledge_base_arn: str, key: kms.IKey) -> None:
        role = self.agent.role
        region = Stack.of(self).region
        policy = iam.ManagedPolicy(
            self,
            "KnowledgeBaseAndKey",
            description="Agent: its knowledge base, the project key",
            statements=[
                iam.PolicyStatement(
                    sid="RetrieveFromItsKnowledgeBase", actions=["bedrock:Retrieve"], resources=[knowledge_base_arn]
                ),
                iam.PolicyStatement(
                    sid="ProjectKeyForAgentData",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"bedrock.{region}.amazonaws.com"},
                        # Only for this account's agents; the agent's own ARN would make a dependency cycle.
                        "ArnLike": {
                            "kms:EncryptionContext:aws:bedrock:arn": f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:agent/*"
                        },
                    },
                ),
            ],
        )
        role.add_managed_policy(policy)
        self.cfn_agent.node.add_dependency(policy)


def foundation_model(model_id: str) -> bedrock.IBedrockInvokable:
    """An on-demand foundation model, or a cross-region inference profile when the ID has a geography prefix."""
    geography, _, base = model_id.partition(".")
    if geography in _GEOGRAPHIES:
        model = bedrock.BedrockFoundationModel(base, supports_agents=True, supports_cross_region=True)
        return bedrock.CrossRegionInferenceProfile.from_config(geo_region=_GEOGRAPHIES[geography], model=model)
    return bedrock.BedrockFoundationModel(model_id, supports_agents=True)
