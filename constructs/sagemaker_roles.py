"""SageMakerExecutionRole: the role a SageMaker training job or endpoint of the project runs with.

Props:
    kind ("training" | "inference"): a training job reads and writes the run prefix and encrypts its volume and
        output with the project key (SageMaker creates grants on it); an endpoint reads the run's model. Required.
    description (str): what runs with it. Required.
    image_uri (str): the ECR image it runs (``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>``); the
        role may pull from that repository only. Required.
    artifacts_bucket (s3.IBucket), encryption_key (kms.IKey): Required.

Always: trusted by SageMaker for this account only; its own logs and metrics (``/aws/sagemaker/TrainingJobs`` or
``/aws/sagemaker/Endpoints/*``, metric namespaces of SageMaker).
"""

from __future__ import annotations

from typing import Literal

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.permissions import Permission, grant
from constructs.run_access import RUNS_PREFIX, RUNS_REASON, run_prefix_permissions
from constructs.service_access import arn, decrypt_through

NO_RESOURCE_LEVEL = (
    "cloudwatch:PutMetricData (limited to SageMaker namespaces by condition) and ecr:GetAuthorizationToken have no "
    "resource-level permissions."
)


class SageMakerExecutionRole(iam.Role):
    """See the module docstring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        kind: Literal["training", "inference"],
        description: str,
        image_uri: str,
        artifacts_bucket: s3.IBucket,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description=description,
        )
        key = encryption_key.key_arn
        if kind == "training":
            grant(
                self,
                *run_prefix_permissions(artifacts_bucket, encryption_key),
                # Encrypted training volumes and outputs: SageMaker creates grants on the project key for them
                # (kms:GrantIsForAWSResource exists only on grant actions: a statement that also lists Encrypt,
                # GenerateDataKey or DescribeKey under it never allows those; Service Authorization Reference, AWS KMS).
                Permission(["kms:CreateGrant"], [key], conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
                Permission(["kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], [key]),
            )
        else:
            grant(
                self,
                Permission(["s3:GetObject"], [artifacts_bucket.arn_for_objects(RUNS_PREFIX)], why=RUNS_REASON),
                decrypt_through(encryption_key, "s3"),
            )
        log_groups = "TrainingJobs:*" if kind == "training" else "Endpoints/*"
        account, region, repository = ecr_repository(image_uri)
        grant(
            self,
            Permission(
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                [arn("logs", f"log-group:/aws/sagemaker/{log_groups}")],
                why="SageMaker names each job's or endpoint's log streams at run time, inside its own log group.",
            ),
            # PutMetricData and GetAuthorizationToken have no resource-level permissions.
            Permission(
                ["cloudwatch:PutMetricData"],
                ["*"],
                why=NO_RESOURCE_LEVEL,
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
            ),
            Permission(["ecr:GetAuthorizationToken"], ["*"], why=NO_RESOURCE_LEVEL),
            Permission(
                ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                [f"arn:{Aws.PARTITION}:ecr:{region}:{account}:repository/{repository}"],
            ),
        )


def ecr_repository(image_uri: str) -> tuple[str, str, str]:
    """(account, region, repository) of an ECR image URI ``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``."""
    registry, _, path = image_uri.partition("/")
    account, _, _, region = registry.removesuffix(".amazonaws.com").split(".", 3)
    repository = path.split("@")[0].rsplit(":", 1)[0]
    return account, region, repository


def sagemaker_execution_roles(
    scope: Construct,
    *,
    purpose: str,
    images: tuple[str, str],
    artifacts_bucket: s3.IBucket,
    encryption_key: kms.IKey,
) -> tuple[SageMakerExecutionRole, SageMakerExecutionRole]:
    """(``TrainingJobRole``, ``EndpointRole``) in ``scope``: the roles of ``purpose``'s training jobs and endpoints,
    which run the (training, inference) ``images``."""
    roles: tuple[tuple[str, Literal["training", "inference"], str, str], ...] = (
        ("TrainingJobRole", "training", "training jobs", images[0]),
        ("EndpointRole", "inference", "endpoints", images[1]),
    )
    training, inference = (
        SageMakerExecutionRole(
            scope,
            construct_id,
            kind=kind,
            description=f"SageMaker {what} of the {purpose}",
            image_uri=image,
            artifacts_bucket=artifacts_bucket,
            encryption_key=encryption_key,
        )
        for construct_id, kind, what, image in roles
    )
    return training, inference
