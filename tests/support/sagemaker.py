"""SageMaker for workflow tests: moto's SageMaker, plus what moto lacks.

- Training jobs run the real training script in-process, the way SageMaker's training toolkit runs it: the
  channels are downloaded from (moto's) S3 into ``input/data/<channel>``, ``SM_*`` variables point at them,
  the hyperparameters become ``--name value`` arguments, and ``model_dir``/``output_data_dir`` are uploaded
  as ``model.tar.gz``/``output.tar.gz`` under ``<S3OutputPath>/<job>/output/``. Hugging Face Hub IDs of
  the packaged all-MiniLM-L6-v2 resolve to that copy (the network edge: no hub downloads).
- Managed spot training with a ``CheckpointConfig``: the job's ``LocalPath`` is a local directory (a
  hyperparameter naming it is pointed there, as the path is inside the container), restored from ``S3Uri`` before
  the program starts and synced back after it ends, as SageMaker does
  (https://docs.aws.amazon.com/sagemaker/latest/dg/model-checkpoints.html). With ``spot_interruptions=n`` the
  first n attempts run the program as a process (``python -m <interrupted_module>``) that is killed as soon as it
  has written a complete checkpoint (the instance is reclaimed); what it wrote is synced to S3 and the job starts
  again, as managed spot training restarts an interrupted job
  (https://docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html).
- Endpoints go Creating/Updating → ``final`` (InService, or Failed for the failure test); an update that
  ends Failed rolls back to the previous config and comes back InService, as SageMaker does.
- Step Functions' optimized ``sagemaker:createTrainingJob.sync`` integration (moto's interpreter forwards
  only ``.waitForTaskToken`` for SageMaker) follows the job to Completed, or fails ``States.TaskFailed``
  with the job's description as the cause, like the real integration.

Every request also goes through a real boto3 client against moto, so botocore validates its shape against
the SageMaker API model.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.stepfunctions import PSEUDO_PARAMETERS

REGION = PSEUDO_PARAMETERS["AWS::Region"]
PACKAGED_MODELS = {"sentence-transformers/all-MiniLM-L6-v2": "minilm"}
TrainingProgram = Callable[[list[str]], int]


def _run_retrieval_training(argv: list[str]) -> int:
    from sagemaker_src.retrieval.train import main

    return main(argv)


class SageMakerStandIn:
    """moto's SageMaker behind a client-like object that Step Functions' SageMaker calls are routed to."""

    def __init__(
        self,
        *,
        endpoint_final: str = "InService",
        program: TrainingProgram = _run_retrieval_training,
        spot_interruptions: int = 0,
        interrupted_module: str = "sagemaker_src.retrieval.train",
    ) -> None:
        self.client = boto3.client("sagemaker", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.endpoint_final = endpoint_final
        self.program = program
        self.spot_interruptions = spot_interruptions
        self.interrupted_module = interrupted_module
        self.training_jobs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    # Training ----------------------------------------------------------------------------------------------------
    def create_training_job(self, **request: Any) -> dict[str, Any]:
        self.calls.append("CreateTrainingJob")
        response = self.client.create_training_job(**request)  # validates the request; moto keeps a record
        name = request["TrainingJobName"]
        interruptions = []
        while True:
            with tempfile.TemporaryDirectory(prefix="sagemaker-job-") as work:
                interrupt = (
                    bool(request.get("EnableManagedSpotTraining")) and len(interruptions) < self.spot_interruptions
                )
                status, reason = self._train(request, Path(work), interrupt=interrupt)
            if status != "Interrupted":
                break
            interruptions.append(reason)
        self.training_jobs[name] = {
            "request": request,
            "status": status,
            "reason": reason,
            "interruptions": interruptions,
        }
        return {"TrainingJobArn": response["TrainingJobArn"]}

    def _train(self, request: dict[str, Any], work: Path, *, interrupt: bool = False) -> tuple[str, str | None]:
        environment = {}
        for channel in request.get("InputDataConfig", []):
            target = work / "input" / "data" / channel["ChannelName"]
            self._download(channel["DataSource"]["S3DataSource"]["S3Uri"], target)
            environment[f"SM_CHANNEL_{channel['ChannelName'].upper()}"] = str(target)
        model_dir, output_dir = work / "model", work / "output" / "data"
        model_dir.mkdir(parents=True)
        output_dir.mkdir(parents=True)
        environment.update({"SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DATA_DIR": str(output_dir)})
        checkpoints = request.get("CheckpointConfig")
        local_checkpoints = work / "checkpoints"
        if checkpoints:
            self._download(checkpoints["S3Uri"], local_checkpoints)
        paths = {checkpoints.get("LocalPath", "/opt/ml/checkpoints"): str(local_checkpoints)} if checkpoints else {}
        argv: list[str] = []
        for key, value in request.get("HyperParameters", {}).items():
            if key.startswith("sagemaker_"):
                continue
            argv += [f"--{key}", paths.get(value, PACKAGED_MODELS.get(value, value))]
        if interrupt:
            if not checkpoints:
                raise AssertionError("an interrupted spot job needs a CheckpointConfig to resume from")
            step = self._run_until_checkpoint(argv, environment, local_checkpoints)
            self._upload_directory(local_checkpoints, checkpoints["S3Uri"])
            return "Interrupted", f"spot capacity reclaimed after checkpoint-{step}"
        saved = {key: os.environ.get(key) for key in environment}
        os.environ.update(environment)
        try:
            exit_code = self.program(argv)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        if checkpoints:
            self._upload_directory(local_checkpoints, checkpoints["S3Uri"])
        output = f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{request['TrainingJobName']}/output/"
        self._upload_tar(model_dir, output + "model.tar.gz")
        self._upload_tar(output_dir, output + "output.tar.gz")
        if exit_code != 0:
            return "Failed", f"AlgorithmError: the training program exited with status {exit_code}"
        return "Completed", None

    def _run_until_checkpoint(self, argv: list[str], environment: dict[str, str], checkpoints: Path) -> int:
        """Run the program as a process and kill it (SIGKILL: no chance to finish a save) once it has written a
        complete checkpoint; returns that checkpoint's step."""
        from sagemaker_src.llm_lora.checkpoints import FULL_MODEL, checkpoint_problem, checkpoint_step

        repository = Path(__file__).resolve().parents[2]
        process_environment = {
            **os.environ,
            **environment,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join([str(repository), os.environ.get("PYTHONPATH", "")]),
        }
        command = [sys.executable, "-m", self.interrupted_module, *argv]
        log = checkpoints.parent / "interrupted-attempt.log"  # a file: a pipe nobody reads would block the program
        with log.open("wb") as output:
            process = subprocess.Popen(command, cwd=repository, env=process_environment, stdout=output, stderr=output)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                saved = checkpoints.glob("checkpoint-*")
                complete = [checkpoint_step(path) for path in saved if checkpoint_problem(path, FULL_MODEL) is None]
                if complete:
                    process.kill()
                    process.wait()
                    return max(step for step in complete if step is not None)
                if process.poll() is not None:
                    errors = log.read_text(errors="replace")[-2000:]
                    raise AssertionError(f"the program ended ({process.returncode}) before a checkpoint: {errors}")
                time.sleep(0.1)
            raise AssertionError("no checkpoint within 300 s")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    def _upload_directory(self, directory: Path, uri: str) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                self.s3.upload_file(str(path), bucket, f"{prefix.rstrip('/')}/{path.relative_to(directory).as_posix()}")

    def _download(self, uri: str, target: Path) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        target.mkdir(parents=True, exist_ok=True)
        for item in self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            relative = item["Key"][len(prefix) :].lstrip("/") or Path(item["Key"]).name
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(bucket, item["Key"], str(target / relative))

    def _upload_tar(self, directory: Path, uri: str) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
            for path in sorted(directory.rglob("*")):
                archive.add(path, arcname=path.relative_to(directory).as_posix(), recursive=False)
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self.s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803 - the API's name
        job = self.training_jobs[TrainingJobName]
        request = job["request"]
        description = {
            "TrainingJobName": TrainingJobName,
            "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{TrainingJobName.lower()}",
            "TrainingJobStatus": job["status"],
            "SecondaryStatus": job["status"],
            "HyperParameters": request.get("HyperParameters", {}),
            "OutputDataConfig": request["OutputDataConfig"],
            "ModelArtifacts": {
                "S3ModelArtifacts": f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/"
                f"{TrainingJobName}/output/model.tar.gz"
            },
        }
        if job["reason"]:
            description["FailureReason"] = job["reason"]
        return description

    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803
        self.training_jobs[TrainingJobName]["status"] = "Stopped"
        return {}

    # Models and endpoint configs: moto ---------------------------------------------------------------------------
    def create_model(self, **request: Any) -> dict[str, Any]:
        self.calls.append("CreateModel")
        return self.client.create_model(**request)

    def create_endpoint_config(self, **request: Any) -> dict[str, Any]:
        # Kept here, not in moto: moto checks instance types against an old list (no ml.g5); botocore checks
        # the request against the API model, as the real client does.
        self.calls.append("CreateEndpointConfig")
        self._validate("CreateEndpointConfig", request)
        name = request["EndpointConfigName"]
        for variant in request["ProductionVariants"]:
            self.client.describe_model(ModelName=variant["ModelName"])  # must exist
        if name in self.configs:
            raise _client_error("ValidationException", f"Cannot create already existing endpoint configuration {name}")
        self.configs[name] = request
        return {"EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint-config/{name}"}

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:  # noqa: N803
        if EndpointConfigName not in self.configs:
            raise _client_error("ValidationException", f"Could not find endpoint configuration {EndpointConfigName}")
        return self.configs[EndpointConfigName]

    def _validate(self, operation: str, request: dict[str, Any]) -> None:
        from botocore.validate import validate_parameters

        validate_parameters(request, self.client.meta.service_model.operation_model(operation).input_shape)

    def delete_model(self, **request: Any) -> dict[str, Any]:
        self.calls.append("DeleteModel")
        return self.client.delete_model(**request)

    def delete_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append("DeleteEndpointConfig")
        self.describe_endpoint_config(EndpointConfigName=EndpointConfigName)
        del self.configs[EndpointConfigName]
        return {}

    def models(self) -> list[str]:
        return sorted(model["ModelName"] for model in self.client.list_models()["Models"])

    def endpoint_configs(self) -> list[str]:
        return sorted(self.configs)

    # Endpoints: statuses over time -------------------------------------------------------------------------------
    def create_endpoint(self, **request: Any) -> dict[str, Any]:
        self.calls.append("CreateEndpoint")
        self._validate("CreateEndpoint", request)
        self.describe_endpoint_config(EndpointConfigName=request["EndpointConfigName"])  # must exist
        name = request["EndpointName"]
        if name in self.endpoints:
            raise _client_error("ValidationException", f"Cannot create already existing endpoint {name}")
        arn = f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{name}"
        self.endpoints[name] = {
            "arn": arn,
            "config": request["EndpointConfigName"],
            "previous": None,
            "status": "Creating",
            "tags": request.get("Tags", []),
        }
        return {"EndpointArn": arn}

    def update_endpoint(self, **request: Any) -> dict[str, Any]:
        self.calls.append("UpdateEndpoint")
        self._validate("UpdateEndpoint", request)
        self.describe_endpoint_config(EndpointConfigName=request["EndpointConfigName"])
        endpoint = self.endpoints[request["EndpointName"]]
        endpoint.update(previous=endpoint["config"], config=request["EndpointConfigName"], status="Updating")
        return {"EndpointArn": endpoint["arn"]}

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:  # noqa: N803
        endpoint = self.endpoints[EndpointName]
        description = {
            "EndpointName": EndpointName,
            "EndpointArn": endpoint["arn"],
            "EndpointConfigName": endpoint["config"],
            "EndpointStatus": endpoint["status"],
        }
        if endpoint["status"] in ("Creating", "Updating"):  # the next look sees the outcome
            if self.endpoint_final == "InService":
                endpoint["status"] = "InService"
            elif endpoint["previous"]:  # a failed update rolls back
                endpoint.update(status="InService", config=endpoint["previous"], failure="update failed; rolled back")
            else:
                endpoint.update(
                    status="Failed",
                    failure="The primary container for production variant AllTraffic did not pass the ping health check.",
                )
        if "failure" in endpoint:
            description["FailureReason"] = endpoint["failure"]
        return description

    def list_endpoints(self, **request: Any) -> dict[str, Any]:
        contains = request.get("NameContains", "")
        return {
            "Endpoints": [
                {"EndpointName": name, "EndpointArn": e["arn"], "EndpointStatus": e["status"]}
                for name, e in sorted(self.endpoints.items())
                if contains in name
            ]
        }

    def delete_endpoint(self, EndpointName: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append("DeleteEndpoint")
        del self.endpoints[EndpointName]
        return {}

    def add_tags(self, **request: Any) -> dict[str, Any]:
        return {"Tags": request.get("Tags", [])}


def _client_error(code: str, message: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "SageMaker"
    )


def install_sagemaker_service(monkeypatch: pytest.MonkeyPatch, stand_in: SageMakerStandIn) -> None:
    """Route Step Functions' SageMaker calls in moto's interpreter to ``stand_in``: ``aws-sdk:sagemaker:*``
    and the optimized ``sagemaker:*`` integrations (request-response and ``.sync``)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    original_client = aws_sdk.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "sagemaker":
            return stand_in
        return original_client(region=region, service=service, state_credentials=state_credentials)

    monkeypatch.setattr(aws_sdk, "boto_client_for", boto_client_for)
    original_factory = state_task_factory.state_task_service_for

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return _optimized_sagemaker_service(stand_in)
        return original_factory(service_name=service_name)

    monkeypatch.setattr(state_task_factory, "state_task_service_for", state_task_service_for)


def _optimized_sagemaker_service(stand_in: SageMakerStandIn) -> Any:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    class StateTaskServiceSageMaker(StateTaskServiceCallback):
        def __init__(self) -> None:
            super().__init__(
                supported_integration_patterns={ResourceCondition.WaitForTaskToken, ResourceCondition.Sync}
            )

        def _get_supported_parameters(self) -> set[str]:
            return set()

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            action = self._get_boto_service_action()
            response = getattr(stand_in, action)(**normalised_parameters)
            env.stack.append({**response, "TrainingJobName": normalised_parameters.get("TrainingJobName")})

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> Callable[[], Any]:
            created = env.stack.pop()
            name = created["TrainingJobName"]

            def resolve() -> dict[str, Any] | None:
                description = stand_in.describe_training_job(TrainingJobName=name)
                status = description["TrainingJobStatus"]
                if status == "Completed":
                    return description
                if status in ("Failed", "Stopped"):
                    raise FailureEventException(
                        FailureEvent(
                            env=env,
                            error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                            event_type=HistoryEventType.TaskFailed,
                            event_details=EventDetails(
                                taskFailedEventDetails=TaskFailedEventDetails(
                                    resource=self._get_sfn_resource(),
                                    resourceType=self._get_sfn_resource_type(),
                                    error=StatesErrorNameType.StatesTaskFailed.to_name(),
                                    cause=json.dumps(description),
                                )
                            ),
                        )
                    )
                return None

            return resolve

    return StateTaskServiceSageMaker()
