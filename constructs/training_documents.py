"""SSM Command documents that drive the GPU training instance; nothing ever logs in to it.

Props:
    name_prefix (str): document names are ``<name_prefix>-RunFineTune``, ``-ArchiveRun``, ``-PublishToHub``.

Every parameter is a String with an ``allowedPattern`` that admits no quote, space or shell metacharacter,
so the values SSM substitutes into the command line cannot change it. Secrets are never parameters: the
Hugging Face token is read by the script from Secrets Manager at run time. Documents are updated in place
(new default version) when their content changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_ssm as ssm

from constructs import Construct
from constructs.parameter_tree import ParameterTree
from modelsmith_core.limits import LIMITS, MAX_FINE_TUNE_HOURS

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$"
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*()/=-]{1,1000}$"
OPTIONAL_S3_URI_PATTERN = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*()/=-]{1,1000})?$"
MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$"
HUB_REPO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$"
BIN = "/opt/modelsmith/bin"


def _parameter(description: str, pattern: str, default: str | None = None) -> dict:
    parameter = {"type": "String", "description": description, "allowedPattern": pattern}
    if default is not None:
        parameter["default"] = default
    return parameter


def _document(description: str, parameters: dict, step: str, command: str, timeout: str) -> dict:
    return {
        "schemaVersion": "2.2",
        "description": description,
        "parameters": parameters,
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": step,
                "inputs": {"timeoutSeconds": timeout, "runCommand": [command]},
            }
        ],
    }


@dataclass(frozen=True)
class DocumentNames:
    run_fine_tune: str
    archive_run: str
    publish_to_hub: str


class TrainingDocuments(Construct):
    """``names`` (DocumentNames) and ``documents`` (name -> CfnDocument)."""

    def __init__(self, scope: Construct, construct_id: str, *, name_prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.names = DocumentNames(
            run_fine_tune=f"{name_prefix}-RunFineTune",
            archive_run=f"{name_prefix}-ArchiveRun",
            publish_to_hub=f"{name_prefix}-PublishToHub",
        )
        run_id = _parameter("Run ID (the execution name): runs/<RunId>/ on the volume and in S3.", RUN_ID_PATTERN)
        contents = {
            self.names.run_fine_tune: _document(
                "Modelsmith: LoRA/QLoRA fine-tune on this instance, checkpoints on the EBS volume.",
                {
                    "RunId": run_id,
                    "ConfigS3Uri": _parameter("training_config.yml in S3.", S3_URI_PATTERN),
                    "TrainS3Uri": _parameter("Training JSONL (chat or instruction) in S3.", S3_URI_PATTERN),
                    "ValidationS3Uri": _parameter("Validation JSONL in S3 (optional).", OPTIONAL_S3_URI_PATTERN, ""),
                    "BaseModel": _parameter("Base model: Hugging Face ID or local path.", MODEL_PATTERN),
                    "TimeoutHours": _parameter(
                        f"Stop the fine-tune after this many hours (1-{MAX_FINE_TUNE_HOURS}).",
                        r"^([1-9]|[1-3][0-9]|4[0-7])$",
                        "24",
                    ),
                },
                "FineTune",
                "timeout --kill-after=5m {{ TimeoutHours }}h "
                f"{BIN}/run_finetune.sh {{{{ RunId }}}} {{{{ ConfigS3Uri }}}} {{{{ TrainS3Uri }}}} "
                "{{ BaseModel }} {{ ValidationS3Uri }}",
                # The SSM agent's maximum (172,800 s; any larger value silently becomes 3,600): the run's own limit,
                # enforced by `timeout`, is at most MAX_FINE_TUNE_HOURS, an hour less.
                str(int(LIMITS["ssm_execution_timeout_max"].value)),
            ),
            self.names.archive_run: _document(
                "Modelsmith: upload a run's output and logs to s3://<artifacts>/runs/<RunId>/.",
                {"RunId": run_id},
                "Archive",
                f"{BIN}/archive_run.sh {{{{ RunId }}}}",
                "3600",
            ),
            self.names.publish_to_hub: _document(
                "Modelsmith: publish a run's adapter or merged model to the Hugging Face Hub.",
                {
                    "RunId": run_id,
                    "RepoId": _parameter("Hub repository, owner/name.", HUB_REPO_PATTERN),
                    "What": _parameter("adapter or merged.", r"^(adapter|merged)$", "adapter"),
                    "Private": _parameter("Create the repository private.", r"^(true|false)$", "true"),
                },
                "Publish",
                f"{BIN}/publish_to_hub.sh {{{{ RunId }}}} {{{{ RepoId }}}} {{{{ What }}}} {{{{ Private }}}}",
                "3600",
            ),
        }
        self.documents = {
            name: ssm.CfnDocument(
                self,
                name.rsplit("-", 1)[-1],
                name=name,
                document_type="Command",
                document_format="JSON",
                content=content,
                update_method="NewVersion",
            )
            for name, content in contents.items()
        }

    def publish(self, parameters: ParameterTree) -> None:
        """The three documents' names, under ``training-instance/``."""
        for name, value, description in (
            ("run-fine-tune-document", self.names.run_fine_tune, "SSM document: run a fine-tune"),
            ("archive-run-document", self.names.archive_run, "SSM document: archive a run"),
            ("publish-to-hub-document", self.names.publish_to_hub, "SSM document: publish to the Hub"),
        ):
            parameters.publish("training-instance", name, value, description=description)
