"""`modelsmith agent ...` and `modelsmith customization ...`: the argparse tools reached as command groups.

Their logic is tested in test_agent_cli.py and test_customization_cli.py; here: the options reach it, the global
--env applies, and their errors come out as one line with the right exit status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber
from moto import mock_aws
from typer.testing import CliRunner

from modelsmith.cli import app
from modelsmith.cli_support import AppState

REGION = "us-west-2"
runner = CliRunner(env={"COLUMNS": "200"})


class FakeSession:
    def __init__(self, **clients: Any) -> None:
        self.clients = clients

    def client(self, name: str, **kwargs: Any) -> Any:
        return self.clients[name]


class FakeAgentRuntime:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events, self.calls = events, []

    def invoke_agent(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"completion": iter(self.events), "contentType": "application/json", "sessionId": kwargs["sessionId"]}


def invoke(args: list[str], session: Any = None):
    return runner.invoke(app, args, obj=AppState(session=session, sleep=lambda seconds: None))


def test_agent_ask_streams_the_answer() -> None:
    runtime = FakeAgentRuntime([{"chunk": {"bytes": b"M31 lies at RA 10.6847 deg."}}])
    result = invoke(
        [
            "agent",
            "ask",
            "--agent-id",
            "AGENT",
            "--alias-id",
            "ALIAS",
            "--session",
            "s-1",
            "--no-trace",
            "Where is M31?",
        ],
        FakeSession(**{"bedrock-agent-runtime": runtime}),
    )
    assert result.exit_code == 0, result.output
    assert "M31 lies at RA 10.6847 deg." in result.stdout
    assert (runtime.calls[0]["agentId"], runtime.calls[0]["sessionId"], runtime.calls[0]["enableTrace"]) == (
        "AGENT",
        "s-1",
        False,
    )


def test_agent_ask_reads_the_ids_of_the_global_environment() -> None:
    ssm = boto3.client("ssm", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(ssm)
    stubber.add_client_error(
        "get_parameter", "ParameterNotFound", expected_params={"Name": "/modelsmith/prod/agent/runtime"}
    )
    stubber.activate()
    result = invoke(["--env", "prod", "agent", "ask", "Where is M31?"], FakeSession(ssm=ssm))
    assert result.exit_code == 1
    assert (
        result.stderr
        == "error: SSM parameter /modelsmith/prod/agent/runtime not found; is the Agent stack of 'prod' deployed?\n"
    )


def test_agent_failures_and_empty_questions_are_one_line() -> None:
    runtime = FakeAgentRuntime([{"throttlingException": {"message": "Rate exceeded"}}])
    result = invoke(
        ["agent", "ask", "--agent-id", "A", "--alias-id", "B", "M31?"],
        FakeSession(**{"bedrock-agent-runtime": runtime}),
    )
    assert result.exit_code == 1
    assert result.stderr == "error: the agent failed (throttlingException): Rate exceeded\n"
    result = invoke(["agent", "ask", "  "])
    assert result.exit_code == 2 and result.stderr.startswith("error: the question is empty\n")


def _chats(path: Path, count: int, extra: list[str] = ()) -> Path:
    lines = [
        json.dumps({"messages": [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": f"a{n}"}]})
        for n in range(count)
    ]
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


def test_customization_prepare_writes_the_files(tmp_path: Path) -> None:
    source = _chats(tmp_path / "chats.jsonl", 120)
    result = invoke(
        [
            "customization",
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
    assert result.exit_code == 0, result.output
    assert "120 chat records -> prompt_completion: 90 train, 30 validation" in result.stdout
    assert (tmp_path / "out" / "train.jsonl").is_file()


def test_customization_prepare_problems_exit_2(tmp_path: Path) -> None:
    source = _chats(tmp_path / "chats.jsonl", 2, ["{oops"])
    result = invoke(["customization", "prepare", str(source), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stdout.startswith(f"{source}:3: (line): not valid JSON")
    # the bad line, and the file's 3 records against the 100 Bedrock needs (training and validation together)
    assert result.stderr == f"error: 2 problems in {source} (3 records); nothing written\n"
    assert not (tmp_path / "out").exists()


def test_customization_bad_arguments_exit_2(tmp_path: Path) -> None:
    source = _chats(tmp_path / "chats.jsonl", 2)
    result = invoke(["customization", "prepare", str(source), "--validation-fraction", "1.5"])
    assert result.exit_code == 2 and "is not between 0 and 1" in result.output
    result = invoke(
        ["customization", "benchmark", "--suite", str(source), "--base", "a", "--custom", "b", "--metric", "judge"]
    )
    assert result.exit_code == 2 and result.stderr == "error: --metric judge needs --judge MODEL_ID\n"


def test_customization_train_starts_the_workflow_of_the_global_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    run_input = tmp_path / "run.json"
    run_input.write_text(json.dumps({"custom_model_name": "astro"}))
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        arn = session.client("stepfunctions").create_state_machine(
            name="custom",
            definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/sm",
        )["stateMachineArn"]
        session.client("ssm").put_parameter(
            Name="/modelsmith/prod/workflows/llm-customization-state-machine-arn", Value=arn, Type="String"
        )
        result = invoke(
            ["--env", "prod", "customization", "train", "--input", str(run_input), "--name", "astro-1"], session
        )
        assert result.exit_code == 0, result.output
        assert f"started {arn.replace(':stateMachine:', ':execution:')}:astro-1" in result.stdout
