"""Synthesize every stack of one environment with the CDK CLI and print a short summary.

    python -m modelsmith.synth_summary --env dev [--out cdk.out]

This is what ``make synth`` runs. It needs no AWS credentials and makes no AWS call: the stacks are
environment-agnostic. The summary lists each stack with its resource count and the cdk-nag result
(synthesis fails on any unacknowledged finding, so a summary always means zero of them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ACKNOWLEDGED_RULES_METADATA = "aws:cdk:acknowledged-rules"
NAG_PACKS = ("AwsSolutions", "HIPAA.Security")


@dataclass(frozen=True)
class StackSummary:
    name: str
    template: Path
    resource_count: int
    acknowledged: Counter[str]


def summarize(assembly_dir: Path) -> list[StackSummary]:
    """Stacks of a cloud assembly with their resource counts and acknowledged nag rules per pack."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    summaries = []
    for name, artifact in sorted(manifest["artifacts"].items()):
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        template_path = assembly_dir / artifact["properties"]["templateFile"]
        template = json.loads(template_path.read_text())
        metadata = dict(artifact.get("metadata", {}))
        if "additionalMetadataFile" in artifact:
            metadata.update(json.loads((assembly_dir / artifact["additionalMetadataFile"]).read_text()))
        acknowledged: Counter[str] = Counter()
        for entries in metadata.values():
            for entry in entries:
                if entry["type"] == ACKNOWLEDGED_RULES_METADATA:
                    for rule in entry["data"]:
                        pack = rule.split("::", 1)[0]
                        if pack in NAG_PACKS:
                            acknowledged[pack] += 1
        summaries.append(StackSummary(name, template_path, len(template.get("Resources", {})), acknowledged))
    return summaries


def validation_failures(assembly_dir: Path) -> list[str]:
    """Violations recorded in the policy validation report (empty when every plugin passed)."""
    report_path = assembly_dir / "validation-report.json"
    if not report_path.exists():
        return []
    report = json.loads(report_path.read_text())
    failures = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                failures.append(f"{violation['ruleName']} at {construct['constructPath']}")
    return failures


def format_summary(env: str, summaries: list[StackSummary], seconds: float) -> str:
    width = max(len(summary.name) for summary in summaries)
    lines = [f"Synthesized {len(summaries)} stack(s) of environment '{env}' in {seconds:.1f} s:"]
    for summary in summaries:
        lines.append(f"  {summary.name:<{width}}  {summary.resource_count:>4} resources  {summary.template}")
    total = sum(summary.resource_count for summary in summaries)
    lines.append(f"  {'total':<{width}}  {total:>4} resources")
    acknowledged = sum((summary.acknowledged for summary in summaries), Counter())
    packs = ", ".join(f"{pack} ({acknowledged[pack]} acknowledged)" for pack in NAG_PACKS)
    lines.append(f"cdk-nag: 0 unacknowledged findings; packs {packs}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="dev", help="environment from cdk.json (default: dev)")
    parser.add_argument("--out", default="cdk.out", type=Path, help="cloud assembly directory (default: cdk.out)")
    args = parser.parse_args(argv)

    command = ["cdk", "synth", "--quiet", "--no-notices", "-c", f"env={args.env}", "--output", str(args.out)]
    started = time.monotonic()
    result = subprocess.run(command, env={**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true"}, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        for failure in validation_failures(args.out):
            print(f"unacknowledged finding: {failure}", file=sys.stderr)
        print(
            f"error: `{' '.join(command)}` failed (exit {result.returncode}); see the messages above", file=sys.stderr
        )
        return result.returncode
    print(format_summary(args.env, summarize(args.out), seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
