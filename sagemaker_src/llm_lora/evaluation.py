"""Generation-based evaluation of extraction records: field-level precision, recall and F1.

The model answers each validation prompt greedily; the first JSON object in the answer is compared with
the reference fields (:func:`.extraction.score_extractions`). Validation loss is the Trainer's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import torch

from .extraction import extract_json_object, score_extractions
from .records import Record


def generate_answers(
    model: Any, tokenizer: Any, records: Sequence[Record], *, max_new_tokens: int, batch_size: int
) -> list[str]:
    """Greedy answers to each record's conversation minus its final assistant reply."""
    answers: list[str] = []
    device = next(model.parameters()).device
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only models generate after the last real token
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            prompts = [
                tokenizer.apply_chat_template(list(record.messages[:-1]), tokenize=False, add_generation_prompt=True)
                for record in batch
            ]
            encoded = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt").to(device)
            autocast = (
                torch.autocast("cuda", dtype=torch.bfloat16)
                if device.type == "cuda" and torch.cuda.is_bf16_supported()
                else nullcontext()
            )
            with torch.no_grad(), autocast:
                generated = model.generate(
                    **encoded,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    use_cache=True,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new_tokens = generated[:, encoded["input_ids"].shape[1] :]
            answers += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = previous_side
        model.train(was_training)
    return answers


def evaluate_extraction(
    model: Any,
    tokenizer: Any,
    records: Sequence[Record],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(scores, per-record predictions) of the model on extraction records."""
    answers = generate_answers(model, tokenizer, records, max_new_tokens=max_new_tokens, batch_size=batch_size)
    parsed = [extract_json_object(answer) for answer in answers]
    references = [dict(record.reference or {}) for record in records]
    scores = score_extractions(parsed, references)
    predictions = [
        {"file": record.path, "line": record.line, "reference": reference, "answer": answer, "parsed": fields}
        for record, reference, answer, fields in zip(records, references, answers, parsed, strict=True)
    ]
    return scores, predictions
