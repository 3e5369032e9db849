"""The dry run's local stand-ins: the filesystem S3 client, the local query writer's Converse and batch
interfaces (read back by the pipeline's own code), and the docstring corpus."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelsmith import local_generation
from modelsmith.demo_corpus import docstring_documents, quiet_imports
from modelsmith.local_s3 import LocalS3Client


@pytest.fixture
def s3(tmp_path: Path) -> LocalS3Client:
    return LocalS3Client({"artifacts": tmp_path / "artifacts", "data": tmp_path / "data"})


# ---------------------------------------------------------------------------------------------------------------
# Local S3
# ---------------------------------------------------------------------------------------------------------------


def test_objects_round_trip_through_files(s3: LocalS3Client, tmp_path: Path) -> None:
    s3.put_object(Bucket="artifacts", Key="runs/r1/a.txt", Body=b"hello")
    s3.put_object(Bucket="artifacts", Key="runs/r1/b/c.txt", Body="text")
    assert (tmp_path / "artifacts" / "runs" / "r1" / "a.txt").read_bytes() == b"hello"
    assert s3.get_object(Bucket="artifacts", Key="runs/r1/a.txt")["Body"].read() == b"hello"
    assert s3.head_object(Bucket="artifacts", Key="runs/r1/b/c.txt")["ContentLength"] == 4
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="artifacts", Prefix="runs/r1/"))
    assert [item["Key"] for page in pages for item in page.get("Contents", [])] == ["runs/r1/a.txt", "runs/r1/b/c.txt"]
    empty = s3.get_paginator("list_objects_v2").paginate(Bucket="artifacts", Prefix="runs/none/")
    assert list(empty) == [{"KeyCount": 0}]
    assert s3.uri_of(tmp_path / "artifacts" / "runs" / "r1" / "a.txt") == "s3://artifacts/runs/r1/a.txt"


def test_missing_objects_and_buckets_fail_with_s3s_codes(s3: LocalS3Client) -> None:
    for call, code in (
        (lambda: s3.get_object(Bucket="artifacts", Key="nothing"), "NoSuchKey"),
        (lambda: s3.head_object(Bucket="artifacts", Key="nothing"), "404"),
        (lambda: s3.get_object(Bucket="elsewhere", Key="x"), "NoSuchBucket"),
        (lambda: s3.put_object(Bucket="artifacts", Key="../escape", Body=b""), "InvalidArgument"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == code
    assert s3.exceptions.ClientError is ClientError  # publish_training_report catches s3.exceptions.ClientError


def test_the_pipelines_storage_helpers_work_on_it(s3: LocalS3Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_src.shared import run_storage as storage

    monkeypatch.setenv("ARTIFACTS_BUCKET", "artifacts")
    upload = storage.JsonLinesUpload(s3, "artifacts", "runs/r1/corpus/corpus.jsonl")
    upload.write({"id": "a", "text": "alpha"})
    upload.write({"id": "b", "text": "beta"})
    uri = upload.commit()
    assert list(storage.iter_corpus(s3, uri)) == [("a", "alpha"), ("b", "beta")]
    assert storage.list_keys(s3, "artifacts", "runs/r1/", ".jsonl") == ["runs/r1/corpus/corpus.jsonl"]
    with pytest.raises(storage.InvalidEventError, match="does not exist"):
        storage.open_object(s3, "s3://artifacts/runs/r1/missing.jsonl", "corpus_uri")


# ---------------------------------------------------------------------------------------------------------------
# The local query writer
# ---------------------------------------------------------------------------------------------------------------


class EchoModel:
    """Answers each conversation with its last message's first line; records the batches it was given."""

    name = "echo"
    batch_size = 16

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[int] = []
        self.delay = delay

    def complete(
        self,
        conversations: Sequence[list[dict[str, str]]],
        max_new_tokens: int = 48,
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[str]:
        import time

        self.batches.append(len(conversations))
        time.sleep(self.delay)
        return [
            f"Sure! Here is a question:\n1. {messages[-1]['content'].splitlines()[0]}?" for messages in conversations
        ]


def test_clean_answer_keeps_queries_and_drops_what_a_small_model_adds() -> None:
    answer = (
        'Here\'s a possible question:\n\n"How do I convert a FITS table?"\n```python\nimport astropy\n```\n'
        "I'm ready to help. What's your question?\nWhat is the purpose of this document?"
    )
    assert local_generation.clean_answer(answer) == '"How do I convert a FITS table?"'


def test_converse_answers_in_bedrocks_shape_and_batches_concurrent_calls() -> None:
    from lambda_src.shared import bedrock_runtime

    model = EchoModel(delay=0.05)
    client = local_generation.LocalConverseClient(model)
    results: list[dict[str, Any]] = []

    def call(number: int) -> None:
        results.append(
            client.converse(
                modelId="meta.llama3-1-8b-instruct-v1:0",
                messages=[{"role": "user", "content": [{"text": f"how does tool {number} work"}]}],
                inferenceConfig={"maxTokens": 400, "temperature": 0.7},
            )
        )

    threads = [threading.Thread(target=call, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    answers = sorted(bedrock_runtime.answer_text(result) for result in results)
    assert answers == sorted(f"1. how does tool {number} work?" for number in range(8))
    assert all(result["stopReason"] == "end_turn" and result["usage"]["totalTokens"] > 0 for result in results)
    assert sum(model.batches) == 8 and len(model.batches) < 8  # calls that waited were answered together
    assert client.calls == 8


def test_batch_records_of_both_families_become_chat_messages() -> None:
    from lambda_src.generate_queries import batch_records as batch

    messages, limit, family = local_generation.batch_record_messages(batch.llama_input("Document: x\n\nWrite 1 query."))
    assert (messages, family) == (
        [{"role": "user", "content": "Document: x\n\nWrite 1 query."}],
        "llama",
    ) and limit == 400
    messages, _, family = local_generation.batch_record_messages(batch.anthropic_input("Write 2 queries."))
    assert (messages, family) == ([{"role": "user", "content": "Write 2 queries."}], "anthropic")
    with pytest.raises(ValueError):
        local_generation.batch_record_messages({"inputText": "Titan"})
    for family in ("llama", "anthropic"):
        assert batch.model_output_text(local_generation.batch_model_output(family, "q?")) == "q?"


def test_the_local_batch_job_writes_what_collect_batch_reads(
    s3: LocalS3Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTIFACTS_BUCKET", "artifacts")
    from lambda_src.generate_queries import batch_records as batch

    corpus = "".join(json.dumps({"id": f"d{n}", "text": f"Tool {n} converts light curves."}) + "\n" for n in range(120))
    s3.put_object(Bucket="artifacts", Key="runs/r1/corpus/corpus.jsonl", Body=corpus)
    prepared = batch.prepare_batch(
        {
            "action": "prepare_batch",
            "run_id": "r1",
            "queries_per_document": 1,
            "corpus_uri": "s3://artifacts/runs/r1/corpus/corpus.jsonl",
            "bedrock_model_id": local_generation.STAND_IN_MODEL_ID,
            "prompt_template": "Document {document}: write {count} query",
        },
        s3_client=s3,
    )
    # One record of another model family is refused the way Bedrock's batch output reports errors.
    records = s3.get_object(Bucket="artifacts", Key="runs/r1/batch/input/records.jsonl")["Body"].read().decode()
    first, *rest = records.splitlines()
    broken = json.dumps({**json.loads(first), "modelInput": {"inputText": "x"}})
    s3.put_object(Bucket="artifacts", Key="runs/r1/batch/input/records.jsonl", Body="\n".join([broken, *rest]) + "\n")

    advanced: list[int] = []
    totals = local_generation.run_batch_job(
        s3,
        input_uri=prepared["input_uri"],
        output_uri=prepared["output_uri"],
        model=EchoModel(),
        on_batch=advanced.append,
    )
    collected = batch.collect_batch(
        {"action": "collect_batch", "run_id": "r1", "output_uri": prepared["output_uri"], "queries_per_document": 1},
        s3_client=s3,
    )

    assert totals == {"records": 120, "failed": 1}
    assert collected["documents"] == 120 and collected["queries"] == 119 and collected["failed_documents"] == 1
    listing = s3.list_objects_v2(Bucket="artifacts", Prefix="runs/r1/batch/output/local-job/")
    assert [item["Key"] for item in listing["Contents"]] == ["runs/r1/batch/output/local-job/records.jsonl.out"]


# ---------------------------------------------------------------------------------------------------------------
# The docstring corpus
# ---------------------------------------------------------------------------------------------------------------


def test_docstring_ids_are_fully_qualified_public_names_with_methods() -> None:
    documents = docstring_documents(["sagemaker_src.retrieval"])
    by_id = {document["id"]: document for document in documents}

    assert "sagemaker_src.retrieval.data.read_training_data" in by_id
    assert by_id["sagemaker_src.retrieval.data.read_training_data"]["metadata"]["kind"] == "function"
    assert [document["id"] for document in documents] == sorted(by_id)
    assert not any(part.startswith("_") for name in by_id for part in name.split("."))
    texts = [document["text"] for document in documents]
    assert len(texts) == len(set(texts))  # a docstring is kept once


def test_astropy_objects_are_named_where_users_reach_them() -> None:
    documents = docstring_documents(["astropy.units"])
    ids = {document["id"] for document in documents}

    assert {"astropy.units.Quantity", "astropy.units.Quantity.to", "astropy.units.UnitBase.to"} <= ids
    assert "astropy.units.quantity.Quantity" not in ids  # the defining module is not the public path
    assert all(len(document["text"]) <= 1000 for document in documents)


def test_imports_run_without_network() -> None:
    # A numeric address and a bare connect: no name lookup, which another directory's guard may own.
    with quiet_imports(), pytest.raises(OSError, match="network access is off"), socket.socket() as sock:
        sock.connect(("192.0.2.1", 80))


def test_the_demo_questions_are_many_distinct_and_answered_by_documents_of_the_demo_corpus() -> None:
    """modelsmith/demo_questions.jsonl: at least 40 questions written by people, each naming documents (by their
    qualified names) that the demo corpus of the installed astropy and astroquery has, none copied from them."""
    from modelsmith.demo_corpus import DEMO_PACKAGES
    from modelsmith.dry_run import DEMO_QUESTIONS

    documents = {document["id"]: document["text"] for document in docstring_documents(DEMO_PACKAGES)}
    questions = [json.loads(line) for line in DEMO_QUESTIONS.read_text(encoding="utf-8").splitlines()]
    assert len(questions) >= 40
    assert len({question["question"].casefold() for question in questions}) == len(questions)
    missing = {
        question["question"]: [i for i in question["relevant_ids"] if i not in documents] for question in questions
    }
    assert not {question: ids for question, ids in missing.items() if ids}
    texts = " ".join(documents.values()).casefold()
    assert not [question["question"] for question in questions if question["question"].casefold().rstrip("?") in texts]
    packages = {doc_id.split(".")[0] for question in questions for doc_id in question["relevant_ids"]}
    assert packages == {"astropy", "astroquery"}
