"""Finding the checkpoint a restarted job resumes from.

The Trainer writes ``checkpoint-<step>/`` in place, file by file, ``trainer_state.json`` last; a job killed
mid-save (spot reclaim, instance stop, full disk) leaves a partial one. A checkpoint is **complete** when:

- its name is ``checkpoint-<step>`` and it has no ``checkpoint-is-incomplete.txt`` marker (written by the
  Trainer's SIGTERM checkpointing while it saves);
- ``trainer_state.json`` parses and its ``global_step`` equals ``<step>``;
- its config (``adapter_config.json``; ``config.json`` for a full model, see ``FULL_MODEL``) parses and its
  weights (``adapter_model.safetensors``; ``model.safetensors``) open with every tensor readable;
- ``optimizer.pt`` and ``scheduler.pt`` (and ``rng_state.pth`` when present) are intact archives: torch
  saves zip files, and every member's CRC is checked without unpickling anything.

Incomplete checkpoints newer than the one resumed from are renamed ``incomplete-checkpoint-<step>-<time>``
(kept for inspection, never deleted) so the Trainer neither rotates the good one away nor writes into them.
"""

from __future__ import annotations

import json
import logging
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from safetensors import safe_open

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
TORCH_ARCHIVES = ("optimizer.pt", "scheduler.pt")
OPTIONAL_TORCH_ARCHIVES = ("rng_state.pth",)
INCOMPLETE_MARKER = "checkpoint-is-incomplete.txt"
# (config, weights) a checkpoint holds: a PEFT adapter (the default) or a whole model, as a sentence-transformers
# Trainer saves its Transformer module at the checkpoint's root.
ADAPTER = (ADAPTER_CONFIG, ADAPTER_WEIGHTS)
FULL_MODEL = ("config.json", "model.safetensors")


@dataclass(frozen=True)
class SkippedCheckpoint:
    path: Path
    reason: str
    moved_to: Path | None


def checkpoint_step(path: Path) -> int | None:
    match = CHECKPOINT_NAME.match(path.name)
    return int(match.group(1)) if match else None


def checkpoint_problem(path: Path, files: tuple[str, str] = ADAPTER) -> str | None:
    """Why ``path`` is not a complete checkpoint, or None when it is; ``files``: its (config, weights)."""
    config, weights_file = files
    step = checkpoint_step(path)
    if step is None or not path.is_dir():
        return "not a checkpoint-<step> directory"
    if (path / INCOMPLETE_MARKER).exists():
        return f"{INCOMPLETE_MARKER} present: the save was interrupted"
    required = [TRAINER_STATE, config, weights_file, *TORCH_ARCHIVES]
    missing = [name for name in required if not (path / name).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        state = json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))
        json.loads((path / config).read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        return f"unreadable JSON: {error}"
    if not isinstance(state, dict) or state.get("global_step") != step:
        return f"{TRAINER_STATE} global_step {state.get('global_step') if isinstance(state, dict) else None} != {step}"
    try:
        with safe_open(str(path / weights_file), framework="pt") as weights:
            for key in weights.keys():  # noqa: SIM118 - safe_open is not a dict
                weights.get_tensor(key)
    except Exception as error:  # noqa: BLE001 - safetensors raises several types for damaged files
        return f"{weights_file} unreadable: {error}"
    for name in TORCH_ARCHIVES + tuple(name for name in OPTIONAL_TORCH_ARCHIVES if (path / name).exists()):
        problem = _archive_problem(path / name)
        if problem:
            return f"{name} {problem}"
    return None


def _archive_problem(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"is not an intact torch archive: {error}"
    return f"has a corrupted member {bad_member}" if bad_member else None


def find_resume_checkpoint(
    checkpoint_dir: Path, *, set_aside_incomplete: bool = True, files: tuple[str, str] = ADAPTER
) -> tuple[Path | None, list[SkippedCheckpoint]]:
    """The newest complete checkpoint under ``checkpoint_dir`` (None if there is none) and those skipped."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        return None, []
    candidates = sorted(
        (path for path in checkpoint_dir.iterdir() if checkpoint_step(path) is not None and path.is_dir()),
        key=lambda path: checkpoint_step(path) or 0,
        reverse=True,
    )
    skipped: list[SkippedCheckpoint] = []
    for candidate in candidates:
        problem = checkpoint_problem(candidate, files)
        if problem is None:
            return candidate, skipped
        moved_to = None
        if set_aside_incomplete:
            moved_to = candidate.with_name(f"incomplete-{candidate.name}-{time.strftime('%Y%m%dT%H%M%S')}")
            candidate.rename(moved_to)
        skipped.append(SkippedCheckpoint(path=candidate, reason=problem, moved_to=moved_to))
    return None, skipped
