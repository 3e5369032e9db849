"""Compare a customized model with its base model on a test suite, with Bedrock Runtime ``Converse``.

Event: ``{"run_id", "test_suite_uri", "base_model_id", "custom_model_id", "metric": "exact_match" |
"field_f1" | "judge", "judge_model_id"? (for "judge"), "min_gain": 0.0, "max_tokens"?: 512}``.

The test suite is JSONL, one ``{"prompt": str, "expected": str | object}`` per line. Each prompt is sent to
both models (at most ``MAX_CONCURRENT_REQUESTS`` requests at a time, ``maxTokens`` always set, temperature 0;
throttling and transient errors retried with exponential backoff and full jitter). Scores, each in [0, 1]:

- ``exact_match`` (``expected`` a string): 1 when the answer equals it after collapsing whitespace and case.
- ``field_f1`` (``expected`` an object): F1 of the expected (field path, value) pairs against those of the
  first JSON object in the answer; string values compare as in exact match, so partial answers score between.
- ``judge`` (either): ``judge_model_id`` scores the answer against the expected one from 0 to 10; /10.

Writes ``runs/<run_id>/evaluation/report.json`` (every answer and score, the totals) and ``report.md`` (a
table: metric, base, custom, gain, verdict, then one row per case). Returns ``{"base_score", "custom_score",
"gain", "custom_wins": gain >= min_gain, "report_uri", "cases"}``. A bad suite line raises
``EvaluationSuiteError`` naming the line and field; a bad event ``InvalidEventError``.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lambda_src.shared.bedrock_runtime import RetryPolicy, answer_text, bedrock_runtime_client, with_retries
from lambda_src.shared.run_storage import (
    InvalidEventError,
    artifacts_bucket,
    iter_lines,
    open_object,
    run_prefix,
    s3_uri_field,
)

logger = logging.getLogger(__name__)

METRICS = ("exact_match", "field_f1", "judge")
MAX_CONCURRENT_REQUESTS = 4
DEFAULT_MAX_TOKENS = 512
JUDGE_MAX_TOKENS = 200
CELL_CHARACTERS = 80
JUDGE_PROMPT = """You are grading an answer against a reference answer.

Question:
{prompt}

Reference answer:
{expected}

Answer to grade:
{answer}

How well does the answer match the reference in meaning and correctness? Reply with only the score, an \
integer from 0 (wrong) to 10 (fully correct), like "Score: 7"."""


class EvaluationSuiteError(ValueError):
    """A test-suite line is not ``{"prompt": str, "expected": str | object}``; the message names line and field."""


@dataclass(frozen=True)
class EvaluationCase:
    line: int
    prompt: str
    expected: str | dict[str, Any]


# --- the suite -------------------------------------------------------------------------------------------


def load_suite(lines: Iterable[bytes | str], metric: str, source_name: str = "test suite") -> list[EvaluationCase]:
    """The cases of a JSONL suite; blank lines are skipped; the first bad line raises naming line and field."""
    cases = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{source_name} line {number}"
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            record = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise EvaluationSuiteError(f"{where}: not valid UTF-8 JSON ({error})") from None
        if not isinstance(record, dict):
            raise EvaluationSuiteError(f"{where}: expected a JSON object")
        prompt, expected = record.get("prompt"), record.get("expected")
        if not isinstance(prompt, str) or not prompt.strip():
            raise EvaluationSuiteError(f"{where}: field 'prompt' must be a non-empty string")
        if metric == "exact_match" and not (isinstance(expected, str) and expected.strip()):
            raise EvaluationSuiteError(f"{where}: field 'expected' must be a non-empty string for metric exact_match")
        if metric == "field_f1" and not (isinstance(expected, dict) and expected):
            raise EvaluationSuiteError(f"{where}: field 'expected' must be a non-empty object for metric field_f1")
        if not ((isinstance(expected, str) and expected.strip()) or (isinstance(expected, dict) and expected)):
            raise EvaluationSuiteError(f"{where}: field 'expected' must be a non-empty string or object")
        cases.append(EvaluationCase(number, prompt, expected))
    if not cases:
        raise EvaluationSuiteError(f"{source_name}: no test cases")
    return cases


# --- scoring ---------------------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    return " ".join(text.split()).casefold()


def exact_match_score(answer: str, expected: str) -> float:
    return 1.0 if normalize_text(answer) == normalize_text(expected) else 0.0


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (bare, or inside prose or a code fence); ``None`` when there is none."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _field_values(value: Any, path: str = "") -> set[tuple[str, str]]:
    """(dotted path, normalized JSON value) of every leaf; list items are paths ``[i]``."""
    if isinstance(value, dict):
        pairs: set[tuple[str, str]] = set()
        for key, item in value.items():
            pairs |= _field_values(item, f"{path}.{key}" if path else str(key))
        return pairs
    if isinstance(value, list):
        return {pair for index, item in enumerate(value) for pair in _field_values(item, f"{path}[{index}]")}
    if isinstance(value, str):
        return {(path, json.dumps(normalize_text(value)))}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {(path, json.dumps(float(value)))}
    return {(path, json.dumps(value))}


def field_f1_score(answer: str, expected: Mapping[str, Any]) -> float:
    """F1 of the expected leaf (path, value) pairs against the answer's first JSON object; 0 without one."""
    predicted = extract_json_object(answer)
    if predicted is None:
        return 0.0
    wanted, got = _field_values(dict(expected)), _field_values(predicted)
    correct = len(wanted & got)
    if not correct:
        return 0.0
    precision, recall = correct / len(got), correct / len(wanted)
    return 2 * precision * recall / (precision + recall)


_SCORE_PATTERNS = (
    re.compile(r"score\s*(?:is|of|[:=])?\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE),
    re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.IGNORECASE),
    re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d.])"),
)


def parse_judge_score(reply: str) -> float | None:
    """The judge's 0..10 score divided by 10; ``None`` when the reply holds no score in range."""
    for pattern in _SCORE_PATTERNS:
        for match in pattern.finditer(reply):
            value = float(match.group(1))
            if 0 <= value <= 10:
                return value / 10
    return None


# --- calling the models ----------------------------------------------------------------------------------


@dataclass
class ConverseCaller:
    """One Converse call per prompt, retrying throttling and transient errors (botocore's retries are off)."""

    client: Any
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] | None = None  # None: time.sleep, looked up when needed
    random_fraction: Callable[[], float] = random.random

    def ask(self, model_id: str, prompt: str, max_tokens: int) -> str:
        request = {
            "modelId": model_id,
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0},
        }
        response = with_retries(
            lambda: self.client.converse(**request),
            policy=self.policy,
            sleep=self.sleep or time.sleep,
            random_fraction=self.random_fraction,
            on_retry=lambda code, attempt: logger.info(
                "converse retried", extra={"code": code, "attempt": attempt, "model_id": model_id}
            ),
        )
        return answer_text(response)


@dataclass(frozen=True)
class EvaluationSettings:
    base_model_id: str
    custom_model_id: str
    metric: str
    min_gain: float = 0.0
    judge_model_id: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS


def _expected_text(expected: str | dict[str, Any]) -> str:
    return expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)


def evaluate_cases(
    cases: list[EvaluationCase],
    settings: EvaluationSettings,
    caller: ConverseCaller,
    *,
    max_workers: int = MAX_CONCURRENT_REQUESTS,
) -> dict[str, Any]:
    """Answers, scores and totals for every case (the ``report.json`` content, without run details)."""
    models = {"base": settings.base_model_id, "custom": settings.custom_model_id}
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        answers = {
            (index, side): pool.submit(caller.ask, model_id, case.prompt, settings.max_tokens)
            for index, case in enumerate(cases)
            for side, model_id in models.items()
        }
        answered = {key: future.result() for key, future in answers.items()}
        judged: dict[tuple[int, str], Any] = {}
        if settings.metric == "judge":
            judged = {
                key: pool.submit(
                    caller.ask,
                    str(settings.judge_model_id),
                    JUDGE_PROMPT.format(
                        prompt=cases[key[0]].prompt, expected=_expected_text(cases[key[0]].expected), answer=answer
                    ),
                    JUDGE_MAX_TOKENS,
                )
                for key, answer in answered.items()
            }
        rows = []
        for index, case in enumerate(cases):
            row: dict[str, Any] = {"line": case.line, "prompt": case.prompt, "expected": case.expected}
            for side in models:
                answer = answered[(index, side)]
                entry: dict[str, Any] = {"answer": answer}
                if settings.metric == "judge":
                    reply = judged[(index, side)].result()
                    score = parse_judge_score(reply)
                    entry["judge_reply"] = reply
                    if score is None:
                        entry["note"] = "the judge's reply holds no 0-10 score; scored 0"
                    entry["score"] = score or 0.0
                elif settings.metric == "field_f1":
                    entry["score"] = round(field_f1_score(answer, case.expected), 4)  # type: ignore[arg-type]
                else:
                    entry["score"] = exact_match_score(answer, case.expected)  # type: ignore[arg-type]
                row[side] = entry
            rows.append(row)
    base = round(sum(row["base"]["score"] for row in rows) / len(rows), 4)
    custom = round(sum(row["custom"]["score"] for row in rows) / len(rows), 4)
    gain = round(custom - base, 4)
    return {
        "metric": settings.metric,
        "base_model_id": settings.base_model_id,
        "custom_model_id": settings.custom_model_id,
        "judge_model_id": settings.judge_model_id,
        "max_tokens": settings.max_tokens,
        "min_gain": settings.min_gain,
        "cases": len(rows),
        "base_score": base,
        "custom_score": custom,
        "gain": gain,
        "custom_wins": gain >= settings.min_gain,
        "results": rows,
    }


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    if len(text) > CELL_CHARACTERS:
        text = text[: CELL_CHARACTERS - 1] + "…"
    return text.replace("|", "\\|")


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as a Markdown summary table and one row per case."""
    verdict = (
        f"custom wins (gain >= {report['min_gain']:g})"
        if report["custom_wins"]
        else f"custom does not win (gain < {report['min_gain']:g})"
    )
    lines = [
        "# Customization evaluation",
        "",
        f"Base model `{report['base_model_id']}`, custom model `{report['custom_model_id']}`, {report['cases']} cases.",
        "",
        "| Metric | Base | Custom | Gain | Verdict |",
        "|---|---|---|---|---|",
        f"| {report['metric']} | {report['base_score']:.3f} | {report['custom_score']:.3f} | {report['gain']:+.3f} | {verdict} |",
        "",
        "## Cases",
        "",
        "| Line | Prompt | Expected | Base answer | Base | Custom answer | Custom |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['line']} | {_cell(row['prompt'])} | {_cell(row['expected'])} | {_cell(row['base']['answer'])} "
            f"| {row['base']['score']:.2f} | {_cell(row['custom']['answer'])} | {row['custom']['score']:.2f} |"
        )
    return "\n".join(lines) + "\n"


# --- the Lambda's event ----------------------------------------------------------------------------------


def _model_id(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"{name}: {value!r} must be a non-empty string")
    return value


def read_settings(event: Any) -> EvaluationSettings:
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"event: expected an object, got {type(event).__name__}")
    metric = event.get("metric")
    if metric not in METRICS:
        raise InvalidEventError(f"metric: {metric!r} is not one of {', '.join(METRICS)}")
    min_gain = event.get("min_gain", 0.0)
    if isinstance(min_gain, bool) or not isinstance(min_gain, (int, float)):
        raise InvalidEventError(f"min_gain: {min_gain!r} is not a number")
    max_tokens = event.get("max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidEventError(f"max_tokens: {max_tokens!r} must be a positive integer")
    judge = _model_id(event, "judge_model_id") if metric == "judge" else event.get("judge_model_id")
    return EvaluationSettings(
        base_model_id=_model_id(event, "base_model_id"),
        custom_model_id=_model_id(event, "custom_model_id"),
        metric=metric,
        min_gain=float(min_gain),
        judge_model_id=judge,
        max_tokens=max_tokens,
    )


def evaluate_customization(
    event: Mapping[str, Any],
    *,
    s3_client: Any = None,
    bedrock_client: Any = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Evaluate both models on the suite and store the report (see the module docstring)."""
    settings = read_settings(event)
    prefix = run_prefix(event.get("run_id")) + "evaluation/"
    suite_uri = s3_uri_field(event.get("test_suite_uri"), "test_suite_uri")
    bucket = artifacts_bucket()
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    cases = load_suite(iter_lines(open_object(s3_client, suite_uri, "test_suite_uri")), settings.metric, suite_uri)
    caller = ConverseCaller(bedrock_client or bedrock_runtime_client(), policy=policy or RetryPolicy(), sleep=sleep)
    report = {"run_id": event["run_id"], "test_suite_uri": suite_uri, **evaluate_cases(cases, settings, caller)}
    s3_client.put_object(
        Bucket=bucket,
        Key=f"{prefix}report.md",
        Body=render_markdown(report).encode(),
        ContentType="text/markdown; charset=utf-8",
    )
    s3_client.put_object(
        Bucket=bucket,
        Key=f"{prefix}report.json",
        ContentType="application/json",
        Body=json.dumps(report, indent=2, ensure_ascii=False).encode(),
    )
    logger.info("evaluation done", extra={key: report[key] for key in ("base_score", "custom_score", "gain", "cases")})
    return {
        "base_score": report["base_score"],
        "custom_score": report["custom_score"],
        "gain": report["gain"],
        "custom_wins": report["custom_wins"],
        "report_uri": f"s3://{bucket}/{prefix}report.json",
        "cases": report["cases"],
    }
