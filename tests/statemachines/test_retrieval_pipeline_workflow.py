"""The retrieval pipeline (part 1), executed offline: the synthesized definition runs in moto's Step
Functions; S3, SNS and SQS are moto's; the four functions are the real handlers run in-process; Bedrock is a
stand-in speaking Converse and batch inference (tests/support/bedrock.py); OpenSearch is a local HTTP server
speaking point-in-time + search_after (tests/support/opensearch_server.py).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import App, Duration
from moto import mock_aws

from modelsmith.config import load_config
from stacks.foundation_stack import FoundationStack
from stacks.retrieval_pipeline_stack import RetrievalPipelineStack
from tests.support.bedrock import FakeBedrockBatch, FakeBedrockRuntime, install_bedrock_service
from tests.support.lambdas import InProcessLambdas, iter_payload_sizes, lambda_environment, largest_payloads  # noqa: F401
from tests.support.opensearch_server import OpenSearchServer
from tests.support.workflow_world import NotificationInbox, deploy_functions
from tests.support.stepfunctions import PSEUDO_PARAMETERS, render_definition, run_execution, state_names

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
REGION = PSEUDO_PARAMETERS["AWS::Region"]
ARTIFACTS, DATA = "modelsmith-dev-artifacts", "modelsmith-dev-data"
MODEL = {"model_name": "handbook-minilm", "model_type": "dense",
         "base_model_id": "sentence-transformers/all-MiniLM-L6-v2", "embedding_dimension": 384}  # fmt: skip
FUNCTIONS = ("validate_input", "extract_corpus", "generate_queries", "build_pairs")


def documents(count: int) -> list[dict[str, Any]]:
    topics = ["telescope optics", "stellar parallax", "radial velocity", "spectral classes", "galaxy rotation"]
    return [{"id": f"doc-{i:04d}", "text": f"Handbook section {i} explains {topics[i % 5]} in detail, with worked "
             f"examples of {topics[(i + 2) % 5]} measurements.", "chapter": i // 10} for i in range(count)]  # fmt: skip


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
    app = App(context=CDK_CONTEXT)
    config = load_config(CDK_CONTEXT["environments"], "dev")
    foundation = FoundationStack(app, "Modelsmith-dev-Foundation", config=config)
    stack = RetrievalPipelineStack(app, "Modelsmith-dev-RetrievalPipeline", config=config, foundation=foundation,
                                   poll_interval=Duration.seconds(1))  # fmt: skip
    template = app.synth().get_stack_by_name(stack.stack_name).template
    (artifacts_parameter,) = [name for name, p in template["Parameters"].items()
                              if p.get("Default") == "/modelsmith/dev/s3/artifacts-bucket"]  # fmt: skip
    return {
        "template": template,
        "state_machine": stack.get_logical_id(stack.state_machine.node.default_child),
        "functions": {name: stack.get_logical_id(fn.node.default_child) for name, fn in stack.functions.items()},
        "batch_role": stack.get_logical_id(stack.batch_role.node.default_child),
        "artifacts_parameter": artifacts_parameter,
    }


class World:
    """moto resources standing in for the deployed stacks, plus the fake Bedrock and what it was asked."""

    def __init__(self, synthesized: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *, throttle: int = 0,
                 batch_statuses: tuple[str, ...] = ("Submitted", "InProgress", "Completed")) -> None:  # fmt: skip
        monkeypatch.setenv("ARTIFACTS_BUCKET", ARTIFACTS)
        self.s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ARTIFACTS, DATA):
            self.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})

        lambdas = InProcessLambdas()
        lambdas.install(monkeypatch)
        arns = deploy_functions(lambdas, FUNCTIONS)
        self.lambdas = lambdas

        self.runtime = FakeBedrockRuntime(three_questions, throttle=throttle)
        monkeypatch.setattr(sys.modules["query_generation"], "bedrock_runtime_client", lambda: self.runtime)
        self.batch = FakeBedrockBatch(three_questions, statuses=batch_statuses)
        install_bedrock_service(monkeypatch, self.batch)

        self.inbox = NotificationInbox()
        topic_arn = self.inbox.topic_arn

        values = {f"{logical}.Arn": arns[name] for name, logical in synthesized["functions"].items()}
        values.update({
            f"{synthesized['batch_role']}.Arn": "arn:aws:iam::123456789012:role/batch-inference",
            synthesized["artifacts_parameter"]: ARTIFACTS,
            "output:NotificationsTopicAE679CBD": topic_arn,
            "output:ProjectKey99EBDA78": "arn:aws:kms:us-west-2:123456789012:key/project",
        })  # fmt: skip
        self.definition = render_definition(synthesized["template"], synthesized["state_machine"], values)

    def put_corpus(self, lines: list[str], key: str = "corpora/handbook.jsonl") -> str:
        self.s3.put_object(Bucket=DATA, Key=key, Body="\n".join(lines).encode())
        return f"s3://{DATA}/{key}"

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(item["Key"] for item in self.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=prefix).get("Contents", []))

    def read_jsonl(self, key: str) -> list[dict[str, Any]]:
        body = self.s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def notifications(self) -> list[dict[str, Any]]:
        return self.inbox.messages()


@pytest.fixture
def world_factory(synthesized_pipeline, lambda_environment, monkeypatch):  # noqa: F811
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield lambda **options: World(synthesized_pipeline, monkeypatch, **options)


def test_s3_corpus_on_demand_generation(world_factory) -> None:
    world = world_factory()
    lines = [json.dumps(d) for d in documents(30)]
    lines[4] = "{not json"                                   # line 5
    lines[9] = json.dumps({"id": "doc-0009", "text": ""})    # line 10: empty text
    lines.append(json.dumps(documents(1)[0]))                # duplicate of doc-0000
    corpus = world.put_corpus(lines)
    execution = run_execution(world.definition, "handbook-run-1", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL})

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
    assert [n["status"] for n in world.notifications()] == ["SUCCEEDED"]
    assert max(iter_payload_sizes(execution["history"])) < 4096, largest_payloads(execution["history"])


def test_bedrock_throttling_recovers(world_factory) -> None:
    world = world_factory(throttle=3)
    corpus = world.put_corpus([json.dumps(d) for d in documents(12)])
    execution = run_execution(world.definition, "throttled-run", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert len(world.runtime.calls) == 12 + 3  # three throttled calls were retried
    assert json.loads(execution["output"])["pairs"]["train_pairs"] + json.loads(execution["output"])["pairs"]["eval_pairs"] == 36


def test_opensearch_corpus(world_factory, monkeypatch) -> None:
    world = world_factory()
    opensearch_source = sys.modules["opensearch_source"]
    original_connect = opensearch_source.connect
    with OpenSearchServer() as server:
        server.add_index("handbook", [(d["id"], {"body": {"text": d["text"]}, "chapter": d["chapter"]}) for d in documents(25)])
        # The domain's DNS name resolves to the local server; everything else is the real client and code.
        monkeypatch.setattr(opensearch_source, "connect", lambda settings, **kw: original_connect(
            dataclasses.replace(settings, opensearch_endpoint=server.url), **kw))
        execution = run_execution(world.definition, "opensearch-run", {
            "input_type": "opensearch", "opensearch_endpoint": "https://search-handbook.us-west-2.es.amazonaws.com",
            "index_name": "handbook", "text_field": "body.text", "queries_per_document": 2, **MODEL,
        })  # fmt: skip
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

    assert execution["status"] == "SUCCEEDED", json.dumps([e for e in execution["history"] if "Failed" in e["type"]][:2], default=str)
    output = json.loads(execution["output"])
    assert output["generation_mode"] == "batch"
    (job,) = world.batch.jobs.values()
    request = job["request"]
    assert request["jobName"] == "modelsmith-batch-run"
    assert request["roleArn"] == "arn:aws:iam::123456789012:role/batch-inference"
    assert request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"].startswith(f"s3://{ARTIFACTS}/runs/batch-run/")
    assert request["outputDataConfig"]["s3OutputDataConfig"]["s3EncryptionKeyId"].endswith("key/project")
    assert world.runtime.calls == [], "batch mode makes no on-demand calls"
    assert output["pairs"]["train_pairs"] + output["pairs"]["eval_pairs"] == 120 * 3
    assert "Wait for batch inference" in state_names(execution["history"])


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
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"},
                               "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": "x"}}, "GetModelInvocationJob")  # fmt: skip
        return original(**request)

    monkeypatch.setattr(world.batch, "get_model_invocation_job", flaky)
    execution = run_execution(world.definition, "batch-interrupted", {"input_type": "s3", "s3_corpus_path": corpus, **MODEL})
    assert execution["status"] == "FAILED"
    assert world.batch.stopped == list(world.batch.jobs), "the running batch job was stopped"
    assert "Stop batch inference job" in state_names(execution["history"])


def test_bad_input_reads_and_writes_nothing(world_factory) -> None:
    world = world_factory()
    execution = run_execution(world.definition, "bad-input", {"input_type": "s3", "model_type": "sparse", **{
        k: v for k, v in MODEL.items() if k != "model_type"}})
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
