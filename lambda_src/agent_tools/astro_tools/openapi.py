"""The action group's OpenAPI schema, generated from the typed routes in :mod:`astro_tools.api`.

    cd lambda_src/agent_tools
    python -m astro_tools.openapi            # rewrite openapi.json after changing a route
    python -m astro_tools.openapi --check    # exit 1 if the committed openapi.json is out of date

The committed file is what the CDK app deploys; ``tests/lambda_src/agent_tools/test_openapi.py`` fails when
it differs from what the routes generate, and validates it as OpenAPI 3.0.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "openapi.json"
OPENAPI_VERSION = "3.0.0"


def generate() -> str:
    """The schema as committed: pretty-printed JSON with sorted keys and a final newline."""
    from lambda_src.agent_tools.astro_tools.api import DESCRIPTION, TITLE, VERSION, app

    schema = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION, description=DESCRIPTION))
    # Bedrock agents: "openapi – (Required) The version of OpenAPI that's being used. This value must be "3.0.0"
    # for the action group to work." (https://docs.aws.amazon.com/bedrock/latest/userguide/agents-api-schema.html)
    return json.dumps({**to_openapi_30(schema), "openapi": OPENAPI_VERSION}, indent=2, sort_keys=True) + "\n"


def to_openapi_30(node: Any) -> Any:
    """Finish Powertools' 3.1-to-3.0 conversion where it stops short of what OpenAPI 3.0 and Bedrock accept.

    - ``Optional[X]`` leaves ``anyOf: [X]`` beside ``nullable``; Bedrock wants a ``type`` on each parameter, so
      the single alternative is merged into the schema;
    - pydantic writes ``exclusiveMinimum``/``exclusiveMaximum`` as numbers (3.1); in 3.0 they are booleans
      qualifying ``minimum``/``maximum``.
    """
    if isinstance(node, list):
        return [to_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: to_openapi_30(value) for key, value in node.items()}
    alternatives = node.get("anyOf")
    if isinstance(alternatives, list) and len(alternatives) == 1 and isinstance(alternatives[0], dict):
        merged = {**alternatives[0], **{key: value for key, value in node.items() if key != "anyOf"}}
        node = merged
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        bound = node.get(exclusive)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool):
            node[inclusive], node[exclusive] = bound, True
    return node


def write_or_check(
    argv: list[str] | None, path: Path, generate_file: Callable[[], str], module: str, summary: str
) -> int:
    """The command line of a generated, committed file: rewrite ``path``, or with ``--check`` exit 1 when it differs."""
    parser = argparse.ArgumentParser(description=summary)
    parser.add_argument("--check", action="store_true", help="only compare with the committed file")
    arguments = parser.parse_args(argv)
    generated = generate_file()
    if arguments.check:
        if not path.exists() or path.read_text() != generated:
            print(f"{path} is out of date; run: python -m {module}", file=sys.stderr)
            return 1
        return 0
    path.write_text(generated)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return write_or_check(
        argv, SCHEMA_PATH, generate, "lambda_src.agent_tools.astro_tools.openapi", (__doc__ or "").splitlines()[0]
    )


if __name__ == "__main__":
    sys.exit(main())
