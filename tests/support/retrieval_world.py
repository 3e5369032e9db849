"""The retrieval pipeline's world for workflow tests: the synthesized definition, and moto resources,
in-process functions and stand-ins standing in for the deployed stacks.

S3, SNS, SQS, Secrets Manager and Step Functions are moto's; the functions are the real handlers run
in-process; Bedrock is a stand-in speaking Converse and batch inference (``tests/support/bedrock.py``);
SageMaker is moto's plus training jobs that run the real training script in-process and endpoints that come
into service (``tests/support/sagemaker.py``); invoking an endpoint runs the ``code/inference.py`` its
``model.tar.gz`` carries, on the model the run trained.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import App, Duration

from modelsmith_core.config import load_config
from stacks.foundation_stack import FoundationStack
from stacks.retrieval_pipeline_stack import RetrievalPipelineStack
from tests.support.bedrock import FakeBedrockBatch, FakeBedrockRuntime, install_bedrock_service
from tests.support.lambdas import InProcessLambdas
from tests.support.sagemaker import SageMakerStandIn, install_sagemaker_service
from tests.support.stepfunctions import PSEUDO_PARAMETERS, render_definition
from tests.support.workflow_world import NotificationInbox, deploy_functions, use_cost_config

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
REGION = PSEUDO_PARAMETERS["AWS::Region"]
ACCOUNT = PSEUDO_PARAMETERS["AWS::AccountId"]
ARTIFACTS, DATA = "modelsmith-dev-artifacts", "modelsmith-dev-data"
FUNCTIONS = (
    "validate_input",
    "estimate_cost",
    "extract_corpus",
    "generate_queries",
    "build_pairs",
    "publish_training_report",
    "register_model",
)
PINECONE_SECRET = "modelsmith/dev/pinecone-api-key"
ROLES = {
    "training": "TrainingJobRole",
    "inference": "EndpointRole",
    "connector": "MlCommonsConnectorRole",
    "batch": "BatchInferenceRole",
}


def synthesize_pipeline(*, spot_training: bool = False) -> dict[str, Any]:
    """The dev RetrievalPipeline template (short polling intervals; managed spot training if asked) and the logical
    IDs tests render with."""
    app = App(context=CDK_CONTEXT)
    environments = copy.deepcopy(CDK_CONTEXT["environments"])
    if spot_training:
        environments["dev"].setdefault("retrieval_pipeline", {})["spot_training"] = True
    config = load_config(environments, "dev")
    foundation = FoundationStack(app, "Modelsmith-dev-Foundation", config=config)
    stack = RetrievalPipelineStack(
        app,
        "Modelsmith-dev-RetrievalPipeline",
        config=config,
        foundation=foundation,
        poll_interval=Duration.seconds(1),
        endpoint_poll_interval=Duration.seconds(1),
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    (artifacts_parameter,) = [
        name for name, p in template["Parameters"].items() if p.get("Default") == "/modelsmith/dev/s3/artifacts-bucket"
    ]
    return {
        "template": template,
        "state_machine": stack.get_logical_id(stack.state_machine.node.default_child),
        "functions": {name: stack.get_logical_id(fn.node.default_child) for name, fn in stack.functions.items()},
        "roles": {name: stack.get_logical_id(role.node.default_child) for name, role in stack.roles.items()},
        "artifacts_parameter": artifacts_parameter,
    }


def scripted_training(
    synthetic: tuple[list[float], list[float]], human: tuple[list[float], list[float]] | None = None
) -> Callable[[list[str]], int]:
    """A training program that writes what the real script writes, in milliseconds, with the given per-query
    nDCG@10 (base, fine-tuned) of each query set: the means, differences and paired bootstrap intervals come
    from ``sagemaker_src.retrieval.evaluation`` itself, so the gate sees what a real run would give it."""

    def program(argv: list[str]) -> int:
        import os

        from sagemaker_src.llm_lora.outputs import write_json_atomic
        from sagemaker_src.retrieval.evaluation import METRICS, Evaluation, compare, difference
        from sagemaker_src.retrieval.report import write_report

        def evaluation(scores: list[float]) -> Evaluation:
            mean = round(sum(scores) / len(scores), 6)
            return Evaluation({name: mean for name in METRICS}, scores)

        sets = {"synthetic": synthetic, **({"human": human} if human else {})}
        evaluations = {
            name: compare(evaluation(base), evaluation(tuned), queries=len(base))
            for name, (base, tuned) in sets.items()
        }
        base, tuned = evaluations["synthetic"]["base"], evaluations["synthetic"]["fine_tuned"]
        metrics = {
            "status": "completed",
            "base": base,
            "fine_tuned": tuned,
            "difference": difference(base, tuned),
            "evaluations": evaluations,
            "argv": argv,
            "training": {"global_step": 0, "train_seconds": 0.0, "samples_per_second": None},
        }
        write_report(metrics, os.environ["SM_OUTPUT_DATA_DIR"])
        for directory in (os.environ["SM_OUTPUT_DATA_DIR"], os.environ["SM_MODEL_DIR"]):
            write_json_atomic(Path(directory) / "metrics.json", metrics)
        return 0

    return program


# For tests about part 1: the fine-tuned model scores exactly like the base one, so the run stops at the gate.
no_gain_training = scripted_training(synthetic=([0.5] * 8, [0.5] * 8))


class EndpointRuntime:
    """``sagemaker-runtime`` for the registration function: an endpoint answers with the handler functions of
    the ``code/inference.py`` inside its model's ``model.tar.gz`` (the file SageMaker's inference toolkit
    loads), on the model that archive holds."""

    def __init__(self, sagemaker: SageMakerStandIn) -> None:
        self.sagemaker = sagemaker
        self.loaded: dict[str, tuple[Any, Any]] = {}
        self.requests: list[tuple[str, int]] = []
        self._work = tempfile.TemporaryDirectory(prefix="endpoint-models-")

    def invoke_endpoint(
        self, *, EndpointName: str, Body: bytes, ContentType: str, Accept: str = "application/json"
    ) -> dict:  # noqa: N803
        handler, model = self._load(EndpointName)
        texts = handler.input_fn(Body, ContentType)
        self.requests.append((EndpointName, len(texts)))
        answer = handler.output_fn(handler.predict_fn(texts, model), Accept)
        return {"Body": io.BytesIO(answer.encode() if isinstance(answer, str) else answer), "ContentType": Accept}

    def _load(self, endpoint_name: str) -> tuple[Any, Any]:
        config_name = self.sagemaker.endpoints[endpoint_name]["config"]
        if config_name not in self.loaded:
            config = self.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
            model_name = config["ProductionVariants"][0]["ModelName"]
            url = self.sagemaker.client.describe_model(ModelName=model_name)["PrimaryContainer"]["ModelDataUrl"]
            bucket, _, key = url.removeprefix("s3://").partition("/")
            model_dir = Path(self._work.name) / config_name
            body = self.sagemaker.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
                archive.extractall(model_dir, filter="data")
            spec = importlib.util.spec_from_file_location(
                f"endpoint_inference_{config_name}", model_dir / "code" / "inference.py"
            )
            assert spec and spec.loader, "model.tar.gz has no code/inference.py"
            handler = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(handler)
            self.loaded[config_name] = (handler, handler.model_fn(str(model_dir)))
        return self.loaded[config_name]


class RetrievalWorld:
    """moto resources standing in for the deployed stacks, plus the stand-ins and what they were asked."""

    def __init__(
        self,
        synthesized: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
        *,
        query_writer: Callable[[str], str],
        throttle: int = 0,
        batch_statuses: tuple[str, ...] = ("Submitted", "InProgress", "Completed"),
        batch_failed_every: int = 0,
        spot_interruptions: int = 0,
        training_program: Callable[[list[str]], int] | None = no_gain_training,
        endpoint_final: str = "InService",
    ) -> None:
        monkeypatch.setenv("ARTIFACTS_BUCKET", ARTIFACTS)
        use_cost_config(synthesized["template"], synthesized["functions"]["estimate_cost"], monkeypatch)
        self.s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ARTIFACTS, DATA):
            self.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        secrets = boto3.client("secretsmanager", region_name=REGION)
        self.pinecone_secret_arn = secrets.create_secret(Name=PINECONE_SECRET, SecretString="test-pinecone-key")["ARN"]

        lambdas = InProcessLambdas()
        lambdas.install(monkeypatch)
        arns = deploy_functions(lambdas, FUNCTIONS)
        self.lambdas = lambdas

        self.runtime = FakeBedrockRuntime(query_writer, throttle=throttle)
        monkeypatch.setattr(
            sys.modules["lambda_src.generate_queries.query_generation"], "bedrock_runtime_client", lambda: self.runtime
        )
        self.batch = FakeBedrockBatch(query_writer, statuses=batch_statuses, failed_every=batch_failed_every)
        install_bedrock_service(monkeypatch, self.batch)
        programs = {} if training_program is None else {"program": training_program}
        self.sagemaker = SageMakerStandIn(
            endpoint_final=endpoint_final, spot_interruptions=spot_interruptions, **programs
        )
        install_sagemaker_service(monkeypatch, self.sagemaker)
        self.endpoint_runtime = EndpointRuntime(self.sagemaker)

        self.inbox = NotificationInbox()
        values = {f"{logical}.Arn": arns[name] for name, logical in synthesized["functions"].items()}
        values.update(
            {f"{logical}.Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}" for name, logical in synthesized["roles"].items()}
        )
        values.update(
            {
                synthesized["artifacts_parameter"]: ARTIFACTS,
                "output:NotificationsTopicAE679CBD": self.inbox.topic_arn,
                "output:ProjectKey99EBDA78": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/project",
            }
        )
        self.definition = render_definition(synthesized["template"], synthesized["state_machine"], values)

    def put_corpus(self, lines: list[str], key: str = "corpora/handbook.jsonl") -> str:
        self.s3.put_object(Bucket=DATA, Key=key, Body="\n".join(lines).encode())
        return f"s3://{DATA}/{key}"

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(
            item["Key"] for item in self.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=prefix).get("Contents", [])
        )

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()

    def read_jsonl(self, key: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.read(key).decode().splitlines() if line.strip()]

    def notifications(self) -> list[dict[str, Any]]:
        return self.inbox.messages()
