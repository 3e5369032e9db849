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
    assert properties["Runtime"] == RUNTIME.name
    assert properties["Handler"] == "lambda_src.build_pairs.handler.lambda_handler"
    assert properties["TracingConfig"] == {"Mode": "Active"} and properties["ReservedConcurrentExecutions"] == 5
    assert properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "build_pairs"
    assert len(properties["Layers"]) == 1  # vendored dependencies; the shared code is in the function's code
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 7})
    (role,) = template.find_resources("AWS::IAM::Role").values()
    assert "ManagedPolicyArns" not in role["Properties"]


def test_function_without_requirements_gets_no_dependency_layer(stack: Stack, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "__init__.py").write_text("")
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


def _asset_files(stack: Stack, function: PythonFunction) -> set[str]:
    assembly = stack.node.root.synth()
    key = Template.from_stack(stack).to_json()["Resources"][stack.get_logical_id(function.function.node.default_child)][
        "Properties"
    ]["Code"]["S3Key"]
    asset = Path(assembly.directory) / f"asset.{key.removesuffix('.zip')}"
    return {path.relative_to(asset).as_posix() for path in asset.rglob("*") if path.is_file()}


def test_the_code_is_the_package_with_its_bundled_folders(stack: Stack) -> None:
    function = _function(
        stack,
        "validate_input",
        shared_code=True,
        bundled_directories={"schemas": python_function.REPO_ROOT / "statemachines" / "schemas"},
        bundled_packages=[python_function.REPO_ROOT / "modelsmith_core"],
    )
    files = _asset_files(stack, function)
    assert {
        "lambda_src/__init__.py",
        "lambda_src/validate_input/__init__.py",
        "lambda_src/validate_input/handler.py",
        "lambda_src/validate_input/schemas/lora_training.schema.json",
        "lambda_src/shared/run_storage.py",
        "modelsmith_core/naming.py",
    } <= files
    assert not [name for name in files if name.endswith((".pyc", "requirements.txt"))]
    others = {path.parent.name for path in python_function.LAMBDA_SOURCE_ROOT.glob("*/handler.py")} - {"validate_input"}
    assert not [name for name in files if name.split("/")[1] in others]


def test_without_shared_code_the_code_holds_only_the_function(stack: Stack) -> None:
    files = _asset_files(stack, _function(stack, "endpoint_watch"))
    assert {name.split("/")[1] for name in files} == {"__init__.py", "endpoint_watch"}
