"""The medical information-extraction schema: record checks, JSON extraction from generated text, scoring.

An extraction record is an instruction record whose ``output`` is an object with any of
:data:`EXTRACTION_FIELDS`, each a string (or null, meaning "not mentioned"). The model is trained to answer
with that object as compact JSON (:func:`canonical_json`). Generated answers are scored field by field
against the reference (:func:`score_extractions`): an answer with no parseable JSON object counts as every
field missing.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EXTRACTION_FIELDS: tuple[str, ...] = (
    "cancer_type",
    "stage",
    "gene_mutation",
    "biomarker",
    "treatment",
    "response",
    "metastasis_site",
)

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_SPACES = re.compile(r"\s+")


def extraction_problems(output: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) pairs for an ``output`` object of an extraction record; empty when it is valid."""
    problems = []
    for key, value in output.items():
        if key not in EXTRACTION_FIELDS:
            problems.append((f"output.{key}", f"unknown extraction field; allowed: {', '.join(EXTRACTION_FIELDS)}"))
        elif value is None:
            continue
        elif not isinstance(value, str):
            problems.append((f"output.{key}", f"expected a string or null, got {json_type_name(value)}"))
        elif not value.strip():
            problems.append((f"output.{key}", "empty string; use null or leave the field out"))
    return problems


def present_fields(output: Mapping[str, Any]) -> dict[str, str]:
    """The fields of a (valid) extraction object that carry a value, in schema order."""
    return {key: output[key] for key in EXTRACTION_FIELDS if isinstance(output.get(key), str) and output[key].strip()}


def canonical_json(output: Mapping[str, Any]) -> str:
    """The answer the model learns to write: the present fields, in schema order, as compact JSON."""
    return json.dumps(present_fields(output), ensure_ascii=False)


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in generated text, or None.

    Tolerates prose around the object, Markdown code fences, Python-style single quotes and a wrapper
    object (``{"output": {...}}``); returns None when nothing parses.
    """
    candidates = [match.group(1) for match in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        found = _first_object(candidate)
        if found is not None:
            return _unwrap(found)
    return None


def _first_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for start in (index for index, character in enumerate(text) if character == "{"):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = _python_literal(text, start)
        if isinstance(value, dict):
            return value
    return None


def _python_literal(text: str, start: int) -> Any:
    """A ``{...}`` written as a Python literal (single quotes, None), balanced from ``start``."""
    depth = 0
    quote: str | None = None
    for index in range(start, len(text)):
        character = text[index]
        if quote:
            if character == quote and text[index - 1] != "\\":
                quote = None
        elif character in "'\"":
            quote = character
        elif character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
            if depth == 0:
                try:
                    return ast.literal_eval(text[start : index + 1])
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    return None
    return None


def _unwrap(value: dict[str, Any]) -> dict[str, Any]:
    if not any(key in EXTRACTION_FIELDS for key in value):
        nested = [inner for inner in value.values() if isinstance(inner, dict)]
        if len(nested) == 1:
            return nested[0]
    return value


def normalize_value(value: Any) -> str | None:
    """Comparable form of a field value: lower case, single spaces, no trailing punctuation; None if empty."""
    if value is None:
        return None
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value if item is not None)
    elif isinstance(value, dict):
        return None
    text = _SPACES.sub(" ", str(value)).strip().strip(".;,").strip().lower()
    return text or None


@dataclass
class FieldCounts:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    def scores(self) -> dict[str, float | int]:
        predicted = self.true_positives + self.false_positives
        expected = self.true_positives + self.false_negatives
        precision = self.true_positives / predicted if predicted else 0.0
        recall = self.true_positives / expected if expected else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": expected,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
        }


def score_extractions(
    predictions: Iterable[Mapping[str, Any] | None], references: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Field-level precision, recall and F1 (micro over all fields, and per field).

    Per record and field: same normalised value in both is a true positive; a predicted value the reference
    lacks is a false positive; a reference value not predicted is a false negative; a wrong value is both.
    A prediction of None (unparseable output) predicts nothing, so all its reference fields are missed.
    """
    per_field = {name: FieldCounts() for name in EXTRACTION_FIELDS}
    records = 0
    unparseable = 0
    for prediction, reference in zip(predictions, references, strict=True):
        records += 1
        if prediction is None:
            unparseable += 1
            prediction = {}
        for name in EXTRACTION_FIELDS:
            predicted = normalize_value(prediction.get(name))
            expected = normalize_value(reference.get(name))
            counts = per_field[name]
            if predicted is not None and predicted == expected:
                counts.true_positives += 1
                continue
            if predicted is not None:
                counts.false_positives += 1
            if expected is not None:
                counts.false_negatives += 1
    total = FieldCounts(
        true_positives=sum(counts.true_positives for counts in per_field.values()),
        false_positives=sum(counts.false_positives for counts in per_field.values()),
        false_negatives=sum(counts.false_negatives for counts in per_field.values()),
    )
    return {
        "records": records,
        "unparseable": unparseable,
        "micro": total.scores(),
        "per_field": {name: counts.scores() for name, counts in per_field.items()},
    }


def json_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return "string"
