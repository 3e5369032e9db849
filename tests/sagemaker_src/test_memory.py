"""The GPU memory estimate (sagemaker_src/llm_lora/memory.py) and what it says about the shipped defaults."""

from __future__ import annotations

import pytest

from sagemaker_src.llm_lora.config import DEFAULT_CONFIG_PATH, load_training_config
from sagemaker_src.llm_lora.memory import GIB, LLAMA_31_8B, estimate

L4_BYTES = 24e9  # NVIDIA L4 of the g6.2xlarge: 24 GB (https://aws.amazon.com/ec2/instance-types/g6/)
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _shipped(**overrides):
    config = load_training_config(DEFAULT_CONFIG_PATH)
    settings = dict(
        method=config.method,
        batch_size=config.per_device_train_batch_size,
        sequence_length=config.max_seq_length,
        lora_rank=config.lora_rank,
        target_modules=config.lora_target_modules,
        gradient_checkpointing=config.gradient_checkpointing,
        fused_cross_entropy=config.fused_cross_entropy,
    )
    return estimate(LLAMA_31_8B, **{**settings, **overrides})


def test_the_shipped_defaults_fit_llama_31_8b_on_an_l4_with_a_third_to_spare() -> None:
    result = _shipped()
    assert result.total < 0.67 * L4_BYTES, [(name, round(value / GIB, 2)) for name, value in result.rows()]


def test_the_old_defaults_did_not_fit() -> None:
    # bf16 LoRA with batch 4: the base alone is ~15 GiB and the logits of 4 x 2,048 tokens ~10 GiB.
    assert _shipped(method="lora", batch_size=4).total > L4_BYTES


def test_the_parts_follow_the_model_shapes() -> None:
    result = _shipped(method="qlora", batch_size=1)
    # Embeddings and output layer stay bf16 (2 x 128,256 x 4,096 x 2 bytes); the rest is ~4.1 bits a parameter.
    assert 5.0 * GIB < result.base_weights < 5.6 * GIB
    # 1 x 2,048 tokens x 128,256 vocabulary x 10 bytes
    assert result.logits == 2048 * 128256 * 10
    # rank 16 on all seven projections of 32 layers: 41.9 M adapter parameters, 16 bytes each
    assert result.adapters == 16 * 32 * 16 * (2 * (4096 + 4096) + 2 * (4096 + 1024) + 3 * (4096 + 14336))


def test_fused_cross_entropy_never_holds_the_logits() -> None:
    assert _shipped(fused_cross_entropy=True).logits == 0


@pytest.mark.parametrize(
    ("override", "message"),
    [({"method": "full"}, "method = 'full'"), ({"target_modules": ("qkv",)}, "lora_target_modules")],
)
def test_bad_settings_are_named(override, message) -> None:
    with pytest.raises(ValueError, match=message):
        _shipped(**override)
