"""Corpus extraction from OpenSearch: opensearch-py against a local server speaking OpenSearch's REST API."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from opensearchpy.exceptions import AuthenticationException, TransportError

from tests.support.lambdas import FakeLambdaContext
from tests.support.opensearch_server import OpenSearchServer

RUN_ID = "run-2024-01-01"


def opensearch_event(server: OpenSearchServer, **overrides) -> dict:
    source = {
        "input_type": "opensearch",
        "opensearch_endpoint": server.url,
        "opensearch_auth": "sigv4",
        "index_name": "docs",
        "text_field": "content",
        "doc_id_field": "_id",
        "max_documents": 5000,
    }
    return {"run_id": RUN_ID, "input": {**source, **overrides}}


def numbered_documents(count: int) -> list[tuple[str, dict]]:
    return [
        (f"doc-{number:05d}", {"content": f"Document number {number}.", "other": "x" * 10}) for number in range(count)
    ]


def test_handler_pages_through_a_pit_with_search_after_and_deletes_it(extractor, artifacts, opensearch) -> None:
    # GIVEN 1,100 documents over two shards, so three pages of at most 500
    opensearch.add_index("docs", numbered_documents(1100))

    # WHEN the handler extracts the index
    result = extractor.handler(opensearch_event(opensearch), FakeLambdaContext())

    # THEN every document is read exactly once, in three point-in-time searches
    assert (result["documents"], result["rejected"], result["duplicates"], result["source"]) == (
        1100,
        0,
        0,
        "opensearch",
    )
    corpus = artifacts.read_jsonl(result["corpus_uri"])
    assert sorted(doc["id"] for doc in corpus) == [doc_id for doc_id, _ in numbered_documents(1100)]
    assert corpus[0]["metadata"] == {"index": "docs", "opensearch_id": corpus[0]["id"]}
    searches = [request.body for request in opensearch.search_requests()]
    assert len(searches) == 3
    assert all(body["size"] == 500 and body["sort"] == [{"_shard_doc": "asc"}] for body in searches)
    assert all(body["pit"] == {"id": opensearch.created_pits[0], "keep_alive": "5m"} for body in searches)
    assert "search_after" not in searches[0]
    assert searches[1]["search_after"] and searches[2]["search_after"] > searches[1]["search_after"]
    assert searches[0]["_source"] == ["content"], "only the fields needed are fetched"
    # AND the PIT was created once with a keep-alive and deleted at the end
    [create] = [request for request in opensearch.requests if request.path == "/docs/_search/point_in_time"]
    assert create.method == "POST" and create.query == {"keep_alive": ["5m"]}
    assert opensearch.deleted_pits == opensearch.created_pits and opensearch.open_pits == {}


def test_each_page_uses_the_most_recent_pit_id_and_that_one_is_deleted(extractor, artifacts) -> None:
    # GIVEN a server that answers every search with a new PIT ID
    with OpenSearchServer(rotate_pit_ids=True) as server:
        server.add_index("docs", numbered_documents(1001))

        # WHEN the index is extracted
        result = extractor.extraction.extract_corpus(opensearch_event(server))

    # THEN each search sent the ID of the previous response, and the last one was deleted
    ids = [request.body["pit"]["id"] for request in server.search_requests()]
    assert result["documents"] == 1001 and len(set(ids)) == 3
    assert server.open_pits == {} and len(server.deleted_pits) == 1


def test_reading_stops_at_max_documents(extractor, artifacts, opensearch) -> None:
    # GIVEN 1,400 documents and room for 520
    opensearch.add_index("docs", numbered_documents(1400))

    # WHEN the index is extracted
    result = extractor.extraction.extract_corpus(opensearch_event(opensearch, max_documents=520))

    # THEN two pages were enough and the PIT is gone
    assert result["documents"] == 520 and len(artifacts.read_jsonl(result["corpus_uri"])) == 520
    assert len(opensearch.search_requests()) == 2
    assert opensearch.open_pits == {}


def test_nested_text_field_and_custom_id_field(extractor, artifacts, opensearch) -> None:
    # GIVEN documents whose text sits in body.text (one in an array of sections) and ids in meta.slug
    opensearch.add_index(
        "docs",
        [
            ("1", {"body": {"text": "Plain nested text."}, "meta": {"slug": "plain"}}),
            ("2", {"body": [{"text": "Section one."}, {"text": "Section two."}], "meta": {"slug": "sections"}}),
            ("3", {"body": {"title": "no text"}, "meta": {"slug": "untitled"}}),
            ("4", {"body": {"text": "Numeric slug."}, "meta": {"slug": 1234}}),
            ("5", {"body": {"text": 42}, "meta": {"slug": "number"}}),
        ],
    )

    # WHEN the index is extracted with the dotted fields
    result = extractor.extraction.extract_corpus(
        opensearch_event(opensearch, text_field="body.text", doc_id_field="meta.slug")
    )

    # THEN the nested text is found, arrays are joined, and unusable hits are rejected by field
    corpus = {doc["id"]: doc["text"] for doc in artifacts.read_jsonl(result["corpus_uri"])}
    assert corpus == {
        "plain": "Plain nested text.",
        "sections": "Section one.\n\nSection two.",
        "1234": "Numeric slug.",
    }
    rejects = {reject["opensearch_id"]: reject["reason"] for reject in artifacts.read_jsonl(result["rejects_uri"])}
    assert rejects == {"3": "body.text: field is missing", "5": "body.text: expected text, got int"}
    assert opensearch.search_requests()[0].body["_source"] == ["body.text", "meta.slug"]


def test_basic_auth_reads_the_secret_and_sends_the_header_the_server_checks(extractor, artifacts) -> None:
    # GIVEN a server that requires basic credentials, and those credentials in Secrets Manager
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="opensearch-reader", SecretString=json.dumps({"username": "reader", "password": "s3cret!"})
    )["ARN"]
    with OpenSearchServer(username="reader", password="s3cret!") as server:
        server.add_index("docs", numbered_documents(3))

        # WHEN the index is extracted with basic auth
        result = extractor.extraction.extract_corpus(
            opensearch_event(server, opensearch_auth="basic", opensearch_secret_arn=secret_arn)
        )

    # THEN every request carried the credentials and the documents were read
    expected = "Basic " + base64.b64encode(b"reader:s3cret!").decode()
    assert result["documents"] == 3
    assert {request.headers.get("authorization") for request in server.requests} == {expected}


def test_wrong_basic_credentials_name_the_secret(extractor, artifacts) -> None:
    # GIVEN a secret whose password the server does not accept
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="opensearch-reader", SecretString=json.dumps({"username": "reader", "password": "wrong"})
    )["ARN"]
    with OpenSearchServer(username="reader", password="s3cret!") as server:
        server.add_index("docs", numbered_documents(3))

        # WHEN / THEN the extraction fails naming the secret (never its value) and writes nothing
        with pytest.raises(
            extractor.opensearch.OpenSearchAccessError, match="input.opensearch_secret_arn: .* refused"
        ) as raised:
            extractor.extraction.extract_corpus(
                opensearch_event(server, opensearch_auth="basic", opensearch_secret_arn=secret_arn)
            )
    assert isinstance(raised.value.__cause__, AuthenticationException) and "wrong" not in str(raised.value)
    assert artifacts.keys("runs/") == []


def test_a_role_without_read_permission_gets_a_message_naming_the_index(extractor, artifacts) -> None:
    with OpenSearchServer(forbidden_indices={"docs"}) as server:
        server.add_index("docs", numbered_documents(3))
        with pytest.raises(
            extractor.opensearch.OpenSearchAccessError,
            match=r"input.index_name: .* may not read index 'docs'.*HTTP 403",
        ):
            extractor.extraction.extract_corpus(opensearch_event(server))


def test_a_secret_without_a_password_is_named_without_revealing_it(extractor, artifacts, opensearch) -> None:
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="opensearch-reader", SecretString=json.dumps({"username": "reader-name"})
    )["ARN"]
    with pytest.raises(extractor.storage.InvalidEventError, match="has no non-empty 'password'") as raised:
        extractor.extraction.extract_corpus(
            opensearch_event(opensearch, opensearch_auth="basic", opensearch_secret_arn=secret_arn)
        )
    assert "reader-name" not in str(raised.value)


def test_sigv4_signs_every_request_for_the_es_service(extractor, artifacts, opensearch) -> None:
    # GIVEN an index and the function's (moto's fake) AWS credentials
    opensearch.add_index("docs", numbered_documents(2))

    # WHEN the index is extracted with SigV4
    extractor.extraction.extract_corpus(opensearch_event(opensearch))

    # THEN each request is signed with the credentials for the es service in the session's region
    for request in opensearch.requests:
        authorization = request.headers["authorization"]
        assert (
            authorization.startswith("AWS4-HMAC-SHA256 Credential=") and "/us-west-2/es/aws4_request," in authorization
        )
        assert "x-amz-date" in request.headers and "x-amz-security-token" in request.headers


def test_a_failing_page_still_deletes_the_pit(extractor, artifacts) -> None:
    # GIVEN a server whose second search fails
    with OpenSearchServer(fail_searches={2}) as server:
        server.add_index("docs", numbered_documents(700))

        # WHEN the extraction runs
        with pytest.raises(TransportError) as raised:
            extractor.extraction.extract_corpus(opensearch_event(server))

    # THEN the error surfaces, the PIT was deleted anyway, and no corpus was written
    assert raised.value.status_code == 500
    assert server.created_pits and server.deleted_pits == server.created_pits and server.open_pits == {}
    assert artifacts.keys("runs/") == []


def test_clusters_before_3_3_page_by_doc_and_id(extractor, artifacts) -> None:
    # GIVEN an OpenSearch 2.19 cluster, which rejects _shard_doc, with documents on three shards
    with OpenSearchServer(version="2.19.0", shards=3) as server:
        server.add_index("docs", numbered_documents(1234))

        # WHEN the index is extracted
        result = extractor.extraction.extract_corpus(opensearch_event(server))

    # THEN the legacy total order reads every document exactly once
    assert [request.body["sort"] for request in server.search_requests()] == [[{"_doc": "asc"}, {"_id": "asc"}]] * 3
    assert sorted(doc["id"] for doc in artifacts.read_jsonl(result["corpus_uri"])) == [
        doc_id for doc_id, _ in numbered_documents(1234)
    ]


def test_an_empty_index_raises_empty_corpus_error(extractor, artifacts, opensearch) -> None:
    opensearch.add_index("empty", [])
    with pytest.raises(extractor.extraction.EmptyCorpusError, match="index 'empty' returned no documents$"):
        extractor.extraction.extract_corpus(opensearch_event(opensearch, index_name="empty"))
    assert opensearch.open_pits == {}


def test_an_index_without_the_text_field_raises_empty_corpus_error(extractor, artifacts, opensearch) -> None:
    # GIVEN documents that have no "content" field
    opensearch.add_index("docs", [("1", {"body": "text elsewhere"}), ("2", {"body": "more"})])

    # WHEN the handler runs
    with pytest.raises(Exception) as raised:
        extractor.handler(opensearch_event(opensearch), FakeLambdaContext())

    # THEN the error names the index and the field, and the rejects file explains each hit
    assert type(raised.value).__name__ == "EmptyCorpusError"
    assert str(raised.value).startswith(
        "index 'docs' returned no documents with field 'content' (all 2 hits rejected; see s3://"
    )
    assert len(artifacts.read_jsonl(artifacts.run_uri(RUN_ID, "corpus/rejects.jsonl"))) == 2


def test_an_unknown_index_is_named(extractor, artifacts, opensearch) -> None:
    with pytest.raises(extractor.storage.InvalidEventError, match="input.index_name: index 'missing' was not found"):
        extractor.extraction.extract_corpus(opensearch_event(opensearch, index_name="missing"))


def test_serverless_collections_are_refused_with_a_way_out(extractor, artifacts) -> None:
    event = {
        "run_id": RUN_ID,
        "input": {
            "input_type": "opensearch",
            "index_name": "docs",
            "opensearch_auth": "sigv4",
            "opensearch_endpoint": "https://abc123.us-west-2.aoss.amazonaws.com",
        },
    }
    with pytest.raises(extractor.storage.InvalidEventError, match="use input_type 's3'"):
        extractor.extraction.extract_corpus(event)
