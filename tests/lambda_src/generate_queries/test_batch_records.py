"""Batch inference: the input records' format, and mapping the job's output back to documents."""

from __future__ import annotations

import json
import random

import pytest

from tests.support.lambdas import FakeLambdaContext

RUN_ID = "run-2024-01-01"
LLAMA = "meta.llama3-1-8b-instruct-v1:0"


def put_corpus(artifacts, ids: list[str]) -> str:
    uri = artifacts.run_uri(RUN_ID, "corpus/corpus.jsonl")
    artifacts.put_jsonl(uri, [{"id": doc_id, "text": f"Text of {doc_id}.", "metadata": {}} for doc_id in ids])
    return uri


def prepare_event(corpus_uri: str, model: str = LLAMA) -> dict:
    return {
        "action": "prepare_batch",
        "run_id": RUN_ID,
        "corpus_uri": corpus_uri,
        "queries_per_document": 3,
        "bedrock_model_id": model,
    }


def test_handler_writes_llama_records_with_index_record_ids_and_a_mapping(generator, artifacts) -> None:
    # GIVEN 120 documents whose ids are not valid record IDs
    corpus_uri = put_corpus(artifacts, [f"doc/{n}" for n in range(120)])

    # WHEN the handler prepares the batch
    result = generator.handler(prepare_event(corpus_uri), FakeLambdaContext())

    # THEN the job's input and output prefixes are returned with the record count
    assert result == {
        "input_uri": artifacts.run_uri(RUN_ID, "batch/input/"),
        "output_uri": artifacts.run_uri(RUN_ID, "batch/output/"),
        "records": 120,
    }
    # AND each record has an 11-character alphanumeric ID and a Llama InvokeModel body
    records = artifacts.read_jsonl(artifacts.run_uri(RUN_ID, "batch/input/records.jsonl"))
    assert len(records) == 120 and set(records[0]) == {"recordId", "modelInput"}
    assert records[0]["recordId"] == "R0000000000" and all(
        len(r["recordId"]) == 11 and r["recordId"].isalnum() for r in records
    )
    body = records[7]["modelInput"]
    assert set(body) == {"prompt", "max_gen_len", "temperature"} and body["max_gen_len"] == 400
    assert body["prompt"].startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n")
    assert body["prompt"].endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert "Text of doc/7." in body["prompt"] and "numbered 1 to 3" in body["prompt"]
    # AND the mapping leads back to the documents, outside the job's input prefix
    mapping = artifacts.read_jsonl(artifacts.run_uri(RUN_ID, "batch/record_ids.jsonl"))
    assert mapping[7] == {"recordId": "R0000000007", "doc_id": "doc/7"}
    assert artifacts.keys(f"runs/{RUN_ID}/batch/input/") == [f"runs/{RUN_ID}/batch/input/records.jsonl"]


def test_documents_ids_that_are_valid_record_ids_are_used_as_they_are(generator, artifacts) -> None:
    ids = [f"DOC{n:08d}" for n in range(100)]
    generator.batch.prepare_batch(prepare_event(put_corpus(artifacts, ids)))
    records = artifacts.read_jsonl(artifacts.run_uri(RUN_ID, "batch/input/records.jsonl"))
    assert [record["recordId"] for record in records] == ids


def test_anthropic_models_get_a_messages_api_body(generator, artifacts) -> None:
    generator.batch.prepare_batch(
        prepare_event(
            put_corpus(artifacts, [f"d{n}" for n in range(100)]), "us.anthropic.claude-3-5-haiku-20241022-v1:0"
        )
    )
    body = artifacts.read_jsonl(artifacts.run_uri(RUN_ID, "batch/input/records.jsonl"))[0]["modelInput"]
    assert body["anthropic_version"] == "bedrock-2023-05-31" and body["max_tokens"] == 400
    assert body["messages"][0]["content"][0]["text"].endswith("Text of d0.")


@pytest.mark.parametrize(
    ("ids", "model", "message"),
    [
        pytest.param(
            [f"d{n}" for n in range(99)],
            LLAMA,
            "corpus_uri: 99 documents; a Bedrock batch inference job takes 100",
            id="too-few",
        ),
        pytest.param(
            [f"d{n}" for n in range(100)],
            "amazon.titan-text-express-v1",
            "bedrock_model_id: batch generation knows",
            id="model",
        ),
    ],
)
def test_prepare_batch_refuses_what_a_job_cannot_run_and_writes_nothing(
    generator, artifacts, ids, model, message
) -> None:
    with pytest.raises(generator.storage.InvalidEventError, match=message):
        generator.batch.prepare_batch(prepare_event(put_corpus(artifacts, ids), model))
    assert artifacts.keys(f"runs/{RUN_ID}/batch/") == []


# ---------------------------------------------------------------------------------------------------------
# collect_batch
# ---------------------------------------------------------------------------------------------------------


def output_line(record_id: str, generation: str | None = None, error: dict | None = None) -> dict:
    line = {"recordId": record_id, "modelInput": {"prompt": "...", "max_gen_len": 400, "temperature": 0.7}}
    if error:
        line["error"] = error
    else:
        line["modelOutput"] = {
            "generation": generation,
            "prompt_token_count": 90,
            "generation_token_count": 30,
            "stop_reason": "stop",
        }
    return line


@pytest.fixture
def prepared(generator, artifacts) -> list[str]:
    """A prepared batch of 100 documents ``doc/0`` … ``doc/99``."""
    ids = [f"doc/{n}" for n in range(100)]
    generator.batch.prepare_batch(prepare_event(put_corpus(artifacts, ids)))
    return ids


def collect_event(artifacts) -> dict:
    return {
        "action": "collect_batch",
        "run_id": RUN_ID,
        "output_uri": artifacts.run_uri(RUN_ID, "batch/output/"),
        "queries_per_document": 2,
    }


def test_handler_maps_batch_output_back_to_documents(generator, artifacts, prepared) -> None:
    # GIVEN the job's output in any order: 97 answers, one errored record, one unknown record ID, one missing
    lines = [
        output_line(f"R{n:010d}", f"1. first query for {n}\n2. second query for {n}\n3. third query for {n}")
        for n in range(97)
    ]
    lines.append(output_line("R0000000097", error={"errorCode": 400, "errorMessage": "Malformed input request"}))
    lines.append(output_line("R9999999999", "1. stray query from nowhere"))
    random.Random(1).shuffle(lines)
    job_prefix = artifacts.run_uri(RUN_ID, "batch/output/job-abc123/")
    artifacts.put_jsonl(job_prefix + "records.jsonl.out", lines)
    artifacts.put_bytes(job_prefix + "manifest.json.out", json.dumps({"totalRecordCount": 99}).encode())

    # WHEN the handler collects the output
    result = generator.handler(collect_event(artifacts), FakeLambdaContext())

    # THEN each answered document has its queries (capped at 2), and the errored and missing ones are failed
    assert result == {
        "queries_uri": artifacts.run_uri(RUN_ID, "queries/part-batch.jsonl"),
        "documents": 100,
        "queries": 194,
        "failed_documents": 3,
        "failed_uri": artifacts.run_uri(RUN_ID, "batch/failed-records.jsonl"),
    }
    failures = {line["doc_id"]: line["cause"] for line in artifacts.read_jsonl(result["failed_uri"])}
    assert set(failures) == {"doc/97", "doc/98", "doc/99"} and "Malformed input request" in failures["doc/97"]
    queries = artifacts.read_jsonl(result["queries_uri"])
    assert queries[:2] == [
        {"doc_id": "doc/0", "query": "first query for 0"},
        {"doc_id": "doc/0", "query": "second query for 0"},
    ]
    documents = {line["doc_id"] for line in queries}
    assert documents == {f"doc/{n}" for n in range(97)}


def test_claude_output_is_read_too(generator, artifacts, prepared) -> None:
    answer = {"content": [{"type": "text", "text": "- claude query one\n- claude query two"}]}
    lines = [{"recordId": f"R{n:010d}", "modelInput": {}, "modelOutput": answer} for n in range(100)]
    artifacts.put_jsonl(artifacts.run_uri(RUN_ID, "batch/output/job-1/records.jsonl.out"), lines)
    result = generator.batch.collect_batch(collect_event(artifacts))
    assert (result["queries"], result["failed_documents"]) == (200, 0)


def test_all_records_errored_raises_query_generation_error(generator, artifacts, prepared) -> None:
    lines = [output_line(f"R{n:010d}", error={"errorCode": 429, "errorMessage": "Throttled"}) for n in range(100)]
    artifacts.put_jsonl(artifacts.run_uri(RUN_ID, "batch/output/job-1/records.jsonl.out"), lines)
    with pytest.raises(generator.generation.QueryGenerationError, match="answered 0 of 100 documents.*Throttled"):
        generator.batch.collect_batch(collect_event(artifacts))
    assert artifacts.keys(f"runs/{RUN_ID}/queries/") == []


def test_no_output_files_raises_query_generation_error(generator, artifacts, prepared) -> None:
    with pytest.raises(generator.generation.QueryGenerationError, match=r"no batch output \(\*\.jsonl\.out\)"):
        generator.batch.collect_batch(collect_event(artifacts))


def test_collect_without_a_prepared_batch_names_the_run(generator, artifacts) -> None:
    with pytest.raises(generator.storage.InvalidEventError, match="run_id: no batch record mapping"):
        generator.batch.collect_batch(collect_event(artifacts))


@pytest.mark.parametrize(("minimum", "fails"), [(0.9, True), (0.5, False)])
def test_the_success_threshold_decides_whether_the_run_goes_on(generator, artifacts, prepared, minimum, fails) -> None:
    # GIVEN a PartiallyCompleted job's output: 80 of 100 records answered
    lines = [
        output_line(f"R{n:010d}", f"1. first query for {n}\n2. second query for {n}")
        if n < 80
        else output_line(f"R{n:010d}", error={"errorCode": 400, "errorMessage": "rejected"})
        for n in range(100)
    ]
    artifacts.put_jsonl(artifacts.run_uri(RUN_ID, "batch/output/job-1/records.jsonl.out"), lines)
    event = {**collect_event(artifacts), "min_success_fraction": minimum}
    if fails:
        with pytest.raises(
            generator.generation.QueryGenerationError,
            match="answered 80 of 100 documents .80%., below batch_min_success_fraction = 0.9",
        ):
            generator.batch.collect_batch(event)
        assert artifacts.keys(f"runs/{RUN_ID}/queries/") == []
    else:
        assert generator.batch.collect_batch(event)["failed_documents"] == 20
    assert len(artifacts.read_jsonl(artifacts.run_uri(RUN_ID, "batch/failed-records.jsonl"))) == 20


def test_a_bad_threshold_is_named(generator, artifacts, prepared) -> None:
    with pytest.raises(generator.batch.InvalidEventError, match="min_success_fraction: 2 is not a number from 0 to 1"):
        generator.batch.collect_batch({**collect_event(artifacts), "min_success_fraction": 2})
