"""Offline AWS for the retrieval pipeline's functions: moto S3 with the artifacts bucket, JSONL helpers,
and Bedrock Converse answers shaped as the service returns them (for botocore's Stubber).

Use the ``artifacts`` fixture (import it into the test module or a conftest): it sets fake credentials and
``ARTIFACTS_BUCKET``, starts ``mock_aws`` and creates the artifacts and source buckets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-west-2"
ARTIFACTS_BUCKET = "modelsmith-test-artifacts"
SOURCE_BUCKET = "modelsmith-test-source"


@dataclass(frozen=True)
class Artifacts:
    """The mocked S3 client and buckets, with helpers to put and read JSONL objects."""

    s3: Any
    bucket: str = ARTIFACTS_BUCKET
    source_bucket: str = SOURCE_BUCKET

    def put_bytes(self, uri: str, data: bytes) -> str:
        bucket, key = split_uri(uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        return uri

    def put_jsonl(self, uri: str, records: Iterable[Any]) -> str:
        return self.put_bytes(uri, "".join(json.dumps(record) + "\n" for record in records).encode())

    def read_bytes(self, uri: str) -> bytes:
        bucket, key = split_uri(uri)
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def read_jsonl(self, uri: str) -> list[Any]:
        return [json.loads(line) for line in self.read_bytes(uri).decode().splitlines() if line.strip()]

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def run_uri(self, run_id: str, path: str) -> str:
        return f"s3://{self.bucket}/runs/{run_id}/{path}"


def split_uri(uri: str) -> tuple[str, str]:
    assert uri.startswith("s3://"), uri
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


@pytest.fixture
def artifacts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Artifacts]:
    """moto S3 with the artifacts bucket (named by ``ARTIFACTS_BUCKET``) and a source bucket."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "ARTIFACTS_BUCKET": ARTIFACTS_BUCKET,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ARTIFACTS_BUCKET, SOURCE_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield Artifacts(s3=s3)


def converse_response(text: str, *, stop_reason: str = "end_turn") -> dict[str, Any]:
    """A Converse answer with every member the service model requires (Stubber validates the shape)."""
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 120, "outputTokens": 40, "totalTokens": 160},
        "metrics": {"latencyMs": 250},
    }
