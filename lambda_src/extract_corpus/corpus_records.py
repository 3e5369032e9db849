"""The records every corpus source produces: documents, per-record errors, and a source's outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


class CorpusLineError(ValueError):
    """One source record is unusable; the message is the reason written to the rejects file."""


@dataclass(frozen=True)
class CorpusDocument:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "metadata": self.metadata}


@dataclass
class SourceOutcome:
    """What a source produced: the documents to keep, the counts, and why it may have produced nothing."""

    documents: list[CorpusDocument]
    rejected: int
    duplicates: int
    describe_empty: Callable[[str], str]


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
