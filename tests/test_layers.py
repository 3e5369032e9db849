"""The project's layers import one way: tools (``modelsmith``) -> infrastructure (``stacks``, ``statemachines``,
``constructs``) -> core (``modelsmith_core``), and the runtime code (``lambda_src``, ``sagemaker_src``) uses
nothing above the core. import-linter checks the packages it can see (pyproject.toml's contracts); ``constructs/``
joins the constructs library's namespace, which import-linter does not follow, and ``lambda_src/`` is folders of
modules, so both are checked here from their source. The cost function's asset holds the core and no tool."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = {"modelsmith", "modelsmith_core", "stacks", "statemachines", "constructs", "sagemaker_src", "tests"}


def project_imports(source: str) -> set[str]:
    """The project packages a module's source imports (top-level names; ``constructs`` only for the project's
    own construct modules, not ``from constructs import Construct``)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = (
                [node.module]
                if node.module != "constructs" or {a.name for a in node.names} - {"Construct", "IConstruct"}
                else []
            )
        else:
            continue
        found |= {name.split(".")[0] for name in names if name.split(".")[0] in PROJECT_PACKAGES}
    return found


def test_import_linter_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("folder", "allowed"),
    [("constructs", {"constructs", "modelsmith_core"}), ("lambda_src", {"modelsmith_core"})],
)
def test_constructs_and_lambda_code_import_only_the_core(folder: str, allowed: set[str]) -> None:
    wrong = {}
    for path in sorted((REPO_ROOT / folder).rglob("*.py")):
        imported = project_imports(path.read_text(encoding="utf-8")) - allowed
        if imported:
            wrong[path.relative_to(REPO_ROOT).as_posix()] = sorted(imported)
    assert not wrong


def test_negative_control_the_source_check_sees_a_tool_import() -> None:
    assert project_imports("from constructs import Construct\nfrom modelsmith_core import naming\n") == {
        "modelsmith_core"
    }
    assert project_imports("from modelsmith.dry_run import DryRun\n") == {"modelsmith"}
    assert project_imports("from constructs.compliance import acknowledge\n") == {"constructs"}


def test_the_cost_functions_asset_holds_the_core_and_no_tool(tmp_path: Path) -> None:
    from aws_cdk import App

    from modelsmith_core.config import load_config
    from stacks.foundation_stack import FoundationStack
    from stacks.retrieval_pipeline_stack import RetrievalPipelineStack

    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    app = App(outdir=str(tmp_path), context=context)
    config = load_config(context["environments"], "dev")
    foundation = FoundationStack(app, "Modelsmith-dev-Foundation", config=config)
    stack = RetrievalPipelineStack(app, "Modelsmith-dev-RetrievalPipeline", config=config, foundation=foundation)
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    (function,) = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
        == "estimate_cost"
    ]
    asset = tmp_path / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    files = {path.relative_to(asset).as_posix() for path in asset.rglob("*") if path.is_file()}
    assert {"handler.py", "modelsmith_core/cost.py", "modelsmith_core/prices.json"} <= files
    assert not [name for name in files if name.startswith("modelsmith/")], sorted(files)
