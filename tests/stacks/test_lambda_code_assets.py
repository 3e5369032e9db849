"""Every function's code imports on its own, by its Handler, the way the Lambda runtime imports it.

The Python runtime's bootstrap (awslambdaric ``bootstrap._get_handler``) splits the Handler at its last dot and
calls ``importlib.import_module(modname.replace("/", "."))`` with the code's root (``/var/task``) on the path.
Here each synthesized asset directory is put first on the path of a fresh interpreter, the repository is taken
off it, and the handler is imported the same way: a module the asset lacks (shared code not shipped, a bundled
package missing, another function's module) fails here as it would on Lambda. Third-party packages come from
this environment, standing in for the function's dependency layer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

IMPORT_AS_LAMBDA_DOES = """
import importlib, json, os, sys
from pathlib import Path

repository = Path(sys.argv[1]).resolve()
base_path = [p for p in sys.path if p and Path(p).resolve() != repository]
results = {}
for function in json.loads(sys.stdin.read()):
    for name in [n for n in sys.modules if n.split(".")[0] in ("lambda_src", "modelsmith_core")]:
        del sys.modules[name]
    sys.path[:] = [function["code"], *base_path]
    os.environ.update(function["environment"])
    modname, fname = function["handler"].rsplit(".", 1)
    try:
        module = importlib.import_module(modname.replace("/", "."))
        handler = getattr(module, fname)
        where = Path(module.__file__).resolve()
        results[function["id"]] = (
            "ok" if callable(handler) and where.is_relative_to(Path(function["code"]).resolve()) else f"from {where}"
        )
    except Exception as error:
        results[function["id"]] = f"{type(error).__name__}: {error}"
print(json.dumps(results))
"""


def _placeholder(value: Any) -> str:
    """Environment values that are tokens in the template (Refs, GetAtts) become plain strings."""
    return value if isinstance(value, str) else "placeholder"


def _functions(synthesized) -> list[dict[str, Any]]:
    functions = []
    for stack in synthesized.stacks.all():
        template = synthesized.template_json(stack.stack_name)
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function" or "Handler" not in resource["Properties"]:
                continue
            key = resource["Properties"].get("Code", {}).get("S3Key")
            if not isinstance(key, str):
                continue  # inline code written by CDK itself
            asset = f"asset.{key.removesuffix('.zip')}"
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            functions.append(
                {
                    "id": f"{stack.stack_name}/{logical_id}",
                    "code": str(synthesized.assembly_dir / asset),
                    "handler": resource["Properties"]["Handler"],
                    "environment": {
                        "AWS_DEFAULT_REGION": "us-west-2",
                        "POWERTOOLS_TRACE_DISABLED": "1",
                        **{name: _placeholder(value) for name, value in variables.items()},
                    },
                }
            )
    return functions


def _import_each(functions: list[dict[str, Any]]) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_AS_LAMBDA_DOES, str(REPO_ROOT)],
        input=json.dumps(functions),
        capture_output=True,
        text=True,
        cwd=Path(functions[0]["code"]).parent if functions else None,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_every_project_function_imports_its_handler_from_its_own_code(synthesized) -> None:
    functions = [f for f in _functions(synthesized) if f["handler"].startswith("lambda_src.")]
    assert len({f["handler"] for f in functions}) >= 12, sorted({f["handler"] for f in functions})
    results = _import_each(functions)
    assert {name: outcome for name, outcome in results.items() if outcome != "ok"} == {}


def test_negative_control_code_without_the_shared_package_fails_to_import(synthesized, tmp_path: Path) -> None:
    import shutil

    (function,) = [f for f in _functions(synthesized) if f["handler"].startswith("lambda_src.build_pairs.")][:1]
    code = tmp_path / "code"
    shutil.copytree(function["code"], code)
    shutil.rmtree(code / "lambda_src" / "shared")
    (outcome,) = _import_each([{**function, "code": str(code)}]).values()
    assert outcome.startswith("ModuleNotFoundError: No module named 'lambda_src.shared'"), outcome
