"""A stopped run, restarted, resumes from its newest complete checkpoint and ends where an uninterrupted one does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from tests.sagemaker_src.lora_helpers import RunResult, run_training_in, write_jsonl

# 16 records, batch 2, 2 epochs: 16 steps; a checkpoint every 2 steps, dropout on (its RNG state must resume).
RESUME_CONFIG: dict[str, Any] = {
    "per_device_train_batch_size": 2,
    "num_train_epochs": 2,
    "save_steps": 2,
    "save_total_limit": 3,
    "logging_steps": 2,
    "lora_dropout": 0.1,
    "lr_scheduler_type": "cosine",
    "evaluate_before_training": False,
    "merge_adapter": False,
}
TOTAL_STEPS = 16


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory, train_records: list[dict[str, Any]]) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("resume-data") / "train.jsonl", train_records[:16])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, train_file: Path) -> RunResult:
    result = run_training_in(
        tmp_path_factory.mktemp("uninterrupted"), model=tiny_model_dir, train=train_file, **RESUME_CONFIG
    )
    assert result.exit_code == 0
    return result


def _adapter(result: RunResult) -> dict[str, torch.Tensor]:
    return load_file(str(result.model_dir / "adapter" / "adapter_model.safetensors"))


def test_stopped_run_resumes_and_ends_like_an_uninterrupted_one(
    tmp_path: Path, tiny_model_dir: Path, train_file: Path, uninterrupted: RunResult
) -> None:
    stopped = run_training_in(
        tmp_path, model=tiny_model_dir, train=train_file, extra_arguments=["--stop_after_steps", "5"], **RESUME_CONFIG
    )
    assert stopped.exit_code == 0
    assert stopped.events("training_stopped")[0]["step"] == 5
    assert not stopped.model_dir.exists(), "an interrupted run writes no final outputs"
    assert (stopped.checkpoint_dir / "checkpoint-5").is_dir()  # saved on the stop, between the every-2 saves

    resumed = run_training_in(tmp_path, model=tiny_model_dir, train=train_file, **RESUME_CONFIG)

    assert resumed.exit_code == 0
    assert resumed.metrics["resumed_from_checkpoint"] == "checkpoint-5"
    started = resumed.events("training_started")[0]
    assert started["resumed"] is True and started["step"] == 5, "it must not start from zero"
    assert min(entry["step"] for entry in resumed.events("progress")) > 5
    assert resumed.metrics["training"]["global_step"] == uninterrupted.metrics["training"]["global_step"] == TOTAL_STEPS
    state = json.loads((resumed.checkpoint_dir / f"checkpoint-{TOTAL_STEPS}" / "trainer_state.json").read_text())
    assert state["global_step"] == TOTAL_STEPS
    # Data order, dropout and optimizer state all resume: the adapter ends (numerically) where the other did.
    expected = _adapter(uninterrupted)
    for name, tensor in _adapter(resumed).items():
        torch.testing.assert_close(tensor, expected[name], atol=1e-5, rtol=1e-4)


def test_corrupted_newest_checkpoint_is_skipped_for_the_previous_one(
    tmp_path: Path, tiny_model_dir: Path, train_file: Path, uninterrupted: RunResult
) -> None:
    stopped = run_training_in(
        tmp_path, model=tiny_model_dir, train=train_file, extra_arguments=["--stop_after_steps", "6"], **RESUME_CONFIG
    )
    assert stopped.exit_code == 0
    weights = stopped.checkpoint_dir / "checkpoint-6" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a save cut short

    resumed = run_training_in(tmp_path, model=tiny_model_dir, train=train_file, **RESUME_CONFIG)

    assert resumed.exit_code == 0
    assert resumed.metrics["resumed_from_checkpoint"] == "checkpoint-4"
    (skipped,) = resumed.metrics["skipped_checkpoints"]
    assert skipped["checkpoint"] == "checkpoint-6" and "adapter_model.safetensors unreadable" in skipped["reason"]
    assert resumed.events("checkpoint_skipped")[0]["level"] == "WARNING"
    assert resumed.events("training_started")[0]["step"] == 4
    assert resumed.metrics["training"]["global_step"] == TOTAL_STEPS
    assert len(list(resumed.checkpoint_dir.glob("incomplete-checkpoint-6-*"))) == 1
    expected = _adapter(uninterrupted)
    for name, tensor in _adapter(resumed).items():
        torch.testing.assert_close(tensor, expected[name], atol=1e-5, rtol=1e-4)
