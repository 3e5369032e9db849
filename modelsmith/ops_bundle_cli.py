"""Command line of the ops bundle (``python -m modelsmith.ops_bundle ...``; ``app`` is also a typer sub-app).

    build    --env dev [--out dist/ops-bundle-dev] [--no-archive]
    check    --bundle DIR [--bucket NAME [--prefix P]] [--no-lint]
    publish  --bundle DIR --bucket NAME [--prefix P]

Errors print one line (or one per problem) and exit with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from modelsmith import ops_bundle

app = typer.Typer(
    help="Templates and assets for deploying Modelsmith with CloudFormation alone (no CDK, no bootstrap).",
    no_args_is_help=True,
    add_completion=False,
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def environment_of(ctx: typer.Context, env: str | None) -> str:
    """``--env`` of this command, else the ``--env`` of an enclosing command line (``modelsmith --env prod bundle ...``),
    else ``dev``."""
    return env or getattr(ctx.obj, "env", None) or "dev"


@app.command()
def build(
    ctx: typer.Context,
    env: str | None = typer.Option(None, "--env", help="environment from cdk.json (default: dev)"),
    out: Path | None = typer.Option(None, "--out", help="bundle folder (default: dist/ops-bundle-<env>)"),
    archive: bool = typer.Option(True, "--archive/--no-archive", help="also write <out>.tar.gz"),
) -> None:
    """Synthesize the environment's stacks (offline) into a bundle folder, with a manifest and an archive."""
    env = environment_of(ctx, env)
    out = out or Path("dist") / f"ops-bundle-{env}"
    try:
        manifest = ops_bundle.build_bundle(env, out, archive=archive)
    except ops_bundle.BundleError as error:
        _fail(str(error))
    typer.echo(f"Ops bundle {manifest['bundle_version']} of environment '{env}' ({manifest['region']}) in {out}:")
    for stack in manifest["stacks"]:
        site = [
            p["name"] for p in stack["parameters"] if p["group"] and not p["group"].startswith(("Resolved", "Assets"))
        ]
        typer.echo(
            f"  {stack['name']:<36} {stack['template']}" + (f"  site parameters: {', '.join(site)}" if site else "")
        )
    for stack in manifest["omitted_stacks"]:
        typer.echo(f"  {stack['name']:<36} omitted: {stack['reason']}")
    size = sum(asset["bytes"] for asset in manifest["assets"]) / 1e6
    typer.echo(f"  {len(manifest['assets'])} assets, {size:.1f} MB" + (f"; archive {out}.tar.gz" if archive else ""))
    typer.echo(
        f"Next: python -m modelsmith.ops_bundle publish --bundle {out} --bucket <bucket in {manifest['region']}>"
    )


@app.command()
def check(
    bundle: Path = typer.Option(..., "--bundle", help="bundle folder"),
    bucket: str | None = typer.Option(None, "--bucket", help="also check the published assets in this bucket"),
    prefix: str | None = typer.Option(None, "--prefix", help="key prefix used when publishing"),
    lint: bool = typer.Option(True, "--lint/--no-lint", help="run cfn-lint on every template"),
) -> None:
    """Check a bundle offline (manifest, checksums, asset references, parameters, cfn-lint) and, with --bucket,
    that every asset the templates reference is published."""
    try:
        problems = ops_bundle.verify_bundle(bundle)
        if lint:
            problems += ops_bundle.lint_bundle(bundle)
        if bucket:
            problems += ops_bundle.verify_published(bundle, bucket, prefix)
    except ops_bundle.BundleError as error:
        _fail(str(error))
    for problem in problems:
        typer.echo(f"problem: {problem}", err=True)
    if problems:
        _fail(f"{len(problems)} problem(s) in {bundle}")
    manifest = ops_bundle.read_manifest(bundle)
    checked = [
        "checksums",
        "asset references",
        "parameters",
        *(["cfn-lint"] if lint else []),
        *(["published assets"] if bucket else []),
    ]
    typer.echo(
        f"{bundle}: {len(manifest['stacks'])} templates and {len(manifest['assets'])} assets are sound "
        f"({', '.join(checked)})"
    )


@app.command()
def publish(
    bundle: Path = typer.Option(..., "--bundle", help="bundle folder"),
    bucket: str = typer.Option(..., "--bucket", help="an existing bucket in the stacks' region"),
    prefix: str | None = typer.Option(
        None, "--prefix", help="key prefix, ending with '/' (default: the templates' default)"
    ),
) -> None:
    """Upload the bundle's assets and templates (SSE-S3) and print the deploy commands. Uses the shell's AWS credentials."""
    try:
        result = ops_bundle.publish_bundle(bundle, bucket, prefix)
    except ops_bundle.BundleError as error:
        _fail(str(error))
    typer.echo(f"s3://{bucket}/{result.prefix}: {len(result.uploaded)} uploaded, {len(result.unchanged)} already there")
    for name, url in result.template_urls.items():
        typer.echo(f"  {name:<36} {url}")
    typer.echo("Deploy in this order (from the bundle folder):")
    for command in ops_bundle.deploy_commands(ops_bundle.read_manifest(bundle), bucket, result.prefix):
        typer.echo(command)


if __name__ == "__main__":
    app()
