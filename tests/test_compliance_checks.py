"""cdk-nag, cfn-lint and checkov over every stack of every environment, and proof each check is live.

cdk-nag runs during synthesis (the ``synthesized`` fixture would fail on any unacknowledged finding); the
tests below also read its report, run cfn-lint and checkov on the written templates, and feed each tool a
known-bad resource so that a silently disabled check fails the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cfnlint.api import ManualArgs, lint

from stacks.modelsmith_app import add_compliance_checks

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKOV = os.environ.get("CHECKOV_BIN", str(REPO_ROOT / ".venv-checkov" / "bin" / "checkov"))


def _nag_failures(assembly_dir: Path) -> list[dict]:
    report_path = assembly_dir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    return [r for r in report["pluginReports"] if r.get("conclusion") == "failure"]


def _cfn_lint(path: Path, region: str = "us-west-2") -> list[str]:
    """Errors and warnings in ``region`` (cfn-lint's informational I-rules are advice, not findings)."""
    matches = lint(path.read_text(), config=ManualArgs(regions=[region]))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if m.rule.id[0] in "EW"]


def _checkov(directory: Path, framework: str = "cloudformation") -> dict:
    result = subprocess.run(
        [
            CHECKOV,
            "--directory",
            str(directory),
            "--framework",
            framework,
            "--output",
            "json",
            "--skip-download",
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [check for report in reports for check in report["results"]["failed_checks"]]
    skipped = [check for report in reports for check in report["results"]["skipped_checks"]]
    passed = sum(report["summary"]["passed"] for report in reports)
    return {"failed": failed, "skipped": skipped, "passed": passed}


def test_cdk_nag_reports_no_unacknowledged_finding(synthesized) -> None:
    assert _nag_failures(synthesized.assembly_dir) == []
    metadata = json.loads(
        (synthesized.assembly_dir / f"{synthesized.stacks.foundation.stack_name}.metadata.json").read_text()
    )
    acknowledged = {
        rule: reason
        for entries in metadata.values()
        for entry in entries
        if entry["type"] == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule, reason in entry["data"].items()
    }
    assert acknowledged, "expected the documented acknowledgments to be recorded"
    for rule, reason in acknowledged.items():
        assert rule.split("::")[0] in ("AwsSolutions", "HIPAA.Security", "CloudFormation-Validate"), rule
        assert len(reason) >= 20, f"{rule} needs a specific reason"


def test_cdk_nag_fails_synthesis_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    s3.Bucket(Stack(app, "Careless"), "Bucket")
    add_compliance_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    rules = {v["ruleName"] for report in _nag_failures(tmp_path) for v in report["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10", "HIPAA.Security-S3DefaultEncryptionKMS"} <= rules


def test_cfn_lint_is_clean(synthesized) -> None:
    for path in synthesized.template_paths:
        assert _cfn_lint(path, synthesized.config.region) == [], path.name


def test_cfn_lint_catches_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.template.json"
    broken.write_text(
        json.dumps({"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"Versioning": "on"}}}})
    )
    assert any(finding.startswith("E3002") for finding in _cfn_lint(broken))


def test_checkov_is_clean_with_every_skip_explained(all_environments, tmp_path: Path) -> None:
    for name, synthesized in all_environments.items():
        for path in synthesized.template_paths:
            (tmp_path / f"{name}-{path.name}").write_text(path.read_text())
    result = _checkov(tmp_path)
    assert result["failed"] == [], [(c["check_id"], c["resource"], c["file_path"]) for c in result["failed"]]
    assert result["passed"] > 50
    for check in result["skipped"]:
        assert len(check["check_result"].get("suppress_comment", "")) >= 20, check["check_id"]


def test_checkov_catches_an_unencrypted_bucket(tmp_path: Path) -> None:
    (tmp_path / "careless.template.json").write_text(
        json.dumps({"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}}}})
    )
    failed_ids = {check["check_id"] for check in _checkov(tmp_path)["failed"]}
    assert "CKV_AWS_18" in failed_ids  # access logging
    assert "CKV_AWS_21" in failed_ids  # versioning


def test_checkov_is_clean_on_the_training_image_and_ci_workflow() -> None:
    for directory, framework in (
        (REPO_ROOT / "sagemaker_src", "dockerfile"),
        (REPO_ROOT / ".github", "github_actions"),
    ):
        result = _checkov(directory, framework)
        assert result["failed"] == [], [(c["check_id"], c["file_path"]) for c in result["failed"]]
        assert result["passed"] > 10, framework
