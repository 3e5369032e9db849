"""``modelsmith agent ...`` and ``modelsmith customization ...``: the argparse tools as command groups.

The logic stays in :mod:`modelsmith.agent_cli` and :mod:`modelsmith.customization_cli` (``python -m`` still runs
them); these commands only turn typer's options into the ``argparse.Namespace`` their functions take, with the
global ``--env`` and the invocation's AWS session.
"""

from __future__ import annotations

import argparse
import sys
from enum import Enum
from pathlib import Path

import typer

from modelsmith import customization_cli
from modelsmith.cli_support import InputError, app_state
from modelsmith_core import catalogue

agent_app = typer.Typer(help="Ask the deployed Bedrock agent, or ingest its knowledge base.", no_args_is_help=True)
customization_app = typer.Typer(
    help="Bedrock customization: prepare data, start and follow a run, compare models.", no_args_is_help=True
)


def _fraction(value: float) -> float:
    if not 0 < value < 1:
        raise typer.BadParameter(f"{value} is not between 0 and 1 (exclusive)")
    return value


def _exit_with(code: int) -> None:
    if code:
        raise typer.Exit(code)


# --- agent -----------------------------------------------------------------------------------------------


@agent_app.command()
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="e.g. 'What are the coordinates of M31?'"),
    agent_id: str = typer.Option(None, "--agent-id", help="agent ID (default: from SSM)"),
    alias_id: str = typer.Option(None, "--alias-id", help="alias ID (default: from SSM)"),
    session_id: str = typer.Option(
        None, "--session", help="session ID to continue a conversation (default: a new one)"
    ),
    no_trace: bool = typer.Option(False, "--no-trace", help="print only the answer, not the tool calls"),
    local: bool = typer.Option(
        False,
        "--local",
        help="run the agent loop here (tools over MCP, as the Gateway serves them) with a Bedrock model",
    ),
    model: str = typer.Option(None, "--model", help="with --local: the Bedrock model or inference profile"),
) -> None:
    """Ask the agent a question and stream its answer (and each tool call): the deployed AgentCore harness or
    Classic agent, or with --local the same tools and loop on this machine."""
    state = app_state(ctx)
    if not question.strip():
        raise InputError(
            "the question is empty", "ask something, e.g. modelsmith agent ask 'What are the coordinates of M31?'"
        )
    from modelsmith import agent_cli  # loads the CDK library (parameter names): only when asked

    arguments = argparse.Namespace(
        env=state.env,
        question=question,
        agent_id=agent_id,
        alias_id=alias_id,
        session=session_id,
        no_trace=no_trace,
        local=local,
        model=model or agent_cli.DEFAULT_AGENT_MODEL,
    )

    _exit_with(agent_cli.ask(arguments, state.aws(), sys.stdout))


@agent_app.command()
def ingest(
    ctx: typer.Context,
    no_wait: bool = typer.Option(False, "--no-wait", help="start the job and return"),
    poll_seconds: float = typer.Option(15.0, "--poll-seconds", min=0.0),
    timeout_minutes: float = typer.Option(60.0, "--timeout-minutes", min=0.0),
) -> None:
    """Ingest the documents under the knowledge base's S3 prefix and wait for the job."""
    state = app_state(ctx)
    arguments = argparse.Namespace(
        env=state.env, no_wait=no_wait, poll_seconds=poll_seconds, timeout_minutes=timeout_minutes
    )
    from modelsmith import agent_cli

    _exit_with(agent_cli.ingest(arguments, state.aws(), sys.stdout, sleep=state.sleep))


# --- customization ---------------------------------------------------------------------------------------


class Metric(str, Enum):
    EXACT_MATCH = "exact_match"
    FIELD_F1 = "field_f1"
    JUDGE = "judge"


@customization_app.command()
def prepare(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="chat, instruction or prompt/completion JSONL"),
    base_model: str = typer.Option(
        catalogue.DEFAULT_CUSTOMIZATION_MODEL,
        "--base-model",
        help="the model to fine-tune (customization ID): its data format and limits apply, as in the workflow",
    ),
    out: Path = typer.Option(Path("customization-data"), "--out", help="output folder"),
    upload: str = typer.Option(
        None, "--upload", help="also upload the files under this S3 prefix (s3://bucket/prefix/)"
    ),
    validation_fraction: float = typer.Option(
        0.1, "--validation-fraction", callback=_fraction, help="between 0 and 1 (exclusive)"
    ),
    seed: int = typer.Option(42, "--seed"),
) -> None:
    """Convert and validate a JSONL file for Bedrock customization (writes train/validation/metadata)."""
    state = app_state(ctx)
    if base_model not in catalogue.BEDROCK_CUSTOMIZATION_MODELS:
        known = ", ".join(sorted(catalogue.BEDROCK_CUSTOMIZATION_MODELS))
        raise typer.BadParameter(
            f"{base_model!r} is not a model Bedrock fine-tunes; one of {known}", param_hint="--base-model"
        )
    arguments = argparse.Namespace(
        file=str(file),
        base_model=base_model,
        out=str(out),
        upload=upload,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    _exit_with(customization_cli.prepare(arguments, state.aws() if upload else None, sys.stdout))


@customization_app.command()
def train(
    ctx: typer.Context,
    input_file: Path = typer.Option(..., "--input", help="JSON file with the execution input"),
    name: str = typer.Option(None, "--name", help="execution name (default: generated)"),
) -> None:
    """Start the customization workflow of --env."""
    state = app_state(ctx)
    arguments = argparse.Namespace(env=state.env, input=str(input_file), name=name)
    _exit_with(customization_cli.train(arguments, state.aws(), sys.stdout))


@customization_app.command()
def status(
    ctx: typer.Context,
    execution_arn: str = typer.Argument(..., help="execution ARN"),
    wait: bool = typer.Option(False, "--wait", help="follow until the execution ends"),
    poll_seconds: float = typer.Option(30.0, "--poll-seconds", min=0.0),
) -> None:
    """Show a customization execution's progress."""
    state = app_state(ctx)
    arguments = argparse.Namespace(execution_arn=execution_arn, wait=wait, poll_seconds=poll_seconds)
    _exit_with(customization_cli.status(arguments, state.aws(), sys.stdout, sleep=state.sleep))


@customization_app.command("test")
def test_model(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", help="model ID or ARN (custom model deployment, provisioned)"),
    prompt: str = typer.Option(..., "--prompt"),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1),
) -> None:
    """Ask a model one question."""
    state = app_state(ctx)
    arguments = argparse.Namespace(model=model, prompt=prompt, max_tokens=max_tokens)
    _exit_with(customization_cli.test_model(arguments, state.aws(), sys.stdout, sleep=state.sleep))


@customization_app.command()
def benchmark(
    ctx: typer.Context,
    suite: Path = typer.Option(..., "--suite", help='JSONL of {"prompt", "expected"}'),
    base: str = typer.Option(..., "--base", help="base model ID"),
    custom: str = typer.Option(..., "--custom", help="custom model ID or ARN"),
    metric: Metric = typer.Option(..., "--metric"),
    judge: str = typer.Option(None, "--judge", help="judge model ID (for --metric judge)"),
    min_gain: float = typer.Option(0.0, "--min-gain"),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1),
    report: Path = typer.Option(None, "--report", help="also write report.json and report.md into this folder"),
) -> None:
    """Compare the base and the custom model on a test suite (exit 1 when the custom model does not win)."""
    state = app_state(ctx)
    arguments = argparse.Namespace(
        suite=str(suite),
        base=base,
        custom=custom,
        metric=metric.value,
        judge=judge,
        min_gain=min_gain,
        max_tokens=max_tokens,
        report=str(report) if report else None,
    )
    _exit_with(customization_cli.benchmark(arguments, state.aws(), sys.stdout, sleep=state.sleep))
