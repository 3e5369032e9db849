"""The Bedrock customization workflow's functions and service role, and what each may do.

The workflow's stack says who acts; the statements and the reasons for their wildcards are here, beside each other.
Both functions read and write the run prefix (``runs/*``) and read the run's files in the data bucket; evaluation
invokes the base model, the judge model and the run's own deployment (``serving``: ``custom-model-deployment`` or
``provisioned-model``); the customization role, assumed by Bedrock for this account's jobs only, reads the run's
prepared data and writes its outputs.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.permissions import grant
from constructs.python_function import PythonFunction
from constructs.run_access import bedrock_job_role, run_function
from constructs.service_access import MODELS_REASON, arn, decrypt_through, invoke_bedrock_models, read_objects


def customization_functions(
    scope: Construct,
    *,
    artifacts_bucket: s3.IBucket,
    data_bucket: s3.IBucket,
    encryption_key: kms.IKey,
    log_retention: logs.RetentionDays,
    serving: str,
) -> tuple[PythonFunction, PythonFunction]:
    """(``PrepareData``, ``Evaluate``) in ``scope``."""
    functions = []
    for construct_id, source, description, minutes, memory in (
        ("PrepareData", "prepare_customization_data", "Converts and validates fine-tuning data", 10, 1024),
        ("Evaluate", "evaluate_customization", "Runs the test suite on base and custom models", 15, 512),
    ):
        function = run_function(
            scope,
            construct_id,
            source=source,
            description=description,
            minutes=minutes,
            memory=memory,
            artifacts_bucket=artifacts_bucket,
            encryption_key=encryption_key,
            log_retention=log_retention,
        )
        function.grant(
            read_objects(data_bucket, why="The training file and test suite are named per run in the execution input.")
        )
        functions.append(function)
    prepare, evaluate = functions
    # The custom model is encrypted with the project key (CustomModelKmsKeyId): invoking it decrypts through
    # Bedrock (https://docs.aws.amazon.com/bedrock/latest/userguide/encryption-custom-job.html).
    evaluate.grant(
        invoke_bedrock_models(
            arn("bedrock", f"{serving}/*"),
            why=f"{MODELS_REASON} The run's own {serving} is created by the workflow under a name known at run time.",
        ),
        decrypt_through(encryption_key, "bedrock"),
    )
    return prepare, evaluate


def customization_role(
    scope: Construct, construct_id: str, *, artifacts_bucket: s3.IBucket, encryption_key: kms.IKey
) -> iam.Role:
    """The role Bedrock's model customization jobs of this account read the run's data and write its outputs with."""
    return bedrock_job_role(
        scope,
        construct_id,
        job="model-customization-job",
        description="Bedrock model customization jobs of Modelsmith runs",
        artifacts_bucket=artifacts_bucket,
        encryption_key=encryption_key,
    )


def grant_custom_model_encryption(role: iam.IRole, encryption_key: kms.IKey) -> None:
    """What the caller of CreateModelCustomizationJob needs for the custom model Bedrock encrypts with the project
    key on its behalf."""
    grant(
        role,
        decrypt_through(
            encryption_key, "bedrock", "kms:DescribeKey", "kms:GenerateDataKey", "kms:CreateGrant", "kms:Decrypt"
        ),
    )
