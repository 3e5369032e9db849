"""AgentKnowledgeBase: OpenSearch Serverless (collection, policies, vector index) or Pinecone, and its S3 source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

from constructs.agent_knowledge_base import VECTOR_FIELD, AgentKnowledgeBase

CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def _build(**overrides) -> tuple[Stack, AgentKnowledgeBase, Template]:
    stack = Stack(App(context=CDK_CONTEXT), "Test")
    key = kms.Key(stack, "Key")
    props = dict(
        name="modelsmith-dev-astronomy",
        data_bucket=s3.Bucket(stack, "Data", encryption_key=key),
        data_prefix="knowledge-base/",
        encryption_key=key,
        embedding_model_id="amazon.titan-embed-text-v2:0",
        embedding_dimension=1024,
    )
    props.update(overrides)
    knowledge_base = AgentKnowledgeBase(stack, "KnowledgeBase", **props)
    return stack, knowledge_base, Template.from_stack(stack)


@pytest.fixture(scope="module")
def opensearch():
    return _build(opensearch_standby_replicas=False, chunking_strategy="semantic", retain_data=False)


def test_collection_is_vector_search_with_customer_key_and_scoped_policies(opensearch) -> None:
    _, _, template = opensearch
    template.has_resource_properties(
        "AWS::OpenSearchServerless::Collection",
        {"Name": "modelsmith-dev-astronomy", "Type": "VECTORSEARCH", "StandbyReplicas": "DISABLED"},
    )
    policies = {
        p["Properties"]["Type"]: p["Properties"]
        for p in template.find_resources("AWS::OpenSearchServerless::SecurityPolicy").values()
    }
    assert set(policies) == {"encryption", "network"}
    assert '"AWSOwnedKey":false' in json.dumps(policies["encryption"]["Policy"]).replace("\\", "")
    access = next(iter(template.find_resources("AWS::OpenSearchServerless::AccessPolicy").values()))["Properties"]
    text = json.dumps(access["Policy"])
    assert "index/modelsmith-dev-astronomy/*" in text and "cfn-exec-role" in text
    # CloudFormation deletes (or replaces) the index it created: without aoss:DeleteIndex the stack's deletion fails
    assert "aoss:DeleteIndex" in text


def test_hierarchical_parents_stay_within_bedrocks_limit() -> None:
    # botocore bedrock-agent HierarchicalChunkingLevelConfiguration.maxTokens: at most 8192 per level
    _, _, template = _build(chunking_strategy="hierarchical", chunk_max_tokens=1638)
    (source,) = template.find_resources("AWS::Bedrock::DataSource").values()
    levels = source["Properties"]["VectorIngestionConfiguration"]["ChunkingConfiguration"][
        "HierarchicalChunkingConfiguration"
    ]["LevelConfigurations"]
    assert [level["MaxTokens"] for level in levels] == [8190, 1638]


def test_vector_index_matches_the_embeddings_model(opensearch) -> None:
    _, _, template = opensearch
    template.has_resource_properties(
        "AWS::OpenSearchServerless::Index",
        {
            "IndexName": "modelsmith-knowledge-base",
            "Settings": {"Index": {"Knn": True}},
            "Mappings": {
                "Properties": Match.object_like(
                    {
                        VECTOR_FIELD: {
                            "Type": "knn_vector",
                            "Dimension": 1024,
                            "Method": {"Engine": "faiss", "Name": "hnsw", "SpaceType": "l2"},
                        }
                    }
                )
            },
        },
    )


def test_data_source_reads_its_prefix_with_the_chosen_chunking(opensearch) -> None:
    _, _, template = opensearch
    template.has_resource_properties(
        "AWS::Bedrock::DataSource",
        {
            "DataDeletionPolicy": "DELETE",
            "DataSourceConfiguration": {
                "Type": "S3",
                "S3Configuration": {"BucketArn": Match.any_value(), "InclusionPrefixes": ["knowledge-base/"]},
            },
            "VectorIngestionConfiguration": {
                "ChunkingConfiguration": {
                    "ChunkingStrategy": "SEMANTIC",
                    "SemanticChunkingConfiguration": {
                        "MaxTokens": 300,
                        "BufferSize": 1,
                        "BreakpointPercentileThreshold": 95,
                    },
                }
            },
        },
    )


def test_role_reads_only_the_document_prefix(opensearch) -> None:
    stack, knowledge_base, template = opensearch
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    by_sid = {s.get("Sid"): s for s in statements}
    assert by_sid["ListTheDocumentPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["knowledge-base/*"]}}
    assert by_sid["ReadTheDocuments"]["Action"] == "s3:GetObject"
    assert by_sid["ReadTheDocuments"]["Resource"]["Fn::Join"][1][-1] == "/knowledge-base/*"
    trust = template.to_json()["Resources"][stack.get_logical_id(knowledge_base.role.node.default_child)]
    condition = trust["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert set(condition) == {"StringEquals", "ArnLike"}


def test_pinecone_uses_the_l1_with_the_secret() -> None:
    stack = Stack(App(context=CDK_CONTEXT), "Pinecone")
    key = kms.Key(stack, "Key")
    secret = secretsmanager.Secret(stack, "PineconeKey", encryption_key=key)
    knowledge_base = AgentKnowledgeBase(
        stack,
        "KnowledgeBase",
        name="modelsmith-dev-astronomy",
        data_bucket=s3.Bucket(stack, "Data"),
        data_prefix="docs/",
        encryption_key=key,
        embedding_model_id="cohere.embed-english-v3",
        embedding_dimension=1024,
        vector_store="pinecone",
        pinecone_connection_string="https://a-b.svc.c.pinecone.io",
        pinecone_api_key_secret=secret,
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::OpenSearchServerless::Collection", 0)
    template.has_resource_properties(
        "AWS::Bedrock::KnowledgeBase",
        {
            "StorageConfiguration": {
                "Type": "PINECONE",
                "PineconeConfiguration": Match.object_like(
                    {
                        "ConnectionString": "https://a-b.svc.c.pinecone.io",
                        "CredentialsSecretArn": {"Ref": stack.get_logical_id(secret.node.default_child)},
                        "FieldMapping": {"TextField": "text", "MetadataField": "metadata"},
                    }
                ),
            }
        },
    )
    assert knowledge_base.knowledge_base_id is not None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "Modelsmith"}, "3-28 lowercase"),
        ({"vector_store": "faiss"}, "'opensearch-serverless' or 'pinecone'"),
        ({"vector_store": "pinecone"}, "needs pinecone_connection_string"),
        ({"chunking_strategy": "fixed"}, "one of fixed-size"),
    ],
)
def test_bad_props_are_refused(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        _build(**overrides)
