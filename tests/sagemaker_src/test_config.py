"""training_config.yml: the shipped file loads; unknown keys, resource locations, bad types and ranges fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagemaker_src.llm_lora.config import DEFAULT_CONFIG_PATH, ConfigError, TrainingConfig, load_training_config


def test_shipped_config_loads_and_sets_every_key() -> None:
    import yaml

    config = load_training_config(DEFAULT_CONFIG_PATH)

    assert isinstance(config, TrainingConfig)
    assert set(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())) == set(config.to_dict())
    # QLoRA with batch 1 x 16 accumulation steps: fits Llama 3.1 8B on the L4 (tests/sagemaker_src/test_memory.py)
    assert config.method == "qlora" and config.lora_target_modules[0] == "q_proj"
    assert (config.per_device_train_batch_size, config.gradient_accumulation_steps) == (1, 16)
    assert not config.fused_cross_entropy and not config.group_by_length


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("lora_rnak: 8\n", "lora_rnak: unknown key (did you mean 'lora_rank'?)"),
        ("wibble: 1\n", "wibble: unknown key; known keys: method, precision, "),
        (
            "model_name_or_path: meta-llama/Llama-3.1-8B\n",
            (
                "model_name_or_path: not allowed here: resource locations come from command-line arguments or SM_* "
                "environment variables, never from the config file"
            ),
        ),
        ("learning_rate: fast\n", "learning_rate: expected a number, got 'fast'"),
        ("lora_rank: 8.5\n", "lora_rank: expected an integer, got 8.5"),
        ("packing: 'yes'\n", "packing: expected true or false, got 'yes'"),
        ("method: dora\n", "method: expected one of 'lora', 'qlora', got 'dora'"),
        ("lora_target_modules: q_proj\n", "lora_target_modules: expected a non-empty list of names, got 'q_proj'"),
        ("eval_steps: many\n", "eval_steps: expected an integer, got 'many' or null"),
        ("lora_dropout: 1.5\n", "lora_dropout: must be in [0, 1), got 1.5"),
        ("lr_scheduler_type: cosine_annealing\n", "lr_scheduler_type: expected one of "),
        ("save_total_limit: 1\n", "save_total_limit: must be >= 2 so a corrupted newest checkpoint has a fallback"),
        ("- a\n- b\n", "expected a mapping of keys to values, got list"),
        ("lora_rank: [\n", "not valid YAML"),
        ("packing: true\ngroup_by_length: true\n", "group_by_length: packing already fills every sequence"),
        ("fused_cross_entropy: 1\n", "fused_cross_entropy: expected true or false, got 1"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "training_config.yml"
    path.write_text(text)

    with pytest.raises(ConfigError) as raised:
        load_training_config(path)

    assert str(raised.value).startswith(f"{path}: {problem}")


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "training_config.yml"
    path.write_text("lora_rnak: 8\nlearning_rate: fast\ntrain_file: /data/x.jsonl\n")

    with pytest.raises(ConfigError) as raised:
        load_training_config(path)

    assert [problem.split(":")[0] for problem in raised.value.problems] == ["lora_rnak", "learning_rate", "train_file"]


def test_keys_left_out_take_defaults(tmp_path: Path) -> None:
    path = tmp_path / "training_config.yml"
    path.write_text("lora_rank: 4\nnum_train_epochs: 1\n")

    config = load_training_config(path)

    assert config.lora_rank == 4 and config.num_train_epochs == 1.0
    assert config.lora_alpha == TrainingConfig().lora_alpha


def test_fused_cross_entropy_is_refused_without_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sagemaker_src.llm_lora import modeling

    monkeypatch.setattr(modeling.torch.cuda, "is_available", lambda: False)
    path = tmp_path / "training_config.yml"
    path.write_text("method: lora\nfused_cross_entropy: true\n")
    with pytest.raises(modeling.RuntimeUnavailableError, match="fused_cross_entropy: Liger's kernels are Triton GPU"):
        modeling.resolve_runtime(load_training_config(path))
