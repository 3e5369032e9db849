"""A Python Lambda function from ``lambda_src/<source>/`` with Modelsmith's defaults; the one way to add one.

Props:
    source (str): folder under ``lambda_src/`` holding ``handler.py`` (``lambda_handler``) and its plain modules.
        Its ``requirements.txt`` is vendored by ``make setup`` into ``build/lambda-deps/<source>/python`` and
        shipped as the function's layer (synthesis stays offline). Required.
    description (str): what the function does. Required.
    encryption_key (kms.IKey): encrypts the log group and the environment variables. Required.
    log_retention (logs.RetentionDays): log group retention. Required.
    environment (Mapping[str, str]): environment variables. Default none.
    timeout (Duration): default 30 seconds. memory_size (int): default 256 MB.
    reserved_concurrent_executions (int): default 5; bounds cost and protects downstream APIs.
    retain_logs (bool): keep the log group on stack deletion. Default false.
    shared_code (bool): also ship ``lambda_src/shared/python/`` (modules several functions use, such as
        ``run_storage``) as a layer. Default false.
    dead_letter_queue (sqs.IQueue | None): for asynchronously invoked functions (EventBridge targets): failed
        events land there. Default none (synchronous callers see errors themselves).
    bundled_directories (Mapping[str, Path]): more folders copied into the function's code, by the name they
        get there (e.g. ``{"schemas": statemachines/schemas}``), so one source of truth ships with it. Default none.

Always: the current Python runtime, x86-64, active X-Ray tracing, a log group of its own, and a role with no
managed policy (logs limited to its own log group). Callers grant everything else on ``function.role``.
Invoked synchronously (by Step Functions or Bedrock), so no DLQ; outside a VPC unless a later prop adds one.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
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

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_SOURCE_ROOT = REPO_ROOT / "lambda_src"
LAMBDA_DEPS_ROOT = REPO_ROOT / "build" / "lambda-deps"
SHARED_CODE_DIR = LAMBDA_SOURCE_ROOT / "shared"
RUNTIME = lambda_.Runtime.PYTHON_3_14  # keep in step with LAMBDA_PYTHON in the Makefile


_CODE_EXCLUDES = ("requirements.txt", "__pycache__", "*.pyc", "tests")


@jsii.implements(ILocalBundling)
class _CopyFolders:
    """Local "bundling" that only copies folders into the asset: no Docker, no network."""

    def __init__(self, folders: Mapping[str, Path]) -> None:
        self._folders = dict(folders)

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        for name, folder in self._folders.items():
            target = Path(output_dir) / name if name else Path(output_dir)
            shutil.copytree(folder, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_CODE_EXCLUDES))
        return True


def _code(source_dir: Path, bundled_directories: Mapping[str, Path]) -> lambda_.Code:
    if not bundled_directories:
        return lambda_.Code.from_asset(str(source_dir), exclude=list(_CODE_EXCLUDES))
    return lambda_.Code.from_asset(
        str(source_dir),
        exclude=list(_CODE_EXCLUDES),
        asset_hash_type=AssetHashType.OUTPUT,  # the copied folders change the code too
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling-only"),
            local=_CopyFolders({"": source_dir, **bundled_directories}),
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
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        source_dir = LAMBDA_SOURCE_ROOT / source
        if not (source_dir / "handler.py").exists():
            raise ValueError(f"source = {source!r}: {source_dir} has no handler.py")

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

        if shared_code:
            if not (SHARED_CODE_DIR / "python").is_dir():
                raise ValueError(f"shared_code: {SHARED_CODE_DIR / 'python'} does not exist")
            layers.append(
                lambda_.LayerVersion(
                    self,
                    "SharedCode",
                    code=lambda_.Code.from_asset(str(SHARED_CODE_DIR), exclude=["__pycache__", "*.pyc"]),
                    compatible_runtimes=[RUNTIME],
                    compatible_architectures=[lambda_.Architecture.X86_64],
                    description="Modules shared by Modelsmith functions (lambda_src/shared)",
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
            handler="handler.lambda_handler",
            code=_code(source_dir, bundled_directories or {}),
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
