"""The ops bundle: every stack's template and every asset in one folder (and archive), to deploy without CDK.

    python -m modelsmith.ops_bundle build --env dev --out dist/ops-bundle-dev       # offline; also writes .tar.gz
    python -m modelsmith.ops_bundle check --bundle dist/ops-bundle-dev               # offline: cfn-lint, assets, params
    python -m modelsmith.ops_bundle publish --bundle dist/ops-bundle-dev --bucket my-assets [--prefix modelsmith-assets/]
    python -m modelsmith.ops_bundle check --bundle dist/ops-bundle-dev --bucket my-assets   # after publishing

``build`` synthesizes the environment's stacks with :class:`constructs.bundle_synthesizer.BundleStackSynthesizer`
(no bootstrap bucket, version parameter or roles; assets at ``s3://<AssetsBucket>/<AssetsPrefix><key>``) and with
the site-specific values as Parameters (:mod:`stacks.site_parameters`), runs the same cdk-nag checks as ``cdk
synth``, then writes::

    <out>/manifest.json                      version, environment, region, stacks in deploy order (template,
                                             parameters, dependencies, capabilities), assets (file, sha256, key)
    <out>/templates/<stack>.template.json
    <out>/assets/<hash>.zip                  folders zipped deterministically; single files as they are
    <out>.tar.gz                             the folder as a deterministic archive (same sources, same bytes)

``publish`` uploads the assets (and the templates, for the console's "Amazon S3 URL") to a bucket the operator
names, in the stacks' region, with SSE-S3 (AES256): Lambda, EC2 and Bedrock read the assets with their own roles,
which the templates grant ``s3:GetObject`` on exactly those keys and nothing on a key of the operator's.
Needs the shell's AWS credentials; ``build`` and ``check`` make no AWS call.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"
MANIFEST = "manifest.json"
TEMPLATES_DIR = "templates"
ASSETS_DIR = "assets"
BUNDLE_FORMAT = 1
MAX_TEMPLATE_BYTES = 1_000_000  # CloudFormation's limit for a template given by S3 URL
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
_ASSET_KEY = re.compile(r"^[0-9a-f]{64}(?:\.[A-Za-z0-9]+)?")
_BOOTSTRAP_MARKERS = ("cdk-hnb659fds", "BootstrapVersion", "/cdk-bootstrap/", "CheckBootstrapVersion")
_NAMED_IAM = ("RoleName", "ManagedPolicyName", "InstanceProfileName", "UserName", "GroupName")  # custom names
_PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}


class BundleError(Exception):
    """A problem the user can fix (bad environment, synthesis findings, wrong bucket, tampered bundle)."""


# --- build ---------------------------------------------------------------------------------------------------


def load_environment(env_name: str, cdk_json: Path = CDK_JSON) -> tuple[dict[str, Any], Any]:
    """``(context, config)`` of ``env_name`` from ``cdk.json``, as ``app.py`` reads them."""
    from modelsmith_core.config import ConfigError, load_config

    context = json.loads(cdk_json.read_text())["context"]
    try:
        return context, load_config(context.get("environments"), env_name)
    except ConfigError as error:
        raise BundleError(str(error)) from None


def synthesize(config: Any, context: dict[str, Any], assembly_dir: Path) -> Path:
    """Synthesize ``config``'s stacks for the bundle into the cloud assembly ``assembly_dir`` (offline)."""
    from aws_cdk import App

    from constructs.bundle_synthesizer import BundleStackSynthesizer
    from modelsmith.synth_summary import validation_failures
    from stacks.modelsmith_app import add_compliance_checks, add_stacks
    from stacks.site_parameters import add_site_parameters, bundle_config

    app = App(outdir=str(assembly_dir), context=context, default_stack_synthesizer=BundleStackSynthesizer())
    stacks = add_stacks(app, bundle_config(config))
    add_site_parameters(stacks, config)
    add_compliance_checks(app)
    try:
        app.synth()
    except RuntimeError:
        failures = validation_failures(assembly_dir)
        if failures:
            raise BundleError(
                "synthesis found unacknowledged compliance findings:\n  " + "\n  ".join(failures)
            ) from None
        raise
    return assembly_dir


def build_bundle(env_name: str, out_dir: Path, *, cdk_json: Path = CDK_JSON, archive: bool = True) -> dict[str, Any]:
    """Synthesize ``env_name`` and package it into ``out_dir`` (replaced if it holds a previous bundle).

    Returns the manifest. With ``archive``, also writes ``<out_dir>.tar.gz``.
    """
    context, config = load_environment(env_name, cdk_json)
    out_dir = out_dir.resolve()
    if out_dir.exists():
        if any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
            raise BundleError(f"{out_dir}: exists and is not an ops bundle; choose an empty or new folder")
        shutil.rmtree(out_dir)
    with tempfile.TemporaryDirectory(prefix="modelsmith-bundle-") as scratch:
        assembly = synthesize(config, context, Path(scratch) / "cdk.out")
        manifest = package(assembly, out_dir, environment=config.name, region=config.region)
    if archive:
        write_archive(out_dir)
    return manifest


def package(assembly_dir: Path, out_dir: Path, *, environment: str, region: str) -> dict[str, Any]:
    """Copy the templates and assets of a bundle-synthesized cloud assembly into ``out_dir``; write the manifest."""
    from constructs.bundle_synthesizer import ASSETS_FILE_SUFFIX, INTERFACE_METADATA

    assembly = json.loads((assembly_dir / "manifest.json").read_text())
    artifacts = {name: a for name, a in assembly["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    (out_dir / TEMPLATES_DIR).mkdir(parents=True)
    (out_dir / ASSETS_DIR).mkdir()

    stacks: list[dict[str, Any]] = []
    omitted: list[dict[str, str]] = []
    assets: dict[str, dict[str, Any]] = {}
    for artifact_id in _deploy_order(artifacts):
        artifact = artifacts[artifact_id]
        properties = artifact["properties"]
        stack_name = properties.get("stackName", artifact_id)
        template_text = (assembly_dir / properties["templateFile"]).read_text()
        template = json.loads(template_text)
        if not [r for r in template.get("Resources", {}).values() if r["Type"] != "AWS::CDK::Metadata"]:
            omitted.append({"name": stack_name, "reason": "no resources (an existing VPC is imported, not created)"})
            continue
        template_file = f"{TEMPLATES_DIR}/{stack_name}.template.json"
        (out_dir / template_file).write_text(template_text)
        listing = json.loads((assembly_dir / f"{artifact_id}{ASSETS_FILE_SUFFIX}").read_text())
        for asset in listing:
            entry = assets.get(asset["key"])
            if entry is None:
                source = Path(asset["path"]) if Path(asset["path"]).is_absolute() else assembly_dir / asset["path"]
                target = out_dir / ASSETS_DIR / asset["key"]
                if asset["packaging"] == "zip":
                    zip_directory(source, target)
                else:
                    shutil.copyfile(source, target)
                entry = assets[asset["key"]] = {
                    "file": f"{ASSETS_DIR}/{asset['key']}",
                    "key": asset["key"],
                    "sha256": sha256_file(target),
                    "bytes": target.stat().st_size,
                    "source_hash": asset["source_hash"],
                    "packaging": asset["packaging"],
                    "description": asset.get("display_name") or "",
                    "used_by": [],
                }
            entry["used_by"].append(stack_name)
        interface = template.get("Metadata", {}).get(INTERFACE_METADATA, {})
        stacks.append(
            {
                "name": stack_name,
                "template": template_file,
                "sha256": sha256_file(out_dir / template_file),
                "description": template.get("Description", ""),
                "dependencies": sorted(
                    artifacts[d]["properties"].get("stackName", d)
                    for d in artifact.get("dependencies", [])
                    if d in artifacts
                ),
                "parameters": _parameters(template, interface),
                "capabilities": _capabilities(template),
                "termination_protection": bool(properties.get("terminationProtection")),
                "tags": properties.get("tags", {}),
            }
        )
    omitted_names = {stack["name"] for stack in omitted}
    for stack in stacks:
        stack["dependencies"] = [name for name in stack["dependencies"] if name not in omitted_names]

    content = hashlib.sha256()
    for stack in stacks:
        content.update(f"{stack['template']}\0{stack['sha256']}\n".encode())
    for key in sorted(assets):
        content.update(f"{key}\0{assets[key]['sha256']}\n".encode())
    content_hash = content.hexdigest()
    commit, dirty = _git_state()
    if commit and not dirty:
        version = commit[:12]
    elif commit:
        version = f"{commit[:12]}-dirty-{content_hash[:8]}"
    else:
        version = f"content-{content_hash[:12]}"
    from constructs.bundle_synthesizer import DEFAULT_ASSETS_PREFIX

    manifest = {
        "format": BUNDLE_FORMAT,
        "bundle_version": version,
        "git_commit": commit,
        "git_dirty": dirty,
        "content_sha256": content_hash,
        "environment": environment,
        "region": region,
        "assets_prefix_default": DEFAULT_ASSETS_PREFIX,
        "stacks": stacks,
        "omitted_stacks": omitted,
        "assets": [assets[key] for key in sorted(assets)],
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _deploy_order(artifacts: dict[str, dict[str, Any]]) -> list[str]:
    """Stack artifact IDs with every stack after the stacks it depends on (ties kept in assembly order)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise BundleError(f"stack dependency cycle through {name}")
        visiting.add(name)
        for dependency in artifacts[name].get("dependencies", []):
            if dependency in artifacts:
                visit(dependency)
        visiting.discard(name)
        order.append(name)

    for name in artifacts:
        visit(name)
    return order


def _parameters(template: dict[str, Any], interface: dict[str, Any]) -> list[dict[str, Any]]:
    groups = {
        name: group["Label"]["default"]
        for group in interface.get("ParameterGroups", [])
        for name in group["Parameters"]
    }
    labels = {name: label["default"] for name, label in interface.get("ParameterLabels", {}).items()}
    result = []
    for name, spec in template.get("Parameters", {}).items():
        entry = {
            "name": name,
            "type": spec["Type"],
            "description": spec.get("Description", ""),
            "group": groups.get(name),
            "label": labels.get(name),
        }
        if "Default" in spec:
            entry["default"] = spec["Default"]
        result.append(entry)
    return result


def _capabilities(template: dict[str, Any]) -> list[str]:
    """What ``aws cloudformation deploy`` must acknowledge: IAM resources, and custom names on them."""
    iam = [r for r in template.get("Resources", {}).values() if r["Type"].startswith("AWS::IAM::")]
    if not iam:
        return []
    named = any(key in r.get("Properties", {}) for r in iam for key in _NAMED_IAM)
    return ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"] if named else ["CAPABILITY_IAM"]


def _git_state() -> tuple[str | None, bool]:
    """``(commit, dirty)`` of the repository, or ``(None, False)`` outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, False
    return commit or None, bool(status.strip())


# --- files -----------------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    """``(archive name, path)`` of every file under ``folder``, sorted, following links to files."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file():
                yield path.relative_to(folder).as_posix(), path


def _mode(path: Path) -> int:
    return 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644


def zip_directory(folder: Path, target: Path) -> None:
    """Zip ``folder``'s files into ``target``: sorted entries, fixed dates and modes, so same files, same bytes."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, path in _files(folder):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.create_system = 3  # Unix, so the permission bits below are honoured
            info.external_attr = (stat.S_IFREG | _mode(path)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as source, archive.open(info, "w") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)


def write_archive(bundle_dir: Path) -> Path:
    """``<bundle_dir>.tar.gz`` holding ``<bundle_dir name>/...``: sorted entries, zero times and owners."""
    target = bundle_dir.with_name(f"{bundle_dir.name}.tar.gz")
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) as zipped,
    ):
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for name, path in _files(bundle_dir):
                info = tarfile.TarInfo(f"{bundle_dir.name}/{name}")
                info.size, info.mtime, info.mode = path.stat().st_size, 0, _mode(path)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with path.open("rb") as source:
                    archive.addfile(info, source)
    return target


# --- check ------------------------------------------------------------------------------------------------------


def read_manifest(bundle_dir: Path) -> dict[str, Any]:
    path = bundle_dir / MANIFEST
    if not path.is_file():
        raise BundleError(f"{bundle_dir}: no {MANIFEST}; build a bundle with `python -m modelsmith.ops_bundle build`")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: bundle format {manifest.get('format')!r}, this tool reads {BUNDLE_FORMAT}")
    return manifest


def referenced_asset_keys(template: Any) -> set[str]:
    """Keys the template addresses under ``AssetsPrefix`` (``{"Ref": "AssetsPrefix"}`` then ``<hash>[.ext]...``)."""
    from constructs.bundle_synthesizer import ASSETS_PREFIX_PARAMETER

    keys: set[str] = set()
    prefix = {"Ref": ASSETS_PREFIX_PARAMETER}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if item == prefix:
                    following = value[index + 1] if index + 1 < len(value) else None
                    match = _ASSET_KEY.match(following) if isinstance(following, str) else None
                    keys.add(match.group(0) if match else f"<unreadable key after AssetsPrefix: {following!r}>")
                walk(item)
        elif isinstance(value, str) and f"${{{ASSETS_PREFIX_PARAMETER}}}" in value:
            keys.add(f"<AssetsPrefix inside Fn::Sub, not checkable: {value[:80]!r}>")

    walk(template)
    return keys


def undeclared_references(template: dict[str, Any]) -> set[str]:
    """Names the template ``Ref``s that are neither its parameters, its resources nor pseudo parameters."""
    declared = set(template.get("Parameters", {})) | set(template.get("Resources", {})) | _PSEUDO_PARAMETERS
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if set(value) == {"Ref"} and isinstance(value["Ref"], str) and value["Ref"] not in declared:
                found.add(value["Ref"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(template)
    return found


def verify_bundle(bundle_dir: Path) -> list[str]:
    """Every problem that would stop the bundle deploying as documented; empty when it is sound (offline)."""
    from constructs.bundle_synthesizer import ASSETS_BUCKET_PARAMETER, INTERFACE_METADATA

    manifest = read_manifest(bundle_dir)
    problems: list[str] = []
    assets = {asset["key"]: asset for asset in manifest["assets"]}
    for asset in manifest["assets"]:
        path = bundle_dir / asset["file"]
        if not path.is_file():
            problems.append(f"{asset['file']}: missing")
        elif sha256_file(path) != asset["sha256"]:
            problems.append(f"{asset['file']}: sha256 differs from the manifest (changed after build)")
    used: set[str] = set()
    for stack in manifest["stacks"]:
        path = bundle_dir / stack["template"]
        if not path.is_file():
            problems.append(f"{stack['template']}: missing")
            continue
        text = path.read_text()
        where = stack["template"]
        if sha256_file(path) != stack["sha256"]:
            problems.append(f"{where}: sha256 differs from the manifest (changed after build)")
        if len(text.encode()) > MAX_TEMPLATE_BYTES:
            problems.append(f"{where}: {len(text.encode())} bytes, over CloudFormation's {MAX_TEMPLATE_BYTES}")
        problems += [
            f"{where}: mentions {marker!r} (a CDK bootstrap assumption)"
            for marker in _BOOTSTRAP_MARKERS
            if marker in text
        ]
        template = json.loads(text)
        keys = referenced_asset_keys(template)
        used |= keys
        problems += [f"{where}: references asset {key}, not in the bundle" for key in sorted(keys) if key not in assets]
        if keys and ASSETS_BUCKET_PARAMETER not in template.get("Parameters", {}):
            problems.append(f"{where}: references assets but has no {ASSETS_BUCKET_PARAMETER} parameter")
        problems += [f"{where}: Ref {name} is not declared" for name in sorted(undeclared_references(template))]
        interface = template.get("Metadata", {}).get(INTERFACE_METADATA, {})
        grouped = {name for group in interface.get("ParameterGroups", []) for name in group["Parameters"]}
        for name, spec in template.get("Parameters", {}).items():
            if not spec.get("Description"):
                problems.append(f"{where}: parameter {name} has no description")
            if name not in grouped or name not in interface.get("ParameterLabels", {}):
                problems.append(f"{where}: parameter {name} is not grouped and labelled in {INTERFACE_METADATA}")
        for name in stack["dependencies"]:
            if name not in [s["name"] for s in manifest["stacks"][: manifest["stacks"].index(stack)]]:
                problems.append(f"{where}: depends on {name}, which is not deployed before it")
    problems += [f"{key}: in the bundle but no template references it" for key in sorted(set(assets) - used)]
    return problems


def lint_bundle(bundle_dir: Path) -> list[str]:
    """cfn-lint errors and warnings of every template in the manifest's region (informational rules left out)."""
    from cfnlint.api import ManualArgs, lint

    manifest = read_manifest(bundle_dir)
    findings = []
    for stack in manifest["stacks"]:
        matches = lint((bundle_dir / stack["template"]).read_text(), config=ManualArgs(regions=[manifest["region"]]))
        findings += [
            f"{stack['template']}: {m.rule.id} {m.message} (line {m.linenumber})"
            for m in matches
            if m.rule.id[0] in "EW"
        ]
    return findings


# --- publish ----------------------------------------------------------------------------------------------------


@dataclass
class PublishResult:
    """What ``publish`` did: uploaded and already present keys, template URLs, the parameter values to pass."""

    bucket: str
    prefix: str
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    template_urls: dict[str, str] = field(default_factory=dict)

    @property
    def parameter_overrides(self) -> dict[str, str]:
        from constructs.bundle_synthesizer import ASSETS_BUCKET_PARAMETER, ASSETS_PREFIX_PARAMETER

        return {ASSETS_BUCKET_PARAMETER: self.bucket, ASSETS_PREFIX_PARAMETER: self.prefix}


def _check_prefix(prefix: str) -> str:
    if prefix and (
        not prefix.endswith("/") or prefix.startswith("/") or not re.match(r"^[A-Za-z0-9!_.*'()/-]*$", prefix)
    ):
        raise BundleError(
            f"--prefix {prefix!r}: empty, or letters, digits and !_.*'()/- ending with '/' (not starting with it)"
        )
    return prefix


def bucket_region(s3: Any, bucket: str) -> str:
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def publish_bundle(bundle_dir: Path, bucket: str, prefix: str | None = None, *, s3: Any = None) -> PublishResult:
    """Upload the bundle's assets and templates to ``s3://bucket/prefix``; skip objects already there unchanged.

    Every asset is verified against the manifest first (nothing is uploaded from a changed bundle). The bucket must
    be in the manifest's region (Lambda reads code only from its own region). Objects are written with SSE-S3.
    """
    problems = [p for p in verify_bundle(bundle_dir) if "sha256" in p or "missing" in p]
    if problems:
        raise BundleError("the bundle changed after it was built; rebuild it:\n  " + "\n  ".join(problems))
    manifest = read_manifest(bundle_dir)
    prefix = _check_prefix(manifest["assets_prefix_default"] if prefix is None else prefix)
    if s3 is None:
        import boto3

        s3 = boto3.client("s3", region_name=manifest["region"])
    region = bucket_region(s3, bucket)
    if region != manifest["region"]:
        raise BundleError(
            f"bucket {bucket} is in {region}; the {manifest['environment']} stacks deploy to "
            f"{manifest['region']}, and Lambda reads code only from a bucket in its own region"
        )
    result = PublishResult(bucket=bucket, prefix=prefix)
    uploads = [(prefix + asset["key"], bundle_dir / asset["file"], asset["sha256"]) for asset in manifest["assets"]]
    template_prefix = f"{prefix}templates/{manifest['bundle_version']}/"
    for stack in manifest["stacks"]:
        key = template_prefix + Path(stack["template"]).name
        uploads.append((key, bundle_dir / stack["template"], stack["sha256"]))
        result.template_urls[stack["name"]] = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
    for key, path, digest in uploads:
        if _stored_sha256(s3, bucket, key) == digest:
            result.unchanged.append(key)
            continue
        s3.upload_file(
            str(path), bucket, key, ExtraArgs={"ServerSideEncryption": "AES256", "Metadata": {"sha256": digest}}
        )
        result.uploaded.append(key)
    return result


def _stored_sha256(s3: Any, bucket: str, key: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def verify_published(bundle_dir: Path, bucket: str, prefix: str | None = None, *, s3: Any = None) -> list[str]:
    """Every asset the templates reference that is missing from ``s3://bucket/prefix`` or differs from the bundle."""
    manifest = read_manifest(bundle_dir)
    prefix = _check_prefix(manifest["assets_prefix_default"] if prefix is None else prefix)
    if s3 is None:
        import boto3

        s3 = boto3.client("s3", region_name=manifest["region"])
    problems = []
    for stack in manifest["stacks"]:
        for key in sorted(referenced_asset_keys(json.loads((bundle_dir / stack["template"]).read_text()))):
            digest = next((a["sha256"] for a in manifest["assets"] if a["key"] == key), None)
            stored = _stored_sha256(s3, bucket, prefix + key)
            if stored is None:
                problems.append(f"{stack['name']}: s3://{bucket}/{prefix}{key} does not exist")
            elif stored != digest:
                problems.append(f"{stack['name']}: s3://{bucket}/{prefix}{key} differs from the bundle")
    return problems


def deploy_commands(manifest: dict[str, Any], bucket: str, prefix: str) -> list[str]:
    """``aws cloudformation deploy`` command lines, in deploy order, with the assets and site parameters (their
    defaults, or ``<label>`` where the operator must give a value)."""
    commands = []
    for stack in manifest["stacks"]:
        overrides = []
        for parameter in stack["parameters"]:
            if parameter["name"] == "AssetsBucket":
                overrides.append(f"AssetsBucket={bucket}")
            elif parameter["name"] == "AssetsPrefix":
                overrides.append(f"AssetsPrefix={prefix}")
            elif parameter["group"] and not parameter["group"].startswith(("Resolved", "Assets")):
                value = parameter["default"] if "default" in parameter else f"<{parameter['label']}>"
                overrides.append(f"{parameter['name']}={value}")
        lines = [
            f"aws cloudformation deploy --region {manifest['region']} --stack-name {stack['name']}",
            f"  --template-file {stack['template']} --s3-bucket {bucket} --s3-prefix {prefix}templates",
        ]
        if stack["capabilities"]:
            lines.append(f"  --capabilities {' '.join(stack['capabilities'])}")
        if overrides:
            lines.append("  --parameter-overrides " + " ".join(f"'{item}'" for item in overrides))
        if stack["tags"]:
            lines.append("  --tags " + " ".join(f"'{k}={v}'" for k, v in sorted(stack["tags"].items())))
        commands.append(" \\\n".join(lines))
        if stack["termination_protection"]:
            commands.append(
                f"aws cloudformation update-termination-protection --region {manifest['region']} "
                f"--stack-name {stack['name']} --enable-termination-protection"
            )
    return commands


if __name__ == "__main__":
    from modelsmith.ops_bundle_cli import app

    app()
