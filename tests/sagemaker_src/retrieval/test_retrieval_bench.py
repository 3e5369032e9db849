"""bench/retrieval_bench.py builds a docstring corpus, trains, and prints base vs tuned nDCG@10 and speed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "retrieval_bench.py"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("retrieval_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_first_sentence_becomes_the_query_and_leaves_the_passage() -> None:
    bench = _load_bench()

    query, passage = bench.first_sentence_query("Convert a table to rows.  Each row is a dict keyed by column name.")

    assert query == "Convert a table to rows."
    assert passage == "Each row is a dict keyed by column name."
    assert bench.first_sentence_query("Too short. x") is None


def test_docstring_corpus_has_one_document_per_public_object() -> None:
    documents = _load_bench().docstring_documents(["sagemaker_src.retrieval"])
    ids = [document["id"] for document in documents]

    assert "sagemaker_src.retrieval.modeling.packaged_minilm_path" in ids
    assert "sagemaker_src.retrieval.data.read_training_data" in ids
    assert len(ids) == len(set(ids))
    assert not any(name.rsplit(".", 1)[-1].startswith("_") for name in ids)


@pytest.mark.slow
def test_bench_prints_base_and_tuned_ndcg_and_speed(capsys: pytest.CaptureFixture[str]) -> None:
    code = _load_bench().main(
        ["--packages", "sagemaker_src", "--max-docs", "80", "--max-steps", "2", "--batch-size", "16",
         "--max-seq-length", "64", "--json"]
    )

    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith('{"time"')]
    assert code == 0
    assert any(line.startswith("nDCG@10 base ") and " tuned " in line for line in lines)
    assert any(line.startswith("training ") and "samples/s" in line for line in lines)
    result = json.loads(lines[-1])
    metric_keys = {"ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100"}
    assert set(result["base"]) == set(result["fine_tuned"]) == metric_keys
