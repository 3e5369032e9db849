"""The Lambda function behind the agent's action group (``lambda_src/agent_tools``), with least privilege.

Props:
    encryption_key (kms.IKey): the project key: log group, environment variables, and the SSE-KMS of the
        output bucket and the ADS secret. Required.
    output_bucket (s3.IBucket): where plots and Gaia results go (the artifacts bucket). Required.
    output_prefix (str): the only prefix of ``output_bucket`` the function may write and read, e.g.
        ``agent-tools/``. Required.
    ads_token_secret (secretsmanager.ISecret): the NASA ADS token, read at run time. Required.
    log_retention (logs.RetentionDays): how long the function's logs are kept. Required.
    reserved_concurrency (int): at most this many invocations at once (and so archive queries). Default 5.
    memory_size_mib (int): memory (and so CPU) for astropy and matplotlib. Default 1536.
    timeout (Duration): the function's time limit. Default 120 s.
    archive_timeout (Duration): per-request limit towards SIMBAD, Gaia and ADS. Default 20 s.
    link_expiry (Duration): lifetime of the presigned links it returns. Default 1 hour.

Always: Python 3.14 (cdk-nag wants the newest runtime), X-Ray active tracing, a KMS-encrypted log group of its own,
a role that can read exactly the one secret and read/write exactly the output prefix. Who may invoke it is
decided by its caller (the agent adds a permission scoped to its own ARN).

Packaging: a ``constructs.python_function.PythonFunction`` (source ``agent_tools``): its ``requirements.txt``
(astroquery, matplotlib, Powertools) is vendored by ``make setup`` as Linux wheels and shipped as the
function's layer, so synthesis never reaches a package index.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from constructs.compliance import acknowledge_wildcards
from constructs.python_function import LAMBDA_SOURCE_ROOT, PythonFunction

SOURCE = "agent_tools"
FUNCTION_DIR = LAMBDA_SOURCE_ROOT / SOURCE
# Environment variable names, as read by lambda_src/agent_tools/astro_tools/settings.py.
ENV_OUTPUT_BUCKET = "OUTPUT_BUCKET"
ENV_OUTPUT_PREFIX = "OUTPUT_PREFIX"
ENV_ADS_TOKEN_SECRET_ARN = "ADS_TOKEN_SECRET_ARN"
ENV_ARCHIVE_TIMEOUT_SECONDS = "ARCHIVE_TIMEOUT_SECONDS"
ENV_PRESIGNED_URL_EXPIRY_SECONDS = "PRESIGNED_URL_EXPIRY_SECONDS"
ENV_KNOWLEDGE_BASE_ID = "KNOWLEDGE_BASE_ID"


class AgentToolsFunction(Construct):
    """The action-group function, its log group and its permissions; see the module docstring for props."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        output_bucket: s3.IBucket,
        output_prefix: str,
        ads_token_secret: secretsmanager.ISecret,
        log_retention: logs.RetentionDays,
        reserved_concurrency: int = 5,
        memory_size_mib: int = 1536,
        timeout: Duration = Duration.seconds(120),
        archive_timeout: Duration = Duration.seconds(20),
        link_expiry: Duration = Duration.hours(1),
    ) -> None:
        super().__init__(scope, construct_id)
        if not output_prefix.endswith("/") or output_prefix.startswith("/"):
            raise ValueError(f"output_prefix = {output_prefix!r}: a relative prefix ending with '/', e.g. agent-tools/")
        if archive_timeout.to_seconds() >= timeout.to_seconds():
            raise ValueError(
                f"archive_timeout ({archive_timeout.to_seconds()} s) must be below timeout ({timeout.to_seconds()} s)"
            )
        self.output_prefix = output_prefix

        tools = PythonFunction(
            self,
            "Tools",
            source=SOURCE,
            description="Modelsmith agent action group: SIMBAD, Gaia, NASA ADS, plots",
            encryption_key=encryption_key,
            log_retention=log_retention,
            memory_size=memory_size_mib,
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                ENV_OUTPUT_BUCKET: output_bucket.bucket_name,
                ENV_OUTPUT_PREFIX: output_prefix,
                ENV_ADS_TOKEN_SECRET_ARN: ads_token_secret.secret_arn,
                ENV_ARCHIVE_TIMEOUT_SECONDS: str(int(archive_timeout.to_seconds())),
                ENV_PRESIGNED_URL_EXPIRY_SECONDS: str(int(link_expiry.to_seconds())),
                # astropy and matplotlib write caches under $HOME; only /tmp is writable in Lambda.
                "HOME": "/tmp",
                "MPLCONFIGDIR": "/tmp/matplotlib",
            },
        )
        self.function, self.role, self.log_group = tools.function, tools.role, tools.log_group
        self._grant_least_privilege(encryption_key, output_bucket, output_prefix, ads_token_secret)
        self._acknowledge()

    def connect_knowledge_base(self, knowledge_base_id: str, knowledge_base_arn: str) -> None:
        """Let the ``searchKnowledgeBase`` tool retrieve from this knowledge base (``bedrock:Retrieve`` on it only)."""
        self.function.add_environment(ENV_KNOWLEDGE_BASE_ID, knowledge_base_id)
        self.policy.add_statements(
            iam.PolicyStatement(
                sid="RetrieveFromTheKnowledgeBase",
                actions=["bedrock:Retrieve"],
                resources=[knowledge_base_arn],
            )
        )

    def _grant_least_privilege(
        self, key: kms.IKey, bucket: s3.IBucket, prefix: str, secret: secretsmanager.ISecret
    ) -> None:
        region = Stack.of(self).region
        self.policy = iam.ManagedPolicy(
            self,
            "Access",
            description="Agent tools: logs, ADS secret, output prefix",
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheAdsToken",
                    actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    resources=[secret.secret_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadWriteTheOutputPrefix",
                    actions=["s3:PutObject", "s3:GetObject"],
                    resources=[bucket.arn_for_objects(f"{prefix}*")],
                ),
                iam.PolicyStatement(
                    sid="ProjectKeyThroughS3",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                        # SSE-KMS with an S3 Bucket Key: the encryption context is the bucket's ARN.
                        "ArnLike": {"kms:EncryptionContext:aws:s3:arn": bucket.bucket_arn},
                    },
                ),
                iam.PolicyStatement(
                    sid="ProjectKeyThroughSecretsManagerAndLambda",
                    # Secrets Manager decrypts the token; Lambda decrypts the environment variables at start-up.
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": [
                                f"secretsmanager.{region}.amazonaws.com",
                                f"lambda.{region}.amazonaws.com",
                            ]
                        }
                    },
                ),
            ],
        )
        self.role.add_managed_policy(self.policy)
        # The function must not start (or be invoked by CloudFormation) before its role can do its job.
        self.function.node.add_dependency(self.policy)

    def _acknowledge(self) -> None:
        # PythonFunction acknowledges the standard findings (synchronous invocation, no VPC, X-Ray, its logs).
        acknowledge_wildcards(
            self.policy,
            {
                f"Resource::*/{self.output_prefix}*": "Objects the function writes and links to: the result and plot keys are generated per call, so the "
                "grant is the function's own prefix of the artifacts bucket, nothing else.",
            },
        )
