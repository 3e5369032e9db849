"""Real fine-tuning of the packaged all-MiniLM-L6-v2 on a synthetic retrieval set (CPU, ~30 s each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagemaker_src.retrieval.train import EXIT_OK, main

METRIC_KEYS = {"ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100"}


def _run(data_dir: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "--model_name_or_path",
            "minilm",
            "--train_dir",
            str(data_dir),
            "--eval_dir",
            str(data_dir),
            "--model_dir",
            str(out / "model"),
            "--output_data_dir",
            str(out / "output"),
            "--no_dropout",
            "--max_seq_length",
            "64",
            "--batch_size",
            "16",
            "--learning_rate",
            "1e-4",
            *extra,
        ]
    )


@pytest.mark.slow
def test_fine_tuned_minilm_beats_or_equals_base(retrieval_data_dir: Path, tmp_path: Path) -> None:
    code = _run(retrieval_data_dir, tmp_path, "--epochs", "2")

    metrics = json.loads((tmp_path / "output" / "metrics.json").read_text(encoding="utf-8"))
    assert code == EXIT_OK
    assert metrics["status"] == "completed"
    assert set(metrics["base"]) == set(metrics["fine_tuned"]) == set(metrics["difference"]) == METRIC_KEYS
    assert all(0.0 <= value <= 1.0 for value in [*metrics["base"].values(), *metrics["fine_tuned"].values()])
    assert metrics["fine_tuned"]["ndcg@10"] >= metrics["base"]["ndcg@10"]
    assert metrics["difference"]["ndcg@10"] == pytest.approx(
        metrics["fine_tuned"]["ndcg@10"] - metrics["base"]["ndcg@10"], abs=1e-5
    )
    assert metrics["training"]["loss"] == "MultipleNegativesRankingLoss"
    assert metrics["training"]["last_logged_loss"] < metrics["training"]["first_logged_loss"]
    assert metrics["precision"] == "fp32"  # no GPU in CI
    assert json.loads((tmp_path / "model" / "metrics.json").read_text(encoding="utf-8")) == metrics
    assert (tmp_path / "model" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "model" / "model" / "modules.json").is_file()


@pytest.mark.slow
def test_cached_loss_matryoshka_and_hard_negatives_train(retrieval_data_dir: Path, tmp_path: Path) -> None:
    code = _run(
        retrieval_data_dir,
        tmp_path,
        "--max_steps",
        "2",
        "--mini_batch_size",
        "8",
        "--matryoshka_dims",
        "384",
        "128",
        "--hard_negatives",
        "1",
    )

    metrics = json.loads((tmp_path / "output" / "metrics.json").read_text(encoding="utf-8"))
    assert code == EXIT_OK
    assert metrics["training"]["loss"] == "MatryoshkaLoss"
    assert metrics["training"]["global_step"] == 2
    assert metrics["hyperparameters"]["mini_batch_size"] == 8
    assert set(metrics["fine_tuned"]) == METRIC_KEYS


def test_checkpoint_steps_must_be_positive(retrieval_data_dir: Path, tmp_path: Path) -> None:
    assert _run(retrieval_data_dir, tmp_path, "--checkpoint_steps", "-1") == 2
    assert not (tmp_path / "model").exists()
