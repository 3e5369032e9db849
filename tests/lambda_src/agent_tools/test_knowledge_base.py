"""The knowledge-base tool: ``Retrieve`` as botocore's ``bedrock-agent-runtime`` model defines it (a Stubber checks
every request against it), answered as passages; errors come back as tool errors, never tracebacks."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

KB_ID = "KB12345678"


@pytest.fixture
def knowledge(tools, monkeypatch):
    from lambda_src.agent_tools.astro_tools import api, knowledge

    client = boto3.client(
        "bedrock-agent-runtime", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    monkeypatch.setattr(knowledge, "_client", lambda: client)
    monkeypatch.setenv("KNOWLEDGE_BASE_ID", KB_ID)
    api.reset()
    with stub:
        yield stub
    api.reset()


def test_passages_come_back_most_relevant_first(tools, knowledge) -> None:
    knowledge.add_response(
        "retrieve",
        {
            "retrievalResults": [
                {
                    "content": {"text": "Gaia DR3 G magnitudes are Vega-based."},
                    "score": 0.91,
                    "location": {"type": "S3", "s3Location": {"uri": "s3://modelsmith-dev-data/kb/gaia.md"}},
                },
                {
                    "content": {"text": "BP-RP is the colour index."},
                    "score": 0.55,
                    "location": {"type": "S3", "s3Location": {"uri": "s3://modelsmith-dev-data/kb/colours.md"}},
                },
            ]
        },
        {
            "knowledgeBaseId": KB_ID,
            "retrievalQuery": {"text": "Gaia photometric system"},
            "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 2}},
        },
    )
    status, body = tools.invoke("/knowledge-base/search", query="Gaia photometric system", max_results=2)
    assert status == 200
    assert [(p["score"], p["source"]) for p in body["passages"]] == [
        (0.91, "s3://modelsmith-dev-data/kb/gaia.md"),
        (0.55, "s3://modelsmith-dev-data/kb/colours.md"),
    ]
    knowledge.assert_no_pending_responses()


def test_a_refused_search_is_a_tool_error(tools, knowledge) -> None:
    knowledge.add_client_error("retrieve", service_error_code="AccessDeniedException", http_status_code=403)
    status, body = tools.invoke("/knowledge-base/search", query="anything")
    assert status == 502 and body["error"] == "archive_unavailable" and "AccessDeniedException" in body["message"]


def test_out_of_range_arguments_are_named(tools, knowledge) -> None:
    status, body = tools.invoke("/knowledge-base/search", query="x", max_results=50)
    assert status == 400 and "max_results" in body["message"]


def test_without_a_knowledge_base_the_tool_says_so(tools, monkeypatch) -> None:
    from lambda_src.agent_tools.astro_tools import api

    monkeypatch.delenv("KNOWLEDGE_BASE_ID", raising=False)
    api.reset()
    status, body = tools.invoke("/knowledge-base/search", query="anything")
    assert status == 503 and "KNOWLEDGE_BASE_ID" in body["message"]
