"""Benchmark the retrieval pipeline's training-data switches on the demo corpus, judged by questions people wrote.

Each configuration is a ``modelsmith dry-run --demo``: the workflow's own step code on this machine (queries by
SmolLM2-135M-Instruct in Bedrock's place, all-MiniLM-L6-v2 fine-tuned by the training job's script), evaluated
on the held-out synthetic queries *and* on ``modelsmith/demo_questions.jsonl`` (questions written by people
from the astropy/astroquery documentation, never trained on), each difference with its paired bootstrap 95%
interval, and the gate in ``ci_lower`` mode. Queries are generated once per ``queries_per_document`` and reused
by the switches that only change what happens after generation, so every switch sees the same queries.

Switches (``--switches``, comma-separated; default: all):

- ``baseline``: one query per document, no filter, in-batch duplicate protection on (the pipeline's defaults);
- ``query_filter``: drop generic and copied queries (``lambda_src/build_pairs/query_filters.py``);
- ``round_trip``: keep a query only when the base model ranks its document in the top 10 (InPars-v2 style);
- ``multi_query``: three queries per document (a second generation run);
- ``hard_negatives``: one hard negative per pair mined by the base model, skipping those within 5% of the
  positive's score (likely false negatives);
- ``no_duplicate_protection``: plain random batches (the control for the pipeline's no-duplicates batches).

Prints one line per step of each run (name and seconds), then a table per switch: training pairs, nDCG@10 of
base and fine-tuned on both query sets with the difference and its interval, and the gate's verdict::

    python bench/retrieval_bench.py --max-documents 800                 # about 20 minutes on 2 cores
    python bench/retrieval_bench.py --max-documents 2574 --switches baseline   # the whole demo corpus
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

SWITCHES = ("baseline", "query_filter", "round_trip", "multi_query", "hard_negatives", "no_duplicate_protection")
ROUND_TRIP_TOP_K = 10
MULTI_QUERIES = 3
HARD_NEGATIVE_MARGIN = 0.05


def configurations(base: Any) -> dict[str, Any]:
    """Each switch's ``DryRunSettings`` (without run id and reused queries, which :func:`run` sets)."""
    training = base.training
    return {
        "baseline": base,
        "query_filter": replace(base, query_filter=True),
        "round_trip": replace(base, training=replace(training, round_trip_top_k=ROUND_TRIP_TOP_K)),
        "multi_query": replace(base, queries_per_document=MULTI_QUERIES),
        "hard_negatives": replace(
            base, training=replace(training, hard_negatives=1, hard_negative_margin=HARD_NEGATIVE_MARGIN)
        ),
        "no_duplicate_protection": replace(base, training=replace(training, duplicate_protection=False)),
    }


def run(switches: Sequence[str], base: Any, *, stamp: str) -> dict[str, dict[str, Any]]:
    """Run each switch; a switch reuses the queries of the first run with the same queries per document."""
    from modelsmith.dry_run import DryRun

    results: dict[str, dict[str, Any]] = {}
    generated: dict[int, Path] = {}
    for name in switches:
        settings = configurations(base)[name]
        settings = replace(
            settings,
            run_id=f"bench-{stamp}-{name.replace('_', '-')}",
            queries_from=generated.get(settings.queries_per_document),
        )
        started = time.monotonic()
        result = DryRun(settings).run()
        generated.setdefault(settings.queries_per_document, result.run_dir)
        results[name] = {"result": result, "seconds": round(time.monotonic() - started, 1)}
        print_steps(name, result)
    return results


def print_steps(name: str, result: Any) -> None:
    steps = ", ".join(f"{step.name} {step.seconds:.1f} s" for step in result.steps)
    print(f"[{name}] {steps}; wall {result.wall_seconds:.1f} s", flush=True)


def rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for name, entry in results.items():
        result = entry["result"]
        evaluation = result.evaluation
        row: dict[str, Any] = {
            "switch": name,
            "train_pairs": result.pairs.get("train_pairs"),
            "filtered": result.pairs.get("filtered"),
            "gate": "passed" if result.gate_passed else "not improved",
            "wall_seconds": result.wall_seconds,
            "steps": {step.name: step.seconds for step in result.steps},
        }
        for query_set, figures in evaluation["evaluations"].items():
            row[query_set] = figures
        table.append(row)
    return table


def print_table(table: list[dict[str, Any]]) -> None:
    print()
    header = f"{'switch':<24} {'pairs':>6}  {'synthetic nDCG@10 (95% interval)':<44} {'human nDCG@10 (95% interval)':<44} gate"
    print(header)
    print("-" * len(header))
    for row in table:
        cells = [_cell(row.get(query_set)) for query_set in ("synthetic", "human")]
        print(f"{row['switch']:<24} {row['train_pairs']!s:>6}  {cells[0]:<44} {cells[1]:<44} {row['gate']}")


def _cell(figures: dict[str, Any] | None) -> str:
    if not figures:
        return "-"
    interval = figures["interval"]
    return (
        f"{figures['base_ndcg_at_10']:.3f} -> {figures['fine_tuned_ndcg_at_10']:.3f} "
        f"({figures['ndcg_at_10_gain']:+.3f}, {interval['low']:+.3f} to {interval['high']:+.3f})"
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--switches", default=",".join(SWITCHES), help=f"comma-separated, of: {', '.join(SWITCHES)}")
    parser.add_argument("--max-documents", type=int, default=800, help="documents sampled from the demo corpus")
    parser.add_argument("--output-dir", type=Path, default=Path("bench-runs"), help="where the dry runs go")
    parser.add_argument("--questions", type=Path, default=None, help="evaluation questions (default: the demo's)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="also print the table as one JSON line")
    options = parser.parse_args(argv)
    unknown = [name for name in options.switches.split(",") if name not in SWITCHES]
    if unknown:
        parser.error(f"--switches: unknown {', '.join(unknown)}; choose from {', '.join(SWITCHES)}")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_arguments(argv)
    from modelsmith.local_generation import share_cpus_politely

    share_cpus_politely()  # before torch is imported
    from modelsmith.dry_run import DEMO_QUESTIONS, DryRunSettings, TrainingSettings

    base = DryRunSettings(
        corpus=None,
        demo=True,
        output_dir=options.output_dir,
        max_documents=options.max_documents,
        sample_seed=options.seed,
        gate="ci_lower",
        evaluation_questions=options.questions or DEMO_QUESTIONS,
        training=TrainingSettings(
            epochs=options.epochs, batch_size=options.batch_size, learning_rate=options.learning_rate
        ),
        sample_queries=0,
    )
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    results = run(options.switches.split(","), base, stamp=stamp)
    table = rows(results)
    print_table(table)
    if options.json:
        print(json.dumps(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
