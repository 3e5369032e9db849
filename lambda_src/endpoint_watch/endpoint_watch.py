"""Publish what CloudWatch cannot select by itself: the state of one environment's SageMaker endpoints.

Pipeline runs create endpoints at run time under ``ms-<env>-<model_name>`` (``modelsmith_core/naming.py``), so no
alarm can name them in advance, and alarms cannot use SEARCH expressions or match a name prefix. Every few
minutes this module

1. lists the endpoints whose names start with the prefix (``NameContains``, then an exact prefix check) and
   keeps the ``InService`` ones,
2. reads, per endpoint and variant, ``Invocations`` over the idle window and ``Invocation5XXErrors`` over the
   last complete 5-minute window (``AWS/SageMaker``, one ``GetMetricData`` call per 250 variants),
3. publishes three metrics in namespace ``Modelsmith`` with dimension ``Environment``:
   ``EndpointsInService`` (count), ``IdleEndpoints`` (in service and unchanged for the whole idle window,
   without a single invocation in it) and ``EndpointInvocation5XXErrors`` (sum over the window).

The Operations stack alarms on these. An endpoint updated in place (a re-run of the same model) starts a new
idle window: its ``LastModifiedTime`` counts, not its creation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

NAMESPACE = "Modelsmith"
ENVIRONMENT_DIMENSION = "Environment"
IN_SERVICE_METRIC = "EndpointsInService"
IDLE_METRIC = "IdleEndpoints"
ERRORS_METRIC = "EndpointInvocation5XXErrors"
ERROR_WINDOW = timedelta(minutes=5)
# GetMetricData takes at most 500 queries per call; each variant needs two.
VARIANTS_PER_CALL = 250


class WatchSettingsError(ValueError):
    """A setting the function cannot work with; names the setting."""


@dataclass
class Endpoint:
    name: str
    variants: list[str]
    last_modified: datetime
    invocations: float = 0.0
    errors: float = 0.0


@dataclass
class WatchReport:
    environment: str
    prefix: str
    window_start: datetime
    in_service: list[str] = field(default_factory=list)
    idle: list[str] = field(default_factory=list)
    errors: float = 0.0

    def as_message(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "prefix": self.prefix,
            "in_service": self.in_service,
            "idle": self.idle,
            "errors_5xx": self.errors,
            "error_window_start": self.window_start.isoformat(),
        }


def watch(
    sagemaker: Any, cloudwatch: Any, *, environment: str, prefix: str, idle_days: int, now: datetime
) -> WatchReport:
    """Measure the endpoints of ``environment`` named ``prefix*`` and publish the three metrics; see the module doc."""
    if not prefix:
        raise WatchSettingsError("ENDPOINT_PREFIX: empty; every endpoint of the account would match")
    if idle_days < 1:
        raise WatchSettingsError(f"IDLE_DAYS: {idle_days} is not a positive number of days")
    now = now.astimezone(UTC)
    window_end = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    report = WatchReport(environment=environment, prefix=prefix, window_start=window_end - ERROR_WINDOW)
    idle_since = now - timedelta(days=idle_days)
    endpoints = list(_endpoints_in_service(sagemaker, prefix))
    _measure(cloudwatch, endpoints, idle_window=(idle_since, now), error_window=(report.window_start, window_end))
    for endpoint in endpoints:
        report.in_service.append(endpoint.name)
        report.errors += endpoint.errors
        if endpoint.invocations == 0 and endpoint.last_modified <= idle_since:
            report.idle.append(endpoint.name)
    dimensions = [{"Name": ENVIRONMENT_DIMENSION, "Value": environment}]
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": IN_SERVICE_METRIC,
                "Dimensions": dimensions,
                "Timestamp": now,
                "Value": len(report.in_service),
                "Unit": "Count",
            },
            {
                "MetricName": IDLE_METRIC,
                "Dimensions": dimensions,
                "Timestamp": now,
                "Value": len(report.idle),
                "Unit": "Count",
            },
            {
                "MetricName": ERRORS_METRIC,
                "Dimensions": dimensions,
                "Timestamp": report.window_start,
                "Value": report.errors,
                "Unit": "Count",
            },
        ],
    )
    return report


def _endpoints_in_service(sagemaker: Any, prefix: str) -> Iterator[Endpoint]:
    for page in sagemaker.get_paginator("list_endpoints").paginate(NameContains=prefix):
        for summary in page["Endpoints"]:
            name = summary["EndpointName"]
            if not name.startswith(prefix) or summary["EndpointStatus"] != "InService":
                continue
            described = sagemaker.describe_endpoint(EndpointName=name)
            variants = [variant["VariantName"] for variant in described.get("ProductionVariants", [])]
            modified = described.get("LastModifiedTime") or described["CreationTime"]
            yield Endpoint(name=name, variants=variants, last_modified=_aware(modified))


def _measure(
    cloudwatch: Any,
    endpoints: list[Endpoint],
    *,
    idle_window: tuple[datetime, datetime],
    error_window: tuple[datetime, datetime],
) -> None:
    """Fill each endpoint's invocations (idle window) and 5xx errors (error window) from AWS/SageMaker."""
    pairs = [(endpoint, variant) for endpoint in endpoints for variant in endpoint.variants]
    for start in range(0, len(pairs), VARIANTS_PER_CALL):
        chunk = pairs[start : start + VARIANTS_PER_CALL]
        for metric, period, window in (
            ("Invocations", 86_400, idle_window),
            ("Invocation5XXErrors", 300, error_window),
        ):
            queries = [
                {
                    "Id": f"m{index}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/SageMaker",
                            "MetricName": metric,
                            "Dimensions": [
                                {"Name": "EndpointName", "Value": endpoint.name},
                                {"Name": "VariantName", "Value": variant},
                            ],
                        },
                        "Period": period,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
                for index, (endpoint, variant) in enumerate(chunk)
            ]
            totals = _sums(cloudwatch, queries, *window)
            for index, (endpoint, _) in enumerate(chunk):
                value = totals.get(f"m{index}", 0.0)
                if metric == "Invocations":
                    endpoint.invocations += value
                else:
                    endpoint.errors += value


def _sums(cloudwatch: Any, queries: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, float]:
    totals: dict[str, float] = {}
    request: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
    while True:
        response = cloudwatch.get_metric_data(**request)
        for result in response["MetricDataResults"]:
            totals[result["Id"]] = totals.get(result["Id"], 0.0) + sum(result.get("Values", []))
        if not response.get("NextToken"):
            return totals
        request["NextToken"] = response["NextToken"]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
