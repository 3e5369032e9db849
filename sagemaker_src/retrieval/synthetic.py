"""A small synthetic retrieval set for tests and smoke runs: passages with made-up distinctive keywords.

Each passage pairs an invented tool name with a subject; training queries and held-out queries ask about
the same passages in different words, so fine-tuning has to learn the invented names, which the base
model knows nothing about.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from .data import EVAL_CORPUS_FILE, EVAL_FILE, TRAIN_FILE

_SYLLABLES = ["zor", "blax", "quen", "trif", "vel", "mox", "drab", "pil", "kesh", "yun", "gol", "fript"]
_SUBJECTS = [
    "telescope calibration",
    "star catalog matching",
    "spectral line fitting",
    "image stacking",
    "cosmic ray removal",
    "coordinate transforms",
    "time scale conversion",
    "flux unit handling",
    "FITS header editing",
    "light curve smoothing",
    "photometric zero points",
    "sky background estimation",
    "orbit propagation",
    "redshift measurement",
    "point spread modelling",
    "data table joins",
    "error propagation",
    "periodogram search",
    "source extraction",
    "airmass correction",
]
_ACTIONS = ["computes", "validates", "caches", "plots", "exports", "parallelises"]


def synthetic_documents(count: int = 60, *, seed: int = 0) -> list[dict[str, str]]:
    """``count`` documents ``{"id", "text", "name", "subject", "action"}`` with unique invented names."""
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.sample(_SYLLABLES, 3)))
    documents = []
    for index, name in enumerate(sorted(names)):
        subject = _SUBJECTS[index % len(_SUBJECTS)]
        action = _ACTIONS[index % len(_ACTIONS)]
        text = (
            f"The {name} routine {action} results for {subject}. Call {name} with a table of inputs; "
            f"it returns a new table and never modifies its argument."
        )
        documents.append({"id": f"doc-{index:03d}", "text": text, "name": name, "subject": subject, "action": action})
    return documents


def synthetic_pairs(documents: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(training pairs, held-out pairs): two differently worded queries per document."""
    train, held_out = [], []
    for document in documents:
        train.append(
            {"query": f"what does {document['name']} do", "passage": document["text"], "doc_id": document["id"]}
        )
        held_out.append({"query": f"{document['name']} usage", "passage": document["text"], "doc_id": document["id"]})
    return train, held_out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_synthetic_dataset(directory: Path, count: int = 60, *, seed: int = 0) -> Path:
    """``train.jsonl``, ``eval.jsonl`` and ``eval_corpus.jsonl`` in ``directory``; returns it."""
    documents = synthetic_documents(count, seed=seed)
    train, held_out = synthetic_pairs(documents)
    write_jsonl(directory / TRAIN_FILE, train)
    write_jsonl(directory / EVAL_FILE, held_out)
    write_jsonl(directory / EVAL_CORPUS_FILE, [{"id": doc["id"], "text": doc["text"]} for doc in documents])
    return directory
