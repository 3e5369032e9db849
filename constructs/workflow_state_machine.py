"""A Modelsmith workflow: the one way to add one, with the wiring every workflow shares.

It makes the workflow's input validator and cost estimator functions, then the state machine from ``definition``
(given those two), with X-Ray tracing and full execution logs in an encrypted log group of its own; it lets the
state machine publish to the notification topic, stops what an aborted or timed-out run left running
(:class:`~constructs.abort_cleanup.AbortCleanup`), and publishes the state machine's ARN as
``/modelsmith/<env>/workflows/<workflow>-state-machine-arn``.

Give it the construct ID ``Default``: the resources then keep the logical IDs they had when each stack made them
itself. CDK leaves ``Default`` out of logical IDs ("By using Default as the construct ID ..., the logical ID remains
the same", AWS CDK Developer Guide, Preserve deployed resources when refactoring CDK code); a new logical ID would
replace the state machine and the SSM parameter, whose fixed names make a replacement fail, and delete the logs.

Props:
    name (str): the state machine's construct ID and the end of its name, ``Modelsmith-<env>-<name>``. Required.
    workflow (str): the workflow's name in parameters and notifications (``retrieval-pipeline``). Required.
    title (str): what the ARN's parameter describes. Required.
    config (EnvironmentConfig): the environment (its name; the settings the cost estimator prices with). Required.
    encryption_key (kms.IKey), log_retention (logs.RetentionDays), topic (sns.ITopic): Required.
    validator_description, estimator_description (str): the two functions' descriptions. Required.
    definition (Callable[[WorkflowFunctions], Definition]): the first state, built with the two functions; or that
        and the statements the role needs beyond what CDK generates for the tasks (a ``CustomState`` gets none).
    timeout (Duration): the longest run. Required.
    abort_cleanup (Sequence[Permission]): what the clean-up may do for this workflow. Required.
    cleanup_environment (Mapping[str, str]): more settings of the clean-up function. Default none.
    no_resource_level (str): which of the definition's API calls have no resource-level permissions, beside X-Ray
        and log delivery (the reason for ``Resource::*`` on the state machine's role). Default none.

Exposes ``validator``, ``estimator`` (PythonFunction), ``state_machine``, ``role``, ``log_group``, ``parameters``
(the environment's ParameterTree, for the stack's other parameters) and ``abort_cleanup``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from constructs.abort_cleanup import AbortCleanup
from constructs.compliance import INLINE_POLICY_REASON, acknowledge, nag_resource
from constructs.parameter_tree import ParameterTree
from constructs.permissions import Permission
from constructs.python_function import REPO_ROOT, PythonFunction
from modelsmith_core.config import EnvironmentConfig
from modelsmith_core.cost import cost_config

SCHEMA_DIR = REPO_ROOT / "statemachines" / "schemas"
CORE_DIR = REPO_ROOT / "modelsmith_core"


Definition = sfn.IChainable | tuple[sfn.IChainable, Sequence[iam.PolicyStatement]]


@dataclass(frozen=True)
class WorkflowFunctions:
    """The functions every workflow starts with, for its definition."""

    validator: lambda_.IFunction
    estimator: lambda_.IFunction


class WorkflowStateMachine(Construct):
    """See the module docstring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        workflow: str,
        title: str,
        config: EnvironmentConfig,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
        topic: sns.ITopic,
        validator_description: str,
        estimator_description: str,
        definition: Callable[[WorkflowFunctions], Definition],
        timeout: Duration,
        abort_cleanup: Sequence[Permission],
        cleanup_environment: Mapping[str, str] | None = None,
        no_resource_level: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        # The validator: lambda_src/validate_input with the schemas (statemachines/schemas) bundled.
        self.validator = PythonFunction(
            self,
            "ValidateInput",
            source="validate_input",
            description=validator_description,
            encryption_key=encryption_key,
            log_retention=log_retention,
            bundled_directories={"schemas": SCHEMA_DIR},
            shared_code=True,
        )
        # The cost estimator: lambda_src/estimate_cost with the core package (the estimator, its price table and what
        # it imports; none of the tools) and the environment's settings it prices with in COST_CONFIG.
        settings = {**cost_config(config), "region": Aws.REGION}  # the deployed region, not a literal
        self.estimator = PythonFunction(
            self,
            "EstimateCost",
            source="estimate_cost",
            description=estimator_description,
            encryption_key=encryption_key,
            log_retention=log_retention,
            bundled_packages=[CORE_DIR],
            environment={"COST_CONFIG": json.dumps(settings, sort_keys=True)},
        )
        self.log_group = logs.LogGroup(
            self,
            "WorkflowLogs",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        built = definition(WorkflowFunctions(validator=self.validator.function, estimator=self.estimator.function))
        chain, statements = built if isinstance(built, tuple) else (built, ())
        self.state_machine = sfn.StateMachine(
            self,
            name,
            state_machine_name=f"Modelsmith-{config.name}-{name}",
            definition_body=sfn.DefinitionBody.from_chainable(chain),
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        self.role: iam.IRole = self.state_machine.role
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        acknowledge(
            self.state_machine,
            {
                "W3005": "CDK adds DependsOn on the role beside the GetAtt so the role's policy exists before the workflow.",
            },
        )
        # Publishing to the KMS-encrypted topic needs the key too (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
        topic.grant_publish(self.state_machine)
        resource_level = "X-Ray and CloudWatch Logs delivery have no resource-level permissions"
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Resource::*]": f"{resource_level}; nor do {no_resource_level}."
                if no_resource_level
                else f"{resource_level}.",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": (
                    "CDK's grant to publish to the encrypted notification topic: kms:GenerateDataKey* on the project key only."
                ),
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )
        self.invokes(self.validator.function, self.estimator.function)

        self.abort_cleanup = AbortCleanup(
            self,
            "AbortCleanup",
            state_machine=self.state_machine,
            workflow=workflow,
            encryption_key=encryption_key,
            log_retention=log_retention,
            topic=topic,
            permissions=abort_cleanup,
            environment=cleanup_environment,
        )
        self.parameters = ParameterTree(self, "Parameters", environment_name=config.name)
        self.parameters.publish(
            "workflows", f"{workflow}-state-machine-arn", self.state_machine.state_machine_arn, description=title
        )

    def invokes(self, *functions: lambda_.IFunction) -> None:
        """Acknowledge the ``<function>:*`` resource CDK's LambdaInvoke grants beside each function's ARN."""
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            {
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, function.function_arn)}:*]": (
                    "Versions and aliases of this one function (CDK's LambdaInvoke grants both forms)."
                )
                for function in functions
            },
        )

    def acknowledge_task_resources(self, reasons: Mapping[str, str]) -> None:
        """Why the tasks' own grants (CDK's service integrations) name a wildcard resource, by that resource."""
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            {f"AwsSolutions-IAM5[Resource::{nag_resource(self, resource)}]": why for resource, why in reasons.items()},
        )
