"""`modelsmith pipeline`: examples, start (local schema check first) and status (live list of states).

Step Functions and SSM are moto's; state machines made of Pass/Fail states really execute
(``execute_state_machine``), so start and status go through real executions and histories.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from modelsmith.cli import app
from modelsmith.cli_support import AppState
from modelsmith.pipeline_cli import Workflow, default_execution_name, state_rows

REGION = "us-west-2"
REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMETER = "/modelsmith/dev/workflows/retrieval-pipeline-state-machine-arn"
VALID_INPUT = {
    "input_type": "s3",
    "s3_corpus_path": "s3://my-data-bucket/corpora/handbook.jsonl",
    "model_name": "handbook-minilm",
    "model_type": "dense",
    "base_model_id": "sentence-transformers/all-MiniLM-L6-v2",
    "embedding_dimension": 384,
}
SUCCEEDING = {
    "StartAt": "Validate input",
    "States": {
        "Validate input": {"Type": "Pass", "Next": "Extract corpus"},
        "Extract corpus": {"Type": "Pass", "Next": "Build training pairs"},
        "Build training pairs": {"Type": "Pass", "Result": {"pairs": 12}, "End": True},
    },
}
FAILING = {
    "StartAt": "Validate input",
    "States": {
        "Validate input": {"Type": "Pass", "Next": "Run failed"},
        "Run failed": {"Type": "Fail", "Error": "EmptyCorpusError", "Cause": "all 3 lines rejected"},
    },
}

runner = CliRunner(env={"COLUMNS": "200"})


class NoAws:
    """A session that fails the test if a command calls AWS."""

    def client(self, name: str, **kwargs):
        raise AssertionError(f"no AWS call expected, got a {name} client")


def invoke(args: list[str], state: AppState | None = None):
    return runner.invoke(app, args, obj=state or AppState(session=NoAws(), sleep=lambda seconds: None))


def write_input(tmp_path: Path, document: object, name: str = "run.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """moto with executing state machines; yields a session in the test region."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.Session(region_name=REGION)


def create_workflow(session: boto3.Session, definition: dict, *, publish: bool = True) -> str:
    arn = session.client("stepfunctions").create_state_machine(
        name="Modelsmith-dev-RetrievalPipeline",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/state-machine",
    )["stateMachineArn"]
    if publish:
        session.client("ssm").put_parameter(Name=PARAMETER, Value=arn, Type="String")
    return arn


def live(session: boto3.Session) -> AppState:
    return AppState(session=session, sleep=lambda seconds: time.sleep(0.05))


# --- examples --------------------------------------------------------------------------------------------


def test_examples_prints_every_example_as_json() -> None:
    result = invoke(["pipeline", "examples"])
    assert result.exit_code == 0
    sections = result.stdout.split("# ")[1:]
    names = [section.splitlines()[0] for section in sections]
    assert "retrieval-pipeline: statemachines/examples/retrieval_pipeline.json" in names
    assert "lora-training: statemachines/examples/lora_training.json" in names
    for section in sections:
        json.loads(section.split("\n", 1)[1])


@pytest.mark.parametrize(
    "example", sorted((REPO_ROOT / "statemachines" / "examples").glob("*.json")), ids=lambda path: path.name
)
def test_every_example_passes_its_workflows_check(example: Path) -> None:
    workflow = example.name.split(".")[0].replace("_", "-")
    result = invoke(["pipeline", "start", "--workflow", workflow, "--input", str(example), "--validate-only"])
    assert result.exit_code == 0, result.output
    assert f"valid {workflow} input" in result.stdout


# --- start -----------------------------------------------------------------------------------------------


def test_start_names_every_bad_field_and_starts_nothing(tmp_path: Path) -> None:
    bad = {**VALID_INPUT, "model_type": "sparse", "embedding_dimension": 768, "colour": "blue"}
    del bad["model_name"]
    path = write_input(tmp_path, bad)
    result = invoke(["pipeline", "start", "--input", str(path)])  # NoAws: any AWS call fails the test
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert f"{path}: model_name: required field is missing" in lines
    assert f"{path}: colour: unknown field; allowed: " in "\n".join(lines)
    assert any(line.startswith(f"{path}: model_type: 'sparse' is not one of 'dense'") for line in lines)
    assert any(line.startswith(f"{path}: embedding_dimension: 768") for line in lines)
    assert result.stderr.splitlines()[0].endswith(f"problems in {path}; nothing started")
    assert "statemachines/schemas/retrieval_pipeline.schema.json" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{oops", "not valid JSON"),
        ("[1, 2]", "the execution input must be a JSON object, not list"),
    ],
)
def test_start_refuses_a_missing_or_malformed_file(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    result = invoke(["pipeline", "start", "--input", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: {message}")


def test_start_refuses_an_execution_name_the_workflow_cannot_use(tmp_path: Path) -> None:
    result = invoke(["pipeline", "start", "--input", str(write_input(tmp_path, VALID_INPUT)), "--name", "my run/1"])
    assert result.exit_code == 2
    assert "--name 'my run/1' does not match" in result.stderr


def test_start_without_a_deployed_workflow_says_what_to_deploy(tmp_path: Path, aws: boto3.Session) -> None:
    result = invoke(["pipeline", "start", "--input", str(write_input(tmp_path, VALID_INPUT))], live(aws))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: SSM parameter {PARAMETER} not found: the retrieval-pipeline workflow of 'dev' is not deployed",
        "hint: deploy it (`npx cdk deploy Modelsmith-dev-RetrievalPipeline -c env=dev`), pick another --env, or pass --state-machine-arn",
    ]


def test_start_then_status_follows_the_execution_to_its_end(tmp_path: Path, aws: boto3.Session) -> None:
    arn = create_workflow(aws, SUCCEEDING)
    path = write_input(tmp_path, VALID_INPUT)
    started = invoke(["pipeline", "start", "--input", str(path), "--name", "handbook-1"], live(aws))
    assert started.exit_code == 0, started.output
    execution_arn = arn.replace(":stateMachine:", ":execution:") + ":handbook-1"
    assert f"started {execution_arn}" in started.stdout
    assert "modelsmith --env dev pipeline status handbook-1 --workflow retrieval-pipeline --wait" in started.stdout
    execution = aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
    assert json.loads(execution["input"]) == VALID_INPUT

    status = invoke(["pipeline", "status", "handbook-1", "--wait", "--poll-seconds", "0"], live(aws))
    assert status.exit_code == 0, status.output
    lines = status.stdout.splitlines()
    assert "SUCCEEDED" in lines[0] and lines[0].startswith("handbook-1")
    rows = {line.split("│")[0].strip(): line for line in lines if "│" in line}
    for name in ("Validate input", "Extract corpus", "Build training pairs"):
        assert "✓ succeeded" in rows[name]
    assert 'output: {"pairs": 12}' in status.stdout


def test_start_with_wait_shows_a_failed_run_and_exits_1(tmp_path: Path, aws: boto3.Session) -> None:
    create_workflow(aws, FAILING)
    result = invoke(
        [
            "pipeline",
            "start",
            "--input",
            str(write_input(tmp_path, VALID_INPUT)),
            "--name",
            "bad-run",
            "--wait",
            "--poll-seconds",
            "0",
        ],
        live(aws),
    )
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[2].startswith("bad-run  FAILED")
    assert "✓ succeeded" in next(line for line in lines if line.startswith("Validate input"))
    assert "✗ failed" in next(line for line in lines if line.startswith("Run failed"))
    assert "error: EmptyCorpusError: all 3 lines rejected" in result.stdout


def test_start_uses_an_explicit_state_machine_arn_and_a_generated_name(tmp_path: Path, aws: boto3.Session) -> None:
    arn = create_workflow(aws, SUCCEEDING, publish=False)
    result = invoke(
        ["pipeline", "start", "--input", str(write_input(tmp_path, VALID_INPUT)), "--state-machine-arn", arn], live(aws)
    )
    assert result.exit_code == 0, result.output
    executions = aws.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
    assert len(executions) == 1 and executions[0]["name"].startswith("handbook-minilm-")


def test_status_of_an_unknown_execution_is_one_line(aws: boto3.Session) -> None:
    arn = create_workflow(aws, SUCCEEDING)
    missing = arn.replace(":stateMachine:", ":execution:") + ":nope"
    result = invoke(["pipeline", "status", missing], live(aws))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: DescribeExecution failed: ExecutionDoesNotExist")
    assert "hint: check the name or ARN" in result.stderr


def test_status_needs_an_execution() -> None:
    result = invoke(["pipeline", "status"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


# --- the state list --------------------------------------------------------------------------------------


def _event(kind: str, seconds: int, **details: object) -> dict:
    key = {"TaskStateEntered": "stateEnteredEventDetails", "TaskStateExited": "stateExitedEventDetails"}.get(
        kind, "details"
    )
    if kind.endswith("Failed"):
        key = kind[0].lower() + kind[1:] + "EventDetails"
    return {
        "type": kind,
        "timestamp": datetime(2026, 11, 23, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds),
        key: details,
    }


def test_state_rows_show_retries_caught_errors_and_running_states() -> None:
    events = [
        _event("TaskStateEntered", 0, name="Extract corpus"),
        _event("LambdaFunctionScheduled", 1),
        _event("LambdaFunctionFailed", 2, error="Lambda.TooManyRequestsException", cause="Rate exceeded"),
        _event("LambdaFunctionScheduled", 5),
        _event("TaskStateExited", 9, name="Extract corpus"),
        _event("TaskStateEntered", 10, name="Generate queries"),
        _event("TaskFailed", 12, error="States.TaskFailed", cause="Bedrock said no"),
        _event("TaskStateExited", 12, name="Generate queries"),
        _event("TaskStateEntered", 13, name="Notify failure"),
    ]
    rows = {row.name: row for row in state_rows(events)}
    assert rows["Extract corpus"].status("RUNNING") == "succeeded" and rows["Extract corpus"].retries == 1
    assert rows["Generate queries"].status("RUNNING") == "caught"
    assert rows["Generate queries"].error == "States.TaskFailed: Bedrock said no"
    assert rows["Notify failure"].status("RUNNING") == "running"
    assert rows["Notify failure"].status("ABORTED") == "aborted"


def test_default_execution_names_are_valid_run_ids() -> None:
    now = datetime(2026, 11, 23, 8, 30, 5, tzinfo=UTC)
    assert (
        default_execution_name(Workflow.RETRIEVAL_PIPELINE, {"model_name": "handbook-bge"}, now)
        == "handbook-bge-20261123-083005"
    )
    assert default_execution_name(Workflow.LORA_TRAINING, {}, now) == "lora-training-20261123-083005"
    assert (
        default_execution_name(Workflow.LLM_CUSTOMIZATION, {"custom_model_name": "astro assistant!"}, now)
        == "astro-assistant-20261123-083005"
    )
