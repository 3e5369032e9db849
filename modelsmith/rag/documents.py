"""The documents to index: text files, and corpus JSONL files in the retrieval pipeline's format.

- ``.txt``, ``.md``, ``.markdown``, ``.rst``: one document per file, named by its path as found;
- ``.jsonl``: one document per line, ``{"id", "text", ...}``, checked by the pipeline's own line parser
  (``lambda_src/extract_corpus``), named ``<file>:<id>``.

A folder is searched recursively (hidden files and folders skipped). Every unreadable file or bad line is
reported as ``file:line: problem`` and nothing is indexed until all are fixed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelsmith.cli_support import InputError

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".rst"})
CORPUS_SUFFIXES = frozenset({".jsonl"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | CORPUS_SUFFIXES


@dataclass(frozen=True)
class SourceDocument:
    source: str
    text: str


def find_files(paths: Iterable[Path]) -> list[Path]:
    """The supported files in ``paths`` (files as given, folders searched recursively), in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    file
                    for file in path.rglob("*")
                    if file.is_file()
                    and file.suffix.lower() in SUPPORTED_SUFFIXES
                    and not any(part.startswith(".") for part in file.relative_to(path).parts)
                )
            )
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise InputError(
                    f"{path}: unsupported file type {path.suffix or '(none)'}",
                    f"give {', '.join(sorted(SUPPORTED_SUFFIXES))} files or a folder of them",
                )
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise InputError(
            f"no {', '.join(sorted(SUPPORTED_SUFFIXES))} files in {', '.join(map(str, paths))}",
            "point `modelsmith rag ingest` at your documents",
        )
    return unique


def read_file(path: Path, problems: list[str]) -> list[SourceDocument]:
    """The documents of one file; problems are appended as ``file:line: problem``."""
    raw = path.read_bytes()
    if path.suffix.lower() in CORPUS_SUFFIXES:
        return _read_corpus(path, raw, problems)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(f"{path}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})")
        return []
    return [SourceDocument(source=str(path), text=text)] if text.strip() else []


def _read_corpus(path: Path, raw: bytes, problems: list[str]) -> list[SourceDocument]:
    from lambda_src.extract_corpus import corpus_extraction as extraction
    from lambda_src.shared import run_storage

    documents: list[SourceDocument] = []
    for line in extraction.read_corpus_lines(run_storage.iter_lines(io.BytesIO(raw))):
        if line.document is None:
            problems.append(f"{path}:{line.number}: {line.problem}")
        else:
            documents.append(SourceDocument(source=f"{path}:{line.document.id}", text=line.document.text))
    return documents
