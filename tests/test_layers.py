"""The project's layers import one way: tools (``modelsmith``) -> infrastructure (``stacks``, ``statemachines``,
``constructs``) -> core (``modelsmith_core``), and the runtime code (``lambda_src``, ``sagemaker_src``) uses
nothing above the core; each Lambda function imports only its own subpackage and ``lambda_src.shared``.
import-linter checks the packages it can see (pyproject.toml's contracts); ``constructs/`` joins the constructs
library's namespace, which import-linter does not follow, so it is checked here from its source. The cost
function's asset holds the core and no tool."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = {
    "modelsmith",
    "modelsmith_core",
    "stacks",
    "statemachines",
    "constructs",
    "sagemaker_src",
    "lambda_src",
    "tests",
}


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
    assert "Contracts: 5 kept, 0 broken." in result.stdout


def test_the_lambda_contract_names_every_function() -> None:
    """A function left out of the contract's top layer could import another's modules unchecked."""
    contracts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c.get("containers") == ["lambda_src"]]
    functions = {name.strip() for name in contract["layers"][0].split("|")}
    folders = {path.parent.name for path in (REPO_ROOT / "lambda_src").glob("*/handler.py")}
    assert functions == folders and contract["layers"][1:] == ["shared"]


def test_constructs_import_only_the_core() -> None:
    folder, allowed = "constructs", {"constructs", "modelsmith_core"}
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
    assert {"lambda_src/estimate_cost/handler.py", "modelsmith_core/cost.py", "modelsmith_core/prices.json"} <= files
    assert not [name for name in files if name.startswith("modelsmith/")], sorted(files)


IAM_WRITING = {"PolicyStatement", "PolicyDocument", "add_to_policy", "add_to_principal_policy", "add_to_role_policy"}


def iam_writing(source: str) -> set[str]:
    """The IAM-writing names a module's source uses (statements, documents, adding them to a principal)."""
    return {
        node.attr if isinstance(node, ast.Attribute) else node.id
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Attribute, ast.Name))
        and (node.attr if isinstance(node, ast.Attribute) else node.id) in IAM_WRITING
    }


def test_stacks_only_assemble_they_write_no_iam_statement() -> None:
    """Statements live in constructs beside their acknowledgments (constructs/permissions.py); stacks say who acts."""
    found = {
        path.name: sorted(iam_writing(path.read_text()))
        for path in sorted((REPO_ROOT / "stacks").glob("*.py"))
        if iam_writing(path.read_text())
    }
    assert found == {}


def test_negative_control_the_stack_check_sees_a_statement() -> None:
    assert iam_writing("role.add_to_policy(iam.PolicyStatement(actions=['s3:GetObject']))\n") == {
        "add_to_policy",
        "PolicyStatement",
    }
    assert iam_writing("grant(role, read_objects(bucket, why='named per run'))\n") == set()
