"""Shared fixtures: the app of every environment in cdk.json, synthesized once per test session.

The app is built with the same functions ``app.py`` calls and the same context (feature flags included)
``cdk.json`` gives the CLI, so the templates under test are the ones ``cdk synth`` writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from modelsmith_core.config import EnvironmentConfig, load_config
from stacks.modelsmith_app import ModelsmithStacks, add_compliance_checks, add_stacks

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_CONTEXT: dict = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
ENVIRONMENTS: list[str] = sorted(CDK_CONTEXT["environments"])


@dataclass(frozen=True)
class SynthesizedEnvironment:
    """One environment's app after synthesis (cdk-nag has run; synthesis fails on any finding)."""

    config: EnvironmentConfig
    stacks: ModelsmithStacks
    assembly_dir: Path

    def template_path(self, stack_name: str) -> Path:
        return self.assembly_dir / f"{stack_name}.template.json"

    def template_json(self, stack_name: str) -> dict:
        return json.loads(self.template_path(stack_name).read_text())

    def template(self, stack_name: str) -> Template:
        return Template.from_json(self.template_json(stack_name))

    @property
    def template_paths(self) -> list[Path]:
        return [self.template_path(stack.stack_name) for stack in self.stacks.all()]


def synthesize_environment(env_name: str, outdir: Path) -> SynthesizedEnvironment:
    app = App(outdir=str(outdir), context=CDK_CONTEXT)
    config = load_config(CDK_CONTEXT["environments"], env_name)
    stacks = add_stacks(app, config)
    add_compliance_checks(app)
    app.synth()
    return SynthesizedEnvironment(config=config, stacks=stacks, assembly_dir=outdir)


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def synthesized(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    """Each environment of cdk.json, synthesized once per session (tests using it run per environment)."""
    return synthesize_environment(request.param, tmp_path_factory.mktemp(f"cdk-{request.param}"))


@pytest.fixture(scope="session")
def all_environments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SynthesizedEnvironment]:
    """Every environment at once, for checks that scan all templates together (checkov)."""
    return {name: synthesize_environment(name, tmp_path_factory.mktemp(f"cdk-all-{name}")) for name in ENVIRONMENTS}


@pytest.fixture
def environments_context() -> dict:
    """A fresh copy of cdk.json's ``environments`` for tests that break it on purpose."""
    return json.loads(json.dumps(CDK_CONTEXT["environments"]))


@pytest.fixture
def stack() -> Stack:
    """An empty stack in an app with cdk.json's feature flags, for construct-level tests."""
    return Stack(App(context=CDK_CONTEXT), "Test")
