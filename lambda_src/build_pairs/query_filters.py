"""Drop generated queries that teach a retrieval model nothing about their document.

- **generic**: none of the query's content words (three letters or more, not a stop word) occurs in its
  document, or it asks about "this function/method/class/document/module/code" without naming anything.
  Such a query matches any document of its kind, so it is an in-batch negative for all of them.
- **copied**: the query is a sentence of its document copied verbatim (six words or more), or code (a
  ``>>>`` prompt, an assignment, an import or a definition). Retrieval then only learns string overlap, which the base model
  already does well, and people do not search with the document's own sentences.

A switch of the pipeline (``query_filter``) and of the bench, off by default: each is measured on the demo's
questions written by people before it becomes a default (see ``bench/retrieval_bench.py``).
"""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    "the and for are but not you all any can had her was one our out has him his how its may new now old see two "
    "who did get let say she too use what when where which while with will would this that these those there their "
    "them then than from into onto over under about does doing done have having been being some such only also "
    "just more most other each many much very your yours could should shall might must given give using used uses "
    "way ways like make makes made want need needs find found there here why whose whom".split()
)
_WORD = re.compile(r"[a-z0-9_]+")
_VAGUE = re.compile(
    r"\b(this|the|that|these)\s+(function|method|class|document|module|code|object|routine|api|snippet|docstring)s?\b"
)
_CODE = re.compile(r">>>|^\s*[\w.\[\]]+\s*=[^=]|^\s*(import|from|def|class)\s")
MIN_COPIED_WORDS = 6
VAGUE_NOUNS = frozenset(
    {"function", "method", "class", "document", "module", "code", "object", "routine", "api", "snippet", "docstring"}
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def content_words(text: str) -> set[str]:
    return {word for word in _words(text) if len(word) >= 3 and word not in STOP_WORDS}


def problem(query: str, document: str) -> str | None:
    """``"generic"``, ``"copied"`` or None for a query worth training on."""
    words = content_words(query)
    document_words = set(_words(document))
    if _CODE.search(query):
        return "copied"
    query_words = _words(query)
    if len(query_words) >= MIN_COPIED_WORDS and f" {' '.join(query_words)} " in f" {' '.join(_words(document))} ":
        return "copied"
    if not words & document_words:
        return "generic"
    if _VAGUE.search(query.casefold()) and not (words - VAGUE_NOUNS) & document_words:
        return "generic"
    return None
