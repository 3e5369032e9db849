"""``modelsmith pipeline``: start a workflow with a checked input, follow an execution, print example inputs.

    modelsmith pipeline examples                                   # example inputs of the retrieval pipeline
    modelsmith pipeline start --input run.json --name handbook-2026-11-23 [--wait]
    modelsmith pipeline start --input run.json --validate-only     # only the local check, no AWS call
    modelsmith pipeline status handbook-2026-11-23 --wait          # live list of the execution's states
    modelsmith --env prod pipeline start --workflow lora-training --input lora.json

``--workflow`` picks the state machine (``retrieval-pipeline`` by default, ``llm-customization``,
``lora-training``); its ARN is read from the environment's SSM parameter
``/modelsmith/<env>/workflows/<workflow>-state-machine-arn`` unless ``--state-machine-arn`` is given. The input
is checked first with the workflow's own JSON Schema (``statemachines/schemas``) by the module its first state
runs (``lambda_src/validate_input/input_validation.py``), so an input that fails here would fail there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from modelsmith.cli_support import REPO_ROOT, AppState, CliError, InputError, app_state

EXAMPLES_DIR = REPO_ROOT / "statemachines" / "examples"
SCHEMAS_DIR = REPO_ROOT / "statemachines" / "schemas"
RUNNING_STATUSES = ("RUNNING", "PENDING_REDRIVE")
DEFAULT_POLL_SECONDS = 10.0
SHOWN_OUTPUT_CHARACTERS = 2000

app = typer.Typer(
    help="Start and follow the Step Functions workflows (the retrieval pipeline by default).", no_args_is_help=True
)


class Workflow(str, Enum):
    """A deployed workflow: its schema, example inputs and SSM parameter follow from the name."""

    RETRIEVAL_PIPELINE = "retrieval-pipeline"
    LLM_CUSTOMIZATION = "llm-customization"
    LORA_TRAINING = "lora-training"

    @property
    def schema_name(self) -> str:
        return self.value.replace("-", "_")

    @property
    def arn_parameter_key(self) -> str:
        return f"{self.value}-state-machine-arn"

    @property
    def stack_name_suffix(self) -> str:
        return {
            "retrieval-pipeline": "RetrievalPipeline",
            "llm-customization": "LlmCustomization",
            "lora-training": "TrainingInstance",
        }[self.value]

    def examples(self) -> list[Path]:
        return sorted(EXAMPLES_DIR.glob(f"{self.schema_name}.json")) + sorted(
            EXAMPLES_DIR.glob(f"{self.schema_name}.*.json")
        )


WORKFLOW_OPTION = typer.Option(Workflow.RETRIEVAL_PIPELINE, "--workflow", "-w", help="which workflow")
ARN_OPTION = typer.Option(
    None, "--state-machine-arn", help="state machine ARN (default: from the environment's SSM parameter)"
)


# --- input -----------------------------------------------------------------------------------------------


def read_execution_input(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a missing file or bad JSON is an :class:`InputError` naming the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such file", "give the execution input as a JSON file, e.g. from `modelsmith pipeline examples`"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(
            f"{path}: not valid JSON ({error})", "fix the file; `modelsmith pipeline examples` prints valid inputs"
        ) from None
    if not isinstance(document, dict):
        raise InputError(f"{path}: the execution input must be a JSON object, not {type(document).__name__}")
    return document


def input_problems(document: dict[str, Any], workflow: Workflow) -> list[str]:
    """Every problem of ``document`` against the workflow's schema, one line per field (empty when valid)."""
    from lambda_src.validate_input import input_validation as validation

    return validation.describe_problems(document, validation.load_schema(workflow.schema_name))


def check_execution_name(name: str) -> str:
    """An execution name is the run ID and the S3 prefix: the pattern the workflow's functions enforce."""
    from lambda_src.shared.run_storage import RUN_ID_PATTERN as pattern

    if not pattern.match(name):
        raise InputError(
            f"--name {name!r} does not match {pattern.pattern}",
            "use letters, digits, hyphens and underscores (at most 80), starting with a letter or digit",
        )
    return name


def default_execution_name(workflow: Workflow, document: dict[str, Any], now: datetime) -> str:
    """``<model or workflow>-<UTC time>``: readable, unique per second, valid as a run ID."""
    label = document.get("model_name") or document.get("custom_model_name") or workflow.value
    label = re.sub(r"[^A-Za-z0-9-]+", "-", str(label)).strip("-")[:60] or workflow.value
    return f"{label}-{now.strftime('%Y%m%d-%H%M%S')}"


# --- AWS -------------------------------------------------------------------------------------------------


def state_machine_arn(state: AppState, workflow: Workflow) -> str:
    """The workflow's ARN from ``/modelsmith/<env>/workflows/<workflow>-state-machine-arn``."""
    from constructs.parameter_tree import parameter_name  # loads the CDK library: only when needed

    name = parameter_name(state.env, "workflows", workflow.arn_parameter_key)
    ssm = state.client("ssm")
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        stack = f"Modelsmith-{state.env}-{workflow.stack_name_suffix}"
        raise CliError(
            f"SSM parameter {name} not found: the {workflow.value} workflow of '{state.env}' is not deployed",
            f"deploy it (`npx cdk deploy {stack} -c env={state.env}`), pick another --env, or pass --state-machine-arn",
        ) from None


def execution_arn(state_machine: str, execution_name: str) -> str:
    """``arn:...:execution:<state machine>:<name>`` of a state machine ARN ``arn:...:stateMachine:<name>``."""
    prefix, separator, machine = state_machine.partition(":stateMachine:")
    if not separator:
        raise InputError(f"{state_machine!r} is not a state machine ARN")
    return f"{prefix}:execution:{machine}:{execution_name}"


def resolve_execution(state: AppState, execution: str, workflow: Workflow, arn: str | None) -> str:
    if execution.startswith("arn:"):
        return execution
    check_execution_name(execution)
    return execution_arn(arn or state_machine_arn(state, workflow), execution)


# --- the execution's states ------------------------------------------------------------------------------


@dataclass
class StateRow:
    """One state of the workflow as the history shows it (a state run several times, e.g. in a Map, is one row)."""

    name: str
    kind: str
    entered: datetime
    exited: datetime | None = None
    runs: int = 0
    finished: int = 0
    retries: int = 0
    error: str = ""

    @property
    def open(self) -> bool:
        return self.finished < self.runs

    def status(self, execution_status: str) -> str:
        if self.open:
            if execution_status in RUNNING_STATUSES:
                return "running"
            return {"ABORTED": "aborted", "TIMED_OUT": "timed out"}.get(execution_status, "failed")
        if self.kind == "Fail":
            return "failed"
        return "caught" if self.error else "succeeded"


@dataclass
class ExecutionView:
    """What ``status`` shows: the execution's description and its states in the order they were entered."""

    description: dict[str, Any]
    rows: list[StateRow] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.description["status"]

    @property
    def running(self) -> bool:
        return self.status in RUNNING_STATUSES


def _details(event: dict[str, Any]) -> dict[str, Any]:
    return next((value for key, value in event.items() if key.endswith("EventDetails") and isinstance(value, dict)), {})


def state_rows(events: Iterable[dict[str, Any]]) -> list[StateRow]:
    """The states of an execution history: entered, exited, retried, failed (with error and cause)."""
    rows: dict[str, StateRow] = {}
    current: list[StateRow] = []  # open rows, most recent last: task events belong to the latest one
    for event in events:
        kind, details = event["type"], _details(event)
        if kind.endswith("StateEntered"):
            name = details.get("name", "?")
            row = rows.setdefault(
                name, StateRow(name=name, kind=kind.removesuffix("StateEntered"), entered=event["timestamp"])
            )
            row.runs += 1
            current.append(row)
        elif kind.endswith("StateExited"):
            row = rows.get(details.get("name", "?"))
            if row is not None:
                row.finished += 1
                row.exited = event["timestamp"]
                if row in current:
                    current.remove(row)
        elif current and (kind.endswith("Failed") or kind.endswith("TimedOut")) and not kind.startswith("Execution"):
            current[-1].error = f"{details.get('error', kind)}: {details.get('cause', '')}".rstrip(": ")
        elif current and kind.endswith("Scheduled") and current[-1].error:
            current[-1].retries += 1  # scheduled again after a failure: the state's Retry fired
            current[-1].error = ""
    return list(rows.values())


def read_execution(client: Any, arn: str) -> ExecutionView:
    description = client.describe_execution(executionArn=arn)
    pages = client.get_paginator("get_execution_history").paginate(executionArn=arn)
    return ExecutionView(description, state_rows(event for page in pages for event in page["events"]))


STATUS_STYLES = {
    "running": "[bold cyan]… running[/]",
    "succeeded": "[green]✓ succeeded[/]",
    "caught": "[yellow]↪ caught[/]",
    "failed": "[bold red]✗ failed[/]",
    "aborted": "[red]■ aborted[/]",
    "timed out": "[red]⌛ timed out[/]",
}
EXECUTION_STYLES = {
    "RUNNING": "bold cyan",
    "SUCCEEDED": "bold green",
    "FAILED": "bold red",
    "TIMED_OUT": "bold red",
    "ABORTED": "bold red",
    "PENDING_REDRIVE": "cyan",
}


def _duration(start: datetime, end: datetime | None) -> str:
    if end is None:
        end = datetime.now(start.tzinfo or UTC)
    seconds = max(0, int((end - start).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _clock(value: Any) -> str:
    return value.strftime("%H:%M:%S") if hasattr(value, "strftime") else str(value)


def render(view: ExecutionView) -> Any:
    """A rich table of the states, titled with the execution's name and status."""
    from rich.markup import escape
    from rich.table import Table

    description = view.description
    style = EXECUTION_STYLES.get(view.status, "bold")
    title = (
        f"{escape(description.get('name', description['executionArn']))}  [{style}]{view.status}[/]  "
        f"started {_clock(description['startDate'])}, "
        f"{_duration(description['startDate'], description.get('stopDate'))}"
    )
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("state", "status", "started", "took", "detail"):
        table.add_column(column, overflow="fold")
    for row in view.rows:
        notes = [f"×{row.runs}" if row.runs > 1 else "", f"{row.retries} retries" if row.retries else "", row.error]
        table.add_row(
            escape(row.name),
            STATUS_STYLES[row.status(view.status)],
            _clock(row.entered),
            _duration(row.entered, row.exited if not row.open else description.get("stopDate")),
            escape("  ".join(note for note in notes if note)),
        )
    if not view.rows:
        table.add_row("(no state entered yet)", "", "", "", "")
    return table


def print_outcome(state: AppState, view: ExecutionView) -> None:
    description = view.description
    if view.status == "SUCCEEDED" and description.get("output"):
        output = description["output"]
        shown = output if len(output) <= SHOWN_OUTPUT_CHARACTERS else output[:SHOWN_OUTPUT_CHARACTERS] + " ..."
        state.console.print(f"output: {shown}", markup=False)
    if description.get("error") or description.get("cause"):
        state.console.print(f"error: {description.get('error', '')}: {description.get('cause', '')}", markup=False)


def follow(state: AppState, arn: str, *, wait: bool, poll_seconds: float) -> ExecutionView:
    """Show the execution's states; with ``wait``, keep the list live until the execution ends."""
    from rich.live import Live

    client = state.client("stepfunctions")
    view = read_execution(client, arn)
    if not wait or not view.running:
        state.console.print(render(view))
        return view
    with Live(render(view), console=state.console, auto_refresh=False) as live:
        while view.running:
            state.sleep(poll_seconds)
            view = read_execution(client, arn)
            live.update(render(view), refresh=True)
    return view


def exit_code_of(view: ExecutionView) -> int:
    return 0 if view.status in ("SUCCEEDED", *RUNNING_STATUSES) else 1


# --- commands --------------------------------------------------------------------------------------------


@app.command()
def examples(
    ctx: typer.Context,
    workflow: Workflow = typer.Option(None, "--workflow", "-w", help="only this workflow's examples (default: all)"),
) -> None:
    """Print the example execution inputs (statemachines/examples) to copy and edit."""
    state = app_state(ctx)
    for chosen in [workflow] if workflow else list(Workflow):
        for path in chosen.examples():
            state.console.print(f"# {chosen.value}: {path.relative_to(REPO_ROOT)}", style="bold", markup=False)
            state.console.print(path.read_text(encoding="utf-8").rstrip(), markup=False)


@app.command()
def start(
    ctx: typer.Context,
    input_file: Path = typer.Option(..., "--input", "-i", help="JSON file with the execution input", dir_okay=False),
    workflow: Workflow = WORKFLOW_OPTION,
    name: str = typer.Option(
        None, "--name", "-n", help="execution name = run ID = S3 prefix (default: <model>-<UTC time>)"
    ),
    validate_only: bool = typer.Option(False, "--validate-only", help="check the input and stop (no AWS call)"),
    wait: bool = typer.Option(False, "--wait", help="follow the execution until it ends"),
    poll_seconds: float = typer.Option(
        DEFAULT_POLL_SECONDS, "--poll-seconds", min=0.0, help="seconds between checks with --wait"
    ),
    arn: str = ARN_OPTION,
) -> None:
    """Check the input against the workflow's schema, then start an execution."""
    state = app_state(ctx)
    document = read_execution_input(input_file)
    problems = input_problems(document, workflow)
    if problems:
        for problem in problems:
            state.console.print(f"{input_file}: {problem}", markup=False)
        noun = "problem" if len(problems) == 1 else "problems"
        schema = SCHEMAS_DIR / f"{workflow.schema_name}.schema.json"
        raise InputError(
            f"{len(problems)} {noun} in {input_file}; nothing started",
            f"fix the fields above (schema: {schema.relative_to(REPO_ROOT)})",
        )
    execution_name = (
        check_execution_name(name) if name else default_execution_name(workflow, document, datetime.now(UTC))
    )
    state.console.print(f"{input_file}: valid {workflow.value} input", markup=False)
    if validate_only:
        return
    machine = arn or state_machine_arn(state, workflow)
    started = state.client("stepfunctions").start_execution(
        stateMachineArn=machine, name=execution_name, input=json.dumps(document)
    )
    state.console.print(f"started {started['executionArn']}", markup=False)
    if not wait:
        state.console.print(
            f"follow it: modelsmith --env {state.env} pipeline status {execution_name} "
            f"--workflow {workflow.value} --wait",
            markup=False,
        )
        return
    view = follow(state, started["executionArn"], wait=True, poll_seconds=poll_seconds)
    print_outcome(state, view)
    raise typer.Exit(exit_code_of(view))


@app.command()
def status(
    ctx: typer.Context,
    execution: str = typer.Argument(..., help="execution name (of --workflow) or execution ARN"),
    workflow: Workflow = WORKFLOW_OPTION,
    wait: bool = typer.Option(False, "--wait", help="keep the list live until the execution ends"),
    poll_seconds: float = typer.Option(
        DEFAULT_POLL_SECONDS, "--poll-seconds", min=0.0, help="seconds between checks with --wait"
    ),
    arn: str = ARN_OPTION,
) -> None:
    """Show an execution's states (entered, succeeded, retried, failed) and its result; exit 1 if it failed."""
    state = app_state(ctx)
    view = follow(state, resolve_execution(state, execution, workflow, arn), wait=wait, poll_seconds=poll_seconds)
    print_outcome(state, view)
    raise typer.Exit(exit_code_of(view))
