"""Convert and validate a run's fine-tuning data, then store it for Bedrock model customization.

Event: ``{"run_id", "input": {"train_s3_uri", "target_format": "prompt_completion"|"conversation",
"validation_fraction"?: 0.1, "seed"?: 42, "min_records"?: 1, "max_records"?: 10000, "max_validation_records"?:
1000, "max_tokens_per_record"?: 4096, "hyperparameters"?: {"epoch_count", "batch_size", "learning_rate"}}}``. The JSONL at ``train_s3_uri`` is streamed through
``customization_data.convert_and_validate`` (formats, checks and split are described there).

- Any problem: every problem goes to ``runs/<run_id>/data/problems.jsonl`` (``{"file", "line", "field",
  "reason"}`` lines) and ``CustomizationDataError`` is raised, its message counting the problems, showing the
  first five and naming that file. No training data is written.
- Otherwise ``runs/<run_id>/data/{train,validation}.jsonl`` and ``metadata.json`` are written and
  ``{"train_uri", "validation_uri", "metadata_uri", "train_records", "validation_records", "format",
  "job_hyperparameters"}`` returned; ``job_hyperparameters`` are the customization job's ``hyperParameters``
  (``epochCount``, ``batchSize``, ``learningRate``): strings, as the API takes them, numbers written as plain
  decimals (``"0.0001"``, never ``"1e-04"``) like AWS's examples.

A malformed event raises ``InvalidEventError`` naming the field.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import boto3

from lambda_src.shared.customization_data import (
    DEFAULT_SEED,
    DEFAULT_VALIDATION_FRACTION,
    TARGET_FORMATS,
    CustomizationDataError,
    Limits,
    convert_and_validate,
    problems_message,
    store_problems,
    store_result,
)
from lambda_src.shared.run_storage import (
    InvalidEventError,
    artifacts_bucket,
    iter_lines,
    open_object,
    run_prefix,
    s3_uri_field,
)

logger = logging.getLogger(__name__)

LIMIT_DEFAULTS = {
    name: getattr(Limits, name)
    for name in ("min_records", "max_records", "max_tokens_per_record", "max_validation_records")
}
# execution input name -> Bedrock hyperParameters key (https://docs.aws.amazon.com/bedrock/latest/userguide/cm-hp-meta-llama31.html)
HYPERPARAMETER_KEYS = {"epoch_count": "epochCount", "batch_size": "batchSize", "learning_rate": "learningRate"}


def _positive_integer(settings: Mapping[str, Any], name: str, default: int) -> int:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidEventError(f"input.{name}: {value!r} must be a positive integer")
    return value


def read_settings(event: Any) -> tuple[str, str, dict[str, Any], Limits]:
    """``(run prefix, train URI, conversion options, limits)`` from the event; a bad field raises naming it."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"event: expected an object, got {type(event).__name__}")
    prefix = run_prefix(event.get("run_id"))
    settings = event.get("input")
    if not isinstance(settings, Mapping):
        raise InvalidEventError(f"input: expected an object, got {type(settings).__name__}")
    train_uri = s3_uri_field(settings.get("train_s3_uri"), "input.train_s3_uri")
    target_format = settings.get("target_format")
    if target_format not in TARGET_FORMATS:
        raise InvalidEventError(f"input.target_format: {target_format!r} is not one of {', '.join(TARGET_FORMATS)}")
    fraction = settings.get("validation_fraction", DEFAULT_VALIDATION_FRACTION)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise InvalidEventError(f"input.validation_fraction: {fraction!r} must be a number between 0 and 1 (exclusive)")
    seed = settings.get("seed", DEFAULT_SEED)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidEventError(f"input.seed: {seed!r} is not an integer")
    bounds = {name: _positive_integer(settings, name, default) for name, default in LIMIT_DEFAULTS.items()}
    try:
        limits = Limits(**bounds)
    except ValueError as error:
        raise InvalidEventError(f"input: {error}") from None
    options = {"target_format": target_format, "validation_fraction": fraction, "seed": seed}
    return prefix, train_uri, options, limits


def job_hyperparameters(event: Mapping[str, Any]) -> dict[str, str]:
    """The job's ``hyperParameters`` from ``input.hyperparameters`` (see the module docstring); unknown or
    non-numeric values raise naming the field."""
    given = (event.get("input") or {}).get("hyperparameters")
    given = {} if given is None else given
    if not isinstance(given, Mapping):
        raise InvalidEventError(f"input.hyperparameters: expected an object, got {type(given).__name__}")
    result = {}
    for name, value in given.items():
        if name not in HYPERPARAMETER_KEYS:
            raise InvalidEventError(f"input.hyperparameters.{name}: unknown; known: {', '.join(HYPERPARAMETER_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise InvalidEventError(f"input.hyperparameters.{name}: {value!r} must be a positive number")
        result[HYPERPARAMETER_KEYS[name]] = plain_decimal(value)
    return result


def plain_decimal(value: int | float) -> str:
    """``value`` in positional notation, shortest form: 1e-4 -> "0.0001", 5 -> "5", 5e-06 -> "0.000005"."""
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def prepare_customization_data(event: Mapping[str, Any], *, s3_client: Any = None) -> dict[str, Any]:
    """Convert, validate and store the run's data (see the module docstring)."""
    prefix, train_uri, options, limits = read_settings(event)
    hyperparameters = job_hyperparameters(event)
    bucket = artifacts_bucket()
    s3 = s3_client or boto3.client("s3")
    lines = iter_lines(open_object(s3, train_uri, "input.train_s3_uri"))
    result = convert_and_validate(lines, source_name=train_uri, limits=limits, **options)
    if result.problems:
        problems_uri = store_problems(s3, bucket, f"{prefix}data/problems.jsonl", result.problems)
        logger.warning(
            "customization data rejected", extra={"problems": len(result.problems), "problems_uri": problems_uri}
        )
        raise CustomizationDataError(problems_message(result.problems, train_uri, problems_uri))
    uris = store_result(s3, bucket, f"{prefix}data/", result)
    logger.info("customization data stored", extra={"metadata": result.metadata})
    return {
        "train_uri": uris["train"],
        "validation_uri": uris["validation"],
        "metadata_uri": uris["metadata"],
        "train_records": len(result.train),
        "validation_records": len(result.validation),
        "format": options["target_format"],
        "job_hyperparameters": hyperparameters,
    }
