"""Stops a forgotten GPU instance: when both CPU and GPU stay idle for a while, the instance is stopped.

Props:
    instance (ec2.Instance): the instance to watch and stop. Required.
    idle_minutes (int): how long both must stay below ``threshold_percent`` (rounded up to 5-minute periods).
    threshold_percent (float): utilisation counted as idle. Default 5.
    topic (sns.ITopic): told when the instance is stopped for idleness. Required.

How it works: two metric alarms (EC2 CPUUtilization; the CloudWatch agent's aggregated
``nvidia_smi_utilization_gpu``) feed a composite alarm ``cpu idle AND gpu idle``. A missing GPU metric counts
as idle (no agent, no work) while a missing CPU metric does not (a stopped instance is not "idle"). When the
composite alarm fires, an EventBridge rule starts the AWS-owned ``AWS-StopEC2Instance`` automation
runbook for this instance, and the topic is notified.
"""

from __future__ import annotations

import math

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.compliance import INLINE_POLICY_REASON, acknowledge

PERIOD = Duration.minutes(5)


class IdleStop(Construct):
    """``alarm`` (the composite alarm) and ``rule`` (the EventBridge rule that stops the instance)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instance: ec2.Instance,
        idle_minutes: int,
        topic: sns.ITopic,
        threshold_percent: float = 5,
    ) -> None:
        super().__init__(scope, construct_id)
        periods = max(1, math.ceil(idle_minutes / PERIOD.to_minutes()))
        dimensions = {"InstanceId": instance.instance_id}
        cpu_idle = cloudwatch.Alarm(
            self,
            "CpuIdle",
            metric=cloudwatch.Metric(
                namespace="AWS/EC2",
                metric_name="CPUUtilization",
                dimensions_map=dimensions,
                statistic="Maximum",
                period=PERIOD,
            ),
            threshold=threshold_percent,
            evaluation_periods=periods,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"CPU of the GPU training instance below {threshold_percent}% for {idle_minutes} min",
        )
        gpu_idle = cloudwatch.Alarm(
            self,
            "GpuIdle",
            metric=cloudwatch.Metric(
                namespace="CWAgent",
                metric_name="nvidia_smi_utilization_gpu",
                dimensions_map=dimensions,
                statistic="Maximum",
                period=PERIOD,
            ),
            threshold=threshold_percent,
            evaluation_periods=periods,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description=f"GPU of the GPU training instance below {threshold_percent}% for {idle_minutes} min",
        )
        for component in (cpu_idle, gpu_idle):
            acknowledge(
                component,
                {
                    "HIPAA.Security-CloudWatchAlarmAction": (
                        "Component of the composite idle alarm, which carries the actions (stop and notify)."
                    ),
                },
            )
        self.alarm = cloudwatch.CompositeAlarm(
            self,
            "Idle",
            alarm_rule=cloudwatch.AlarmRule.all_of(cpu_idle, gpu_idle),
            alarm_description=f"GPU training instance idle for {idle_minutes} min: stopping it",
        )
        self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))

        automation_role = iam.Role(
            self,
            "AutomationRole",
            assumed_by=iam.ServicePrincipal("ssm.amazonaws.com"),
            description="Runs AWS-StopEC2Instance on the GPU training instance",
        )
        automation_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:StopInstances"],
                resources=[f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:instance/{instance.instance_id}"],
            )
        )
        # AWS-StopEC2Instance's aws:changeInstanceState step reads the instance's state and its status checks
        # (the Automation actions reference describes it waiting on both); neither Describe action supports
        # resource-level permissions (Service Authorization Reference).
        automation_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"],
                resources=["*"],
            )
        )
        acknowledge(
            automation_role.node.find_child("DefaultPolicy"),
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "ec2:DescribeInstances and ec2:DescribeInstanceStatus have no resource-level permissions."
                ),
                "HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON,
            },
        )

        runbook_arn = (
            f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:automation-definition/AWS-StopEC2Instance:$DEFAULT"
        )
        events_role = iam.Role(
            self,
            "EventsRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Starts the stop runbook when the idle alarm fires",
        )
        events_role.add_to_policy(
            iam.PolicyStatement(actions=["ssm:StartAutomationExecution"], resources=[runbook_arn])
        )
        automation_role.grant_pass_role(events_role)
        acknowledge(
            events_role.node.find_child("DefaultPolicy"), {"HIPAA.Security-IAMNoInlinePolicy": INLINE_POLICY_REASON}
        )

        self.rule = events.CfnRule(
            self,
            "StopWhenIdle",
            description="Stop the GPU training instance when its idle alarm fires",
            event_pattern={
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": [self.alarm.alarm_arn],
                "detail": {"state": {"value": ["ALARM"]}},
            },
            targets=[
                events.CfnRule.TargetProperty(
                    id="StopInstance",
                    arn=runbook_arn,
                    role_arn=events_role.role_arn,
                    input=Stack.of(self).to_json_string(
                        {
                            "InstanceId": [instance.instance_id],
                            "AutomationAssumeRole": [automation_role.role_arn],
                        }
                    ),
                )
            ],
        )
