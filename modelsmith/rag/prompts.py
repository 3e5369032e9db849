"""The prompt: an instruction to answer from the numbered sources only and cite them, the sources, the question.

Messages are chat-style (``system`` then ``user``) for a local model's chat template; Bedrock gets the same
text as one user message (:func:`as_single_prompt`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from modelsmith.rag.store import Hit

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources you are given. Cite the sources you use in square "
    "brackets, for example [1] or [2][3]. If the sources do not contain the answer, say that you do not know."
)
_CITATION = re.compile(r"\[(\d{1,2})\]")


def format_sources(hits: Sequence[Hit]) -> str:
    return "\n\n".join(f"[{number}] ({hit.chunk.source})\n{hit.chunk.text}" for number, hit in enumerate(hits, start=1))


def build_messages(question: str, hits: Sequence[Hit]) -> list[dict[str, str]]:
    user = (
        f"Sources:\n\n{format_sources(hits)}\n\nQuestion: {question.strip()}"
        if hits
        else f"Question: {question.strip()}"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def as_single_prompt(messages: Sequence[dict[str, str]]) -> str:
    return "\n\n".join(message["content"] for message in messages)


def cited_sources(answer: str, source_count: int) -> list[int]:
    """The source numbers an answer cites, in order of first citation (numbers beyond the sources ignored)."""
    numbers = [int(match) for match in _CITATION.findall(answer)]
    return list(dict.fromkeys(number for number in numbers if 1 <= number <= source_count))
