"""Evaluating a customized model: scoring, the reports, throttling, and bad suites or events."""

from __future__ import annotations

import json

import pytest

from tests.support.bedrock import FakeBedrockRuntime
from tests.support.lambdas import FakeLambdaContext

RUN_ID = "custom-2024-06-01"
BASE, CUSTOM, JUDGE = (
    "meta.llama3-1-8b-instruct-v1:0",
    "arn:aws:bedrock:us-west-2:123456789012:custom-model-deployment/abc",
    "judge-model",
)


class ModelRouter(FakeBedrockRuntime):
    """Answers by model ID: ``answers[model_id](prompt)``."""

    def __init__(self, answers: dict, *, throttle: int = 0) -> None:
        super().__init__(lambda prompt: "", throttle=throttle)
        self.answers = answers

    def converse(self, **request):
        self.answer = self.answers[request["modelId"]]
        return super().converse(**request)


def suite(artifacts, cases: list) -> str:
    return artifacts.put_jsonl(f"s3://{artifacts.source_bucket}/suites/suite.jsonl", cases)


def event(uri: str, metric: str, **extra) -> dict:
    return {
        "run_id": RUN_ID,
        "test_suite_uri": uri,
        "base_model_id": BASE,
        "custom_model_id": CUSTOM,
        "metric": metric,
        "min_gain": 0.1,
        **extra,
    }


CAPITALS = [
    {"prompt": "Capital of France?", "expected": "Paris"},
    {"prompt": "Capital of Spain?", "expected": "Madrid"},
    {"prompt": "Capital of Italy?", "expected": "Rome"},
    {"prompt": "Capital of Peru?", "expected": "Lima"},
]
CUSTOM_ANSWERS = {"France": "  paris ", "Spain": "MADRID", "Italy": "Rome", "Peru": "It is Lima."}
BASE_ANSWERS = {"France": "Paris", "Spain": "Barcelona", "Italy": "Milan", "Peru": "Cusco"}


def by_country(answers: dict):
    return lambda prompt: next(answer for country, answer in answers.items() if country in prompt)


def test_exact_match_scores_writes_both_reports_and_returns_the_verdict(evaluator, artifacts, monkeypatch) -> None:
    # GIVEN a suite of four capitals; the custom model gets three right (case and spacing aside), the base one
    fake = ModelRouter({BASE: by_country(BASE_ANSWERS), CUSTOM: by_country(CUSTOM_ANSWERS)})
    monkeypatch.setattr(evaluator.evaluation, "bedrock_runtime_client", lambda: fake)
    uri = suite(artifacts, CAPITALS)

    # WHEN the handler evaluates
    result = evaluator.handler(event(uri, "exact_match"), FakeLambdaContext())

    # THEN custom 0.75 against base 0.25 is a win by 0.5
    report_uri = artifacts.run_uri(RUN_ID, "evaluation/report.json")
    assert result == {
        "base_score": 0.25,
        "custom_score": 0.75,
        "gain": 0.5,
        "custom_wins": True,
        "report_uri": report_uri,
        "cases": 4,
    }
    # AND every request set maxTokens, and each prompt went to both models
    assert len(fake.calls) == 8 and all(call["inferenceConfig"]["maxTokens"] == 512 for call in fake.calls)
    assert sorted(call["modelId"] for call in fake.calls) == sorted([BASE, CUSTOM] * 4)
    # AND report.json holds every answer and score
    report = json.loads(artifacts.read_bytes(report_uri))
    assert [(row["line"], row["base"]["score"], row["custom"]["score"]) for row in report["results"]] == [
        (1, 1.0, 1.0),
        (2, 0.0, 1.0),
        (3, 0.0, 1.0),
        (4, 0.0, 0.0),
    ]
    assert report["results"][3]["custom"]["answer"] == "It is Lima."
    # AND report.md has the summary table, then one row per case
    markdown = artifacts.read_bytes(artifacts.run_uri(RUN_ID, "evaluation/report.md")).decode()
    assert "| Metric | Base | Custom | Gain | Verdict |" in markdown
    assert "| exact_match | 0.250 | 0.750 | +0.500 | custom wins (gain >= 0.1) |" in markdown
    assert "| 2 | Capital of Spain? | Madrid | Barcelona | 0.00 | MADRID | 1.00 |" in markdown


def test_field_f1_gives_partial_credit(evaluator) -> None:
    f1 = evaluator.evaluation.field_f1_score
    expected = {"name": "Ada Lovelace", "year": 1815, "address": {"city": "London", "country": "UK"}}
    assert (
        f1('{"name": "ada  lovelace", "year": 1815.0, "address": {"city": "London", "country": "UK"}}', expected) == 1.0
    )
    # two of four expected fields right, two of three predicted right: P=2/3, R=1/2 -> F1=4/7
    answer = 'Here you go:\n```json\n{"name": "Ada Lovelace", "year": 1816, "address": {"city": "London"}}\n```'
    assert f1(answer, expected) == pytest.approx(4 / 7)
    assert f1("no JSON here {not json}", expected) == 0.0
    assert f1('{"other": 1}', expected) == 0.0


def test_field_f1_through_the_handler(evaluator, artifacts, monkeypatch) -> None:
    cases = [{"prompt": "Extract: invoice 17, 40 EUR", "expected": {"invoice": "17", "total": 40, "currency": "EUR"}}]
    fake = ModelRouter(
        {BASE: lambda p: '{"invoice": "17"}', CUSTOM: lambda p: '{"invoice": "17", "total": 40, "currency": "eur"}'}
    )
    monkeypatch.setattr(evaluator.evaluation, "bedrock_runtime_client", lambda: fake)
    result = evaluator.handler(event(suite(artifacts, cases), "field_f1", min_gain=0.6), FakeLambdaContext())
    # base: P=1, R=1/3 -> 0.5; custom: all three -> 1.0; gain 0.5 < 0.6
    assert (result["base_score"], result["custom_score"], result["gain"], result["custom_wins"]) == (
        0.5,
        1.0,
        0.5,
        False,
    )
    markdown = artifacts.read_bytes(artifacts.run_uri(RUN_ID, "evaluation/report.md")).decode()
    assert "custom does not win (gain < 0.6)" in markdown


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("8", 0.8),
        ("Score: 7", 0.7),
        ("**Score:** 9/10", 0.9),
        ("I would give it 6 out of 10.", 0.6),
        ("The answer is correct. Score = 10", 1.0),
        ("score: 3.5", 0.35),
        ("0", 0.0),
        ("No idea.", None),
        ("42", None),
    ],
)
def test_judge_replies_are_parsed(evaluator, reply, score) -> None:
    assert evaluator.evaluation.parse_judge_score(reply) == score


def test_judge_metric_asks_the_judge_for_each_answer(evaluator, artifacts, monkeypatch) -> None:
    def judge(prompt: str) -> str:
        return "Score: 9" if "Answer to grade:\nParis" in prompt else "I cannot say."

    fake = ModelRouter({BASE: lambda p: "Lyon", CUSTOM: lambda p: "Paris", JUDGE: judge})
    monkeypatch.setattr(evaluator.evaluation, "bedrock_runtime_client", lambda: fake)
    uri = suite(artifacts, [{"prompt": "Capital of France?", "expected": "Paris"}])
    result = evaluator.handler(event(uri, "judge", judge_model_id=JUDGE), FakeLambdaContext())
    assert (result["base_score"], result["custom_score"], result["custom_wins"]) == (0.0, 0.9, True)
    judge_calls = [call for call in fake.calls if call["modelId"] == JUDGE]
    assert len(judge_calls) == 2 and all(call["inferenceConfig"]["maxTokens"] == 200 for call in judge_calls)
    report = json.loads(artifacts.read_bytes(result["report_uri"]))
    assert report["results"][0]["base"]["note"] == "the judge's reply holds no 0-10 score; scored 0"


def test_throttling_is_retried_with_backoff_and_recovers(evaluator, artifacts, monkeypatch) -> None:
    # GIVEN a service that throttles the first three requests
    fake = ModelRouter({BASE: lambda p: "Paris", CUSTOM: lambda p: "Paris"}, throttle=3)
    monkeypatch.setattr(evaluator.evaluation, "bedrock_runtime_client", lambda: fake)
    uri = suite(artifacts, CAPITALS[:1])

    # WHEN the handler evaluates
    result = evaluator.handler(event(uri, "exact_match"), FakeLambdaContext())

    # THEN both answers arrive after three retries, each delay within its jittered bound
    assert result["custom_score"] == 1.0 and result["base_score"] == 1.0 and len(fake.calls) == 5
    assert len(evaluator.delays) == 3 and all(0 <= delay <= 4.0 for delay in evaluator.delays)


def test_a_persistent_non_retryable_error_is_not_retried(evaluator) -> None:
    from botocore.exceptions import ClientError

    class Denied:
        calls = 0

        def converse(self, **request):
            Denied.calls += 1
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Converse")

    caller = evaluator.evaluation.ConverseCaller(Denied(), sleep=lambda s: None)
    with pytest.raises(ClientError, match="AccessDenied"):
        caller.ask(BASE, "hi", 10)
    assert Denied.calls == 1


@pytest.mark.parametrize(
    ("line", "metric", "message"),
    [
        (b'{"prompt": "q", "expected": "a"', "exact_match", "line 2: not valid UTF-8 JSON"),
        (b'{"expected": "a"}', "exact_match", "line 2: field 'prompt' must be a non-empty string"),
        (
            b'{"prompt": "q", "expected": {"a": 1}}',
            "exact_match",
            "line 2: field 'expected' must be a non-empty string for metric exact_match",
        ),
        (
            b'{"prompt": "q", "expected": "a"}',
            "field_f1",
            "line 2: field 'expected' must be a non-empty object for metric field_f1",
        ),
        (b'{"prompt": "q", "expected": 3}', "judge", "line 2: field 'expected' must be a non-empty string or object"),
        (b'["q", "a"]', "judge", "line 2: expected a JSON object"),
    ],
)
def test_a_bad_suite_line_is_named(evaluator, artifacts, monkeypatch, line, metric, message) -> None:
    first = b'{"prompt": "q0", "expected": {"a": 1}}' if metric == "field_f1" else b'{"prompt": "q0", "expected": "a0"}'
    uri = artifacts.put_bytes(f"s3://{artifacts.source_bucket}/suites/bad.jsonl", first + b"\n" + line + b"\n")
    monkeypatch.setattr(evaluator.evaluation, "bedrock_runtime_client", lambda: ModelRouter({}))
    with pytest.raises(Exception, match=message) as raised:
        evaluator.handler(event(uri, metric, judge_model_id=JUDGE), FakeLambdaContext())
    assert type(raised.value).__name__ == "EvaluationSuiteError" and uri in str(raised.value)


def test_an_empty_suite_is_refused(evaluator, artifacts) -> None:
    uri = artifacts.put_bytes(f"s3://{artifacts.source_bucket}/suites/empty.jsonl", b"\n\n")
    with pytest.raises(evaluator.evaluation.EvaluationSuiteError, match="no test cases"):
        evaluator.evaluation.evaluate_customization(event(uri, "exact_match"), bedrock_client=ModelRouter({}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metric": "bleu"}, "metric: 'bleu' is not one of exact_match, field_f1, judge"),
        ({"metric": "judge"}, "judge_model_id: None must be a non-empty string"),
        ({"min_gain": "0.1"}, "min_gain: '0.1' is not a number"),
        ({"custom_model_id": ""}, "custom_model_id: '' must be a non-empty string"),
        ({"run_id": "../x"}, "run_id"),
    ],
)
def test_a_bad_event_names_the_field(evaluator, artifacts, change, message) -> None:
    with pytest.raises(Exception, match=message.replace(".", r"\.")) as raised:
        evaluator.handler(event(f"s3://{artifacts.source_bucket}/s.jsonl", "exact_match") | change, FakeLambdaContext())
    assert type(raised.value).__name__ == "InvalidEventError"
