"""Records to training tensors: chat template, loss on assistant tokens only, length checks, packing.

Each conversation is rendered with the tokenizer's own chat template and tokenized once. Labels are the
input ids on the assistant's replies (end-of-turn token included, so the model learns to stop) and
:data:`IGNORE_INDEX` elsewhere: the model learns to answer, not to echo prompts. The replies are located by
rendering each prefix of the conversation with the generation prompt; this needs a template whose rendering
of a prefix is a prefix of the whole (true of ChatML, Llama 3 and most others) and says so when it is not.

Packing puts whole records (never split) into sequences of at most ``max_seq_length`` tokens, best fit
first, and gives each record its own position ids starting at 0 with no attention mask: transformers then
builds a block-diagonal mask (or variable-length kernels), so records never attend to each other.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .records import Dataset, Record, RecordError, read_dataset

IGNORE_INDEX = -100
REAL_TOKENS_KEY = "real_token_count"  # popped by the trainer before the forward pass, for tokens/s


class ChatTemplateError(ValueError):
    """The tokenizer's chat template cannot be used to find the assistant's replies."""


@dataclass(frozen=True)
class Example:
    """One tokenized record (or one pack of records when ``position_ids`` is set)."""

    input_ids: list[int]
    labels: list[int]
    position_ids: list[int] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)


def _render(tokenizer: Any, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)
    if not isinstance(text, str):
        raise ChatTemplateError(f"chat template returned {type(text).__name__}, expected text")
    return text


def render_conversation(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of the assistant's replies in it."""
    if not getattr(tokenizer, "chat_template", None):
        raise ChatTemplateError(
            "the tokenizer has no chat template; use an instruction-tuned model's tokenizer or set chat_template"
        )
    full = _render(tokenizer, messages, add_generation_prompt=False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:index], add_generation_prompt=True)
        through_reply = _render(tokenizer, messages[: index + 1], add_generation_prompt=False)
        if not (through_reply.startswith(prompt) and full.startswith(through_reply)):
            raise ChatTemplateError(
                "the chat template renders a conversation prefix differently from the whole conversation, so "
                "the assistant's replies cannot be located for the loss mask"
            )
        spans.append((len(prompt), len(through_reply)))
    return full, spans


def tokenize_messages(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> Example:
    """Input ids and labels (assistant tokens only) of one conversation."""
    text, spans = render_conversation(tokenizer, messages)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(encoding["input_ids"])
    labels = [IGNORE_INDEX] * len(input_ids)
    starts = [start for start, _ in spans]
    for position, (token_start, token_end) in enumerate(encoding["offset_mapping"]):
        token_end = max(token_end, token_start + 1)
        # The span that starts last at or before the token's end may overlap it.
        span_index = bisect.bisect_left(starts, token_end) - 1
        if span_index >= 0:
            span_start, span_end = spans[span_index]
            if token_start < span_end and token_end > span_start:
                labels[position] = input_ids[position]
    return Example(input_ids=input_ids, labels=labels)


def tokenize_records(tokenizer: Any, records: Sequence[Record]) -> list[Example]:
    return [tokenize_messages(tokenizer, record.messages) for record in records]


@dataclass
class PreparedData:
    """A dataset read, checked and tokenized: ``examples[i]`` belongs to ``dataset.records[i]``."""

    dataset: Dataset
    examples: list[Example] = field(default_factory=list)

    @property
    def lengths(self) -> list[int]:
        return [len(example) for example in self.examples]


def prepare_data(
    location: str | Path | list[Path], tokenizer: Any, *, max_seq_length: int, system_prompt: str | None
) -> PreparedData:
    """Read and check every record, tokenize the valid ones, and flag those longer than ``max_seq_length``."""
    dataset = read_dataset(location, system_prompt=system_prompt)
    examples = tokenize_records(tokenizer, dataset.records)
    dataset.add_errors(length_errors(dataset.records, examples, max_seq_length))
    return PreparedData(dataset=dataset, examples=examples)


def length_errors(records: Sequence[Record], examples: Sequence[Example], max_seq_length: int) -> list[RecordError]:
    """An error for each record longer than ``max_seq_length`` tokens (records are never truncated)."""
    errors = []
    for record, example in zip(records, examples, strict=True):
        if len(example) > max_seq_length:
            field = "messages" if record.format.value == "chat" else "instruction+input+output"
            errors.append(
                RecordError(
                    record.path,
                    record.line,
                    field,
                    f"{len(example)} tokens with the chat template > max_seq_length {max_seq_length}",
                )
            )
        elif not any(label != IGNORE_INDEX for label in example.labels):
            errors.append(RecordError(record.path, record.line, "messages", "no assistant tokens to learn from"))
    return errors


def length_percentiles(lengths: Sequence[int]) -> dict[str, int]:
    """Nearest-rank p50 / p90 / p99 and max of token lengths."""
    if not lengths:
        return {"p50": 0, "p90": 0, "p99": 0, "max": 0}
    ordered = sorted(lengths)

    def rank(percent: float) -> int:
        return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": ordered[-1]}


def pack_examples(examples: Sequence[Example], max_seq_length: int) -> list[Example]:
    """Whole examples packed best-fit-decreasing into sequences of at most ``max_seq_length`` tokens."""
    order = sorted(range(len(examples)), key=lambda index: len(examples[index]), reverse=True)
    bins: list[list[int]] = []
    free: list[int] = []
    for index in order:
        size = len(examples[index])
        best = min(
            (bin_index for bin_index, space in enumerate(free) if space >= size),
            key=lambda bin_index: free[bin_index],
            default=None,
        )
        if best is None:
            bins.append([index])
            free.append(max_seq_length - size)
        else:
            bins[best].append(index)
            free[best] -= size
    packs = []
    for members in bins:
        input_ids: list[int] = []
        labels: list[int] = []
        position_ids: list[int] = []
        for index in sorted(members):
            example = examples[index]
            input_ids += example.input_ids
            labels += example.labels
            position_ids += list(range(len(example)))
        packs.append(Example(input_ids=input_ids, labels=labels, position_ids=position_ids))
    return packs


class ExampleDataset(torch.utils.data.Dataset):
    def __init__(self, examples: Sequence[Example]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]


@dataclass(frozen=True)
class CausalLMCollator:
    """Right-pads a batch. Unpacked: with an attention mask. Packed: the padding is one more "record" with
    its own position ids, so no attention mask is needed and records stay separate."""

    pad_token_id: int

    def __call__(self, batch: Sequence[Example]) -> dict[str, torch.Tensor]:
        width = max(len(example) for example in batch)
        packed = batch[0].position_ids is not None
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        position_ids = torch.zeros((len(batch), width), dtype=torch.long)
        for row, example in enumerate(batch):
            length = len(example)
            input_ids[row, :length] = torch.tensor(example.input_ids)
            labels[row, :length] = torch.tensor(example.labels)
            attention_mask[row, :length] = 1
            if packed:
                assert example.position_ids is not None
                position_ids[row, :length] = torch.tensor(example.position_ids)
                position_ids[row, length:] = torch.arange(width - length)
        result = {"input_ids": input_ids, "labels": labels, REAL_TOKENS_KEY: attention_mask.sum()}
        if packed:
            result["position_ids"] = position_ids
        else:
            result["attention_mask"] = attention_mask
        return result
