"""Pull search queries out of a model's free-text answer.

Models answer in many shapes; all of these give the same queries::

    1. How do I rotate keys?          - How do I rotate keys?        ["How do I rotate keys?", ...]
    2) "What is envelope encryption?" * What is envelope encryption?  {"queries": ["How do I ...", ...]}

Numbering, bullets, ``Query 1:`` labels, Markdown emphasis and surrounding quotes are removed; a preamble
(``Here are 3 queries:``) and closing remarks are dropped; so are empty, duplicate (case- and
space-insensitive), too short, too long and refusal-like lines. At most ``limit`` queries are returned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MIN_QUERY_CHARACTERS = 8
MIN_QUERY_WORDS = 2
MAX_QUERY_CHARACTERS = 300
MAX_QUERY_WORDS = 50

_MARKER = re.compile(
    r"""^\s*(?:
        [-*•·‣▪–—+]+\s*                                     # bullets
      | \(?\d{1,2}\s*[.):\]]\s*                             # 1.  1)  (1)  1:  1]
      | \#\d{1,2}[.:)]?\s*                                  # #1
      | (?:query|question)\s*\#?\d{0,2}\s*[:.)\-–]\s*       # Query 1:  Question -
      | q\s*\d{0,2}\s*[:.)]\s*                              # Q1:  Q.
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_QUOTES = "\"'`“”‘’«»"
_REFUSALS = ("i can't", "i cannot", "i'm sorry", "i am sorry", "as an ai", "sorry,")
_JSON_KEYS = ("queries", "questions", "search_queries")
_ITEM_KEYS = ("query", "question", "text")


def parse_queries(answer: str, limit: int) -> list[str]:
    """Up to ``limit`` distinct, clean queries found in ``answer`` (possibly none)."""
    candidates = _json_candidates(answer)
    if candidates is None:
        candidates = _line_candidates(answer)
    queries: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        query = clean_query(candidate)
        key = " ".join(query.casefold().split()).rstrip("?.! ")
        if not acceptable(query) or key in seen:
            continue
        seen.add(key)
        queries.append(query)
        if len(queries) == limit:
            break
    return queries


def clean_query(text: str) -> str:
    text = text.strip()
    for _ in range(2):  # "1. **"Query"**" needs a marker pass, an emphasis pass, then quotes
        text = _MARKER.sub("", text, count=1).strip()
        text = re.sub(r"^(\*\*|__)(.*)\1$", r"\2", text).strip()
        text = text.rstrip(",;").strip()
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
            text = text[1:-1].strip()
    return " ".join(text.split())


def acceptable(query: str) -> bool:
    words = query.split()
    if not MIN_QUERY_CHARACTERS <= len(query) <= MAX_QUERY_CHARACTERS:
        return False
    if not MIN_QUERY_WORDS <= len(words) <= MAX_QUERY_WORDS:
        return False
    if query.casefold().startswith(_REFUSALS):
        return False
    return not query.endswith(":")  # a heading such as "Queries about encryption:"


def _json_candidates(answer: str) -> list[str] | None:
    """Strings from the first JSON array or object in the answer, or ``None`` when there is none."""
    for opening, closing in (("[", "]"), ("{", "}")):
        start, end = answer.find(opening), answer.rfind(closing)
        if start == -1 or end <= start:
            continue
        try:
            value = json.loads(answer[start : end + 1])
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            value = next((value[key] for key in _JSON_KEYS if isinstance(value.get(key), list)), None)
        strings = [text for text in _strings(value) if text] if isinstance(value, list) else []
        if strings:
            return strings
    return None


def _strings(items: Iterable[Any]) -> Iterable[str]:
    for item in items:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield next((item[key] for key in _ITEM_KEYS if isinstance(item.get(key), str)), "")


def _line_candidates(answer: str) -> list[str]:
    lines = [line.strip() for line in answer.splitlines() if line.strip() and not line.strip().startswith("```")]
    marked = [line for line in lines if _MARKER.match(line)]
    if marked:
        return marked  # a list is present: unmarked lines are preamble or commentary
    if len(lines) == 1 and lines[0].count("?") > 1:
        return [part.strip() + "?" for part in lines[0].split("?") if part.strip()]
    return [line for line in lines if not line.endswith(":")]
