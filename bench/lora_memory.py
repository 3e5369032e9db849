"""Estimate the GPU memory of a LoRA / QLoRA run from the model's config and the training config.

    python bench/lora_memory.py                                   # Llama 3.1 8B, the shipped training_config.yml
    python bench/lora_memory.py --model-config /mnt/models/Llama-3.1-8B-Instruct/config.json --config my.yml
    python bench/lora_memory.py --method lora --batch-size 4      # what the old defaults needed

Prints each part (sagemaker_src/llm_lora/memory.py explains how each is computed) and the headroom on the
g6.2xlarge's NVIDIA L4 (24 GB, https://aws.amazon.com/ec2/instance-types/g6/). An estimate: measure a real run with
bench/lora_bench.py on the instance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
L4_BYTES = 24e9


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPOSITORY))
    from sagemaker_src.llm_lora.config import DEFAULT_CONFIG_PATH, load_training_config
    from sagemaker_src.llm_lora.memory import GIB, LLAMA_31_8B, estimate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-config", type=Path, help="the model's config.json (default: Llama 3.1 8B's)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="training_config.yml")
    parser.add_argument("--method", choices=("lora", "qlora"), help="override the config's method")
    parser.add_argument("--batch-size", type=int, help="override per_device_train_batch_size")
    parser.add_argument("--gpu-gb", type=float, default=L4_BYTES / 1e9, help="GPU memory in GB (default: L4, 24)")
    arguments = parser.parse_args(argv)

    config = load_training_config(arguments.config)
    model = json.loads(arguments.model_config.read_text()) if arguments.model_config else LLAMA_31_8B
    result = estimate(
        model,
        method=arguments.method or config.method,
        batch_size=arguments.batch_size or config.per_device_train_batch_size,
        sequence_length=config.max_seq_length,
        lora_rank=config.lora_rank,
        target_modules=config.lora_target_modules,
        gradient_checkpointing=config.gradient_checkpointing,
        fused_cross_entropy=config.fused_cross_entropy,
    )
    capacity = arguments.gpu_gb * 1e9
    print(
        f"{arguments.method or config.method}, batch {arguments.batch_size or config.per_device_train_batch_size} x "
        f"{config.max_seq_length} tokens, rank {config.lora_rank}:"
    )
    for name, value in result.rows():
        print(f"  {name:24s} {value / GIB:6.2f} GiB")
    print(f"  {'GPU':24s} {capacity / GIB:6.2f} GiB -> {100 * (1 - result.total / capacity):.0f}% headroom")
    return 0 if result.total <= capacity else 1


if __name__ == "__main__":
    raise SystemExit(main())
