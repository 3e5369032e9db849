"""The agent's knowledge base: documents under a prefix of the data bucket, chunked, embedded, searchable.

Props:
    name (str): names the knowledge base, data source and (for OpenSearch) the collection, e.g.
        ``modelsmith-dev-astronomy``; 3-28 lowercase letters, digits and hyphens. Required.
    data_bucket (s3.IBucket): the bucket holding the documents (the Foundation data bucket). Required.
    data_prefix (str): the prefix ingested, e.g. ``knowledge-base/``. Required.
    encryption_key (kms.IKey): the project key (data bucket SSE-KMS, collection, transient ingestion data,
        the Pinecone secret). Required.
    embedding_model_id (str): e.g. ``amazon.titan-embed-text-v2:0``. Required.
    embedding_dimension (int): the model's vector size, e.g. 1024. Required.
    vector_store (str): ``opensearch-serverless`` (a collection, its policies and the vector index are
        created here) or ``pinecone`` (an existing index). Default ``opensearch-serverless``.
    opensearch_standby_replicas (bool): the collection's second availability zone. Default true.
    pinecone_connection_string (str | None): the Pinecone index host. Required for ``pinecone``.
    pinecone_api_key_secret (secretsmanager.ISecret | None): holds ``{"apiKey": "..."}``. Required for ``pinecone``.
    pinecone_namespace (str | None): Pinecone namespace. Default none.
    chunking_strategy (str): ``fixed-size``, ``hierarchical``, ``semantic`` or ``none``. Default ``fixed-size``.
    chunk_max_tokens (int): largest chunk (child chunk for hierarchical). Default 300.
    chunk_overlap_percentage (int): overlap of fixed-size chunks (and of hierarchical ones, in tokens). Default 20.
    retain_data (bool): keep the vectors when the data source is deleted (prod). Default true.

The aws-bedrock-alpha ``KnowledgeBase`` serves the OpenSearch Serverless case; for Pinecone and for the S3
data source (which the alpha module does not model yet) the L1 resources are used. Ingestion runs after
deployment: ``python -m modelsmith.agent_cli ingest --env <env>`` (see README).
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Aws, Fn, Stack
from aws_cdk import aws_bedrock as bedrock_l1
from aws_cdk import aws_bedrock_alpha as bedrock
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_opensearchserverless as aoss
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from constructs.compliance import acknowledge, acknowledge_wildcards
from modelsmith_core.catalogue import HIERARCHICAL_PARENT_FACTOR

_NAME = re.compile(r"^[a-z][a-z0-9-]{2,27}$")
VECTOR_INDEX = "modelsmith-knowledge-base"
VECTOR_FIELD = "bedrock-knowledge-base-default-vector"
TEXT_FIELD = "AMAZON_BEDROCK_TEXT_CHUNK"
METADATA_FIELD = "AMAZON_BEDROCK_METADATA"


class AgentKnowledgeBase(Construct):
    """Vector store, knowledge base and S3 data source; see the module docstring for props."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        data_bucket: s3.IBucket,
        data_prefix: str,
        encryption_key: kms.IKey,
        embedding_model_id: str,
        embedding_dimension: int,
        vector_store: str = "opensearch-serverless",
        opensearch_standby_replicas: bool = True,
        pinecone_connection_string: str | None = None,
        pinecone_api_key_secret: secretsmanager.ISecret | None = None,
        pinecone_namespace: str | None = None,
        chunking_strategy: str = "fixed-size",
        chunk_max_tokens: int = 300,
        chunk_overlap_percentage: int = 20,
        retain_data: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        if not _NAME.match(name):
            raise ValueError(f"name = {name!r}: 3-28 lowercase letters, digits and hyphens, starting with a letter")
        if vector_store not in ("opensearch-serverless", "pinecone"):
            raise ValueError(f"vector_store = {vector_store!r}: 'opensearch-serverless' or 'pinecone'")
        if vector_store == "pinecone" and (pinecone_connection_string is None or pinecone_api_key_secret is None):
            raise ValueError("vector_store 'pinecone' needs pinecone_connection_string and pinecone_api_key_secret")
        if chunking_strategy not in _CHUNKING:
            raise ValueError(f"chunking_strategy = {chunking_strategy!r}: one of {', '.join(_CHUNKING)}")

        stack = Stack.of(self)
        self.embedding_model = bedrock.BedrockFoundationModel(
            embedding_model_id, supports_knowledge_base=True, vector_dimensions=embedding_dimension
        )
        description = "Astronomy background for the Modelsmith research assistant (documents in S3)"
        if vector_store == "opensearch-serverless":
            self._create_on_opensearch(
                name, encryption_key, embedding_dimension, opensearch_standby_replicas, description
            )
        else:
            self._create_on_pinecone(
                name,
                encryption_key,
                pinecone_connection_string or "",
                pinecone_api_key_secret,
                pinecone_namespace,
                description,
            )

        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListTheDocumentPrefix",
                actions=["s3:ListBucket"],
                resources=[data_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{data_prefix}*"]}},
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheDocuments",
                actions=["s3:GetObject"],
                resources=[data_bucket.arn_for_objects(f"{data_prefix}*")],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ProjectKeyThroughS3",
                actions=["kms:Decrypt"],
                resources=[encryption_key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"},
                    "ArnLike": {"kms:EncryptionContext:aws:s3:arn": data_bucket.bucket_arn},
                },
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TransientIngestionData",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"bedrock.{stack.region}.amazonaws.com"}},
            )
        )

        self.data_source = bedrock_l1.CfnDataSource(
            self,
            "DataSource",
            name=f"{name}-documents",
            description=f"Documents under s3://<data bucket>/{data_prefix}",
            knowledge_base_id=self.knowledge_base_id,
            data_deletion_policy="RETAIN" if retain_data else "DELETE",
            data_source_configuration=bedrock_l1.CfnDataSource.DataSourceConfigurationProperty(
                type="S3",
                s3_configuration=bedrock_l1.CfnDataSource.S3DataSourceConfigurationProperty(
                    bucket_arn=data_bucket.bucket_arn, inclusion_prefixes=[data_prefix]
                ),
            ),
            server_side_encryption_configuration=bedrock_l1.CfnDataSource.ServerSideEncryptionConfigurationProperty(
                kms_key_arn=encryption_key.key_arn
            ),
            vector_ingestion_configuration=bedrock_l1.CfnDataSource.VectorIngestionConfigurationProperty(
                chunking_configuration=_CHUNKING[chunking_strategy](chunk_max_tokens, chunk_overlap_percentage)
            ),
        )
        # Ingestion reads the documents with the role: its policy must exist first.
        self.data_source.node.add_dependency(self.role)
        self.data_source_id = self.data_source.attr_data_source_id
        self._acknowledge(data_prefix, vector_store)

    def _acknowledge(self, data_prefix: str, vector_store: str) -> None:
        default_policy = self.role.node.find_child("DefaultPolicy")
        patterns = {
            f"Resource::*/{data_prefix}*": (
                "The knowledge base reads every document under its prefix of the data bucket; document names are "
                "the operators' to choose."
            ),
        }
        if vector_store == "opensearch-serverless":
            patterns["Action::bedrock:InvokeModel*"] = (
                "The alpha KnowledgeBase grants InvokeModel and InvokeModelWithResponseStream on the one "
                "embeddings model ARN; the wildcard spans those two actions only."
            )
        acknowledge_wildcards(default_policy, patterns)
        acknowledge(
            self.role,
            {
                "HIPAA.Security-IAMNoInlinePolicy": (
                    "The alpha KnowledgeBase writes its model and collection grants into the role's default policy, "
                    "each scoped to one resource; the document-reading grants sit beside them."
                ),
            },
        )

    def _create_on_opensearch(self, name: str, key: kms.IKey, dimension: int, standby: bool, description: str) -> None:
        collection_name = name
        resource = [f"collection/{collection_name}"]
        encryption = aoss.CfnSecurityPolicy(
            self,
            "EncryptionPolicy",
            name=f"{collection_name}-enc"[:32],
            type="encryption",
            policy=Stack.of(self).to_json_string(
                {
                    "Rules": [{"ResourceType": "collection", "Resource": resource}],
                    "AWSOwnedKey": False,
                    "KmsARN": key.key_arn,
                }
            ),
        )
        network = aoss.CfnSecurityPolicy(
            self,
            "NetworkPolicy",
            name=f"{collection_name}-net"[:32],
            type="network",
            # Reached over the AWS network by Bedrock and CloudFormation; every call is SigV4-signed and
            # checked against the data access policy below.
            policy=Stack.of(self).to_json_string(
                [{"Rules": [{"ResourceType": "collection", "Resource": resource}], "AllowFromPublic": True}]
            ),
        )
        self.collection = aoss.CfnCollection(
            self,
            "Collection",
            name=collection_name,
            type="VECTORSEARCH",
            description="Vectors of the Modelsmith agent's knowledge base",
            standby_replicas="ENABLED" if standby else "DISABLED",
        )
        self.collection.node.add_dependency(encryption)
        self.collection.node.add_dependency(network)

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:knowledge-base/*"
                    },
                },
            ),
            description="Modelsmith knowledge base: embeddings model, its collection, its documents",
        )
        # CloudFormation's execution role creates the vector index (the synthesizer's ARN is a Fn::Sub template).
        synthesizer: Any = Stack.of(self).synthesizer  # the default synthesizer's role (a bootstrap ARN template)
        deployer = Fn.sub(synthesizer.cloud_formation_execution_role_arn)
        access = aoss.CfnAccessPolicy(
            self,
            "DataAccessPolicy",
            name=f"{collection_name}-access"[:32],
            type="data",
            policy=Stack.of(self).to_json_string(
                [
                    {
                        "Rules": [
                            {
                                "ResourceType": "collection",
                                "Resource": resource,
                                "Permission": [
                                    "aoss:DescribeCollectionItems",
                                    "aoss:CreateCollectionItems",
                                    "aoss:UpdateCollectionItems",
                                ],
                            },
                            {
                                "ResourceType": "index",
                                "Resource": [f"index/{collection_name}/*"],
                                # DeleteIndex: CloudFormation deletes (or replaces) the index it created.
                                "Permission": [
                                    "aoss:DescribeIndex",
                                    "aoss:CreateIndex",
                                    "aoss:UpdateIndex",
                                    "aoss:DeleteIndex",
                                    "aoss:ReadDocument",
                                    "aoss:WriteDocument",
                                ],
                            },
                        ],
                        "Principal": [self.role.role_arn, deployer],
                    }
                ]
            ),
        )
        self.index = aoss.CfnIndex(
            self,
            "VectorIndex",
            collection_endpoint=self.collection.attr_collection_endpoint,
            index_name=VECTOR_INDEX,
            settings={"index": {"knn": True}},
            mappings={
                "properties": {
                    VECTOR_FIELD: {
                        "type": "knn_vector",
                        "dimension": dimension,
                        "method": {"engine": "faiss", "name": "hnsw", "spaceType": "l2"},
                    },
                    TEXT_FIELD: {"type": "text", "index": True},
                    METADATA_FIELD: {"type": "text", "index": False},
                }
            },
        )
        self.index.node.add_dependency(access)

        self.knowledge_base = bedrock.KnowledgeBase(
            self,
            "KnowledgeBase",
            knowledge_base_name=f"{collection_name}-kb",
            description=description,
            role=self.role,
            type=bedrock.KnowledgeBaseType.vector(
                embeddings_model=self.embedding_model,
                vector_store=bedrock.VectorStore.open_search_serverless(
                    collection=self.collection,
                    vector_index_name=VECTOR_INDEX,
                    vector_field=VECTOR_FIELD,
                    text_field=TEXT_FIELD,
                    metadata_field=METADATA_FIELD,
                ),
            ),
        )
        self.knowledge_base.node.add_dependency(self.index)
        self.knowledge_base_id = self.knowledge_base.knowledge_base_id
        self.knowledge_base_arn = self.knowledge_base.knowledge_base_arn

    def _create_on_pinecone(
        self,
        name: str,
        key: kms.IKey,
        connection_string: str,
        secret: secretsmanager.ISecret | None,
        namespace: str | None,
        description: str,
    ) -> None:
        assert secret is not None
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:knowledge-base/*"
                    },
                },
            ),
            description="Modelsmith knowledge base: embeddings model, Pinecone key, its documents",
        )
        policy = iam.ManagedPolicy(
            self,
            "ModelAndStore",
            description="Knowledge base: embeddings model, Pinecone key",
            statements=[
                iam.PolicyStatement(
                    sid="InvokeTheEmbeddingsModel",
                    actions=["bedrock:InvokeModel"],
                    resources=[self.embedding_model.model_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadThePineconeKey", actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]
                ),
                iam.PolicyStatement(
                    sid="ProjectKeyThroughSecretsManager",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"}},
                ),
            ],
        )
        self.role.add_managed_policy(policy)
        self.cfn_knowledge_base = bedrock_l1.CfnKnowledgeBase(
            self,
            "KnowledgeBase",
            name=f"{name}-kb",
            description=description,
            role_arn=self.role.role_arn,
            knowledge_base_configuration=bedrock_l1.CfnKnowledgeBase.KnowledgeBaseConfigurationProperty(
                type="VECTOR",
                vector_knowledge_base_configuration=bedrock_l1.CfnKnowledgeBase.VectorKnowledgeBaseConfigurationProperty(
                    embedding_model_arn=self.embedding_model.model_arn,
                ),
            ),
            storage_configuration=bedrock_l1.CfnKnowledgeBase.StorageConfigurationProperty(
                type="PINECONE",
                pinecone_configuration=bedrock_l1.CfnKnowledgeBase.PineconeConfigurationProperty(
                    connection_string=connection_string,
                    credentials_secret_arn=secret.secret_arn,
                    namespace=namespace,
                    field_mapping=bedrock_l1.CfnKnowledgeBase.PineconeFieldMappingProperty(
                        text_field="text", metadata_field="metadata"
                    ),
                ),
            ),
        )
        self.cfn_knowledge_base.node.add_dependency(policy)
        self.knowledge_base_id = self.cfn_knowledge_base.attr_knowledge_base_id
        self.knowledge_base_arn = self.cfn_knowledge_base.attr_knowledge_base_arn


def _fixed(max_tokens: int, overlap: int) -> bedrock_l1.CfnDataSource.ChunkingConfigurationProperty:
    return bedrock_l1.CfnDataSource.ChunkingConfigurationProperty(
        chunking_strategy="FIXED_SIZE",
        fixed_size_chunking_configuration=bedrock_l1.CfnDataSource.FixedSizeChunkingConfigurationProperty(
            max_tokens=max_tokens, overlap_percentage=overlap
        ),
    )


def _hierarchical(max_tokens: int, overlap: int) -> bedrock_l1.CfnDataSource.ChunkingConfigurationProperty:
    return bedrock_l1.CfnDataSource.ChunkingConfigurationProperty(
        chunking_strategy="HIERARCHICAL",
        hierarchical_chunking_configuration=bedrock_l1.CfnDataSource.HierarchicalChunkingConfigurationProperty(
            level_configurations=[
                bedrock_l1.CfnDataSource.HierarchicalChunkingLevelConfigurationProperty(
                    max_tokens=max_tokens * HIERARCHICAL_PARENT_FACTOR
                ),
                bedrock_l1.CfnDataSource.HierarchicalChunkingLevelConfigurationProperty(max_tokens=max_tokens),
            ],
            overlap_tokens=max(1, max_tokens * overlap // 100),
        ),
    )


def _semantic(max_tokens: int, overlap: int) -> bedrock_l1.CfnDataSource.ChunkingConfigurationProperty:
    return bedrock_l1.CfnDataSource.ChunkingConfigurationProperty(
        chunking_strategy="SEMANTIC",
        semantic_chunking_configuration=bedrock_l1.CfnDataSource.SemanticChunkingConfigurationProperty(
            max_tokens=max_tokens, buffer_size=1, breakpoint_percentile_threshold=95
        ),
    )


def _none(max_tokens: int, overlap: int) -> bedrock_l1.CfnDataSource.ChunkingConfigurationProperty:
    return bedrock_l1.CfnDataSource.ChunkingConfigurationProperty(chunking_strategy="NONE")


_CHUNKING = {"fixed-size": _fixed, "hierarchical": _hierarchical, "semantic": _semantic, "none": _none}
