"""bench/lora_bench.py runs a short LoRA benchmark and prints tokens/s, peak memory and final loss."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "lora_bench.py"


def test_bench_prints_throughput_memory_and_loss(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("lora_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    code = bench.main(
        [
            "--model",
            "tiny",
            "--hidden-size",
            "32",
            "--layers",
            "1",
            "--steps",
            "3",
            "--records",
            "16",
            "--no-packing",
            "--json",
        ]
    )

    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert lines[0].startswith("model tiny(hidden=32, layers=1)") and "packing off" in lines[0]
    assert (
        lines[2].startswith("tokens/s: ")
        and lines[3].startswith("peak memory: ")
        and lines[4].startswith("final loss: ")
    )
    result = json.loads(lines[-1])
    assert result["steps"] == 3 and result["tokens_per_second"] > 0 and result["peak_memory_gib"] > 0
    assert result["final_loss"] > 0
