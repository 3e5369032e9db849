"""A Python Lambda function from ``lambda_src/<source>/`` with Modelsmith's defaults; the one way to add one.

Props:
    source (str): subpackage of ``lambda_src`` holding ``handler.py`` (``lambda_handler``) and its plain modules.
        The code ships as the package itself (``lambda_src/__init__.py`` and ``lambda_src/<source>/``), so the
        handler is ``lambda_src.<source>.handler.lambda_handler`` and the modules have the names they have in the
        repository. Its ``requirements.txt`` is vendored by ``make setup`` into
        ``build/lambda-deps/<source>/python`` and shipped as the function's layer (synthesis stays offline).
        Required.
    description (str): what the function does. Required.
    encryption_key (kms.IKey): encrypts the log group and the environment variables. Required.
    log_retention (logs.RetentionDays): log group retention. Required.
    environment (Mapping[str, str]): environment variables. Default none.
    timeout (Duration): default 30 seconds. memory_size (int): default 256 MB.
    reserved_concurrent_executions (int): default 5; bounds cost and protects downstream APIs.
    retain_logs (bool): keep the log group on stack deletion. Default false.
    shared_code (bool): also ship ``lambda_src/shared/`` (modules several functions use, such as
        ``lambda_src.shared.run_storage``) in the function's code. Default false.
    dead_letter_queue (sqs.IQueue | None): for asynchronously invoked functions (EventBridge targets): failed
        events land there. Default none (synchronous callers see errors themselves).
    bundled_directories (Mapping[str, Path]): more folders copied beside the function's modules, by the name they
        get there (e.g. ``{"schemas": statemachines/schemas}``), so one source of truth ships with it. Default none.
    bundled_packages (Sequence[Path]): project packages the function imports, shipped at the top of its code
        under their own names (e.g. ``modelsmith_core``). Default none.

Always: the current Python runtime, x86-64, active X-Ray tracing, a log group of its own, and a role with no
managed policy (logs limited to its own log group). Callers grant everything else with ``grant(Permission(...))``
(constructs/permissions.py), each wildcard with its reason.
Invoked synchronously (by Step Functions or Bedrock), so no DLQ; outside a VPC unless a later prop adds one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, Aws, BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from constructs import Construct
from constructs.compliance import INLINE_POLICY_REASON, acknowledge, nag_resource
from constructs.permissions import Permission, grant

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_SOURCE_ROOT = REPO_ROOT / "lambda_src"
LAMBDA_DEPS_ROOT = REPO_ROOT / "build" / "lambda-deps"
SHARED_CODE_DIR = LAMBDA_SOURCE_ROOT / "shared"
RUNTIME = lambda_.Runtime.PYTHON_3_14  # keep in step with LAMBDA_PYTHON in the Makefile


_CODE_EXCLUDES = ("requirements.txt", "__pycache__", "*.pyc", "tests")


@jsii.implements(ILocalBundling)
class _CopyFiles:
    """Local "bundling" that only copies files and folders into the asset, by their path there: no Docker, no
    network."""

    def __init__(self, layout: Mapping[str, Path]) -> None:
        self._layout = dict(layout)

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        for name, path in self._layout.items():
            target = Path(output_dir) / name
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_CODE_EXCLUDES))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        return True


def code_layout(
    source: str,
    *,
    shared_code: bool = False,
    bundled_directories: Mapping[str, Path] | None = None,
    bundled_packages: Sequence[Path] = (),
) -> dict[str, Path]:
    """Where each file or folder of the function's code comes from, by its path in the code."""
    package = LAMBDA_SOURCE_ROOT.name
    layout = {
        f"{package}/__init__.py": LAMBDA_SOURCE_ROOT / "__init__.py",
        f"{package}/{source}": LAMBDA_SOURCE_ROOT / source,
    }
    layout.update({f"{package}/{source}/{name}": folder for name, folder in (bundled_directories or {}).items()})
    if shared_code:
        layout[f"{package}/{SHARED_CODE_DIR.name}"] = SHARED_CODE_DIR
    layout.update({folder.name: folder for folder in bundled_packages})
    return layout


def _code(source_dir: Path, layout: Mapping[str, Path]) -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(source_dir),
        asset_hash_type=AssetHashType.OUTPUT,  # the code is what is copied, so its hash is the output's
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling-only"),
            # CDK reuses a bundle within one synthesis when the source path and the bundling options are the
            # same (asset-staging calculateCacheKey), and cannot see inside the local bundler: the layout is in
            # the options too, so that two layouts of one source never share a bundle. Docker never runs.
            environment={"MODELSMITH_CODE_LAYOUT": json.dumps({k: str(v) for k, v in layout.items()}, sort_keys=True)},
            local=_CopyFiles(layout),
        ),
    )


def has_requirements(source: str) -> bool:
    requirements = LAMBDA_SOURCE_ROOT / source / "requirements.txt"
    if not requirements.exists():
        return False
    lines = (line.strip() for line in requirements.read_text().splitlines())
    return any(line and not line.startswith("#") for line in lines)


class PythonFunction(Construct):
    """See the module docstring. ``self.function`` is the function, ``self.role`` its role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: str,
        description: str,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
        environment: Mapping[str, str] | None = None,
        timeout: Duration = Duration.seconds(30),
        memory_size: int = 256,
        reserved_concurrent_executions: int = 5,
        retain_logs: bool = False,
        shared_code: bool = False,
        bundled_directories: Mapping[str, Path] | None = None,
        bundled_packages: Sequence[Path] = (),
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        source_dir = LAMBDA_SOURCE_ROOT / source
        if not (source_dir / "handler.py").exists():
            raise ValueError(f"source = {source!r}: {source_dir} has no handler.py")
        if shared_code and not (SHARED_CODE_DIR / "__init__.py").exists():
            raise ValueError(f"shared_code: {SHARED_CODE_DIR} is not a package")

        layers = []
        if has_requirements(source):
            deps_dir = LAMBDA_DEPS_ROOT / source
            if not (deps_dir / ".installed").exists():
                raise ValueError(
                    f"source = {source!r}: its requirements are not vendored in {deps_dir}; run `make setup`"
                )
            layers.append(
                lambda_.LayerVersion(
                    self,
                    "Dependencies",
                    code=lambda_.Code.from_asset(str(deps_dir), exclude=[".installed"]),
                    compatible_runtimes=[RUNTIME],
                    compatible_architectures=[lambda_.Architecture.X86_64],
                    description=f"Third-party dependencies of lambda_src/{source}",
                )
            )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"lambda_src/{source}: {description}"[:1000],
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:log-stream:*"],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            # The runtime imports "lambda_src.<source>.handler" from the code's root (awslambdaric's
            # bootstrap._get_handler: importlib.import_module(modname.replace("/", "."))).
            handler=f"{LAMBDA_SOURCE_ROOT.name}.{source}.handler.lambda_handler",
            code=_code(
                source_dir,
                code_layout(
                    source,
                    shared_code=shared_code,
                    bundled_directories=bundled_directories,
                    bundled_packages=bundled_packages,
                ),
            ),
            layers=layers,
            description=description,
            environment={"POWERTOOLS_SERVICE_NAME": source, "POWERTOOLS_LOG_LEVEL": "INFO", **(environment or {})},
            environment_encryption=encryption_key,
            timeout=timeout,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrent_executions,
            tracing=lambda_.Tracing.ACTIVE,
            role=self.role,
            log_group=self.log_group,
            dead_letter_queue=dead_letter_queue,
        )
        # Lambda decrypts the environment with the role at start-up; through Lambda only.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"lambda.{Aws.REGION}.amazonaws.com"}},
            )
        )

        self._acknowledge_standard_findings(asynchronous=dead_letter_queue is not None)

    def grant(self, *permissions: Permission) -> None:
        """Add ``permissions`` to the function's role, each wildcard acknowledged with its reason."""
        grant(self.role, *permissions)

    def _acknowledge_standard_findings(self, *, asynchronous: bool) -> None:
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Resource::*]": "X-Ray PutTraceSegments and PutTelemetryRecords have no resource-level permissions.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, self.log_group.log_group_arn)}:log-stream:*]": "Log stream names are chosen at run time, always inside this function's own log group.",
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )
        if not asynchronous:
            acknowledge(
                self.function,
                {
                    "HIPAA.Security-LambdaDLQ": "Invoked synchronously (Step Functions or Bedrock); the caller sees and handles errors.",
                    "CKV_AWS_116": "Invoked synchronously (Step Functions or Bedrock); the caller sees and handles errors.",
                },
            )
        acknowledge(
            self.function,
            {
                "HIPAA.Security-LambdaInsideVPC": "Calls only AWS APIs over TLS with IAM auth; no private resource to reach.",
                "CKV_AWS_117": "Calls only AWS APIs over TLS with IAM auth; no private resource to reach.",
                "W3005": "CDK adds DependsOn on the role beside the GetAtt so the role's policy exists before the function.",
            },
        )


def dead_letter_queue(scope: Construct, *, encryption_key: kms.IKey, owner: str) -> sqs.Queue:
    """``DeadLetters`` in ``scope``: the queue an asynchronously invoked function and its EventBridge target
    send what failed to (KMS-encrypted, TLS only, kept 14 days). ``owner`` names them in the acknowledgment."""
    queue = sqs.Queue(
        scope,
        "DeadLetters",
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=encryption_key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    acknowledge(queue, {"AwsSolutions-SQS3": f"This queue is itself the dead-letter queue of {owner}."})
    return queue
