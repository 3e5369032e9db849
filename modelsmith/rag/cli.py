"""``modelsmith rag``: index your documents, ask questions about them, serve the answers over HTTP.

    modelsmith rag ingest docs/ --model minilm                    # -> ./rag-index (or --index DIR)
    modelsmith rag ask "How do I rotate the API key?"             # local SmolLM2 answers, citing [1], [2], ...
    modelsmith rag ask "..." --generator none -k 8                # only the retrieved chunks
    modelsmith rag ask "..." --generator bedrock --llm us.anthropic.claude-3-5-haiku-20241022-v1:0
    modelsmith rag serve --llm /opt/modelsmith/runs/x/model/merged --port 8080   # on the GPU instance

The embedding model is the index's own at question time; at ingest it is ``--model`` (``minilm``, a
fine-tuned model directory, or a Hub ID), by default the environment's ``retrieval_pipeline.base_model_id``.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from modelsmith.cli_support import AppState, InputError, app_state, environment_config
from modelsmith.rag import DEFAULT_K, DEFAULT_MAX_NEW_TOKENS, MAX_K, MAX_NEW_TOKENS
from modelsmith.rag.engine import Answer, GeneratorKind, RagEngine, RagSettings, check_question, load_engine, preflight
from modelsmith.rag.precision import Precision
from modelsmith.rag.splitter import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from modelsmith.rag.store import DEFAULT_INDEX_DIR

app = typer.Typer(
    help="Retrieval-augmented answers from your own documents (FAISS index, local LM or Bedrock).", no_args_is_help=True
)

INDEX_OPTION = typer.Option(DEFAULT_INDEX_DIR, "--index", envvar="MODELSMITH_RAG_INDEX", help="index directory")
PRECISION_OPTION = typer.Option(Precision.AUTO, "--precision", help="auto: bf16 (fp16) on CUDA, fp32 on CPU")
GENERATOR_OPTION = typer.Option(
    GeneratorKind.LOCAL,
    "--generator",
    "-g",
    help="local: a causal LM on this machine; bedrock: Converse; none: retrieval only",
)
LLM_OPTION = typer.Option(
    None,
    "--llm",
    help="local: smollm2 (default), a model directory (e.g. a LoRA run's merged "
    "model) or .gguf; bedrock: a model ID (default: the environment's agent model)",
)
QUERY_MODEL_OPTION = typer.Option(
    None, "--model", help="embedding model; must be the one that built the index (default: that one)"
)


@app.callback()
def quiet_libraries() -> None:
    """Before any model library is imported (tqdm reads TQDM_DISABLE then): no download or conversion progress
    bars and no notices about 4-bit CPU kernels this code never uses; the commands show their own progress."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


def quiet_model_loading() -> None:
    """transformers' and the Hub's own progress bars and warnings off (imports them: call when loading)."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    disable_progress_bars()


def settings_for(
    state: AppState, index: Path, model: str | None, generator: GeneratorKind, llm: str | None, precision: Precision
) -> RagSettings:
    if generator is GeneratorKind.BEDROCK and not llm:
        llm = environment_config(state.env).agent.foundation_model_id
    from modelsmith.rag.generation import bedrock_client

    return RagSettings(
        index_dir=index,
        embedding_model=model,
        generator=generator,
        llm=llm,
        precision=precision,
        bedrock_client=lambda: bedrock_client(state.aws()),
        sleep=state.sleep,
    )


@app.command()
def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ..., help='folders and files: .txt .md .markdown .rst, or corpus .jsonl ({"id", "text"})'
    ),
    index: Path = INDEX_OPTION,
    model: str = typer.Option(
        None,
        "--model",
        help="embedding model: minilm (packaged), a fine-tuned model directory or a "
        "Hub ID (default: the environment's retrieval_pipeline.base_model_id)",
    ),
    chunk_size: int = typer.Option(DEFAULT_CHUNK_SIZE, "--chunk-size", min=50, max=20_000, help="characters per chunk"),
    overlap: int = typer.Option(
        DEFAULT_CHUNK_OVERLAP, "--overlap", min=0, help="characters shared by neighbouring chunks"
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1, max=4096, help="chunks embedded at once"),
    precision: Precision = PRECISION_OPTION,
) -> None:
    """Split the documents into chunks, embed them and save a FAISS index with its chunk store (replacing any there)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from modelsmith.rag.documents import find_files, read_file
    from modelsmith.rag.embeddings import Embedder
    from modelsmith.rag.splitter import Chunk, check_sizes, split_document
    from modelsmith.rag.store import Manifest, VectorIndex

    state = app_state(ctx)
    try:
        check_sizes(chunk_size, overlap)
    except ValueError as error:
        raise InputError(str(error), "pick --overlap below half of --chunk-size") from None
    files = find_files(paths)
    model_name = model or environment_config(state.env).retrieval_pipeline.base_model_id
    started = datetime.now(UTC)
    problems: list[str] = []
    chunks: list[Chunk] = []
    documents = 0
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    console = state.progress_console()
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        reading = progress.add_task("reading and splitting documents", total=len(files))
        for file in files:
            for document in read_file(file, problems):
                documents += 1
                chunks.extend(split_document(document.source, document.text, chunk_size=chunk_size, overlap=overlap))
            progress.advance(reading)
        if not problems and chunks:
            loading = progress.add_task(f"loading embedding model {model_name}", total=None)
            quiet_model_loading()
            embedder = Embedder(model_name, precision=precision)
            progress.update(loading, total=1, completed=1)
            embedding = progress.add_task(f"embedding chunks ({embedder.placement.label})", total=len(chunks))
            vectors = embedder.encode(
                [chunk.text for chunk in chunks],
                batch_size=batch_size,
                on_batch=lambda count: progress.advance(embedding, count),
            )
    for problem in problems:
        state.console.print(problem, markup=False)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise InputError(
            f"{len(problems)} {noun} in the documents; nothing indexed", "fix the lines above and run ingest again"
        )
    if not chunks:
        raise InputError(
            f"no text in {len(files)} file(s); nothing indexed", "point `modelsmith rag ingest` at your documents"
        )
    manifest = Manifest(
        embedding_model=embedder.identity,
        embedding_model_fingerprint=embedder.fingerprint,
        dimension=embedder.dimension,
        chunk_size=chunk_size,
        chunk_overlap=overlap,
        documents=documents,
        chunks=len(chunks),
        created=started.isoformat(timespec="seconds"),
    )
    VectorIndex.build(manifest, vectors, chunks).save(index)
    seconds = (datetime.now(UTC) - started).total_seconds()
    state.console.print(
        f"indexed {documents} documents from {len(files)} files as {len(chunks)} chunks with "
        f"{embedder.identity} ({embedder.dimension}-d) into {index} in {seconds:.1f} s",
        markup=False,
    )


def print_answer(state: AppState, answer: Answer, *, as_json: bool) -> None:
    sources = [
        {
            "number": number,
            "source": hit.chunk.source,
            "chunk_id": hit.chunk.chunk_id,
            "score": round(hit.score, 4),
            "start": hit.chunk.start,
            "end": hit.chunk.end,
            "cited": number in answer.cited,
            "text": hit.chunk.text,
        }
        for number, hit in enumerate(answer.hits, start=1)
    ]
    if as_json:
        state.console.print(
            json.dumps({"question": answer.question, "answer": answer.text, "sources": sources}, ensure_ascii=False),
            markup=False,
        )
        return
    if answer.text is not None:
        state.console.print(answer.text or "(the model gave no answer)", markup=False)
        state.console.print("")
    state.console.print("Sources:", style="bold", markup=False)
    for source in sources:
        mark = "  (cited)" if source["cited"] else ""
        state.console.print(
            f"[{source['number']}] {source['source']}, characters {source['start']}-{source['end']}, "
            f"score {source['score']:.3f}{mark}",
            markup=False,
        )
        if answer.text is None:
            state.console.print("    " + " ".join(str(source["text"]).split()), markup=False)


@app.command()
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="the question, in quotes"),
    index: Path = INDEX_OPTION,
    k: int = typer.Option(DEFAULT_K, "-k", "--top-k", min=1, max=MAX_K, help="chunks to retrieve"),
    generator: GeneratorKind = GENERATOR_OPTION,
    llm: str = LLM_OPTION,
    model: str = QUERY_MODEL_OPTION,
    max_new_tokens: int = typer.Option(DEFAULT_MAX_NEW_TOKENS, "--max-new-tokens", min=1, max=MAX_NEW_TOKENS),
    precision: Precision = PRECISION_OPTION,
    as_json: bool = typer.Option(False, "--json", help="print the answer and sources as one JSON object"),
) -> None:
    """Retrieve the top-k chunks, and answer from them citing the sources as [1], [2], ..."""
    state = app_state(ctx)
    check_question(question)
    settings = settings_for(state, index, model, generator, llm, precision)
    preflight(settings)
    with state.progress_console().status("loading the index and models ..."):
        quiet_model_loading()
        engine = load_engine(settings)
    with state.progress_console().status("thinking ..." if generator is not GeneratorKind.NONE else "searching ..."):
        answer = engine.answer(question, k, max_new_tokens)
    print_answer(state, answer, as_json=as_json)


@app.command()
def serve(
    ctx: typer.Context,
    index: Path = INDEX_OPTION,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="address to listen on (keep 127.0.0.1 behind SSM port forwarding)"
    ),
    port: int = typer.Option(8080, "--port", min=1, max=65535),
    generator: GeneratorKind = GENERATOR_OPTION,
    llm: str = LLM_OPTION,
    model: str = QUERY_MODEL_OPTION,
    precision: Precision = PRECISION_OPTION,
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level"),
) -> None:
    """Serve POST /ask and GET /health (FastAPI on uvicorn); the models load in the background after start."""
    import uvicorn

    from modelsmith.rag.service import create_app

    state = app_state(ctx)
    settings = settings_for(state, index, model, generator, llm, precision)
    preflight(settings)  # a missing index or model stops here, with the command that creates it

    def load(engine: RagEngine) -> Any:
        quiet_model_loading()
        return load_engine(settings, engine)

    service = create_app(RagEngine(), load=load)
    state.console.print(
        f"serving {index} on http://{host}:{port} (POST /ask, GET /health); models load in the background", markup=False
    )
    uvicorn.run(service, host=host, port=port, log_level=log_level)
