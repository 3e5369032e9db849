"""setup_instance.sh against a fake device layout: it formats a blank volume once, never twice.

GIVEN a root folder with /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_<serial> pointing at a fake NVMe
device, and fake blkid/mkfs.xfs/mount/mountpoint/amazon-cloudwatch-agent-ctl on PATH that keep their state in
files and log every call, WHEN the script runs twice (a reboot), THEN the second run formats nothing, fstab
holds exactly one `nofail` entry, and the job scripts are installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "ec2_userdata" / "setup_instance.sh"
VOLUME_ID = "vol-0123456789abcdef0"

FAKES = {
    "blkid": """#!/usr/bin/env bash
# blkid -o value -s TYPE|UUID DEVICE
[[ -f "$FAKE_STATE/formatted" ]] || exit 2
case "$4" in TYPE) echo xfs ;; UUID) cat "$FAKE_STATE/formatted" ;; esac
""",
    "mkfs.xfs": """#!/usr/bin/env bash
echo "mkfs.xfs $*" >> "$FAKE_STATE/calls"
echo "1b2c3d4e-0000-4000-8000-$(date +%N | cut -c1-9)000" > "$FAKE_STATE/formatted"
""",
    "mount": """#!/usr/bin/env bash
echo "mount $*" >> "$FAKE_STATE/calls"
touch "$FAKE_STATE/mounted"
""",
    "mountpoint": """#!/usr/bin/env bash
[[ -f "$FAKE_STATE/mounted" ]]
""",
    "amazon-cloudwatch-agent-ctl": """#!/usr/bin/env bash
echo "amazon-cloudwatch-agent-ctl $*" >> "$FAKE_STATE/calls"
""",
}


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, Path]:
    root, bin_dir, state = tmp_path / "root", tmp_path / "bin", tmp_path / "state"
    for folder in (root / "dev" / "disk" / "by-id", root / "etc" / "modelsmith", bin_dir, state):
        folder.mkdir(parents=True)
    (root / "dev" / "nvme1n1").write_bytes(b"")
    (root / "dev" / "disk" / "by-id" / f"nvme-Amazon_Elastic_Block_Store_{VOLUME_ID.replace('-', '')}").symlink_to(
        root / "dev" / "nvme1n1"
    )
    (root / "etc" / "fstab").write_text("LABEL=cloudimg-rootfs / ext4 defaults 0 1\n")
    (root / "etc" / "modelsmith" / "modelsmith.env").write_text(
        "CHECKPOINT_MOUNT=/mnt/checkpoints\nLOG_GROUP=/modelsmith/test/instance\nAWS_REGION=us-west-2\n"
    )
    for name, body in FAKES.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    return {"root": root, "bin": bin_dir, "state": state}


def _run(machine: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{machine['bin']}:{os.environ['PATH']}",
        "MODELSMITH_ROOT": str(machine["root"]),
        "FAKE_STATE": str(machine["state"]),
        "DEVICE_WAIT_SECONDS": "0",
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False, timeout=60
    )


def _calls(machine: dict[str, Path]) -> list[str]:
    calls = machine["state"] / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_second_run_formats_nothing_and_keeps_one_fstab_entry(machine) -> None:
    arguments = ("--volume-id", VOLUME_ID, "--env-file", str(machine["root"] / "etc/modelsmith/modelsmith.env"))
    first = _run(machine, *arguments)
    assert first.returncode == 0, first.stdout + first.stderr
    uuid = (machine["state"] / "formatted").read_text().strip()
    assert [c for c in _calls(machine) if c.startswith("mkfs")] == [
        f"mkfs.xfs -q -L checkpoints {machine['root']}/dev/nvme1n1"
    ]

    (machine["state"] / "mounted").unlink()  # a reboot: the mount is gone, the filesystem is not
    second = _run(machine, *arguments)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already has a filesystem; not formatting" in second.stdout

    calls = _calls(machine)
    assert len([c for c in calls if c.startswith("mkfs")]) == 1
    assert len([c for c in calls if c.startswith("mount ")]) == 2
    fstab = (machine["root"] / "etc" / "fstab").read_text().splitlines()
    assert fstab == [
        "LABEL=cloudimg-rootfs / ext4 defaults 0 1",
        f"UUID={uuid} /mnt/checkpoints xfs defaults,nofail,noatime 0 2",
    ]
    for script in ("run_finetune.sh", "archive_run.sh", "publish_to_hub.sh", "hf_token.sh", "training_image.sh"):
        assert os.access(machine["root"] / "opt" / "modelsmith" / "bin" / script, os.X_OK)


def test_cloudwatch_agent_collects_gpu_metrics_and_job_logs(machine) -> None:
    result = _run(
        machine, "--volume-id", VOLUME_ID, "--env-file", str(machine["root"] / "etc/modelsmith/modelsmith.env")
    )
    assert result.returncode == 0, result.stderr
    config = json.loads((machine["root"] / "opt/aws/amazon-cloudwatch-agent/etc/modelsmith.json").read_text())
    assert "utilization_gpu" in config["metrics"]["metrics_collected"]["nvidia_gpu"]["measurement"]
    assert config["metrics"]["aggregation_dimensions"] == [["InstanceId"]]
    (collected,) = config["logs"]["logs_collected"]["files"]["collect_list"]
    assert collected["log_group_name"] == "/modelsmith/test/instance"
    # The agent replaces only these placeholders (amazon-cloudwatch-agent, translator/util placeholderUtil.go);
    # any other stays literal text in the stream name.
    supported = {
        "{instance_id}",
        "{hostname}",
        "{local_hostname}",
        "{ip_address}",
        "{aws_region}",
        "{date}",
        "{account_id}",
    }
    assert set(re.findall(r"\{[a-z_]+\}", collected["log_stream_name"])) <= supported
    assert any(c.startswith("amazon-cloudwatch-agent-ctl -a fetch-config") for c in _calls(machine))


def test_mounted_volume_is_left_alone(machine) -> None:
    (machine["state"] / "formatted").write_text("already-there-uuid\n")
    (machine["state"] / "mounted").touch()
    result = _run(
        machine, "--volume-id", VOLUME_ID, "--env-file", str(machine["root"] / "etc/modelsmith/modelsmith.env")
    )
    assert result.returncode == 0, result.stderr
    assert not [c for c in _calls(machine) if c.startswith(("mkfs", "mount "))]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--volume-id", "vol-xyz"), "--volume-id must look like vol-"),
        (("--volume-id", "vol-0000000000000000f"), "did not appear within 0s"),
        (("--volume-id", VOLUME_ID, "--bogus"), "unknown argument: --bogus"),
    ],
)
def test_bad_arguments_and_missing_volume_fail_clearly(machine, arguments, message) -> None:
    result = _run(machine, *arguments, "--env-file", str(machine["root"] / "etc/modelsmith/modelsmith.env"))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not [c for c in _calls(machine) if c.startswith("mkfs")]
