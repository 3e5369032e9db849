"""Bedrock batch inference (CreateModelInvocationJob) for query generation: input records and their results.

``prepare_batch`` event: ``{"action": "prepare_batch", "run_id", "corpus_uri", "queries_per_document",
"bedrock_model_id", "prompt_template"?}``. Writes ``runs/<run_id>/batch/input/records.jsonl``, one line per
document in the batch input format::

    {"recordId": "R0000000001", "modelInput": <the model's native InvokeModel body>}

For Meta Llama the body is ``{"prompt": <Llama 3 chat-formatted prompt>, "max_gen_len", "temperature"}``;
for Anthropic Claude it is a Messages API body. Record IDs are the documents' ids when every id is an
11-character alphanumeric string (the shape the Bedrock guide shows); otherwise ``R`` plus a 10-digit
index. ``runs/<run_id>/batch/record_ids.jsonl`` maps each record ID to its document (``{"recordId",
"doc_id"}``); it sits outside ``batch/input/`` because the job reads every JSONL file under its input
prefix. Returns ``{"input_uri", "output_uri", "records"}`` (the two S3 prefixes to give the job).

``collect_batch`` event: ``{"action": "collect_batch", "run_id", "output_uri", "queries_per_document",
"min_success_fraction"?}`` (default 0.9), after a job that ended ``Completed`` or ``PartiallyCompleted`` (a final
status: "the job partially completed... view the output files", botocore bedrock ModelInvocationJobStatus).
Reads every ``*.jsonl.out`` under ``output_uri`` (the job writes ``<output_uri><job-id>/records.jsonl.out``),
each line ``{"recordId", "modelInput", "modelOutput"}`` or ``{"recordId", "modelInput", "error"}``, parses
the queries, maps the record IDs back to documents and writes ``runs/<run_id>/queries/part-batch.jsonl``.
Documents without a query (an ``error`` record, no record, or no usable query) are listed with their cause in
``runs/<run_id>/batch/failed-records.jsonl`` (outside ``queries/``, which pair building reads whole). Returns ``{"queries_uri", "documents", "queries",
"failed_documents", "failed_uri"}`` like on-demand generation, and raises ``QueryGenerationError`` when fewer than
``min_success_fraction`` of the documents got queries.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import boto3

from lambda_src.generate_queries.generation_plan import (
    BATCH_INFERENCE_MAXIMUM_RECORDS_PER_FILE,
    BATCH_INFERENCE_MINIMUM_RECORDS,
)
from lambda_src.generate_queries.query_events import (
    fraction,
    prompt_template,
    queries_per_document,
    require_mapping,
    text,
)
from lambda_src.generate_queries.query_generation import QueryGenerationError
from lambda_src.generate_queries.query_parsing import parse_queries
from lambda_src.generate_queries.query_prompts import MAX_OUTPUT_TOKENS, TEMPERATURE, render_prompt
from lambda_src.shared.run_storage import (
    InvalidEventError,
    JsonLinesUpload,
    artifacts_bucket,
    iter_corpus,
    iter_json_lines,
    iter_lines,
    list_keys,
    parse_s3_uri,
    run_prefix,
    s3_uri_field,
)

logger = logging.getLogger(__name__)

DOCUMENT_ID_AS_RECORD_ID = re.compile(r"^[A-Za-z0-9]{11}$")
ANTHROPIC_VERSION = "bedrock-2023-05-31"
OUTPUT_SUFFIX = ".jsonl.out"


def llama_input(prompt: str) -> dict[str, Any]:
    """A Meta Llama 3.x InvokeModel body: the prompt in Llama 3's chat format, ready for the answer."""
    formatted = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
        f"{prompt}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    return {"prompt": formatted, "max_gen_len": MAX_OUTPUT_TOKENS, "temperature": TEMPERATURE}


def anthropic_input(prompt: str) -> dict[str, Any]:
    """An Anthropic Claude Messages API InvokeModel body."""
    return {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": MAX_OUTPUT_TOKENS,
        "temperature": TEMPERATURE,
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
    }


def model_input_builder(model_id: str) -> Callable[[str], dict[str, Any]]:
    """The body builder for a model ID (a cross-region profile such as ``us.meta.llama...`` included)."""
    if "meta.llama" in model_id:
        return llama_input
    if "anthropic.claude" in model_id:
        return anthropic_input
    raise InvalidEventError(
        f"bedrock_model_id: batch generation knows the request bodies of Meta Llama and Anthropic Claude models, "
        f"not {model_id!r}; use generation_mode 'on_demand' (Converse works with any text model)"
    )


def model_output_text(output: Any) -> str:
    """The generated text of an InvokeModel response body, whatever the model family."""
    if not isinstance(output, Mapping):
        return ""
    if isinstance(output.get("generation"), str):  # Meta Llama
        return output["generation"]
    if isinstance(output.get("content"), list):  # Anthropic Claude
        return "\n".join(block.get("text", "") for block in output["content"] if isinstance(block, Mapping))
    if isinstance(output.get("outputs"), list):  # Mistral
        return "\n".join(item.get("text", "") for item in output["outputs"] if isinstance(item, Mapping))
    content = (
        output.get("output", {}).get("message", {}).get("content", [])
        if isinstance(output.get("output"), Mapping)
        else []
    )
    return "\n".join(block.get("text", "") for block in content if isinstance(block, Mapping))  # Converse-shaped


def prepare_batch(event: Mapping[str, Any], *, s3_client: Any = None) -> dict[str, Any]:
    """Write the batch job's input records and the record-ID mapping (see the module docstring)."""
    event = require_mapping(event)
    prefix = run_prefix(event.get("run_id"))
    corpus_uri = s3_uri_field(event.get("corpus_uri"), "corpus_uri")
    count = queries_per_document(event)
    build_input = model_input_builder(text(event, "bedrock_model_id"))
    template = prompt_template(event)
    s3 = s3_client or boto3.client("s3")
    bucket = artifacts_bucket()

    document_ids = [doc_id for doc_id, _ in iter_corpus(s3, corpus_uri)]  # first pass: ids only
    if not BATCH_INFERENCE_MINIMUM_RECORDS <= len(document_ids) <= BATCH_INFERENCE_MAXIMUM_RECORDS_PER_FILE:
        raise InvalidEventError(
            f"corpus_uri: {len(document_ids)} documents; a Bedrock batch inference job takes "
            f"{BATCH_INFERENCE_MINIMUM_RECORDS} to {BATCH_INFERENCE_MAXIMUM_RECORDS_PER_FILE} records in one file; "
            "plan with generation_mode 'auto' or 'on_demand'"
        )
    use_document_ids = all(DOCUMENT_ID_AS_RECORD_ID.match(doc_id) for doc_id in document_ids)
    record_ids = document_ids if use_document_ids else [f"R{index:010d}" for index in range(len(document_ids))]

    mapping = JsonLinesUpload(s3, bucket, f"{prefix}batch/record_ids.jsonl")
    records = JsonLinesUpload(s3, bucket, f"{prefix}batch/input/records.jsonl")
    try:
        for record_id, doc_id in zip(record_ids, document_ids):
            mapping.write({"recordId": record_id, "doc_id": doc_id})
        for record_id, (_, body) in zip(record_ids, iter_corpus(s3, corpus_uri)):  # second pass: text
            records.write({"recordId": record_id, "modelInput": build_input(render_prompt(template, body, count))})
        if records.lines != len(document_ids):
            raise InvalidEventError(f"corpus_uri: {corpus_uri} changed while the batch records were written")
        mapping.commit()  # the mapping first: records never exist without it
        records.commit()
    finally:
        mapping.discard()
        records.discard()
    return {
        "input_uri": f"s3://{bucket}/{prefix}batch/input/",
        "output_uri": f"s3://{bucket}/{prefix}batch/output/",
        "records": records.lines,
    }


def collect_batch(event: Mapping[str, Any], *, s3_client: Any = None) -> dict[str, Any]:
    """Turn the batch job's output into the run's query file (see the module docstring)."""
    event = require_mapping(event)
    prefix = run_prefix(event.get("run_id"))
    output_bucket, output_prefix = parse_s3_uri(event.get("output_uri"), "output_uri")
    output_prefix = output_prefix if output_prefix.endswith("/") else output_prefix + "/"
    count = queries_per_document(event)
    minimum = fraction(event, "min_success_fraction", default=0.9)
    s3 = s3_client or boto3.client("s3")
    bucket = artifacts_bucket()

    mapping_uri = f"s3://{bucket}/{prefix}batch/record_ids.jsonl"
    doc_of_record: dict[str, str] = {}
    try:
        for _, entry in iter_json_lines(s3, mapping_uri, "run_id"):
            doc_of_record[entry["recordId"]] = entry["doc_id"]
    except InvalidEventError:
        raise InvalidEventError(f"run_id: no batch record mapping at {mapping_uri}; run prepare_batch first") from None

    output_keys = list_keys(s3, output_bucket, output_prefix, OUTPUT_SUFFIX)
    if not output_keys:
        raise QueryGenerationError(f"no batch output (*{OUTPUT_SUFFIX}) under s3://{output_bucket}/{output_prefix}")
    queries: dict[str, list[str]] = {}
    causes: dict[str, str] = {}
    unknown = 0
    for key in output_keys:
        body = s3.get_object(Bucket=output_bucket, Key=key)["Body"]
        for number, raw in enumerate(iter_lines(body), start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                logger.warning("unreadable batch output line", extra={"key": key, "line": number})
                continue
            record_id = record.get("recordId") if isinstance(record, dict) else None
            doc_id = doc_of_record.get(record_id) if isinstance(record_id, str) else None
            if doc_id is None:
                unknown += 1
                continue
            if record.get("error"):
                causes[doc_id] = json.dumps(record["error"])[:300]
                continue
            parsed = parse_queries(model_output_text(record.get("modelOutput")), count)
            queries[doc_id] = parsed or queries.get(doc_id, [])
    if unknown:
        logger.warning("batch output records with unknown record IDs were skipped", extra={"records": unknown})

    documents = list(dict.fromkeys(doc_of_record.values()))
    failed = [doc_id for doc_id in documents if not queries.get(doc_id)]
    failures = JsonLinesUpload(s3, bucket, f"{prefix}batch/failed-records.jsonl")
    for doc_id in failed:
        failures.write({"doc_id": doc_id, "cause": causes.get(doc_id, "no output record or no usable query")})
    failed_uri = failures.commit()
    answered = (len(documents) - len(failed)) / len(documents) if documents else 0.0
    if answered < minimum:
        first = causes.get(failed[0], "no output record or no usable query") if failed else "no records"
        raise QueryGenerationError(
            f"batch inference answered {len(documents) - len(failed)} of {len(documents)} documents ({answered:.0%}), "
            f"below batch_min_success_fraction = {minimum}; failed records: {failed_uri}; first cause "
            f"({failed[0] if failed else '-'}): {first}"
        )
    upload = JsonLinesUpload(s3, bucket, f"{prefix}queries/part-batch.jsonl")
    for doc_id in documents:
        for query in queries.get(doc_id, []):
            upload.write({"doc_id": doc_id, "query": query})
    return {
        "queries_uri": upload.commit(),
        "documents": len(documents),
        "queries": upload.lines,
        "failed_documents": len(failed),
        "failed_uri": failed_uri,
    }
