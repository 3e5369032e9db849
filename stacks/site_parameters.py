"""Ops bundle only: the values that differ per site become CloudFormation Parameters of the bundle's templates.

``cdk deploy`` decides everything at synth time from ``cdk.json`` (the house rule); the ops bundle
(``python -m modelsmith.ops_bundle build``) is the one place with Parameters, for what an operator sets in the
CloudFormation console without the CDK toolchain. Their defaults are the environment's config values, so a bundle
deploys like ``cdk deploy`` when nothing is overridden.

============================  ====================  ==========================================================
parameter                     stack                 what it sets
============================  ====================  ==========================================================
``NotificationEmail[2..n]``   Foundation            e-mail subscribers of the run-notification topic (one per
                                                    config address, at least one; empty = no subscription)
``VpcId``,                    TrainingInstance      the existing VPC, its private subnets and their zones (only
``PrivateSubnetIds``,                               when ``network.vpc_id`` is configured; a created VPC has
``AvailabilityZones``                               no site values)
``OpenSearchEndpoint``,       RetrievalPipeline     the site's default OpenSearch domain and Pinecone index,
``PineconeIndexHost``                               published as ``/modelsmith/<env>/site/opensearch-endpoint``
                                                    and ``.../site/pinecone-index-host`` when set, for the CLI
                                                    and operators to use as the pipeline's defaults
``PineconeIndexHost``         Agent                 the knowledge base's Pinecone index (only when
                                                    ``agent.knowledge_base.vector_store`` is ``pinecone``)
============================  ====================  ==========================================================

:func:`bundle_config` is the config the bundle's stacks are built from: the site values are replaced by
references to those Parameters (``{"Ref": "VpcId"}``), and :func:`add_site_parameters` declares the Parameters
in the stacks that use them, after :func:`stacks.modelsmith_app.add_stacks`. The bundle synthesizer fails
synthesis if a template references a Parameter it does not declare.
"""

from __future__ import annotations

from aws_cdk import CfnCondition, Fn, Stack, Token
from aws_cdk import aws_sns as sns

from constructs.bundle_synthesizer import site_parameter
from constructs.parameter_tree import ParameterTree
from modelsmith_core.config import EnvironmentConfig
from stacks.modelsmith_app import ModelsmithStacks

NOTIFICATIONS = "Notifications"
NETWORK = "Network (existing VPC)"
VECTOR_STORES = "Vector stores"

VPC_ID = "VpcId"
PRIVATE_SUBNET_IDS = "PrivateSubnetIds"
AVAILABILITY_ZONES = "AvailabilityZones"
OPENSEARCH_ENDPOINT = "OpenSearchEndpoint"
PINECONE_INDEX_HOST = "PineconeIndexHost"
SITE_CATEGORY = "site"  # /modelsmith/<env>/site/<key>

_EMAIL = r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$"
_OPENSEARCH_ENDPOINT = r"^$|^https://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?/?$"  # as the pipeline's input schema
_PINECONE_HOST = r"^$|^https://[a-z0-9-]+\.svc\.[a-z0-9.-]+\.pinecone\.io/?$"  # as modelsmith_core.config


def notification_email_parameters(config: EnvironmentConfig) -> list[str]:
    """``NotificationEmail``, ``NotificationEmail2``, ...: one per configured address, at least one."""
    count = max(1, len(config.notification_emails))
    return ["NotificationEmail" if index == 0 else f"NotificationEmail{index + 1}" for index in range(count)]


def bundle_config(config: EnvironmentConfig) -> EnvironmentConfig:
    """``config`` with its site values replaced by references to the bundle's Parameters.

    E-mail subscriptions are left out (:func:`add_site_parameters` subscribes the ``NotificationEmail``
    parameters instead); an existing VPC's IDs and zones, and a Pinecone knowledge base's host, become
    ``{"Ref": ...}`` tokens. The copy is not re-validated: tokens are not IDs, and ``config`` was validated.
    """
    update: dict[str, object] = {"notification_emails": ()}
    network = config.network
    if network.vpc_id is not None:
        subnets = Token.as_list(Fn.ref(PRIVATE_SUBNET_IDS))
        zones = Token.as_list(Fn.ref(AVAILABILITY_ZONES))
        update["network"] = network.model_copy(
            update={
                "vpc_id": Fn.ref(VPC_ID),
                "private_subnet_ids": tuple(
                    Fn.select(index, subnets) for index in range(len(network.private_subnet_ids))
                ),
                "availability_zones": tuple(
                    Fn.select(index, zones) for index in range(len(network.availability_zones))
                ),
            }
        )
    knowledge_base = config.agent.knowledge_base
    if config.agent.enabled and knowledge_base.vector_store == "pinecone":
        update["agent"] = config.agent.model_copy(
            update={
                "knowledge_base": knowledge_base.model_copy(
                    update={"pinecone_connection_string": Fn.ref(PINECONE_INDEX_HOST)}
                ),
            }
        )
    return config.model_copy(update=update)


def add_site_parameters(stacks: ModelsmithStacks, config: EnvironmentConfig) -> None:
    """Declare the site Parameters in the stacks built from :func:`bundle_config` (``config`` is the original)."""
    _notification_emails(stacks.foundation, stacks.foundation.notifications_topic, config)
    if config.network.vpc_id is not None:
        _existing_vpc(stacks.training_instance, config)
    _vector_store_defaults(stacks.retrieval_pipeline, config)
    if stacks.agent is not None and config.agent.knowledge_base.vector_store == "pinecone":
        site_parameter(
            stacks.agent,
            PINECONE_INDEX_HOST,
            group=VECTOR_STORES,
            label="Knowledge base Pinecone index host",
            default=config.agent.knowledge_base.pinecone_connection_string,
            allowed_pattern=_PINECONE_HOST[4:],
            constraint_description="https://<index>-<project>.svc.<environment>.pinecone.io",
            description="Pinecone index host of the agent's knowledge base; its API key is the pinecone-api-key secret.",
        )


def _notification_emails(stack: Stack, topic: sns.ITopic, config: EnvironmentConfig) -> None:
    defaults = list(config.notification_emails)
    for index, name in enumerate(notification_email_parameters(config)):
        address = site_parameter(
            stack,
            name,
            group=NOTIFICATIONS,
            label=f"Notification e-mail {index + 1}",
            default=defaults[index] if index < len(defaults) else "",
            allowed_pattern=_EMAIL,
            constraint_description="an e-mail address, or empty",
            description=(
                "E-mail address subscribed to run notifications (run results, failures, idle stops); its owner "
                "confirms SNS's message. Empty: no subscription."
            ),
        )
        given = CfnCondition(
            stack, f"Has{name}", expression=Fn.condition_not(Fn.condition_equals(address.value_as_string, ""))
        )
        subscription = sns.CfnSubscription(
            stack, f"{name}Subscription", topic_arn=topic.topic_arn, protocol="email", endpoint=address.value_as_string
        )
        subscription.cfn_options.condition = given


def _existing_vpc(stack: Stack, config: EnvironmentConfig) -> None:
    network = config.network
    count = len(network.private_subnet_ids)
    site_parameter(
        stack,
        VPC_ID,
        type="AWS::EC2::VPC::Id",
        group=NETWORK,
        label="Existing VPC",
        default=network.vpc_id,
        description="The existing VPC the GPU instance runs in; it must already have the endpoints README > Configuration lists.",
    )
    site_parameter(
        stack,
        PRIVATE_SUBNET_IDS,
        type="List<AWS::EC2::Subnet::Id>",
        group=NETWORK,
        label="Private subnets",
        default=",".join(network.private_subnet_ids),
        description=(
            f"{count} private subnet(s) of that VPC with a route to the VPC endpoints (and NAT, for the Hugging Face "
            "Hub), in the order of AvailabilityZones; the GPU instance and its checkpoint volume use the first."
        ),
    )
    site_parameter(
        stack,
        AVAILABILITY_ZONES,
        type="List<AWS::EC2::AvailabilityZone::Name>",
        group=NETWORK,
        label="Zones of the private subnets",
        default=",".join(network.availability_zones),
        description=f"The availability zone of each of the {count} private subnet(s), in the same order.",
    )


def _vector_store_defaults(stack: Stack, config: EnvironmentConfig) -> None:
    tree = ParameterTree(stack, "SiteParameters", environment_name=config.name)
    pinecone_default = config.agent.knowledge_base.pinecone_connection_string or ""
    for name, key, label, pattern, default, description in (
        (
            OPENSEARCH_ENDPOINT,
            "opensearch-endpoint",
            "Default OpenSearch endpoint",
            _OPENSEARCH_ENDPOINT,
            "",
            "The site's OpenSearch domain endpoint (https://...), the retrieval pipeline's default corpus and "
            "ML Commons registration target. Empty: none (each run names its own).",
        ),
        (
            PINECONE_INDEX_HOST,
            "pinecone-index-host",
            "Default Pinecone index host",
            _PINECONE_HOST,
            pinecone_default,
            "The site's Pinecone index host (https://<index>-<project>.svc.<environment>.pinecone.io), the retrieval "
            "pipeline's default registration target. Empty: none.",
        ),
    ):
        value = site_parameter(
            stack,
            name,
            group=VECTOR_STORES,
            label=label,
            default=default,
            allowed_pattern=pattern,
            description=description,
        )
        given = CfnCondition(
            stack, f"Has{name}", expression=Fn.condition_not(Fn.condition_equals(value.value_as_string, ""))
        )
        published = tree.publish(
            SITE_CATEGORY, key, value.value_as_string, description=f"{label} (ops bundle parameter {name})"
        )
        published.node.default_child.cfn_options.condition = given  # type: ignore[union-attr]
