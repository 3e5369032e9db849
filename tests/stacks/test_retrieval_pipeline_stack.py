"""RetrievalPipeline stack, per environment: functions, their scoped permissions, the batch role, the workflow."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match

from constructs.sagemaker_code import build_source_archive
from modelsmith_core import catalogue
from modelsmith_core.config import load_config
from stacks.foundation_stack import FoundationStack
from stacks.retrieval_pipeline_stack import TRAINING_REQUIREMENTS, RetrievalPipelineStack
from tests.support.stepfunctions import render_definition

CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


@pytest.fixture
def pipeline(synthesized):
    name = synthesized.stacks.retrieval_pipeline.stack_name
    return synthesized, synthesized.template(name), synthesized.template_json(name)


def _policy_of(raw: dict, role_prefix: str) -> list[dict]:
    (policy,) = [
        r
        for logical, r in raw["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and logical.startswith(role_prefix)
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_functions_use_the_current_runtime_with_tracing_and_reserved_concurrency(pipeline) -> None:
    _, template, _ = pipeline
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 8  # seven pipeline functions and the clean-up after aborted runs
    for logical, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.14" and properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["ReservedConcurrentExecutions"] >= 1 and "KmsKeyArn" in properties
        if not logical.startswith(("ValidateInput", "AbortCleanup", "EstimateCost")):  # these read nothing from S3
            assert properties["Environment"]["Variables"]["ARTIFACTS_BUCKET"]


def test_long_running_functions_have_room_but_stay_below_the_lambda_limit(pipeline) -> None:
    _, _, raw = pipeline
    timeouts = {
        logical: r["Properties"]["Timeout"]
        for logical, r in raw["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert all(timeout <= 900 for timeout in timeouts.values())
    assert [t for logical, t in timeouts.items() if logical.startswith("GenerateQueries")] == [900]


def test_workers_touch_only_run_prefixes_and_their_services(pipeline) -> None:
    _, _, raw = pipeline
    for role in (
        "ExtractCorpusRole",
        "GenerateQueriesRole",
        "BuildPairsRole",
        "PublishTrainingReportRole",
        "RegisterModelRole",
    ):
        statements = _policy_of(raw, f"{role}DefaultPolicy")
        writes = [s for s in statements if "s3:PutObject" in _actions(s)]
        assert writes and all(json.dumps(s["Resource"]).endswith('/runs/*"]]}') for s in writes), role
        assert not any(a in ("s3:*", "s3:DeleteObject") for s in statements for a in _actions(s)), role
    generate = _policy_of(raw, "GenerateQueriesRoleDefaultPolicy")
    bedrock = [s for s in generate if "bedrock:InvokeModel" in _actions(s)]
    assert bedrock and "foundation-model/*" in json.dumps(bedrock)
    extract = _policy_of(raw, "ExtractCorpusRoleDefaultPolicy")
    secrets = [s for s in extract if "secretsmanager:GetSecretValue" in _actions(s)]
    assert "secret:modelsmith/" in json.dumps(secrets) and "opensearch-*" in json.dumps(secrets)
    assert not any("bedrock" in a for s in extract for a in _actions(s))


def test_batch_role_is_for_this_accounts_jobs_only(pipeline) -> None:
    _, _, raw = pipeline
    (role,) = [
        r
        for logical, r in raw["Resources"].items()
        if logical.startswith("BatchInferenceRole") and r["Type"] == "AWS::IAM::Role"
    ]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "model-invocation-job/*" in json.dumps(statement["Condition"]["ArnLike"])


def test_workflow_logs_traces_and_stops_batch_jobs(pipeline) -> None:
    synthesized, template, raw = pipeline
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": f"Modelsmith-{synthesized.config.name}-RetrievalPipeline",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
        },
    )
    (machine,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    for state in (
        "Validate input",
        "Extract corpus",
        "Plan query generation",
        "Generate queries (on-demand)",
        "Start batch inference job",
        "Stop batch inference job",
        "Build training pairs",
        "Notify failure",
        "Train embedding model",
        "Publish training report",
        "Register model",
    ):
        assert state in definition, state
    assert '\\"MaxConcurrency\\":4' in definition


def test_state_machine_arn_is_published(pipeline) -> None:
    synthesized, template, _ = pipeline
    template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": f"/modelsmith/{synthesized.config.name}/workflows/retrieval-pipeline-state-machine-arn",
        },
    )


# Part 2: training, quality gate, deployment, registration ----------------------------------------------------------
def _states(raw: dict) -> dict[str, dict]:
    """Every state of the workflow by name (Map and Parallel branches included), references as ${...}."""
    (logical,) = [
        k
        for k, r in raw["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and "RetrievalPipeline" in k
    ]
    definition = json.loads(render_definition(raw, logical, {}, placeholders=True))
    found: dict[str, dict] = {}

    def collect(states: dict) -> None:
        for name, state in states.items():
            found[name] = state
            for branch in state.get("Branches", []):
                collect(branch["States"])
            if "ItemProcessor" in state:
                collect(state["ItemProcessor"]["States"])

    collect(definition["States"])
    return found


def test_training_job_runs_the_packaged_script_with_config_instance_image_and_encryption(pipeline) -> None:
    synthesized, _, raw = pipeline
    config = synthesized.config.retrieval_pipeline
    training = _states(raw)["Train embedding model"]
    assert training["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")  # awaited natively
    parameters = training["Parameters"]
    assert parameters["ResourceConfig"]["InstanceType"] == config.training_instance_type
    assert parameters["AlgorithmSpecification"]["TrainingImage"] == (
        config.training_image_uri or catalogue.dlc_image_uri(synthesized.config.region, catalogue.HF_TRAINING_IMAGE)
    )
    assert parameters["RoleArn"].startswith("${TrainingJobRole")
    hyperparameters = parameters["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == "retrieval_train.py"
    assert hyperparameters["sagemaker_submit_directory"].startswith("s3://") and hyperparameters[
        "sagemaker_submit_directory"
    ].endswith(".gz")
    assert hyperparameters["model_name_or_path.$"] == "$.base_model_id"
    assert {c["ChannelName"] for c in parameters["InputDataConfig"]} == {"train", "eval"}
    for channel in parameters["InputDataConfig"]:
        assert "/runs/{}/pairs/'" in channel["DataSource"]["S3DataSource"]["S3Uri.$"]
    assert "/runs/{}/training/'" in parameters["OutputDataConfig"]["S3OutputPath.$"]
    assert parameters["OutputDataConfig"]["KmsKeyId"].startswith("${")
    # SageMaker refuses a VolumeKmsKeyId for instance types with local NVMe storage ("You can't request a
    # VolumeKmsKeyId when using an instance type with local storage", botocore sagemaker ResourceConfig).
    family = config.training_instance_type.split(".")[1]
    assert ("VolumeKmsKeyId" in parameters["ResourceConfig"]) is (
        family not in catalogue.SAGEMAKER_INSTANCE_STORAGE_FAMILIES
    )
    assert parameters["StoppingCondition"]["MaxRuntimeInSeconds"] == config.max_training_hours * 3600
    assert parameters.get("EnableManagedSpotTraining", False) is config.spot_training
    tags = {t["Key"]: t.get("Value", t.get("Value.$")) for t in parameters["Tags"]}
    assert tags == {
        "project": "modelsmith",
        "environment": synthesized.config.name,
        "component": "retrieval-pipeline",
        "modelsmith:run-id": "$$.Execution.Name",
    }


def test_spot_training_checkpoints_into_the_run_and_serverless_endpoints(environments_context, tmp_path) -> None:
    environments_context["dev"]["retrieval_pipeline"] = {
        "spot_training": True,
        "max_training_hours": 6,
        "endpoint_instance_type": "serverless",
        "serverless_memory_mib": 4096,
    }
    raw = _synthesize_retrieval_pipeline(environments_context, tmp_path)
    states = _states(raw)
    parameters = states["Train embedding model"]["Parameters"]
    assert parameters["EnableManagedSpotTraining"] is True
    assert parameters["StoppingCondition"] == {"MaxRuntimeInSeconds": 6 * 3600, "MaxWaitTimeInSeconds": 12 * 3600}
    assert "/runs/{}/checkpoints/'" in parameters["CheckpointConfig"]["S3Uri.$"]
    (variant,) = states["Create endpoint config"]["Parameters"]["ProductionVariants"]
    assert (
        variant["ServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 5} and "InstanceType" not in variant
    )
    assert "KmsKeyId" not in states["Create endpoint config"]["Parameters"]


def test_training_volume_is_encrypted_with_the_project_key_where_sagemaker_takes_one(
    environments_context, tmp_path
) -> None:
    environments_context["dev"]["retrieval_pipeline"] = {"training_instance_type": "ml.m5.xlarge"}
    parameters = _states(_synthesize_retrieval_pipeline(environments_context, tmp_path))["Train embedding model"][
        "Parameters"
    ]
    assert parameters["ResourceConfig"]["VolumeKmsKeyId"] == parameters["OutputDataConfig"]["KmsKeyId"]


def test_endpoint_config_uses_the_config_instance_and_the_key_where_sagemaker_takes_one(
    environments_context, tmp_path
) -> None:
    environments_context["dev"]["retrieval_pipeline"] = {"endpoint_instance_type": "ml.m5.xlarge"}
    states = _states(_synthesize_retrieval_pipeline(environments_context, tmp_path))
    config = states["Create endpoint config"]["Parameters"]
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"
    assert config["KmsKeyId"].startswith("${")  # m5 has no instance storage: the project key encrypts the volume
    assert "cpu" in states["Create SageMaker model"]["Parameters"]["PrimaryContainer"]["Image"]


def test_quality_gate_deploys_only_a_better_model(pipeline) -> None:
    _, _, raw = pipeline
    states = _states(raw)
    gate = states["Better than the base model?"]
    (rule,) = gate["Choices"]
    # The decision is the report function's (quality_gate.decide, unit-tested); the Choice only follows it.
    assert (rule["Variable"], rule["BooleanEquals"]) == ("$.evaluation.gate.passed", True)
    assert rule["Next"] == "Create SageMaker model"
    assert gate["Default"] == "Notify not improved"
    assert states["Summarize run (not improved)"]["Parameters"]["status"] == "not_improved"


def test_endpoint_is_named_after_the_model_and_failed_deployments_are_cleaned_up(pipeline) -> None:
    synthesized, _, raw = pipeline
    states = _states(raw)
    assert (
        states["Name run resources"]["Parameters"]["endpoint_name.$"]
        == f"States.Format('ms-{synthesized.config.name}-{{}}', $.model_name)"
    )
    assert states["Create or update the endpoint?"]["Choices"][0]["Next"] == "Update endpoint in place"
    assert states["Create or update the endpoint?"]["Default"] == "Create endpoint"
    for state in ("Create endpoint", "Update endpoint in place", "Get endpoint status"):
        assert states[state]["Catch"][0]["Next"] == "Endpoint created by this run?"
    assert states["Endpoint created by this run?"]["Choices"][0]["Next"] == "Delete endpoint"
    assert states["Endpoint created by this run?"]["Default"] == "Delete endpoint config"
    assert states["Delete endpoint"]["Next"] == "Delete endpoint config"
    assert states["Delete endpoint config"]["Next"] == "Delete SageMaker model"
    assert states["Create endpoint config"]["Catch"][0]["Next"] == "Delete SageMaker model"


def test_workflow_role_manages_only_this_environments_endpoints_and_passes_only_its_roles(pipeline) -> None:
    synthesized, _, raw = pipeline
    statements = _policy_of(raw, "RetrievalPipelineRoleDefaultPolicy")
    text = json.dumps(statements)
    endpoint_statements = [
        s
        for s in statements
        if any(
            a.lower() in ("sagemaker:createendpoint", "sagemaker:deleteendpoint", "sagemaker:updateendpoint")
            for a in _actions(s)
        )
    ]
    assert endpoint_statements
    for statement in endpoint_statements:
        resources = json.dumps(statement["Resource"])
        assert f":endpoint/ms-{synthesized.config.name}-*" in resources and ":endpoint/*" not in resources
    passes = [s for s in statements if "iam:PassRole" in _actions(s)]
    sagemaker_pass = [
        s
        for s in passes
        if s.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService") == "sagemaker.amazonaws.com"
    ]
    assert (
        sagemaker_pass
        and "TrainingJobRole" in json.dumps(sagemaker_pass)
        and "EndpointRole" in json.dumps(sagemaker_pass)
    )
    training = [s for s in statements if "sagemaker:CreateTrainingJob" in _actions(s)]
    assert training and json.dumps(training[0]["Resource"]).endswith(':training-job/*"]]}')
    assert "StepFunctionsGetEventsForSageMakerTrainingJobsRule" in text
    assert "sagemaker:*" not in text


def test_sagemaker_roles_have_no_managed_policies_and_pull_only_their_images(pipeline) -> None:
    _, _, raw = pipeline
    for role_prefix in ("TrainingJobRole", "EndpointRole"):
        (role,) = [
            r for k, r in raw["Resources"].items() if k.startswith(role_prefix) and r["Type"] == "AWS::IAM::Role"
        ]
        assert "ManagedPolicyArns" not in role["Properties"]
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        statements = _policy_of(raw, f"{role_prefix}DefaultPolicy")
        pulls = [s for s in statements if "ecr:BatchGetImage" in _actions(s)]
        assert pulls and "repository/huggingface-pytorch-" in json.dumps(pulls)
        assert not any(a == "s3:*" or a == "s3:DeleteObject" for s in statements for a in _actions(s))
    endpoint = _policy_of(raw, "EndpointRoleDefaultPolicy")
    assert not any("s3:PutObject" in _actions(s) for s in endpoint), "the endpoint only reads its model"


def test_registration_function_and_connector_role_are_scoped(pipeline) -> None:
    synthesized, template, raw = pipeline
    statements = _policy_of(raw, "RegisterModelRoleDefaultPolicy")
    invoke = [s for s in statements if "sagemaker:InvokeEndpoint" in _actions(s)]
    assert invoke and f":endpoint/ms-{synthesized.config.name}-*" in json.dumps(invoke)
    secrets = [s for s in statements if "secretsmanager:GetSecretValue" in _actions(s)]
    assert f"secret:modelsmith/{synthesized.config.name}/pinecone-api-key-*" in json.dumps(secrets)
    passes = [s for s in statements if "iam:PassRole" in _actions(s)]
    # The connector role only, with no iam:PassedToService condition (see tests/contracts/test_opensearch_connector_grants.py)
    assert [s["Resource"] for s in passes] == [
        {"Fn::GetAtt": [connector_id, "Arn"]}
        for connector_id in [
            k
            for k in raw["Resources"]
            if k.startswith("MlCommonsConnectorRole") and raw["Resources"][k]["Type"] == "AWS::IAM::Role"
        ]
    ]
    assert "Condition" not in passes[0]
    (connector,) = [
        r
        for k, r in raw["Resources"].items()
        if k.startswith("MlCommonsConnectorRole") and r["Type"] == "AWS::IAM::Role"
    ]
    assert connector["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "opensearchservice.amazonaws.com"
    }
    connector_statements = _policy_of(raw, "MlCommonsConnectorRoleDefaultPolicy")
    assert [_actions(s) for s in connector_statements] == [["sagemaker:InvokeEndpoint"]]


def test_training_code_archive_is_reproducible_and_runs_the_training_script() -> None:
    first = build_source_archive("sagemaker_src.retrieval.train", "retrieval_train.py", TRAINING_REQUIREMENTS)
    assert first == build_source_archive("sagemaker_src.retrieval.train", "retrieval_train.py", TRAINING_REQUIREMENTS)
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as archive:
        names = archive.getnames()
        entry = archive.extractfile("retrieval_train.py").read().decode()
        requirements = archive.extractfile("requirements.txt").read().decode()
    assert "from sagemaker_src.retrieval.train import main" in entry
    assert {
        "sagemaker_src/__init__.py",
        "sagemaker_src/retrieval/train.py",
        "sagemaker_src/retrieval/inference.py",
        "sagemaker_src/llm_lora/outputs.py",
    } <= set(names)
    assert not [n for n in names if "__pycache__" in n]
    assert "sentence-transformers==" in requirements


def _synthesize_retrieval_pipeline(environments: dict, outdir) -> dict:
    app = App(outdir=str(outdir), context={**CDK_CONTEXT, "environments": environments})
    config = load_config(environments, "dev")
    foundation = FoundationStack(app, "Modelsmith-dev-Foundation", config=config)
    stack = RetrievalPipelineStack(app, "Modelsmith-dev-RetrievalPipeline", config=config, foundation=foundation)
    return app.synth().get_stack_by_name(stack.stack_name).template
