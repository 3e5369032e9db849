"""Estimate what a workflow run costs before starting it, and show the price table behind the estimate.

    python -m modelsmith.cost_cli estimate --workflow retrieval --input statemachines/examples/retrieval_pipeline.json
    python -m modelsmith.cost_cli estimate --workflow lora --input run.json --env prod --assume lora_hours=6
    python -m modelsmith.cost_cli estimate --workflow customization --input run.json --assume train_tokens=2e6 --json
    python -m modelsmith.cost_cli prices [--region us-east-1]

``modelsmith [--env prod] cost ...`` runs the same commands (``app`` is the ``cost`` group of the project CLI; without
its own ``--env``, ``estimate`` uses the global one).
The environment's config comes from ``cdk.json`` (``--env``, default dev), prices from ``modelsmith_core/prices.json``;
the estimate's arithmetic is ``modelsmith_core/cost.py``. No AWS call is made. Errors print one line and exit with
status 2.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from modelsmith_core import cost

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"

app = typer.Typer(
    help="Estimate what a workflow run costs (prices: modelsmith_core/prices.json).",
    no_args_is_help=True,
    add_completion=False,
)


class Workflow(str, Enum):
    retrieval = "retrieval"
    customization = "customization"
    lora = "lora"


@app.callback()
def _group() -> None:
    """Cost estimates of workflow runs."""


@app.command()
def estimate(
    ctx: typer.Context,
    workflow: Workflow = typer.Option(..., "--workflow", "-w", help="which workflow the input is for"),
    input_file: Path = typer.Option(..., "--input", "-i", help="the execution input (JSON), as for the console"),
    env: str | None = typer.Option(
        None,
        "--env",
        "-e",
        show_default=False,
        help="environment in cdk.json whose config applies [default: the global --env, or dev]",
    ),
    assume: list[str] | None = typer.Option(
        None, "--assume", "-a", metavar="NAME=VALUE", help="override an assumption, e.g. documents=1200 (repeatable)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the estimate as JSON (what a workflow's output holds)"),
    cdk_json: Path = typer.Option(CDK_JSON, "--cdk-json", help="cdk.json with the environments", show_default=False),
) -> None:
    """Estimate one run from its execution input and the environment's config."""
    console = Console()
    env = env or getattr(ctx.obj, "env", None) or "dev"  # `modelsmith --env prod cost estimate ...`
    try:
        execution_input = _read_input(input_file)
        config = _load_config(cdk_json, env)
        result = cost.estimate(workflow.value, execution_input, config, assumptions=_assumptions(assume or []))
    except cost.CostError as error:
        _fail(str(error))
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    table = Table(title=f"{result.workflow} run in {env} ({result.region}), {result.currency}", show_lines=False)
    for column, justify in (
        ("item", "left"),
        ("quantity", "right"),
        ("unit", "left"),
        ("unit price", "right"),
        ("amount", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for item in result.items:
        table.add_row(
            item.description + (" [recurring]" if item.recurring else ""),
            f"{item.quantity:,.4g}",
            item.unit,
            f"{item.unit_price:.6g}",
            f"{item.amount:,.2f}",
        )
    table.add_section()
    table.add_row("run (once)", "", "", "", f"{result.run_total:,.2f}")
    table.add_row("recurring (while kept)", "", "", "", f"{result.recurring_total:,.2f}")
    table.add_row("total", "", "", "", f"{result.total:,.2f}", style="bold")
    console.print(table)
    for item in result.items:
        console.print(f"- {item.description}: {item.assumption}", highlight=False)
    for note in result.notes:
        console.print(f"- {note}", highlight=False)
    console.print(
        f"Prices: version {result.prices.version} as of {result.prices.as_of.isoformat()} ({result.prices.source})",
        highlight=False,
    )


@app.command()
def prices(region: str = typer.Option("us-west-2", "--region", "-r", help="region whose prices to show")) -> None:
    """Show the price table's version, date and the prices of one region."""
    try:
        table_data = cost.load_prices()
        if region not in table_data.regions:
            raise cost.CostError(
                f"region {region!r}: no prices; priced regions: {', '.join(sorted(table_data.regions))}"
            )
    except cost.CostError as error:
        _fail(str(error))
    console = Console()
    table = Table(
        title=f"Prices in {region}, {table_data.currency}: version {table_data.version}, as of {table_data.as_of}"
    )
    for column in ("section", "item", "price"):
        table.add_column(column)
    for section, entries in table_data.regions[region].items():
        for key, value in entries.items():
            shown = (
                ", ".join(f"{name} {price:g}" for name, price in value.items())
                if isinstance(value, dict)
                else f"{value:g}"
            )
            table.add_row(section, key, shown)
    console.print(table)
    console.print(f"Bedrock batch inference: {table_data.batch_factor:g} x the on-demand token price.", highlight=False)


def _read_input(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise cost.CostError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise cost.CostError(f"{path}: not valid JSON ({error})") from None


def _load_config(cdk_json: Path, env: str) -> Any:
    from modelsmith_core.config import ConfigError, load_config

    try:
        context = json.loads(cdk_json.read_text(encoding="utf-8"))["context"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as error:
        raise cost.CostError(f"{cdk_json}: cannot read the environments ({type(error).__name__}: {error})") from None
    try:
        return load_config(context.get("environments"), env)
    except ConfigError as error:
        raise cost.CostError(" ".join(str(error).split())) from None


def _assumptions(pairs: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        try:
            if not separator:
                raise ValueError
            values[name.strip()] = float(text)
        except ValueError:
            raise cost.CostError(f"--assume {pair!r}: expected NAME=NUMBER, e.g. documents=1200") from None
    return values


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


if __name__ == "__main__":
    app()
