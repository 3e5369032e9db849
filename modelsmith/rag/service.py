"""The HTTP service ``modelsmith rag serve`` runs (FastAPI):

- ``POST /ask`` with ``{"question": str, "k": 1..20 (default 4), "max_new_tokens": 1..2048 (default 256)}``
  answers ``{"question", "answer", "sources": [{"number", "source", "chunk_id", "score", "text", "cited"}],
  "embedding_model", "llm", "seconds"}`` (``answer`` is null in retrieval-only mode). A bad request gets 422
  with ``{"error": "<field>: <problem>; ...", "problems": [...]}``; while the models load, 503.
- ``GET /health``: ``{"status": "ok" | "loading" | "error", "index_loaded", "model_loaded", "stage", "chunks",
  "embedding_model", "llm", "device", "error"}``, with status 200 when ready and 503 otherwise.

The models load in a background thread after the server starts, so ``/health`` answers at once.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelsmith.cli_support import CliError, describe_error
from modelsmith.rag import DEFAULT_K, DEFAULT_MAX_NEW_TOKENS, MAX_K, MAX_NEW_TOKENS, MAX_QUESTION_CHARACTERS
from modelsmith.rag.engine import RagEngine


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=MAX_QUESTION_CHARACTERS, description="the question, in plain text")
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K, description="how many chunks to retrieve")
    max_new_tokens: int = Field(
        default=DEFAULT_MAX_NEW_TOKENS, ge=1, le=MAX_NEW_TOKENS, description="answer length limit"
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


class Source(BaseModel):
    number: int
    source: str
    chunk_id: str
    score: float
    text: str
    cited: bool


class AskResponse(BaseModel):
    question: str
    answer: str | None
    sources: list[Source]
    embedding_model: str
    llm: str | None
    seconds: float


class Health(BaseModel):
    status: Literal["ok", "loading", "error"]
    index_loaded: bool
    model_loaded: bool
    stage: str
    chunks: int | None
    embedding_model: str | None
    llm: str | None
    device: str | None
    error: str | None


def _problem(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return f"body: not valid JSON ({error.get('ctx', {}).get('error', 'decode error')})"
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
    return f"{location}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}"


def health_of(engine: RagEngine) -> Health:
    status = "ok" if engine.ready else "error" if engine.error else "loading"
    embedder = engine.embedder
    return Health(
        status=status,
        index_loaded=engine.index is not None,
        model_loaded=embedder is not None and (engine.generator is not None or not engine.wants_generator),
        stage=engine.stage,
        chunks=engine.index.manifest.chunks if engine.index else None,
        embedding_model=engine.index.manifest.embedding_model if engine.index else None,
        llm=engine.generator.name if engine.generator else None,
        device=embedder.placement.label if embedder else None,
        error=engine.error,
    )


def create_app(engine: RagEngine, *, load: Callable[[RagEngine], object] | None = None) -> FastAPI:
    """The service over ``engine``; with ``load``, the engine is filled by ``load(engine)`` in the background."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if load is not None:
            threading.Thread(target=_load, name="rag-model-loader", daemon=True).start()
        yield

    def _load() -> None:
        try:
            load(engine)  # type: ignore[misc]
        except BaseException as error:  # noqa: BLE001 - reported by /health, the server keeps answering
            message, hint, _ = describe_error(error)
            engine.error = f"{message} ({hint})" if hint else message
            engine.stage = "failed"

    app = FastAPI(
        title="Modelsmith RAG", summary="Answers questions from your documents, citing them.", lifespan=lifespan
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_problem(item) for item in error.errors()]
        return JSONResponse(status_code=422, content={"error": "; ".join(problems), "problems": problems})

    @app.exception_handler(CliError)
    async def _known_error(_: Request, error: CliError) -> JSONResponse:
        return JSONResponse(
            status_code=400 if error.exit_code == 2 else 500, content={"error": error.message, "hint": error.hint}
        )

    @app.get("/health", response_model=Health)
    def health() -> JSONResponse:
        report = health_of(engine)
        return JSONResponse(status_code=200 if report.status == "ok" else 503, content=report.model_dump())

    @app.post(
        "/ask",
        response_model=AskResponse,
        responses={422: {"description": "invalid request"}, 503: {"description": "still loading, or loading failed"}},
    )
    def ask(request: AskRequest) -> Any:
        if not engine.ready:
            report = health_of(engine)
            message = (
                f"not ready: {report.error}" if report.error else f"not ready yet ({report.stage}); try again shortly"
            )
            return JSONResponse(status_code=503, content={"error": message})
        answer = engine.answer(request.question, request.k, request.max_new_tokens)
        assert engine.index is not None  # ready
        sources = [
            Source(
                number=number,
                source=hit.chunk.source,
                chunk_id=hit.chunk.chunk_id,
                score=round(hit.score, 4),
                text=hit.chunk.text,
                cited=number in answer.cited,
            )
            for number, hit in enumerate(answer.hits, start=1)
        ]
        return AskResponse(
            question=request.question,
            answer=answer.text,
            sources=sources,
            embedding_model=engine.index.manifest.embedding_model,
            llm=engine.generator.name if engine.generator else None,
            seconds=round(answer.seconds, 3),
        )

    return app
