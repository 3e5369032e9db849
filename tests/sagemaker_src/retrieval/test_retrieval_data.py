"""Bad input lines stop the run before any model loads, each reported as file:line:field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagemaker_src.retrieval.data import DataError, read_training_data
from sagemaker_src.retrieval.train import EXIT_BAD_INPUT, main


def _paths(directory: Path) -> tuple[Path, Path, Path]:
    return directory / "train.jsonl", directory / "eval.jsonl", directory / "eval_corpus.jsonl"


def _append(path: Path, line: str) -> int:
    """Append a raw line; returns its line number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines + [line]) + "\n", encoding="utf-8")
    return len(lines) + 1


def test_valid_files_give_pairs_queries_and_relevant_documents(retrieval_data_dir: Path) -> None:
    train_pairs, evaluation = read_training_data(*_paths(retrieval_data_dir))

    assert len(train_pairs) == 60
    assert len(evaluation.corpus) == 60 and len(evaluation.queries) == 60
    assert all(docs <= evaluation.corpus.keys() for docs in evaluation.relevant_docs.values())


@pytest.mark.parametrize(
    ("file_name", "line", "expected"),
    [
        ("train.jsonl", '{"query": "q", "passage": "p"}', ":doc_id: missing"),
        ("train.jsonl", '{"query": 3, "passage": "p", "doc_id": "d"}', ":query: expected a string, got int"),
        ("train.jsonl", '{"query": "q", "passage": "  ", "doc_id": "d"}', ":passage: empty"),
        ("train.jsonl", '{"query": "q", "passage": "p"', ": not valid JSON"),
        ("train.jsonl", '["q", "p", "d"]', ": expected a JSON object, got list"),
        ("eval.jsonl", '{"query": "q", "passage": "p", "doc_id": "nowhere"}', ":doc_id: 'nowhere' is not an id in"),
        ("eval_corpus.jsonl", '{"id": "doc-000", "text": "again"}', ":id: duplicate id 'doc-000'"),
        ("eval_corpus.jsonl", '{"id": "x"}', ":text: missing"),
    ],
)
def test_bad_line_is_reported_with_file_line_and_field(
    retrieval_data_dir: Path, file_name: str, line: str, expected: str
) -> None:
    number = _append(retrieval_data_dir / file_name, line)

    with pytest.raises(DataError) as raised:
        read_training_data(*_paths(retrieval_data_dir))

    (problem,) = raised.value.problems
    assert problem.startswith(f"{retrieval_data_dir / file_name}:{number}{expected}")


def test_every_problem_of_every_file_is_reported(retrieval_data_dir: Path) -> None:
    first = _append(retrieval_data_dir / "train.jsonl", '{"passage": "p", "doc_id": "d"}')
    second = _append(retrieval_data_dir / "eval.jsonl", '{"query": "", "passage": "p", "doc_id": "doc-001"}')

    with pytest.raises(DataError) as raised:
        read_training_data(*_paths(retrieval_data_dir))

    assert raised.value.problems == [
        f"{retrieval_data_dir / 'train.jsonl'}:{first}:query: missing",
        f"{retrieval_data_dir / 'eval.jsonl'}:{second}:query: empty",
    ]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DataError) as raised:
        read_training_data(*_paths(tmp_path))

    assert raised.value.problems == [f"{path}: file not found" for path in _paths(tmp_path)]


def test_run_with_a_bad_line_exits_2_and_writes_nothing(
    retrieval_data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    number = _append(retrieval_data_dir / "train.jsonl", '{"query": "q", "passage": "p", "doc_id": 7}')

    code = main(
        [
            "--train_dir",
            str(retrieval_data_dir),
            "--eval_dir",
            str(retrieval_data_dir),
            "--model_dir",
            str(tmp_path / "model"),
            "--output_data_dir",
            str(tmp_path / "output"),
        ]
    )

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    errors = [event["message"] for event in events if event.get("event") == "input_error"]
    assert code == EXIT_BAD_INPUT
    assert f"{retrieval_data_dir / 'train.jsonl'}:{number}:doc_id: expected a string, got int" in errors
    assert not (tmp_path / "model").exists() and not (tmp_path / "output").exists()
    assert not any(event.get("event") == "base_evaluated" for event in events)  # no model was loaded
