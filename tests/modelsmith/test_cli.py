"""`modelsmith`: the root command, its global options, and errors as one line plus what to do.

Commands are driven with typer's CliRunner; the invocation's state (AWS session, sleep) is passed as ``obj``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelsmith import pipeline_cli
from modelsmith.cli import COMMAND_GROUPS, app
from modelsmith.cli_support import AppState, CliError, InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner(env={"COLUMNS": "200"})


def invoke(args: list[str], state: AppState | None = None):
    return runner.invoke(app, args, obj=state or AppState(sleep=lambda seconds: None))


def test_help_lists_every_group_once() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    names = [name for name, _ in COMMAND_GROUPS]
    assert len(names) == len(set(names))
    assert {"pipeline", "validate", "rag", "agent", "customization", "cost", "bundle"} <= set(names)
    for name in [*names, "cleanup"]:
        assert f" {name} " in result.stdout


@pytest.mark.parametrize("group", ["pipeline", "validate", "rag", "agent", "customization", "cost", "bundle"])
def test_each_group_shows_its_commands_without_arguments(group: str) -> None:
    result = invoke([group])
    assert result.exit_code in (0, 2)  # typer prints the help of a group called without a command
    assert "Commands" in result.output


def test_a_bad_environment_name_is_a_usage_error() -> None:
    result = invoke(["--env", "Prod!", "pipeline", "examples"])
    assert result.exit_code == 2
    assert "is not an environment name" in result.output


def test_env_comes_from_the_environment_variable() -> None:
    state = AppState()
    result = runner.invoke(
        app, ["pipeline", "examples", "-w", "lora-training"], obj=state, env={"MODELSMITH_ENV": "prod"}
    )
    assert result.exit_code == 0 and state.env == "prod"


def test_an_unknown_command_is_exit_2() -> None:
    result = invoke(["pipeline", "launch"])
    assert result.exit_code == 2
    assert "No such command 'launch'" in result.output


def test_a_known_error_is_one_line_plus_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self):
        raise InputError("examples folder is unreadable", "reinstall the checkout")

    monkeypatch.setattr(pipeline_cli.Workflow, "examples", broken)
    result = invoke(["pipeline", "examples"])
    assert result.exit_code == 2
    assert result.stderr == "error: examples folder is unreadable\nhint: reinstall the checkout\n"
    assert "Traceback" not in result.output


def test_an_unexpected_error_is_one_line_and_points_to_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline_cli.Workflow, "examples", broken)
    result = invoke(["pipeline", "examples"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: unexpected RuntimeError: disk on fire",
        "hint: run again with --debug for the traceback",
    ]


def test_debug_lets_the_traceback_through(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self):
        raise CliError("failed on purpose")

    monkeypatch.setattr(pipeline_cli.Workflow, "examples", broken)
    result = invoke(["--debug", "pipeline", "examples"])
    assert isinstance(result.exception, CliError)
    assert "error:" not in result.stderr


def test_missing_aws_credentials_are_one_line_with_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import boto3

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    arn = "arn:aws:states:us-west-2:123456789012:execution:Pipeline:run-1"
    result = invoke(["pipeline", "status", arn], AppState(session=boto3.Session(region_name="us-west-2")))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: no AWS credentials found",
        "hint: set AWS_PROFILE (or run `aws sso login`) or pass --profile",
    ]


def test_the_console_script_runs_from_any_directory(tmp_path: Path) -> None:
    """`make setup` installs `modelsmith` into the virtual environment (editable install of the repository)."""
    script = Path(sys.executable).parent / "modelsmith"
    assert script.is_file(), "run `make setup` (the Makefile installs the modelsmith command)"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [str(script), "pipeline", "examples", "--workflow", "llm-customization"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "# llm-customization: statemachines/examples/llm_customization.json" in result.stdout
