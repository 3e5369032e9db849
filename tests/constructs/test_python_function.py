"""PythonFunction: the one way to add a function: runtime, layers, logs, role, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

import constructs.python_function as python_function
from constructs.python_function import RUNTIME, PythonFunction


def _function(stack: Stack, source: str, **props) -> PythonFunction:
    return PythonFunction(
        stack,
        "Fn",
        source=source,
        description="test",
        encryption_key=kms.Key(stack, "Key"),
        log_retention=logs.RetentionDays.ONE_WEEK,
        **props,
    )


def test_function_defaults(stack: Stack) -> None:
    _function(stack, "build_pairs", shared_code=True)
    template = Template.from_stack(stack)
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    properties = function["Properties"]
    assert properties["Runtime"] == RUNTIME.name and properties["Handler"] == "handler.lambda_handler"
    assert properties["TracingConfig"] == {"Mode": "Active"} and properties["ReservedConcurrentExecutions"] == 5
    assert properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "build_pairs"
    assert len(properties["Layers"]) == 2  # vendored dependencies and the shared code
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 7})
    (role,) = template.find_resources("AWS::IAM::Role").values()
    assert "ManagedPolicyArns" not in role["Properties"]


def test_function_without_requirements_gets_no_dependency_layer(stack: Stack, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "handler.py").write_text("def lambda_handler(event, context):\n    return event\n")
    monkeypatch.setattr(python_function, "LAMBDA_SOURCE_ROOT", tmp_path)
    _function(stack, "plain")
    (function,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    assert "Layers" not in function["Properties"]


def test_missing_handler_is_refused(stack: Stack) -> None:
    with pytest.raises(ValueError, match="has no handler.py"):
        _function(stack, "no_such_function")


def test_unvendored_requirements_say_how_to_fix(stack: Stack, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "needs").mkdir()
    (tmp_path / "needs" / "handler.py").write_text("def lambda_handler(event, context):\n    return event\n")
    (tmp_path / "needs" / "requirements.txt").write_text("# comment\nrequests==2.32.0\n")
    monkeypatch.setattr(python_function, "LAMBDA_SOURCE_ROOT", tmp_path)
    monkeypatch.setattr(python_function, "LAMBDA_DEPS_ROOT", tmp_path / "deps")
    with pytest.raises(ValueError, match="run `make setup`"):
        _function(stack, "needs")


def test_bundled_directories_ship_with_the_code(stack: Stack, tmp_path: Path) -> None:
    function = _function(
        stack,
        "validate_input",
        bundled_directories={"schemas": python_function.REPO_ROOT / "statemachines" / "schemas"},
    )
    assembly = stack.node.root.synth()
    asset_dirs = [p for p in Path(assembly.directory).glob("asset.*") if (p / "input_validation.py").exists()]
    assert asset_dirs and (asset_dirs[0] / "schemas" / "lora_training.schema.json").exists()
    assert function.function is not None
