"""Arguments: SageMaker's SM_* variables as defaults, explicit arguments over them, bad combinations refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagemaker_src.retrieval.modeling import packaged_minilm_path, resolve_model_path
from sagemaker_src.retrieval.train import EXIT_BAD_INPUT, main, parse_arguments


def test_defaults_come_from_sagemaker_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    monkeypatch.setenv("SM_CHANNEL_EVAL", "/opt/ml/input/data/eval")
    monkeypatch.setenv("SM_MODEL_DIR", "/sm/model")
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", "/sm/output")
    monkeypatch.delenv("SM_CHANNEL_MODEL", raising=False)

    arguments, hyperparameters = parse_arguments([])

    assert arguments.train_dir == "/opt/ml/input/data/train"
    assert arguments.eval_dir == "/opt/ml/input/data/eval"
    assert arguments.model_dir == "/sm/model"
    assert arguments.output_data_dir == "/sm/output"
    assert arguments.model_name_or_path == "minilm"
    assert hyperparameters.mini_batch_size is None and hyperparameters.matryoshka_dims is None
    assert hyperparameters.hard_negatives == 0 and not hyperparameters.no_dropout


def test_defaults_without_sagemaker_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SM_CHANNEL_TRAIN", "SM_CHANNEL_EVAL", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR", "SM_CHANNEL_MODEL"):
        monkeypatch.delenv(name, raising=False)

    arguments, _ = parse_arguments([])

    assert arguments.train_dir is None and arguments.eval_dir is None
    assert arguments.model_dir == "/opt/ml/model"
    assert arguments.output_data_dir == "/opt/ml/output/data"


def test_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_MODEL_DIR", "/sm/model")

    arguments, hyperparameters = parse_arguments(
        ["--model_dir", "out/model", "--mini_batch_size", "8", "--matryoshka_dims", "384", "128", "--no_dropout"]
    )

    assert arguments.model_dir == "out/model"
    assert hyperparameters.mini_batch_size == 8
    assert hyperparameters.matryoshka_dims == [384, 128]
    assert hyperparameters.no_dropout


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["--mini_batch_size", "64", "--batch_size", "16"],
            "--mini_batch_size: must be in 1..--batch_size (16), got 64",
        ),
        (["--batch_size", "1"], "--batch_size: in-batch negatives need at least 2, got 1"),
        (["--max_steps", "0"], "--max_steps: must be > 0 (or -1: use --epochs), got 0"),
        (["--matryoshka_dims", "384", "0"], "--matryoshka_dims: must all be > 0, got [384, 0]"),
    ],
)
def test_bad_argument_combinations_exit_2(
    tmp_path: Path, extra: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--train_dir", str(tmp_path), "--eval_dir", str(tmp_path), "--model_dir", str(tmp_path / "m"), *extra])

    assert code == EXIT_BAD_INPUT
    assert expected in capsys.readouterr().out


def test_missing_channels_are_named(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SM_CHANNEL_TRAIN", raising=False)
    monkeypatch.delenv("SM_CHANNEL_EVAL", raising=False)

    assert main([]) == EXIT_BAD_INPUT
    out = capsys.readouterr().out
    assert "--train_dir: required (or set SM_CHANNEL_TRAIN)" in out
    assert "--eval_dir: required (or set SM_CHANNEL_EVAL)" in out


def test_packaged_minilm_is_found_on_disk(minilm_path: Path) -> None:
    assert packaged_minilm_path() == minilm_path
    assert (minilm_path / "model.safetensors").is_file() and (minilm_path / "modules.json").is_file()
    assert resolve_model_path("minilm") == str(minilm_path)
    assert resolve_model_path("/some/dir") == "/some/dir"
