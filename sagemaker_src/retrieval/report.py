"""The run report of a retrieval fine-tuning: ``report.md`` and ``metrics.png``, from ``metrics.json``'s content.

``report.md`` holds the retrieval metrics (nDCG@10, MRR@10, recall@1/10/100) for the base and the fine-tuned
model with their difference, then the data, training and hyperparameter facts that ``metrics.json`` records.
Numbers are printed with the 6 decimals ``metrics.json`` keeps, so the table and the JSON agree exactly.

``metrics.png`` is a grouped bar chart, base vs fine-tuned per metric, drawn with matplotlib's Agg canvas
(no display needed). Without matplotlib the report is written without the plot and says so; a plot that
fails to render is reported the same way rather than failing a finished training run.

Both files are written whole or not at all (a temporary file in the same directory, then a rename), the plot
first, so a report never names a plot that is not there. ``train.py`` calls ``write_report`` just before it
writes ``metrics.json``; to rebuild a report from a stored ``metrics.json``::

    python -m sagemaker_src.retrieval.report out/data/metrics.json --output_dir out/data
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .evaluation import METRICS

logger = logging.getLogger(__name__)

REPORT_FILE = "report.md"
PLOT_FILE = "metrics.png"
METRIC_LABELS = {
    "ndcg@10": "nDCG@10",
    "mrr@10": "MRR@10",
    "recall@1": "Recall@1",
    "recall@10": "Recall@10",
    "recall@100": "Recall@100",
}
DATA_LABELS = {
    "train_pairs": "training pairs",
    "eval_queries": "held-out queries",
    "eval_corpus": "held-out corpus documents",
    "human_questions": "questions written by people",
}
SET_LABELS = {"human": "questions written by people", "synthetic": "held-out synthetic queries"}
MAX_LISTED_UNKNOWN = 50
TRAINING_LABELS = {
    "loss": "loss function",
    "global_step": "optimizer steps",
    "epochs": "epochs",
    "train_rows": "training rows",
    "train_loss": "mean training loss",
    "first_logged_loss": "first logged loss",
    "last_logged_loss": "last logged loss",
    "train_seconds": "training time (s)",
    "samples_per_second": "samples per second",
}
BASE_COLOR, TUNED_COLOR = "#9aa5b1", "#1f6feb"


@dataclass(frozen=True)
class ReportFiles:
    """What ``write_report`` wrote: the Markdown report, and the plot unless it could not be drawn."""

    report: Path
    plot: Path | None
    plot_note: str | None = None


def write_report(metrics: Mapping[str, Any], output_dir: str | Path) -> ReportFiles:
    """Write ``metrics.png`` (when matplotlib can draw it) and ``report.md`` into ``output_dir``."""
    base, tuned, _ = metric_rows(metrics)  # checks every metric before anything is written
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    plot_path: Path | None = directory / PLOT_FILE
    plot_note = None
    try:
        png = render_plot(base, tuned)
    except ImportError:
        plot_path, plot_note = None, "No plot: matplotlib is not installed where this report was written."
    except Exception as error:  # noqa: BLE001 - the report matters more than its picture
        logger.warning("the metrics plot could not be drawn: %s", error)
        plot_path, plot_note = None, f"No plot: drawing it failed ({type(error).__name__}: {error})."
    if plot_path is not None:
        write_bytes_atomic(plot_path, png)
    markdown = render_markdown(metrics, plot_file=PLOT_FILE if plot_path else None, plot_note=plot_note)
    report_path = directory / REPORT_FILE
    write_bytes_atomic(report_path, markdown.encode("utf-8"))
    return ReportFiles(report=report_path, plot=plot_path, plot_note=plot_note)


def metric_rows(metrics: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """``(base, fine_tuned, difference)`` for the five metrics; a missing one raises naming it."""
    rows = []
    for section in ("base", "fine_tuned"):
        values = metrics.get(section)
        if not isinstance(values, Mapping):
            raise ValueError(f"{section}: metrics.json has no '{section}' metrics object")
        row = {}
        for key in METRICS:
            value = values.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{section}.{key}: expected a number, got {value!r}")
            row[key] = float(value)
        rows.append(row)
    base, tuned = rows
    stored: Mapping[str, Any] = metrics["difference"] if isinstance(metrics.get("difference"), Mapping) else {}
    change = {
        key: float(stored[key]) if isinstance(stored.get(key), (int, float)) else round(tuned[key] - base[key], 6)
        for key in METRICS
    }
    return base, tuned, change


def render_markdown(metrics: Mapping[str, Any], *, plot_file: str | None, plot_note: str | None = None) -> str:
    base, tuned, change = metric_rows(metrics)
    lines = ["# Retrieval fine-tuning report", ""]
    facts = []
    if metrics.get("base_model"):
        facts.append(f"base model `{metrics['base_model']}`")
    if metrics.get("precision"):
        facts.append(f"precision {metrics['precision']}")
    if metrics.get("status"):
        facts.append(f"status {metrics['status']}")
    if isinstance(metrics.get("wall_seconds"), (int, float)):
        facts.append(f"finished in {metrics['wall_seconds']} s")
    if facts:
        summary = "; ".join(facts)
        lines += [summary[0].upper() + summary[1:] + ".", ""]
    verdict = "improved" if change["ndcg@10"] > 0 else "did not improve"
    lines += [
        (
            f"Fine-tuning {verdict} nDCG@10 on the held-out queries: {base['ndcg@10']:.6f} -> {tuned['ndcg@10']:.6f} "
            f"({change['ndcg@10']:+.6f})."
        ),
        "",
        "## Retrieval quality (held-out queries, cosine similarity)",
        "",
        "| metric | base | fine-tuned | difference |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key in METRICS:
        lines.append(f"| {METRIC_LABELS.get(key, key)} | {base[key]:.6f} | {tuned[key]:.6f} | {change[key]:+.6f} |")
    lines.append("")
    if plot_file:
        lines += [f"![Base vs fine-tuned per metric]({plot_file})", ""]
    elif plot_note:
        lines += [f"_{plot_note}_", ""]
    lines += evaluation_sets_section(metrics.get("evaluations"))
    lines += _facts_table("Data", metrics.get("data"), DATA_LABELS)
    lines += _facts_table("Training", metrics.get("training"), TRAINING_LABELS)
    lines += _facts_table("Hyperparameters", metrics.get("hyperparameters"), {})
    return "\n".join(lines).rstrip() + "\n"


def evaluation_sets_section(evaluations: Any) -> list[str]:
    """nDCG@10 of both models on each query set with the paired bootstrap interval on the difference, and the
    questions whose relevant ids are not in the corpus."""
    if not isinstance(evaluations, Mapping) or not evaluations:
        return []
    lines = [
        "## nDCG@10 by query set (paired bootstrap 95% interval on the difference)",
        "",
        "| query set | queries | base | fine-tuned | difference | 95% interval |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in sorted(evaluations, key=lambda key: key != "human"):
        entry = evaluations[name]
        interval = entry["interval"]
        lines.append(
            f"| {SET_LABELS.get(name, name)} | {entry['queries']} | {entry['base']['ndcg@10']:.6f} | "
            f"{entry['fine_tuned']['ndcg@10']:.6f} | {entry['difference']['ndcg@10']:+.6f} | "
            f"{interval['low']:+.6f} to {interval['high']:+.6f} |"
        )
    lines.append("")
    if "human" not in evaluations:
        lines += ["No questions written by people were given: only synthetic queries were measured.", ""]
    unknown = evaluations.get("human", {}).get("unknown_ids") or []
    if unknown:
        lines += [f"Questions with relevant ids that are not in the corpus ({len(unknown)}):", ""]
        for entry in unknown[:MAX_LISTED_UNKNOWN]:
            scored = "scored on its other ids" if entry.get("scored") else "not scored"
            lines.append(f"- line {entry['line']}: {entry['question']!r}: {', '.join(entry['missing_ids'])} ({scored})")
        if len(unknown) > MAX_LISTED_UNKNOWN:
            lines.append(f"- ... and {len(unknown) - MAX_LISTED_UNKNOWN} more (metrics.json lists them all)")
        lines.append("")
    return lines


def _facts_table(title: str, values: Any, labels: Mapping[str, str]) -> list[str]:
    if not isinstance(values, Mapping) or not values:
        return []
    keys = [key for key in labels if key in values] + [key for key in values if key not in labels]
    rows = [f"| {labels.get(key, key)} | {_format_value(values[key])} |" for key in keys]
    return [f"## {title}", "", "| | |", "| --- | ---: |", *rows, ""]


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value).replace("|", "\\|")
    return str(value).replace("|", "\\|")


def render_plot(base: Mapping[str, float], tuned: Mapping[str, float]) -> bytes:
    """A PNG of grouped bars, base vs fine-tuned per metric; ``ImportError`` without matplotlib."""
    from matplotlib.figure import Figure  # a Figure with its own Agg canvas: no pyplot state, no display

    keys = list(METRICS)
    positions = range(len(keys))
    width = 0.38
    figure = Figure(figsize=(8, 4.5), dpi=120, layout="constrained")
    axes = figure.add_subplot()
    for offset, values, label, color in (
        (-width / 2, base, "base", BASE_COLOR),
        (width / 2, tuned, "fine-tuned", TUNED_COLOR),
    ):
        bars = axes.bar([p + offset for p in positions], [values[key] for key in keys], width, label=label, color=color)
        axes.bar_label(bars, labels=[f"{values[key]:.3f}" for key in keys], padding=2, fontsize=8)
    axes.set_xticks(list(positions), [METRIC_LABELS.get(key, key) for key in keys])
    axes.set_ylim(0, 1.12)
    axes.set_ylabel("score")
    axes.set_title(f"Base vs fine-tuned: nDCG@10 {base['ndcg@10']:.3f} -> {tuned['ndcg@10']:.3f}")
    axes.legend(loc="upper left")
    axes.grid(axis="y", alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sagemaker_src.retrieval.report", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("metrics_json", type=Path, help="a metrics.json written by sagemaker_src.retrieval.train")
    parser.add_argument(
        "--output_dir", type=Path, default=None, help="where to write the report (default: beside metrics.json)"
    )
    arguments = parser.parse_args(argv)
    metrics = json.loads(arguments.metrics_json.read_text(encoding="utf-8"))
    files = write_report(metrics, arguments.output_dir or arguments.metrics_json.parent)
    print(files.report if files.plot is None else f"{files.report}\n{files.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
