"""bench/retrieval_bench.py runs a dry run per switch (queries reused where generation is the same) and prints
each run's step times and a table of synthetic and human nDCG@10 with intervals. Here with the dry run's fake
models (tests/modelsmith/test_dry_run.py); the real figures are in the issue-19 note."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.modelsmith.test_dry_run import fakes, write_corpus  # noqa: F401

BENCH = Path(__file__).resolve().parents[2] / "bench" / "retrieval_bench.py"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("retrieval_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_each_switch_changes_one_setting_of_the_baseline() -> None:
    from modelsmith.dry_run import DryRunSettings

    bench = _load_bench()
    base = DryRunSettings(corpus=None, demo=True)
    configurations = bench.configurations(base)
    assert set(configurations) == set(bench.SWITCHES)
    assert configurations["query_filter"].query_filter and not base.query_filter
    assert configurations["round_trip"].training.round_trip_top_k == 10
    assert configurations["multi_query"].queries_per_document == 3
    assert configurations["hard_negatives"].training.hard_negatives == 1
    assert configurations["hard_negatives"].training.hard_negative_margin == 0.05
    assert configurations["no_duplicate_protection"].training.duplicate_protection is False


def test_the_bench_prints_step_times_and_both_query_sets_per_switch(
    tmp_path: Path,
    fakes: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    from modelsmith import dry_run

    fakes["human"] = [0.1, 0.2, 0.0]
    corpus = write_corpus(tmp_path / "notes.jsonl", 30)
    monkeypatch.setattr(dry_run.DryRun, "corpus_source", lambda self: corpus)
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"question": "tool number 3", "relevant_ids": ["doc-003"]}) + "\n")

    bench = _load_bench()
    arguments = [
        "--switches",
        "baseline,query_filter,multi_query",
        "--output-dir",
        str(tmp_path / "runs"),
        "--questions",
        str(questions),
        "--max-documents",
        "30",
        "--json",
    ]
    assert bench.main(arguments) == 0

    lines = capsys.readouterr().out.splitlines()
    steps = [line for line in lines if line.startswith("[") and not line.startswith("[{")]
    assert [line.split("]")[0] for line in steps] == ["[baseline", "[query_filter", "[multi_query"]
    assert all("generate" in line and "train" in line and "wall" in line for line in steps)
    table = json.loads(lines[-1])
    assert [row["switch"] for row in table] == ["baseline", "query_filter", "multi_query"]
    for row in table:
        assert set(row["human"]["interval"]) == {"low", "high"} and set(row["synthetic"]["interval"]) == {"low", "high"}
    # the filter switch reused the baseline's queries; three queries per document needed a generation of their own
    assert len(fakes["writer"].conversations) == 30 * 2
    assert table[0]["gate"] == "passed"  # one question, +0.1: an interval from +0.1 to +0.1
