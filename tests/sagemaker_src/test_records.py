"""Dataset checks: every malformed record or file gets an error naming file:line and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sagemaker_src.llm_lora.records import DatasetFormat, read_dataset, resolve_dataset_files
from sagemaker_src.llm_lora.tokenization import prepare_data

GOOD_CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
GOOD_INSTRUCTION = {"instruction": "Summarise.", "input": "A long note.", "output": "A note."}
GOOD_EXTRACTION = {"instruction": "Extract.", "input": "Stage II breast cancer.", "output": {"stage": "stage II"}}


def _line(value: Any) -> bytes:
    return (value if isinstance(value, str) else json.dumps(value)).encode("utf-8") + b"\n"


def _chat(*messages: Any) -> dict[str, Any]:
    return {"messages": list(messages)}


def _user(content: Any = "Hi") -> dict[str, Any]:
    return {"role": "user", "content": content}


def _assistant(content: Any = "Hello") -> dict[str, Any]:
    return {"role": "assistant", "content": content}


# (case id, file bytes, the exact error expected; "{f}" is the file path). The bad record is on line 2 after a
# good first line unless the case is about the whole file.
MALFORMED = [
    ("bad JSON", _line(GOOD_CHAT) + b'{"messages": [}\n', "{f}:2: invalid JSON: Expecting value (column 15)"),
    ("not an object", _line(GOOD_CHAT) + _line([1, 2]), "{f}:2: expected a JSON object, got array"),
    (
        "unknown format",
        _line(GOOD_CHAT) + _line({"prompt": "x", "completion": "y"}),
        "{f}:2: unknown format: expected 'messages' (chat) or 'instruction' and 'output' (instruction); keys: completion, prompt",
    ),
    (
        "messages not a list",
        _line(GOOD_CHAT) + _line({"messages": "hi"}),
        "{f}:2: messages: expected an array of messages, got string",
    ),
    (
        "messages empty",
        _line(GOOD_CHAT) + _line({"messages": []}),
        "{f}:2: messages: empty: a conversation needs a user and an assistant message",
    ),
    (
        "missing content",
        _line(GOOD_CHAT) + _line(_chat(_user(), {"role": "assistant"})),
        "{f}:2: messages[1].content: missing",
    ),
    (
        "missing role",
        _line(GOOD_CHAT) + _line(_chat({"content": "Hi"}, _assistant())),
        "{f}:2: messages[0].role: missing",
    ),
    (
        "content wrong type",
        _line(GOOD_CHAT) + _line(_chat(_user(42), _assistant())),
        "{f}:2: messages[0].content: expected a string, got number",
    ),
    ("empty content", _line(GOOD_CHAT) + _line(_chat(_user(), _assistant("   "))), "{f}:2: messages[1].content: empty"),
    (
        "unknown role",
        _line(GOOD_CHAT) + _line(_chat(_user(), {"role": "bot", "content": "x"})),
        "{f}:2: messages[1].role: unknown role 'bot'; allowed: system, user, assistant",
    ),
    (
        "roles out of order",
        _line(GOOD_CHAT) + _line(_chat(_user(), _user(), _assistant())),
        "{f}:2: messages[1].role: expected 'assistant', got 'user' (after an optional system message, user and assistant alternate)",
    ),
    (
        "starts with the assistant",
        _line(GOOD_CHAT) + _line(_chat(_assistant(), _user(), _assistant())),
        "{f}:2: messages[0].role: expected 'user', got 'assistant' (after an optional system message, user and assistant alternate)",
    ),
    (
        "system not first",
        _line(GOOD_CHAT) + _line(_chat(_user(), _assistant(), {"role": "system", "content": "x"})),
        "{f}:2: messages[2].role: 'system' is only allowed as the first message",
    ),
    (
        "ends with the user",
        _line(GOOD_CHAT) + _line(_chat(_user(), _assistant(), _user())),
        "{f}:2: messages: conversation ends with a 'user' message; the last message must be the assistant's",
    ),
    (
        "unknown message field",
        _line(GOOD_CHAT) + _line(_chat({**_user(), "name": "ann"}, _assistant())),
        "{f}:2: messages[0].name: unknown field; allowed: content, role",
    ),
    (
        "unknown record field",
        _line(GOOD_CHAT) + _line({**GOOD_CHAT, "id": 7}),
        "{f}:2: id: unknown field; allowed: messages",
    ),
    ("duplicate key", _line(GOOD_CHAT) + b'{"messages": [], "messages": []}\n', "{f}:2: messages: duplicate key"),
    ("instruction missing output", _line(GOOD_INSTRUCTION) + _line({"instruction": "Do."}), "{f}:2: output: missing"),
    (
        "instruction missing instruction",
        _line(GOOD_INSTRUCTION) + _line({"input": "x", "output": "y"}),
        "{f}:2: instruction: missing",
    ),
    (
        "instruction wrong type",
        _line(GOOD_INSTRUCTION) + _line({"instruction": ["Do."], "output": "y"}),
        "{f}:2: instruction: expected a string, got array",
    ),
    (
        "input wrong type",
        _line(GOOD_INSTRUCTION) + _line({"instruction": "Do.", "input": 3, "output": "y"}),
        "{f}:2: input: expected a string, got number",
    ),
    (
        "output wrong type",
        _line(GOOD_INSTRUCTION) + _line({"instruction": "Do.", "output": 3}),
        "{f}:2: output: expected a string or an extraction object, got number",
    ),
    ("empty output", _line(GOOD_INSTRUCTION) + _line({"instruction": "Do.", "output": ""}), "{f}:2: output: empty"),
    (
        "unknown extraction field",
        _line(GOOD_EXTRACTION) + _line({**GOOD_EXTRACTION, "output": {"stage": "II", "tumor_size": "3 cm"}}),
        (
            "{f}:2: output.tumor_size: unknown extraction field; allowed: cancer_type, stage, gene_mutation, "
            "biomarker, treatment, response, metastasis_site"
        ),
    ),
    (
        "extraction field wrong type",
        _line(GOOD_EXTRACTION) + _line({**GOOD_EXTRACTION, "output": {"stage": 2}}),
        "{f}:2: output.stage: expected a string or null, got number",
    ),
    (
        "extraction field empty",
        _line(GOOD_EXTRACTION) + _line({**GOOD_EXTRACTION, "output": {"biomarker": " "}}),
        "{f}:2: output.biomarker: empty string; use null or leave the field out",
    ),
    (
        "non-UTF-8 bytes",
        _line(GOOD_CHAT) + b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n',
        "{f}:2: not valid UTF-8: byte 0xe9 at column 47",
    ),
    (
        "formats mixed in one file",
        _line(GOOD_CHAT) + _line(GOOD_INSTRUCTION),
        "{f}:2: instruction record in a file of chat records (format set by line 1); one file holds one format",
    ),
    (
        "instruction and extraction mixed",
        _line(GOOD_EXTRACTION) + _line(GOOD_INSTRUCTION),
        "{f}:2: instruction record in a file of extraction records (format set by line 1); one file holds one format",
    ),
    ("empty file", b"", "{f}: empty file: no records"),
    ("only blank lines", b"\n  \n\n", "{f}: empty file: no records"),
]


@pytest.mark.parametrize(("content", "expected"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_record_names_file_line_and_field(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)

    dataset = read_dataset(path)

    assert [str(error) for error in dataset.errors] == [expected.format(f=path)]
    assert not dataset.ok


def test_there_are_at_least_fifteen_malformed_cases() -> None:
    assert len(MALFORMED) >= 15


def test_every_problem_in_a_record_and_every_bad_record_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(
        _line(_chat({"role": "user", "content": 1}, {"role": "bot", "content": ""}))
        + _line(GOOD_CHAT)
        + _line("not json")
    )

    dataset = read_dataset(path)

    assert [str(error) for error in dataset.errors] == [
        f"{path}:1: messages[0].content: expected a string, got number",
        f"{path}:1: messages[1].role: unknown role 'bot'; allowed: system, user, assistant",
        f"{path}:1: messages[1].content: empty",
        f"{path}:3: invalid JSON: Expecting value (column 1)",
    ]
    assert dataset.bad_lines == {(str(path), 1), (str(path), 3)}
    assert len(dataset.records) == 1


def test_over_long_record_is_an_error_not_truncated(tmp_path: Path, tiny_tokenizer: Any) -> None:
    path = tmp_path / "train.jsonl"
    long_answer = "stage II breast cancer " * 40
    path.write_bytes(_line(GOOD_CHAT) + _line(_chat(_user(), _assistant(long_answer))))

    prepared = prepare_data(path, tiny_tokenizer, max_seq_length=64, system_prompt=None)

    (error,) = prepared.dataset.errors
    assert str(error).startswith(f"{path}:2: messages: ")
    assert str(error).endswith(" tokens with the chat template > max_seq_length 64")
    assert int(str(error).split("messages: ")[1].split(" tokens")[0]) > 64


def test_missing_file_is_reported(tmp_path: Path) -> None:
    dataset = read_dataset(tmp_path / "absent.jsonl")

    assert [str(error) for error in dataset.errors] == [
        f"{tmp_path / 'absent.jsonl'}: {tmp_path / 'absent.jsonl'}: no such file or directory"
    ]


def test_valid_formats_become_conversations(tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_bytes(b"\xef\xbb\xbf" + _line(GOOD_CHAT) + b"\n" + _line(GOOD_CHAT).replace(b"\n", b"\r\n"))
    instruction = tmp_path / "instruction.jsonl"
    instruction.write_bytes(_line(GOOD_INSTRUCTION) + _line({"instruction": "Say hi.", "output": "Hi"}))
    extraction = tmp_path / "extraction.jsonl"
    extraction.write_bytes(
        _line({**GOOD_EXTRACTION, "output": {"treatment": "olaparib", "stage": "stage II", "biomarker": None}})
    )

    chat_data = read_dataset(chat)
    instruction_data = read_dataset(instruction, system_prompt="Be brief.")
    extraction_data = read_dataset(extraction)

    assert chat_data.ok and [record.line for record in chat_data.records] == [1, 3]
    assert instruction_data.ok and instruction_data.records[0].format is DatasetFormat.INSTRUCTION
    assert instruction_data.records[0].messages == (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Summarise.\n\nA long note."},
        {"role": "assistant", "content": "A note."},
    )
    assert instruction_data.records[1].messages[1] == {"role": "user", "content": "Say hi."}
    (record,) = extraction_data.records
    assert record.format is DatasetFormat.EXTRACTION and extraction_data.is_extraction
    assert record.messages[-1]["content"] == '{"stage": "stage II", "treatment": "olaparib"}'  # schema order, no nulls
    assert record.reference == {"stage": "stage II", "treatment": "olaparib"}


def test_a_channel_directory_reads_every_jsonl_file(tmp_path: Path) -> None:
    (tmp_path / "b.jsonl").write_bytes(_line(GOOD_CHAT))
    (tmp_path / "a.jsonl").write_bytes(_line(GOOD_INSTRUCTION))
    (tmp_path / "notes.txt").write_text("ignored")

    assert [path.name for path in resolve_dataset_files(tmp_path)] == ["a.jsonl", "b.jsonl"]
    dataset = read_dataset(tmp_path)
    assert dataset.ok and len(dataset.records) == 2
    assert {Path(name).name: value.value for name, value in dataset.formats.items()} == {
        "a.jsonl": "instruction",
        "b.jsonl": "chat",
    }
