"""Helpers shared by the LoRA training tests (records, configs, run results); fixtures are in conftest.py."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHAT_RECORDS = [
    {
        "messages": [
            {"role": "system", "content": "You are a concise oncology assistant."},
            {"role": "user", "content": "What does HER2 positive mean?"},
            {"role": "assistant", "content": "The tumour overexpresses the HER2 protein."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Name a KRAS G12C inhibitor."},
            {"role": "assistant", "content": "Sotorasib."},
            {"role": "user", "content": "And for BRAF V600E?"},
            {"role": "assistant", "content": "Dabrafenib with trametinib."},
        ]
    },
]

# A config small enough for a CPU test run in seconds; tests override single keys.
TINY_CONFIG: dict[str, Any] = {
    "method": "lora",
    "precision": "fp32",
    "lora_rank": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "learning_rate": 1.0e-2,
    "lr_scheduler_type": "constant",
    "warmup_ratio": 0.0,
    "num_train_epochs": 6,
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "max_seq_length": 256,
    "gradient_checkpointing": False,
    "save_steps": 12,
    "save_total_limit": 3,
    "logging_steps": 4,
    "evaluate_before_training": True,
    "generation_max_new_tokens": 24,
    "max_generation_eval_records": 4,
    "merge_adapter": True,
}


def write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_config(path: Path, **overrides: Any) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({**TINY_CONFIG, **overrides}), encoding="utf-8")
    return path


@dataclass
class RunResult:
    exit_code: int
    log: list[dict[str, Any]]
    model_dir: Path
    output_data_dir: Path
    checkpoint_dir: Path

    def events(self, name: str) -> list[dict[str, Any]]:
        return [entry for entry in self.log if entry.get("event") == name]

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads((self.model_dir / "metrics.json").read_text())


def run_training_in(
    base_dir: Path,
    *,
    model: Path,
    train: Path | None,
    validation: Path | None = None,
    run_name: str = "run",
    checkpoint_dir: Path | None = None,
    extra_arguments: Iterable[str] = (),
    **config_overrides: Any,
) -> RunResult:
    """Run ``train.main`` in-process with the tiny config (plus overrides); returns exit code, JSON log, dirs."""
    from sagemaker_src.llm_lora.train import main

    run_dir = base_dir / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_dir = checkpoint_dir or run_dir / "checkpoints"
    config = write_config(run_dir / "training_config.yml", **config_overrides)
    arguments = [
        "--model_name_or_path",
        str(model),
        "--model_dir",
        str(run_dir / "model"),
        "--output_data_dir",
        str(run_dir / "output"),
        "--checkpoint_dir",
        str(checkpoint_dir),
        "--config",
        str(config),
        *(["--train_file", str(train)] if train else []),
        *(["--validation_file", str(validation)] if validation else []),
        *extra_arguments,
    ]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exit_code = main(arguments)
    lines = [line for line in stdout.getvalue().splitlines() if line.strip()]
    log = [json.loads(line) for line in lines]  # every line on stdout is one JSON object
    return RunResult(exit_code, log, run_dir / "model", run_dir / "output", checkpoint_dir)
