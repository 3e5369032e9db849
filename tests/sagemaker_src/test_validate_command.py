"""``python -m sagemaker_src.llm_lora validate``: counts, token-length percentiles and every bad record."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sagemaker_src.llm_lora.validate import main
from tests.sagemaker_src.lora_helpers import CHAT_RECORDS, write_jsonl


def _validate(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_a_good_dataset_reports_counts_and_percentiles(
    tmp_path: Path, tiny_model_dir: Path, train_records: list[dict[str, Any]]
) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", train_records)

    code, report = _validate(str(data), "--tokenizer", str(tiny_model_dir), "--max_seq_length", "512")

    assert code == 0
    assert "records: 24 (24 good, 0 bad); formats: extraction 24" in report
    (lengths,) = [line for line in report.splitlines() if "token lengths" in line]
    numbers = [int(part.split()[-1]) for part in lengths.split(":", 1)[1].split("|")[:4]]
    assert numbers == sorted(numbers) and numbers[0] > 20, lengths
    assert "max_seq_length 512 (0 over)" in lengths
    assert report.rstrip().endswith("RESULT: OK")


def test_every_bad_record_is_listed(tmp_path: Path, tiny_model_dir: Path) -> None:
    good, other = CHAT_RECORDS
    too_long = {
        "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "stage IV melanoma " * 50}]
    }
    data = tmp_path / "chat.jsonl"
    data.write_bytes(
        b"".join(
            (json.dumps(row) + "\n").encode()
            for row in (good, {"messages": [{"role": "user", "content": ""}]}, other, too_long)
        )
        + b"{oops\n"
    )

    code, report = _validate(str(data), "--tokenizer", str(tiny_model_dir), "--max_seq_length", "128")

    assert code == 1
    assert "records: 5 (2 good, 3 bad); formats: chat 3" in report
    assert f"{data}:2: messages[0].content: empty" in report
    assert f"{data}:4: messages: " in report and "> max_seq_length 128" in report
    assert f"{data}:5: invalid JSON" in report
    assert "(1 over)" in report
    assert report.rstrip().endswith("RESULT: 3 bad record(s)")


def test_without_a_tokenizer_only_structure_is_checked(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", CHAT_RECORDS)

    code, report = _validate(str(data))

    assert code == 0
    assert "token lengths: not measured (pass --tokenizer)" in report


def test_an_empty_file_fails(tmp_path: Path) -> None:
    data = tmp_path / "empty.jsonl"
    data.write_text("")

    code, report = _validate(str(data))

    assert code == 1
    assert f"{data}: empty file: no records" in report


def test_module_entry_point_runs(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", CHAT_RECORDS)
    repository = Path(__file__).resolve().parents[2]

    completed = subprocess.run(
        [sys.executable, "-m", "sagemaker_src.llm_lora", "validate", str(data)],
        cwd=repository,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "RESULT: OK" in completed.stdout
