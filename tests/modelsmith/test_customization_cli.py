"""`python -m modelsmith.customization_cli`: prepare, train, status, test and benchmark, driven with argv lists.

S3, SSM and Step Functions are moto's; Bedrock Runtime (which moto lacks) is the fake of ``tests.support.bedrock``.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from modelsmith import customization_cli
from tests.support.bedrock import FakeBedrockRuntime
from tests.support.pipeline_artifacts import REGION, artifacts  # noqa: F401

STATE_MACHINE_PARAMETER = "/modelsmith/dev/workflows/llm-customization-state-machine-arn"


class FakeSession:
    def __init__(self, **clients) -> None:
        self.clients = clients

    def client(self, name: str):
        return self.clients[name]


def cli(argv: list[str], **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = customization_cli.main(argv, out=out, err=err, sleep=lambda seconds: None, **kwargs)
    return code, out.getvalue(), err.getvalue()


def write_chats(path: Path, count: int, extra: list[bytes] = ()) -> Path:
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": f"a{n}"}]}
        ).encode()
        for n in range(count)
    ]
    path.write_bytes(b"\n".join([*lines, *extra]) + b"\n")
    return path


# --- prepare ---------------------------------------------------------------------------------------------


def test_prepare_writes_the_files_and_prints_counts(tmp_path) -> None:
    source = write_chats(tmp_path / "chats.jsonl", 120)
    code, out, err = cli(
        [
            "prepare",
            str(source),
            "--base-model",
            "meta.llama3-1-8b-instruct-v1:0:128k",
            "--out",
            str(tmp_path / "out"),
            "--validation-fraction",
            "0.25",
        ]
    )
    assert (code, err) == (0, "")
    # Llama 3.1 takes prompt/completion records (model-customization-prepare.html)
    assert "120 chat records -> prompt_completion: 90 train, 30 validation" in out
    assert "tokens per record (chars/3.5 (conservative; no tokenizer shipped for this model)): min " in out
    train = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert len(train) == 90 and train[0]["prompt"].startswith("<|begin_of_text|>")
    assert json.loads((tmp_path / "out" / "metadata.json").read_text())["validation_records"] == 30


def test_prepare_prints_every_problem_and_writes_nothing(tmp_path) -> None:
    source = write_chats(tmp_path / "chats.jsonl", 100, [b"{oops", b'{"messages": [{"role": "bot", "content": "x"}]}'])
    code, out, err = cli(["prepare", str(source), "--out", str(tmp_path / "out")])
    assert code == 2
    assert out.splitlines() == [
        f"{source}:101: (line): not valid JSON: Expecting property name enclosed in double quotes at column 2",
        f"{source}:102: messages[0].role: unknown role 'bot'; expected system, user or assistant",
    ]
    assert err == f"error: 2 problems in {source} (102 records); nothing written\n"
    assert not (tmp_path / "out").exists()


def test_prepare_uploads_to_s3(tmp_path, artifacts) -> None:  # noqa: F811
    source = write_chats(tmp_path / "chats.jsonl", 100)
    prefix = f"s3://{artifacts.source_bucket}/inputs/run-7"
    code, out, _ = cli(
        ["prepare", str(source), "--out", str(tmp_path / "out"), "--upload", prefix],
        session=boto3.Session(region_name=REGION),
    )
    assert code == 0 and f"uploaded {prefix}/train.jsonl" in out
    assert (
        len(artifacts.read_jsonl(f"{prefix}/train.jsonl")) == 90
        and len(artifacts.read_jsonl(f"{prefix}/validation.jsonl")) == 10
    )


def test_prepare_missing_file_is_one_line(tmp_path) -> None:
    code, out, err = cli(["prepare", str(tmp_path / "nope.jsonl")])
    assert (code, out, err) == (2, "", f"error: {tmp_path / 'nope.jsonl'}: no such file\n")


@pytest.mark.parametrize(
    "argv",
    [
        ["prepare"],  # the file missing
        [
            "prepare",
            "x.jsonl",
            "--base-model",
            "meta.llama3-1-8b-instruct-v1:0",
        ],  # the inference ID, not the customization one
        ["prepare", "x.jsonl", "--validation-fraction", "1.5"],
        ["benchmark", "--suite", "s.jsonl", "--base", "b", "--custom", "c", "--metric", "bleu"],
        ["status"],
        ["launch"],
    ],
)
def test_bad_arguments_exit_with_status_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        customization_cli.main(argv)
    assert raised.value.code == 2 and "usage:" in capsys.readouterr().err


# --- train and status ------------------------------------------------------------------------------------


@pytest.fixture
def workflow(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        definition = {"StartAt": "Prepare", "States": {"Prepare": {"Type": "Pass", "End": True}}}
        arn = session.client("stepfunctions").create_state_machine(
            name="llm-customization",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        session.client("ssm").put_parameter(Name=STATE_MACHINE_PARAMETER, Value=arn, Type="String")
        yield session


def test_train_starts_the_state_machine_named_in_ssm(tmp_path, workflow) -> None:
    run_input = tmp_path / "input.json"
    run_input.write_text(json.dumps({"train_s3_uri": "s3://b/chats.jsonl", "target_format": "conversation"}))
    code, out, err = cli(["train", "--env", "dev", "--input", str(run_input), "--name", "run-42"], session=workflow)
    arn = "arn:aws:states:us-west-2:123456789012:execution:llm-customization:run-42"
    assert (code, err) == (0, "") and out.splitlines()[0] == f"started {arn}"
    described = workflow.client("stepfunctions").describe_execution(executionArn=arn)
    assert json.loads(described["input"]) == {"train_s3_uri": "s3://b/chats.jsonl", "target_format": "conversation"}


def test_train_without_the_deployed_workflow_says_so(tmp_path, workflow) -> None:
    run_input = tmp_path / "input.json"
    run_input.write_text("{}")
    code, out, err = cli(["train", "--env", "prod", "--input", str(run_input)], session=workflow)
    assert (code, out) == (2, "")
    assert err == (
        "error: SSM parameter /modelsmith/prod/workflows/llm-customization-state-machine-arn not found; "
        "is the workflow of 'prod' deployed?\n"
    )


def test_train_refuses_an_input_that_is_not_an_object(tmp_path, workflow) -> None:
    run_input = tmp_path / "input.json"
    run_input.write_text("[1]")
    assert cli(["train", "--env", "dev", "--input", str(run_input)], session=workflow)[2] == (
        f"error: {run_input}: the execution input must be a JSON object\n"
    )


def test_status_prints_the_state_transitions(workflow) -> None:
    client = workflow.client("stepfunctions")
    arn = client.start_execution(stateMachineArn=client.list_state_machines()["stateMachines"][0]["stateMachineArn"])[
        "executionArn"
    ]
    code, out, _ = cli(["status", arn], session=workflow)
    assert code == 0
    assert [line.split(maxsplit=1)[1] for line in out.splitlines()] == [
        "ExecutionStarted",
        "PassStateEntered  A State",
        "ExecutionSucceeded",
        "RUNNING",
    ]  # moto's canned history


class ScriptedStepFunctions:
    """describe_execution answers RUNNING, RUNNING, FAILED; the history grows by one event per poll."""

    def __init__(self) -> None:
        stamp = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
        self.events = [
            {"type": "ExecutionStarted", "timestamp": stamp, "executionStartedEventDetails": {}},
            {"type": "TaskStateEntered", "timestamp": stamp, "stateEnteredEventDetails": {"name": "PrepareData"}},
            {
                "type": "TaskFailed",
                "timestamp": stamp,
                "taskFailedEventDetails": {"error": "CustomizationDataError", "cause": "3 problems"},
            },
        ]
        self.polls = 0

    def describe_execution(self, executionArn):
        self.polls += 1
        if self.polls < 3:
            return {"status": "RUNNING"}
        return {"status": "FAILED", "error": "CustomizationDataError", "cause": "3 problems"}

    def get_paginator(self, name):
        events = self.events[: self.polls]
        return type("Paginator", (), {"paginate": lambda self, executionArn: [{"events": events}]})()


def test_status_wait_follows_until_the_end(workflow) -> None:
    code, out, _ = cli(
        ["status", "arn:x", "--wait", "--poll-seconds", "0"], session=FakeSession(stepfunctions=ScriptedStepFunctions())
    )
    assert code == 1
    assert out.splitlines() == [
        "12:00:00  ExecutionStarted",
        "12:00:00  TaskStateEntered  PrepareData",
        "12:00:00  TaskFailed  CustomizationDataError: 3 problems",
        "status: FAILED",
        "error: CustomizationDataError: 3 problems",
    ]


# --- test and benchmark ----------------------------------------------------------------------------------


def test_test_prints_the_answer_and_sets_max_tokens() -> None:
    runtime = FakeBedrockRuntime(lambda prompt: f"echo: {prompt}")
    code, out, _ = cli(
        ["test", "--model", "custom-arn", "--prompt", "Hello", "--max-tokens", "64"],
        session=FakeSession(**{"bedrock-runtime": runtime}),
    )
    assert (code, out) == (0, "echo: Hello\n")
    assert runtime.calls[0]["modelId"] == "custom-arn" and runtime.calls[0]["inferenceConfig"]["maxTokens"] == 64


def test_test_recovers_from_throttling() -> None:
    runtime = FakeBedrockRuntime(lambda prompt: "ok", throttle=2)
    assert cli(["test", "--model", "m", "--prompt", "Hi"], session=FakeSession(**{"bedrock-runtime": runtime}))[:2] == (
        0,
        "ok\n",
    )
    assert len(runtime.calls) == 3


class TwoModels(FakeBedrockRuntime):
    def converse(self, **request):
        self.answer = (lambda p: "Paris") if request["modelId"] == "custom" else (lambda p: "Lyon")
        return super().converse(**request)


def test_benchmark_prints_the_table_and_writes_the_report(tmp_path) -> None:
    suite = tmp_path / "suite.jsonl"
    suite.write_text('{"prompt": "Capital of France?", "expected": "paris"}\n')
    code, out, err = cli(
        [
            "benchmark",
            "--suite",
            str(suite),
            "--base",
            "base",
            "--custom",
            "custom",
            "--metric",
            "exact_match",
            "--report",
            str(tmp_path / "report"),
        ],
        session=FakeSession(**{"bedrock-runtime": TwoModels(str)}),
    )
    assert (code, err) == (0, "")
    assert "| exact_match | 0.000 | 1.000 | +1.000 | custom wins (gain >= 0) |" in out
    assert json.loads((tmp_path / "report" / "report.json").read_text())["custom_score"] == 1.0


def test_benchmark_judge_needs_a_judge_and_a_bad_suite_is_one_line(tmp_path) -> None:
    suite = tmp_path / "suite.jsonl"
    suite.write_text('{"prompt": "q"}\n')
    session = FakeSession(**{"bedrock-runtime": TwoModels(str)})
    base = ["benchmark", "--suite", str(suite), "--base", "b", "--custom", "c"]
    assert cli([*base, "--metric", "judge"], session=session)[2] == "error: --metric judge needs --judge MODEL_ID\n"
    assert cli([*base, "--metric", "exact_match"], session=session)[2] == (
        f"error: EvaluationSuiteError: {suite} line 1: field 'expected' must be a non-empty string for metric exact_match\n"
    )
    with pytest.raises(Exception, match="field 'expected'"):
        cli([*base, "--metric", "exact_match", "--debug"], session=session)
