"""Network: the VPC (created or imported) and the endpoints the GPU instance and functions need."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms

from constructs import Construct
from constructs.log_retention import retention_days
from constructs.private_network import PrivateNetwork
from modelsmith_core.config import EnvironmentConfig


class NetworkStack(Stack):
    """Props: config (EnvironmentConfig), encryption_key (the Foundation key). Exposes ``vpc``, ``workload_subnets``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, encryption_key: kms.IKey, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, description=f"Modelsmith {config.name}: VPC and endpoints", **kwargs)
        network = PrivateNetwork(
            self,
            "Network",
            config=config.network,
            encryption_key=encryption_key,
            log_retention=retention_days(config.log_retention_days),
        )
        self.vpc = network.vpc
        self.workload_subnets = network.workload_subnets
