"""``modelsmith``: one command line for the workflows, the data checks, RAG and the tools.

    modelsmith --help
    modelsmith pipeline start --input statemachines/examples/retrieval_pipeline.json --name handbook-1
    modelsmith pipeline status handbook-1 --wait
    modelsmith validate corpus corpora/handbook.jsonl
    modelsmith rag ingest docs/ --model minilm && modelsmith rag ask "How do I rotate the API key?"
    modelsmith --env prod agent ask "What are the coordinates of M31?"

Global options come before the group: ``--env`` (cdk.json environment, default ``dev`` or
``$MODELSMITH_ENV``), ``--region``/``--profile`` (AWS; default: the shell's), ``--debug`` (tracebacks).
Errors print one line and what to do; the exit status is 2 for bad input, 1 for other failures.

A group is a ``typer.Typer`` in its own module; :data:`COMMAND_GROUPS` is the one list that adds it here.
"""

from __future__ import annotations

import sys

import typer

from modelsmith import cleanup, ops_bundle_cli
from modelsmith.agent_customization_cli import agent_app, customization_app
from modelsmith.cli_support import AppState, ModelsmithGroup, prefer_project_node
from modelsmith.cost_cli import app as cost_app
from modelsmith.dry_run_cli import dry_run
from modelsmith.pipeline_cli import app as pipeline_app
from modelsmith.rag.cli import app as rag_app
from modelsmith.validate_cli import app as validate_app
from modelsmith_core.config import ENV_NAME_PATTERN

# (name, group): one line per command group, in the order `modelsmith --help` lists them.
COMMAND_GROUPS: tuple[tuple[str, typer.Typer], ...] = (
    ("pipeline", pipeline_app),
    ("validate", validate_app),
    ("rag", rag_app),
    ("agent", agent_app),
    ("customization", customization_app),
    ("cost", cost_app),
    ("bundle", ops_bundle_cli.app),
)

app = typer.Typer(
    cls=ModelsmithGroup,
    name="modelsmith",
    help="Modelsmith: fine-tuning workflows, data checks, self-hosted RAG and the agent, from one command line.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # --debug tracebacks must not print credentials held in locals
    context_settings={"help_option_names": ["-h", "--help"]},
)
for group_name, group in COMMAND_GROUPS:
    app.add_typer(group, name=group_name)
app.command("dry-run")(dry_run)  # a command of its own, not a group: `modelsmith dry-run --demo`
# Single commands (no group of their own).
app.command(
    "cleanup", help="Delete what pipeline runs left behind in an environment (tagged SageMaker and Bedrock resources)."
)(cleanup.cleanup_command)


def _check_env(value: str) -> str:
    if not ENV_NAME_PATTERN.match(value):
        raise typer.BadParameter(f"{value!r} is not an environment name (lowercase letters, digits, hyphens; e.g. dev)")
    return value


@app.callback()
def root(
    ctx: typer.Context,
    env: str = typer.Option(
        "dev",
        "--env",
        "-e",
        envvar="MODELSMITH_ENV",
        callback=_check_env,
        help="environment (cdk.json) whose resources to use",
    ),
    region: str = typer.Option(None, "--region", help="AWS region (default: the shell's AWS_REGION / profile)"),
    profile: str = typer.Option(None, "--profile", help="AWS profile (default: the shell's AWS_PROFILE)"),
    debug: bool = typer.Option(False, "--debug", help="show the traceback of an error"),
) -> None:
    state = ctx.ensure_object(AppState)
    state.env, state.region, state.profile, state.debug = env, region or state.region, profile or state.profile, debug


def main() -> None:
    """Console-script entry point (``modelsmith``)."""
    prefer_project_node()
    sys.exit(app())


if __name__ == "__main__":
    main()
