"""Loading the run's corpus into Pinecone: the real pinecone client against a local server speaking Pinecone's
REST API, embeddings from inference.py run in-process, moto for S3 and Secrets Manager."""

from __future__ import annotations

import json
import logging

import boto3
import numpy as np
import pytest

from tests.lambda_src.register_model.endpoint_fakes import ENDPOINT_NAME, MINILM_DIMENSION, HashModel, InProcessEndpoint
from tests.support.lambdas import FakeLambdaContext
from tests.support.pinecone_server import MAX_REQUEST_BYTES, MAX_UPSERT_VECTORS, PineconeServer

RUN_ID = "run-2024-01-01"
CORPUS = [
    {"id": "pw-reset", "text": "To reset your password, open Settings and choose Forgot password."},
    {"id": "vpn", "text": "Connect to the office VPN with the client installed on your laptop."},
    {"id": "expenses", "text": "Submit travel expenses within 30 days, with receipts attached."},
    {"id": "größe-ü", "text": "Umlauts in an id are not ASCII, so the vector id is a hash of it."},
    {"id": "pw-reset", "text": "A repeated id: the first document wins."},
    {"id": "blank", "text": "   "},
    {"id": "parking", "text": "Parking permits are issued by the facilities team every quarter."},
]


@pytest.fixture
def api_key_secret(artifacts, pinecone_server: PineconeServer) -> str:
    secrets = boto3.client("secretsmanager", region_name="us-west-2")
    return secrets.create_secret(Name="modelsmith/pinecone-api-key", SecretString=pinecone_server.api_key)["ARN"]


@pytest.fixture
def corpus_uri(artifacts) -> str:
    return artifacts.put_jsonl(artifacts.run_uri(RUN_ID, "corpus/corpus.jsonl"), CORPUS)


def pinecone_event(server: PineconeServer, corpus: str, secret_arn: str, **overrides) -> dict:
    return {
        "action": "pinecone",
        "run_id": RUN_ID,
        "model_name": "handbook-minilm",
        "endpoint_name": ENDPOINT_NAME,
        "corpus_uri": corpus,
        "embedding_dimension": MINILM_DIMENSION,
        "index_name": "modelsmith-handbook",
        "cloud": "aws",
        "region": "us-east-1",
        "api_key_secret_arn": secret_arn,
        "control_plane_host": server.url,
        **overrides,
    }


def register(registration, event: dict, endpoint, sleeps: list | None = None, **options) -> dict:
    sleeps = [] if sleeps is None else sleeps
    return registration.registration.register_model(
        event, runtime_client=endpoint, sleep=sleeps.append, poll_seconds=0.25, **options
    )


def test_creates_the_index_embeds_the_corpus_and_upserts_it_into_the_model_namespace(
    registration, artifacts, pinecone_server, api_key_secret, corpus_uri, minilm_endpoint
) -> None:
    # GIVEN no index yet, and an index that needs two describes to become ready
    sleeps: list[float] = []

    # WHEN the corpus is registered
    result = register(
        registration, pinecone_event(pinecone_server, corpus_uri, api_key_secret), minilm_endpoint, sleeps
    )

    # THEN a serverless cosine index of the model's dimension was created in the given cloud region and waited for
    index = pinecone_server.indexes["modelsmith-handbook"]
    assert index.schema == {"fields": {"_values": {"type": "dense_vector", "dimension": 384, "metric": "cosine"}}}
    assert index.deployment == {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
    assert sleeps == [0.25, 0.25]  # Initializing on the first describe after creation, Ready on the second
    # AND the five distinct documents with text are in the namespace named after the model
    assert result == {
        "index_name": "modelsmith-handbook",
        "index_host": index.host,
        "namespace": "handbook-minilm",
        "vectors_upserted": 5,
        "index_created": True,
        "documents": 5,
        "duplicates_skipped": 1,
        "blank_skipped": 1,
        "embedding_requests": 2,
        "upsert_requests": 1,
    }
    stored = pinecone_server.vectors("modelsmith-handbook", "handbook-minilm")
    hashed = registration.pinecone.vector_id("größe-ü")
    assert hashed.startswith("sha256-") and set(stored) == {"pw-reset", "vpn", "expenses", hashed, "parking"}
    assert stored["pw-reset"]["metadata"] == {
        "doc_id": "pw-reset",
        "run_id": RUN_ID,
        "model_name": "handbook-minilm",
        "text": CORPUS[0]["text"],
    }
    assert stored[hashed]["metadata"]["doc_id"] == "größe-ü"
    # AND each vector is the endpoint's embedding of its document, so the document finds itself
    from pinecone import Pinecone

    index_client = Pinecone(api_key=pinecone_server.api_key, host=pinecone_server.url).index(host=result["index_host"])
    query = json.loads(
        minilm_endpoint.invoke_endpoint(
            EndpointName=ENDPOINT_NAME,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps({"inputs": ["How do I change a forgotten password?"]}),
        )["Body"].read()
    )
    top = index_client.query(vector=query["embeddings"][0], top_k=1, namespace="handbook-minilm", include_metadata=True)
    assert top.matches[0].id == "pw-reset"
    stats = index_client.describe_index_stats()
    assert stats.namespaces["handbook-minilm"].vector_count == 5 and stats.dimension == 384


def test_a_rerun_overwrites_the_same_vectors_and_creates_nothing(
    registration, artifacts, pinecone_server, api_key_secret, corpus_uri, minilm_endpoint
) -> None:
    event = pinecone_event(pinecone_server, corpus_uri, api_key_secret)
    register(registration, event, minilm_endpoint)
    before = {
        vector_id: np.array(vector["values"])
        for vector_id, vector in pinecone_server.vectors("modelsmith-handbook", "handbook-minilm").items()
    }

    # WHEN the registration runs again
    second = register(registration, event, minilm_endpoint)

    # THEN the index was not created again and the namespace holds the same five vectors, no duplicates
    assert second["index_created"] is False and second["vectors_upserted"] == 5
    assert len(pinecone_server.control_requests("POST")) == 1
    after = pinecone_server.vectors("modelsmith-handbook", "handbook-minilm")
    assert set(after) == set(before) and all(
        np.allclose(after[key]["values"], before[key], atol=1e-6) for key in before
    )


def test_the_handler_reads_a_json_api_key_and_uses_the_lambda_clients(
    registration, artifacts, pinecone_server, corpus_uri, minilm_endpoint, monkeypatch
) -> None:
    # GIVEN the key stored as JSON, and the runtime client the function would build replaced at the edge
    secrets = boto3.client("secretsmanager", region_name="us-west-2")
    arn = secrets.create_secret(Name="pinecone-json", SecretString=json.dumps({"api_key": pinecone_server.api_key}))[
        "ARN"
    ]
    pinecone_server.describes_until_ready = 1
    real_client = boto3.Session.client

    def client(session, service_name, *args, **kwargs):
        return (
            minilm_endpoint
            if service_name == "sagemaker-runtime"
            else real_client(session, service_name, *args, **kwargs)
        )

    monkeypatch.setattr(boto3.Session, "client", client)
    monkeypatch.setattr(registration.pinecone, "INDEX_POLL_SECONDS", 0.01)

    result = registration.handler(pinecone_event(pinecone_server, corpus_uri, arn), FakeLambdaContext())

    assert result["vectors_upserted"] == 5 and result["index_created"] is True


def test_upserts_respect_pinecone_vector_and_size_limits(
    registration, artifacts, pinecone_server, api_key_secret, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="lambda_src.register_model.pinecone_registration")
    # GIVEN 2,300 short documents for a narrow model (the 1,000-vector limit binds) ...
    narrow = artifacts.put_jsonl(
        artifacts.run_uri(RUN_ID, "corpus/narrow.jsonl"),
        [{"id": f"doc-{n:05d}", "text": f"Document number {n}."} for n in range(2300)],
    )
    narrow_endpoint = InProcessEndpoint(HashModel(8))

    # WHEN they are registered
    result = register(
        registration,
        pinecone_event(pinecone_server, narrow, api_key_secret, embedding_dimension=8, index_name="narrow"),
        narrow_endpoint,
    )

    # THEN progress was logged as batches done out of the total
    assert any(message.startswith("embedding batch 36/36 done;") for message in caplog.messages)
    assert sum("embedding batch" in message for message in caplog.messages) <= 21
    # AND every upsert held at most 1,000 vectors, and all 2,300 arrived
    counts = [count for index, count, _ in pinecone_server.upserts if index == "narrow"]
    assert result["vectors_upserted"] == 2300 and sum(counts) == 2300
    assert counts == [1000, 1000, 300]
    assert len(pinecone_server.vectors("narrow", "handbook-minilm")) == 2300
    # AND the endpoint saw batches within its own limit
    assert max(narrow_endpoint.calls[1:]) == registration.embeddings.MAX_TEXTS_PER_REQUEST

    # GIVEN 300 long documents for a wide model (the 2 MB limit binds long before 1,000 vectors)
    wide = artifacts.put_jsonl(
        artifacts.run_uri(RUN_ID, "corpus/wide.jsonl"),
        [{"id": f"doc-{n:05d}", "text": f"{n} " + "Ünïcödé text " * 2000} for n in range(300)],
    )
    wide_endpoint = InProcessEndpoint(HashModel(8192))

    result = register(
        registration,
        pinecone_event(pinecone_server, wide, api_key_secret, embedding_dimension=8192, index_name="wide"),
        wide_endpoint,
    )

    sizes = [(count, size) for index, count, size in pinecone_server.upserts if index == "wide"]
    assert result["vectors_upserted"] == 300 and sum(count for count, _ in sizes) == 300
    assert len(sizes) > 1 and all(size <= MAX_REQUEST_BYTES and count <= MAX_UPSERT_VECTORS for count, size in sizes)
    assert max(size for _, size in sizes) > MAX_REQUEST_BYTES // 2, "requests are filled, not one vector each"
    stored = pinecone_server.vectors("wide", "handbook-minilm")
    assert all(len(vector["metadata"]["text"].encode()) <= 8000 for vector in stored.values())
    # AND the endpoint got smaller batches for the wider embeddings
    assert max(wide_endpoint.calls) == registration.embeddings.texts_per_request(8192) < 64


def test_an_index_of_another_dimension_is_refused_naming_both(
    registration, artifacts, pinecone_server, api_key_secret, corpus_uri, minilm_endpoint
) -> None:
    pinecone_server.add_index("modelsmith-handbook", dimension=768)

    with pytest.raises(
        registration.pinecone.PineconeIndexMismatchError,
        match="index_name: Pinecone index modelsmith-handbook has dimension 768 and metric cosine; "
        "this model needs dimension 384 and metric cosine",
    ):
        register(registration, pinecone_event(pinecone_server, corpus_uri, api_key_secret), minilm_endpoint)
    assert pinecone_server.upserts == []


def test_an_index_with_another_metric_is_refused(
    registration, artifacts, pinecone_server, api_key_secret, corpus_uri, minilm_endpoint
) -> None:
    pinecone_server.add_index("modelsmith-handbook", dimension=384, metric="dotproduct")

    with pytest.raises(
        registration.pinecone.PineconeIndexMismatchError, match="has dimension 384 and metric dotproduct"
    ):
        register(registration, pinecone_event(pinecone_server, corpus_uri, api_key_secret), minilm_endpoint)


def test_a_document_index_is_refused(
    registration, artifacts, pinecone_server, api_key_secret, corpus_uri, minilm_endpoint
) -> None:
    pinecone_server.add_index("modelsmith-handbook", dimension=384, field_name="embedding")

    with pytest.raises(
        registration.pinecone.PineconeIndexMismatchError, match=r"is not a vector index \(embedding \(384-d, cosine\)\)"
    ):
        register(registration, pinecone_event(pinecone_server, corpus_uri, api_key_secret), minilm_endpoint)


def test_an_existing_matching_index_is_used(
    registration, artifacts, pinecone_server, api_key_secret, corpus_uri, minilm_endpoint
) -> None:
    pinecone_server.add_index("modelsmith-handbook", dimension=384)

    result = register(registration, pinecone_event(pinecone_server, corpus_uri, api_key_secret), minilm_endpoint)

    assert result["index_created"] is False and result["vectors_upserted"] == 5
    assert pinecone_server.control_requests("POST") == []


def test_a_wrong_embedding_dimension_is_caught_before_pinecone_is_touched(
    registration, artifacts, pinecone_server, api_key_secret, corpus_uri, minilm_endpoint
) -> None:
    with pytest.raises(
        registration.embeddings.EndpointError,
        match="embedding_dimension: handbook-minilm-run-1 returns 384-dimensional embeddings, not 768",
    ):
        register(
            registration,
            pinecone_event(pinecone_server, corpus_uri, api_key_secret, embedding_dimension=768),
            minilm_endpoint,
        )
    assert pinecone_server.requests == [] and pinecone_server.indexes == {}


def test_an_unknown_endpoint_is_named(
    registration, artifacts, pinecone_server, api_key_secret, corpus_uri, minilm_endpoint
) -> None:
    with pytest.raises(
        registration.embeddings.EndpointError,
        match="endpoint_name: SageMaker endpoint gone-endpoint refused .*ValidationError",
    ):
        register(
            registration,
            pinecone_event(pinecone_server, corpus_uri, api_key_secret, endpoint_name="gone-endpoint"),
            minilm_endpoint,
        )


def test_a_malformed_corpus_line_stops_before_anything_is_written(
    registration, artifacts, pinecone_server, api_key_secret, minilm_endpoint
) -> None:
    uri = artifacts.put_bytes(
        artifacts.run_uri(RUN_ID, "corpus/bad.jsonl"), b'{"id": "a", "text": "fine"}\n{"id": 7}\n'
    )

    with pytest.raises(registration.storage.MalformedLineError, match="line 2: expected string fields 'id' and 'text'"):
        register(registration, pinecone_event(pinecone_server, uri, api_key_secret), minilm_endpoint)
    assert pinecone_server.requests == [] and minilm_endpoint.calls == []


def test_a_refused_api_key_names_the_secret(
    registration, artifacts, pinecone_server, corpus_uri, minilm_endpoint
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-west-2")
    arn = secrets.create_secret(Name="stale-key", SecretString="not-the-key")["ARN"]

    with pytest.raises(
        registration.pinecone.PineconeRegistrationError,
        match=r"api_key_secret_arn: Pinecone refused the API key in .*stale-key.*HTTP 401",
    ):
        register(registration, pinecone_event(pinecone_server, corpus_uri, arn), minilm_endpoint)


def test_an_empty_secret_is_refused_naming_it(
    registration, artifacts, pinecone_server, corpus_uri, minilm_endpoint
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-west-2")
    arn = secrets.create_secret(Name="unset-key", SecretString=json.dumps({"api_key": ""}))["ARN"]

    with pytest.raises(
        registration.storage.InvalidEventError, match=r"api_key_secret_arn: secret .*unset-key.* holds no API key"
    ):
        registration.registration.register_model(
            pinecone_event(pinecone_server, corpus_uri, arn), runtime_client=minilm_endpoint
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"corpus_uri": "corpus.jsonl"}, "corpus_uri: 'corpus.jsonl' is not an S3 URI"),
        ({"index_name": "Handbook_Index"}, "index_name: 'Handbook_Index' is not 1-45 lowercase letters"),
        ({"index_name": None}, "index_name: required"),
        ({"cloud": "ibm"}, "cloud: 'ibm' is not one of aws, gcp, azure"),
        ({"region": "US East"}, "region: 'US East' is not a cloud region"),
        (
            {"api_key_secret_arn": "pinecone-key"},
            "api_key_secret_arn: 'pinecone-key' is not a Secrets Manager secret ARN",
        ),
        ({"embedding_dimension": 0}, "embedding_dimension: 0 is not an integer from 1 to 20000"),
        ({"embedding_dimension": 20001}, "embedding_dimension: 20001 is not an integer from 1 to 20000"),
        ({"control_plane_host": "ftp://example.com"}, "control_plane_host: 'ftp://example.com' is not an http"),
        ({"endpoint_name": None}, "endpoint_name: required"),
    ],
)
def test_bad_events_are_refused_naming_the_field(
    registration, artifacts, pinecone_server, api_key_secret, corpus_uri, minilm_endpoint, overrides: dict, message: str
) -> None:
    with pytest.raises(registration.storage.InvalidEventError, match=message.replace("(", r"\(").replace(".", r"\.")):
        registration.handler(
            pinecone_event(pinecone_server, corpus_uri, api_key_secret, **overrides), FakeLambdaContext()
        )
    assert pinecone_server.requests == []


def test_request_grouping_never_exceeds_either_limit(registration) -> None:
    # A unit check of the grouping rule alone: vectors of ~0.99 MB fit two to a 2 MB request
    requests = registration.pinecone.UpsertRequests()
    big = {"id": "x", "values": [0.1234567] * 90_000, "metadata": {}}
    full = [requests.add(dict(big, id=f"v{n}")) for n in range(3)]

    assert full[:2] == [None, None] and [v["id"] for v in full[2]] == ["v0", "v1"]
    assert [v["id"] for v in requests.flush()] == ["v2"] and requests.flush() is None
