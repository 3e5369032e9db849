"""Tool outputs in S3: Gaia results as CSV and plots as PNG under the function's prefix, shared by link.

Keys are ``<prefix>results/<result_id>.csv`` and ``<prefix>plots/<result_id>-<kind>-<n>.png``. A result ID
is 32 hexadecimal digits, so a tool argument can never point outside the prefix. Links are presigned
(SigV4, required for SSE-KMS objects) and expire after the configured time.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from lambda_src.agent_tools.astro_tools.errors import BadArgument, NotFound

_RESULT_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class StoredObject:
    key: str
    url: str


def validate_result_id(result_id: str) -> str:
    cleaned = result_id.strip().lower()
    if not _RESULT_ID.match(cleaned):
        raise BadArgument(
            f"result_id = {result_id!r}: not a result ID; use the result_id a Gaia cone search returned "
            "(32 hexadecimal digits)"
        )
    return cleaned


class ResultStore:
    """Writes and reads the tools' outputs in one bucket under one prefix."""

    def __init__(self, *, bucket: str, prefix: str, link_expiry_seconds: int, s3_client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.link_expiry_seconds = link_expiry_seconds
        self._s3 = s3_client or boto3.client(
            "s3",
            # Virtual-hosted, regional links: the global endpoint would redirect outside us-east-1.
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "virtual"},
                retries={"mode": "standard", "max_attempts": 3},
            ),
        )

    def new_result_id(self) -> str:
        return uuid.uuid4().hex

    def result_key(self, result_id: str) -> str:
        return f"{self.prefix}results/{validate_result_id(result_id)}.csv"

    def put_table(
        self, result_id: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, description: str
    ) -> StoredObject:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if value is None else value for value in row] for row in rows)
        key = self.result_key(result_id)
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=buffer.getvalue().encode(),
            ContentType="text/csv",
            Metadata={"description": description[:1000]},
        )
        return StoredObject(key=key, url=self.presign(key))

    def read_table(self, result_id: str) -> list[dict[str, str]]:
        key = self.result_key(result_id)
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(
                    f"result_id = {result_id!r}: no stored Gaia result with that ID; run a Gaia cone search first"
                ) from error
            raise
        return list(csv.DictReader(io.StringIO(body)))

    def put_png(self, result_id: str, kind: str, image: bytes) -> StoredObject:
        key = f"{self.prefix}plots/{validate_result_id(result_id)}-{kind}-{uuid.uuid4().hex[:8]}.png"
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=image, ContentType="image/png")
        return StoredObject(key=key, url=self.presign(key))

    def presign(self, key: str) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.link_expiry_seconds
        )
