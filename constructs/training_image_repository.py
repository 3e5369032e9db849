"""The ECR repository of the training image (built from ``sagemaker_src/Dockerfile`` by CI), and optionally
the role CI assumes to push it.

Props:
    encryption_key (kms.IKey): encrypts the images. Required.
    retain (bool): keep the repository and its images on stack deletion (prod); otherwise empty and delete it.
    max_images (int): images kept; older ones expire. Default 20.
    github_repository (str | None): ``owner/name`` whose GitHub Actions workflow, on ``main`` only, may push
        images; it assumes the role through the account's GitHub OIDC provider
        (``token.actions.githubusercontent.com``, created once per account, see README). Default: no role.

Scan on push; tags are immutable (CI tags every image with its commit SHA) except ``latest``, which CI moves
to the newest image and the GPU instance pulls. Untagged images expire after 7 days.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import Construct
from constructs.compliance import INLINE_POLICY_REASON, acknowledge
from constructs.parameter_tree import ParameterTree

MOVING_TAG = "latest"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


class TrainingImageRepository(Construct):
    """``repository`` and ``publisher_role`` (None without ``github_repository``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        retain: bool,
        max_images: int = 20,
        github_repository: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE_WITH_EXCLUSION,
            image_tag_mutability_exclusion_filters=[ecr.ImageTagMutabilityExclusionFilter.wildcard(MOVING_TAG)],
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=encryption_key,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    rule_priority=1,
                    description="Expire untagged images after 7 days",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                ),
                ecr.LifecycleRule(
                    rule_priority=2,
                    description=f"Keep the newest {max_images} images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=max_images,
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            empty_on_delete=not retain,
        )
        acknowledge(
            self.repository,
            {
                "CKV_AWS_51": f"Tags are immutable except '{MOVING_TAG}', which CI moves to the newest image by design.",
            },
        )

        self.publisher_role: iam.Role | None = None
        if github_repository is not None:
            provider = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:oidc-provider/{GITHUB_OIDC_HOST}"
            self.publisher_role = iam.Role(
                self,
                "PublisherRole",
                description=f"GitHub Actions of {github_repository} (main) pushes the training image",
                max_session_duration=Duration.hours(1),
                assumed_by=iam.FederatedPrincipal(
                    provider,
                    {
                        "StringEquals": {
                            f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                            f"{GITHUB_OIDC_HOST}:sub": f"repo:{github_repository}:ref:refs/heads/main",
                        },
                    },
                    "sts:AssumeRoleWithWebIdentity",
                ),
            )
            self.repository.grant_push(self.publisher_role)
            acknowledge(
                self.publisher_role.node.find_child("DefaultPolicy"),
                {
                    "AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken has no resource-level permissions.",
                    "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
                },
            )

    def publish(self, parameters: ParameterTree) -> None:
        """The repository's URI and, with a publisher, its role's ARN, under ``training-instance/``; the image CI
        (.github/workflows/training-image.yml) finds the repository through that parameter, so the role may read it."""
        uri = parameters.publish(
            "training-instance",
            "image-repository-uri",
            self.repository.repository_uri,
            description="ECR repository of the training image",
        )
        if self.publisher_role is not None:
            uri.grant_read(self.publisher_role)
            parameters.publish(
                "training-instance",
                "image-publisher-role-arn",
                self.publisher_role.role_arn,
                description="Role GitHub Actions assumes to push the training image",
            )
