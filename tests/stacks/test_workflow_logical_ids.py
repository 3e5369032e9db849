"""The workflows' resources keep the logical IDs they had before ``WorkflowStateMachine`` gathered them.

A new logical ID replaces a resource: CloudFormation creates the new one before it deletes the old, and a state
machine or SSM parameter with a fixed name then fails to create ("already exists"); a replaced log group loses
its logs. The construct keeps them by its ID ``Default``, which CDK leaves out of logical IDs (AWS CDK Developer
Guide, "Preserve deployed resources when refactoring CDK code"). The IDs below are those the stacks had when they
made these resources themselves (synthesized at commit e29e2f3).
"""

from __future__ import annotations

import pytest

SHARED = {
    "WorkflowLogs6DD5EEB0": "AWS::Logs::LogGroup",
    "ValidateInputFunction2A763D83": "AWS::Lambda::Function",
    "ValidateInputLogs2A8DAB70": "AWS::Logs::LogGroup",
    "EstimateCostFunction5A5C29A0": "AWS::Lambda::Function",
    "EstimateCostLogsB3E1FD10": "AWS::Logs::LogGroup",
    "AbortCleanupFunction12DBD967": "AWS::Lambda::Function",
    "AbortCleanupFunctionLogs41DF0379": "AWS::Logs::LogGroup",
    "AbortCleanupDeadLettersA9B12ABF": "AWS::SQS::Queue",
}
PINNED = {
    "RetrievalPipeline": {
        "RetrievalPipeline06FFA7A3": "AWS::StepFunctions::StateMachine",
        "RetrievalPipelineRole4B41B995": "AWS::IAM::Role",
        "Parametersworkflowsretrievalpipelinestatemachinearn326610FA": "AWS::SSM::Parameter",
        "ParametersretrievalpipelinebatchinferencerolearnF850765D": "AWS::SSM::Parameter",
    },
    "LlmCustomization": {
        "LlmCustomization9C438C9A": "AWS::StepFunctions::StateMachine",
        "LlmCustomizationRoleFB385A1B": "AWS::IAM::Role",
        "Parametersworkflowsllmcustomizationstatemachinearn852513F4": "AWS::SSM::Parameter",
    },
    "TrainingInstance": {
        "LoraTraining3D9E7CE3": "AWS::StepFunctions::StateMachine",
        "LoraTrainingRole17F79C91": "AWS::IAM::Role",
        "Parametersworkflowsloratrainingstatemachinearn4E34FE09": "AWS::SSM::Parameter",
        "ParameterstraininginstanceinstanceidA602C68A": "AWS::SSM::Parameter",
        "Parameterstraininginstancepublishtohubdocument8D0AF19C": "AWS::SSM::Parameter",
    },
}


@pytest.mark.parametrize("component", sorted(PINNED))
def test_workflow_resources_keep_their_logical_ids(synthesized, component: str) -> None:
    resources = synthesized.template_json(f"Modelsmith-{synthesized.config.name}-{component}")["Resources"]
    expected = {**SHARED, **PINNED[component]}
    assert {logical_id: resources.get(logical_id, {}).get("Type") for logical_id in expected} == expected
