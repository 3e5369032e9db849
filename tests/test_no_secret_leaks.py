"""The Hugging Face token never appears in a template, document, command line, log line or notification.

A canary token is stored where operators put the real one; every place a secret could leak is searched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CANARY = "hf_CanaryTokenThatMustNeverLeak0123456789"
TOKEN_LIKE = re.compile(r"hf_[A-Za-z0-9]{30,}|pcsk_[A-Za-z0-9_]{30,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY")


def test_no_token_like_value_in_templates_documents_or_scripts(synthesized) -> None:
    texts = {path.name: path.read_text() for path in synthesized.template_paths}
    texts.update({path.name: path.read_text() for path in (REPO_ROOT / "ec2_userdata").glob("*.sh")})
    for name, text in texts.items():
        assert not TOKEN_LIKE.search(text), name


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the script hands the token file to the container's uid (chown): root, as on the instance"
)
def test_publish_script_keeps_the_token_off_command_lines_and_logs(tmp_path: Path) -> None:
    """publish_to_hub.sh with fake `aws` (returns the canary) and `docker` (records its argv and the token
    file it was given): the token reaches the container only as a file, which is gone afterwards."""
    bin_dir, run_dir = tmp_path / "bin", tmp_path / "checkpoints" / "runs" / "run-1" / "output" / "model" / "adapter"
    bin_dir.mkdir()
    run_dir.mkdir(parents=True)
    calls = tmp_path / "calls.log"
    (bin_dir / "aws").write_text(f'#!/usr/bin/env bash\necho "aws $*" >> {calls}\necho "{CANARY}"\n')
    (bin_dir / "docker").write_text(
        "#!/usr/bin/env bash\n"
        f'echo "docker $*" >> {calls}\n'
        'for arg in "$@"; do case "$arg" in *:/run/hf-token:ro) file="${arg%%:/run/hf-token:ro}";; esac; done\n'
        f'stat -c %a "$file" > {tmp_path}/token-mode\ncp "$file" {tmp_path}/token-seen-by-container\n'
        f'echo "$file" > {tmp_path}/token-path\n'
    )
    for tool in ("aws", "docker"):
        (bin_dir / tool).chmod(0o755)
    env_file = tmp_path / "modelsmith.env"
    env_file.write_text(
        f"CHECKPOINT_MOUNT={tmp_path / 'checkpoints'}\nHF_TOKEN_SECRET_ARN=arn:aws:secretsmanager:us-west-2:1:secret:x\n"
        "TRAINING_IMAGE_URI=registry/training:latest\nAWS_REGION=us-west-2\n"
    )
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "ec2_userdata" / "publish_to_hub.sh"), "run-1", "acme/model", "adapter", "true"],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "MODELSMITH_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert CANARY not in calls.read_text()  # no command line carried it
    assert (tmp_path / "token-seen-by-container").read_text().strip() == CANARY
    assert (tmp_path / "token-mode").read_text().strip() == "400"  # readable by its owner (the container user) only
    assert not Path((tmp_path / "token-path").read_text().strip()).exists(), "the token file must be deleted"
    assert "HF_TOKEN_PATH=/run/hf-token" in calls.read_text()


def test_workflow_never_carries_the_token(synthesized) -> None:
    """The state machine definition names the document and parameters only: no secret, no secret lookup."""
    template = synthesized.template_json(synthesized.stacks.training_instance.stack_name)
    (machine,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert "secretsmanager" not in definition.lower()
    assert "Token" not in re.sub(r"Hugging Face Hub|NextToken", "", definition)
