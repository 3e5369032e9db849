"""GPU memory a LoRA / QLoRA run needs, estimated from the model's config and the training config.

An estimate, not a measurement: what each part of a training step holds at its peak, in bytes.

- **Base weights**: bf16 (2 bytes a parameter) for LoRA; for QLoRA, bitsandbytes' 4-bit NF4 with double
  quantization (4 bits plus about 0.127 bits of block constants a parameter, the QLoRA paper's figure) for the
  linear layers, while the embeddings and the output layer stay bf16 (bitsandbytes skips ``lm_head``; the embedding
  is not a linear layer).
- **Adapters**: rank-``r`` A and B matrices on each target projection; their weights, gradients and AdamW's two
  moments in fp32: 16 bytes a parameter.
- **Activations**: with gradient checkpointing, each layer keeps its input (batch x sequence x hidden, bf16) and
  one layer at a time is recomputed with its intermediate tensors (attention through SDPA, never a
  sequence x sequence matrix). Without it, every layer keeps those intermediates.
- **Logits**: batch x sequence x vocabulary in bf16, its fp32 copy for the loss and the fp32 gradient
  (transformers' causal-LM loss upcasts the logits): 10 bytes an element, unless a fused linear cross-entropy
  (Liger) computes the loss in chunks without them.
- **CUDA context and allocator slack**: 1 GiB plus 10% of the rest.

The model shapes come from its ``config.json`` (``hidden_size``, ``num_hidden_layers``, ``intermediate_size``,
``num_attention_heads``, ``num_key_value_heads``, ``vocab_size``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GIB = 1024**3
QLORA_BITS_PER_PARAMETER = 4.127  # NF4 + double-quantized block constants (Dettmers et al., QLoRA, 2023, section 3)
ADAPTER_BYTES_PER_PARAMETER = 16  # fp32 weight, gradient, AdamW first and second moments
LOGIT_BYTES_PER_ELEMENT = 10  # bf16 logits + fp32 upcast for the loss + fp32 gradient
CUDA_CONTEXT_BYTES = 1 * GIB
ALLOCATOR_SLACK = 0.10

# Meta's Llama 3.1 8B config.json (meta-llama/Llama-3.1-8B-Instruct on the Hugging Face Hub).
LLAMA_31_8B: Mapping[str, Any] = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
}


@dataclass(frozen=True)
class MemoryEstimate:
    base_weights: float
    adapters: float
    activations: float
    logits: float
    overhead: float

    @property
    def total(self) -> float:
        return self.base_weights + self.adapters + self.activations + self.logits + self.overhead

    def rows(self) -> list[tuple[str, float]]:
        return [
            ("base weights", self.base_weights),
            ("adapters + optimizer", self.adapters),
            ("activations", self.activations),
            ("logits", self.logits),
            ("CUDA context + slack", self.overhead),
            ("total", self.total),
        ]


def _projection_shapes(model: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    hidden, intermediate = model["hidden_size"], model["intermediate_size"]
    head_dim = model.get("head_dim") or hidden // model["num_attention_heads"]
    kv = model.get("num_key_value_heads", model["num_attention_heads"]) * head_dim
    return {
        "q_proj": (hidden, model["num_attention_heads"] * head_dim),
        "k_proj": (hidden, kv),
        "v_proj": (hidden, kv),
        "o_proj": (model["num_attention_heads"] * head_dim, hidden),
        "gate_proj": (hidden, intermediate),
        "up_proj": (hidden, intermediate),
        "down_proj": (intermediate, hidden),
    }


def estimate(
    model: Mapping[str, Any],
    *,
    method: str,
    batch_size: int,
    sequence_length: int,
    lora_rank: int,
    target_modules: tuple[str, ...],
    gradient_checkpointing: bool = True,
    fused_cross_entropy: bool = False,
) -> MemoryEstimate:
    """Peak GPU bytes of one training step of ``model`` (a config.json mapping); see the module docstring."""
    if method not in ("lora", "qlora"):
        raise ValueError(f"method = {method!r}: expected lora or qlora")
    shapes = _projection_shapes(model)
    unknown = sorted(set(target_modules) - shapes.keys())
    if unknown:
        raise ValueError(f"lora_target_modules: {unknown} are not projections of a Llama-class model")
    layers, hidden, vocab = model["num_hidden_layers"], model["hidden_size"], model["vocab_size"]
    linear = layers * sum(n_in * n_out for n_in, n_out in shapes.values())
    embeddings = vocab * hidden * (1 if model.get("tie_word_embeddings") else 2)
    if method == "qlora":
        base = linear * QLORA_BITS_PER_PARAMETER / 8 + embeddings * 2
    else:
        base = (linear + embeddings) * 2
    adapter_parameters = layers * sum(lora_rank * (shapes[m][0] + shapes[m][1]) for m in target_modules)
    tokens = batch_size * sequence_length
    # One layer's intermediates in bf16: q, k, v, attention output, o, two norms, gate, up, their product, down input.
    kv = shapes["k_proj"][1]
    layer_intermediates = tokens * (4 * hidden + 2 * kv + 2 * hidden + 3 * model["intermediate_size"]) * 2
    if gradient_checkpointing:
        activations = layers * tokens * hidden * 2 + layer_intermediates
    else:
        activations = layers * layer_intermediates
    logits = 0.0 if fused_cross_entropy else tokens * vocab * LOGIT_BYTES_PER_ELEMENT
    subtotal = base + adapter_parameters * ADAPTER_BYTES_PER_PARAMETER + activations + logits
    return MemoryEstimate(
        base,
        adapter_parameters * ADAPTER_BYTES_PER_PARAMETER,
        activations,
        logits,
        CUDA_CONTEXT_BYTES + ALLOCATOR_SLACK * subtotal,
    )
