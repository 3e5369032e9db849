"""`modelsmith validate corpus|pairs|training-data`: the workflows' own validators, problems as file:line: field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelsmith.cli import app
from modelsmith.cli_support import AppState
from modelsmith_core.catalogue import BEDROCK_CUSTOMIZATION_MODELS

runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str):
    return runner.invoke(app, ["validate", *args], obj=AppState())


def write_lines(path: Path, lines: list[object]) -> Path:
    path.write_bytes(
        b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)
    )
    return path


# --- corpus ----------------------------------------------------------------------------------------------


def test_a_good_corpus_is_counted(tmp_path: Path) -> None:
    corpus = write_lines(
        tmp_path / "corpus.jsonl", [{"id": f"d{n}", "text": f"text {n}", "title": "t"} for n in range(5)] + [b""]
    )
    result = invoke("corpus", str(corpus))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{corpus}: 5 documents OK\n"


def test_corpus_problems_name_line_and_field(tmp_path: Path) -> None:
    corpus = write_lines(
        tmp_path / "corpus.jsonl",
        [
            {"id": "a", "text": "fine"},
            {"text": "no id"},
            b"{not json",
            {"id": "b", "text": "   "},
            ["a", "list"],
            {"id": 7, "text": "number id"},
            b"\xff\xfe",
        ],
    )
    result = invoke("corpus", str(corpus))
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{corpus}:2: id: required field is missing",
        f"{corpus}:3: not valid JSON: Expecting property name enclosed in double quotes at column 2",
        f"{corpus}:4: text: must not be empty",
        f"{corpus}:5: expected a JSON object, got array",
        f"{corpus}:6: id: expected a string, got number 7",
        f"{corpus}:7: not valid UTF-8 (byte 0xff at offset 0)",
    ]
    assert result.stderr.splitlines() == [
        f"error: 6 problems in {corpus}",
        "hint: fix the lines above; the workflow rejects bad lines, and fails when none is left",
    ]


def test_duplicate_ids_are_warnings_as_in_the_workflow(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "corpus.jsonl", [{"id": "a", "text": "one"}, {"id": "a", "text": "two"}])
    result = invoke("corpus", str(corpus))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"warning: {corpus}:2: id: duplicate 'a' (first seen on line 1, which is kept)",
        f"{corpus}: 1 documents OK, 1 duplicate ids skipped",
    ]


def test_an_empty_corpus_is_a_problem(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n\n")
    result = invoke("corpus", str(corpus))
    assert result.exit_code == 2 and f"{corpus}: no records" in result.stdout


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("corpus", str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


# --- pairs -----------------------------------------------------------------------------------------------


def test_a_pairs_file_is_checked_line_by_line(tmp_path: Path) -> None:
    pairs = write_lines(
        tmp_path / "train.jsonl",
        [
            {"query": "q", "passage": "p", "doc_id": "d1"},
            {"query": "q", "passage": ""},
            {"query": 3, "passage": "p", "doc_id": "d"},
        ],
    )
    result = invoke("pairs", str(pairs))
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{pairs}:2:passage: empty",
        f"{pairs}:2:doc_id: missing",
        f"{pairs}:3:query: expected a string, got int",
    ]


def test_a_pairs_folder_is_checked_as_the_training_script_reads_it(tmp_path: Path) -> None:
    write_lines(tmp_path / "train.jsonl", [{"query": f"q{n}", "passage": f"p{n}", "doc_id": f"d{n}"} for n in range(3)])
    write_lines(tmp_path / "eval.jsonl", [{"query": "e1", "passage": "p", "doc_id": "d9"}])
    write_lines(tmp_path / "eval_corpus.jsonl", [{"id": "d9", "text": "nine"}, {"id": "d8", "text": "eight"}])
    result = invoke("pairs", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path}: 3 training pairs, 1 evaluation queries over 2 documents OK\n"

    write_lines(tmp_path / "eval.jsonl", [{"query": "e1", "passage": "p", "doc_id": "d7"}])
    result = invoke("pairs", str(tmp_path))
    assert result.exit_code == 2
    assert (
        result.stdout == f"{tmp_path / 'eval.jsonl'}:1:doc_id: 'd7' is not an id in {tmp_path / 'eval_corpus.jsonl'}\n"
    )


# --- training data ---------------------------------------------------------------------------------------


def chat(n: int) -> dict:
    return {"messages": [{"role": "user", "content": f"question {n}"}, {"role": "assistant", "content": f"answer {n}"}]}


def test_bedrock_training_data_is_checked_by_the_customization_module(tmp_path: Path) -> None:
    data = write_lines(tmp_path / "train.jsonl", [chat(n) for n in range(120)])
    result = invoke("training-data", str(data))
    assert result.exit_code == 0, result.output
    # the default model, Llama 3.3 70B, takes the conversation format
    assert result.stdout.startswith(
        f"{data}: 120 chat records OK as conversation for meta.llama3-3-70b-instruct-v1:0:128k (108 training, 12 validation); about "
    )

    lines = [chat(n) for n in range(120)]
    lines[1], lines[2] = {"messages": [{"role": "bot", "content": "x"}]}, {"prompt": "p", "completion": "c"}
    write_lines(data, lines)
    result = invoke("training-data", str(data), "--base-model", "meta.llama3-1-8b-instruct-v1:0:128k")
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{data}:2: messages[0].role: unknown role 'bot'; expected system, user or assistant",
        f"{data}:3: (record): prompt_completion record, but line 1 is chat; a file holds one format",
    ]
    assert result.stderr.startswith(f"error: 2 problems in {data}")


def test_bedrock_limits_apply(tmp_path: Path) -> None:
    # model-customization-prepare.html: "Sum of training and validation records | 100 | 10,000"
    data = write_lines(tmp_path / "train.jsonl", [chat(n) for n in range(4)])
    result = invoke("training-data", str(data))
    assert result.exit_code == 2
    assert result.stdout == f"{data}:0: (file): 4 records; at least 100 needed\n"


@pytest.mark.parametrize("model_id", sorted(BEDROCK_CUSTOMIZATION_MODELS))
def test_each_model_gets_its_own_format_and_token_limit(tmp_path: Path, model_id: str) -> None:
    model = BEDROCK_CUSTOMIZATION_MODELS[model_id]
    # one answer of about 11,500 tokens (chars / 3.5): within 16,000, over Llama 3.2 90B's 10,000
    long = {
        "messages": [{"role": "user", "content": "Describe it."}, {"role": "assistant", "content": "word " * 8_000}]
    }
    data = write_lines(tmp_path / "train.jsonl", [chat(n) for n in range(119)] + [long])
    result = invoke("training-data", str(data), "--base-model", model_id)
    if model.max_tokens_per_record < 11_500:
        assert result.exit_code == 2
        assert f"over the limit of {model.max_tokens_per_record}" in result.stdout
    else:
        assert result.exit_code == 0, result.output
        assert f"records OK as {model.data_format} for {model_id}" in result.stdout


def test_lora_training_data_is_checked_by_the_training_records_module(tmp_path: Path) -> None:
    data = write_lines(tmp_path / "train.jsonl", [chat(1), {"instruction": "Summarise", "output": "ok"}])
    result = invoke("training-data", str(data), "--for", "lora")
    assert result.exit_code == 2  # one file holds one format
    assert result.stdout.startswith(f"{data}:2: ")

    write_lines(data, [chat(1), chat(2)])
    result = invoke("training-data", str(data), "--for", "lora")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{data}: 2 records OK (format chat)\n"


@pytest.mark.parametrize(
    "args",
    [
        ["training-data"],
        ["training-data", "x.jsonl", "--for", "sagemaker"],
        ["training-data", "x.jsonl", "--base-model", "meta.llama3-1-8b-instruct-v1:0"],
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
