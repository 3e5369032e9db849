"""The run report: a Markdown table that agrees with metrics.json, a real PNG, and a report without matplotlib."""

from __future__ import annotations

import json
import re
import struct
import sys
from pathlib import Path

import pytest

from sagemaker_src.retrieval import report
from sagemaker_src.retrieval.evaluation import METRICS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def metrics_json() -> dict:
    """What train.py writes (numbers rounded to 6 decimals, as evaluation.evaluate returns them)."""
    base = {"ndcg@10": 0.512345, "mrr@10": 0.47, "recall@1": 0.35, "recall@10": 0.81, "recall@100": 0.97}
    tuned = {"ndcg@10": 0.688812, "mrr@10": 0.641003, "recall@1": 0.52, "recall@10": 0.93, "recall@100": 0.99}
    return {
        "status": "completed",
        "base_model": "/opt/models/all-MiniLM-L6-v2",
        "precision": "fp32",
        "data": {"train_pairs": 480, "eval_queries": 120, "eval_corpus": 300},
        "training": {
            "global_step": 30,
            "epochs": 1.0,
            "train_loss": 0.8123,
            "first_logged_loss": 1.5,
            "last_logged_loss": 0.41,
            "train_rows": 480,
            "train_seconds": 12.3,
            "samples_per_second": 39.0,
            "loss": "MultipleNegativesRankingLoss",
        },
        "base": base,
        "fine_tuned": tuned,
        "difference": {key: round(tuned[key] - base[key], 6) for key in base},
        "outputs": {"model": "model", "inference_code": "code"},
        "wall_seconds": 40.2,
        "hyperparameters": {"epochs": 1.0, "batch_size": 16, "learning_rate": 0.0001, "matryoshka_dims": None},
    }


def table_rows(markdown: str) -> dict[str, list[str]]:
    """The metrics table as ``label -> [base, fine-tuned, difference]``."""
    section = markdown.split("## Retrieval quality", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in report.METRIC_LABELS.values():
            rows[cells[0]] = cells[1:]
    return rows


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_report_table_equals_metrics_json_and_the_plot_is_a_png(tmp_path: Path) -> None:
    # GIVEN a metrics.json of a finished run
    metrics = metrics_json()

    # WHEN the report is written
    files = report.write_report(metrics, tmp_path)

    # THEN every metric's base, fine-tuned and difference numbers are the JSON's, to the last decimal
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    rows = table_rows(markdown)
    assert set(rows) == {report.METRIC_LABELS[key] for key in METRICS}
    for key in METRICS:
        base, tuned, change = (float(cell) for cell in rows[report.METRIC_LABELS[key]])
        assert (base, tuned, change) == (metrics["base"][key], metrics["fine_tuned"][key], metrics["difference"][key])
    # AND the plot is a real PNG that the report shows
    assert files.plot == tmp_path / "metrics.png" and files.plot_note is None
    width, height = png_size((tmp_path / "metrics.png").read_bytes())
    assert (width, height) == (960, 540)
    assert "![Base vs fine-tuned per metric](metrics.png)" in markdown
    # AND the training facts of metrics.json are there too
    assert "| optimizer steps | 30 |" in markdown and "| training pairs | 480 |" in markdown
    assert "MultipleNegativesRankingLoss" in markdown and "| learning_rate | 0.0001 |" in markdown
    assert "improved nDCG@10 on the held-out queries: 0.512345 -> 0.688812 (+0.176467)" in markdown
    assert "Base model `/opt/models/all-MiniLM-L6-v2`" in markdown


def test_the_plot_decodes_as_an_image(tmp_path: Path) -> None:
    import matplotlib.image

    report.write_report(metrics_json(), tmp_path)

    pixels = matplotlib.image.imread(tmp_path / "metrics.png")
    assert pixels.shape[:2] == (540, 960) and pixels.std() > 0.05, "a blank image would have no contrast"


def test_without_matplotlib_the_report_is_written_without_the_plot_and_says_so(tmp_path: Path, monkeypatch) -> None:
    # GIVEN an environment where matplotlib cannot be imported
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)

    files = report.write_report(metrics_json(), tmp_path)

    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert files.plot is None and not (tmp_path / "metrics.png").exists()
    assert "_No plot: matplotlib is not installed where this report was written._" in markdown
    assert "metrics.png" not in markdown
    assert len(table_rows(markdown)) == len(METRICS)


def test_a_worse_model_is_reported_as_not_improving_with_negative_differences(tmp_path: Path) -> None:
    metrics = metrics_json()
    metrics["base"], metrics["fine_tuned"] = metrics["fine_tuned"], metrics["base"]
    metrics["difference"] = {key: -value for key, value in metrics["difference"].items()}

    report.write_report(metrics, tmp_path)

    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "did not improve nDCG@10" in markdown
    assert table_rows(markdown)["nDCG@10"][2] == "-0.176467"


def test_a_missing_difference_is_computed(tmp_path: Path) -> None:
    metrics = metrics_json()
    del metrics["difference"], metrics["training"], metrics["hyperparameters"]

    report.write_report(metrics, tmp_path)

    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert table_rows(markdown)["MRR@10"][2] == "+0.171003"
    assert "## Training" not in markdown


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.pop("base"), "base: metrics.json has no 'base' metrics object"),
        (lambda m: m["fine_tuned"].pop("recall@100"), r"fine_tuned.recall@100: expected a number, got None"),
        (lambda m: m["base"].update({"mrr@10": "high"}), r"base.mrr@10: expected a number, got 'high'"),
    ],
)
def test_metrics_without_a_metric_are_refused_naming_it_and_nothing_is_written(
    tmp_path: Path, mutate, message: str
) -> None:
    metrics = metrics_json()
    mutate(metrics)

    with pytest.raises(ValueError, match=message):
        report.write_report(metrics, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_previous_report_in_place(tmp_path: Path, monkeypatch) -> None:
    # GIVEN an earlier report
    report.write_report(metrics_json(), tmp_path)
    before = (tmp_path / "report.md").read_bytes()

    # WHEN writing the next one fails halfway
    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        report.write_report(metrics_json() | {"wall_seconds": 1.0}, tmp_path)

    # THEN the old files are untouched and no temporary file is left behind
    assert (tmp_path / "report.md").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.png", "report.md"]


def test_the_command_line_rebuilds_a_report_from_metrics_json(tmp_path: Path, capsys) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics_json()))

    assert report.main([str(path)]) == 0

    assert (tmp_path / "report.md").is_file() and (tmp_path / "metrics.png").is_file()
    assert re.search(r"report\.md", capsys.readouterr().out)
