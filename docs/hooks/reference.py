"""MkDocs hook: the reference pages, generated from the code when the site is built.

A page holding ``<!-- reference:cli -->``, ``<!-- reference:config -->`` or ``<!-- reference:workflows -->``
gets, in its place, the command line (from the typer application), the configuration keys (from the Pydantic
schema of an environment) or the workflow inputs (from ``statemachines/schemas/*.schema.json``). Nothing is
written to ``docs/``: the reference cannot go stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def on_page_markdown(markdown: str, **_: Any) -> str:
    for marker, render in (("cli", cli_reference), ("config", config_reference), ("workflows", workflow_inputs)):
        tag = f"<!-- reference:{marker} -->"
        if tag in markdown:
            markdown = markdown.replace(tag, render())
    return markdown


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|") if text not in (None, "") else ""


def cli_reference() -> str:
    """Each command's help, usage and options, as ``--help`` prints them (click's own help records)."""
    import typer

    from modelsmith.cli import app

    lines: list[str] = []

    def visit(command: Any, path: list[str]) -> None:
        context = command.context_class(command, info_name=" ".join(path))
        if path[1:]:
            lines.extend([f"{'#' * min(len(path), 4)} `{' '.join(path)}`", ""])
        if command.help:
            lines.extend([command.help.split("\f")[0].strip(), ""])
        lines.extend([f"`{command.get_usage(context).removeprefix('Usage: ')}`", ""])
        records = [parameter.get_help_record(context) for parameter in command.params]
        records = [record for record in records if record and record[0] != "--help"]
        if records:
            lines.extend(["| option | what it does |", "| --- | --- |"])
            lines.extend(f"| `{_cell(name)}` | {_cell(text)} |" for name, text in records)
            lines.append("")
        for child in sorted(getattr(command, "commands", {})):
            visit(command.commands[child], [*path, child])

    visit(typer.main.get_command(app), ["modelsmith"])
    return "\n".join(lines)


def config_reference() -> str:
    from modelsmith_core.config import EnvironmentConfig

    schema = EnvironmentConfig.model_json_schema()
    definitions = schema.get("$defs", {})
    lines: list[str] = []

    def table(title: str, node: dict[str, Any], prefix: str) -> None:
        nested: list[tuple[str, dict[str, Any], str]] = []
        rows = []
        for key, spec in node.get("properties", {}).items():
            target = _resolve(spec, definitions)
            if target is not None and "properties" in target:
                nested.append((f"{prefix}{key}", target, f"{prefix}{key}."))
                continue
            rows.append(
                f"| `{prefix}{key}` | {_cell(_type(spec, definitions))} | {_cell(_default(spec))} | "
                f"{_cell(spec.get('description', ''))} |"
            )
        if rows:
            lines.extend([f"## {title}", ""])
            if node.get("description"):  # the section's docstring: what its keys mean
                lines.extend([node["description"].strip(), ""])
            lines.extend(["| key | type | default | meaning |", "| --- | --- | --- | --- |", *rows, ""])
        for name, target, sub_prefix in nested:
            table(f"`{name}`", target, sub_prefix)

    table("Top level", schema, "")
    return "\n".join(lines)


def _resolve(spec: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any] | None:
    reference = spec.get("$ref") or next(
        (s.get("$ref") for s in spec.get("anyOf", []) + spec.get("allOf", []) if "$ref" in s), None
    )
    return definitions.get(reference.rsplit("/", 1)[-1]) if reference else None


def _type(spec: dict[str, Any], definitions: dict[str, Any]) -> str:
    if "enum" in spec:
        return " \\| ".join(json.dumps(value) for value in spec["enum"])
    if "anyOf" in spec:
        return " or ".join(_type(option, definitions) for option in spec["anyOf"])
    if "$ref" in spec:
        target = definitions.get(spec["$ref"].rsplit("/", 1)[-1], {})
        return _type(target, definitions) if "enum" in target else target.get("title", "object")
    kind = spec.get("type", "any")
    if kind == "array" and "items" in spec:
        return f"list of {_type(spec['items'], definitions)}"
    bounds = [
        f"{word} {spec[key]}"
        for key, word in (("minimum", "≥"), ("maximum", "≤"), ("exclusiveMinimum", ">"))
        if key in spec
    ]
    return f"{kind} ({', '.join(bounds)})" if bounds else str(kind)


def _default(spec: dict[str, Any]) -> str:
    return f"`{json.dumps(spec['default'])}`" if "default" in spec else ""


def workflow_inputs() -> str:
    lines: list[str] = []
    for path in sorted((REPO_ROOT / "statemachines" / "schemas").glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        required = set(schema.get("required", []))
        lines.extend([f"## {schema.get('title', path.stem)}", "", _cell(schema.get("description", "")), ""])
        lines.extend(["| field | type | required | default | meaning |", "| --- | --- | --- | --- | --- |"])
        for key, spec in schema.get("properties", {}).items():
            lines.append(
                f"| `{key}` | {_cell(_type(spec, {}))} | {'yes' if key in required else ''} | {_cell(_default(spec))} | "
                f"{_cell(spec.get('description', ''))} |"
            )
        lines.append("")
    return "\n".join(lines)
