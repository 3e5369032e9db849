"""A filesystem stand-in for the few S3 calls the pipeline's functions make, so their own code runs locally.

``LocalS3Client({"bucket": Path("dir")})`` serves ``s3://bucket/some/key`` from ``dir/some/key``. It answers
exactly the calls that ``lambda_src/shared/run_storage.py``, ``extract_corpus``, ``generate_queries``,
``build_pairs`` and ``publish_training_report`` make, in boto3's request and response shapes:

- ``get_object(Bucket, Key)`` -> ``{"Body": <readable binary stream>, "ContentLength"}``;
- ``head_object(Bucket, Key)`` -> ``{"ContentLength"}``;
- ``put_object(Bucket, Key, Body, ...)`` and ``upload_fileobj(fileobj, bucket, key, ExtraArgs=...)``, each
  written through a temporary file and a rename, so a reader sees the whole object or none (as S3 does);
- ``get_paginator("list_objects_v2").paginate(Bucket, Prefix)`` and ``list_objects_v2(Bucket, Prefix)``;
- ``exceptions.ClientError``: botocore's, raised with S3's codes (``NoSuchKey``, ``404`` from HEAD,
  ``NoSuchBucket``), so the functions' own error handling runs unchanged.

A key that would leave its bucket's folder (``..``, an absolute path) is refused.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

LIST_PAGE_SIZE = 1000  # S3's own page size for ListObjectsV2


def _client_error(code: str, message: str, operation: str, status: int = 404) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class LocalS3Client:
    """boto3's S3 client surface that the pipeline's functions use, over local folders (one per bucket)."""

    exceptions = SimpleNamespace(ClientError=ClientError)

    def __init__(self, buckets: Mapping[str, str | Path]) -> None:
        self.buckets = {name: Path(folder) for name, folder in buckets.items()}

    # Paths --------------------------------------------------------------------------------------------------
    def path(self, bucket: str, key: str, operation: str = "GetObject") -> Path:
        """The file that holds ``s3://bucket/key``."""
        if bucket not in self.buckets:
            raise _client_error("NoSuchBucket", f"The specified bucket does not exist: {bucket}", operation)
        parts = PurePosixPath(key).parts
        if not key or key.startswith("/") or any(part in ("..", ".") for part in parts):
            raise _client_error("InvalidArgument", f"key {key!r} is outside the bucket", operation, status=400)
        return self.buckets[bucket].joinpath(*parts)

    def uri_of(self, path: Path) -> str:
        """``s3://bucket/key`` of a file inside one of the buckets' folders."""
        resolved = Path(path).resolve()
        for name, folder in self.buckets.items():
            try:
                key = resolved.relative_to(folder.resolve())
            except ValueError:
                continue
            return f"s3://{name}/{key.as_posix()}"
        raise ValueError(f"{path} is not inside any bucket folder ({', '.join(map(str, self.buckets.values()))})")

    # Reads --------------------------------------------------------------------------------------------------
    def get_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        path = self.path(Bucket, Key, "GetObject")
        if not path.is_file():
            raise _client_error("NoSuchKey", "The specified key does not exist.", "GetObject")
        return {"Body": path.open("rb"), "ContentLength": path.stat().st_size}

    def head_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        path = self.path(Bucket, Key, "HeadObject")
        if not path.is_file():
            raise _client_error("404", "Not Found", "HeadObject")  # HEAD has no body, so S3 gives only the status
        return {"ContentLength": path.stat().st_size}

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "", **_: Any) -> dict[str, Any]:  # noqa: N803
        contents = list(self._list(Bucket, Prefix))
        return {"Contents": contents, "KeyCount": len(contents), "IsTruncated": False} if contents else {"KeyCount": 0}

    def get_paginator(self, operation: str) -> Any:
        if operation != "list_objects_v2":
            raise NotImplementedError(f"the local S3 stand-in has no paginator for {operation}")
        client = self

        class Paginator:
            def paginate(self, *, Bucket: str, Prefix: str = "", **_: Any) -> Iterator[dict[str, Any]]:  # noqa: N803
                contents = list(client._list(Bucket, Prefix))
                if not contents:
                    yield {"KeyCount": 0}
                for start in range(0, len(contents), LIST_PAGE_SIZE):
                    page = contents[start : start + LIST_PAGE_SIZE]
                    yield {"Contents": page, "KeyCount": len(page)}

        return Paginator()

    def _list(self, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
        root = self.buckets.get(bucket)
        if root is None:
            raise _client_error("NoSuchBucket", f"The specified bucket does not exist: {bucket}", "ListObjectsV2")
        if not root.is_dir():
            return
        keys = sorted(
            path.relative_to(root).as_posix()
            for path in root.rglob("*")
            if path.is_file() and not path.name.startswith(".")  # staging files of writes in progress
        )
        for key in keys:
            if key.startswith(prefix):
                yield {"Key": key, "Size": (root / key).stat().st_size}

    # Writes -------------------------------------------------------------------------------------------------
    def put_object(  # noqa: N803 - boto3's names
        self, *, Bucket: str, Key: str, Body: bytes | str | BinaryIO = b"", **_: Any
    ) -> dict[str, Any]:
        if isinstance(Body, str):
            Body = Body.encode("utf-8")
        stream = io.BytesIO(Body) if isinstance(Body, (bytes, bytearray)) else Body
        self._write(self.path(Bucket, Key, "PutObject"), stream)
        return {}

    def upload_fileobj(  # noqa: N803 - boto3's names
        self, Fileobj: BinaryIO, Bucket: str, Key: str, ExtraArgs: Any = None, **_: Any
    ) -> None:
        self._write(self.path(Bucket, Key, "PutObject"), Fileobj)

    @staticmethod
    def _write(path: Path, stream: BinaryIO) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as target:
                shutil.copyfileobj(stream, target)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
