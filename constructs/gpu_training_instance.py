"""The GPU training instance: reachable only through SSM, state on a separate encrypted gp3 volume.

Props:
    vpc (ec2.IVpc), subnets (ec2.SubnetSelection): where it runs; the first selected subnet is used so the
        instance and its checkpoint volume always share one availability zone. Required.
    config (TrainingInstanceConfig): instance type and checkpoint volume size/IOPS/throughput. Required.
    encryption_key (kms.IKey): encrypts the root and checkpoint volumes and the log group. Required.
    data_bucket (s3.IBucket): read-only for the instance (datasets, training configs). Required.
    artifacts_bucket (s3.IBucket): the instance writes ``runs/*`` only. Required.
    hugging_face_token (secretsmanager.ISecret): read at run time by publish_to_hub.sh. Required.
    image_repository (ecr.IRepository): the training image, pulled by tag ``latest``. Required.
    log_retention (logs.RetentionDays): for the instance's log group. Required.
    retain_volume (bool): keep the checkpoint volume when the stack is deleted (prod). Required.
    ami_parameter (str): public SSM parameter of the AMI, resolved by CloudFormation at deploy time.
        Default: the Deep Learning Base OSS NVIDIA driver AMI on Ubuntu 22.04 (Docker + NVIDIA container toolkit).

No key pair, no inbound rule, no public IP, IMDSv2 only, HTTPS-only egress (AWS endpoints, Hugging Face).
User data downloads ``ec2_userdata/`` (an asset), writes /etc/modelsmith/modelsmith.env and runs
``setup_instance.sh`` at every boot: cloud-init runs user data scripts once per instance unless told otherwise, so
the user data is a MIME multi-part whose cloud-config part sets ``cloud_final_modules: [scripts-user, always]``,
AWS's documented way (https://repost.aws/knowledge-center/execute-user-data-ec2). ``user_data_causes_replacement``
is off: changed scripts (a new asset) are downloaded and installed at the next start; the instance is kept.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, RemovalPolicy, Size, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from constructs.compliance import INLINE_POLICY_REASON, acknowledge, nag_resource
from constructs.parameter_tree import ParameterTree
from constructs.permissions import Permission, grant
from constructs.service_access import decrypt_through
from constructs.training_image_repository import MOVING_TAG
from modelsmith_core.config import TrainingInstanceConfig

USERDATA_DIR = Path(__file__).resolve().parents[1] / "ec2_userdata"
DEEP_LEARNING_AMI_PARAMETER = (
    "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
)
CHECKPOINT_MOUNT = "/mnt/checkpoints"
CHECKPOINT_DEVICE = "/dev/sdf"


class GpuTrainingInstance(Construct):
    """``instance``, ``checkpoint_volume``, ``role``, ``log_group``; see the module docstring for props."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        config: TrainingInstanceConfig,
        encryption_key: kms.IKey,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        hugging_face_token: secretsmanager.ISecret,
        image_repository: ecr.IRepository,
        log_retention: logs.RetentionDays,
        retain_volume: bool,
        ami_parameter: str = DEEP_LEARNING_AMI_PARAMETER,
    ) -> None:
        super().__init__(scope, construct_id)
        self._encryption_key = encryption_key
        subnet = vpc.select_subnets(
            subnet_type=subnets.subnet_type, subnet_group_name=subnets.subnet_group_name
        ).subnets[0]

        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=encryption_key, retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description="GPU training instance: no inbound; HTTPS out to AWS endpoints and the Hugging Face Hub",
        )
        security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS (AWS APIs, ECR, Hugging Face)")
        acknowledge(
            security_group,
            {
                "CKV_AWS_382": "Egress is HTTPS only; Hugging Face Hub and pip mirrors have no fixed address ranges.",
            },
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Modelsmith GPU training instance",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")],
        )
        self._grant(
            encryption_key=encryption_key,
            data_bucket=data_bucket,
            artifacts_bucket=artifacts_bucket,
            hugging_face_token=hugging_face_token,
            image_repository=image_repository,
        )

        scripts = s3_assets.Asset(self, "Scripts", path=str(USERDATA_DIR))
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadSetupScripts",
                actions=["s3:GetObject"],
                resources=[scripts.bucket.arn_for_objects(scripts.s3_object_key)],
            )
        )

        self.checkpoint_volume = ec2.Volume(
            self,
            "CheckpointVolume",
            availability_zone=subnet.availability_zone,
            volume_type=ec2.EbsDeviceVolumeType.GP3,
            size=Size.gibibytes(config.checkpoint_volume_gib),
            iops=config.checkpoint_volume_iops,
            throughput=config.checkpoint_volume_throughput_mibps,
            encrypted=True,
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.RETAIN if retain_volume else RemovalPolicy.DESTROY,
        )

        user_data = ec2.UserData.for_linux()
        env_lines = {
            "AWS_REGION": Stack.of(self).region,
            "CHECKPOINT_MOUNT": CHECKPOINT_MOUNT,
            "LOG_GROUP": self.log_group.log_group_name,
            "ARTIFACTS_BUCKET": artifacts_bucket.bucket_name,
            "DATA_BUCKET": data_bucket.bucket_name,
            "HF_TOKEN_SECRET_ARN": hugging_face_token.secret_arn,
            "TRAINING_IMAGE_URI": image_repository.repository_uri_for_tag(MOVING_TAG),
        }
        user_data.add_commands(
            "set -euo pipefail",
            "install -d -m 0755 /etc/modelsmith /var/log/modelsmith /opt/modelsmith/scripts",
            "cat > /etc/modelsmith/modelsmith.env <<'ENV'",
            *[f"{key}={value}" for key, value in env_lines.items()],
            "ENV",
        )
        archive = user_data.add_s3_download_command(
            bucket=scripts.bucket, bucket_key=scripts.s3_object_key, local_file="/opt/modelsmith/scripts.zip"
        )
        user_data.add_commands(
            f"unzip -o -q {archive} -d /opt/modelsmith/scripts",
            "bash /opt/modelsmith/scripts/setup_instance.sh "
            f"--volume-id {self.checkpoint_volume.volume_id} --env-file /etc/modelsmith/modelsmith.env "
            ">> /var/log/modelsmith/setup.log 2>&1",
        )

        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=[subnet]),
            instance_type=ec2.InstanceType(config.instance_type),
            machine_image=ec2.MachineImage.from_ssm_parameter(ami_parameter, os=ec2.OperatingSystemType.LINUX),
            role=self.role,
            security_group=security_group,
            require_imdsv2=True,
            associate_public_ip_address=False,
            detailed_monitoring=True,
            ebs_optimized=True,
            user_data=_every_boot(user_data),
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/sda1",
                    volume=ec2.BlockDeviceVolume.ebs(
                        200,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        encrypted=True,
                        kms_key=encryption_key,
                        delete_on_termination=True,
                    ),
                )
            ],
        )
        self.checkpoint_attachment = ec2.CfnVolumeAttachment(
            self,
            "CheckpointAttachment",
            instance_id=self.instance.instance_id,
            volume_id=self.checkpoint_volume.volume_id,
            device=CHECKPOINT_DEVICE,
        )
        acknowledge(
            self.role,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]": (
                    "AWS's maintained minimum for the SSM agent (the only way in: no SSH); its actions have no "
                    "resource-level permissions and AWS updates it as the agent changes."
                ),
            },
        )
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, data_bucket.arn_for_objects('*'))}]": "Datasets and configs are read by a key chosen per run; read-only, one bucket.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, artifacts_bucket.arn_for_objects('runs/*'))}]": "Each run writes under runs/<run-id>/, an ID chosen at run time.",
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, self.log_group.log_group_arn)}:log-stream:*]": "The CloudWatch agent names its streams at run time inside this instance's own log group.",
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )
        acknowledge(
            self.checkpoint_volume,
            {
                "HIPAA.Security-EC2EBSInBackupPlan": (
                    "Checkpoints are intermediate and reproducible; each run's results are archived to the versioned, "
                    "retained artifacts bucket, and the volume itself is retained in prod."
                ),
            },
        )
        if not Token.is_unresolved(subnet.availability_zone):
            for placed in (self.instance, self.checkpoint_volume):
                # cfn-lint's "avoid hard-coded zones": with an existing VPC the zone is its subnet's, named in
                # cdk.json (network.availability_zones); the ops bundle makes it the AvailabilityZones parameter.
                acknowledge(placed, {"W3010": "the zone of the existing subnet, from network.availability_zones"})
        acknowledge(
            self.instance,
            {
                "HIPAA.Security-EC2InstancesInVPC": (
                    "The instance is launched in a private subnet (of the Network stack's VPC, or the configured "
                    "existing one); the rule cannot read that subnet ID, which sits in NetworkInterfaces and, for a "
                    "created VPC, arrives as a cross-stack reference."
                ),
                "AwsSolutions-EC29": (
                    "The instance holds no state (checkpoints live on the separate, retained volume) and CloudFormation "
                    "must be able to replace it when the AMI or type changes; the idle stop limits its cost."
                ),
            },
        )

    def _grant(
        self,
        *,
        encryption_key: kms.IKey,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        hugging_face_token: secretsmanager.ISecret,
        image_repository: ecr.IRepository,
    ) -> None:
        """Exact actions on exact resources (no CDK grant: they add action wildcards and, across stacks, key-policy
        edits that would make the Foundation stack depend on this one)."""
        statements = [
            iam.PolicyStatement(
                sid="ReadDatasets", actions=["s3:GetObject"], resources=[data_bucket.arn_for_objects("*")]
            ),
            iam.PolicyStatement(sid="ListDatasets", actions=["s3:ListBucket"], resources=[data_bucket.bucket_arn]),
            iam.PolicyStatement(
                sid="WriteRunArtifacts",
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[artifacts_bucket.arn_for_objects("runs/*")],
            ),
            iam.PolicyStatement(
                sid="ListRunArtifacts",
                actions=["s3:ListBucket"],
                resources=[artifacts_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["runs/*"]}},
            ),
            iam.PolicyStatement(
                sid="ReadHuggingFaceToken",
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[hugging_face_token.secret_arn],
            ),
            iam.PolicyStatement(
                sid="UseProjectKeyThroughS3AndSecretsManager",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[encryption_key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": [
                            f"s3.{Aws.REGION}.amazonaws.com",
                            f"secretsmanager.{Aws.REGION}.amazonaws.com",
                        ]
                    }
                },
            ),
            iam.PolicyStatement(
                sid="PullTrainingImage",
                actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                resources=[image_repository.repository_arn],
            ),
            iam.PolicyStatement(
                sid="NoResourceLevelPermissions",
                actions=["ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="ShipLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:log-stream:*"],
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)

    def publish(self, parameters: ParameterTree) -> None:
        """The instance's, its checkpoint volume's and its log group's IDs, under ``training-instance/``."""
        for name, value, description in (
            ("instance-id", self.instance.instance_id, "GPU training instance ID"),
            ("checkpoint-volume-id", self.checkpoint_volume.volume_id, "Checkpoint EBS volume ID"),
            ("log-group", self.log_group.log_group_name, "Log group of the instance and its commands"),
        ):
            parameters.publish("training-instance", name, value, description=description)

    @property
    def instance_arn(self) -> str:
        return f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:instance/{self.instance.instance_id}"

    def grant_drive(self, role: iam.IRole) -> None:
        """What a caller that starts the instance and runs its SSM commands needs beyond those calls: writing the
        commands' output to the instance's log group (SSM writes it with the caller's rights), and the project key
        for the encrypted volumes: EC2 creates a grant on the key for the caller and decrypts through it
        (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html)."""
        self.log_group.grant_write(role)
        key = self._encryption_key
        through_ec2 = {"kms:ViaService": f"ec2.{Aws.REGION}.amazonaws.com"}
        grant(
            role,
            Permission(
                ["kms:CreateGrant"],
                [key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}, "StringEquals": through_ec2},
            ),
            decrypt_through(key, "ec2", "kms:Decrypt", "kms:DescribeKey"),
        )


# cloud-init's scripts-user module runs once per instance by default (cc_scripts_user: PER_INSTANCE); this
# cloud-config part makes it run at every boot (https://repost.aws/knowledge-center/execute-user-data-ec2).
EVERY_BOOT_CLOUD_CONFIG = "cloud_final_modules:\n- [scripts-user, always]\n"


def _every_boot(script: ec2.UserData) -> ec2.MultipartUserData:
    multipart = ec2.MultipartUserData()
    multipart.add_part(
        ec2.MultipartBody.from_raw_body(
            content_type='text/cloud-config; charset="us-ascii"',
            body=EVERY_BOOT_CLOUD_CONFIG,
        )
    )
    multipart.add_user_data_part(script, ec2.MultipartBody.SHELL_SCRIPT, True)
    return multipart
