"""The retrieval pipeline's part 1 (corpus → queries → pairs), executed offline: the synthesized definition
runs in moto's Step Functions with the real handlers in-process (tests/support/retrieval_world.py); OpenSearch
is a local HTTP server speaking point-in-time + search_after (tests/support/opensearch_server.py).

These runs train with ``no_gain_training`` (part 1 is what is under test), so they end at the quality gate
with status ``not_improved``; tests/statemachines/test_retrieval_pipeline_deployment.py trains for real.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import pytest
from moto import mock_aws

from tests.support.lambdas import iter_payload_sizes, lambda_environment, largest_payloads  # noqa: F401
from tests.support.opensearch_server import OpenSearchServer
from tests.support.retrieval_world import ARTIFACTS, RetrievalWorld, synthesize_pipeline
from tests.support.stepfunctions import run_execution, state_names

MODEL = {
    "model_name": "handbook-minilm",
    "model_type": "dense",
    "base_model_id": "sentence-transformers/all-MiniLM-L6-v2",
    "embedding_dimension": 384,
}


def documents(count: int) -> list[dict[str, Any]]:
    topics = ["telescope optics", "stellar parallax", "radial velocity", "spectral classes", "galaxy rotation"]
    return [
        {
            "id": f"doc-{i:04d}",
            "text": f"Handbook section {i} explains {topics[i % 5]} in detail, with worked "
            f"examples of {topics[(i + 2) % 5]} measurements.",
            "chapter": i // 10,
        }
        for i in range(count)
    ]


def three_questions(prompt: str) -> str:
    """A model answer in the numbered-list form models usually give."""
    subject = "the handbook section"
    for word in ("parallax", "velocity", "optics", "classes", "rotation"):
        if word in prompt:
            subject = word
            break
    return f"1. How is {subject} measured in practice?\n2. What does {subject} tell an observer?\n3. Why does {subject} matter?"


@pytest.fixture(scope="module")
def synthesized_pipeline() -> dict[str, Any]:
    return synthesize_pipeline()


@pytest.fixture
def world_factory(synthesized_pipeline, lambda_environment, monkeypatch):  # noqa: F811
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield lambda **options: RetrievalWorld(
            synthesized_pipeline, monkeypatch, query_writer=three_questions, **options
        )


def test_s3_corpus_on_demand_generation(world_factory) -> None:
    world = world_factory()
    lines = [json.dumps(d) for d in documents(30)]
    lines[4] = "{not json"  # line 5
    lines[9] = json.dumps({"id": "doc-0009", "text": ""})  # line 10: empty text
    lines.append(json.dumps(documents(1)[0]))  # duplicate of doc-0000
    corpus = world.put_corpus(lines)
    execution = run_execution(
        world.definition, "handbook-run-1", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL}
    )

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["generation_mode"] == "on_demand"
    assert (output["corpus"]["documents"], output["corpus"]["rejected"], output["corpus"]["duplicates"]) == (28, 2, 1)
    pairs = output["pairs"]
    assert pairs["train_pairs"] + pairs["eval_pairs"] == 28 * 3
    assert pairs["eval_documents"] >= 1 and pairs["train_documents"] + pairs["eval_documents"] == 28
    train = world.read_jsonl("runs/handbook-run-1/pairs/train.jsonl")
    evaluation = world.read_jsonl("runs/handbook-run-1/pairs/eval.jsonl")
    assert not {p["doc_id"] for p in train} & {p["doc_id"] for p in evaluation}
    rejects = world.read_jsonl("runs/handbook-run-1/corpus/rejects.jsonl")
    assert sorted(r["line"] for r in rejects if "line" in r) >= [5, 10]
    assert all(key.startswith("runs/handbook-run-1/") for key in world.keys())
    assert all(call["inferenceConfig"]["maxTokens"] > 0 for call in world.runtime.calls)
    assert "Generate queries (on-demand)" in state_names(execution["history"])
    assert [n["status"] for n in world.notifications()] == ["NOT_IMPROVED"]
    assert output["status"] == "not_improved" and "Train embedding model" in state_names(execution["history"])
    assert output["cost_estimate"]["currency"] == "USD" and output["cost_estimate"]["run_total"] > 0
    assert max(iter_payload_sizes(execution["history"])) < 4096, largest_payloads(execution["history"])


def test_bedrock_throttling_recovers(world_factory) -> None:
    world = world_factory(throttle=3)
    corpus = world.put_corpus([json.dumps(d) for d in documents(12)])
    execution = run_execution(
        world.definition, "throttled-run", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL}
    )
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert len(world.runtime.calls) == 12 + 3  # three throttled calls were retried
    assert (
        json.loads(execution["output"])["pairs"]["train_pairs"] + json.loads(execution["output"])["pairs"]["eval_pairs"]
        == 36
    )


def test_opensearch_corpus(world_factory, monkeypatch) -> None:
    world = world_factory()
    opensearch_source = sys.modules["lambda_src.extract_corpus.opensearch_source"]
    original_connect = opensearch_source.connect
    with OpenSearchServer() as server:
        server.add_index(
            "handbook", [(d["id"], {"body": {"text": d["text"]}, "chapter": d["chapter"]}) for d in documents(25)]
        )
        # The domain's DNS name resolves to the local server; everything else is the real client and code.
        monkeypatch.setattr(
            opensearch_source,
            "connect",
            lambda settings, **kw: original_connect(
                dataclasses.replace(settings, opensearch_endpoint=server.url), **kw
            ),
        )
        execution = run_execution(
            world.definition,
            "opensearch-run",
            {
                "input_type": "opensearch",
                "opensearch_endpoint": "https://search-handbook.us-west-2.es.amazonaws.com",
                "index_name": "handbook",
                "text_field": "body.text",
                "queries_per_document": 2,
                **MODEL,
            },
        )
        searched = server.search_requests()
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["corpus"]["source"] == "opensearch" and output["corpus"]["documents"] == 25
    assert searched, "the pipeline read the index through point-in-time searches"
    corpus = world.read_jsonl("runs/opensearch-run/corpus/corpus.jsonl")
    assert corpus[0]["text"].startswith("Handbook section")


def test_batch_generation(world_factory) -> None:
    world = world_factory()
    corpus = world.put_corpus([json.dumps(d) for d in documents(120)])
    execution = run_execution(world.definition, "batch-run", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL})

    assert execution["status"] == "SUCCEEDED", json.dumps(
        [e for e in execution["history"] if "Failed" in e["type"]][:2], default=str
    )
    output = json.loads(execution["output"])
    assert output["generation_mode"] == "batch"
    (job,) = world.batch.jobs.values()
    request = job["request"]
    assert request["jobName"] == "modelsmith-batch-run"
    assert request["roleArn"] == "arn:aws:iam::123456789012:role/batch"
    assert request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"].startswith(f"s3://{ARTIFACTS}/runs/batch-run/")
    assert request["outputDataConfig"]["s3OutputDataConfig"]["s3EncryptionKeyId"].endswith("key/project")
    assert world.runtime.calls == [], "batch mode makes no on-demand calls"
    assert output["pairs"]["train_pairs"] + output["pairs"]["eval_pairs"] == 120 * 3
    assert "Wait for batch inference" in state_names(execution["history"])


def test_partially_completed_batch_job_goes_on_with_what_completed(world_factory) -> None:
    # GIVEN a batch job that ends PartiallyCompleted (final, botocore) with every 10th record failed
    world = world_factory(batch_statuses=("Submitted", "InProgress", "PartiallyCompleted"), batch_failed_every=10)
    corpus = world.put_corpus([json.dumps(d) for d in documents(120)])
    execution = run_execution(
        world.definition, "batch-partial", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL}
    )
    # THEN the run goes on with the 108 documents that got queries and records the 12 that did not
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["pairs"]["train_pairs"] + output["pairs"]["eval_pairs"] == 108 * 3
    failed_key = "runs/batch-partial/batch/failed-records.jsonl"
    failed = world.s3.get_object(Bucket=ARTIFACTS, Key=failed_key)["Body"].read().decode().splitlines()
    assert len(failed) == 12 and "Fake: input rejected" in failed[0]
    assert world.batch.stopped == []


def test_partially_completed_batch_below_the_threshold_fails_naming_it(world_factory) -> None:
    world = world_factory(batch_statuses=("Submitted", "PartiallyCompleted"), batch_failed_every=2)
    corpus = world.put_corpus([json.dumps(d) for d in documents(120)])
    execution = run_execution(
        world.definition,
        "batch-half",
        {"input_type": "s3", "s3_corpus_path": corpus, "batch_min_success_fraction": 0.8, **MODEL},
    )
    assert execution["status"] == "FAILED"
    assert "answered 60 of 120 documents (50%), below batch_min_success_fraction = 0.8" in execution["cause"]
    assert "runs/batch-half/batch/failed-records.jsonl" in execution["cause"]
    assert not [k for k in world.keys() if "/pairs/" in k]


def test_batch_job_that_fails(world_factory) -> None:
    world = world_factory(batch_statuses=("Submitted", "Failed"))
    corpus = world.put_corpus([json.dumps(d) for d in documents(120)])
    execution = run_execution(world.definition, "batch-fails", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "BatchInferenceFailed"
    assert "ended Failed" in execution["cause"]
    assert world.batch.stopped == [], "a job that ended by itself is not stopped"
    assert [n["error"] for n in world.notifications()] == ["BatchInferenceFailed"]
    assert not [k for k in world.keys() if "/pairs/" in k]


def test_failure_while_the_batch_job_runs_stops_it(world_factory, monkeypatch) -> None:
    world = world_factory(batch_statuses=("Submitted", "InProgress"))
    corpus = world.put_corpus([json.dumps(d) for d in documents(120)])
    calls = {"count": 0}
    original = world.batch.get_model_invocation_job

    def flaky(**request: Any) -> dict[str, Any]:
        calls["count"] += 1
        if calls["count"] == 2:
            from botocore.exceptions import ClientError

            raise ClientError(
                {
                    "Error": {"Code": "AccessDeniedException", "Message": "not allowed"},
                    "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": "x"},
                },
                "GetModelInvocationJob",
            )
        return original(**request)

    monkeypatch.setattr(world.batch, "get_model_invocation_job", flaky)
    execution = run_execution(
        world.definition, "batch-interrupted", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL}
    )
    assert execution["status"] == "FAILED"
    assert world.batch.stopped == list(world.batch.jobs), "the running batch job was stopped"
    assert "Stop batch inference job" in state_names(execution["history"])


def test_bad_input_reads_and_writes_nothing(world_factory) -> None:
    world = world_factory()
    execution = run_execution(
        world.definition,
        "bad-input",
        {"input_type": "s3", "model_type": "sparse", **{k: v for k, v in MODEL.items() if k != "model_type"}},
    )
    assert execution["status"] == "FAILED" and execution["error"] == "InputValidationError"
    cause = json.loads(execution["cause"])["errorMessage"]
    assert "s3_corpus_path: required field is missing" in cause and "model_type: 'sparse'" in cause
    assert world.keys() == []
    assert "Extract corpus" not in state_names(execution["history"])
    assert [n["error"] for n in world.notifications()] == ["InputValidationError"]


def test_empty_corpus_fails_clearly(world_factory) -> None:
    world = world_factory()
    corpus = world.put_corpus(["{broken", json.dumps({"id": "", "text": "no id"}), json.dumps({"text": "missing id"})])
    execution = run_execution(world.definition, "empty-run", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL})
    assert execution["status"] == "FAILED" and execution["error"] == "EmptyCorpusError"
    assert "rejects" in json.loads(execution["cause"])["errorMessage"]
    assert world.runtime.calls == [] and world.batch.jobs == {}
    assert len(world.read_jsonl("runs/empty-run/corpus/rejects.jsonl")) == 3
