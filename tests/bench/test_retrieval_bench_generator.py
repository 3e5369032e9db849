"""bench/retrieval_bench.py: its corpus is the dry run's docstring corpus, and ``--generator smollm2`` has the
dry run's local query writer write the queries."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

import pytest

from modelsmith import local_generation

BENCH = Path(__file__).resolve().parents[2] / "bench" / "retrieval_bench.py"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("retrieval_bench_generator", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


class QuestionModel:
    """A fake SmolLM2: a question about the document's first word, or filler for documents about 'nothing'."""

    name = "fake SmolLM2"

    def complete(self, conversations: Sequence[list[dict[str, str]]], max_new_tokens: int = 48, *,
                 on_batch: Callable[[int], None] | None = None) -> list[str]:  # fmt: skip
        answers = []
        for messages in conversations:
            first_word = messages[-1]["content"].split("\n\n")[1].split()[0]
            answers.append("I'm ready to help. What's your question?" if first_word == "nothing"
                           else f"Here is a question:\n\nWhat does the {first_word} function compute?")  # fmt: skip
        return answers


def test_the_bench_corpus_is_the_demo_corpus() -> None:
    bench = _load_bench()
    from modelsmith import demo_corpus

    assert bench.DEMO_PACKAGES == demo_corpus.DEMO_PACKAGES == ("astropy", "astroquery")
    ids = [document["id"] for document in bench.docstring_documents(["sagemaker_src.retrieval"])]
    assert "sagemaker_src.retrieval.data.read_training_data" in ids


def test_smollm2_queries_become_the_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load_bench()
    monkeypatch.setattr(local_generation.SmallModel, "load", classmethod(lambda cls, **kwargs: QuestionModel()))
    documents = [{"id": f"pkg.f{n}", "text": f"{word} values of a table, column by column, and return them."}
                 for n, word in enumerate(["median", "nothing", "sum", "mean", "nothing", "max", "min", "std", "var", "mode"])]  # fmt: skip

    queries, note = bench.smollm2_queries(documents)
    counts = bench.build_dataset(documents, tmp_path, generator=None, seed=0, queries=queries)

    assert queries[0] == "What does the median function compute?" and queries[1] is None
    assert note.startswith("fake SmolLM2: 8 of 10 documents got a query")
    assert counts == {"documents": 10, "pairs": 8, "train": 7, "held_out": 1}
    lines = [line for name in ("train.jsonl", "eval.jsonl") for line in (tmp_path / name).read_text().splitlines()]
    pairs = [json.loads(line) for line in lines]
    assert {pair["doc_id"] for pair in pairs} == {f"pkg.f{n}" for n in (0, 2, 3, 5, 6, 7, 8, 9)}
