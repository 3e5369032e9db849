"""The ops bundle deploys with CloudFormation alone: no bootstrap, every asset inside, every site value a parameter.

One bundle per environment is built (module-scoped; synthesis and zipping take most of the time), then checked the
way an operator would rely on it: no template mentions CDK's bootstrap bucket, roles or version parameter; every S3
key a template reads code from is in the manifest and on disk with its checksum; every parameter is described and
grouped for the console; cfn-lint is clean; after publishing to (moto) S3 every referenced key resolves.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from moto import mock_aws
from typer.testing import CliRunner

from constructs.bundle_synthesizer import (
    ASSETS_BUCKET_PARAMETER,
    ASSETS_PREFIX_PARAMETER,
    BundleStackSynthesizer,
    DockerAssetsNotSupportedError,
    site_parameter,
)
from modelsmith import ops_bundle
from modelsmith.ops_bundle_cli import app as bundle_cli

CDK_CONTEXT: dict = json.loads((ops_bundle.CDK_JSON).read_text())["context"]
ENVIRONMENTS = sorted(CDK_CONTEXT["environments"])
BOOTSTRAP = re.compile(
    r"cdk-hnb659fds|BootstrapVersion|/cdk-bootstrap/|cdk-[a-z0-9]+-assets-|cdk-[a-z0-9]+-(deploy|cfn-exec)-role"
)
ASSET_KEY = re.compile(r"\b[0-9a-f]{64}\.[A-Za-z0-9]+\b")
CODE_PROPERTIES = {  # resource type -> the property holding an S3 location of code or schema
    "AWS::Lambda::Function": "Code",
    "AWS::Lambda::LayerVersion": "Content",
}


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp(f"bundle-{request.param}") / f"ops-bundle-{request.param}"
    manifest = ops_bundle.build_bundle(request.param, out, archive=request.param == "dev")  # one archive is enough
    return out, manifest


def _templates(bundle_dir: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stack["name"]: json.loads((bundle_dir / stack["template"]).read_text()) for stack in manifest["stacks"]}


def test_no_template_assumes_cdk_bootstrap(bundle) -> None:
    bundle_dir, manifest = bundle
    for name, template in _templates(bundle_dir, manifest).items():
        text = json.dumps(template)
        assert not BOOTSTRAP.findall(text), name
        assert "Rules" not in template, f"{name}: a bootstrap version rule"
        assert "${AWS::AccountId}-${AWS::Region}" not in text, f"{name}: a per-account asset bucket name"


def test_every_stack_of_the_environment_is_in_the_bundle_in_deploy_order(bundle) -> None:
    bundle_dir, manifest = bundle
    env = manifest["environment"]
    names = [stack["name"] for stack in manifest["stacks"]]
    assert names[0] == f"Modelsmith-{env}-Foundation"
    assert {f"Modelsmith-{env}-{c}" for c in ("Network", "TrainingInstance", "RetrievalPipeline")} <= set(names)
    for index, stack in enumerate(manifest["stacks"]):
        assert set(stack["dependencies"]) <= set(names[:index]), f"{stack['name']} before its dependencies"
        assert (bundle_dir / stack["template"]).is_file()
        template = json.loads((bundle_dir / stack["template"]).read_text())
        assert [p["name"] for p in stack["parameters"]] == list(template.get("Parameters", {}))
    assert manifest["region"] == CDK_CONTEXT["environments"][env]["region"]
    assert manifest["bundle_version"]
    foundation = manifest["stacks"][0]
    assert foundation["termination_protection"] is CDK_CONTEXT["environments"][env]["retain_stateful_resources"]


def test_every_asset_a_template_references_is_in_the_bundle_with_its_checksum(bundle) -> None:
    bundle_dir, manifest = bundle
    assets = {asset["key"]: asset for asset in manifest["assets"]}
    referenced: set[str] = set()
    for name, template in _templates(bundle_dir, manifest).items():
        # Every code location reads from the operator's bucket, under the operator's prefix.
        for logical_id, resource in template["Resources"].items():
            location = resource.get("Properties", {}).get(CODE_PROPERTIES.get(resource["Type"], ""), {})
            if "S3Bucket" in location:
                assert location["S3Bucket"] == {"Ref": ASSETS_BUCKET_PARAMETER}, f"{name}/{logical_id}"
                parts = location["S3Key"]["Fn::Join"][1]
                assert parts[0] == {"Ref": ASSETS_PREFIX_PARAMETER} and parts[1] in assets, f"{name}/{logical_id}"
        # Anywhere else too (user data, state machine definitions, the agent's schema): any asset-shaped key.
        keys = set(ASSET_KEY.findall(json.dumps(template)))
        assert keys == ops_bundle.referenced_asset_keys(template), name
        assert keys <= set(assets), f"{name} references assets missing from the bundle: {sorted(keys - set(assets))}"
        referenced |= keys
    assert referenced == set(assets), "the bundle holds only what the templates use"
    for key, asset in assets.items():
        path = bundle_dir / asset["file"]
        assert path.is_file() and ops_bundle.sha256_file(path) == asset["sha256"], key
        assert asset["used_by"], key


def test_site_values_are_described_and_grouped_parameters(bundle) -> None:
    bundle_dir, manifest = bundle
    env = manifest["environment"]
    templates = _templates(bundle_dir, manifest)
    for name, template in templates.items():
        interface = template["Metadata"]["AWS::CloudFormation::Interface"]
        grouped = [p for group in interface["ParameterGroups"] for p in group["Parameters"]]
        assert sorted(grouped) == sorted(template["Parameters"]), f"{name}: every parameter in exactly one group"
        assert set(interface["ParameterLabels"]) == set(template["Parameters"]), name
        for parameter, spec in template["Parameters"].items():
            assert len(spec.get("Description", "")) >= 30, f"{name}: {parameter} needs a description"
    foundation = templates[f"Modelsmith-{env}-Foundation"]
    assert foundation["Parameters"]["NotificationEmail"]["Default"] == ""
    subscription = next(r for r in foundation["Resources"].values() if r["Type"] == "AWS::SNS::Subscription")
    assert subscription["Properties"]["Endpoint"] == {"Ref": "NotificationEmail"}
    assert subscription["Condition"] == "HasNotificationEmail"
    pipeline = templates[f"Modelsmith-{env}-RetrievalPipeline"]
    for parameter, ssm_name in (
        ("OpenSearchEndpoint", "opensearch-endpoint"),
        ("PineconeIndexHost", "pinecone-index-host"),
    ):
        assert parameter in pipeline["Parameters"]
        published = [
            r
            for r in pipeline["Resources"].values()
            if r["Type"] == "AWS::SSM::Parameter" and r["Properties"]["Name"] == f"/modelsmith/{env}/site/{ssm_name}"
        ]
        assert published and published[0]["Properties"]["Value"] == {"Ref": parameter}
        assert published[0]["Condition"] == f"Has{parameter}"
    agent = templates.get(f"Modelsmith-{env}-Agent")
    if agent is not None:  # the vector index is created by the role that deploys the stack
        assert agent["Parameters"]["DeployerRoleArn"]["Type"] == "String"
        assert "Default" not in agent["Parameters"]["DeployerRoleArn"]


def test_bundle_passes_its_own_check_and_cfn_lint(bundle) -> None:
    bundle_dir, _ = bundle
    assert ops_bundle.verify_bundle(bundle_dir) == []
    assert ops_bundle.lint_bundle(bundle_dir) == []


def test_publish_puts_every_asset_where_the_templates_read_it(bundle, monkeypatch) -> None:
    bundle_dir, manifest = bundle
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    region, prefix = manifest["region"], "sites/lab-7/"
    with mock_aws():
        s3 = boto3.client("s3", region_name=region)
        s3.create_bucket(Bucket="ops-assets", CreateBucketConfiguration={"LocationConstraint": region})
        result = ops_bundle.publish_bundle(bundle_dir, "ops-assets", prefix, s3=s3)
        assert result.parameter_overrides == {"AssetsBucket": "ops-assets", "AssetsPrefix": prefix}
        for name, template in _templates(bundle_dir, manifest).items():
            for key in ops_bundle.referenced_asset_keys(template):
                stored = s3.get_object(Bucket="ops-assets", Key=prefix + key)
                assert stored["ServerSideEncryption"] == "AES256", key
                digest = next(a["sha256"] for a in manifest["assets"] if a["key"] == key)
                assert ops_bundle.hashlib.sha256(stored["Body"].read()).hexdigest() == digest, f"{name}: {key}"
            url = result.template_urls[name]
            template_key = url.split(".amazonaws.com/", 1)[1]
            assert json.loads(s3.get_object(Bucket="ops-assets", Key=template_key)["Body"].read()) == template
        assert ops_bundle.verify_published(bundle_dir, "ops-assets", prefix, s3=s3) == []
        again = ops_bundle.publish_bundle(bundle_dir, "ops-assets", prefix, s3=s3)
        assert again.uploaded == [] and len(again.unchanged) == len(result.uploaded), "publishing is idempotent"
        assert ops_bundle.verify_published(bundle_dir, "ops-assets", "elsewhere/", s3=s3) != []

        boto3.client("s3", region_name="eu-central-1").create_bucket(
            Bucket="far-away", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        with pytest.raises(ops_bundle.BundleError, match="Lambda reads code only from a bucket in its own region"):
            ops_bundle.publish_bundle(bundle_dir, "far-away", s3=s3)


def test_deploy_commands_name_every_stack_with_its_assets_and_site_parameters(bundle) -> None:
    bundle_dir, manifest = bundle
    commands = "\n".join(ops_bundle.deploy_commands(manifest, "ops-assets", "sites/lab-7/"))
    positions = [commands.index(f"--stack-name {stack['name']} ") for stack in manifest["stacks"]]
    assert positions == sorted(positions)
    assert commands.count("'AssetsBucket=ops-assets'") == sum(
        1 for s in manifest["stacks"] if any(p["name"] == "AssetsBucket" for p in s["parameters"])
    )
    assert "'NotificationEmail='" in commands
    if any(stack["name"].endswith("-Agent") for stack in manifest["stacks"]):
        assert "'DeployerRoleArn=<Role that deploys the stack>'" in commands
    assert "CAPABILITY_IAM" in commands


def test_archive_holds_exactly_the_bundle(bundle) -> None:
    bundle_dir, manifest = bundle
    archive = bundle_dir.with_name(f"{bundle_dir.name}.tar.gz")
    if manifest["environment"] != "dev":
        assert not archive.exists()
        return
    with tarfile.open(archive) as opened:
        members = {m.name: m for m in opened.getmembers()}
    on_disk = {
        f"{bundle_dir.name}/{p.relative_to(bundle_dir).as_posix()}" for p in bundle_dir.rglob("*") if p.is_file()
    }
    assert set(members) == on_disk
    assert {m.mtime for m in members.values()} == {0} and {m.uid for m in members.values()} == {0}


def test_command_line_check_finds_a_changed_asset(bundle, tmp_path: Path) -> None:
    bundle_dir, manifest = bundle
    result = CliRunner().invoke(bundle_cli, ["check", "--bundle", str(bundle_dir), "--no-lint"])
    assert result.exit_code == 0, result.output
    assert "are sound" in result.output
    copy = tmp_path / "copy"
    (copy / "assets").mkdir(parents=True)
    (copy / "templates").mkdir()
    for item in ("manifest.json", *[s["template"] for s in manifest["stacks"]]):
        (copy / item).write_bytes((bundle_dir / item).read_bytes())
    for asset in manifest["assets"]:
        (copy / asset["file"]).symlink_to(bundle_dir / asset["file"])
    changed = manifest["assets"][0]["file"]
    (copy / changed).unlink()
    (copy / changed).write_bytes(b"not the asset")
    result = CliRunner().invoke(bundle_cli, ["check", "--bundle", str(copy), "--no-lint"])
    assert result.exit_code == 2
    assert f"{changed}: sha256 differs from the manifest" in result.output


# --- without a full build -------------------------------------------------------------------------------------


def _site_config(**overrides: Any) -> tuple[dict[str, Any], Any]:
    """dev's context and config with ``overrides`` (LLM customization off: it has no site values)."""
    from modelsmith_core.config import load_config

    context = json.loads(json.dumps(CDK_CONTEXT))
    context["environments"]["dev"].update(llm_customization={"enabled": False}, **overrides)
    return context, load_config(context["environments"], "dev")


def test_emails_and_pinecone_become_parameters_with_config_defaults(tmp_path: Path) -> None:
    context, config = _site_config(
        notification_emails=["ops@example.com", "ml@example.com"],
        agent={
            "knowledge_base": {
                "vector_store": "pinecone",
                "pinecone_connection_string": "https://kb-abc123.svc.us-east1-gcp.pinecone.io",
            }
        },
    )
    assembly = ops_bundle.synthesize(config, context, tmp_path / "cdk.out")
    template = lambda stack: json.loads((assembly / f"Modelsmith-dev-{stack}.template.json").read_text())  # noqa: E731

    foundation = template("Foundation")
    assert [foundation["Parameters"][p]["Default"] for p in ("NotificationEmail", "NotificationEmail2")] == [
        "ops@example.com",
        "ml@example.com",
    ]
    endpoints = sorted(
        json.dumps(r["Properties"]["Endpoint"])
        for r in foundation["Resources"].values()
        if r["Type"] == "AWS::SNS::Subscription"
    )
    assert endpoints == ['{"Ref": "NotificationEmail"}', '{"Ref": "NotificationEmail2"}'], "no address is hard-coded"
    agent = template("Agent")
    assert agent["Parameters"]["PineconeIndexHost"]["Default"] == "https://kb-abc123.svc.us-east1-gcp.pinecone.io"
    knowledge_base = next(r for r in agent["Resources"].values() if r["Type"] == "AWS::Bedrock::KnowledgeBase")
    pinecone = knowledge_base["Properties"]["StorageConfiguration"]["PineconeConfiguration"]
    assert pinecone["ConnectionString"] == {"Ref": "PineconeIndexHost"}
    pipeline_default = template("RetrievalPipeline")["Parameters"]["PineconeIndexHost"]["Default"]
    assert pipeline_default == config.agent.knowledge_base.pinecone_connection_string, "one site, one Pinecone host"
    for name in ("Foundation", "Agent", "RetrievalPipeline"):
        assert ops_bundle.undeclared_references(template(name)) == set(), name


def test_existing_vpc_becomes_parameters_with_config_defaults(tmp_path: Path) -> None:
    context, config = _site_config(
        agent={"enabled": False},
        network={
            "vpc_id": "vpc-0123456789abcdef0",
            "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
            "availability_zones": ["us-west-2a", "us-west-2b"],
        },
    )
    assembly = ops_bundle.synthesize(config, context, tmp_path / "cdk.out")
    training = json.loads((assembly / "Modelsmith-dev-TrainingInstance.template.json").read_text())
    parameters = training["Parameters"]
    assert parameters["VpcId"] == {
        **parameters["VpcId"],
        "Type": "AWS::EC2::VPC::Id",
        "Default": "vpc-0123456789abcdef0",
    }
    assert parameters["PrivateSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert parameters["PrivateSubnetIds"]["Default"] == "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
    assert parameters["AvailabilityZones"]["Default"] == "us-west-2a,us-west-2b"
    instance = next(r for r in training["Resources"].values() if r["Type"] == "AWS::EC2::Instance")
    assert instance["Properties"]["NetworkInterfaces"][0]["SubnetId"] == {
        "Fn::Select": [0, {"Ref": "PrivateSubnetIds"}]
    }
    volume = next(r for r in training["Resources"].values() if r["Type"] == "AWS::EC2::Volume")
    assert volume["Properties"]["AvailabilityZone"] == {"Fn::Select": [0, {"Ref": "AvailabilityZones"}]}
    assert "vpc-0123456789abcdef0" not in json.dumps(training["Resources"]), "the VPC comes from the parameter only"
    assert ops_bundle.undeclared_references(training) == set()


def test_docker_image_assets_are_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM public.ecr.aws/docker/library/python:3.12-slim\n")
    stack = Stack(App(default_stack_synthesizer=BundleStackSynthesizer()), "Images")
    with pytest.raises(Exception, match="cannot go into the ops bundle") as raised:
        ecr_assets.DockerImageAsset(stack, "Image", directory=str(tmp_path))
    assert isinstance(raised.value, (DockerAssetsNotSupportedError, RuntimeError))


def test_site_parameters_exist_only_in_the_bundle() -> None:
    with pytest.raises(ValueError, match="belong to the ops bundle"):
        site_parameter(
            Stack(App(), "Plain"),
            "NotificationEmail",
            group="Notifications",
            label="E-mail",
            description="E-mail address subscribed to run notifications",
        )


def test_folders_zip_and_archive_to_the_same_bytes_every_time(tmp_path: Path) -> None:
    import os

    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "module.py").write_text("VALUE = 1\n")
    (source / "run.sh").write_text("#!/bin/sh\n")
    (source / "run.sh").chmod(0o755)
    ops_bundle.zip_directory(source, tmp_path / "first.zip")
    for path in source.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    ops_bundle.zip_directory(source, tmp_path / "second.zip")
    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()
    first = ops_bundle.write_archive(source).read_bytes()
    os.utime(source / "run.sh", (1_800_000_000, 1_800_000_000))
    assert ops_bundle.write_archive(source).read_bytes() == first
