"""A small document set (``documents/``: a staff handbook in Markdown, text and reStructuredText, and a corpus
JSONL), indexed once per session with the packaged all-MiniLM-L6-v2, and questions whose answer one chunk holds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelsmith.cli import app
from modelsmith.cli_support import AppState

DOCUMENTS = Path(__file__).resolve().parent / "documents"
# (question, words only the chunk that answers it holds)
QUESTIONS = [
    ("Which UDP port does the VPN gateway listen on?", "UDP port 51820"),
    ("How much can I spend on meals per day on a business trip?", "45 euros per day"),
    ("Where do new employees pick up their laptop?", "IT front desk on the third floor"),
    ("How often do passwords have to be changed?", "rotated every 90 days"),
    ("How far away is the Andromeda galaxy?", "2.5 million light-years"),
    ("When is the coffee machine cleaned?", "descaled every Friday"),
    ("How long do I have to submit an expense report?", "within 30 days"),
]
TOP_K = 3
runner = CliRunner(env={"COLUMNS": "200"})


def invoke(args: list[str], state: AppState | None = None):
    return runner.invoke(app, args, obj=state or AppState(sleep=lambda seconds: None))


class FakeGenerator:
    """Answers citing source 1, and records the prompts; ``max_sources`` makes longer prompts "not fit"."""

    name = "fake-llm"

    def __init__(self, max_sources: int | None = None) -> None:
        self.max_sources = max_sources
        self.prompts: list[Sequence[dict[str, str]]] = []

    def fits(self, messages: Sequence[dict[str, str]], max_new_tokens: int) -> bool:
        return (
            self.max_sources is None
            or len(re.findall(r"^\[\d+\] \(", messages[-1]["content"], re.M)) <= self.max_sources
        )

    def generate(self, messages: Sequence[dict[str, str]], max_new_tokens: int) -> str:
        self.prompts.append(messages)
        return "According to the handbook, see [1]."


@pytest.fixture(scope="session")
def rag_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documents ingested through the command line with the default chunking (500 characters, 100 overlap)."""
    index = tmp_path_factory.mktemp("rag") / "index"
    result = invoke(["rag", "ingest", str(DOCUMENTS), "--index", str(index), "--model", "minilm"])
    assert result.exit_code == 0, result.output
    return index


@pytest.fixture(scope="session")
def retrieval_engine(rag_index: Path) -> Any:
    from modelsmith.rag.engine import GeneratorKind, RagSettings, load_engine

    return load_engine(RagSettings(index_dir=rag_index, generator=GeneratorKind.NONE))
