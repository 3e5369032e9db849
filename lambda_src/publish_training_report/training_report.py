"""Publish what a retrieval training job measured: its metrics and run report, copied into the run prefix.

Event: ``{"run_id", "model_artifacts_uri": "s3://<artifacts>/runs/<run_id>/training/<job>/output/model.tar.gz",
"gate": "mean" | "ci_lower", "min_ndcg_gain": 0.0}``.
The job's ``output.tar.gz`` beside ``model.tar.gz`` holds what ``sagemaker_src.retrieval.train`` wrote to its
output-data directory: ``metrics.json`` and the run report (``report.md``, ``metrics.png``). They are copied to
``runs/<run_id>/report/`` (metrics.json last: its presence means the report is complete), the report with
the quality gate's decision (``quality_gate``) appended.

Returns ``{"base", "fine_tuned", "difference"}`` on the held-out synthetic queries (nDCG@10, MRR@10,
recall@1/10/100 each), ``evaluations`` (per query set: queries, nDCG@10 of both models, difference and its
95% interval; the questions whose ids are not in the corpus are counted here and listed in the report),
``gate`` (the decision: ``passed``, ``reason`` ...), ``ndcg_at_10_gain`` (on the set the gate decided on), a few
training facts, and the report's S3 URIs.
Raises ``TrainingOutputError`` naming the file and field when the output is not what the script writes.
"""

from __future__ import annotations

import io
import json
import logging
import math
import tarfile
from typing import Any

import boto3

from lambda_src.publish_training_report.quality_gate import DEFAULT_GATE, GateInputError, decide, report_section
from lambda_src.shared.run_storage import InvalidEventError, parse_s3_uri, run_prefix

logger = logging.getLogger(__name__)

METRIC_NAMES = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100")
REPORT_FILES = {"report.md": "text/markdown", "metrics.png": "image/png"}
METRICS_FILE = "metrics.json"
MAX_OUTPUT_BYTES = 64 << 20  # metrics and a report: kilobytes; anything near this is not the script's output


class TrainingOutputError(ValueError):
    """The training job's output is missing or malformed; the message names the file and field."""


def publish_training_report(event: dict[str, Any], s3_client: Any = None) -> dict[str, Any]:
    s3 = s3_client or boto3.client("s3")
    prefix = run_prefix(event.get("run_id"))
    bucket, model_key = parse_s3_uri(event.get("model_artifacts_uri"), "model_artifacts_uri")
    if not model_key.startswith(prefix) or not model_key.endswith("/model.tar.gz"):
        raise InvalidEventError(f"model_artifacts_uri: {model_key!r} is not a model.tar.gz under {prefix}")
    output_key = model_key.removesuffix("model.tar.gz") + "output.tar.gz"
    files = _read_output_archive(s3, bucket, output_key)
    output_uri = f"s3://{bucket}/{output_key}"
    if METRICS_FILE not in files:
        raise TrainingOutputError(f"{output_uri}: has no {METRICS_FILE}; the training script did not finish")
    where = f"{output_uri}:{METRICS_FILE}"
    metrics = _parse_metrics(files[METRICS_FILE], where)
    try:
        decision = decide(
            metrics["evaluations"], gate=event.get("gate", DEFAULT_GATE), min_ndcg_gain=event.get("min_ndcg_gain", 0.0)
        )
    except GateInputError as error:
        raise InvalidEventError(str(error)) from None
    if "report.md" in files:
        files["report.md"] += report_section(decision).encode("utf-8")

    report_prefix = f"{prefix}report/"
    uris = {}
    for name, content_type in REPORT_FILES.items():
        if name in files:
            s3.put_object(Bucket=bucket, Key=report_prefix + name, Body=files[name], ContentType=content_type)
            uris[name] = f"s3://{bucket}/{report_prefix}{name}"
        else:
            logger.warning("the training output has no %s", name)
    s3.put_object(
        Bucket=bucket, Key=report_prefix + METRICS_FILE, Body=files[METRICS_FILE], ContentType="application/json"
    )
    training: dict[str, Any] = metrics["training"] if isinstance(metrics.get("training"), dict) else {}
    result = {
        "base": metrics["base"],
        "fine_tuned": metrics["fine_tuned"],
        "difference": metrics["difference"],
        "evaluations": {name: _summary(entry) for name, entry in metrics["evaluations"].items()},
        "gate": decision,
        "ndcg_at_10_gain": decision["ndcg_at_10_gain"],
        "training": {key: training.get(key) for key in ("global_step", "train_seconds", "samples_per_second")},
        "metrics_uri": f"s3://{bucket}/{report_prefix}{METRICS_FILE}",
        "report_uri": uris.get("report.md"),
        "plot_uri": uris.get("metrics.png"),
    }
    logger.info("quality gate: %s", decision["reason"])
    return result


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    """A query set's figures for the state (the full metrics stay in metrics.json)."""
    return {
        "queries": entry["queries"],
        "base_ndcg_at_10": entry["base"]["ndcg@10"],
        "fine_tuned_ndcg_at_10": entry["fine_tuned"]["ndcg@10"],
        "ndcg_at_10_gain": entry["difference"]["ndcg@10"],
        "interval": {"low": entry["interval"]["low"], "high": entry["interval"]["high"]},
        "unknown_ids": len(entry.get("unknown_ids") or []),
    }


def _read_output_archive(s3: Any, bucket: str, key: str) -> dict[str, bytes]:
    """The top-level regular files of the job's output archive, by name (at most ``MAX_OUTPUT_BYTES``)."""
    uri = f"s3://{bucket}/{key}"
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise TrainingOutputError(f"{uri}: does not exist; the training job wrote no output data") from None
        raise
    if head["ContentLength"] > MAX_OUTPUT_BYTES:
        raise TrainingOutputError(f"{uri}: {head['ContentLength']} bytes, more than the {MAX_OUTPUT_BYTES} expected")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
            for member in archive.getmembers():
                name = member.name.removeprefix("./")
                if member.isfile() and name in (METRICS_FILE, *REPORT_FILES):
                    extracted = archive.extractfile(member)
                    files[name] = extracted.read() if extracted else b""
    except tarfile.TarError as error:
        raise TrainingOutputError(f"{uri}: not a readable tar archive ({error})") from None
    return files


def _parse_metrics(raw: bytes, where: str) -> dict[str, Any]:
    try:
        metrics = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TrainingOutputError(f"{where}: not valid JSON ({error})") from None
    if not isinstance(metrics, dict):
        raise TrainingOutputError(f"{where}: expected a JSON object")
    if metrics.get("status") != "completed":
        raise TrainingOutputError(f"{where}: status: {metrics.get('status')!r}, expected 'completed'")
    for section in ("base", "fine_tuned", "difference"):
        scores = metrics.get(section)
        if not isinstance(scores, dict):
            raise TrainingOutputError(f"{where}: {section}: missing or not an object")
        for name in METRIC_NAMES:
            value = scores.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TrainingOutputError(f"{where}: {section}.{name}: {value!r} is not a finite number")
        metrics[section] = {name: float(scores[name]) for name in METRIC_NAMES}
    evaluations = metrics.get("evaluations")
    if not isinstance(evaluations, dict) or "synthetic" not in evaluations:
        raise TrainingOutputError(f"{where}: evaluations: missing or without 'synthetic'")
    for name, entry in evaluations.items():
        if name not in ("synthetic", "human"):
            raise TrainingOutputError(f"{where}: evaluations.{name}: not a query set the script writes")
        if not isinstance(entry, dict) or not isinstance(entry.get("queries"), int):
            raise TrainingOutputError(f"{where}: evaluations.{name}.queries: missing or not an integer")
        for path in (
            ("base", "ndcg@10"),
            ("fine_tuned", "ndcg@10"),
            ("difference", "ndcg@10"),
            ("interval", "low"),
            ("interval", "high"),
        ):
            value = entry.get(path[0], {}).get(path[1]) if isinstance(entry.get(path[0]), dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TrainingOutputError(
                    f"{where}: evaluations.{name}.{'.'.join(path)}: {value!r} is not a finite number"
                )
    return metrics
