"""S3 plumbing shared by the pipeline functions: run prefixes, streamed JSONL reads, all-or-nothing JSONL writes.

Shipped to every function that needs it as the ``lambda_src/shared`` layer (``PythonFunction(shared_code=True)``).

Everything a run writes lives under ``s3://$ARTIFACTS_BUCKET/runs/<run_id>/``. Objects are written from a
spooled temporary file in one upload, so a reader sees either the whole object or none of it (S3 makes an
object visible only once its PUT or multipart upload completes).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

ARTIFACTS_BUCKET_ENV = "ARTIFACTS_BUCKET"
# Step Functions execution names: letters, digits, hyphens and underscores (no slashes, so no key escapes).
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
S3_URI_PATTERN = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)$")
READ_CHUNK_BYTES = 1 << 20
SPOOL_IN_MEMORY_BYTES = 32 << 20


class InvalidEventError(ValueError):
    """An event field is missing or malformed; the message names the field."""


class MalformedLineError(ValueError):
    """A stored JSONL line (corpus, queries, batch output) is not what this pipeline wrote; the message names it."""


def artifacts_bucket() -> str:
    bucket = os.environ.get(ARTIFACTS_BUCKET_ENV, "")
    if not bucket:
        raise InvalidEventError(f"environment variable {ARTIFACTS_BUCKET_ENV} is not set")
    return bucket


def run_prefix(run_id: Any) -> str:
    """``runs/<run_id>/`` after checking that ``run_id`` is a safe key segment."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise InvalidEventError(f"run_id: {run_id!r} does not match {RUN_ID_PATTERN.pattern}")
    return f"runs/{run_id}/"


def s3_uri_field(uri: Any, field: str) -> str:
    """``uri`` itself once it is known to be an ``s3://bucket/key`` string; the error names ``field``."""
    parse_s3_uri(uri, field)
    return str(uri)


def parse_s3_uri(uri: Any, field: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``; the error names ``field``."""
    match = S3_URI_PATTERN.match(uri) if isinstance(uri, str) else None
    if not match:
        raise InvalidEventError(f"{field}: {uri!r} is not an S3 URI like s3://bucket/key")
    return match["bucket"], match["key"]


def iter_lines(body: BinaryIO) -> Iterator[bytes]:
    """The lines of a stream split on ``\\n`` only (a trailing ``\\r`` is removed), read in 1 MiB chunks."""
    pending = b""
    for chunk in iter(lambda: body.read(READ_CHUNK_BYTES), b""):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.removesuffix(b"\r")
    if pending:
        yield pending.removesuffix(b"\r")


class JsonLinesUpload:
    """Collects JSON lines in a spooled temporary file, then uploads them as one object on ``commit``."""

    def __init__(self, s3_client: Any, bucket: str, key: str) -> None:
        self.bucket, self.key, self.lines = bucket, key, 0
        self._s3 = s3_client
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        self.lines += 1

    def commit(self) -> str:
        self._file.seek(0)
        self._s3.upload_fileobj(self._file, self.bucket, self.key, ExtraArgs={"ContentType": "application/x-ndjson"})
        self._file.close()
        return self.uri

    def discard(self) -> None:
        self._file.close()


def open_object(s3_client: Any, uri: str, field: str) -> BinaryIO:
    """The streaming body of ``uri``; a missing object is an error naming ``field``."""
    bucket, key = parse_s3_uri(uri, field)
    try:
        return s3_client.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchBucket", "404"):
            raise InvalidEventError(f"{field}: {uri} does not exist") from error
        raise


def iter_json_lines(s3_client: Any, uri: str, field: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a JSONL object; a bad line raises naming it."""
    for number, raw in enumerate(iter_lines(open_object(s3_client, uri, field)), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MalformedLineError(f"{uri} line {number}: not valid JSON ({error})") from None
        if not isinstance(record, dict):
            raise MalformedLineError(f"{uri} line {number}: expected a JSON object")
        yield number, record


def list_keys(s3_client: Any, bucket: str, prefix: str, suffix: str) -> list[str]:
    """Keys under ``prefix`` ending in ``suffix``, sorted."""
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []) if item["Key"].endswith(suffix))


def iter_corpus(s3_client: Any, corpus_uri: str) -> Iterator[tuple[str, str]]:
    """``(id, text)`` of each document of a corpus written by the extract_corpus function."""
    for number, record in iter_json_lines(s3_client, corpus_uri, "corpus_uri"):
        document_id, text = record.get("id"), record.get("text")
        if not isinstance(document_id, str) or not document_id or not isinstance(text, str):
            raise MalformedLineError(f"{corpus_uri} line {number}: expected string fields 'id' and 'text'")
        yield document_id, text
