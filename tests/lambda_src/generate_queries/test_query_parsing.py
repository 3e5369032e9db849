"""Parsing a model's answer into queries: the shapes models answer in, and what is dropped."""

from __future__ import annotations

import pytest

ANSWERS = [
    pytest.param(
        "1. How do I rotate KMS keys?\n2. What is envelope encryption?\n3. Key policy versus IAM policy",
        ["How do I rotate KMS keys?", "What is envelope encryption?", "Key policy versus IAM policy"],
        id="numbered",
    ),
    pytest.param(
        "1) first search query\n(2) second search query\n3: third search query",
        ["first search query", "second search query", "third search query"],
        id="numbered-parentheses",
    ),
    pytest.param(
        "- rotate keys every year\n* envelope encryption explained\n• key policy examples",
        ["rotate keys every year", "envelope encryption explained", "key policy examples"],
        id="bullets",
    ),
    pytest.param(
        '["how to rotate keys", "envelope encryption basics"]',
        ["how to rotate keys", "envelope encryption basics"],
        id="json-array",
    ),
    pytest.param(
        'Sure! Here they are:\n```json\n{"queries": ["how to rotate keys", {"query": "what is a CMK"}]}\n```',
        ["how to rotate keys", "what is a CMK"],
        id="json-object-in-fence",
    ),
    pytest.param(
        '1. "How do I rotate keys?"\n2. \u201cWhat is envelope encryption?\u201d\n3. **Key policy basics**',
        ["How do I rotate keys?", "What is envelope encryption?", "Key policy basics"],
        id="quotes-and-bold",
    ),
    pytest.param(
        "Query 1: rotate keys yearly\nQ2: envelope encryption basics\nQuestion 3 - key policy examples",
        ["rotate keys yearly", "envelope encryption basics", "key policy examples"],
        id="labels",
    ),
    pytest.param(
        "Here are 3 search queries:\n\n1. rotate keys yearly\n2. envelope encryption\n\nLet me know if you need more!",
        ["rotate keys yearly", "envelope encryption"],
        id="preamble-and-closing",
    ),
    pytest.param(
        "rotate keys yearly\nenvelope encryption basics",
        ["rotate keys yearly", "envelope encryption basics"],
        id="plain-lines",
    ),
    pytest.param(
        "What is a key? How do grants work? Why rotate keys?",
        ["What is a key?", "How do grants work?", "Why rotate keys?"],
        id="one-line-of-questions",
    ),
    pytest.param(
        "1. Q-learning reward shaping\n2. grid [1, 2] world setup",
        ["Q-learning reward shaping", "grid [1, 2] world setup"],
        id="brackets-that-are-not-json",
    ),
]


@pytest.mark.parametrize(("answer", "expected"), ANSWERS)
def test_answer_shapes_give_the_same_clean_queries(generator, answer: str, expected: list[str]) -> None:
    assert generator.parsing.parse_queries(answer, limit=5) == expected


def test_empty_duplicate_short_long_and_refusal_lines_are_dropped(generator) -> None:
    # GIVEN an answer with every kind of unusable line
    answer = "\n".join(
        [
            "1. ",  # empty
            "2. How do I rotate keys?",
            "3. how do I   ROTATE keys",  # duplicate (case, spacing, punctuation)
            "4. keys",  # too short
            "5. " + "very long query " * 30,  # too long
            "6. I cannot help with that request.",  # refusal
            "7. What is envelope encryption?",
        ]
    )

    # WHEN it is parsed
    queries = generator.parsing.parse_queries(answer, limit=10)

    # THEN only the two usable, distinct queries remain
    assert queries == ["How do I rotate keys?", "What is envelope encryption?"]


def test_at_most_the_requested_number_of_queries_is_kept(generator) -> None:
    answer = "\n".join(f"{number}. distinct query number {number}" for number in range(1, 9))
    assert generator.parsing.parse_queries(answer, limit=3) == [f"distinct query number {n}" for n in (1, 2, 3)]


def test_an_answer_without_queries_gives_none(generator) -> None:
    assert generator.parsing.parse_queries("", limit=3) == []
    assert generator.parsing.parse_queries("I'm sorry, I can't do that.", limit=3) == []
