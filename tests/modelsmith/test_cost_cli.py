"""`modelsmith cost` (modelsmith/cost_cli.py): the estimate as a table or JSON, the price table, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from modelsmith.cost_cli import CDK_JSON, app
from modelsmith_core import cost
from modelsmith_core.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "statemachines" / "examples"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def lora_input(tmp_path) -> Path:
    path = tmp_path / "lora.json"
    path.write_text(
        json.dumps(
            {"config_s3_uri": "s3://d/c.yml", "train_s3_uri": "s3://d/t.jsonl", "base_model": "m", "timeout_hours": 10}
        )
    )
    return path


def test_estimate_prints_items_totals_assumptions_and_prices(lora_input) -> None:
    code, out, err = run(
        "estimate", "--workflow", "lora", "--input", str(lora_input), "--env", "prod", "--assume", "lora_hours=6.5"
    )
    assert (code, err) == (0, "")
    assert "lora-training run in prod (us-west-2), USD" in out
    assert "EC2 g6.2xlarge (GPU training instance)" in out and "0.9776" in out
    assert "6.84" in out  # (6.5 + 0.5) h x 0.9776
    assert "6.5 h fine-tune + 0.5 h boot" in out
    assert "Prices: version 2 as of 2025-06-01" in out


def test_json_output_is_what_a_workflow_gets() -> None:
    example = EXAMPLES / "retrieval_pipeline.json"
    code, out, _ = run("estimate", "-w", "retrieval", "-i", str(example), "--json")
    assert code == 0
    config = cost.cost_config(load_config(json.loads(CDK_JSON.read_text())["context"]["environments"], "dev"))
    assert json.loads(out) == cost.estimate_for_workflow("retrieval", json.loads(example.read_text()), config)


def test_prices_shows_version_and_region() -> None:
    code, out, _ = run("prices", "--region", "us-east-1")
    assert code == 0
    assert "Prices in us-east-1, USD: version 2, as of 2025-06-01" in out and "ml.g5.xlarge" in out
    assert "0.5 x the on-demand token price" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "missing.json"], "error: missing.json: no such file"),
        (["--assume", "documents"], "error: --assume 'documents': expected NAME=NUMBER"),
        (["--assume", "documnets=3"], "error: documnets: unknown assumption"),
        (["--env", "staging"], "error: invalid Modelsmith configuration for environment 'staging': - env = 'staging'"),
    ],
)
def test_errors_are_one_line_with_status_2(lora_input, args, message) -> None:
    arguments = ["estimate", "--workflow", "lora", "--input", str(lora_input), *args]
    code, out, err = run(*arguments)
    assert code == 2 and out == ""
    assert err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_bad_json_and_bad_field(tmp_path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{oops")
    code, _, err = run("estimate", "-w", "lora", "-i", str(broken))
    assert code == 2 and "not valid JSON" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"timeout_hours": 0}))
    code, _, err = run("estimate", "-w", "lora", "-i", str(bad))
    assert code == 2 and err.strip() == "error: timeout_hours = 0: a whole number from 1 to 47"
    code, _, err = run("prices", "--region", "mars-1")
    assert code == 2 and "region 'mars-1': no prices" in err


def test_a_parent_cli_passes_its_env(lora_input) -> None:
    """Registered as `modelsmith cost`, the global --env (the parent's context object) applies."""
    parent = typer.Typer()

    @parent.callback()
    def root(ctx: typer.Context, env: str = typer.Option("dev", "--env")) -> None:
        ctx.obj = type("State", (), {"env": env})()

    parent.add_typer(app, name="cost")
    result = CliRunner().invoke(
        parent, ["--env", "prod", "cost", "estimate", "-w", "lora", "-i", str(lora_input)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "lora-training run in prod" in result.stdout
