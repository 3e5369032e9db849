"""TrainingInstance stack, per environment: an SSM-only GPU instance, its volume, documents, idle stop,
image repository, workflow and published IDs."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match

from constructs.gpu_training_instance import DEEP_LEARNING_AMI_PARAMETER


@pytest.fixture
def training(synthesized):
    name = synthesized.stacks.training_instance.stack_name
    return synthesized, synthesized.template(name), synthesized.template_json(name)


def test_instance_is_ssm_only_imdsv2_private_and_encrypted(training) -> None:
    synthesized, template, raw = training
    (instance,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::EC2::Instance"]
    properties = instance["Properties"]
    assert properties["InstanceType"] == synthesized.config.training_instance.instance_type
    assert "KeyName" not in properties
    assert properties["Monitoring"] is True and properties["EbsOptimized"] is True
    (root,) = properties["BlockDeviceMappings"]
    assert root["Ebs"]["Encrypted"] is True and root["Ebs"]["VolumeType"] == "gp3" and "KmsKeyId" in root["Ebs"]
    image_parameter = properties["ImageId"]["Ref"]
    assert raw["Parameters"][image_parameter] == {
        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "Default": DEEP_LEARNING_AMI_PARAMETER,
    }
    template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {
            "LaunchTemplateData": {"MetadataOptions": {"HttpTokens": "required"}},
        },
    )
    (group,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::EC2::SecurityGroup"]
    assert "SecurityGroupIngress" not in group["Properties"]
    assert group["Properties"]["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS (AWS APIs, ECR, Hugging Face)",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    assert "22" not in json.dumps(group)


def test_checkpoint_volume_from_config_retained_in_prod(training) -> None:
    synthesized, template, raw = training
    config = synthesized.config.training_instance
    policy = "Retain" if synthesized.config.retain_stateful_resources else "Delete"
    template.has_resource(
        "AWS::EC2::Volume",
        {
            "Properties": {
                "VolumeType": "gp3",
                "Size": config.checkpoint_volume_gib,
                "Iops": config.checkpoint_volume_iops,
                "Throughput": config.checkpoint_volume_throughput_mibps,
                "Encrypted": True,
                "KmsKeyId": Match.any_value(),
            },
            "DeletionPolicy": policy,
        },
    )
    template.has_resource_properties("AWS::EC2::VolumeAttachment", {"Device": "/dev/sdf"})


def test_checkpoint_volume_logical_id_is_pinned(training) -> None:
    _, _, raw = training
    volumes = [logical for logical, r in raw["Resources"].items() if r["Type"] == "AWS::EC2::Volume"]
    assert volumes == ["GpuInstanceCheckpointVolume3324F0ED"]  # never edit to make a test pass: it replaces the volume


def test_user_data_runs_the_setup_script_with_the_volume(training) -> None:
    _, _, raw = training
    (instance,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::EC2::Instance"]
    user_data = json.dumps(instance["Properties"]["UserData"])
    assert "setup_instance.sh --volume-id" in user_data
    assert "GpuInstanceCheckpointVolume3324F0ED" in user_data
    assert "HF_TOKEN_SECRET_ARN=" in user_data and "hf_" not in user_data.replace("HF_TOKEN", "")


def test_user_data_runs_at_every_boot(training) -> None:
    # cloud-init runs user data scripts only on an instance's first boot unless the scripts-user module is set to
    # "always" (https://repost.aws/knowledge-center/execute-user-data-ec2): a stopped-and-started instance must set
    # itself up again (mount, agent, newest job scripts).
    _, _, raw = training
    (instance,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::EC2::Instance"]
    user_data = json.dumps(instance["Properties"]["UserData"])
    assert "multipart/mixed" in user_data
    assert "text/cloud-config" in user_data and "cloud_final_modules:\\n- [scripts-user, always]" in user_data
    assert user_data.index("cloud_final_modules") < user_data.index("setup_instance.sh")


def test_instance_role_is_scoped(training) -> None:
    _, template, raw = training
    policies = [
        r
        for logical, r in raw["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and logical.startswith("GpuInstanceRoleDefaultPolicy")
    ]
    (policy,) = policies
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "Sid" in s}
    assert sorted(statements["WriteRunArtifacts"]["Action"]) == [
        "s3:AbortMultipartUpload",
        "s3:GetObject",
        "s3:PutObject",
    ]
    assert json.dumps(statements["WriteRunArtifacts"]["Resource"]).endswith('"/runs/*"]]}')
    assert statements["ListRunArtifacts"]["Condition"] == {"StringLike": {"s3:prefix": ["runs/*"]}}
    assert statements["ReadDatasets"]["Action"] == "s3:GetObject"
    assert sorted(statements["NoResourceLevelPermissions"]["Action"]) == [
        "cloudwatch:PutMetricData",
        "ecr:GetAuthorizationToken",
    ]
    for sid, statement in statements.items():
        if sid != "NoResourceLevelPermissions":
            assert statement["Resource"] != "*", sid
        assert not any(
            action.endswith("*")
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        ), sid


@pytest.mark.parametrize("suffix", ["RunFineTune", "ArchiveRun", "PublishToHub"])
def test_documents_validate_every_parameter(training, suffix: str) -> None:
    synthesized, _, raw = training
    (document,) = [
        r["Properties"]
        for r in raw["Resources"].values()
        if r["Type"] == "AWS::SSM::Document"
        and r["Properties"]["Name"] == f"Modelsmith-{synthesized.config.name}-{suffix}"
    ]
    assert document["DocumentType"] == "Command" and document["UpdateMethod"] == "NewVersion"
    parameters = document["Content"]["parameters"]
    assert parameters and all("allowedPattern" in p for p in parameters.values())
    for parameter in parameters.values():
        pattern = re.compile(parameter["allowedPattern"])
        for hostile in ("a'b", "a b", "a;b", "$(id)", "a`b", "a|b"):
            assert not pattern.match(hostile), (parameter, hostile)
    assert not any("token" in name.lower() or "secret" in name.lower() for name in parameters)


def test_idle_stop_uses_cpu_and_gpu_and_stops_through_automation(training) -> None:
    synthesized, template, raw = training
    periods = -(-synthesized.config.training_instance.idle_stop_minutes // 5)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/EC2",
            "EvaluationPeriods": periods,
            "TreatMissingData": "notBreaching",
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "nvidia_smi_utilization_gpu",
            "Namespace": "CWAgent",
            "TreatMissingData": "breaching",
        },
    )
    (composite,) = template.find_resources("AWS::CloudWatch::CompositeAlarm").values()
    assert "AND" in json.dumps(composite["Properties"]["AlarmRule"])
    (rule,) = [
        r
        for r in template.find_resources("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.cloudwatch"]
    ]
    (target,) = rule["Properties"]["Targets"]
    assert "automation-definition/AWS-StopEC2Instance:$DEFAULT" in json.dumps(target["Arn"])
    assert rule["Properties"]["EventPattern"]["detail"] == {"state": {"value": ["ALARM"]}}


def test_image_repository_scans_and_is_immutable_but_for_latest(training) -> None:
    synthesized, template, _ = training
    template.has_resource(
        "AWS::ECR::Repository",
        {
            "Properties": {
                "ImageScanningConfiguration": {"ScanOnPush": True},
                "ImageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
                "ImageTagMutabilityExclusionFilters": [
                    {
                        "ImageTagMutabilityExclusionFilterType": "WILDCARD",
                        "ImageTagMutabilityExclusionFilterValue": "latest",
                    }
                ],
                "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": Match.any_value()},
                "LifecyclePolicy": Match.any_value(),
            },
            "DeletionPolicy": "Retain" if synthesized.config.retain_stateful_resources else "Delete",
        },
    )


def test_workflow_logs_and_traces(training) -> None:
    _, template, _ = training
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
        },
    )


def test_every_resource_id_is_published(training) -> None:
    synthesized, template, _ = training
    names = sorted(p["Properties"]["Name"] for p in template.find_resources("AWS::SSM::Parameter").values())
    prefix = f"/modelsmith/{synthesized.config.name}"
    assert names == sorted(
        f"{prefix}/{suffix}"
        for suffix in [
            "training-instance/instance-id",
            "training-instance/checkpoint-volume-id",
            "training-instance/log-group",
            "training-instance/image-repository-uri",
            "training-instance/run-fine-tune-document",
            "training-instance/archive-run-document",
            "training-instance/publish-to-hub-document",
            "workflows/lora-training-state-machine-arn",
        ]
    )


def test_publisher_role_trusts_only_main_of_the_named_repository(stack) -> None:
    from aws_cdk import aws_kms as kms
    from aws_cdk.assertions import Template

    from constructs.training_image_repository import TrainingImageRepository

    image = TrainingImageRepository(
        stack, "Image", encryption_key=kms.Key(stack, "Key"), retain=True, github_repository="acme/modelsmith"
    )
    template = Template.from_stack(stack)
    (role,) = [r for r in template.find_resources("AWS::IAM::Role").values()]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/modelsmith:ref:refs/heads/main",
        }
    }
    assert role["Properties"]["MaxSessionDuration"] == 3600
    assert image.publisher_role is not None


def test_no_publisher_role_unless_configured(training) -> None:
    synthesized, template, _ = training
    if synthesized.config.training_instance.image_publisher_github_repository is None:
        roles = template.find_resources("AWS::IAM::Role")
        assert not any("GitHub" in json.dumps(r) for r in roles.values())


def test_aborted_runs_stop_the_instance(training) -> None:
    _, template, raw = training
    (rule,) = [
        r
        for r in template.find_resources("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"].get("source") == ["aws.states"]
    ]
    assert rule["Properties"]["EventPattern"]["detail"]["status"] == ["ABORTED", "TIMED_OUT"]
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2 and "DeadLetterConfig" in target
    functions = [
        r
        for k, r in raw["Resources"].items()
        if k.startswith("AbortCleanupFunction") and r["Type"] == "AWS::Lambda::Function"
    ]
    (function,) = functions
    assert function["Properties"]["Environment"]["Variables"]["WORKFLOW"] == "lora-training"
    assert "DeadLetterConfig" in function["Properties"]
