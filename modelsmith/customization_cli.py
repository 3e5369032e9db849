"""Prepare fine-tuning data, start and follow a Bedrock customization run, and compare the models it makes.

    python -m modelsmith.customization_cli prepare data/chat.jsonl --out prepared/         # the default model's format
    python -m modelsmith.customization_cli prepare data/chat.jsonl --base-model meta.llama3-1-8b-instruct-v1:0:128k \
        --upload s3://bucket/inputs/
    python -m modelsmith.customization_cli train --env dev --input run-input.json [--name my-run-1]
    python -m modelsmith.customization_cli status arn:aws:states:...:execution:... --wait
    python -m modelsmith.customization_cli test --model arn:aws:bedrock:...:custom-model-deployment/abc --prompt "Hi"
    python -m modelsmith.customization_cli benchmark --suite suite.jsonl --base meta.llama3-1-8b-instruct-v1:0 \\
        --custom arn:aws:bedrock:... --metric exact_match [--report out/]

``prepare`` and ``benchmark`` run the same modules as the pipeline's Lambda functions
(``lambda_src/shared/customization_data.py`` and ``lambda_src/evaluate_customization/``), so a file that
passes here passes there. ``train`` reads the state machine's ARN from SSM
(``/modelsmith/<env>/workflows/llm-customization-state-machine-arn``). Uses the shell's AWS credentials and
region. Errors print one line and exit with status 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from modelsmith_core import catalogue

Session = Any  # a boto3.Session, or any object with .client(name) (tests pass fakes)
STATE_MACHINE_PARAMETER = ("workflows", "llm-customization-state-machine-arn")
RUNNING_STATUSES = ("RUNNING", "PENDING_REDRIVE")
SHOWN_HISTORY_EVENTS = {
    "ExecutionStarted",
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionTimedOut",
    "ExecutionAborted",
    "TaskStateEntered",
    "ChoiceStateEntered",
    "WaitStateEntered",
    "PassStateEntered",
    "MapStateEntered",
    "ParallelStateEntered",
    "SucceedStateEntered",
    "FailStateEntered",
    "TaskFailed",
    "TaskTimedOut",
    "LambdaFunctionFailed",
    "MapRunFailed",
}


class CommandError(Exception):
    """A problem the user can fix; printed as one line."""


def runtime_modules() -> tuple[ModuleType, ModuleType]:
    """``(customization_data, customization_evaluation)``: the Lambda functions' own modules."""
    from lambda_src.evaluate_customization import customization_evaluation
    from lambda_src.shared import customization_data

    return customization_data, customization_evaluation


# --- commands --------------------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, session: Session | None, out: TextIO) -> int:
    data, _ = runtime_modules()
    source = Path(args.file)
    if not source.is_file():
        raise CommandError(f"{source}: no such file")
    # The base model decides the format and the limits, as in the workflow's preparation step.
    settings = catalogue.BEDROCK_CUSTOMIZATION_MODELS[args.base_model].preparation_settings()
    target_format = settings.pop("target_format")
    result = data.convert_and_validate(
        data.iter_file_lines(source),
        source_name=str(source),
        target_format=target_format,
        limits=data.Limits(**settings),
        validation_fraction=args.validation_fraction,
        seed=args.seed,
    )
    if result.problems:
        for problem in result.problems:
            print(problem, file=out)
        noun = "problem" if len(result.problems) == 1 else "problems"
        raise CommandError(
            f"{len(result.problems)} {noun} in {source} ({result.metadata['records']} records); nothing written"
        )
    meta, tokens = result.metadata, result.metadata["tokens_per_record"]
    print(
        f"{meta['records']} {meta['source_format']} records -> {meta['target_format']}: "
        f"{meta['train_records']} train, {meta['validation_records']} validation",
        file=out,
    )
    print(
        f"tokens per record ({meta['token_estimate']}): min {tokens['min']}, mean {tokens['mean']}, "
        f"p50 {tokens['p50']}, p95 {tokens['p95']}, max {tokens['max']}",
        file=out,
    )
    for path in data.write_result(Path(args.out), result).values():
        print(f"wrote {path}", file=out)
    if args.upload:
        from lambda_src.shared.run_storage import parse_s3_uri

        bucket, key = parse_s3_uri(args.upload.rstrip("/") + "/", "--upload")
        for uri in data.store_result(_session(session).client("s3"), bucket, key, result).values():
            print(f"uploaded {uri}", file=out)
    return 0


def train(args: argparse.Namespace, session: Session | None, out: TextIO) -> int:
    try:
        execution_input = json.loads(Path(args.input).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"{args.input}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CommandError(f"{args.input}: not valid JSON ({error})") from None
    if not isinstance(execution_input, dict):
        raise CommandError(f"{args.input}: the execution input must be a JSON object")
    from constructs.parameter_tree import parameter_name  # loads jsii (Node): only the commands that need it

    session = _session(session)
    name = parameter_name(args.env, *STATE_MACHINE_PARAMETER)
    ssm = session.client("ssm")
    try:
        arn = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise CommandError(f"SSM parameter {name} not found; is the workflow of '{args.env}' deployed?") from None
    request = {"stateMachineArn": arn, "input": json.dumps(execution_input)}
    if args.name:
        request["name"] = args.name
    execution = session.client("stepfunctions").start_execution(**request)
    print(f"started {execution['executionArn']}", file=out)
    print(f"follow it with: python -m modelsmith.customization_cli status {execution['executionArn']} --wait", file=out)
    return 0


def describe_event(event: dict[str, Any]) -> str | None:
    """One line for a history event worth showing (state entered, failures, the end); ``None`` otherwise."""
    kind = event["type"]
    if kind not in SHOWN_HISTORY_EVENTS:
        return None
    stamp = (
        event["timestamp"].strftime("%H:%M:%S") if hasattr(event["timestamp"], "strftime") else str(event["timestamp"])
    )
    details = next(
        (value for key, value in event.items() if key.endswith("EventDetails") and isinstance(value, dict)), {}
    )
    text = f"{stamp}  {kind}"
    if details.get("name"):
        text += f"  {details['name']}"
    if details.get("error") or details.get("cause"):
        text += f"  {details.get('error', '')}: {details.get('cause', '')}".rstrip(": ")
    return text


def status(
    args: argparse.Namespace, session: Session | None, out: TextIO, *, sleep: Callable[[float], None] = time.sleep
) -> int:
    client = _session(session).client("stepfunctions")
    shown = 0
    while True:
        execution = client.describe_execution(executionArn=args.execution_arn)
        events = [
            event
            for page in client.get_paginator("get_execution_history").paginate(executionArn=args.execution_arn)
            for event in page["events"]
        ]
        for event in events[shown:]:
            line = describe_event(event)
            if line:
                print(line, file=out)
        shown = len(events)
        if not args.wait or execution["status"] not in RUNNING_STATUSES:
            break
        sleep(args.poll_seconds)
    print(f"status: {execution['status']}", file=out)
    if execution["status"] == "SUCCEEDED" and execution.get("output"):
        print(f"output: {execution['output']}", file=out)
    if execution.get("error"):
        print(f"error: {execution['error']}: {execution.get('cause', '')}", file=out)
    return 0 if execution["status"] in ("SUCCEEDED", *RUNNING_STATUSES) else 1


def test_model(
    args: argparse.Namespace, session: Session | None, out: TextIO, *, sleep: Callable[[float], None] = time.sleep
) -> int:
    _, evaluation = runtime_modules()
    if not args.prompt.strip():
        raise CommandError("the prompt is empty")
    caller = evaluation.ConverseCaller(_session(session).client("bedrock-runtime"), sleep=sleep)
    print(caller.ask(args.model, args.prompt, args.max_tokens), file=out)
    return 0


def benchmark(
    args: argparse.Namespace, session: Session | None, out: TextIO, *, sleep: Callable[[float], None] = time.sleep
) -> int:
    data, evaluation = runtime_modules()
    if args.metric == "judge" and not args.judge:
        raise CommandError("--metric judge needs --judge MODEL_ID")
    suite = Path(args.suite)
    if not suite.is_file():
        raise CommandError(f"{suite}: no such file")
    cases = evaluation.load_suite(data.iter_file_lines(suite), args.metric, str(suite))
    settings = evaluation.EvaluationSettings(
        base_model_id=args.base,
        custom_model_id=args.custom,
        metric=args.metric,
        min_gain=args.min_gain,
        judge_model_id=args.judge,
        max_tokens=args.max_tokens,
    )
    caller = evaluation.ConverseCaller(_session(session).client("bedrock-runtime"), sleep=sleep)
    report = evaluation.evaluate_cases(cases, settings, caller)
    markdown = evaluation.render_markdown(report)
    out.write(markdown)
    if args.report:
        folder = Path(args.report)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "report.md").write_text(markdown, encoding="utf-8")
        print(f"wrote {folder / 'report.json'} and {folder / 'report.md'}", file=out)
    return 0 if report["custom_wins"] else 1


def _session(session: Session | None) -> Session:
    if session is None:
        import boto3

        session = boto3.Session()
    return session


# --- arguments -------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1 (exclusive)")
    return value


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    root = argparse.ArgumentParser(
        prog="python -m modelsmith.customization_cli", description=__doc__.splitlines()[0], parents=[common]
    )
    commands = root.add_subparsers(dest="command", required=True)

    prepare_parser = commands.add_parser("prepare", parents=[common], help="convert and validate a JSONL file")
    prepare_parser.add_argument("file", help="chat, instruction or prompt/completion JSONL")
    prepare_parser.add_argument(
        "--base-model",
        default=catalogue.DEFAULT_CUSTOMIZATION_MODEL,
        choices=sorted(catalogue.BEDROCK_CUSTOMIZATION_MODELS),
        help="the model to fine-tune (customization ID): its data format and limits apply",
    )
    prepare_parser.add_argument(
        "--out", default="customization-data", help="output folder (default customization-data)"
    )
    prepare_parser.add_argument("--upload", help="also upload the files under this S3 prefix (s3://bucket/prefix/)")
    prepare_parser.add_argument("--validation-fraction", type=_fraction, default=0.1)
    prepare_parser.add_argument("--seed", type=int, default=42)

    train_parser = commands.add_parser("train", parents=[common], help="start the customization workflow")
    train_parser.add_argument("--env", required=True, help="environment whose workflow to start, e.g. dev")
    train_parser.add_argument("--input", required=True, help="JSON file with the execution input")
    train_parser.add_argument("--name", help="execution name (default: generated)")

    status_parser = commands.add_parser("status", parents=[common], help="show an execution's progress")
    status_parser.add_argument("execution_arn")
    status_parser.add_argument("--wait", action="store_true", help="follow until the execution ends")
    status_parser.add_argument("--poll-seconds", type=float, default=30.0)

    test_parser = commands.add_parser("test", parents=[common], help="ask a model one question")
    test_parser.add_argument("--model", required=True, help="model ID or ARN (custom model deployment, provisioned)")
    test_parser.add_argument("--prompt", required=True)
    test_parser.add_argument("--max-tokens", type=_positive_int, default=512)

    benchmark_parser = commands.add_parser("benchmark", parents=[common], help="compare base and custom model")
    benchmark_parser.add_argument("--suite", required=True, help='JSONL of {"prompt", "expected"}')
    benchmark_parser.add_argument("--base", required=True, help="base model ID")
    benchmark_parser.add_argument("--custom", required=True, help="custom model ID or ARN")
    benchmark_parser.add_argument("--metric", required=True, choices=("exact_match", "field_f1", "judge"))
    benchmark_parser.add_argument("--judge", help="judge model ID (for --metric judge)")
    benchmark_parser.add_argument("--min-gain", type=float, default=0.0)
    benchmark_parser.add_argument("--max-tokens", type=_positive_int, default=512)
    benchmark_parser.add_argument("--report", help="also write report.json and report.md into this folder")
    return root


COMMANDS: dict[str, Callable[..., int]] = {
    "prepare": prepare,
    "train": train,
    "status": status,
    "test": test_model,
    "benchmark": benchmark,
}


def main(
    argv: list[str] | None = None,
    *,
    session: Session | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    args = parser().parse_args(argv)
    command = COMMANDS[args.command]
    try:
        if command in (prepare, train):
            return command(args, session, out)
        return command(args, session, out, sleep=sleep)
    except Exception as error:  # noqa: BLE001 - one readable line unless --debug
        if getattr(args, "debug", False):
            raise
        message = str(error) if isinstance(error, CommandError) else f"{type(error).__name__}: {error}"
        print(f"error: {message}", file=err)
        return 2


if __name__ == "__main__":
    sys.exit(main())
