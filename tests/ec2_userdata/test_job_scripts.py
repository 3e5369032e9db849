"""The GPU instance's job scripts with the real ownership layout: root runs them (SSM Run Command), the container runs
as the image's own user (uid 1000, ``sagemaker_src/Dockerfile``).

GIVEN fake ``aws`` (S3 copies from a folder, the token from "Secrets Manager", an ECR password) and a fake ``docker``
that, for ``docker run``, performs what the training container does (read the token file, write its output,
checkpoints and Hub cache) as the uid:gid given with ``--user`` (the image's ``USER`` when none is given) under
``setpriv``; WHEN ``run_finetune.sh`` / ``publish_to_hub.sh`` run as root; THEN the container can read the token and
write its folders, the token file is gone afterwards, and every job logs in to ECR and pulls the image anew.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "ec2_userdata"
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/modelsmith-training:latest"
IMAGE_USER = "1000:1000"  # sagemaker_src/Dockerfile: useradd --uid 1000 trainer; USER trainer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ownership and setpriv need root, as on the instance")

FAKE_AWS = r"""#!/usr/bin/env bash
set -euo pipefail
echo "aws $*" >> "$FAKE_STATE/calls"
case "$1 $2" in
  "s3 cp") src="${@: -2:1}"; dst="${@: -1}"; cp "$FAKE_S3/${src#s3://}" "$dst" ;;
  "secretsmanager get-secret-value") echo "hf_secret_token" ;;
  "ecr get-login-password") echo "ecr-password-$(wc -l < "$FAKE_STATE/calls")" ;;
  *) echo "unexpected aws call: $*" >&2; exit 1 ;;
esac
"""

# The container's side of `docker run`: as the --user uid:gid (the image's USER otherwise), read the token and write
# into the mounted run folder and cache, exactly the files the trainer writes.
FAKE_DOCKER = r"""#!/usr/bin/env bash
set -euo pipefail
echo "docker $1" >> "$FAKE_STATE/calls"
case "$1" in
  login) cat > /dev/null ;;
  pull) ;;
  run)
    shift; user="$IMAGE_USER"; token=""; data=""; cache=""; publish=""
    while [[ $# -gt 0 ]]; do
      case "$1" in
        --user) user="$2"; shift 2 ;;
        -v) case "$2" in
              *:/run/hf-token:ro) token="${2%%:*}" ;;
              *:/data) data="${2%%:*}" ;;
              *:/data/hf-cache) cache="${2%%:*}" ;;
              *:/publish:ro) publish="${2%%:*}" ;;
            esac; shift 2 ;;
        *) shift ;;
      esac
    done
    as_container() { setpriv --reuid="${user%%:*}" --regid="${user##*:}" --clear-groups bash -c "$1"; }
    as_container "test -r '$token'" || { echo "container cannot read the token file" >&2; exit 1; }
    if [[ -n "$data" ]]; then
      as_container "mkdir -p '$data/checkpoints/checkpoint-10' && touch '$data/output/model/adapter_model.safetensors' '$data/output/data/metrics.json' && mkdir -p '$cache/hub'" \
        || { echo "container cannot write its folders" >&2; exit 1; }
    fi
    if [[ -n "$publish" ]]; then as_container "test -r '$publish/adapter_model.safetensors'"; fi
    ;;
esac
"""


@pytest.fixture
def instance() -> Iterator[dict[str, Path]]:
    # Like the instance's /tmp and /mnt: folders other users can traverse (pytest's own tmp_path is 0700).
    tmp_path = Path(tempfile.mkdtemp(prefix="modelsmith-instance-"))
    tmp_path.chmod(0o755)
    yield from _instance(tmp_path)
    shutil.rmtree(tmp_path)


def _instance(tmp_path: Path) -> Iterator[dict[str, Path]]:
    bin_dir, state, s3, mount = tmp_path / "bin", tmp_path / "state", tmp_path / "s3", tmp_path / "checkpoints"
    for folder in (bin_dir, state, s3 / "data", mount):
        folder.mkdir(parents=True)
    (state / "calls").touch()
    (s3 / "data" / "config.yml").write_text("method: lora\n")
    (s3 / "data" / "train.jsonl").write_text('{"prompt": "a", "completion": "b"}\n')
    for name, body in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    env_file = tmp_path / "modelsmith.env"
    env_file.write_text(
        f"CHECKPOINT_MOUNT={mount}\nTRAINING_IMAGE_URI={IMAGE}\nAWS_REGION=us-west-2\n"
        "HF_TOKEN_SECRET_ARN=arn:aws:secretsmanager:us-west-2:123456789012:secret:hf-AbCdEf\n"
        f"ARTIFACTS_BUCKET=artifacts\n"
    )
    yield {"bin": bin_dir, "state": state, "s3": s3, "mount": mount, "env": env_file, "tmp": tmp_path}


def _run(instance: dict[str, Path], script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{instance['bin']}:{os.environ['PATH']}",
        "MODELSMITH_ENV_FILE": str(instance["env"]),
        "FAKE_STATE": str(instance["state"]),
        "FAKE_S3": str(instance["s3"]),
        "IMAGE_USER": IMAGE_USER,
        "TMPDIR": str(instance["tmp"]),
    }
    # /var/log/modelsmith is the instance's log folder; the scripts create it.
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args], env=env, capture_output=True, text=True, check=False, timeout=60
    )


def _calls(instance: dict[str, Path]) -> list[str]:
    return (instance["state"] / "calls").read_text().splitlines()


def test_the_container_user_reads_the_token_and_writes_its_run(instance) -> None:
    result = _run(
        instance, "run_finetune.sh", "run-1", "s3://data/config.yml", "s3://data/train.jsonl", "meta-llama/Llama-3.1-8B"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = instance["mount"] / "runs" / "run-1"
    assert (run_dir / "output" / "model" / "adapter_model.safetensors").exists()
    assert (run_dir / "checkpoints" / "checkpoint-10").is_dir()
    assert (instance["mount"] / "hf-cache" / "hub").is_dir()
    assert not list(instance["tmp"].glob("tmp.*")), "the token file must be deleted when the job ends"


def test_a_resumed_run_left_by_root_is_handed_back_to_the_container(instance) -> None:
    # GIVEN an earlier attempt's folders, created by root (as SSM's shell does)
    checkpoints = instance["mount"] / "runs" / "run-2" / "checkpoints" / "checkpoint-5"
    checkpoints.mkdir(parents=True)
    (checkpoints / "optimizer.pt").write_bytes(b"state")
    result = _run(
        instance, "run_finetune.sh", "run-2", "s3://data/config.yml", "s3://data/train.jsonl", "meta-llama/Llama-3.1-8B"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (checkpoints / "optimizer.pt").stat().st_uid == 1000


def test_every_job_logs_in_and_pulls_the_image_again(instance) -> None:
    for run in ("run-3", "run-4"):
        result = _run(instance, "run_finetune.sh", run, "s3://data/config.yml", "s3://data/train.jsonl", "m/model")
        assert result.returncode == 0, result.stdout + result.stderr
    calls = _calls(instance)
    assert sum(call.startswith("aws ecr get-login-password") for call in calls) == 2
    assert calls.count("docker login") == 2 and calls.count("docker pull") == 2
    # the pull comes before the run, in each job
    assert [c for c in calls if c.startswith("docker")] == ["docker login", "docker pull", "docker run"] * 2


def test_publishing_reads_the_token_as_the_container_user(instance) -> None:
    model = instance["mount"] / "runs" / "run-5" / "output" / "model" / "adapter"
    model.mkdir(parents=True)
    (model / "adapter_model.safetensors").write_bytes(b"weights")
    result = _run(instance, "publish_to_hub.sh", "run-5", "acme/llama-adapter", "adapter", "true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "docker pull" in _calls(instance)
