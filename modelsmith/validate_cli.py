"""``modelsmith validate``: check a data file with the validator the workflow that reads it runs.

    modelsmith validate corpus corpora/handbook.jsonl                      # extract_corpus's line checks
    modelsmith validate pairs runs/x/pairs/                                # train, eval and eval_corpus.jsonl
    modelsmith validate pairs runs/x/pairs/train.jsonl                     # one pairs file
    modelsmith validate training-data data/astro.jsonl                     # Bedrock customization (the default)
    modelsmith validate training-data data/train.jsonl --for lora          # LoRA on the GPU instance

Every problem is printed as ``file:line: field: problem``; the command exits 2 when there is any, 0 when the
file is good. Nothing is uploaded or written.

| command | the same code as |
| --- | --- |
| ``corpus`` | the retrieval pipeline's *Extract corpus* (``lambda_src/extract_corpus``: ``parse_corpus_line``) |
| ``pairs`` | the embedding training script (``sagemaker_src/retrieval/data.py``) |
| ``training-data --for bedrock`` | *Prepare training data* of the customization workflow (``customization_data.py``) |
| ``training-data --for lora`` | the LoRA training entry point (``sagemaker_src/llm_lora/records.py``) |
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

import typer

from modelsmith.cli_support import AppState, InputError, app_state
from modelsmith_core import catalogue

app = typer.Typer(
    help="Check corpus, pair and training-data files with the workflows' own validators.", no_args_is_help=True
)

EXISTING_FILE = {"exists": True, "dir_okay": False, "readable": True}


class TrainingTarget(str, Enum):
    BEDROCK = "bedrock"
    LORA = "lora"


@contextmanager
def reading_with_progress(state: AppState, path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for binary reading, with a progress bar over its bytes on standard error (a terminal)."""
    from rich.progress import open as progress_open

    console = state.progress_console()
    with progress_open(
        path, "rb", description=f"reading {path.name}", console=console, transient=True, disable=not console.is_terminal
    ) as stream:
        yield stream


def finish(state: AppState, path: Path, problems: list[str], summary: str, what: str) -> None:
    """Print the problems (or the summary) and fail with exit status 2 when there is any problem."""
    for problem in problems:
        state.console.print(problem, markup=False)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise InputError(f"{len(problems)} {noun} in {path}", f"fix the lines above; the workflow {what}")
    state.console.print(f"{path}: {summary}", markup=False)


@app.command()
def corpus(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help='JSONL corpus: one {"id", "text"} per line', **EXISTING_FILE),
) -> None:
    """A retrieval-pipeline corpus, line by line as the Extract corpus state reads it."""
    state = app_state(ctx)
    from lambda_src.extract_corpus import corpus_extraction as extraction
    from lambda_src.shared import run_storage

    problems: list[str] = []
    warnings: list[str] = []  # a repeated id: the workflow keeps the first line and goes on
    documents = 0
    with reading_with_progress(state, file) as stream:
        for line in extraction.read_corpus_lines(run_storage.iter_lines(stream)):
            if line.document is not None:
                documents += 1
            else:
                (problems if line.duplicate_of is None else warnings).append(f"{file}:{line.number}: {line.problem}")
    if not problems and not documents:
        problems.append(f"{file}: no records (the file is empty or only blank lines)")
    for warning in warnings:
        state.console.print(f"warning: {warning}", markup=False)
    finish(
        state,
        file,
        problems,
        f"{documents} documents OK" + (f", {len(warnings)} duplicate ids skipped" if warnings else ""),
        "rejects bad lines, and fails when none is left",
    )


@app.command()
def pairs(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ...,
        exists=True,
        help="a pairs JSONL file, or a folder with train.jsonl, eval.jsonl "
        "and eval_corpus.jsonl (the pipeline's pairs/ prefix)",
    ),
) -> None:
    """Query/passage pairs as the embedding fine-tuning script reads them."""
    state = app_state(ctx)
    from sagemaker_src.retrieval import data

    problems: list[str] = []
    if path.is_dir():
        try:
            train, evaluation = data.read_training_data(
                data.resolve_file(path, data.TRAIN_FILE),
                data.resolve_file(path, data.EVAL_FILE),
                data.resolve_file(path, data.EVAL_CORPUS_FILE),
            )
        except data.DataError as error:
            problems = error.problems
        else:
            summary = (
                f"{len(train)} training pairs, {len(evaluation.queries)} evaluation queries over "
                f"{len(evaluation.corpus)} documents OK"
            )
    else:
        found = data.read_pairs(path, problems)
        summary = f"{len(found)} pairs OK"
    finish(state, path, problems, "" if problems else summary, "stops before training on any bad line")


@app.command("training-data")
def training_data(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="chat, instruction or prompt/completion JSONL", **EXISTING_FILE),
    target: TrainingTarget = typer.Option(
        TrainingTarget.BEDROCK, "--for", help="bedrock: the customization workflow; lora: the GPU instance"
    ),
    base_model: str = typer.Option(
        catalogue.DEFAULT_CUSTOMIZATION_MODEL,
        "--base-model",
        help="bedrock: the model to fine-tune (its customization ID); its data format and limits apply, as in the "
        "workflow's preparation step",
    ),
    lora_config: Path = typer.Option(
        None,
        "--config",
        help="lora: training_config.yml whose system_prompt applies (default: the shipped one)",
        **EXISTING_FILE,
    ),
) -> None:
    """Fine-tuning data, as the Bedrock customization workflow or the LoRA training script checks it."""
    state = app_state(ctx)
    if target is TrainingTarget.LORA:
        problems, summary = _lora_problems(file, lora_config)
        finish(state, file, problems, summary, "trains nothing when any record is bad")
        return
    if base_model not in catalogue.BEDROCK_CUSTOMIZATION_MODELS:
        known = ", ".join(sorted(catalogue.BEDROCK_CUSTOMIZATION_MODELS))
        raise typer.BadParameter(
            f"{base_model!r} is not a model Bedrock fine-tunes; one of {known}", param_hint="--base-model"
        )
    settings = catalogue.BEDROCK_CUSTOMIZATION_MODELS[base_model].preparation_settings()
    target_format = settings.pop("target_format")
    from lambda_src.shared import customization_data, run_storage

    limits = customization_data.Limits(**settings)
    with reading_with_progress(state, file) as stream:
        result = customization_data.convert_and_validate(
            run_storage.iter_lines(stream), source_name=str(file), target_format=target_format, limits=limits
        )
    meta = result.metadata
    summary = (
        ""
        if result.problems
        else (
            f"{meta['records']} {meta['source_format']} records OK as {meta['target_format']} for {base_model} "
            f"({meta['train_records']} training, {meta['validation_records']} validation); "
            f"about {meta['tokens_per_record']['max']} tokens in the longest ({meta['token_estimate']})"
        )
    )
    finish(state, file, [str(problem) for problem in result.problems], summary, "writes nothing when any record is bad")


def _lora_problems(file: Path, config_path: Path | None) -> tuple[list[str], str]:
    from sagemaker_src.llm_lora.config import DEFAULT_CONFIG_PATH, ConfigError, load_training_config
    from sagemaker_src.llm_lora.records import read_dataset

    try:
        config: Any = load_training_config(config_path or DEFAULT_CONFIG_PATH)
    except ConfigError as error:
        raise InputError(f"--config {config_path}: {error}") from None
    dataset = read_dataset(file, system_prompt=config.system_prompt)
    formats = ", ".join(sorted({record.format.value for record in dataset.records})) or "none"
    return [str(error) for error in dataset.errors], f"{len(dataset.records)} records OK (format {formats})"
