"""The index on disk: one directory holding

- ``index.faiss``: a FAISS ``IndexFlatIP`` over unit-length embeddings (inner product = cosine similarity;
  exact search, fine up to a few hundred thousand chunks);
- ``chunks.jsonl``: the chunks, line *i* for vector *i*;
- ``manifest.json``: the embedding model and dimension, the chunking, the counts and when it was built.

The directory is written to a staging directory and renamed into place, so a failed ingest leaves the
previous index as it was. An index is only queried with the model that built it (:meth:`VectorIndex.check_model`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modelsmith.cli_support import CliError
from modelsmith.rag.splitter import Chunk

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.jsonl"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
DEFAULT_INDEX_DIR = Path("rag-index")


def ingest_hint(index_dir: Path) -> str:
    return f"run `modelsmith rag ingest DOCS --index {index_dir}` first (DOCS: a folder or files of your documents)"


class IndexNotFoundError(CliError):
    """No index (or an incomplete one) where one was expected."""


class IndexModelMismatchError(CliError):
    """The index was built with another embedding model than the one asked for."""


@dataclass(frozen=True)
class Manifest:
    embedding_model: str  # how to load it: minilm, a directory, or a Hub ID
    embedding_model_fingerprint: str  # what it is (see embeddings.model_fingerprint)
    dimension: int
    chunk_size: int
    chunk_overlap: int
    documents: int
    chunks: int
    created: str
    metric: str = "cosine (inner product of unit vectors)"
    format_version: int = FORMAT_VERSION


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk: ``rank`` 1 is the most similar; ``score`` is the cosine similarity."""

    rank: int
    score: float
    chunk: Chunk


def check_model(manifest: Manifest, name: str, fingerprint: str, dimension: int) -> None:
    """Refuse a model other than the one that built the index: its vectors live in another space."""
    if fingerprint != manifest.embedding_model_fingerprint or dimension != manifest.dimension:
        raise IndexModelMismatchError(
            f"the index was built with {manifest.embedding_model} ({manifest.dimension}-d), not {name} "
            + (f"({dimension}-d)" if dimension != manifest.dimension else "(a model with other weights)"),
            "leave out --model to use the index's own model (or pass a copy of it), "
            "or re-run `modelsmith rag ingest` with the new model",
        )


class VectorIndex:
    def __init__(self, manifest: Manifest, index: Any, chunks: list[Chunk]) -> None:
        self.manifest, self.index, self.chunks = manifest, index, chunks

    @classmethod
    def build(cls, manifest: Manifest, embeddings: Any, chunks: Sequence[Chunk]) -> VectorIndex:
        import faiss
        import numpy as np

        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        if vectors.shape != (len(chunks), manifest.dimension):
            raise ValueError(f"{vectors.shape} embeddings for {len(chunks)} chunks of dimension {manifest.dimension}")
        index = faiss.IndexFlatIP(manifest.dimension)
        index.add(vectors)
        return cls(manifest, index, list(chunks))

    def save(self, directory: Path) -> None:
        """Write the three files into ``directory``, replacing what was there only once all are written."""
        import faiss

        from sagemaker_src.llm_lora.outputs import atomic_directory

        with atomic_directory(Path(directory)) as staging:
            faiss.write_index(self.index, str(staging / INDEX_FILE))
            with (staging / CHUNKS_FILE).open("w", encoding="utf-8") as stream:
                for chunk in self.chunks:
                    stream.write(json.dumps(chunk.to_json(), ensure_ascii=False) + "\n")
            (staging / MANIFEST_FILE).write_text(json.dumps(asdict(self.manifest), indent=2) + "\n", encoding="utf-8")

    @staticmethod
    def read_manifest(directory: Path) -> Manifest:
        """The manifest alone (cheap: no vectors loaded); a missing index says which command creates it."""
        directory = Path(directory)
        path = directory / MANIFEST_FILE
        if not path.is_file():
            what = "no index" if not directory.exists() else "no index manifest"
            raise IndexNotFoundError(f"{what} at {directory}", ingest_hint(directory))
        try:
            manifest = Manifest(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as error:
            raise IndexNotFoundError(
                f"{path} is not a Modelsmith RAG manifest ({error})", ingest_hint(directory)
            ) from None
        if manifest.format_version != FORMAT_VERSION:
            raise IndexNotFoundError(
                f"{directory} has index format {manifest.format_version}; this version reads {FORMAT_VERSION}",
                ingest_hint(directory),
            )
        return manifest

    @classmethod
    def load(cls, directory: Path) -> VectorIndex:
        import faiss

        directory = Path(directory)
        manifest = cls.read_manifest(directory)
        missing = [name for name in (INDEX_FILE, CHUNKS_FILE) if not (directory / name).is_file()]
        if missing:
            raise IndexNotFoundError(
                f"the index at {directory} is incomplete (missing {', '.join(missing)})", ingest_hint(directory)
            )
        index = faiss.read_index(str(directory / INDEX_FILE))
        with (directory / CHUNKS_FILE).open(encoding="utf-8") as stream:
            chunks = [Chunk.from_json(json.loads(line)) for line in stream if line.strip()]
        if not index.ntotal == len(chunks) == manifest.chunks or index.d != manifest.dimension:
            raise IndexNotFoundError(
                f"the index at {directory} is inconsistent ({index.ntotal} vectors of dimension {index.d}, "
                f"{len(chunks)} chunks; the manifest says {manifest.chunks} of {manifest.dimension})",
                ingest_hint(directory),
            )
        return cls(manifest, index, chunks)

    def check_model(self, name: str, fingerprint: str, dimension: int) -> None:
        check_model(self.manifest, name, fingerprint, dimension)

    def search(self, query_vector: Any, k: int) -> list[Hit]:
        """The ``k`` most similar chunks (fewer when the index holds fewer), best first."""
        import numpy as np

        count = min(k, self.index.ntotal)
        if count == 0:
            return []
        scores, ids = self.index.search(np.ascontiguousarray(query_vector, dtype=np.float32).reshape(1, -1), count)
        return [
            Hit(rank=rank, score=float(score), chunk=self.chunks[int(position)])
            for rank, (score, position) in enumerate(zip(scores[0], ids[0]), start=1)
            if position >= 0
        ]
