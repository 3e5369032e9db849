"""A stack synthesizer for the ops bundle: templates that deploy with plain CloudFormation, no ``cdk bootstrap``.

CDK's default synthesizer assumes the bootstrap stack: assets go to ``cdk-<qualifier>-assets-<account>-<region>``,
every template carries a ``BootstrapVersion`` parameter and rule, and deployment goes through bootstrap roles.
:class:`BundleStackSynthesizer` assumes only an S3 bucket the operator names:

- every file asset (Lambda code and layers, CDK's provider functions, the instance's scripts, the agent's
  schema) resolves to ``s3://<AssetsBucket>/<AssetsPrefix><key>``, where ``AssetsBucket`` and ``AssetsPrefix``
  are Parameters of each template that has assets and ``<key>`` is ``<asset hash>.zip`` for a folder or
  ``<asset hash><extension>`` for a single file;
- no bootstrap version parameter or rule, no deploy or lookup roles, no asset manifest for ``cdk-assets``;
- Docker image assets are refused: they would need a registry the operator prepares, and the project has none
  (the training image is built by CI into the stack's own ECR repository);
- each stack's assets are listed in ``<stack>.bundle-assets.json`` beside its template in the cloud assembly, for
  ``modelsmith.ops_bundle`` to package;
- every Parameter has a description and a place in the console's parameter groups
  (``AWS::CloudFormation::Interface``): the site-specific ones first (declared with :func:`site_parameter`), then
  the assets bucket, then the SSM-typed parameters CloudFormation resolves at deploy time.

Use it as the app's default synthesizer (each stack gets its own copy)::

    App(default_stack_synthesizer=BundleStackSynthesizer())

Props:
    assets_prefix_default (str): default of the ``AssetsPrefix`` parameter, a key prefix ending with ``/``.
        Default :data:`DEFAULT_ASSETS_PREFIX`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    Aws,
    CfnParameter,
    DockerImageAssetLocation,
    FileAssetLocation,
    FileAssetPackaging,
    IReusableStackSynthesizer,
    ISynthesisSession,
    Stack,
    StackSynthesizer,
)

from constructs import Construct

DEFAULT_ASSETS_PREFIX = "modelsmith-assets/"
ASSETS_BUCKET_PARAMETER = "AssetsBucket"
ASSETS_PREFIX_PARAMETER = "AssetsPrefix"
ASSETS_FILE_SUFFIX = ".bundle-assets.json"
INTERFACE_METADATA = "AWS::CloudFormation::Interface"

ASSETS_GROUP = "Assets (published with `python -m modelsmith.ops_bundle publish`)"
RESOLVED_GROUP = "Resolved by CloudFormation at deploy time (keep the defaults)"
# The console lists groups in this order; site-specific groups are declared by site_parameter().
DEPLOYMENT_GROUP = "Deployment"
GROUP_ORDER = (
    "Notifications",
    "Network (existing VPC)",
    "Vector stores",
    DEPLOYMENT_GROUP,
    ASSETS_GROUP,
    RESOLVED_GROUP,
)
DEPLOYER_ROLE_PARAMETER = "DeployerRoleArn"

# S3 bucket naming rules (lowercase letters, digits, dots, hyphens; 3-63 characters).
_BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
# Empty (keys at the bucket's root) or characters S3 documents as safe, ending with "/".
_KEY_PREFIX = r"^$|^[A-Za-z0-9!_.*'()/-]*/$"


class DockerAssetsNotSupportedError(ValueError):
    """A construct asked for a Docker image asset, which the ops bundle cannot ship."""


@dataclass(frozen=True)
class BundleAsset:
    """One file asset of a stack: where CDK staged it and the key it gets under ``AssetsPrefix``."""

    source_hash: str
    packaging: str  # "zip" (a folder, zipped by the bundle) or "file" (shipped as is)
    path: str  # staged path, relative to the cloud assembly (or absolute when staging is off)
    key: str
    display_name: str | None


@dataclass(frozen=True)
class _ParameterPlacement:
    group: str
    label: str


def asset_key(source_hash: str, packaging: str, path: str) -> str:
    """The key of an asset under ``AssetsPrefix``: ``<hash>.zip`` for folders, ``<hash><extension>`` for files."""
    if packaging == "zip":
        return f"{source_hash}.zip"
    return f"{source_hash}{Path(path).suffix}"


@jsii.implements(IReusableStackSynthesizer)
class BundleStackSynthesizer(StackSynthesizer):
    """See the module docstring."""

    def __init__(self, *, assets_prefix_default: str = DEFAULT_ASSETS_PREFIX) -> None:
        super().__init__()
        if not re.match(_KEY_PREFIX, assets_prefix_default):
            raise ValueError(
                f"assets_prefix_default = {assets_prefix_default!r}: empty, or a key prefix ending with '/'"
            )
        self._assets_prefix_default = assets_prefix_default
        self._assets: dict[str, BundleAsset] = {}
        self._placements: dict[str, _ParameterPlacement] = {}
        self._bucket: CfnParameter | None = None
        self._prefix: CfnParameter | None = None
        self._deployer: CfnParameter | None = None

    # --- IReusableStackSynthesizer: one copy per stack -------------------------------------------------

    def reusable_bind(self, stack: Stack) -> BundleStackSynthesizer:
        bound = BundleStackSynthesizer(assets_prefix_default=self._assets_prefix_default)
        bound.bind(stack)
        return bound

    # --- assets ----------------------------------------------------------------------------------------

    def add_file_asset(
        self,
        *,
        source_hash: str,
        deploy_time: bool | None = None,
        display_name: str | None = None,
        executable: Sequence[str] | None = None,
        file_name: str | None = None,
        packaging: FileAssetPackaging | None = None,
    ) -> FileAssetLocation:
        stack = self._bound_stack
        if executable or not file_name:
            raise ValueError(
                f"{stack.node.path}: asset {display_name or source_hash} is produced by a command; the ops bundle "
                "ships only files and folders staged at synthesis"
            )
        kind = "zip" if packaging == FileAssetPackaging.ZIP_DIRECTORY else "file"
        key = asset_key(source_hash, kind, file_name)
        self._assets.setdefault(source_hash, BundleAsset(source_hash, kind, file_name, key, display_name))
        bucket, prefix = self._asset_parameters()
        return FileAssetLocation(
            bucket_name=bucket,
            object_key=f"{prefix}{key}",
            s3_object_url=f"s3://{bucket}/{prefix}{key}",
            http_url=f"https://s3.{Aws.REGION}.{Aws.URL_SUFFIX}/{bucket}/{prefix}{key}",
        )

    def add_docker_image_asset(self, *, source_hash: str, **asset: Any) -> DockerImageAssetLocation:
        name = asset.get("display_name") or asset.get("directory_name") or source_hash
        raise DockerAssetsNotSupportedError(
            f"{self._bound_stack.node.path}: Docker image asset {name!r} cannot go into the ops bundle; build the "
            "image in CI and push it to a repository the stack names instead"
        )

    def _asset_parameters(self) -> tuple[str, str]:
        if self._bucket is None or self._prefix is None:
            stack = self._bound_stack
            self._bucket = CfnParameter(
                stack,
                ASSETS_BUCKET_PARAMETER,
                type="String",
                allowed_pattern=_BUCKET_NAME,
                constraint_description="an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens",
                description=(
                    "S3 bucket holding this bundle's assets (function code, layers, scripts, schemas), in this "
                    "stack's region, as `python -m modelsmith.ops_bundle publish --bucket` uploaded them."
                ),
            )
            self._prefix = CfnParameter(
                stack,
                ASSETS_PREFIX_PARAMETER,
                type="String",
                default=self._assets_prefix_default,
                allowed_pattern=_KEY_PREFIX,
                constraint_description="empty, or a key prefix ending with '/'",
                description="Key prefix of the assets in AssetsBucket (the publish step's --prefix); ends with '/'.",
            )
            self._placements[self._bucket.node.path] = _ParameterPlacement(ASSETS_GROUP, "Assets bucket")
            self._placements[self._prefix.node.path] = _ParameterPlacement(ASSETS_GROUP, "Assets key prefix")
        return self._bucket.value_as_string, self._prefix.value_as_string

    @property
    def cloud_formation_execution_role_arn(self) -> str:
        """The role CloudFormation deploys the stack with, as ``DefaultStackSynthesizer`` offers it: a string for
        ``Fn.sub``. Without bootstrap there is no such role to name, so it is the ``DeployerRoleArn`` Parameter
        (created on first use): the role passed with ``--role-arn``, or the one the operator's credentials use.
        """
        if self._deployer is None:
            self._deployer = CfnParameter(
                self._bound_stack,
                DEPLOYER_ROLE_PARAMETER,
                type="String",
                allowed_pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$",
                constraint_description="an IAM role ARN (arn:aws:iam::<account>:role/<path><name>)",
                description=(
                    "ARN of the IAM role CloudFormation creates this stack with: the service role given with "
                    "--role-arn, or else the role of your own credentials (for an assumed-role session, the role's "
                    "ARN, not the sts assumed-role ARN). Resources such as the vector index are created as this role."
                ),
            )
            self._placements[self._deployer.node.path] = _ParameterPlacement(
                DEPLOYMENT_GROUP, "Role that deploys the stack"
            )
        return f"${{{DEPLOYER_ROLE_PARAMETER}}}"

    @property
    def assets(self) -> list[BundleAsset]:
        return list(self._assets.values())

    # --- parameters ------------------------------------------------------------------------------------

    def place(self, parameter: CfnParameter, *, group: str, label: str) -> None:
        """Put ``parameter`` in ``group`` of the console's parameter list, shown as ``label``."""
        self._placements[parameter.node.path] = _ParameterPlacement(group, label)

    def _describe_parameters(self, stack: Stack) -> None:
        """Describe CDK's SSM-typed parameters and group every parameter for the console."""
        parameters = [
            child for child in stack.node.find_all() if isinstance(child, CfnParameter) and Stack.of(child) is stack
        ]
        groups: dict[str, list[str]] = {}
        labels: dict[str, dict[str, str]] = {}
        for parameter in parameters:
            logical_id = stack.resolve(parameter.logical_id)
            placement = self._placements.get(parameter.node.path)
            if placement is None:
                if not parameter.type.startswith("AWS::SSM::Parameter::Value<"):
                    raise ValueError(
                        f"{parameter.node.path}: an ops-bundle parameter needs a group and label; create it with "
                        "constructs.bundle_synthesizer.site_parameter()"
                    )
                source = parameter.default
                if not parameter.description:
                    parameter.description = (
                        f"Read by CloudFormation from the SSM parameter {source} when the stack deploys; keep the "
                        "default (the stacks deployed before this one publish it)."
                    )
                placement = _ParameterPlacement(RESOLVED_GROUP, f"SSM {source}")
            if not parameter.description:
                raise ValueError(f"{parameter.node.path}: every ops-bundle parameter needs a description")
            groups.setdefault(placement.group, []).append(logical_id)
            labels[logical_id] = {"default": placement.label}
        if not groups:
            return
        order = {group: index for index, group in enumerate(GROUP_ORDER)}
        interface = {
            "ParameterGroups": [
                {"Label": {"default": group}, "Parameters": names}
                for group, names in sorted(groups.items(), key=lambda item: order.get(item[0], len(order)))
            ],
            "ParameterLabels": labels,
        }
        metadata = dict(stack.template_options.metadata or {})
        metadata[INTERFACE_METADATA] = interface
        stack.template_options.metadata = metadata

    # --- synthesis -------------------------------------------------------------------------------------

    def synthesize(self, session: ISynthesisSession) -> None:
        stack = self._bound_stack
        self._describe_parameters(stack)
        self._synthesize_template(session)
        self._emit_artifact(session)
        listing = Path(session.assembly.outdir) / f"{stack.artifact_id}{ASSETS_FILE_SUFFIX}"
        listing.write_text(json.dumps([asdict(asset) for asset in self.assets], indent=2, sort_keys=True) + "\n")


def site_parameter(
    scope: Construct, name: str, *, group: str, label: str, description: str, type: str = "String", **options: Any
) -> CfnParameter:
    """A Parameter ``name`` of ``scope``'s stack for a value that differs per site, placed in ``group`` as ``label``.

    ``options`` are CfnParameter's (``default``, ``allowed_pattern``, ``constraint_description``, ...). The stack
    must use :class:`BundleStackSynthesizer`: site parameters exist only in the ops bundle.
    """
    stack = Stack.of(scope)
    synthesizer = stack.synthesizer
    if not isinstance(synthesizer, BundleStackSynthesizer):
        raise ValueError(f"{stack.node.path}: site parameters belong to the ops bundle (BundleStackSynthesizer)")
    parameter = CfnParameter(stack, name, type=type, description=description, **options)
    synthesizer.place(parameter, group=group, label=label)
    return parameter
