"""Ask the deployed astronomy agent a question, or run the knowledge base's ingestion after deploying.

    python -m modelsmith.agent_cli ask --env dev "What are the coordinates of M31?"
    python -m modelsmith.agent_cli ask --env dev --session my-session-0123456789abcdef0123456789 "Now find Gaia sources"
    python -m modelsmith.agent_cli ingest --env dev            # start ingestion and wait for it to finish

``ask`` finds the runtime the stack deployed (``/modelsmith/<env>/agent/runtime``): on ``agentcore`` it invokes
the harness (``InvokeHarness``; the caller needs ``bedrock-agentcore:InvokeHarness`` and
``bedrock-agentcore:InvokeAgentRuntime`` on the harness ARN, per AgentCore's harness security page), on
``classic`` the agent alias (``InvokeAgent``; ``--agent-id``/``--alias-id`` skip SSM). It streams the answer and,
with tracing on (the default), each tool call and the tool's answer. IDs come from the environment's SSM parameters
(``/modelsmith/<env>/agent/...``). Uses the AWS credentials and region of the shell (``AWS_PROFILE``, ``AWS_REGION``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from constructs.parameter_tree import parameter_name
from modelsmith_core.config import DEFAULT_AGENT_MODEL

Session = Any  # a boto3.Session, or any object with .client(name) (tests pass fakes)


def _parameter(ssm: Any, env: str, key: str) -> str:
    name = parameter_name(env, "agent", key)
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise SystemExit(f"error: SSM parameter {name} not found; is the Agent stack of '{env}' deployed?") from None


def describe_trace(trace: dict[str, Any]) -> list[str]:
    """Readable lines for one trace event: tool calls, tool answers, knowledge base look-ups, reasoning."""
    lines: list[str] = []
    orchestration = trace.get("trace", {}).get("orchestrationTrace", {})
    rationale = orchestration.get("rationale", {}).get("text")
    if rationale:
        lines.append(f"  [thinking] {rationale}")
    invocation = orchestration.get("invocationInput", {})
    action = invocation.get("actionGroupInvocationInput")
    if action:
        parameters = ", ".join(f"{p['name']}={p['value']}" for p in action.get("parameters", []))
        lines.append(f"  [tool] {action.get('verb', 'get').upper()} {action.get('apiPath')} ({parameters})")
    lookup = invocation.get("knowledgeBaseLookupInput")
    if lookup:
        lines.append(f"  [knowledge base] {lookup.get('text')}")
    observation = orchestration.get("observation", {})
    output = observation.get("actionGroupInvocationOutput")
    if output:
        text = output.get("text", "")
        lines.append(f"  [tool answer] {text[:500]}{'...' if len(text) > 500 else ''}")
    references = observation.get("knowledgeBaseLookupOutput", {}).get("retrievedReferences", [])
    if references:
        sources = [r.get("location", {}).get("s3Location", {}).get("uri", "?") for r in references]
        lines.append(f"  [knowledge base found] {', '.join(sources)}")
    failure = trace.get("trace", {}).get("failureTrace", {}).get("failureReason")
    if failure:
        lines.append(f"  [failure] {failure}")
    guardrail = trace.get("trace", {}).get("guardrailTrace", {}).get("action")
    if guardrail == "INTERVENED":
        lines.append("  [guardrail] intervened")
    return lines


def stream_answer(events: Iterable[dict[str, Any]], out: TextIO, *, show_trace: bool) -> str:
    """Print the answer's chunks as they arrive (and the trace lines); return the whole answer."""
    answer = []
    for event in events:
        if "chunk" in event:
            text = event["chunk"].get("bytes", b"").decode("utf-8")
            answer.append(text)
            out.write(text)
            out.flush()
        elif "trace" in event and show_trace:
            for line in describe_trace(event["trace"]):
                print(line, file=out, flush=True)
        elif "files" in event:
            for file in event["files"].get("files", []):
                print(f"  [file] {file.get('name')} ({file.get('type')})", file=out)
        else:
            for error_key in (
                "internalServerException",
                "throttlingException",
                "validationException",
                "accessDeniedException",
                "dependencyFailedException",
                "badGatewayException",
            ):
                if error_key in event:
                    raise SystemExit(f"error: the agent failed ({error_key}): {event[error_key].get('message')}")
    out.write("\n")
    return "".join(answer)


# InvokeHarness runtimeSessionId: 33-100 characters, [a-zA-Z0-9][a-zA-Z0-9-_]* (botocore bedrock-agentcore).
HARNESS_SESSION = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{32,99}$")
HARNESS_ERRORS = ("internalServerException", "validationException", "runtimeClientError")


def stream_harness(events: Iterable[dict[str, Any]], out: TextIO, *, show_trace: bool) -> str:
    """Print an ``InvokeHarness`` stream: the answer's text as it arrives and, with tracing, each tool call (its
    name and input, printed when its block ends) and the tool's answer; return the answer."""
    answer: list[str] = []
    tools: dict[int, dict[str, Any]] = {}
    for event in events:
        for error_key in HARNESS_ERRORS:
            if error_key in event:
                raise SystemExit(f"error: the agent failed ({error_key}): {event[error_key].get('message')}")
        if "contentBlockStart" in event:
            block = event["contentBlockStart"]
            start = block.get("start", {})
            if "toolUse" in start:
                tools[block.get("contentBlockIndex", 0)] = {"name": start["toolUse"].get("name"), "input": []}
        elif "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block.get("delta", {})
            if "text" in delta:
                answer.append(delta["text"])
                out.write(delta["text"])
                out.flush()
            elif "toolUse" in delta and block.get("contentBlockIndex", 0) in tools:
                tools[block.get("contentBlockIndex", 0)]["input"].append(delta["toolUse"].get("input", ""))
            elif "toolResult" in delta and show_trace:
                for item in delta["toolResult"]:
                    text = item.get("text") or json.dumps(item.get("json"))
                    print(f"  [tool answer] {text[:500]}{'...' if len(text) > 500 else ''}", file=out, flush=True)
        elif "contentBlockStop" in event and show_trace:
            tool = tools.pop(event["contentBlockStop"].get("contentBlockIndex", 0), None)
            if tool:
                print(f"  [tool] {tool['name']} {''.join(tool['input'])}", file=out, flush=True)
    out.write("\n")
    return "".join(answer)


def ask(args: argparse.Namespace, session: Session, out: TextIO) -> int:
    if getattr(args, "local", False):
        return ask_local(args, session, out)
    agent_id, alias_id = args.agent_id, args.alias_id
    runtime_name = "classic" if (agent_id and alias_id) else _parameter(session.client("ssm"), args.env, "runtime")
    if runtime_name == "agentcore":
        return ask_harness(args, session, out)
    if not (agent_id and alias_id):
        ssm = session.client("ssm")
        agent_id = agent_id or _parameter(ssm, args.env, "agent-id")
        alias_id = alias_id or _parameter(ssm, args.env, "agent-alias-id")
    session_id = args.session or uuid.uuid4().hex
    runtime = session.client("bedrock-agent-runtime")
    response = runtime.invoke_agent(
        agentId=agent_id,
        agentAliasId=alias_id,
        sessionId=session_id,
        inputText=args.question,
        enableTrace=not args.no_trace,
        streamingConfigurations={"streamFinalResponse": True},
    )
    print(f"(agent {agent_id}, alias {alias_id}, session {session_id})", file=out)
    stream_answer(response["completion"], out, show_trace=not args.no_trace)
    return 0


LOCAL_OUTPUT_PREFIX = "agent-tools/local/"


def ask_local(args: argparse.Namespace, session: Session, out: TextIO, *, model: Any = None) -> int:
    """The agent loop on this machine (``modelsmith/agent_local.py``): the tools run here, served over MCP as the
    Gateway serves them, and answer from the real archives; the model is Bedrock's (``--model``; ``model`` in tests).
    The tools write their CSVs and plots under ``agent-tools/local/`` of the environment's artifacts bucket and read
    the NASA ADS token from its secret, both found through the Foundation's SSM parameters."""
    import os

    from modelsmith import agent_local

    if model is None:
        from strands.models import BedrockModel

        model = BedrockModel(model_id=args.model, boto_session=session)
    ssm = session.client("ssm")
    environment = {
        "OUTPUT_BUCKET": _foundation_parameter(ssm, args.env, "s3", "artifacts-bucket"),
        "OUTPUT_PREFIX": LOCAL_OUTPUT_PREFIX,
        "ADS_TOKEN_SECRET_ARN": _foundation_parameter(ssm, args.env, "secrets", "nasa-ads-token"),
    }
    for key, value in environment.items():
        os.environ.setdefault(key, value)
    from constructs.agent_research_assistant import INSTRUCTION

    run = agent_local.run_agent(args.question, model, system_prompt=INSTRUCTION)
    if not args.no_trace:
        for call in run.tool_calls:
            print(f"  [tool] {call['name']} {json.dumps(call['input'])}", file=out)
            text = json.dumps(call["result"])
            print(f"  [tool answer] {text[:500]}{'...' if len(text) > 500 else ''}", file=out)
    print(run.answer, file=out)
    return 0


def _foundation_parameter(ssm: Any, env: str, group: str, key: str) -> str:
    name = parameter_name(env, group, key)
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise SystemExit(
            f"error: SSM parameter {name} not found; is the Foundation stack of '{env}' deployed?"
        ) from None


def ask_harness(args: argparse.Namespace, session: Session, out: TextIO) -> int:
    harness_arn = _parameter(session.client("ssm"), args.env, "harness-arn")
    session_id = args.session or f"modelsmith-{uuid.uuid4().hex}"
    if not HARNESS_SESSION.match(session_id):
        raise SystemExit(f"error: --session {session_id!r}: an AgentCore session ID is 33-100 letters, digits, - and _")
    client = session.client("bedrock-agentcore")
    response = client.invoke_harness(
        harnessArn=harness_arn,
        runtimeSessionId=session_id,
        messages=[{"role": "user", "content": [{"text": args.question}]}],
    )
    print(f"(harness {harness_arn}, session {session_id})", file=out)
    stream_harness(response["stream"], out, show_trace=not args.no_trace)
    return 0


def ingest(
    args: argparse.Namespace, session: Session, out: TextIO, *, sleep: Callable[[float], None] = time.sleep
) -> int:
    ssm = session.client("ssm")
    knowledge_base_id = _parameter(ssm, args.env, "knowledge-base-id")
    data_source_id = _parameter(ssm, args.env, "data-source-id")
    client = session.client("bedrock-agent")
    job = client.start_ingestion_job(
        knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id, description="modelsmith.agent_cli ingest"
    )["ingestionJob"]
    print(f"ingestion job {job['ingestionJobId']} started for knowledge base {knowledge_base_id}", file=out)
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.timeout_minutes * 60
    while job["status"] in ("STARTING", "IN_PROGRESS", "STOPPING"):
        if time.monotonic() > deadline:
            print(
                f"error: still {job['status']} after {args.timeout_minutes} minutes; check the console", file=sys.stderr
            )
            return 2
        sleep(args.poll_seconds)
        job = client.get_ingestion_job(
            knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id, ingestionJobId=job["ingestionJobId"]
        )["ingestionJob"]
    statistics = job.get("statistics", {})
    print(f"ingestion {job['status']}: {json.dumps(statistics, sort_keys=True)}", file=out)
    for reason in job.get("failureReasons", []):
        print(f"  failure: {reason}", file=out)
    return 0 if job["status"] == "COMPLETE" else 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m modelsmith.agent_cli", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    ask_parser = commands.add_parser("ask", help="ask the agent a question and stream its answer")
    ask_parser.add_argument("question", help="e.g. 'What are the coordinates of M31?'")
    ask_parser.add_argument("--env", default="dev", help="environment whose agent to ask (default dev)")
    ask_parser.add_argument("--agent-id", help="agent ID (default: from SSM)")
    ask_parser.add_argument("--alias-id", help="alias ID (default: from SSM)")
    ask_parser.add_argument("--session", help="session ID to continue a conversation (default: a new one)")
    ask_parser.add_argument("--no-trace", action="store_true", help="print only the answer, not the tool calls")
    ask_parser.add_argument(
        "--local",
        action="store_true",
        help="run the agent loop here (tools over MCP, as the Gateway serves them) with a Bedrock model",
    )
    ask_parser.add_argument(
        "--model", default=DEFAULT_AGENT_MODEL, help=f"with --local: the model (default {DEFAULT_AGENT_MODEL})"
    )
    ingest_parser = commands.add_parser("ingest", help="ingest the documents under the knowledge base's S3 prefix")
    ingest_parser.add_argument("--env", default="dev")
    ingest_parser.add_argument("--no-wait", action="store_true", help="start the job and return")
    ingest_parser.add_argument("--poll-seconds", type=float, default=15.0)
    ingest_parser.add_argument("--timeout-minutes", type=float, default=60.0)
    return root


def main(argv: list[str] | None = None, *, session: Session | None = None, out: TextIO = sys.stdout) -> int:
    args = parser().parse_args(argv)
    if args.command == "ask" and not args.question.strip():
        print("error: the question is empty", file=sys.stderr)
        return 2
    if session is None:
        import boto3

        session = boto3.Session()
    return ask(args, session, out) if args.command == "ask" else ingest(args, session, out)


if __name__ == "__main__":
    sys.exit(main())
