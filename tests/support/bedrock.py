"""Stand-ins for the Bedrock APIs moto lacks: Converse (runtime) and batch inference (model invocation jobs).

The batch service answers as Step Functions' aws-sdk integration presents responses to a workflow: field
names in PascalCase (``JobArn``, ``Status``), whatever the service's own casing (moto's interpreter passes
boto3's responses through unchanged, so the stand-in does the conversion Step Functions does).

They speak the documented request and response shapes and keep what they were asked, so tests assert on
the calls a real service would have received. ``FakeBedrockBatch`` really "runs" a job when it completes:
it reads the job's JSONL records from (moto's) S3 and writes ``<output>/<job-id>/<file>.out`` records.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

Answer = Callable[[str], str]  # prompt text -> model text


def _camel(value: Any) -> Any:
    """The service's own (camelCase) field names, however the caller spelled them (Step Functions: PascalCase)."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "fake"}},
        operation,
    )


class FakeBedrockRuntime:
    """``converse`` answering with ``answer(prompt)`` (or ``answer(prompt, model_id)`` when ``by_model``); the
    first ``throttle`` calls are throttled."""

    def __init__(self, answer: Callable[..., str], *, throttle: int = 0, by_model: bool = False) -> None:
        self.answer = answer
        self.by_model = by_model
        self.throttle = throttle
        self.calls: list[dict[str, Any]] = []

    def converse(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        if len(self.calls) <= self.throttle:
            raise _client_error(
                "ThrottlingException", "Too many requests, please wait before trying again.", "Converse"
            )
        prompt = "\n".join(
            block["text"] for message in request["messages"] for block in message["content"] if "text" in block
        )
        return {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"text": (self.answer(prompt, request["modelId"]) if self.by_model else self.answer(prompt))}
                    ],
                }
            },
            "stopReason": "end_turn",
            "usage": {"inputTokens": len(prompt) // 4, "outputTokens": 40, "totalTokens": len(prompt) // 4 + 40},
            "metrics": {"latencyMs": 12},
        }


class FakeBedrockBatch:
    """``create/get/stop_model_invocation_job`` as Step Functions' aws-sdk integration calls them.

    Each ``get`` advances a job one step through ``statuses`` (default Submitted, InProgress, Completed);
    reaching Completed or PartiallyCompleted (both final, botocore ModelInvocationJobStatus) writes the outputs.
    With ``failed_every`` N, every Nth record's output is an ``error`` object instead of ``modelOutput`` (the batch
    output format of a failed record). ``jobs`` keeps every request and ``stopped`` the stopped job ARNs.
    """

    def __init__(
        self,
        answer: Answer,
        *,
        statuses: tuple[str, ...] = ("Submitted", "InProgress", "Completed"),
        failed_every: int = 0,
    ) -> None:
        self.failed_every = failed_every
        self.answer = answer
        self.statuses = statuses
        self.jobs: dict[str, dict[str, Any]] = {}
        self.stopped: list[str] = []
        self._ids = itertools.count(1)

    def create_model_invocation_job(self, **request: Any) -> dict[str, Any]:
        request = _camel(request)
        job_id = f"job{next(self._ids):04d}"
        arn = f"arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/{job_id}"
        self.jobs[arn] = {"request": request, "id": job_id, "step": 0, "status": self.statuses[0]}
        return {"JobArn": arn}

    def get_model_invocation_job(self, **request: Any) -> dict[str, Any]:
        jobIdentifier = _camel(request)["jobIdentifier"]  # noqa: N806 - the service's name
        job = self.jobs[jobIdentifier]
        if job["status"] != "Stopped":
            job["step"] = min(job["step"] + 1, len(self.statuses) - 1)
            job["status"] = self.statuses[job["step"]]
            if job["status"] in ("Completed", "PartiallyCompleted") and not job.get("written"):
                self._write_outputs(job)
                job["written"] = True
        request = job["request"]
        return {
            "JobArn": jobIdentifier,
            "JobName": request["jobName"],
            "ModelId": request["modelId"],
            "RoleArn": request["roleArn"],
            "Status": job["status"],
            "Message": "Fake job failed: records rejected" if job["status"] == "Failed" else "",
        }

    def stop_model_invocation_job(self, **request: Any) -> dict[str, Any]:
        jobIdentifier = _camel(request)["jobIdentifier"]  # noqa: N806
        self.stopped.append(jobIdentifier)
        self.jobs[jobIdentifier]["status"] = "Stopped"
        return {}

    def _write_outputs(self, job: dict[str, Any]) -> None:
        s3 = boto3.client("s3", region_name="us-west-2")
        input_uri = job["request"]["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        output_uri = job["request"]["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        in_bucket, in_prefix = input_uri.removeprefix("s3://").split("/", 1)
        out_bucket, out_prefix = output_uri.removeprefix("s3://").split("/", 1)
        for item in s3.list_objects_v2(Bucket=in_bucket, Prefix=in_prefix).get("Contents", []):
            lines = s3.get_object(Bucket=in_bucket, Key=item["Key"])["Body"].read().decode().splitlines()
            outputs = []
            for number, line in enumerate(filter(None, lines), start=1):
                record = json.loads(line)
                prompt = json.dumps(record["modelInput"])
                if self.failed_every and number % self.failed_every == 0:
                    outputs.append(
                        json.dumps(
                            {
                                "recordId": record["recordId"],
                                "modelInput": record["modelInput"],
                                "error": {"errorCode": 400, "errorMessage": "Fake: input rejected"},
                            }
                        )
                    )
                    continue
                outputs.append(
                    json.dumps(
                        {
                            "recordId": record["recordId"],
                            "modelInput": record["modelInput"],
                            "modelOutput": {"generation": self.answer(prompt), "stop_reason": "stop"},
                        }
                    )
                )
            name = item["Key"].rsplit("/", 1)[-1]
            s3.put_object(
                Bucket=out_bucket,
                Key=f"{out_prefix.rstrip('/')}/{job['id']}/{name}.out",
                Body="\n".join(outputs).encode(),
            )


def install_bedrock_service(monkeypatch: pytest.MonkeyPatch, fake: FakeBedrockBatch) -> None:
    """Route Step Functions' ``aws-sdk:bedrock:*`` calls (in moto's interpreter) to ``fake``."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    original = aws_sdk.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return (
            fake
            if service == "bedrock"
            else original(region=region, service=service, state_credentials=state_credentials)
        )

    monkeypatch.setattr(aws_sdk, "boto_client_for", boto_client_for)


def _pascal(value: Any) -> Any:
    """Field names as Step Functions' aws-sdk integration hands responses to a workflow."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_pascal(item) for item in value]
    return value


class FakeCustomModelDeployments:
    """On-demand custom model deployments (moto lacks them): Creating on the first look, then ``final``."""

    def __init__(self, *, final: str = "Active") -> None:
        self.final = final
        self.deployments: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []

    def create_custom_model_deployment(self, **request: Any) -> dict[str, Any]:
        request = _camel(request)
        arn = f"arn:aws:bedrock:us-west-2:123456789012:custom-model-deployment/{request['modelDeploymentName']}"
        self.deployments[arn] = {"request": request, "looks": 0}
        return {"CustomModelDeploymentArn": arn}

    def get_custom_model_deployment(self, **request: Any) -> dict[str, Any]:
        arn = _camel(request)["customModelDeploymentIdentifier"]
        deployment = self.deployments[arn]
        deployment["looks"] += 1
        status = "Creating" if deployment["looks"] == 1 else self.final
        return {"CustomModelDeploymentArn": arn, "ModelArn": deployment["request"]["modelArn"], "Status": status}

    def delete_custom_model_deployment(self, **request: Any) -> dict[str, Any]:
        self.deleted.append(_camel(request)["customModelDeploymentIdentifier"])
        return {}


class FakeProvisionedThroughput:
    """Provisioned Throughput (moto lacks it), from botocore's ``bedrock`` model: requests are validated against
    ``CreateProvisionedModelThroughput``'s input shape (``modelUnits`` >= 1, ``provisionedModelName``, ``modelId``;
    ``commitmentDuration`` omitted for no commitment); a throughput is ``Creating`` on the first look, then ``final``
    (``ProvisionedModelStatus``: Creating, InService, Updating, Failed). A retried create with the same
    ``clientRequestToken`` returns the throughput it made, as an idempotent create does."""

    def __init__(self, *, final: str = "InService") -> None:
        self.final = final
        self.throughputs: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []

    def create_provisioned_model_throughput(self, **request: Any) -> dict[str, Any]:
        from botocore.validate import validate_parameters

        request = _camel(request)
        model = botocore.session.get_session().get_service_model("bedrock")
        validate_parameters(request, model.operation_model("CreateProvisionedModelThroughput").input_shape)
        for arn, existing in self.throughputs.items():
            if existing["request"].get("clientRequestToken") == request.get("clientRequestToken"):
                return {"ProvisionedModelArn": arn}
        arn = f"arn:aws:bedrock:us-west-2:123456789012:provisioned-model/{len(self.throughputs) + 1:012d}"
        self.throughputs[arn] = {"request": request, "looks": 0}
        return {"ProvisionedModelArn": arn}

    def get_provisioned_model_throughput(self, **request: Any) -> dict[str, Any]:
        arn = _camel(request)["provisionedModelId"]
        throughput = self.throughputs[arn]
        throughput["looks"] += 1
        status = "Creating" if throughput["looks"] == 1 else self.final
        created = throughput["request"]
        return {
            "ProvisionedModelArn": arn,
            "ModelArn": created["modelId"],
            "Status": status,
            "ModelUnits": created["modelUnits"],
        }

    def delete_provisioned_model_throughput(self, **request: Any) -> dict[str, Any]:
        self.deleted.append(_camel(request)["provisionedModelId"])
        return {}


class MotoCustomizationJobs:
    """Model customization jobs served by moto's Bedrock, with Step Functions' casing on both sides.

    moto keeps every job InProgress; after ``polls`` status reads a job ends with ``final`` (Completed or Failed).
    moto finds jobs by name only, where Bedrock also takes the ARN the workflow passes.
    """

    def __init__(self, *, final: str = "Completed", polls: int = 2) -> None:
        self.final, self.polls = final, polls
        self.reads: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []  # as sent (camelCase), for what moto does not keep (customModelTags)
        self.client = boto3.client("bedrock", region_name="us-west-2")

    def create_model_customization_job(self, **request: Any) -> dict[str, Any]:
        self.requests.append(_camel(request))
        response = self.client.create_model_customization_job(**_camel(request))
        return {"JobArn": response["jobArn"]}

    def get_model_customization_job(self, **request: Any) -> dict[str, Any]:
        from moto.bedrock.models import bedrock_backends

        identifier = _camel(request)["jobIdentifier"].rsplit("/", 1)[-1]
        self.reads[identifier] = self.reads.get(identifier, 0) + 1
        if self.reads[identifier] >= self.polls:
            backend = bedrock_backends["123456789012"]["us-west-2"]
            job = next(j for j in backend.model_customization_jobs.values() if j.job_name == identifier)
            if job.status == "InProgress":
                job.status = self.final
        response = self.client.get_model_customization_job(jobIdentifier=identifier)
        response.pop("ResponseMetadata", None)
        return _pascal(response)

    def stop_model_customization_job(self, **request: Any) -> dict[str, Any]:
        self.client.stop_model_customization_job(jobIdentifier=_camel(request)["jobIdentifier"].rsplit("/", 1)[-1])
        return {}


class StepFunctionsBedrock:
    """Every ``aws-sdk:bedrock:*`` call a workflow makes, routed to the stand-in that serves it."""

    def __init__(self, *services: Any) -> None:
        self.services = services

    def __getattr__(self, name: str) -> Any:
        for service in self.services:
            if hasattr(service, name):
                return getattr(service, name)
        raise AttributeError(f"no stand-in serves bedrock.{name}")
