"""Map the config's ``log_retention_days`` to CDK's ``RetentionDays``; the one place that conversion lives."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

from modelsmith_core import catalogue

# RetentionDays lists CloudWatch's periods in ascending order, then INFINITE; the catalogue lists the days.
_BY_DAYS = dict(
    zip(
        catalogue.LOG_RETENTION_DAYS,
        [member for member in logs.RetentionDays if member.name != "INFINITE"],
        strict=True,
    )
)


def retention_days(days: int) -> logs.RetentionDays:
    """``RetentionDays`` for ``days``; the config already refused periods CloudWatch does not accept."""
    try:
        return _BY_DAYS[days]
    except KeyError:
        raise ValueError(f"log_retention_days = {days}: not a CloudWatch Logs retention period") from None
