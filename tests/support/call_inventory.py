"""Every AWS API call the app's principals make, and the permissions each needs, dependents included.

Sources of calls:

- **Workflows**: every task state of every state machine, rendered with each example input
  (``tests.contracts.workflows``). AWS SDK integrations call ``<service>:<Action>``; the optimized integrations
  call what the Step Functions developer guide lists for them (``INTEGRATION_CALLS``); the resource is the ARN
  the request names (an ``UNRESOLVED`` name becomes ``example``).
- **Lambda functions**: the boto3 calls found statically in each function's source (``lambda_src/<function>``
  and the shared modules it imports): client services from ``boto3.client("<service>")`` and the operations
  called on them. The exact resource is not known statically: such a call needs a grant of the action on a
  resource of the right type (``exact=False``).
- **The GPU instance's scripts** (``ec2_userdata/*.sh``) and **the image CI** (``.github/workflows/*.yml``):
  their ``aws`` CLI commands, for the instance role and the image publisher role.
- **Automation runbooks** started by EventBridge (the idle stop's ``AWS-StopEC2Instance``), for the role passed
  as their ``AutomationAssumeRole`` (``RUNBOOK_CALLS``).

``DEPENDENT_RULES`` adds, for each call, what AWS documents the call needs besides its own action: the
Service Authorization Reference's dependent actions, and the rules for customer managed KMS keys and tags.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import botocore.session

from tests.support import iam_reference
from tests.support.asl import UNRESOLVED
from tests.support.asl import task_states as asl_task_states
from tests.support.deployed_app import DeployedApp
from tests.support.iam_evaluation import granted_resources

REPO_ROOT = Path(__file__).resolve().parents[2]

# botocore service name -> IAM service prefix, where they differ.
IAM_PREFIX = {
    "stepfunctions": "states",
    "bedrock-runtime": "bedrock",
    "bedrock-agent-runtime": "bedrock",
    "bedrock-agent": "bedrock",
    "sagemaker-runtime": "sagemaker",
    "opensearchserverless": "aoss",
    "bedrock-agentcore-control": "bedrock-agentcore",
}
# Operations whose IAM action differs from the API operation's name (Service Authorization Reference).
IAM_ACTION = {
    "bedrock:Converse": "bedrock:InvokeModel",
    "bedrock:ConverseStream": "bedrock:InvokeModelWithResponseStream",
    "lambda:Invoke": "lambda:InvokeFunction",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:CopyObject": "s3:PutObject",
    "s3:DeleteObjects": "s3:DeleteObject",
}


@dataclass
class Call:
    principal: tuple[str, str]  # (stack, role logical ID)
    action: str  # service:Action, as IAM names it
    resources: list[str]
    source: str  # where the call is made, for messages
    context: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    exact: bool = True  # False: the resource is not known; any grant of the action on its resource type counts
    rule: str = ""  # the dependent rule that requires it ("" for the call itself)

    def describe(self) -> str:
        why = f" (needed by rule {self.rule})" if self.rule else ""
        return f"{self.source}: {self.action} on {self.resources}{why}"


# Optimized integrations -> the calls Step Functions makes for them, per the developer guide's IAM pages:
# https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html (createTrainingJob.sync: Create, Describe,
# Stop on the job, ListTags, PassRole of the job's role to SageMaker, and the managed EventBridge rule),
# https://docs.aws.amazon.com/step-functions/latest/dg/sns-iam.html, https://docs.aws.amazon.com/step-functions/latest/dg/lambda-iam.html
def _integration_calls(
    integration: str, parameters: dict[str, Any], app: DeployedApp
) -> list[tuple[str, list[str], dict]]:
    arn = f"arn:aws:{{}}:{app.region}:{app.account}:{{}}"
    if integration == "sns:publish":
        return [("sns:Publish", [parameters.get("TopicArn", "*")], {})]
    if integration == "lambda:invoke" or integration.startswith("arn:"):
        function = parameters.get("FunctionName", integration)
        return [("lambda:InvokeFunction", [function if function is not UNRESOLVED else "*"], {})]
    if integration == "sagemaker:createTrainingJob.sync":
        job = arn.format("sagemaker", f"training-job/{_text(parameters.get('TrainingJobName'))}".lower())
        rule = arn.format("events", "rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule")
        return [
            ("sagemaker:CreateTrainingJob", [job], {}),
            ("sagemaker:DescribeTrainingJob", [job], {}),
            ("sagemaker:StopTrainingJob", [job], {}),
            ("sagemaker:ListTags", ["*"], {}),
            ("iam:PassRole", [parameters["RoleArn"]], {"iam:PassedToService": "sagemaker.amazonaws.com"}),
            ("events:PutTargets", [rule], {}),
            ("events:PutRule", [rule], {}),
            ("events:DescribeRule", [rule], {}),
        ]
    raise KeyError(f"integration {integration} has no modelled calls")


def _text(value: Any) -> str:
    return "example" if value is UNRESOLVED or value is None else str(value)


def _flatten(parameters: Any) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    if isinstance(parameters, dict):
        for key, value in parameters.items():
            flat[key.lower()] = value
            flat.update({k: v for k, v in _flatten(value).items() if k not in flat})
    return flat


_BEDROCK_MODEL_ALTERNATIVES = {
    "custom-model",
    "inference-profile",
    "provisioned-model",
    "imported-model",
    "application-inference-profile",
    "prompt-router",
    "default-prompt-router",
}


def sdk_call_resources(action: str, parameters: dict[str, Any], app: DeployedApp) -> list[str]:
    """The ARNs a request of ``action`` touches: its required resource types, placeholders filled from the request."""
    record = iam_reference.action(action)
    if record is None or not record.resource_types:
        return ["*"]
    types = [t for t in record.resource_types if t.required] or list(record.resource_types[:1])
    if any(t.name == "foundation-model" for t in types):
        # Bedrock lists every kind of model as required; a request names one (here: a foundation model ID).
        types = [t for t in types if t.name not in _BEDROCK_MODEL_ALTERNATIVES]  # foundation-model stays
    flat = _flatten(parameters)
    service = action.split(":")[0]
    arns = []
    for resource_type in types:
        for template in resource_type.arns[:1]:
            if resource_type.name == "foundation-model":
                model = next((flat[k] for k in ("basemodelidentifier", "modelid") if k in flat), "example")
                if model is UNRESOLVED:
                    # The model comes from an earlier state (a custom model the run made): which of Bedrock's model
                    # types it is is not known here, so the call is checked against any model the role is granted.
                    continue
                arns.append(
                    model
                    if str(model).startswith("arn:")
                    else f"arn:aws:bedrock:{app.region}::foundation-model/{model}"
                )
                continue
            given = [
                v
                for v in flat.values()
                if isinstance(v, str) and v.startswith(f"arn:aws:{service}:") and iam_reference.arn_matches(v, template)
            ]
            if given:
                arns.append(given[0])
                continue

            def fill(match: re.Match[str]) -> str:
                name = match[1]
                fixed = {"Partition": "aws", "Region": app.region, "Account": app.account}
                if name in fixed:
                    return fixed[name]
                key = name.lower()
                for candidate in (
                    key,
                    key + "s",
                    key.removesuffix("name"),
                    key.removesuffix("id") + "identifier",
                    key.removesuffix("id") + "ids",
                    key.removesuffix("name") + "identifier",
                ):
                    value = flat.get(candidate)
                    if isinstance(value, list) and value:
                        value = value[0]
                    if isinstance(value, str) and not value.startswith("arn:"):
                        return value
                return "example"

            arns.append(re.sub(r"\$\{([^}]+)\}", fill, template))
    return arns


def workflow_calls(app: DeployedApp) -> Iterator[Call]:
    from tests.contracts.workflows import rendered_tasks, workflows

    for workflow in workflows(app):
        principal = (workflow.stack, workflow.role)
        for example, task, operation, parameters in rendered_tasks(workflow):
            source = f"{workflow.logical_id} / {task.name} ({example})"
            integration = task.integration
            if integration.startswith("aws-sdk:"):
                service, name = operation
                action = f"{IAM_PREFIX.get(service, service)}:{name}"
                action = IAM_ACTION.get(action, action)
                resources = sdk_call_resources(action, parameters, app)
                # no resource: it is named at run time by an earlier state; any granted one of its type will do
                yield Call(principal, action, resources, source, parameters=parameters, exact=bool(resources))
                continue
            for action, resources, context in _integration_calls(integration, parameters, app):
                yield Call(principal, action, resources, source, context=context, parameters=parameters)


# Lambda functions ----------------------------------------------------------------------------------------------------
_NOT_OPERATIONS = {"get_paginator", "get_waiter", "close", "can_paginate", "generate_presigned_url"}
_S3_TRANSFER = {
    "upload_file": "PutObject",
    "upload_fileobj": "PutObject",
    "download_file": "GetObject",
    "download_fileobj": "GetObject",
}


def _function_sources(function: str) -> list[Path]:
    directory = REPO_ROOT / "lambda_src" / function
    files = sorted(directory.rglob("*.py"))
    shared = REPO_ROOT / "lambda_src" / "shared"
    imported = {
        module
        for path in files
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
        for module in [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    }
    return files + [path for path in sorted(shared.glob("*.py")) if f"lambda_src.shared.{path.stem}" in imported]


def lambda_operations(function: str) -> dict[str, set[str]]:
    """botocore service -> API operations the function's code calls (found statically)."""
    session = botocore.session.get_session()
    trees = [ast.parse(path.read_text()) for path in _function_sources(function)]
    services = {
        node.args[0].value
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }
    called = {
        node.func.attr
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    paginated = {
        node.args[0].value
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get_paginator"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    operations: dict[str, set[str]] = {}
    for service in services:
        model = session.get_service_model(service)
        by_method = {
            re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("v_2", "v2"): name for name in model.operation_names
        }
        found = {by_method[name] for name in (called | paginated) - _NOT_OPERATIONS if name in by_method}
        if service == "s3":
            found |= {operation for method, operation in _S3_TRANSFER.items() if method in called}
        if found:
            operations[service] = found
    return operations


# Functions that serve several workflows and call, per workflow (their WORKFLOW variable), only part of what their
# code can call; test_call_grants checks that this table covers exactly what the static scan finds.
WORKFLOW_BRANCHES: dict[str, dict[str, set[str]]] = {
    "cleanup_aborted_run": {
        "lora-training": {"ec2:StopInstances", "ssm:ListCommands", "ssm:CancelCommand"},
        "retrieval-pipeline": {
            "bedrock:ListModelInvocationJobs",
            "bedrock:StopModelInvocationJob",
            "sagemaker:ListTrainingJobs",
            "sagemaker:ListTags",
            "sagemaker:StopTrainingJob",
        },
        "llm-customization": {
            "bedrock:GetModelCustomizationJob",
            "bedrock:StopModelCustomizationJob",
            "bedrock:DeleteCustomModelDeployment",
            "bedrock:DeleteProvisionedModelThroughput",
        },
    },
}
# Request context a statically found call carries (a listing is made under the run's prefix).
_STATIC_CONTEXT = {
    "s3:ListBucket": {"s3:prefix": "runs/example/"},
    # endpoint_watch.NAMESPACE, the one namespace the project publishes metrics in
    "cloudwatch:PutMetricData": {"cloudwatch:namespace": "Modelsmith"},
}


def lambda_calls(app: DeployedApp) -> Iterator[Call]:
    for stack, logical_id, resource in app.resources("AWS::Lambda::Function"):
        properties = resource["Properties"]
        function = properties.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
        if not function or not (REPO_ROOT / "lambda_src" / function).is_dir():
            continue
        principal = (stack.name, properties["Role"]["Fn::GetAtt"][0])
        branches = WORKFLOW_BRANCHES.get(function, {})
        workflow = properties.get("Environment", {}).get("Variables", {}).get("WORKFLOW")
        other_branches = {a for name, actions in branches.items() if name != workflow for a in actions}
        for service, operations in sorted(lambda_operations(function).items()):
            for operation in sorted(operations):
                action = f"{IAM_PREFIX.get(service, service)}:{operation}"
                action = IAM_ACTION.get(action, action)
                if action in other_branches and action not in branches.get(workflow, set()):
                    continue
                yield Call(
                    principal,
                    action,
                    [],
                    f"{stack.name}/{logical_id} (lambda_src/{function})",
                    context=dict(_STATIC_CONTEXT.get(action, {})),
                    exact=False,
                )


# Shell scripts and CI -----------------------------------------------------------------------------------------------
# The ``aws`` CLI's high-level s3 commands -> the API actions they use (AWS CLI user guide, "Using high-level (s3)
# commands": cp/sync upload with PutObject, download with GetObject, and list with ListObjectsV2).
_S3_COMMANDS = {
    "cp": ["s3:PutObject", "s3:GetObject"],
    "sync": ["s3:PutObject", "s3:GetObject", "s3:ListBucket"],
    "ls": ["s3:ListBucket"],
    "rm": ["s3:DeleteObject"],
    "mv": ["s3:PutObject", "s3:DeleteObject"],
}


def cli_actions(script: str) -> set[str]:
    """IAM actions of the ``aws <service> <command>`` invocations in shell text."""
    actions = set()
    for service, command in re.findall(r"\baws\s+([a-z0-9-]+)\s+([a-z0-9-]+)", script):
        if service == "s3":
            actions.update(_S3_COMMANDS.get(command, []))
            continue
        operation = "".join(part.capitalize() for part in command.split("-"))
        if service == "ecr" and command == "get-login-password":
            operation = "GetAuthorizationToken"
        actions.add(f"{IAM_PREFIX.get(service, service)}:{operation}")
    return actions


def instance_calls(app: DeployedApp) -> Iterator[Call]:
    """The GPU instance's scripts run with the instance profile's role."""
    roles = [
        (stack.name, resource["Properties"]["Roles"][0]["Ref"])
        for stack, _, resource in app.resources("AWS::IAM::InstanceProfile")
    ]
    for principal in roles:
        for script in sorted((REPO_ROOT / "ec2_userdata").glob("*.sh")):
            for action in sorted(cli_actions(script.read_text())):
                yield Call(principal, action, [], f"ec2_userdata/{script.name}", exact=False)


def ci_calls(app: DeployedApp) -> Iterator[Call]:
    """The image CI runs with the image publisher role (when the config creates one); pushing an image with the
    docker CLI needs the ECR actions the ECR user guide lists for pushing
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html)."""
    publishers = [
        (stack.name, logical_id)
        for stack, logical_id, resource in app.resources("AWS::IAM::Role")
        if "ImagePublisher" in logical_id
    ]
    push = {
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    }
    for principal in publishers:
        for workflow in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml")):
            text = workflow.read_text()
            actions = cli_actions(text) | (push if "docker push" in text else set())
            for action in sorted(actions):
                yield Call(principal, action, [], f".github/workflows/{workflow.name}", exact=False)


# AWS-owned automation runbooks the app starts -> the calls they make with their AutomationAssumeRole. The runbook
# reference lists AWS-StopEC2Instance's one step, aws:changeInstanceState (desiredState stopped), which stops the
# instance and waits for its state and status checks
# (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-changestate.html).
RUNBOOK_CALLS = {"AWS-StopEC2Instance": ("ec2:StopInstances", "ec2:DescribeInstances", "ec2:DescribeInstanceStatus")}


def automation_calls(app: DeployedApp) -> Iterator[Call]:
    """Runbooks started by EventBridge rules, with the role passed as their AutomationAssumeRole."""

    roles = {
        app.get_att(stack.name, logical_id, "Arn"): (stack.name, logical_id)
        for stack, logical_id, _ in app.resources("AWS::IAM::Role")
    }
    for stack, logical_id, resource in app.resources("AWS::Events::Rule"):
        for target in resource["Properties"].get("Targets", []):
            arn = str(app.resolve(stack.name, target["Arn"]))
            runbook = (
                arn.split(":automation-definition/", 1)[-1].split(":", 1)[0]
                if ":automation-definition/" in arn
                else None
            )
            if runbook is None:
                continue
            if runbook not in RUNBOOK_CALLS:
                raise KeyError(f"{stack.name}/{logical_id}: runbook {runbook} has no modelled calls (RUNBOOK_CALLS)")
            parameters = json.loads(app.resolve(stack.name, target["Input"]))
            principal = roles[parameters["AutomationAssumeRole"][0]]
            instance = f"arn:aws:ec2:{app.region}:{app.account}:instance/{parameters['InstanceId'][0]}"
            for action in RUNBOOK_CALLS[runbook]:
                resources = [instance] if iam_reference.action(action).resource_types else ["*"]
                yield Call(principal, action, resources, f"{stack.name}/{logical_id} ({runbook})")


def inventory(app: DeployedApp) -> list[Call]:
    return [*workflow_calls(app), *lambda_calls(app), *instance_calls(app), *ci_calls(app), *automation_calls(app)]


# Dependent permissions ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DependentRule:
    name: str
    source: str  # the documentation URL that states the rule
    requires: Callable[[Call, DeployedApp, list[dict]], list[Call]]


def _kms_keys_of(
    app: DeployedApp, resource_type: str, key_property: Callable[[dict], Any], name_of: Callable[[str, str], Any]
) -> dict[str, str]:
    keys = {}
    for stack, logical_id, resource in app.resources(resource_type):
        key = key_property(resource.get("Properties", {}))
        if key is not None:
            keys[str(name_of(stack.name, logical_id))] = _key_arn(app, stack.name, key)
    return keys


def _key_arn(app: DeployedApp, stack: str, key: Any) -> str:
    value = str(app.resolve(stack, key))
    if value.startswith("arn:"):
        return value
    return f"arn:aws:kms:{app.region}:{app.account}:key/{value}"


def _needs(
    call: Call, rule: str, actions: list[str], resources: list[str], service: str, app: DeployedApp, **context: Any
) -> list[Call]:
    base = {"kms:ViaService": f"{service}.{app.region}.amazonaws.com", "kms:CallerAccount": app.account}
    return [
        Call(call.principal, action, resources, call.source, context={**base, **context}, exact=call.exact, rule=rule)
        for action in actions
    ]


def _sns_kms(call: Call, app: DeployedApp, documents: list[dict]) -> list[Call]:
    if call.action.lower() != "sns:publish":
        return []
    keys = _kms_keys_of(app, "AWS::SNS::Topic", lambda p: p.get("KmsMasterKeyId"), lambda s, i: app.ref(s, i))
    key = next((keys[topic] for topic in call.resources if topic in keys), None)
    return _needs(call, "sns-kms", ["kms:GenerateDataKey", "kms:Decrypt"], [key], "sns", app) if key else []


def _instance_keys(app: DeployedApp) -> dict[str, str]:
    """Instance ID -> the customer managed key of an encrypted volume it boots with or has attached."""
    keys: dict[str, str] = {}
    for stack, logical_id, resource in app.resources("AWS::EC2::Instance"):
        instance = app.ref(stack.name, logical_id)
        for mapping in resource["Properties"].get("BlockDeviceMappings", []):
            if mapping.get("Ebs", {}).get("KmsKeyId"):
                keys[instance] = _key_arn(app, stack.name, mapping["Ebs"]["KmsKeyId"])
        template = resource["Properties"].get("LaunchTemplate")
        if template:
            template_id = app.resolve(stack.name, template.get("LaunchTemplateId"))
            for other_stack, other_id, other in app.resources("AWS::EC2::LaunchTemplate"):
                if app.ref(other_stack.name, other_id) == template_id:
                    data = other["Properties"]["LaunchTemplateData"]
                    for mapping in data.get("BlockDeviceMappings", []):
                        if mapping.get("Ebs", {}).get("KmsKeyId"):
                            keys[instance] = _key_arn(app, other_stack.name, mapping["Ebs"]["KmsKeyId"])
    for stack, _, attachment in app.resources("AWS::EC2::VolumeAttachment"):
        instance = app.resolve(stack.name, attachment["Properties"]["InstanceId"])
        volume = app.resolve(stack.name, attachment["Properties"]["VolumeId"])
        for other_stack, other_id, other in app.resources("AWS::EC2::Volume"):
            if app.ref(other_stack.name, other_id) == volume and other["Properties"].get("KmsKeyId"):
                keys[instance] = _key_arn(app, other_stack.name, other["Properties"]["KmsKeyId"])
    return keys


def _ec2_start_kms(call: Call, app: DeployedApp, documents: list[dict]) -> list[Call]:
    if call.action.lower() not in ("ec2:startinstances", "ec2:runinstances"):
        return []
    keys = _instance_keys(app)
    instances = [resource.rsplit("/", 1)[-1] for resource in call.resources]
    key = next((keys[i] for i in instances if i in keys), None)
    if key is None:
        return []
    return _needs(
        call,
        "ebs-kms",
        ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"],
        [key],
        "ec2",
        app,
        **{"kms:GrantIsForAWSResource": "true"},
    )


def _sagemaker_tags(call: Call, app: DeployedApp, documents: list[dict]) -> list[Call]:
    service, _, name = call.action.partition(":")
    if service != "sagemaker" or not name.startswith("Create") or not call.parameters.get("Tags"):
        return []
    return [
        Call(
            call.principal,
            "sagemaker:AddTags",
            call.resources[:1],
            call.source,
            exact=call.exact,
            # the create action's name, as SageMaker's tagging example conditions it
            # (https://docs.aws.amazon.com/sagemaker/latest/dg/security_iam_id-based-policy-examples.html#grant-tagging-permissions)
            context={"sagemaker:TaggingAction": name},
            rule="sagemaker-tags",
        )
    ]


def _sagemaker_endpoint_kms(call: Call, app: DeployedApp, documents: list[dict]) -> list[Call]:
    """CreateEndpoint/UpdateEndpoint of a config with a KmsKeyId: kms:CreateGrant on that key for the caller."""
    if call.action not in ("sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"):
        return []
    keys = set()
    for stack, _, resource in app.resources("AWS::StepFunctions::StateMachine"):
        if stack.name == call.principal[0]:
            definition = json.loads(app.resolve(stack.name, resource["Properties"]["DefinitionString"]))
            keys |= {
                task.parameters["KmsKeyId"]
                for task in asl_task_states(definition)
                if task.integration.endswith(":createEndpointConfig")
                and isinstance(task.parameters.get("KmsKeyId"), str)
            }
    return (
        [
            Call(
                call.principal,
                action,
                sorted(keys),
                call.source,
                exact=call.exact,
                rule="sagemaker-endpoint-kms",
                context={
                    "kms:GrantIsForAWSResource": "true",
                    "kms:ViaService": f"sagemaker.{app.region}.amazonaws.com",
                },
            )
            for action in ("kms:CreateGrant", "kms:DescribeKey")
        ]
        if keys
        else []
    )


def _s3_kms(call: Call, app: DeployedApp, documents: list[dict]) -> list[Call]:
    """SSE-KMS objects: GetObject needs kms:Decrypt, PutObject kms:GenerateDataKey, through S3; the encryption context
    is the bucket's ARN with an S3 Bucket Key, the object's otherwise
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context)."""
    kms_action = {"s3:GetObject": "kms:Decrypt", "s3:PutObject": "kms:GenerateDataKey"}.get(call.action)
    if kms_action is None:
        return []
    encrypted = {}
    for stack, logical_id, resource in app.resources("AWS::S3::Bucket"):
        for rule in resource["Properties"].get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
            key = rule["ServerSideEncryptionByDefault"].get("KMSMasterKeyID")
            if key is not None:
                encrypted[app.ref(stack.name, logical_id)] = (
                    _key_arn(app, stack.name, key),
                    bool(rule.get("BucketKeyEnabled")),
                )
    required = []
    for resource in call.resources if call.exact else granted_resources(documents, call.action):
        bucket, _, key_name = resource.split(":::", 1)[-1].partition("/")
        if bucket not in encrypted:
            continue
        key, bucket_key = encrypted[bucket]
        context_arn = (
            f"arn:aws:s3:::{bucket}" if bucket_key else f"arn:aws:s3:::{bucket}/{key_name.replace('*', 'example')}"
        )
        required += _needs(
            call, "s3-kms", [kms_action], [key], "s3", app, **{"kms:EncryptionContext:aws:s3:arn": context_arn}
        )
    return required


def _secret_kms(call: Call, app: DeployedApp, documents: list[dict]) -> list[Call]:
    if call.action != "secretsmanager:GetSecretValue":
        return []
    secrets = _kms_keys_of(app, "AWS::SecretsManager::Secret", lambda p: p.get("KmsKeyId"), lambda s, i: app.ref(s, i))
    granted = call.resources if call.exact else granted_resources(documents, call.action)
    keys = sorted({key for secret, key in secrets.items() if any(fnmatchcase(secret, pattern) for pattern in granted)})
    return _needs(call, "secrets-kms", ["kms:Decrypt"], keys, "secretsmanager", app) if keys else []


def _custom_model_kms(call: Call, app: DeployedApp, documents: list[dict]) -> list[Call]:
    """Invoking a custom model the app's customization jobs encrypt with a customer managed key needs kms:Decrypt
    on that key through Bedrock. Statically found calls cannot tell a custom model from a base model: a role that
    invokes models in a stack whose workflow creates encrypted custom models is held to it."""
    if call.action not in ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"):
        return []
    keys = set()
    for stack, _, resource in app.resources("AWS::StepFunctions::StateMachine"):
        if stack.name != call.principal[0]:
            continue
        definition = json.loads(app.resolve(stack.name, resource["Properties"]["DefinitionString"]))
        keys |= {
            task.parameters["CustomModelKmsKeyId"]
            for task in asl_task_states(definition)
            if isinstance(task.parameters.get("CustomModelKmsKeyId"), str)
        }
    return _needs(call, "bedrock-custom-model-kms", ["kms:Decrypt"], sorted(keys), "bedrock", app) if keys else []


def _reference_dependents(call: Call, app: DeployedApp, documents: list[dict]) -> list[Call]:
    record = iam_reference.action(call.action)
    if record is None:
        return []
    return [
        Call(call.principal, dependent, ["*"], call.source, exact=False, rule="reference-dependent-action")
        for dependent in record.dependent_actions
    ]


DEPENDENT_RULES: tuple[DependentRule, ...] = (
    DependentRule("sns-kms", "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html", _sns_kms),
    DependentRule(
        "ebs-kms", "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html", _ec2_start_kms
    ),
    DependentRule(
        "sagemaker-tags",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html",
        _sagemaker_tags,
    ),
    DependentRule(
        "sagemaker-endpoint-kms",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html",
        _sagemaker_endpoint_kms,
    ),
    DependentRule("s3-kms", "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html", _s3_kms),
    DependentRule(
        "secrets-kms",
        "https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",
        _secret_kms,
    ),
    DependentRule(
        "bedrock-custom-model-kms",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/encryption-custom-job.html",
        _custom_model_kms,
    ),
    DependentRule(
        "reference-dependent-action",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html",
        _reference_dependents,
    ),
)


def with_dependents(calls: list[Call], app: DeployedApp, policies: dict[tuple[str, str], list[Any]]) -> list[Call]:
    """``calls`` and, after each, what the dependent rules require of its principal (``policies``: role -> its
    ``PolicyDocument``s, for rules that look at what the role is granted)."""
    expanded = list(calls)
    for call in calls:
        documents = [document.document for document in policies.get(call.principal, [])]
        for rule in DEPENDENT_RULES:
            expanded.extend(rule.requires(call, app, documents))
    return expanded
