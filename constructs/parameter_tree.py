"""The SSM parameter tree: every resource ID another part or an operator needs, under one naming rule.

Names are ``/modelsmith/<environment>/<category>/<key>`` (e.g. ``/modelsmith/prod/s3/artifacts-bucket``).
:func:`parameter_name` is the only place that rule is written; stacks publish through
:meth:`ParameterTree.publish`, readers (functions, the command line, operators) compute names with it.

Props:
    environment_name (str): the environment, e.g. ``dev``. Required.
"""

from __future__ import annotations

import re

from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm

from constructs import Construct

_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
PROJECT = "modelsmith"


def parameter_name(environment_name: str, category: str, key: str) -> str:
    """The full name of a parameter; each segment is lowercase letters, digits and hyphens."""
    for label, segment in (("environment_name", environment_name), ("category", category), ("key", key)):
        if not _SEGMENT.match(segment):
            raise ValueError(f"{label} = {segment!r}: use lowercase letters, digits and hyphens (max 63)")
    return f"/{PROJECT}/{environment_name}/{category}/{key}"


class ParameterTree(Construct):
    """Publishes resource IDs as String parameters of the environment's tree."""

    def __init__(self, scope: Construct, construct_id: str, *, environment_name: str) -> None:
        super().__init__(scope, construct_id)
        parameter_name(environment_name, "check", "check")  # validates the environment name early
        self.environment_name = environment_name
        self.parameters: dict[str, ssm.StringParameter] = {}

    def publish(self, category: str, key: str, value: str, *, description: str) -> ssm.StringParameter:
        """Create the parameter ``/modelsmith/<env>/<category>/<key>`` holding ``value``."""
        name = parameter_name(self.environment_name, category, key)
        if name in self.parameters:
            raise ValueError(f"{name} is already published by {self.node.path}")
        parameter = ssm.StringParameter(
            self,
            f"{category}-{key}",
            parameter_name=name,
            string_value=value,
            description=description,
            tier=ssm.ParameterTier.STANDARD,
        )
        self.parameters[name] = parameter
        return parameter


def bucket_from_tree(scope: Construct, construct_id: str, *, environment_name: str, key: str) -> s3.IBucket:
    """A Foundation bucket imported by the name its parameter ``/modelsmith/<env>/s3/<key>`` holds.

    The name is resolved by CloudFormation at deploy time: no cross-stack export (the Foundation stack can
    change without a deadlock) and ARNs that cdk-nag acknowledgments can name exactly. The consuming stack
    must deploy after the Foundation stack (``add_stack_dependency``).
    """
    name = ssm.StringParameter.value_for_string_parameter(scope, parameter_name(environment_name, "s3", key))
    return s3.Bucket.from_bucket_name(scope, construct_id, name)
