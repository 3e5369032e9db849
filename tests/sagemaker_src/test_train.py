"""The training entry point on a tiny random Llama (CPU): it learns, saves, reloads, merges, logs, refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.sagemaker_src.lora_helpers import RunResult, run_training_in, write_jsonl


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_model_dir: Path,
    train_records: list[dict[str, Any]],
    validation_records: list[dict[str, Any]],
) -> RunResult:
    """One full run: 24 extraction records, 6 epochs of batch 4 (36 steps), validation, merge."""
    base = tmp_path_factory.mktemp("trained")
    result = run_training_in(
        base,
        model=tiny_model_dir,
        train=write_jsonl(base / "data" / "train.jsonl", train_records),
        validation=write_jsonl(base / "data" / "validation.jsonl", validation_records),
    )
    assert result.exit_code == 0, result.log[-3:]
    return result


def test_training_reduces_the_loss(trained: RunResult) -> None:
    metrics = trained.metrics

    assert metrics["status"] == "completed" and metrics["training"]["global_step"] == 36
    # A random tiny Llama starts near ln(vocabulary size); LoRA on it gets a clear, steady drop.
    assert metrics["after"]["eval_loss"] < 0.9 * metrics["before"]["eval_loss"]
    assert metrics["training"]["last_logged_loss"] < 0.9 * metrics["training"]["first_logged_loss"]
    losses = [entry["loss"] for entry in trained.events("progress")]
    assert losses[-1] < losses[len(losses) // 2] < losses[0]


def test_outputs_are_written_whole(trained: RunResult) -> None:
    adapter = trained.model_dir / "adapter"
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= {p.name for p in adapter.iterdir()}
    assert (trained.model_dir / "merged" / "model.safetensors").is_file()
    assert (trained.model_dir / "config" / "training_config.yml").is_file()
    assert json.loads((trained.output_data_dir / "metrics.json").read_text()) == trained.metrics
    assert not [path for path in trained.model_dir.iterdir() if path.name.startswith(".")], "staging left behind"
    predictions = [
        json.loads(line) for line in (trained.output_data_dir / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(predictions) == 4 and {"file", "line", "reference", "answer", "parsed"} <= set(predictions[0])


def test_extraction_metrics_before_and_after(trained: RunResult) -> None:
    for phase in ("before", "after"):
        extraction = trained.metrics[phase]["extraction"]
        assert extraction["records"] == 4
        assert set(extraction["micro"]) >= {"precision", "recall", "f1", "support"}
        assert set(extraction["per_field"]) == {
            "cancer_type",
            "stage",
            "gene_mutation",
            "biomarker",
            "treatment",
            "response",
            "metastasis_site",
        }


def test_adapter_reloads_and_merges_with_identical_outputs(trained: RunResult, tiny_model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(trained.model_dir / "adapter"))
    inputs = tokenizer(["Patient with stage II melanoma, BRAF V600E."], return_tensors="pt")
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32).eval()
    with torch.no_grad():
        base_logits = base(**inputs).logits
    adapted = PeftModel.from_pretrained(base, str(trained.model_dir / "adapter")).eval()
    merged = AutoModelForCausalLM.from_pretrained(str(trained.model_dir / "merged"), dtype=torch.float32).eval()

    with torch.no_grad():
        adapted_logits = adapted(**inputs).logits
        merged_logits = merged(**inputs).logits

    assert (adapted_logits - base_logits).abs().max() > 1e-2, "the adapter should change the model"
    torch.testing.assert_close(merged_logits, adapted_logits, atol=1e-4, rtol=1e-4)


def test_logs_are_json_lines_with_readable_progress(trained: RunResult) -> None:
    progress = trained.events("progress")

    assert len(progress) >= 5
    first = progress[0]
    assert {"time", "level", "message", "step", "max_steps", "loss", "learning_rate", "tokens_per_second"} <= set(first)
    assert first["message"].startswith(f"step {first['step']}/36 | loss ")
    assert "tokens/s" in first["message"]
    assert all(entry["tokens_per_second"] > 0 for entry in progress)
    for event in (
        "run_started",
        "data_ready",
        "model_ready",
        "base_evaluated",
        "training_started",
        "checkpoint_saved",
        "run_finished",
    ):
        assert trained.events(event), event
    assert trained.events("training_started")[0]["resumed"] is False


def test_bad_records_train_nothing(
    tmp_path: Path, tiny_model_dir: Path, train_records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sagemaker_src.llm_lora import train as train_module

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model must not be loaded when the data is bad")

    monkeypatch.setattr(train_module, "load_model_for_training", refuse)
    rows: list[Any] = list(train_records[:5])
    rows[1] = {"instruction": "Extract.", "output": {"stage": "II", "grade": "3"}}
    rows[3] = {"messages": [{"role": "user", "content": "hi"}]}
    train = write_jsonl(tmp_path / "train.jsonl", rows)

    result = run_training_in(tmp_path, model=tiny_model_dir, train=train)

    assert result.exit_code == 2
    errors = [entry["message"] for entry in result.events("input_error")]
    assert f"{train}:2: output.grade: unknown extraction field" in errors[0]
    assert errors[1].startswith(f"{train}:4: ")
    assert result.events("run_refused")
    assert not result.model_dir.exists() and not result.checkpoint_dir.exists() and not result.output_data_dir.exists()


def test_bad_validation_file_also_stops_the_run(
    tmp_path: Path, tiny_model_dir: Path, train_records: list[dict[str, Any]]
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", train_records[:4])
    validation = tmp_path / "validation.jsonl"
    validation.write_bytes(b"")

    result = run_training_in(tmp_path, model=tiny_model_dir, train=train, validation=validation)

    assert result.exit_code == 2
    assert result.events("input_error")[0]["message"] == f"{validation}: empty file: no records"


def test_unknown_config_key_stops_the_run(
    tmp_path: Path, tiny_model_dir: Path, train_records: list[dict[str, Any]]
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", train_records[:4])

    result = run_training_in(tmp_path, model=tiny_model_dir, train=train, lora_rnak=4)

    assert result.exit_code == 2
    assert result.events("input_error")[0]["message"].endswith("lora_rnak: unknown key (did you mean 'lora_rank'?)")


def test_missing_locations_are_named(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SM_CHANNEL_TRAIN", raising=False)

    result = run_training_in(tmp_path, model=tiny_model_dir, train=None)

    assert result.exit_code == 2
    assert result.events("input_error")[0]["message"] == "--train_file: required (or set SM_CHANNEL_TRAIN)"


@pytest.mark.skipif(torch.cuda.is_available(), reason="QLoRA runs where CUDA is present")
def test_qlora_without_cuda_fails_with_a_clear_error(
    tmp_path: Path, tiny_model_dir: Path, train_records: list[dict[str, Any]]
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", train_records[:4])

    result = run_training_in(tmp_path, model=tiny_model_dir, train=train, method="qlora")

    assert result.exit_code == 2
    message = result.events("input_error")[0]["message"]
    assert "method: qlora needs a CUDA GPU" in message and "--allow_cpu_fallback" in message
    assert not result.checkpoint_dir.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the fallback is for machines without CUDA")
def test_qlora_cpu_fallback_trains_lora_and_says_so_with_sagemaker_defaults_and_packing(
    tmp_path: Path, tiny_model_dir: Path, train_records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = tmp_path / "channels" / "train"
    write_jsonl(channel / "part-0.jsonl", train_records[:12])
    write_jsonl(channel / "part-1.jsonl", train_records[12:])
    monkeypatch.setenv("SM_CHANNEL_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "sm" / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "sm" / "output"))
    monkeypatch.setenv("SM_CHECKPOINT_DIR", str(tmp_path / "sm" / "checkpoints"))
    config = tmp_path / "training_config.yml"
    from tests.sagemaker_src.lora_helpers import write_config

    write_config(config, method="qlora", packing=True, max_steps=2, merge_adapter=False, max_seq_length=512)

    from sagemaker_src.llm_lora.train import main

    assert main(["--config", str(config), "--allow_cpu_fallback"]) == 0

    metrics = json.loads((tmp_path / "sm" / "model" / "metrics.json").read_text())
    assert metrics["method"] == "lora" and "no CUDA GPU" in metrics["method_note"]
    assert metrics["data"]["train_records"] == 24 and metrics["data"]["packing"] is True
    assert metrics["training"]["global_step"] == 2
    assert (tmp_path / "sm" / "output" / "metrics.json").is_file()
    assert (tmp_path / "sm" / "checkpoints" / "checkpoint-2").is_dir()


def test_a_model_path_without_a_tokenizer_is_named(tmp_path: Path, train_records: list[dict[str, Any]]) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", train_records[:4])
    (tmp_path / "empty-model").mkdir()

    result = run_training_in(tmp_path, model=tmp_path / "empty-model", train=train)

    assert result.exit_code == 2
    assert result.events("input_error")[0]["message"].startswith(
        f"--model_name_or_path {tmp_path / 'empty-model'}: no tokenizer could be loaded"
    )


def test_the_base_evaluation_is_kept_for_a_resumed_run(trained: RunResult) -> None:
    # GIVEN a run that evaluated the base model before training, THEN the result is cached beside its checkpoints,
    # so a resumed run (spot interruption, restart) reads it instead of evaluating the base model again.
    cached = json.loads((trained.checkpoint_dir / "base_evaluation.json").read_text())
    assert cached == trained.metrics["before"]


def test_length_grouping_batches_records_of_similar_length(
    tmp_path: Path, tiny_model_dir: Path, train_records: list[dict[str, Any]]
) -> None:
    result = run_training_in(
        tmp_path,
        model=tiny_model_dir,
        train=write_jsonl(tmp_path / "train.jsonl", train_records),
        group_by_length=True,
        packing=False,
        max_steps=2,
        evaluate_before_training=False,
        merge_adapter=False,
    )
    assert result.exit_code == 0, result.log[-3:]
    assert result.metrics["training"]["global_step"] == 2
