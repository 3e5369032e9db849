"""The datasets training accepts, read and checked record by record before any model is loaded.

Three JSONL formats, one record per line (blank lines are skipped); one file holds one format:

- **chat**: ``{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}``: an optional
  leading system message, then user and assistant strictly alternating, ending with the assistant.
- **instruction**: ``{"instruction": "...", "input": "...", "output": "..."}`` (``input`` optional).
- **extraction**: an instruction record whose ``output`` is an object of the medical information-extraction
  schema (:mod:`.extraction`): ``cancer_type``, ``stage``, ``gene_mutation``, ``biomarker``, ``treatment``,
  ``response``, ``metastasis_site``, each optional, a string or null.

Every problem is a :class:`RecordError` naming file, line and field, e.g.
``train.jsonl:7: messages[2].role: expected 'assistant', got 'user'``. Instruction records become chat
messages (user: instruction and input; assistant: output), so one tokenization path serves all formats.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .extraction import canonical_json, extraction_problems, json_type_name, present_fields

CHAT_KEYS = frozenset({"messages"})
INSTRUCTION_KEYS = frozenset({"instruction", "input", "output"})
MESSAGE_KEYS = frozenset({"role", "content"})
ROLES = ("system", "user", "assistant")
DATASET_SUFFIXES = (".jsonl", ".json")


class DatasetFormat(str, Enum):
    CHAT = "chat"
    INSTRUCTION = "instruction"
    EXTRACTION = "extraction"


@dataclass(frozen=True)
class RecordError:
    """One problem: ``path:line: field: message`` (line and field are None for whole-file problems)."""

    path: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        location = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{location}: {self.field}: {self.message}" if self.field else f"{location}: {self.message}"


@dataclass(frozen=True)
class Record:
    """A valid record as the conversation it trains on; ``reference`` holds extraction fields, if any."""

    path: str
    line: int
    format: DatasetFormat
    messages: tuple[Mapping[str, str], ...]
    reference: Mapping[str, str] | None = None


@dataclass
class Dataset:
    """All records of one or more files with every problem found in them."""

    files: list[str]
    records: list[Record] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    formats: dict[str, DatasetFormat] = field(default_factory=dict)  # file -> format of its records
    bad_lines: set[tuple[str, int]] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def is_extraction(self) -> bool:
        return bool(self.records) and all(record.format is DatasetFormat.EXTRACTION for record in self.records)

    def add_errors(self, errors: list[RecordError]) -> None:
        self.errors.extend(errors)
        self.bad_lines.update((error.path, error.line) for error in errors if error.line is not None)


class _DuplicateKey(ValueError):
    pass


def resolve_dataset_files(location: str | Path) -> list[Path]:
    """A file, or every ``*.jsonl``/``*.json`` file in a directory (a SageMaker channel), sorted."""
    path = Path(location)
    if path.is_dir():
        files = sorted(child for child in path.iterdir() if child.is_file() and child.suffix in DATASET_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"{path}: no {' or '.join(DATASET_SUFFIXES)} files in this directory")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or directory")
    return [path]


def read_dataset(location: str | Path | list[Path], *, system_prompt: str | None = None) -> Dataset:
    """Read and check every record of a file, a directory of files, or a list of files."""
    try:
        paths = location if isinstance(location, list) else resolve_dataset_files(location)
    except FileNotFoundError as error:
        return Dataset(files=[str(location)], errors=[RecordError(str(location), None, None, str(error))])
    dataset = Dataset(files=[str(path) for path in paths])
    for path in paths:
        _read_file(path, dataset, system_prompt)
    return dataset


def _read_file(path: Path, dataset: Dataset, system_prompt: str | None) -> None:
    name = str(path)
    file_format: tuple[DatasetFormat, int] | None = None
    records_in_file = 0
    for line_number, text, decode_error in _lines(path):
        if decode_error:
            dataset.add_errors([RecordError(name, line_number, None, decode_error)])
            records_in_file += 1
            continue
        if not text.strip():
            continue
        records_in_file += 1
        record, problems = _parse_record(text, name, line_number, system_prompt)
        if record is not None and file_format is not None and record.format is not file_format[0]:
            mixed = (
                f"{record.format.value} record in a file of {file_format[0].value} records "
                f"(format set by line {file_format[1]}); one file holds one format"
            )
            problems = [(None, mixed)]
            record = None
        if problems:
            dataset.add_errors(
                [RecordError(name, line_number, field_name, message) for field_name, message in problems]
            )
            continue
        assert record is not None
        if file_format is None:
            file_format = (record.format, line_number)
            dataset.formats[name] = record.format
        dataset.records.append(record)
    if records_in_file == 0:
        dataset.add_errors([RecordError(name, None, None, "empty file: no records")])


def _lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line number, text, UTF-8 problem or None) for each line, read as bytes so bad bytes name a line."""
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            if line_number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield line_number, raw.decode("utf-8").rstrip("\r\n"), None
            except UnicodeDecodeError as error:
                byte = raw[error.start]
                yield line_number, "", f"not valid UTF-8: byte 0x{byte:02x} at column {error.start + 1}"


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


Problems = list[tuple[str | None, str]]


def _parse_record(text: str, path: str, line: int, system_prompt: str | None) -> tuple[Record | None, Problems]:
    try:
        value = json.loads(text, object_pairs_hook=_reject_duplicates)
    except _DuplicateKey as duplicate:
        return None, [(str(duplicate), "duplicate key")]
    except json.JSONDecodeError as error:
        return None, [(None, f"invalid JSON: {error.msg} (column {error.colno})")]
    if not isinstance(value, dict):
        return None, [(None, f"expected a JSON object, got {json_type_name(value)}")]
    keys = set(value)
    if "messages" in keys:
        return _parse_chat(value, path, line)
    if keys & INSTRUCTION_KEYS:
        return _parse_instruction(value, path, line, system_prompt)
    found = ", ".join(sorted(keys)) or "none"
    return None, [
        (None, f"unknown format: expected 'messages' (chat) or 'instruction' and 'output' (instruction); keys: {found}")
    ]


def _unknown_keys(value: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> Problems:
    return [
        (f"{prefix}{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")
        for key in value
        if key not in allowed
    ]


def _string_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected a string, got {json_type_name(value)}"
    if not value.strip():
        return "empty"
    return None


def _parse_chat(value: Mapping[str, Any], path: str, line: int) -> tuple[Record | None, Problems]:
    problems = _unknown_keys(value, CHAT_KEYS)
    messages = value["messages"]
    if not isinstance(messages, list):
        return None, problems + [("messages", f"expected an array of messages, got {json_type_name(messages)}")]
    if not messages:
        return None, problems + [("messages", "empty: a conversation needs a user and an assistant message")]
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            problems.append((where, f"expected an object with role and content, got {json_type_name(message)}"))
            continue
        problems += _unknown_keys(message, MESSAGE_KEYS, prefix=f"{where}.")
        for key in ("role", "content"):
            if key not in message:
                problems.append((f"{where}.{key}", "missing"))
        role = message.get("role")
        if "role" in message and (not isinstance(role, str) or role not in ROLES):
            shown = repr(role) if isinstance(role, str) else json_type_name(role)
            problems.append((f"{where}.role", f"unknown role {shown}; allowed: {', '.join(ROLES)}"))
        if "content" in message:
            problem = _string_problem(message["content"])
            if problem:
                problems.append((f"{where}.content", problem))
    if problems:
        return None, problems
    problems = _order_problems([message["role"] for message in messages])
    if problems:
        return None, problems
    normalized = tuple({"role": message["role"], "content": message["content"]} for message in messages)
    return Record(path=path, line=line, format=DatasetFormat.CHAT, messages=normalized), []


def _order_problems(roles: list[str]) -> Problems:
    start = 1 if roles[0] == "system" else 0
    for index in range(start, len(roles)):
        role = roles[index]
        expected = "user" if (index - start) % 2 == 0 else "assistant"
        if role == "system":
            return [(f"messages[{index}].role", "'system' is only allowed as the first message")]
        if role != expected:
            return [
                (
                    f"messages[{index}].role",
                    f"expected '{expected}', got '{role}' (after an optional system message, user and assistant alternate)",
                )
            ]
    if roles[-1] != "assistant":
        return [
            ("messages", f"conversation ends with a '{roles[-1]}' message; the last message must be the assistant's")
        ]
    return []


def _parse_instruction(
    value: Mapping[str, Any], path: str, line: int, system_prompt: str | None
) -> tuple[Record | None, Problems]:
    problems = _unknown_keys(value, INSTRUCTION_KEYS)
    for key in ("instruction", "output"):
        if key not in value:
            problems.append((key, "missing"))
    if "instruction" in value:
        problem = _string_problem(value["instruction"])
        if problem:
            problems.append(("instruction", problem))
    user_input = value.get("input", "")
    if not isinstance(user_input, str):
        problems.append(("input", f"expected a string, got {json_type_name(user_input)}"))
    output = value.get("output")
    record_format = DatasetFormat.INSTRUCTION
    if isinstance(output, dict):
        record_format = DatasetFormat.EXTRACTION
        problems += extraction_problems(output)
    elif "output" in value:
        if not isinstance(output, str):
            problems.append(("output", f"expected a string or an extraction object, got {json_type_name(output)}"))
        elif not output.strip():
            problems.append(("output", "empty"))
    if problems:
        return None, problems
    prompt = value["instruction"] if not user_input.strip() else f"{value['instruction']}\n\n{user_input}"
    reference: dict[str, str] | None = None
    if isinstance(output, dict):
        answer, reference = canonical_json(output), present_fields(output)
    else:
        answer = str(output)
    messages: list[Mapping[str, str]] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return Record(path=path, line=line, format=record_format, messages=tuple(messages), reference=reference), []
