"""Convert and validate fine-tuning data for Amazon Bedrock model customization (shared by Lambda and CLI).

Input: one JSONL file whose records are all in one of three formats, detected from the first record:

- chat: ``{"messages": [{"role": "system"?, "content"}, {"role": "user", ...}, {"role": "assistant", ...}, ...]}``
- instruction: ``{"instruction", "input"?, "output"}`` (an empty or absent ``input`` means none)
- prompt/completion: ``{"prompt", "completion"}``

Output (``target_format``):

- ``prompt_completion`` (Llama 3.x on Bedrock): ``{"prompt", "completion"}``. Chat and instruction records are
  rendered with the Llama 3 chat template: the system message and every turn before the last assistant turn
  go into the prompt, which ends with the assistant header; the last assistant turn is the completion.
  Prompt/completion records are kept as they are.
- ``conversation``: ``{"schemaVersion": "bedrock-conversation-2024", "system": [{"text"}], "messages":
  [{"role", "content": [{"text"}]}]}``; ``system`` only when the record has a system message.

Every record is checked (see ``Problem`` for how a finding is reported); the caller writes nothing when any
record is bad. Tokens are estimated as ``ceil(chars / 3.5)`` of the converted record's text: no tokenizer
ships for these models, and 3.5 characters per token over-counts English text, so a record under the limit
here is under it on the service too. Records are split into train and validation by a seeded SHA-256 of the
converted record, so the split depends only on the content and the seed (identical records stay together).

Only the standard library and ``run_storage`` are used, so the command line runs it without AWS packages.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

TargetFormat = Literal["prompt_completion", "conversation"]
TARGET_FORMATS: tuple[str, ...] = ("prompt_completion", "conversation")
SOURCE_FORMATS: tuple[str, ...] = ("chat", "instruction", "prompt_completion")
CONVERSATION_SCHEMA_VERSION = "bedrock-conversation-2024"
CHARS_PER_TOKEN = 3.5
TOKEN_ESTIMATE_NOTE = "chars/3.5 (conservative; no tokenizer shipped for this model)"
DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_SEED = 42
PROBLEMS_SHOWN_IN_MESSAGE = 5
OUTPUT_FILES = ("train.jsonl", "validation.jsonl", "metadata.json")

# Llama 3 chat template special tokens (as in Meta's model card): the prompt ends with the assistant header.
BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TURN = "<|eot_id|>"


class CustomizationDataError(ValueError):
    """The data has problems; the message counts them, shows the first few and names where all are listed."""


@dataclass(frozen=True)
class Limits:
    """Bounds on the data set: record count (training and validation together, inclusive), validation records
    (the split takes no more) and estimated tokens per record."""

    min_records: int = 1
    max_records: int = 10_000
    max_tokens_per_record: int = 4_096
    max_validation_records: int = 1_000

    def __post_init__(self) -> None:
        for name in ("min_records", "max_records", "max_tokens_per_record", "max_validation_records"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {value!r} must be a positive integer")
        if self.min_records > self.max_records:
            raise ValueError(f"min_records ({self.min_records}) is more than max_records ({self.max_records})")


@dataclass(frozen=True)
class Problem:
    """One finding: the file, the 1-based line (0 for the file as a whole), the field path and why."""

    file: str
    line: int
    field: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


@dataclass
class Result:
    """Converted train and validation records, the problems found, and the data set's metadata."""

    train: list[dict[str, Any]] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Conversation:
    """A record in neutral form: an optional system text and alternating (role, text) turns, user first."""

    system: str | None
    turns: tuple[tuple[str, str], ...]


class _RecordProblem(Exception):
    def __init__(self, field_path: str, reason: str) -> None:
        super().__init__(reason)
        self.field_path, self.reason = field_path, reason


def problems_message(problems: list[Problem], source_name: str, problems_location: str) -> str:
    """``N problems in SOURCE: first five; all in LOCATION`` (one line, for Step Functions' error cause)."""
    shown = "; ".join(str(problem) for problem in problems[:PROBLEMS_SHOWN_IN_MESSAGE])
    more = len(problems) - PROBLEMS_SHOWN_IN_MESSAGE
    more_text = f"; ... and {more} more" if more > 0 else ""
    noun = "problem" if len(problems) == 1 else "problems"
    return f"{len(problems)} {noun} in {source_name}, nothing written: {shown}{more_text}; all listed in {problems_location}"


def estimate_tokens(text_length: int) -> int:
    return math.ceil(text_length / CHARS_PER_TOKEN)


# --- reading records -------------------------------------------------------------------------------------


def _decode_line(raw: bytes | str, line_number: int) -> Any:
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _RecordProblem(
                "(line)", f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})"
            ) from None
    else:
        text = raw
    if line_number == 1:
        text = text.removeprefix("\ufeff")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _RecordProblem("(line)", f"not valid JSON: {error.msg} at column {error.colno}") from None


def detect_format(record: dict[str, Any]) -> str | None:
    """``chat``, ``instruction`` or ``prompt_completion`` from the record's keys; ``None`` when none fits."""
    if "messages" in record:
        return "chat"
    if "instruction" in record or "output" in record:
        return "instruction"
    if "prompt" in record or "completion" in record:
        return "prompt_completion"
    return None


def _text(value: Any, field_path: str, *, optional: bool = False) -> str:
    if value is None and not optional:
        raise _RecordProblem(field_path, "missing")
    if not isinstance(value, str):
        raise _RecordProblem(field_path, f"expected a string, got {_json_type(value)}")
    if not value.strip() and not optional:
        raise _RecordProblem(field_path, "empty (only whitespace)")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _chat(record: dict[str, Any]) -> Conversation:
    messages = record.get("messages")
    if not isinstance(messages, list):
        raise _RecordProblem("messages", f"expected an array of messages, got {_json_type(messages)}")
    if not messages:
        raise _RecordProblem("messages", "empty; expected at least a user and an assistant message")
    system: str | None = None
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        path = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _RecordProblem(path, f"expected an object, got {_json_type(message)}")
        role = message.get("role")
        if role is None:
            raise _RecordProblem(f"{path}.role", "missing")
        if role not in ("system", "user", "assistant"):
            raise _RecordProblem(f"{path}.role", f"unknown role {role!r}; expected system, user or assistant")
        content = _text(message.get("content"), f"{path}.content")
        if role == "system":
            if index != 0:
                raise _RecordProblem(f"{path}.role", "a system message may only be the first message")
            system = content
            continue
        expected = "user" if not turns or turns[-1][0] == "assistant" else "assistant"
        if role != expected:
            raise _RecordProblem(
                f"{path}.role", f"expected {expected!r} (roles alternate user/assistant), got {role!r}"
            )
        turns.append((role, content))
    if not turns:
        raise _RecordProblem("messages", "no user or assistant message")
    if turns[-1][0] != "assistant":
        raise _RecordProblem("messages", f"the last message must be from the assistant, got {turns[-1][0]!r}")
    return Conversation(system, tuple(turns))


def _instruction(record: dict[str, Any]) -> Conversation:
    instruction = _text(record.get("instruction"), "instruction")
    extra = _text(record.get("input", ""), "input", optional=True)
    output = _text(record.get("output"), "output")
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return Conversation(None, (("user", prompt), ("assistant", output)))


def _prompt_completion(record: dict[str, Any]) -> Conversation:
    return Conversation(
        None,
        (("user", _text(record.get("prompt"), "prompt")), ("assistant", _text(record.get("completion"), "completion"))),
    )


READERS = {"chat": _chat, "instruction": _instruction, "prompt_completion": _prompt_completion}


# --- writing records -------------------------------------------------------------------------------------


def _header(role: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n"


def render_llama3_prompt(conversation: Conversation) -> str:
    """System and all turns but the last (assistant) one in the Llama 3 template, ending with the assistant header."""
    parts = [BEGIN_OF_TEXT]
    if conversation.system is not None:
        parts.append(f"{_header('system')}{conversation.system}{END_OF_TURN}")
    for role, text in conversation.turns[:-1]:
        parts.append(f"{_header(role)}{text}{END_OF_TURN}")
    parts.append(_header("assistant"))
    return "".join(parts)


def parse_llama3_prompt(prompt: str, completion: str) -> Conversation:
    """The conversation a ``render_llama3_prompt`` prompt and its completion hold (the inverse, for checks)."""
    if not prompt.startswith(BEGIN_OF_TEXT) or not prompt.endswith(_header("assistant")):
        raise ValueError("not a Llama 3 chat prompt")
    body = prompt[len(BEGIN_OF_TEXT) : -len(_header("assistant"))]
    system: str | None = None
    turns: list[tuple[str, str]] = []
    for segment in body.split(END_OF_TURN)[:-1]:
        head, _, text = segment.partition("<|end_header_id|>\n\n")
        role = head.removeprefix("<|start_header_id|>")
        if role == "system":
            system = text
        else:
            turns.append((role, text))
    return Conversation(system, tuple(turns) + (("assistant", completion),))


def to_target(
    conversation: Conversation, source_format: str, record: dict[str, Any], target_format: str
) -> dict[str, Any]:
    if target_format == "prompt_completion":
        if source_format == "prompt_completion":
            return {"prompt": record["prompt"], "completion": record["completion"]}
        return {"prompt": render_llama3_prompt(conversation), "completion": conversation.turns[-1][1]}
    converted: dict[str, Any] = {"schemaVersion": CONVERSATION_SCHEMA_VERSION}
    if conversation.system is not None:
        converted["system"] = [{"text": conversation.system}]
    converted["messages"] = [{"role": role, "content": [{"text": text}]} for role, text in conversation.turns]
    return converted


def from_target(record: dict[str, Any]) -> Conversation:
    """The conversation of a converted record of either target format (for round-trip checks and tools)."""
    if "messages" in record:
        system = record["system"][0]["text"] if record.get("system") else None
        return Conversation(system, tuple((m["role"], m["content"][0]["text"]) for m in record["messages"]))
    if record["prompt"].startswith(BEGIN_OF_TEXT):
        return parse_llama3_prompt(record["prompt"], record["completion"])
    return Conversation(None, (("user", record["prompt"]), ("assistant", record["completion"])))


def _text_length(record: dict[str, Any]) -> int:
    if "prompt" in record:
        return len(record["prompt"]) + len(record["completion"])
    return sum(
        len(block["text"])
        for part in ("system", "messages")
        for item in record.get(part, [])
        for block in (item.get("content", [item]) if part == "messages" else [item])
    )


# --- the whole file --------------------------------------------------------------------------------------


def split_records(
    records: list[dict[str, Any]], validation_fraction: float, seed: int, max_validation: int | None = None
) -> tuple[list[int], list[int]]:
    """Indexes ``(train, validation)``: the ``round(n * fraction)`` records (at least 1, at most n - 1 and at most
    ``max_validation``, when n >= 2) with the lowest seeded SHA-256 of their canonical JSON go to validation, with
    every identical record (up to that cap)."""
    digests = [
        hashlib.sha256(f"{seed}\x00{json.dumps(r, sort_keys=True, ensure_ascii=False)}".encode()).digest()
        for r in records
    ]
    count = 0 if len(records) < 2 else min(len(records) - 1, max(1, round(len(records) * validation_fraction)))
    if max_validation is not None:
        count = min(count, max_validation)
    chosen = set(sorted(digests)[:count])
    validation = [index for index, digest in enumerate(digests) if digest in chosen]
    if count and (len(validation) == len(records) or len(validation) > (max_validation or len(records))):
        validation = validation[:count]  # identical records: keep one side non-empty and the cap
    picked = set(validation)
    return [index for index in range(len(records)) if index not in picked], validation


def _percentile(sorted_values: list[int], fraction: float) -> int:
    """Nearest-rank percentile."""
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def convert_and_validate(
    lines: Iterable[bytes | str],
    *,
    source_name: str,
    target_format: TargetFormat | str,
    limits: Limits,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = DEFAULT_SEED,
) -> Result:
    """Convert and check every line of one JSONL file (see the module docstring); blank lines are skipped."""
    if target_format not in TARGET_FORMATS:
        raise ValueError(f"target_format: {target_format!r} is not one of {', '.join(TARGET_FORMATS)}")
    if (
        isinstance(validation_fraction, bool)
        or not isinstance(validation_fraction, (int, float))
        or not 0 < validation_fraction < 1
    ):
        raise ValueError(f"validation_fraction: {validation_fraction!r} must be a number between 0 and 1 (exclusive)")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: {seed!r} is not an integer")

    result = Result()
    converted: list[dict[str, Any]] = []
    tokens: list[int] = []
    file_format: str | None = None
    format_line = 0
    count = 0
    for line_number, raw in enumerate(lines, start=1):
        if not (raw.strip() if isinstance(raw, (bytes, str)) else raw):
            continue
        count += 1
        try:
            record = _decode_line(raw, line_number)
            if not isinstance(record, dict):
                raise _RecordProblem("(line)", f"expected a JSON object, got {_json_type(record)}")
            record_format = detect_format(record)
            if record_format is None:
                raise _RecordProblem(
                    "(record)",
                    "unknown format: expected 'messages', 'instruction'/'output' or 'prompt'/'completion' fields",
                )
            if file_format is None:
                file_format, format_line = record_format, line_number
            elif record_format != file_format:
                raise _RecordProblem(
                    "(record)",
                    f"{record_format} record, but line {format_line} is {file_format}; a file holds one format",
                )
            conversation = READERS[record_format](record)
            target = to_target(conversation, record_format, record, target_format)
            estimate = estimate_tokens(_text_length(target))
            if estimate > limits.max_tokens_per_record:
                raise _RecordProblem(
                    "(record)",
                    f"about {estimate} tokens ({TOKEN_ESTIMATE_NOTE}), "
                    f"over the limit of {limits.max_tokens_per_record}",
                )
        except _RecordProblem as problem:
            result.problems.append(Problem(source_name, line_number, problem.field_path, problem.reason))
            continue
        if count <= limits.max_records:  # past the limit, only count: the file is rejected anyway
            converted.append(target)
            tokens.append(estimate)

    if count == 0:
        result.problems.append(Problem(source_name, 0, "(file)", "empty: no records"))
    elif count < limits.min_records:
        result.problems.append(
            Problem(source_name, 0, "(file)", f"{count} records; at least {limits.min_records} needed")
        )
    elif count > limits.max_records:
        result.problems.append(
            Problem(source_name, 0, "(file)", f"{count} records; at most {limits.max_records} allowed")
        )
    if result.problems:
        result.metadata = {"source": source_name, "records": count, "problems": len(result.problems)}
        return result

    train_indexes, validation_indexes = split_records(
        converted, validation_fraction, seed, limits.max_validation_records
    )
    result.train = [converted[index] for index in train_indexes]
    result.validation = [converted[index] for index in validation_indexes]
    ordered = sorted(tokens)
    distinct = len({json.dumps(record, sort_keys=True) for record in converted})
    result.metadata = {
        "source": source_name,
        "source_format": file_format,
        "target_format": target_format,
        "records": count,
        "train_records": len(result.train),
        "validation_records": len(result.validation),
        "duplicate_records": count - distinct,
        "validation_fraction": validation_fraction,
        "seed": seed,
        "token_estimate": TOKEN_ESTIMATE_NOTE,
        "max_tokens_per_record": limits.max_tokens_per_record,
        "tokens_per_record": {
            "min": ordered[0],
            "mean": round(sum(ordered) / len(ordered), 1),
            "p50": _percentile(ordered, 0.5),
            "p95": _percentile(ordered, 0.95),
            "max": ordered[-1],
        },
    }
    return result


# --- storing the outcome ---------------------------------------------------------------------------------


def store_result(s3_client: Any, bucket: str, prefix: str, result: Result) -> dict[str, str]:
    """Upload ``train.jsonl`` (last: its presence means the others are there), ``validation.jsonl`` and
    ``metadata.json`` under ``prefix`` (ending in ``/``); returns their URIs by name."""
    from lambda_src.shared.run_storage import (
        JsonLinesUpload,  # the CLI imports this module without the AWS SDK for local runs
    )

    validation = JsonLinesUpload(s3_client, bucket, f"{prefix}validation.jsonl")
    train = JsonLinesUpload(s3_client, bucket, f"{prefix}train.jsonl")
    try:
        for record in result.validation:
            validation.write(record)
        for record in result.train:
            train.write(record)
        uris = {"validation": validation.commit()}
        s3_client.put_object(
            Bucket=bucket,
            Key=f"{prefix}metadata.json",
            ContentType="application/json",
            Body=json.dumps(result.metadata, indent=2).encode(),
        )
        uris["metadata"] = f"s3://{bucket}/{prefix}metadata.json"
        uris["train"] = train.commit()
    finally:
        validation.discard()
        train.discard()
    return uris


def store_problems(s3_client: Any, bucket: str, key: str, problems: list[Problem]) -> str:
    from lambda_src.shared.run_storage import JsonLinesUpload

    upload = JsonLinesUpload(s3_client, bucket, key)
    try:
        for problem in problems:
            upload.write(problem.to_dict())
        return upload.commit()
    finally:
        upload.discard()


def write_result(directory: Path, result: Result) -> dict[str, Path]:
    """Write ``train.jsonl``, ``validation.jsonl`` and ``metadata.json`` into ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f"{name}.jsonl" for name in ("train", "validation")}
    for name, records in (("train", result.train), ("validation", result.validation)):
        paths[name].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    paths["metadata"] = directory / "metadata.json"
    paths["metadata"].write_text(json.dumps(result.metadata, indent=2) + "\n", encoding="utf-8")
    return paths


def iter_file_lines(path: Path) -> Iterator[bytes]:
    """The lines of a local file as bytes (so a non-UTF-8 line is reported, not fatal)."""
    with path.open("rb") as handle:
        for line in handle:
            yield line.rstrip(b"\n").removesuffix(b"\r")
