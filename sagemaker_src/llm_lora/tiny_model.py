"""A tiny random Llama and a tokenizer trained on the spot, for tests and benchmarks without any download.

The tokenizer is a byte-level BPE trained on the given texts, with ChatML special tokens and template, so
it round-trips any text and exercises the same chat-template code path as a real instruct model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ("<|pad|>", "<|im_start|>", "<|im_end|>")


def build_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` with a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(texts), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<|pad|>", bos_token="<|im_start|>", eos_token="<|im_end|>"
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def build_model(tokenizer: Any, *, hidden_size: int = 64, layers: int = 2, heads: int = 4, seed: int = 0) -> Any:
    """A randomly initialised Llama sized for the tokenizer (intermediate size 4/3 × 2 × hidden)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 8 // 3 // 8 * 8 or 8,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def save_tiny_model(directory: Path, texts: Iterable[str], **model_options: Any) -> Path:
    """Build and save a tokenizer and tiny Llama to ``directory`` (a model directory like any other)."""
    tokenizer = build_tokenizer(texts)
    model = build_model(tokenizer, **model_options)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return Path(directory)


_CANCERS = ("breast cancer", "non-small cell lung cancer", "colorectal cancer", "melanoma", "ovarian cancer")
_STAGES = ("stage I", "stage II", "stage IIIA", "stage IV")
_MUTATIONS = ("EGFR exon 19 deletion", "KRAS G12C", "BRAF V600E", "BRCA1", "ALK fusion")
_BIOMARKERS = ("HER2 positive", "PD-L1 50%", "ER positive", "CEA elevated", "MSI-high")
_TREATMENTS = ("osimertinib", "sotorasib", "dabrafenib plus trametinib", "olaparib", "pembrolizumab")
_RESPONSES = ("partial response", "complete response", "stable disease", "progressive disease")
_SITES = ("liver", "bone", "brain", "lung", "adrenal gland")
EXTRACTION_INSTRUCTION = (
    "Extract cancer_type, stage, gene_mutation, biomarker, treatment, response and metastasis_site from the "
    "clinical note. Answer with JSON only."
)


def synthetic_extraction_records(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Instruction records of the extraction schema built from short synthetic clinical notes."""
    import random

    generator = random.Random(seed)
    records = []
    for _ in range(count):
        facts = {
            "cancer_type": generator.choice(_CANCERS),
            "stage": generator.choice(_STAGES),
            "gene_mutation": generator.choice(_MUTATIONS),
            "biomarker": generator.choice(_BIOMARKERS),
            "treatment": generator.choice(_TREATMENTS),
            "response": generator.choice(_RESPONSES),
            "metastasis_site": generator.choice(_SITES),
        }
        for optional in ("biomarker", "metastasis_site"):
            if generator.random() < 0.3:
                del facts[optional]
        note = (
            f"Patient aged {generator.randint(35, 85)} with {facts['stage']} {facts['cancer_type']}, "
            f"tumour harbouring {facts['gene_mutation']}"
            + (f", {facts['biomarker']}" if "biomarker" in facts else "")
            + f". Started {facts['treatment']}; imaging shows {facts['response']}"
            + (f" with metastasis to the {facts['metastasis_site']}" if "metastasis_site" in facts else "")
            + "."
        )
        records.append({"instruction": EXTRACTION_INSTRUCTION, "input": note, "output": facts})
    return records
