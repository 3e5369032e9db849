"""The README's main job, end to end: `cdk synth` through the CDK CLI, as a user types it.

Runs the pinned CLI (node_modules/.bin/cdk) with no AWS credentials; a bad environment or config must stop
synthesis with a message naming the key and value.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelsmith import synth_summary

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def _offline_env() -> dict[str, str]:
    """The process environment minus anything that could reach an AWS account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        CDK_DISABLE_CLI_TELEMETRY="true",
        PATH=os.pathsep.join([str(REPO_ROOT / "node_modules" / ".bin"), str(Path(sys.executable).parent), env["PATH"]]),
    )
    return env


def _run_app(context: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run app.py the way the CLI does: context in CDK_CONTEXT_JSON, output in CDK_OUTDIR."""
    env = {**_offline_env(), "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.skipif(
    shutil.which("cdk", path=str(REPO_ROOT / "node_modules" / ".bin")) is None,
    reason="the CDK CLI is installed by `make setup` (npm ci)",
)
@pytest.mark.parametrize("env_name", sorted(CDK_CONTEXT["environments"]))
def test_cdk_cli_synthesizes_every_stack_offline(env_name: str, tmp_path: Path, monkeypatch, capsys) -> None:
    for key, value in _offline_env().items():
        monkeypatch.setenv(key, value)
    # As a user types it after `make setup`, without activating the virtual environment: cdk.json names its Python.
    system_path = [
        entry for entry in os.environ["PATH"].split(os.pathsep) if Path(entry) != Path(sys.executable).parent
    ]
    monkeypatch.setenv("PATH", os.pathsep.join(system_path))
    for key in [k for k in os.environ if k.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION", "AWS_PROFILE"))]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(REPO_ROOT)
    assert synth_summary.main(["--env", env_name, "--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert f"Modelsmith-{env_name}-Foundation" in output
    assert "cdk-nag: 0 unacknowledged findings" in output
    assert (tmp_path / f"Modelsmith-{env_name}-Foundation.template.json").exists()


def test_unknown_environment_stops_synthesis(tmp_path: Path) -> None:
    result = _run_app({**CDK_CONTEXT, "env": "staging"}, tmp_path)
    assert result.returncode == 1
    assert "env = 'staging': unknown environment; defined: dev, prod" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_stops_synthesis_naming_key_and_value(tmp_path: Path) -> None:
    environments = json.loads(json.dumps(CDK_CONTEXT["environments"]))
    environments["prod"]["training_instance"]["instance_type"] = "m5.large"
    environments["prod"]["regoin"] = "us-west-2"
    result = _run_app({**CDK_CONTEXT, "env": "prod", "environments": environments}, tmp_path)
    assert result.returncode == 1
    assert "training_instance.instance_type = 'm5.large': not an NVIDIA GPU instance" in result.stderr
    assert "regoin: unknown key; did you mean 'region'?" in result.stderr
    assert not list(tmp_path.glob("*.template.json")), "nothing may be written for a bad config"


def test_app_defaults_to_dev(tmp_path: Path) -> None:
    context = {k: v for k, v in CDK_CONTEXT.items() if k != "env"}
    result = _run_app(context, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "Modelsmith-dev-Foundation.template.json").exists()
