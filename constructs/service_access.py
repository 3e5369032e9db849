"""The permissions Modelsmith's roles are granted on other services, written once each with their reasons.

Each function returns :class:`~constructs.permissions.Permission` objects for :func:`~constructs.permissions.grant`
(or a construct's ``grant`` method); the stacks say who gets what, never the statements themselves. Resource ARNs
are those of this account and Region unless a comment says otherwise.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs.permissions import Permission

# Foundation models in every Region: a cross-Region inference profile (us.*, eu.*, global.*) routes a request to
# its model in any destination Region, and the caller needs the inference action there too ("Prerequisites for
# inference profiles", https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html, and
# https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html). Foundation model ARNs
# have no account, so this grants models only, never another account's resources.
FOUNDATION_MODELS_ANY_REGION = f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/*"
MODELS_REASON = (
    "The Bedrock model is chosen per run in the execution input or config; an inference profile routes to its "
    "model in other Regions."
)


def arn(service: str, resource: str) -> str:
    """``arn:<partition>:<service>:<region>:<account>:<resource>`` of this account and Region."""
    return f"arn:{Aws.PARTITION}:{service}:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


def read_objects(bucket: s3.IBucket, *, why: str) -> Permission:
    """Read any object of ``bucket`` (its key is named per run)."""
    return Permission(["s3:GetObject"], [bucket.arn_for_objects("*")], why=why)


def read_object(object_arn: str) -> Permission:
    """Read one object."""
    return Permission(["s3:GetObject"], [object_arn])


def invoke_bedrock_models(*also: str, why: str = MODELS_REASON) -> Permission:
    """``bedrock:InvokeModel`` on foundation models (any Region), this account's inference profiles, and ``also``."""
    return Permission(
        ["bedrock:InvokeModel"], [FOUNDATION_MODELS_ANY_REGION, arn("bedrock", "inference-profile/*"), *also], why=why
    )


def decrypt_through(key: kms.IKey, service: str, *actions: str) -> Permission:
    """``kms:Decrypt`` (or ``actions``) on the project key, only when ``service`` calls KMS on the caller's behalf."""
    return Permission(
        list(actions) or ["kms:Decrypt"],
        [key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"{service}.{Aws.REGION}.amazonaws.com"}},
    )


OPENSEARCH_DOMAINS = arn("es", "domain/*")


def opensearch_http(*actions: str, why: str) -> Permission:
    """HTTP ``actions`` (``es:ESHttpGet`` ...) on this account's OpenSearch domains and their paths; the domain is
    named per run."""
    return Permission(list(actions), [OPENSEARCH_DOMAINS, f"{OPENSEARCH_DOMAINS}/*"], why=why)


def secret_arn(name: str) -> str:
    """A secret's ARN by its name: Secrets Manager appends ``-`` and six random characters."""
    return arn("secretsmanager", f"secret:{name}-*")


def read_secrets(*names: str, why: str) -> Permission:
    """``secretsmanager:GetSecretValue`` on the secrets named ``names`` (a name may end in ``*``)."""
    return Permission(["secretsmanager:GetSecretValue"], [secret_arn(name) for name in names], why=why)


def invoke_endpoints(name_prefix: str) -> Permission:
    """``sagemaker:InvokeEndpoint`` on this environment's endpoints (``<name_prefix><model_name>``)."""
    return Permission(
        ["sagemaker:InvokeEndpoint"],
        [arn("sagemaker", f"endpoint/{name_prefix}*")],
        why=f"Endpoints are named {name_prefix}<model_name> at run time; only this environment's.",
    )


def pass_role(role: iam.IRole) -> Permission:
    """``iam:PassRole`` on one role."""
    return Permission(["iam:PassRole"], [role.role_arn])
