"""A corpus nobody here wrote: the docstrings of installed packages, one document per public API object.

``docstring_documents(["astropy", "astroquery"])`` imports every module of the packages (tests and private
modules skipped; network connections refused meanwhile, since a few astroquery modules ask a server for
status messages on import) and returns ``{"id", "text", "metadata"}`` for each public function, class and
method that has a docstring of at least ``MIN_CHARACTERS``:

- ``id`` is the fully qualified name under which users reach the object: the shortest public path among
  its defining module and the packages above it that re-export it (``astropy.coordinates.SkyCoord``, not
  ``astropy.coordinates.sky_coordinate.SkyCoord``); a method is its class's id plus its name
  (``astropy.coordinates.SkyCoord.transform_to``). Methods are the functions, class methods and static
  methods a class defines itself (inherited ones are documented where they are defined).
- ``text`` is the docstring as ``inspect.getdoc`` cleans it, cut at a paragraph, line or word boundary
  when longer than ``max_characters``. A docstring already used by another id (an alias, an inherited
  copy) is kept once, under the id that sorts first.
- ``metadata``: ``{"kind": "function" | "class" | "method", "package": "<name> <version>"}``.

The same input always gives the same documents in the same (id) order. ``bench/retrieval_bench.py`` and
``modelsmith dry-run --demo`` both build their corpus here.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import io
import json
import logging
import pkgutil
import socket
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

DEMO_PACKAGES = ("astropy", "astroquery")
MIN_CHARACTERS = 80  # shorter docstrings ("Return the value.") say too little to write a query about
DEFAULT_MAX_CHARACTERS = 1000  # the summary and the first parameters: what a query is about, and ~256 tokens
_SKIPPED_MODULE_PARTS = (".tests", ".conftest", ".extern", "._")


class DemoCorpusError(RuntimeError):
    """A package to take docstrings from is not installed or yields no document."""


@contextlib.contextmanager
def quiet_imports() -> Iterator[None]:
    """No output, warnings or network while third-party modules import: some print, warn about optional
    dependencies, or contact a server (which would hang offline)."""
    original_connect = socket.socket.connect

    def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        raise OSError("network access is off while the demo corpus is built")

    root_level = logging.root.manager.disable
    socket.socket.connect = refuse  # type: ignore[method-assign]
    logging.disable(logging.CRITICAL)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        logging.disable(root_level)


def _skipped(module_name: str) -> bool:
    return any(part in module_name for part in _SKIPPED_MODULE_PARTS) or module_name.rsplit(".", 1)[-1].startswith("_")


def import_modules(package_names: Sequence[str]) -> list[ModuleType]:
    """The packages and every public module below them that imports (a module that fails is skipped)."""
    modules: dict[str, ModuleType] = {}
    with quiet_imports():
        for package_name in package_names:
            try:
                package = importlib.import_module(package_name)
            except Exception:  # noqa: BLE001 - an optional dependency missing: that part is skipped
                continue
            modules[package_name] = package
            infos = pkgutil.walk_packages(getattr(package, "__path__", []), f"{package_name}.", onerror=lambda _: None)
            for info in infos:
                if _skipped(info.name) or info.name in modules:
                    continue
                try:
                    modules[info.name] = importlib.import_module(info.name)
                except BaseException as error:  # noqa: BLE001 - some modules exit or fail on import without extras
                    if isinstance(error, KeyboardInterrupt):
                        raise
    return [modules[name] for name in sorted(modules, key=lambda name: (name.count("."), name))]


def _public_members(module: ModuleType) -> Iterable[tuple[str, Any]]:
    names = getattr(module, "__all__", None)
    if not isinstance(names, (list, tuple)):
        names = [name for name in vars(module) if not name.startswith("_")]
    for name in names:
        if isinstance(name, str) and not name.startswith("_") and hasattr(module, name):
            yield name, getattr(module, name)


def _reachable_from(module_name: str, defining_module: str) -> bool:
    """Whether ``module_name`` is the defining module or a package above it (a re-export users rely on)."""
    return defining_module == module_name or defining_module.startswith(module_name + ".")


def _cut(text: str, max_characters: int | None) -> str:
    if max_characters is None or len(text) <= max_characters:
        return text
    for separator in ("\n\n", "\n", " "):
        cut = text.rfind(separator, max_characters // 2, max_characters)
        if cut != -1:
            return text[:cut].rstrip()
    return text[:max_characters]


def _version(package_name: str) -> str:
    try:
        return importlib.metadata.version(package_name.split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def docstring_documents(
    package_names: Sequence[str],
    *,
    include_methods: bool = True,
    max_characters: int | None = DEFAULT_MAX_CHARACTERS,
    min_characters: int = MIN_CHARACTERS,
) -> list[dict[str, Any]]:
    """One document per public function, class and method of the packages (see the module docstring)."""
    paths: dict[int, tuple[str, str, Any]] = {}  # id(object) -> (qualified name, kind, object)
    with quiet_imports():
        for module in import_modules(package_names):
            for name, value in _public_members(module):
                if not (inspect.isfunction(value) or inspect.isclass(value)) or id(value) in paths:
                    continue
                if not _reachable_from(module.__name__, getattr(value, "__module__", None) or ""):
                    continue  # imported from elsewhere: documented where users reach it
                kind = "class" if inspect.isclass(value) else "function"
                paths[id(value)] = (f"{module.__name__}.{name}", kind, value)
        candidates: list[tuple[str, str, Any]] = list(paths.values())
        if include_methods:
            for class_id, kind, value in list(candidates):
                if kind == "class":
                    candidates.extend(_methods(class_id, value))
        texts: dict[str, tuple[str, str]] = {}
        for qualified_name, kind, value in candidates:
            try:
                doc = inspect.getdoc(value)
            except Exception:  # noqa: BLE001 - a descriptor that fails on access has nothing to offer
                continue
            if doc and len(doc.strip()) >= min_characters:
                texts[qualified_name] = (doc.strip(), kind)
    documents = []
    seen_texts: set[str] = set()
    for qualified_name in sorted(texts):
        doc, kind = texts[qualified_name]
        text = _cut(doc, max_characters)
        if text in seen_texts:
            continue
        seen_texts.add(text)
        package = qualified_name.split(".")[0]
        metadata = {"kind": kind, "package": f"{package} {_version(package)}"}
        documents.append({"id": qualified_name, "text": text, "metadata": metadata})
    return documents


def _methods(class_id: str, cls: type) -> Iterator[tuple[str, str, Any]]:
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        function = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        if inspect.isfunction(function):
            yield f"{class_id}.{name}", "method", function


def write_corpus(documents: Sequence[dict[str, Any]], path: Path) -> Path:
    """The documents as corpus JSONL (the pipeline's input format), written whole or not at all."""
    from modelsmith.local_s3 import LocalS3Client

    path = Path(path)
    body = "".join(json.dumps(document, ensure_ascii=False) + "\n" for document in documents).encode("utf-8")
    LocalS3Client({"local": path.parent}).put_object(Bucket="local", Key=path.name, Body=body)
    return path


def demo_corpus_name(
    package_names: Sequence[str] = DEMO_PACKAGES, max_characters: int | None = DEFAULT_MAX_CHARACTERS
) -> str:
    """A file name that changes with the packages' versions and the cut, so a cached corpus is never stale."""
    versions = "-".join(f"{name}-{_version(name)}" for name in package_names)
    return f"docstrings-{versions}-{max_characters or 'full'}.jsonl"


def build_demo_corpus(
    folder: Path, package_names: Sequence[str] = DEMO_PACKAGES, *, max_characters: int | None = DEFAULT_MAX_CHARACTERS
) -> tuple[Path, int]:
    """``(path, documents)`` of the demo corpus in ``folder``, built unless already there."""
    missing = [name for name in package_names if importlib.util.find_spec(name.split(".")[0]) is None]
    if missing:
        raise DemoCorpusError(f"{', '.join(missing)} not installed; the demo corpus is their docstrings")
    path = Path(folder) / demo_corpus_name(package_names, max_characters)
    if path.is_file():
        with path.open("rb") as stream:
            return path, sum(1 for line in stream if line.strip())
    documents = docstring_documents(package_names, max_characters=max_characters)
    if not documents:
        raise DemoCorpusError(f"no documented public API found in {', '.join(package_names)}")
    return write_corpus(documents, path), len(documents)


if __name__ == "__main__":  # python -m modelsmith.demo_corpus OUT.jsonl [PACKAGE ...]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docstrings.jsonl")
    found = docstring_documents(sys.argv[2:] or DEMO_PACKAGES)
    write_corpus(found, target)
    print(f"{len(found)} documents -> {target}")
