"""Remove what pipeline runs created at run time, so that ``cdk destroy`` in dev leaves nothing billable.

    python -m modelsmith.cleanup --env dev --dry-run     # list what would go
    python -m modelsmith.cleanup --env dev               # delete it, listing each deletion

CloudFormation deletes what the stacks created. Runs create more, outside any stack: SageMaker endpoints
(billed by the hour), their configs and models, training jobs, and Bedrock custom models (monthly storage),
deployments and provisioned throughput. Those are found by their tags (``modelsmith_core.naming``): ``project``
= ``modelsmith``, ``environment`` = the environment, and a ``modelsmith:run-id``. Stack resources carry the first
two but never a run ID, so they are left alone; so is anything of another environment, and anything untagged
(resources whose names look like a run's are listed as left alone, so an operator can decide). In order:

1. running SageMaker training jobs are stopped; the log streams of finished ones (``/aws/sagemaker/TrainingJobs``,
   a group SageMaker creates and never expires) are deleted;
2. SageMaker endpoints are deleted, with their log groups (``/aws/sagemaker/Endpoints/<name>``), then their
   endpoint configs and models;
3. Bedrock provisioned throughputs and custom model deployments are deleted, then custom models (a model
   still deployed cannot be deleted: run the command again once the deployment is gone);
4. log groups of the environment's functions that no longer exist (``/aws/lambda/Modelsmith-<env>-*``) are
   deleted: CDK's own provider functions (bucket auto-delete, default security group) write there during
   ``cdk destroy``, after their stack has deleted everything it knows about.

An environment that retains stateful resources (``retain_stateful_resources: true``, i.e. prod) is refused unless
``--force``: its endpoints may be serving. Uses the shell's AWS credentials; the region is the environment's.
Exit status: 0 done, 1 some deletions failed (each named), 2 bad arguments or refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import typer

from modelsmith_core import naming

TRAINING_JOB_LOGS = "/aws/sagemaker/TrainingJobs"  # SageMaker's own log group, one stream prefix per job
Session = Any  # a boto3.Session, or any object with .client(name) (tests pass moto-backed sessions)


class CleanupRefused(Exception):
    """The command will not run as asked (e.g. a retained environment without --force)."""


@dataclass(frozen=True)
class RunResource:
    """One resource a run created: what it is, its name and ARN, the run that made it, and how to remove it."""

    kind: str
    name: str
    arn: str
    run_id: str
    remove: Callable[[], Any] = field(compare=False, repr=False)

    def describe(self) -> str:
        return f"{self.kind} {self.name} (run {self.run_id})" if self.run_id else f"{self.kind} {self.name}"


@dataclass
class CleanupReport:
    environment: str
    region: str
    dry_run: bool
    removed: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_run_resource(tags: dict[str, str], environment: str) -> bool:
    """Tagged by a run of ``environment``: project, environment and a run ID."""
    return (
        tags.get(naming.TAG_PROJECT) == naming.PROJECT
        and tags.get(naming.TAG_ENVIRONMENT) == environment
        and bool(tags.get(naming.TAG_RUN_ID))
    )


def _code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def _pages(client: Any, operation: str, key: str, **arguments: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(key, [])


def _sagemaker_tags(sagemaker: Any, arn: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in _pages(sagemaker, "list_tags", "Tags", ResourceArn=arn)}


def _bedrock_tags(bedrock: Any, arn: str) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in bedrock.list_tags_for_resource(resourceARN=arn).get("tags", [])}


def find_run_resources(environment: str, session: Session, report: CleanupReport | None = None) -> list[RunResource]:
    """Every resource runs of ``environment`` created that still exists, in the order it must be removed.

    Resources that look like a run's (by name) but are not tagged as one of ``environment`` go to
    ``report.left_alone``.
    """
    sagemaker, bedrock, logs = session.client("sagemaker"), session.client("bedrock"), session.client("logs")
    found: list[RunResource] = []
    left_alone = report.left_alone if report is not None else []
    endpoint_prefix = naming.endpoint_name_prefix(environment)

    def consider(
        kind: str, name: str, arn: str, tags: dict[str, str], remove: Callable[[], Any], looks_like_run: bool
    ) -> None:
        if is_run_resource(tags, environment):
            found.append(RunResource(kind, name, arn, tags[naming.TAG_RUN_ID], remove))
        elif looks_like_run and tags.get(naming.TAG_ENVIRONMENT) in (None, environment):
            left_alone.append(f"{kind} {name}: named like a run's but not tagged as one of {environment}")

    for job in _pages(sagemaker, "list_training_jobs", "TrainingJobSummaries"):
        name, arn = job["TrainingJobName"], job["TrainingJobArn"]
        if job["TrainingJobStatus"] in ("InProgress", "Stopping"):
            consider(
                "SageMaker training job (running)",
                name,
                arn,
                _sagemaker_tags(sagemaker, arn),
                lambda name=name: sagemaker.stop_training_job(TrainingJobName=name),
                False,
            )
            continue  # its logs are still being written; the next clean-up removes them
        streams = (
            [
                s["logStreamName"]
                for s in _pages(
                    logs,
                    "describe_log_streams",
                    "logStreams",
                    logGroupName=TRAINING_JOB_LOGS,
                    logStreamNamePrefix=f"{name}/",
                )
            ]
            if _log_group_exists(logs, TRAINING_JOB_LOGS)
            else []
        )
        if streams:
            consider(
                "SageMaker training job logs",
                name,
                arn,
                _sagemaker_tags(sagemaker, arn),
                lambda streams=streams: [
                    logs.delete_log_stream(logGroupName=TRAINING_JOB_LOGS, logStreamName=stream) for stream in streams
                ],
                False,
            )
    for endpoint in _pages(sagemaker, "list_endpoints", "Endpoints"):
        name = endpoint["EndpointName"]

        def remove_endpoint(name: str = name) -> None:
            sagemaker.delete_endpoint(EndpointName=name)
            _delete_log_group(logs, f"/aws/sagemaker/Endpoints/{name}")

        consider(
            "SageMaker endpoint",
            name,
            endpoint["EndpointArn"],
            _sagemaker_tags(sagemaker, endpoint["EndpointArn"]),
            remove_endpoint,
            name.startswith(endpoint_prefix),
        )
    for config in _pages(sagemaker, "list_endpoint_configs", "EndpointConfigs"):
        name = config["EndpointConfigName"]
        consider(
            "SageMaker endpoint config",
            name,
            config["EndpointConfigArn"],
            _sagemaker_tags(sagemaker, config["EndpointConfigArn"]),
            lambda name=name: sagemaker.delete_endpoint_config(EndpointConfigName=name),
            False,
        )
    for model in _pages(sagemaker, "list_models", "Models"):
        name = model["ModelName"]
        consider(
            "SageMaker model",
            name,
            model["ModelArn"],
            _sagemaker_tags(sagemaker, model["ModelArn"]),
            lambda name=name: sagemaker.delete_model(ModelName=name),
            False,
        )

    for throughput in _pages(bedrock, "list_provisioned_model_throughputs", "provisionedModelSummaries"):
        arn = throughput["provisionedModelArn"]
        consider(
            "Bedrock provisioned throughput",
            throughput["provisionedModelName"],
            arn,
            _bedrock_tags(bedrock, arn),
            lambda arn=arn: bedrock.delete_provisioned_model_throughput(provisionedModelId=arn),
            throughput["provisionedModelName"].startswith(f"{naming.PROJECT}-"),
        )
    for deployment in _pages(bedrock, "list_custom_model_deployments", "modelDeploymentSummaries"):
        arn = deployment["customModelDeploymentArn"]
        consider(
            "Bedrock custom model deployment",
            deployment["customModelDeploymentName"],
            arn,
            _bedrock_tags(bedrock, arn),
            lambda arn=arn: bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=arn),
            deployment["customModelDeploymentName"].startswith(f"{naming.PROJECT}-"),
        )
    for model in _pages(bedrock, "list_custom_models", "modelSummaries"):
        arn = model["modelArn"]
        consider(
            "Bedrock custom model",
            model["modelName"],
            arn,
            _bedrock_tags(bedrock, arn),
            lambda arn=arn: bedrock.delete_custom_model(modelIdentifier=arn),
            model["modelName"].startswith(f"{naming.PROJECT}-"),
        )

    found += _orphaned_function_log_groups(environment, session, logs)
    return found


def _orphaned_function_log_groups(environment: str, session: Session, logs: Any) -> list[RunResource]:
    functions = session.client("lambda")
    prefix = f"/aws/lambda/Modelsmith-{environment}-"
    orphaned = []
    for group in _pages(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=prefix):
        name = group["logGroupName"]
        try:
            functions.get_function(FunctionName=name.removeprefix("/aws/lambda/"))
        except Exception as error:  # noqa: BLE001 - only "not found" means orphaned; anything else re-raises
            if _code(error) != "ResourceNotFoundException":
                raise
            orphaned.append(
                RunResource(
                    "log group of a deleted function",
                    name,
                    group.get("arn", name),
                    "",
                    lambda name=name: logs.delete_log_group(logGroupName=name),
                )
            )
    return orphaned


def _log_group_exists(logs: Any, name: str) -> bool:
    return any(
        group["logGroupName"] == name
        for group in _pages(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=name)
    )


def _delete_log_group(logs: Any, name: str) -> None:
    try:
        logs.delete_log_group(logGroupName=name)
    except Exception as error:  # noqa: BLE001
        if _code(error) != "ResourceNotFoundException":
            raise


def clean_up(environment: str, *, session: Session, region: str, dry_run: bool = False) -> CleanupReport:
    """Find and (unless ``dry_run``) remove the run resources of ``environment``; every outcome is reported."""
    report = CleanupReport(environment=environment, region=region, dry_run=dry_run)
    for resource in find_run_resources(environment, session, report):
        if dry_run:
            report.removed.append(resource.describe())
            continue
        try:
            resource.remove()
        except Exception as error:  # noqa: BLE001 - a failed deletion is reported; the others still run
            if _code(error) == "ResourceNotFoundException":
                continue  # already gone
            report.problems.append(f"{resource.describe()}: {error}")
        else:
            report.removed.append(resource.describe())
    return report


def clean_up_environment(
    environment: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    region: str | None = None,
    session: Session | None = None,
) -> CleanupReport:
    """:func:`clean_up` for an environment of ``cdk.json``, in its region; refuses a retained one without ``force``."""
    from modelsmith.ops_bundle import load_environment

    _, config = load_environment(environment)
    if config.retain_stateful_resources and not force and not dry_run:
        raise CleanupRefused(
            f"environment '{environment}' retains stateful resources (retain_stateful_resources: true); its "
            "endpoints and models may be in use. Look first with --dry-run; pass --force to delete them anyway"
        )
    region = region or config.region
    if session is None:
        import boto3

        session = boto3.Session(region_name=region)
    return clean_up(environment, session=session, region=region, dry_run=dry_run)


def cleanup_command(
    ctx: typer.Context,
    env: str | None = typer.Option(None, "--env", help="environment from cdk.json (default: dev)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would be removed; remove nothing"),
    force: bool = typer.Option(False, "--force", help="also clean an environment that retains stateful resources"),
    region: str | None = typer.Option(None, "--region", help="default: the environment's region"),
) -> None:
    """Remove what runs of an environment created (SageMaker endpoints and models, Bedrock deployments, ...)."""
    from modelsmith.ops_bundle import BundleError

    env = env or getattr(ctx.obj, "env", None) or "dev"  # or the --env of an enclosing `modelsmith --env ...`
    region = region or getattr(ctx.obj, "region", None)
    try:
        report = clean_up_environment(env, dry_run=dry_run, force=force, region=region)
    except (CleanupRefused, BundleError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    verb = "Would remove" if report.dry_run else "Removed"
    typer.echo(f"{verb} {len(report.removed)} resource(s) of environment '{env}' ({report.region}):")
    for line in report.removed:
        typer.echo(f"  {line}")
    for line in report.left_alone:
        typer.echo(f"  left alone: {line}")
    for line in report.problems:
        typer.echo(f"  problem: {line}", err=True)
    if report.problems:
        raise typer.Exit(1)


app = typer.Typer(add_completion=False)
app.command()(cleanup_command)

if __name__ == "__main__":
    app()
