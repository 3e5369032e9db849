"""The prompt that asks a model for search queries, and the generation settings every request uses.

Prompt templates contain ``{document}`` and ``{count}``; they are filled by plain replacement (not
``str.format``) so braces in documents or templates need no escaping.
"""

from __future__ import annotations

DEFAULT_PROMPT_TEMPLATE = """You write search queries for a document retrieval system.

Read the document below. Write {count} different search queries that a user might type and that this \
document answers well. Use the document's own terminology, vary the wording, and make each query \
understandable without the document.

Reply with the queries only, one per line, numbered 1 to {count}.

Document:
{document}"""
PLACEHOLDERS = ("{document}", "{count}")
# Long documents are cut: the queries need the gist, and shorter prompts are cheaper and fit every model.
MAX_DOCUMENT_CHARACTERS = 6000
# Ten queries of up to ~30 tokens each fit in 400 tokens; the cap bounds cost when a model rambles.
MAX_OUTPUT_TOKENS = 400
TEMPERATURE = 0.7
TOP_P = 0.9


def render_prompt(template: str, document_text: str, count: int) -> str:
    """``template`` with ``{count}`` and then ``{document}`` filled (a document's own braces stay as they are)."""
    return template.replace("{count}", str(count)).replace("{document}", document_text[:MAX_DOCUMENT_CHARACTERS])
