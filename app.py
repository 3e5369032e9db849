#!/usr/bin/env python3
"""The Modelsmith CDK app: the one place that reads context and wires stacks.

    cdk synth                 # the default environment (cdk.json context "env", i.e. dev)
    cdk synth -c env=prod     # another environment described in cdk.json "environments"

Stacks are environment-agnostic (no account or region in the templates); deploy them to the region the
environment's config names, which is what its checks (e.g. Bedrock fine-tuning availability) assumed.
"""

from __future__ import annotations

import sys

from aws_cdk import App

from modelsmith_core.config import ConfigError, load_config
from stacks.modelsmith_app import add_compliance_checks, add_stacks


def main() -> None:
    app = App()
    env_name = app.node.try_get_context("env") or "dev"
    try:
        config = load_config(app.node.try_get_context("environments"), env_name)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    add_stacks(app, config)
    add_compliance_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
