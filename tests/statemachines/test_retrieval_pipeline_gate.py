"""The quality gate ("Better than the base model?") executed offline, with questions written by people.

The synthesized definition runs in moto's Step Functions with the real handlers in-process; the training job
is ``scripted_training``, which writes what ``sagemaker_src.retrieval.train`` writes for given per-query
nDCG@10 scores (means, differences and paired bootstrap intervals from the script's own evaluation module), so
each test sets the evidence and checks what the workflow does with it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto import mock_aws

from tests.support.lambdas import lambda_environment  # noqa: F401
from tests.support.retrieval_world import DATA, RetrievalWorld, scripted_training, synthesize_pipeline
from tests.support.stepfunctions import run_execution, state_names

MODEL = {
    "model_name": "handbook-minilm",
    "model_type": "dense",
    "base_model_id": "sentence-transformers/all-MiniLM-L6-v2",
    "embedding_dimension": 384,
}
SAME = ([0.5] * 8, [0.5] * 8)


def documents(count: int) -> list[dict[str, Any]]:
    return [
        {"id": f"doc-{i:04d}", "text": f"Handbook section {i} explains stellar parallax, case {i}."}
        for i in range(count)
    ]


def one_question(prompt: str) -> str:
    return "1. How is stellar parallax measured?"


QUESTIONS = [
    {"question": "how far away is a star from its parallax", "relevant_ids": ["doc-0001", "doc-0002"]},
    {"question": "parallax of nearby stars", "relevant_ids": ["doc-0003"]},
    {"question": "a section that is not there", "relevant_ids": ["doc-9999"]},
]


@pytest.fixture(scope="module")
def synthesized_pipeline() -> dict[str, Any]:
    return synthesize_pipeline()


@pytest.fixture
def world_factory(synthesized_pipeline, lambda_environment, monkeypatch):  # noqa: F811
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield lambda **options: RetrievalWorld(synthesized_pipeline, monkeypatch, query_writer=one_question, **options)


def _run(world: RetrievalWorld, name: str, questions: list[dict[str, Any]] | None, **extra: Any) -> dict[str, Any]:
    corpus = world.put_corpus([json.dumps(d) for d in documents(20)])
    if questions is not None:
        body = "".join(json.dumps(question) + "\n" for question in questions).encode()
        world.s3.put_object(Bucket=DATA, Key="questions/handbook.jsonl", Body=body)
        extra["evaluation_questions_uri"] = f"s3://{DATA}/questions/handbook.jsonl"
    execution_input = {"input_type": "s3", "s3_corpus_path": corpus, **MODEL, "register_targets": [], **extra}
    return run_execution(world.definition, name, execution_input)


def test_questions_on_which_the_model_is_better_deploy(world_factory) -> None:
    # GIVEN no gain on the synthetic queries, and a clear gain on every question written by people
    world = world_factory(training_program=scripted_training(synthetic=SAME, human=([0.4] * 10, [0.7] * 10)))

    execution = _run(world, "human-better", QUESTIONS, gate="ci_lower")

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["status"] == "deployed" and "Create SageMaker model" in state_names(execution["history"])
    gate = output["gate"]
    assert (gate["passed"], gate["mode"], gate["query_set"]) == (True, "ci_lower", "human")
    assert gate["interval"] == {"low": 0.3, "high": 0.3}
    assert output["metrics"]["evaluations"]["synthetic"]["ndcg_at_10_gain"] == 0
    # the questions were read at extraction, their documents kept, the unknown id listed
    questions = output["corpus"]["questions"]
    assert (questions["questions"], questions["scored"], questions["unknown_count"]) == (3, 2, 1)
    assert questions["unknown"] == [{"line": 3, "missing_ids": ["doc-9999"], "scored": False}]
    written = world.read_jsonl("runs/human-better/pairs/questions.jsonl")
    assert [row["question"] for row in written] == [q["question"] for q in QUESTIONS]
    trained = {row["query"] for row in world.read_jsonl("runs/human-better/pairs/train.jsonl")}
    assert not trained & {q["question"] for q in QUESTIONS}


def test_questions_within_noise_do_not_deploy_with_ci_lower(world_factory) -> None:
    # GIVEN a gain on the synthetic queries, and a mean gain on the questions whose interval straddles zero
    human = ([0.5] * 6, [0.8, 0.2, 0.5, 0.7, 0.4, 0.5])
    world = world_factory(training_program=scripted_training(synthetic=([0.5] * 8, [0.6] * 8), human=human))

    execution = _run(world, "human-noise", QUESTIONS, gate="ci_lower")

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["status"] == "not_improved" and "Create SageMaker model" not in state_names(execution["history"])
    evaluations = output["metrics"]["evaluations"]
    human_set, synthetic = evaluations["human"], evaluations["synthetic"]
    assert human_set["interval"]["low"] < 0 < human_set["interval"]["high"]
    assert human_set["ndcg_at_10_gain"] == pytest.approx(0.01667, abs=1e-4)
    assert synthetic["interval"] == {"low": 0.1, "high": 0.1}
    assert "lower bound of the 95% interval" in output["reason"] and "6 questions written by people" in output["reason"]
    (notice,) = world.notifications()
    assert notice["status"] == "NOT_IMPROVED" and notice["gate"]["query_set"] == "human"
    report = world.read("runs/human-noise/report/report.md").decode()
    assert "## Quality gate" in report and "not improved" in report


def test_without_questions_the_gate_decides_on_synthetic_queries_as_before(world_factory) -> None:
    world = world_factory(training_program=scripted_training(synthetic=([0.5] * 8, [0.5] * 8)))

    execution = _run(world, "synthetic-only", None)

    output = json.loads(execution["output"])
    assert output["status"] == "not_improved"
    gate = output["gate"]
    assert (gate["passed"], gate["mode"], gate["query_set"]) == (False, "mean", "synthetic")
    assert "The gate used synthetic queries only" in output["reason"]
    assert "questions" not in output["corpus"] and set(output["metrics"]["evaluations"]) == {"synthetic"}
    assert "The gate used synthetic queries only" in world.read("runs/synthetic-only/report/report.md").decode()


def test_a_bad_question_line_stops_the_run_before_any_query_is_generated(world_factory) -> None:
    world = world_factory()
    bad = [QUESTIONS[0], {"question": "", "relevant_ids": ["doc-0001"]}, {"question": "ids?", "relevant_ids": "doc-1"}]

    execution = _run(world, "bad-questions", bad)

    assert execution["status"] == "FAILED" and execution["error"] == "InvalidEventError"
    cause = json.loads(execution["cause"])["errorMessage"]
    assert "line 2: question: expected a non-empty string" in cause
    assert "line 3: relevant_ids: expected a non-empty list of document ids" in cause
    assert world.runtime.calls == [] and world.batch.jobs == {}
    assert not [key for key in world.keys() if key.endswith("corpus.jsonl")]
