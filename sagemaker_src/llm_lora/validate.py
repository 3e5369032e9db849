"""Check a dataset without training: counts, token-length percentiles and every bad record.

    python -m sagemaker_src.llm_lora validate data/train.jsonl --tokenizer models/smollm2
    python -m sagemaker_src.llm_lora validate data/ --tokenizer models/smollm2 --max_seq_length 1024

Without ``--tokenizer`` only the structure is checked (no token lengths, no over-long records). The
limit is ``max_seq_length`` from ``--config`` (the shipped ``training_config.yml`` by default) unless
``--max_seq_length`` is given; ``system_prompt`` comes from the same config. Exit status: 0 every record is
good, 1 some are bad, 2 the command itself is wrong (missing tokenizer, bad config).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .config import DEFAULT_CONFIG_PATH, ConfigError, load_training_config
from .records import Dataset, read_dataset

EXIT_VALID = 0
EXIT_BAD_RECORDS = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sagemaker_src.llm_lora validate",
        description="Check JSONL training data (chat, instruction or extraction records) without training.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="JSONL files or directories of them")
    parser.add_argument("--tokenizer", help="model directory, .gguf file or Hub ID whose tokenizer measures lengths")
    parser.add_argument(
        "--config", default=str(DEFAULT_CONFIG_PATH), help="training_config.yml (max_seq_length, system_prompt)"
    )
    parser.add_argument("--max_seq_length", "--max-seq-length", type=int, help="override the config's max_seq_length")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    arguments = build_parser().parse_args(argv)
    try:
        config = load_training_config(arguments.config)
    except ConfigError as error:
        print(f"error: {error}", file=out)
        return EXIT_USAGE
    max_seq_length = arguments.max_seq_length or config.max_seq_length
    tokenizer = None
    if arguments.tokenizer:
        from .modeling import load_tokenizer

        try:
            tokenizer = load_tokenizer(arguments.tokenizer)
        except (OSError, ValueError) as error:
            print(f"error: --tokenizer {arguments.tokenizer}: {error}", file=out)
            return EXIT_USAGE
    total_bad = 0
    for path in arguments.paths:
        total_bad += _report(path, tokenizer, max_seq_length, config.system_prompt, out)
    print(f"RESULT: {'OK' if not total_bad else f'{total_bad} bad record(s)'}", file=out)
    return EXIT_BAD_RECORDS if total_bad else EXIT_VALID


def _report(path: Path, tokenizer: object, max_seq_length: int, system_prompt: str | None, out: TextIO) -> int:
    """Print one dataset's report; return its number of bad records (whole-file problems count as one)."""
    lengths: list[int] = []
    if tokenizer is not None:
        from .tokenization import ChatTemplateError, prepare_data

        try:
            prepared = prepare_data(path, tokenizer, max_seq_length=max_seq_length, system_prompt=system_prompt)
        except ChatTemplateError as error:
            print(f"{path}: tokenizer: {error}", file=out)
            return 1
        dataset: Dataset = prepared.dataset
        lengths = prepared.lengths
    else:
        dataset = read_dataset(path, system_prompt=system_prompt)
    bad_lines = dataset.bad_lines
    file_errors = [error for error in dataset.errors if error.line is None]
    good = [record for record in dataset.records if (record.path, record.line) not in bad_lines]
    formats = Counter(record.format.value for record in dataset.records)
    print(f"== {path}", file=out)
    for name in dataset.files:
        shown = dataset.formats.get(name)
        print(f"  {name}: format {shown.value if shown else 'unknown'}", file=out)
    print(
        f"  records: {len(good) + len(bad_lines)} ({len(good)} good, {len(bad_lines)} bad); "
        f"formats: {', '.join(f'{name} {count}' for name, count in sorted(formats.items())) or 'none'}",
        file=out,
    )
    if tokenizer is not None and lengths:
        from .tokenization import length_percentiles

        stats = length_percentiles(lengths)
        over = sum(1 for length in lengths if length > max_seq_length)
        print(
            f"  token lengths (chat template): p50 {stats['p50']} | p90 {stats['p90']} | p99 {stats['p99']} | "
            f"max {stats['max']} | max_seq_length {max_seq_length} ({over} over)",
            file=out,
        )
    elif tokenizer is None:
        print("  token lengths: not measured (pass --tokenizer)", file=out)
    if dataset.errors:
        print(f"  problems ({len(dataset.errors)}):", file=out)
        for problem in dataset.errors:
            print(f"    {problem}", file=out)
    return len(bad_lines) + len(file_errors)


if __name__ == "__main__":
    sys.exit(main())
