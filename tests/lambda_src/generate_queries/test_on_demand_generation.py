"""On-demand generation: Converse requests (through botocore's Stubber), retries, failures, the part file."""

from __future__ import annotations

import pytest
from botocore.stub import ANY

from tests.support.lambdas import FakeLambdaContext
from tests.support.pipeline_artifacts import converse_response

RUN_ID = "run-2024-01-01"
MODEL_ID = "meta.llama3-1-8b-instruct-v1:0"


@pytest.fixture
def corpus_uri(artifacts) -> str:
    uri = artifacts.run_uri(RUN_ID, "corpus/corpus.jsonl")
    artifacts.put_jsonl(
        uri, [{"id": f"doc-{n}", "text": f"Text of document {n} about {{braces}}.", "metadata": {}} for n in range(5)]
    )
    return uri


def generate_event(corpus_uri: str, start: int = 0, end: int = 3, **extra) -> dict:
    return {
        "action": "generate",
        "run_id": RUN_ID,
        "corpus_uri": corpus_uri,
        "shard": {"start": start, "end": end},
        "queries_per_document": 2,
        "bedrock_model_id": MODEL_ID,
        **extra,
    }


def expected_request(prompt=ANY) -> dict:
    """Every Converse request: the model, one user message, and maxTokens + temperature always set."""
    return {
        "modelId": MODEL_ID,
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"maxTokens": 400, "temperature": 0.7},
    }


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_handler_generates_queries_for_its_shard_and_writes_one_part_file(
    generator, artifacts, corpus_uri, bedrock, monkeypatch
) -> None:
    # GIVEN a model that answers with numbered lists, called through the handler's own client factory
    client, stubber = bedrock
    monkeypatch.setattr(generator.generation, "bedrock_runtime_client", lambda: client)
    for n in range(3):
        stubber.add_response(
            "converse",
            converse_response(f"1. first query about doc {n}\n2. second query about doc {n}"),
            expected_request(),
        )

    # WHEN the handler generates shard [0, 3)
    result = generator.handler(generate_event(corpus_uri), FakeLambdaContext())

    # THEN two queries per document are written for the three documents of the shard
    assert result == {
        "queries_uri": artifacts.run_uri(RUN_ID, "queries/part-000000.jsonl"),
        "documents": 3,
        "queries": 6,
        "failed_documents": 0,
    }
    lines = artifacts.read_jsonl(result["queries_uri"])
    assert lines[:2] == [
        {"doc_id": "doc-0", "query": "first query about doc 0"},
        {"doc_id": "doc-0", "query": "second query about doc 0"},
    ]
    assert sorted({line["doc_id"] for line in lines}) == ["doc-0", "doc-1", "doc-2"]
    stubber.assert_no_pending_responses()


def test_every_request_sets_max_tokens_even_with_four_concurrent_workers(
    generator, artifacts, corpus_uri, bedrock
) -> None:
    # GIVEN five documents, each request checked against the expected parameters (maxTokens included)
    client, stubber = bedrock
    for _ in range(5):
        stubber.add_response(
            "converse", converse_response("1. a usable query\n2. another usable query"), expected_request()
        )

    # WHEN the whole corpus is one shard, with four workers
    result = generator.generation.generate(generate_event(corpus_uri, 0, 5), bedrock_client=client, max_workers=4)

    # THEN all five requests matched the expected parameters
    assert (result["documents"], result["queries"], result["failed_documents"]) == (5, 10, 0)
    stubber.assert_no_pending_responses()


def test_the_prompt_carries_the_document_and_count_and_a_custom_template_is_used(
    generator, artifacts, corpus_uri, bedrock
) -> None:
    # GIVEN a custom template, and a document whose text contains braces
    client, stubber = bedrock
    template = "Give {count} queries for: {document} (no more than {count})"
    stubber.add_response(
        "converse",
        converse_response('["query one here", "query two here"]'),
        expected_request("Give 2 queries for: Text of document 3 about {braces}. (no more than 2)"),
    )

    # WHEN document 3 is generated with the template
    result = generator.generation.generate(
        generate_event(corpus_uri, 3, 4, prompt_template=template), bedrock_client=client
    )

    # THEN the request had exactly that prompt and the part file is named after the shard start
    assert result["queries_uri"].endswith("/queries/part-000003.jsonl") and result["queries"] == 2
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailableException"])
def test_throttling_that_recovers_is_retried_with_jittered_backoff(
    generator, artifacts, corpus_uri, bedrock, code: str
) -> None:
    # GIVEN a model that is throttled twice and then answers
    client, stubber = bedrock
    stubber.add_client_error("converse", code, "Too many requests", 429, expected_params=expected_request())
    stubber.add_client_error("converse", code, "Too many requests", 429, expected_params=expected_request())
    stubber.add_response(
        "converse", converse_response("1. recovered query one\n2. recovered query two"), expected_request()
    )
    sleeps = Sleeps()

    # WHEN one document is generated
    result = generator.generation.generate(generate_event(corpus_uri, 0, 1), bedrock_client=client, sleep=sleeps)

    # THEN it succeeded on the third attempt after two sleeps within the full-jitter bounds (base 1 s, doubling)
    assert (result["queries"], result["failed_documents"]) == (2, 0)
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1 and 0 <= sleeps[1] <= 2
    stubber.assert_no_pending_responses()


def test_retries_are_bounded_and_a_document_that_keeps_failing_is_counted(
    generator, artifacts, corpus_uri, bedrock
) -> None:
    # GIVEN document 0 throttled on every attempt of a 3-attempt policy, and document 1 answered
    client, stubber = bedrock
    for _ in range(3):
        stubber.add_client_error(
            "converse", "ThrottlingException", "slow down", 429, expected_params=expected_request()
        )
    stubber.add_response(
        "converse", converse_response("1. query for the second doc\n2. another one for it"), expected_request()
    )
    sleeps = Sleeps()

    # WHEN the shard [0, 2) is generated one request at a time
    result = generator.generation.generate(
        generate_event(corpus_uri, 0, 2),
        bedrock_client=client,
        sleep=sleeps,
        max_workers=1,
        policy=generator.generation.RetryPolicy(max_attempts=3),
    )

    # THEN document 0 failed after three attempts (two sleeps), document 1's queries were written
    assert (result["documents"], result["queries"], result["failed_documents"]) == (2, 2, 1)
    assert len(sleeps) == 2
    assert {line["doc_id"] for line in artifacts.read_jsonl(result["queries_uri"])} == {"doc-1"}
    stubber.assert_no_pending_responses()


def test_a_validation_error_is_not_retried(generator, artifacts, corpus_uri, bedrock) -> None:
    client, stubber = bedrock
    stubber.add_client_error(
        "converse", "ValidationException", "Input is too long", 400, expected_params=expected_request()
    )
    stubber.add_response(
        "converse", converse_response("1. query for the second doc\n2. another one"), expected_request()
    )
    sleeps = Sleeps()
    result = generator.generation.generate(
        generate_event(corpus_uri, 0, 2), bedrock_client=client, sleep=sleeps, max_workers=1
    )
    assert result["failed_documents"] == 1 and sleeps == []
    stubber.assert_no_pending_responses()


def test_an_answer_without_usable_queries_counts_as_a_failed_document(
    generator, artifacts, corpus_uri, bedrock
) -> None:
    client, stubber = bedrock
    stubber.add_response("converse", converse_response("I'm sorry, I can't help with that."), expected_request())
    stubber.add_response("converse", converse_response("- a usable query\n- a second usable query"), expected_request())
    result = generator.generation.generate(generate_event(corpus_uri, 0, 2), bedrock_client=client, max_workers=1)
    assert (result["queries"], result["failed_documents"]) == (2, 1)


def test_all_documents_failing_raises_and_writes_nothing(generator, artifacts, corpus_uri, bedrock) -> None:
    # GIVEN a model that fails every document without a retryable error
    client, stubber = bedrock
    for _ in range(3):
        stubber.add_client_error(
            "converse", "ModelErrorException", "the model crashed", 424, expected_params=expected_request()
        )

    # WHEN the shard is generated
    with pytest.raises(
        generator.generation.QueryGenerationError, match="all 3 documents of shard 0-3 failed"
    ) as raised:
        generator.generation.generate(generate_event(corpus_uri), bedrock_client=client, max_workers=1)

    # THEN the message carries the first cause and no part file exists
    assert "the model crashed" in str(raised.value)
    assert artifacts.keys(f"runs/{RUN_ID}/queries/") == []


def test_access_denied_stops_the_shard_at_once_naming_the_model(generator, artifacts, corpus_uri, bedrock) -> None:
    client, stubber = bedrock
    stubber.add_client_error(
        "converse",
        "AccessDeniedException",
        "You don't have access to the model",
        403,
        expected_params=expected_request(),
    )
    sleeps = Sleeps()
    with pytest.raises(
        generator.generation.QueryGenerationError, match=f"bedrock_model_id: model {MODEL_ID} cannot be called"
    ):
        generator.generation.generate(generate_event(corpus_uri, 0, 1), bedrock_client=client, sleep=sleeps)
    assert sleeps == [] and artifacts.keys(f"runs/{RUN_ID}/queries/") == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"shard": {"start": 5, "end": 9}},
            "shard: start 5 is past the end of the corpus (5 documents)",
            id="past-end",
        ),
        pytest.param({"shard": {"start": 3, "end": 3}}, "shard: end 3 must be greater than start 3", id="empty-shard"),
        pytest.param({"shard": {"start": "0", "end": 3}}, "shard.start: '0' is not of type integer", id="shard-type"),
        pytest.param(
            {"queries_per_document": 11}, "queries_per_document: 11 is out of range (1..10)", id="too-many-queries"
        ),
        pytest.param(
            {"prompt_template": "Queries for {document}"}, "prompt_template: must contain {count}", id="template"
        ),
        pytest.param({"corpus_uri": "corpus.jsonl"}, "corpus_uri: 'corpus.jsonl' is not an S3 URI", id="corpus-uri"),
        pytest.param({"bedrock_model_id": ""}, "bedrock_model_id: '' must be a non-empty string", id="model-id"),
    ],
)
def test_bad_generate_fields_are_named(
    generator, artifacts, corpus_uri, bedrock, overrides: dict, message: str
) -> None:
    client, _ = bedrock
    with pytest.raises(generator.storage.InvalidEventError) as raised:
        generator.generation.generate({**generate_event(corpus_uri), **overrides}, bedrock_client=client)
    assert message in str(raised.value)
