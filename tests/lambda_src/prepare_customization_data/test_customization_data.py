"""The conversion and validation library: formats, round trips, every kind of bad record, split and metadata."""

from __future__ import annotations

import json

import pytest

SOURCE = "train.jsonl"


def chat(*turns: tuple[str, str]) -> dict:
    return {"messages": [{"role": role, "content": content} for role, content in turns]}


GOOD_CHATS = [
    chat(
        ("system", "You answer about invoices."),
        ("user", f"What is invoice {n}'s total?"),
        ("assistant", f"{n * 10} EUR."),
    )
    for n in range(1, 11)
] + [chat(("user", "Hi"), ("assistant", "Hello."), ("user", "Due date of invoice 7?"), ("assistant", "2024-03-01."))]


def jsonl(records: list) -> list[bytes]:
    return [json.dumps(record).encode() for record in records]


def run(preparer, lines, target="conversation", **limits):
    return preparer.data.convert_and_validate(
        lines, source_name=SOURCE, target_format=target, limits=preparer.data.Limits(**limits)
    )


@pytest.mark.parametrize("target", ["conversation", "prompt_completion"])
def test_a_good_chat_file_round_trips(preparer, target) -> None:
    # GIVEN eleven chats, with a system message and with several turns
    # WHEN they are converted
    result = run(preparer, jsonl(GOOD_CHATS), target)

    # THEN there is no problem and parsing the output back gives the same conversations
    assert result.ok and len(result.train) + len(result.validation) == 11
    data = preparer.data
    back = {data.from_target(json.loads(json.dumps(record))) for record in result.train + result.validation}
    expected = {
        data.Conversation(
            c["messages"][0]["content"] if c["messages"][0]["role"] == "system" else None,
            tuple((m["role"], m["content"]) for m in c["messages"] if m["role"] != "system"),
        )
        for c in GOOD_CHATS
    }
    assert back == expected


def test_conversation_output_has_the_bedrock_schema(preparer) -> None:
    result = run(preparer, jsonl(GOOD_CHATS[:2]))
    record = (result.train + result.validation)[0]
    assert record["schemaVersion"] == "bedrock-conversation-2024"
    assert record["system"] == [{"text": "You answer about invoices."}]
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
    assert all(list(m["content"][0]) == ["text"] for m in record["messages"])


def test_prompt_completion_output_uses_the_llama3_template(preparer) -> None:
    result = run(preparer, jsonl([GOOD_CHATS[-1], GOOD_CHATS[0]]), "prompt_completion")
    multi_turn = next(r for r in result.train + result.validation if "Hello." in r["prompt"])
    assert multi_turn == {
        "prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nDue date of invoice 7?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "completion": "2024-03-01.",
    }


def test_instruction_and_prompt_completion_sources_convert(preparer) -> None:
    instructions = [
        {"instruction": "Translate to French", "input": "cat", "output": "chat"},
        {"instruction": "Say hi", "input": "", "output": "hi"},
    ]
    converted = run(preparer, jsonl(instructions))
    users = sorted(r["messages"][0]["content"][0]["text"] for r in converted.train + converted.validation)
    assert converted.ok and users == ["Say hi", "Translate to French\n\ncat"]
    assert converted.metadata["source_format"] == "instruction"

    pairs = [{"prompt": "2+2=", "completion": "4"}, {"prompt": "3+3=", "completion": "6"}]
    kept = run(preparer, jsonl(pairs), "prompt_completion")
    assert sorted(kept.train + kept.validation, key=lambda r: r["prompt"]) == pairs  # kept as they are
    as_conversation = run(preparer, jsonl(pairs))
    assert {preparer.data.from_target(r).turns for r in as_conversation.train + as_conversation.validation} == {
        (("user", "2+2="), ("assistant", "4")),
        (("user", "3+3="), ("assistant", "6")),
    }


GOOD_LINE = json.dumps(chat(("user", "q"), ("assistant", "a"))).encode()
MALFORMED = [
    ("bad JSON", b'{"messages": [', "(line)", "not valid JSON: Expecting value at column 15"),
    ("not UTF-8", b'{"prompt": "caf\xe9", "completion": "x"}', "(line)", "not valid UTF-8 (byte 0xe9 at offset 15)"),
    ("array line", b"[1, 2]", "(line)", "expected a JSON object, got array"),
    ("string line", b'"hello"', "(line)", "expected a JSON object, got string"),
    (
        "unknown format",
        b'{"text": "x"}',
        "(record)",
        "unknown format: expected 'messages', 'instruction'/'output' or 'prompt'/'completion' fields",
    ),
    ("messages not a list", b'{"messages": "hi"}', "messages", "expected an array of messages, got string"),
    ("no messages", b'{"messages": []}', "messages", "empty; expected at least a user and an assistant message"),
    ("message not object", b'{"messages": ["hi"]}', "messages[0]", "expected an object, got string"),
    ("missing role", b'{"messages": [{"content": "q"}]}', "messages[0].role", "missing"),
    (
        "unknown role",
        b'{"messages": [{"role": "tool", "content": "q"}]}',
        "messages[0].role",
        "unknown role 'tool'; expected system, user or assistant",
    ),
    ("missing content", b'{"messages": [{"role": "user"}]}', "messages[0].content", "missing"),
    (
        "content wrong type",
        b'{"messages": [{"role": "user", "content": 5}]}',
        "messages[0].content",
        "expected a string, got number",
    ),
    (
        "empty content",
        b'{"messages": [{"role": "user", "content": "  "}]}',
        "messages[0].content",
        "empty (only whitespace)",
    ),
    (
        "assistant first",
        b'{"messages": [{"role": "assistant", "content": "a"}]}',
        "messages[0].role",
        "expected 'user' (roles alternate user/assistant), got 'assistant'",
    ),
    (
        "two users",
        json.dumps(chat(("user", "q"), ("user", "q2"), ("assistant", "a"))).encode(),
        "messages[1].role",
        "expected 'assistant' (roles alternate user/assistant), got 'user'",
    ),
    (
        "system not first",
        json.dumps(chat(("user", "q"), ("system", "s"), ("assistant", "a"))).encode(),
        "messages[1].role",
        "a system message may only be the first message",
    ),
    (
        "ends with user",
        json.dumps(chat(("user", "q"), ("assistant", "a"), ("user", "q2"))).encode(),
        "messages",
        "the last message must be from the assistant, got 'user'",
    ),
    ("only system", json.dumps(chat(("system", "s"))).encode(), "messages", "no user or assistant message"),
    ("instruction missing output", b'{"instruction": "do"}', "output", "missing"),
    (
        "instruction input wrong type",
        b'{"instruction": "do", "input": 3, "output": "ok"}',
        "input",
        "expected a string, got number",
    ),
    ("empty completion", b'{"prompt": "p", "completion": ""}', "completion", "empty (only whitespace)"),
    ("prompt null", b'{"prompt": null, "completion": "c"}', "prompt", "missing"),
]


@pytest.mark.parametrize(("case", "line", "field", "reason"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_a_malformed_record_is_reported_precisely(preparer, case, line, field, reason) -> None:
    # GIVEN a good record, then the bad one on line 2 (the first record fixes the file's format: chat)
    first = GOOD_LINE
    if line.startswith((b'{"prompt', b'{"instruction')):
        first = (
            b'{"prompt": "p", "completion": "c"}'
            if line.startswith(b'{"prompt')
            else b'{"instruction": "i", "output": "o"}'
        )

    # WHEN the file is converted
    result = run(preparer, [first, line])

    # THEN exactly that record is reported, and nothing is returned to write
    assert [problem.to_dict() for problem in result.problems] == [
        {"file": SOURCE, "line": 2, "field": field, "reason": reason}
    ]
    assert result.train == [] and result.validation == []


def test_mixed_formats_are_reported_against_the_first_record(preparer) -> None:
    lines = [GOOD_LINE, b"", b'{"prompt": "p", "completion": "c"}']
    (problem,) = run(preparer, lines).problems
    assert (
        str(problem) == f"{SOURCE}:3: (record): prompt_completion record, but line 1 is chat; a file holds one format"
    )


def test_file_level_problems(preparer) -> None:
    assert [str(p) for p in run(preparer, [b"", b"  "]).problems] == [f"{SOURCE}:0: (file): empty: no records"]
    assert [str(p) for p in run(preparer, [GOOD_LINE] * 3, min_records=5).problems] == [
        f"{SOURCE}:0: (file): 3 records; at least 5 needed"
    ]
    assert [str(p) for p in run(preparer, [GOOD_LINE] * 6, max_records=5).problems] == [
        f"{SOURCE}:0: (file): 6 records; at most 5 allowed"
    ]


def test_an_over_long_record_names_its_estimate(preparer) -> None:
    long_line = json.dumps(chat(("user", "x" * 60), ("assistant", "y" * 11))).encode()  # 71 chars -> ceil(71/3.5) = 21
    (problem,) = run(preparer, [GOOD_LINE, long_line], max_tokens_per_record=20).problems
    assert problem.line == 2 and problem.field == "(record)"
    assert (
        problem.reason
        == "about 21 tokens (chars/3.5 (conservative; no tokenizer shipped for this model)), over the limit of 20"
    )


def test_every_bad_record_is_reported(preparer) -> None:
    lines = [GOOD_LINE, b"{", b"[]", GOOD_LINE, b'{"messages": []}']
    assert [problem.line for problem in run(preparer, lines).problems] == [2, 3, 5]


def test_the_split_is_deterministic_and_seeded(preparer) -> None:
    records = [chat(("user", f"question {n}"), ("assistant", f"answer {n}")) for n in range(200)]
    data = preparer.data

    def validation(seed: int, order: list) -> list:
        result = data.convert_and_validate(
            jsonl(order),
            source_name=SOURCE,
            target_format="conversation",
            limits=data.Limits(max_records=1000),
            validation_fraction=0.1,
            seed=seed,
        )
        return sorted(json.dumps(record) for record in result.validation)

    first = validation(42, records)
    assert len(first) == 20
    assert validation(42, records) == first == validation(42, list(reversed(records)))  # independent of order
    assert validation(7, records) != first


def test_identical_records_stay_on_one_side(preparer) -> None:
    records = [chat(("user", f"q{n % 5}"), ("assistant", "a")) for n in range(20)]  # each record four times
    result = run(preparer, jsonl(records))
    train, validation = {json.dumps(r) for r in result.train}, {json.dumps(r) for r in result.validation}
    assert validation and train.isdisjoint(validation)
    assert result.metadata["duplicate_records"] == 15


def test_metadata_numbers(preparer) -> None:
    # GIVEN prompt/completion records of 7, 14, 21 and 35 characters -> 2, 4, 6 and 10 estimated tokens
    pairs = [{"prompt": "p" * (size - 1), "completion": "c"} for size in (7, 14, 21, 35)]
    result = run(preparer, jsonl(pairs), "prompt_completion")
    assert result.metadata == {
        "source": SOURCE,
        "source_format": "prompt_completion",
        "target_format": "prompt_completion",
        "records": 4,
        "train_records": 3,
        "validation_records": 1,
        "duplicate_records": 0,
        "validation_fraction": 0.1,
        "seed": 42,
        "token_estimate": "chars/3.5 (conservative; no tokenizer shipped for this model)",
        "max_tokens_per_record": 4096,
        "tokens_per_record": {"min": 2, "mean": 5.5, "p50": 4, "p95": 10, "max": 10},
    }


def test_bad_arguments_are_refused(preparer) -> None:
    data = preparer.data
    with pytest.raises(ValueError, match="target_format"):
        data.convert_and_validate([], source_name=SOURCE, target_format="alpaca", limits=data.Limits())
    with pytest.raises(ValueError, match="validation_fraction"):
        data.convert_and_validate(
            [], source_name=SOURCE, target_format="conversation", limits=data.Limits(), validation_fraction=1.5
        )
    with pytest.raises(ValueError, match="min_records"):
        data.Limits(min_records=10, max_records=5)
