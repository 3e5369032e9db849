"""The ECR repository of the training image (built from ``sagemaker_src/Dockerfile`` by CI).

Props:
    encryption_key (kms.IKey): encrypts the images. Required.
    retain (bool): keep the repository and its images on stack deletion (prod); otherwise empty and delete it.
    max_images (int): images kept; older ones expire. Default 20.

Scan on push, immutable tags (a tag always names the same image; CI tags with the commit SHA and moves
nothing), lifecycle expiry of untagged images after 7 days.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from constructs import Construct


class TrainingImageRepository(Construct):
    """``repository``; see the module docstring."""

    def __init__(
        self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey, retain: bool, max_images: int = 20
    ) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=encryption_key,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    rule_priority=1, description="Expire untagged images after 7 days",
                    tag_status=ecr.TagStatus.UNTAGGED, max_image_age=Duration.days(7),
                ),
                ecr.LifecycleRule(
                    rule_priority=2, description=f"Keep the newest {max_images} images",
                    tag_status=ecr.TagStatus.ANY, max_image_count=max_images,
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            empty_on_delete=not retain,
        )  # fmt: skip
