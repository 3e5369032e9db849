"""Loss mask on assistant tokens only, packing without cross-record attention, padding, length stats."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from sagemaker_src.llm_lora.tokenization import (
    IGNORE_INDEX,
    REAL_TOKENS_KEY,
    CausalLMCollator,
    ChatTemplateError,
    Example,
    length_percentiles,
    pack_examples,
    tokenize_messages,
)
from tests.sagemaker_src.lora_helpers import CHAT_RECORDS


def _labelled_text(tokenizer: Any, example: Example) -> str:
    return tokenizer.decode([label for label in example.labels if label != IGNORE_INDEX])


def test_only_assistant_replies_are_learned(tiny_tokenizer: Any) -> None:
    messages = CHAT_RECORDS[1]["messages"]  # user, assistant, user, assistant

    example = tokenize_messages(tiny_tokenizer, messages)

    assert len(example.input_ids) == len(example.labels)
    assert _labelled_text(tiny_tokenizer, example) == "Sotorasib.<|im_end|>\nDabrafenib with trametinib.<|im_end|>\n"
    rendered = tiny_tokenizer.decode(example.input_ids)
    assert rendered == tiny_tokenizer.apply_chat_template(messages, tokenize=False)
    assert all(label in (IGNORE_INDEX, token) for label, token in zip(example.labels, example.input_ids))


def test_a_tokenizer_without_chat_template_is_refused(tiny_tokenizer: Any) -> None:
    import copy

    bare = copy.deepcopy(tiny_tokenizer)
    bare.chat_template = None

    with pytest.raises(ChatTemplateError, match="no chat template"):
        tokenize_messages(bare, CHAT_RECORDS[0]["messages"])


def test_a_template_that_is_not_prefix_stable_is_refused(tiny_tokenizer: Any) -> None:
    import copy

    odd = copy.deepcopy(tiny_tokenizer)
    # Puts a count of the messages first, so a prefix renders differently from the whole conversation.
    odd.chat_template = "{{ messages | length }}{% for m in messages %}{{ m['content'] }}{% endfor %}"

    with pytest.raises(ChatTemplateError, match="renders a conversation prefix differently"):
        tokenize_messages(odd, CHAT_RECORDS[0]["messages"])


def _examples(lengths: list[int]) -> list[Example]:
    return [
        Example(input_ids=[10 + index] * length, labels=[10 + index] * length) for index, length in enumerate(lengths)
    ]


def test_packing_keeps_records_whole_and_within_the_limit() -> None:
    examples = _examples([9, 3, 6, 2, 5, 1, 8])

    packs = pack_examples(examples, max_seq_length=10)

    assert all(len(pack) <= 10 for pack in packs)
    assert sum(len(pack) for pack in packs) == 34
    assert len(packs) == 4  # ceil(34 / 10): best fit leaves no pack that could have been avoided
    for pack in packs:
        assert pack.position_ids is not None
        starts = [index for index, position in enumerate(pack.position_ids) if position == 0]
        pieces = [pack.input_ids[start:end] for start, end in zip(starts, starts[1:] + [len(pack)])]
        assert all(len(set(piece)) == 1 for piece in pieces), "a record was split or merged"
        assert all(len(piece) == len(examples[piece[0] - 10]) for piece in pieces)


def test_collator_pads_unpacked_batches_with_an_attention_mask() -> None:
    batch = CausalLMCollator(pad_token_id=0)(_examples([3, 1]))

    assert batch["input_ids"].tolist() == [[10, 10, 10], [11, 0, 0]]
    assert batch["labels"].tolist() == [[10, 10, 10], [11, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert int(batch[REAL_TOKENS_KEY]) == 4
    assert "position_ids" not in batch


def test_collator_makes_padding_its_own_segment_in_packed_batches() -> None:
    packs = pack_examples(_examples([2, 3, 1]), max_seq_length=5)

    batch = CausalLMCollator(pad_token_id=0)(packs)

    assert "attention_mask" not in batch
    assert batch["position_ids"].tolist() == [[0, 1, 0, 1, 2], [0, 0, 1, 2, 3]]  # 2+3 tokens; 1 token + 4 padding
    assert int(batch[REAL_TOKENS_KEY]) == 6


def test_packed_records_do_not_attend_to_each_other(tiny_model_dir: Any, tiny_tokenizer: Any) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32).eval()
    first, second = (tokenize_messages(tiny_tokenizer, record["messages"]) for record in CHAT_RECORDS)
    (pack,) = pack_examples([first, second], max_seq_length=len(first) + len(second))
    batch = CausalLMCollator(pad_token_id=tiny_tokenizer.pad_token_id)([pack])
    batch.pop(REAL_TOKENS_KEY)

    with torch.no_grad():
        # As in training: no cache (the Trainer turns it off), so transformers reads packing from position ids.
        packed_logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[
            0
        ]
        alone = [model(input_ids=torch.tensor([example.input_ids])).logits[0] for example in (first, second)]

    starts = [index for index, position in enumerate(pack.position_ids or []) if position == 0]
    assert len(starts) == 2
    for start in starts:
        index = next(
            i
            for i, example in enumerate((first, second))
            if pack.input_ids[start : start + len(example)] == example.input_ids
        )
        length = len((first, second)[index])
        torch.testing.assert_close(packed_logits[start : start + length], alone[index], atol=1e-4, rtol=1e-4)


def test_length_percentiles_nearest_rank() -> None:
    assert length_percentiles(list(range(1, 101))) == {"p50": 50, "p90": 90, "p99": 99, "max": 100}
    assert length_percentiles([7]) == {"p50": 7, "p90": 7, "p99": 7, "max": 7}
    assert length_percentiles([]) == {"p50": 0, "p90": 0, "p99": 0, "max": 0}
