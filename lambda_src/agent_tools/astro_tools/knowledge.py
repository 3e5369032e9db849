"""Passages from the agent's Bedrock knowledge base (``bedrock-agent-runtime`` ``Retrieve``), as a tool.

Agents Classic attaches the knowledge base to the agent itself; an AgentCore harness reaches it as a tool, through
the Gateway, like every other tool (a Gateway connector takes only a managed knowledge base with default retrieval
settings, per AWS's migration notes, so the function calls ``Retrieve`` for any kind). Shapes and limits are
botocore's: ``retrievalQuery.text`` up to 20,000 characters, ``numberOfResults`` 1-100 (this tool: up to
:data:`MAX_RESULTS`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from lambda_src.agent_tools.astro_tools.errors import ArchiveUnavailable, NotConfigured
from lambda_src.agent_tools.astro_tools.models import KnowledgeBaseResult, Passage

MAX_QUERY_LENGTH = 1000
MAX_RESULTS = 10
SOURCE = "the knowledge base"


@cache
def _client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("bedrock-agent-runtime", config=Config(retries={"mode": "standard", "max_attempts": 3}))


def search(query: str, *, knowledge_base_id: str | None, max_results: int, client: Any = None) -> KnowledgeBaseResult:
    """The ``max_results`` passages most relevant to ``query``, each with its source document and score."""
    if not knowledge_base_id:
        raise NotConfigured("no knowledge base is configured for the tools function (KNOWLEDGE_BASE_ID)")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = (client or _client()).retrieve(
            knowledgeBaseId=knowledge_base_id,
            retrievalQuery={"text": query},
            retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": max_results}},
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise ArchiveUnavailable(f"{SOURCE} refused the search ({code}); see the function's logs") from error
    except BotoCoreError as error:
        raise ArchiveUnavailable(f"{SOURCE} could not be reached ({type(error).__name__})") from error
    passages = [
        Passage(
            text=(result.get("content") or {}).get("text", ""),
            score=result.get("score"),
            source=((result.get("location") or {}).get("s3Location") or {}).get("uri"),
        )
        for result in answer.get("retrievalResults", [])
    ]
    return KnowledgeBaseResult(query=query, passages=passages)
