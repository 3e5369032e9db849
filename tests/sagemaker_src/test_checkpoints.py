"""What a complete checkpoint is, and which one a restarted job resumes from."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sagemaker_src.llm_lora.checkpoints import checkpoint_problem, find_resume_checkpoint


def make_checkpoint(directory: Path, step: int) -> Path:
    """A checkpoint with the files the Trainer writes for a peft model (small, but real formats)."""
    path = directory / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file(
        {"base_model.model.layers.0.q_proj.lora_A.weight": torch.ones(2, 4)}, str(path / "adapter_model.safetensors")
    )
    (path / "adapter_config.json").write_text(json.dumps({"r": 2, "peft_type": "LORA"}))
    torch.save({"state": {}, "param_groups": []}, path / "optimizer.pt")
    torch.save({"last_epoch": step}, path / "scheduler.pt")
    torch.save({"python": 1}, path / "rng_state.pth")
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    return path


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble_zip_member(path: Path) -> None:
    """Flip a byte inside the largest member's data: the archive still opens, its CRC no longer matches."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        member = max(archive.infolist(), key=lambda info: info.file_size)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[member.header_offset + 26 : member.header_offset + 30])
    data[member.header_offset + 30 + name_length + extra_length] ^= 0xFF
    path.write_bytes(bytes(data))


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "trainer_state missing": (lambda path: (path / "trainer_state.json").unlink(), "missing trainer_state.json"),
    "adapter weights missing": (
        lambda path: (path / "adapter_model.safetensors").unlink(),
        "missing adapter_model.safetensors",
    ),
    "optimizer missing": (lambda path: (path / "optimizer.pt").unlink(), "missing optimizer.pt"),
    "adapter weights truncated": (
        lambda path: _truncate(path / "adapter_model.safetensors"),
        "adapter_model.safetensors unreadable",
    ),
    "optimizer truncated": (
        lambda path: _truncate(path / "optimizer.pt"),
        "optimizer.pt is not an intact torch archive",
    ),
    "scheduler garbled": (lambda path: _garble_zip_member(path / "scheduler.pt"), "scheduler.pt "),
    "rng state truncated": (
        lambda path: _truncate(path / "rng_state.pth"),
        "rng_state.pth is not an intact torch archive",
    ),
    "trainer_state half written": (lambda path: _truncate(path / "trainer_state.json"), "unreadable JSON"),
    "step mismatch": (
        lambda path: (path / "trainer_state.json").write_text(json.dumps({"global_step": 3})),
        "trainer_state.json global_step 3 != 4",
    ),
    "save in progress": (
        lambda path: (path / "checkpoint-is-incomplete.txt").write_text("in progress"),
        "checkpoint-is-incomplete.txt present",
    ),
}


def test_a_complete_checkpoint_has_no_problem(tmp_path: Path) -> None:
    assert checkpoint_problem(make_checkpoint(tmp_path, 4)) is None


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_incomplete_checkpoint_is_detected(tmp_path: Path, corruption: str) -> None:
    damage, reason = CORRUPTIONS[corruption]
    path = make_checkpoint(tmp_path, 4)
    damage(path)

    problem = checkpoint_problem(path)

    assert problem is not None and problem.startswith(reason), problem


def test_resume_skips_incomplete_newest_and_sets_it_aside(tmp_path: Path) -> None:
    for step in (2, 4, 6, 8):
        make_checkpoint(tmp_path, step)
    (tmp_path / "checkpoint-8" / "trainer_state.json").unlink()
    _truncate(tmp_path / "checkpoint-6" / "adapter_model.safetensors")

    resume_from, skipped = find_resume_checkpoint(tmp_path)

    assert resume_from == tmp_path / "checkpoint-4"
    assert [item.path.name for item in skipped] == ["checkpoint-8", "checkpoint-6"]
    assert all(
        item.moved_to is not None and item.moved_to.name.startswith(f"incomplete-{item.path.name}-") for item in skipped
    )
    assert sorted(path.name for path in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]


def test_no_checkpoint_means_a_fresh_start(tmp_path: Path) -> None:
    assert find_resume_checkpoint(tmp_path / "absent") == (None, [])
    (tmp_path / "base_evaluation.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert find_resume_checkpoint(tmp_path) == (None, [])


def test_a_whole_model_checkpoint_is_checked_by_its_own_files(tmp_path: Path) -> None:
    # The retrieval trainer (sentence-transformers) saves the whole model: config.json and model.safetensors.
    from sagemaker_src.llm_lora.checkpoints import FULL_MODEL

    for step in (2, 4):
        path = make_checkpoint(tmp_path, step)
        for name in ("adapter_model.safetensors", "adapter_config.json"):
            (path / name).unlink()
        save_file({"embeddings.word_embeddings.weight": torch.ones(4, 2)}, str(path / "model.safetensors"))
        (path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert checkpoint_problem(tmp_path / "checkpoint-4", FULL_MODEL) is None
    assert checkpoint_problem(tmp_path / "checkpoint-4") == "missing adapter_config.json, adapter_model.safetensors"
    _truncate(tmp_path / "checkpoint-4" / "model.safetensors")

    resume_from, skipped = find_resume_checkpoint(tmp_path, files=FULL_MODEL)

    assert resume_from == tmp_path / "checkpoint-2"
    assert [item.path.name for item in skipped] == ["checkpoint-4"] and "model.safetensors unreadable" in skipped[
        0
    ].reason
