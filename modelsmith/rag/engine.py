"""Retrieval and answering, the same for the command line and the HTTP service.

:class:`RagSettings` says what to load; :func:`load_engine` loads it step by step into a :class:`RagEngine`
(index first, so a missing index fails before any model is read), and :meth:`RagEngine.answer` retrieves the
top-k chunks, builds the prompt with numbered sources and asks the generator, dropping the least similar
sources when the prompt would not fit the model's context.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from modelsmith.cli_support import InputError
from modelsmith.rag import DEFAULT_MAX_NEW_TOKENS, MAX_K, MAX_NEW_TOKENS, MAX_QUESTION_CHARACTERS
from modelsmith.rag.embeddings import Embedder, EmbeddingModelError, model_fingerprint, model_identity
from modelsmith.rag.generation import (
    SMOLLM2,
    BedrockGenerator,
    Generator,
    LocalGenerator,
    bedrock_client,
    resolve_local_model,
)
from modelsmith.rag.precision import Precision
from modelsmith.rag.prompts import build_messages, cited_sources
from modelsmith.rag.store import Hit, Manifest, VectorIndex, check_model


class GeneratorKind(str, Enum):
    LOCAL = "local"
    BEDROCK = "bedrock"
    NONE = "none"  # retrieval only


@dataclass(frozen=True)
class RagSettings:
    index_dir: Path
    embedding_model: str | None = None  # None: the model that built the index
    generator: GeneratorKind = GeneratorKind.LOCAL
    llm: str | None = None  # local: smollm2 / directory / .gguf / Hub ID; bedrock: model ID
    precision: Precision = Precision.AUTO
    bedrock_client: Callable[[], Any] | None = (
        None  # makes the Bedrock Runtime client (default: the shell's credentials)
    )
    sleep: Callable[[float], None] | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    text: str | None  # None: retrieval only
    hits: list[Hit]
    cited: list[int]  # source numbers the answer cites
    seconds: float


@dataclass
class RagEngine:
    """What answering needs; filled step by step by :func:`load_engine` (the service reports progress)."""

    index: VectorIndex | None = None
    embedder: Embedder | None = None
    generator: Generator | None = None
    wants_generator: bool = True
    stage: str = "not loaded"
    error: str | None = None

    @property
    def ready(self) -> bool:
        return (
            self.index is not None
            and self.embedder is not None
            and (self.generator is not None or not self.wants_generator)
        )

    def retrieve(self, question: str, k: int) -> list[Hit]:
        check_question(question)
        check_k(k)
        if self.index is None or self.embedder is None:
            raise RuntimeError("the engine is not loaded")
        return self.index.search(self.embedder.encode([question.strip()])[0], k)

    def answer(self, question: str, k: int, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> Answer:
        started = time.monotonic()
        if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
            raise InputError(f"max_new_tokens {max_new_tokens} is out of range (1 to {MAX_NEW_TOKENS})")
        hits = self.retrieve(question, k)
        if self.generator is None:
            return Answer(question, None, hits, [], time.monotonic() - started)
        used = list(hits)
        messages = build_messages(question, used)
        while used and not self.generator.fits(messages, max_new_tokens):
            used.pop()  # the least similar source goes first
            messages = build_messages(question, used)
        text = self.generator.generate(messages, max_new_tokens)
        return Answer(question, text, used, cited_sources(text, len(used)), time.monotonic() - started)


def check_question(question: str) -> None:
    if not question.strip():
        raise InputError(
            "the question is empty", 'ask something, e.g. modelsmith rag ask "How do I reset my password?"'
        )
    if len(question) > MAX_QUESTION_CHARACTERS:
        raise InputError(f"the question has {len(question)} characters; at most {MAX_QUESTION_CHARACTERS} are allowed")


def check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise InputError(f"k = {k} is out of range (1 to {MAX_K})")


def preflight(settings: RagSettings) -> Manifest:
    """Cheap checks before anything loads: the index exists, ``--model`` is the index's own, the local model exists."""
    manifest = VectorIndex.read_manifest(settings.index_dir)
    if settings.embedding_model:
        fingerprint = model_fingerprint(settings.embedding_model)
        check_model(manifest, model_identity(settings.embedding_model), fingerprint, manifest.dimension)
    elif manifest.embedding_model.startswith("/") and not Path(manifest.embedding_model).is_dir():
        raise EmbeddingModelError(
            f"the index's embedding model {manifest.embedding_model} is not on this machine",
            "copy that model directory here and pass --model DIR (its files are checked against the index)",
        )
    if settings.generator is GeneratorKind.LOCAL:
        resolve_local_model(settings.llm or SMOLLM2)
    elif settings.generator is GeneratorKind.BEDROCK and not settings.llm:
        raise InputError("--generator bedrock needs a model ID", "pass --llm MODEL_ID")
    return manifest


def load_engine(settings: RagSettings, engine: RagEngine | None = None) -> RagEngine:
    """Load the index, the embedding model (the index's own unless another is asked for, which must match)
    and the generator into ``engine`` (a new one by default); errors say which command creates what is missing."""
    engine = engine or RagEngine()
    engine.wants_generator = settings.generator is not GeneratorKind.NONE
    engine.stage = "loading index"
    manifest = preflight(settings)
    engine.index = VectorIndex.load(settings.index_dir)
    engine.stage = "loading embedding model"
    embedder = Embedder(settings.embedding_model or manifest.embedding_model, precision=settings.precision)
    engine.index.check_model(embedder.identity, embedder.fingerprint, embedder.dimension)
    engine.embedder = embedder
    if settings.generator is GeneratorKind.LOCAL:
        engine.stage = "loading language model"
        engine.generator = LocalGenerator(settings.llm or SMOLLM2, precision=settings.precision)
    elif settings.generator is GeneratorKind.BEDROCK:
        if settings.bedrock_client is not None:
            client = settings.bedrock_client()
        else:
            import boto3

            client = bedrock_client(boto3.Session())
        engine.generator = BedrockGenerator(str(settings.llm), client, sleep=settings.sleep)
    engine.stage = "ready"
    return engine
