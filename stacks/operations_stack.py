"""Operations: the dashboard and alarms over every other stack, and the watch over run-created endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Stack

from constructs import Construct
from constructs.log_retention import retention_days
from constructs.operations_alarms import OperationsAlarms
from constructs.operations_dashboard import OperationsDashboard
from constructs.operations_endpoint_watch import EndpointWatch
from constructs.operations_metrics import WatchedWorkflow
from modelsmith_core.config import EnvironmentConfig
from modelsmith_core.naming import endpoint_name_prefix
from stacks.foundation_stack import FoundationStack


class OperationsStack(Stack):
    """Props: config (its ``operations`` section holds the thresholds), foundation (the key and the topic every
    alarm notifies), workflows (the state machines and their steps' functions, from the workflow stacks) and
    gpu_instance_id (from the TrainingInstance stack).

    References to the other stacks' resources are CDK's weak cross-stack references (``Fn::GetStackOutput``,
    cdk.json ``@aws-cdk/core:defaultCrossStackReferences``): no export locks the watched stacks. The SageMaker
    endpoints that pipeline runs create are found by their name prefix (``modelsmith_core.naming``).
    Exposes ``dashboard``, ``alarms`` (key -> alarm) and ``endpoint_watch``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        foundation: FoundationStack,
        workflows: Sequence[WatchedWorkflow],
        gpu_instance_id: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"Modelsmith {config.name}: operations dashboard and alarms", **kwargs
        )
        self.add_stack_dependency(foundation)
        prefix = endpoint_name_prefix(config.name)
        self.endpoint_watch = EndpointWatch(
            self,
            "EndpointWatch",
            environment_name=config.name,
            endpoint_prefix=prefix,
            idle_days=config.operations.endpoint_idle_days,
            encryption_key=foundation.key,
            log_retention=retention_days(config.log_retention_days),
        )
        self.alarms = OperationsAlarms(
            self,
            "Alarms",
            config=config.operations,
            environment_name=config.name,
            topic=foundation.notifications_topic,
            workflows=workflows,
            gpu_instance_id=gpu_instance_id,
            endpoint_watch=self.endpoint_watch,
        ).alarms
        self.dashboard = OperationsDashboard(
            self,
            "Dashboard",
            dashboard_name=construct_id,
            workflows=workflows,
            gpu_instance_id=gpu_instance_id,
            endpoint_prefix=prefix,
            endpoint_watch=self.endpoint_watch,
            alarms=list(self.alarms.values()),
        ).dashboard
