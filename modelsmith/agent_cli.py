"""Ask the deployed astronomy agent a question, or run the knowledge base's ingestion after deploying.

    python -m modelsmith.agent_cli ask --env dev "What are the coordinates of M31?"
    python -m modelsmith.agent_cli ask --env dev --session my-session "Now find Gaia sources within 5 arcmin"
    python -m modelsmith.agent_cli ingest --env dev            # start ingestion and wait for it to finish

The agent, alias, knowledge base and data source IDs are read from the environment's SSM parameters
(``/modelsmith/<env>/agent/...``) unless given with ``--agent-id``/``--alias-id``. ``ask`` streams the answer
and, with tracing on (the default), each tool call the agent makes, the tool's answer, and knowledge base
look-ups. Uses the AWS credentials and region of the shell (``AWS_PROFILE``, ``AWS_REGION``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any, Callable, Iterable, TextIO

from constructs.parameter_tree import parameter_name

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
            for error_key in ("internalServerException", "throttlingException", "validationException",
                              "accessDeniedException", "dependencyFailedException", "badGatewayException"):  # fmt: skip
                if error_key in event:
                    raise SystemExit(f"error: the agent failed ({error_key}): {event[error_key].get('message')}")
    out.write("\n")
    return "".join(answer)


def ask(args: argparse.Namespace, session: Session, out: TextIO) -> int:
    agent_id, alias_id = args.agent_id, args.alias_id
    if not (agent_id and alias_id):
        ssm = session.client("ssm")
        agent_id = agent_id or _parameter(ssm, args.env, "agent-id")
        alias_id = alias_id or _parameter(ssm, args.env, "agent-alias-id")
    session_id = args.session or uuid.uuid4().hex
    runtime = session.client("bedrock-agent-runtime")
    response = runtime.invoke_agent(
        agentId=agent_id, agentAliasId=alias_id, sessionId=session_id, inputText=args.question,
        enableTrace=not args.no_trace, streamingConfigurations={"streamFinalResponse": True},
    )  # fmt: skip
    print(f"(agent {agent_id}, alias {alias_id}, session {session_id})", file=out)
    stream_answer(response["completion"], out, show_trace=not args.no_trace)
    return 0


def ingest(args: argparse.Namespace, session: Session, out: TextIO, *, sleep: Callable[[float], None] = time.sleep) -> int:
    ssm = session.client("ssm")
    knowledge_base_id = _parameter(ssm, args.env, "knowledge-base-id")
    data_source_id = _parameter(ssm, args.env, "data-source-id")
    client = session.client("bedrock-agent")
    job = client.start_ingestion_job(knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id,
                                     description="modelsmith.agent_cli ingest")["ingestionJob"]  # fmt: skip
    print(f"ingestion job {job['ingestionJobId']} started for knowledge base {knowledge_base_id}", file=out)
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.timeout_minutes * 60
    while job["status"] in ("STARTING", "IN_PROGRESS", "STOPPING"):
        if time.monotonic() > deadline:
            print(f"error: still {job['status']} after {args.timeout_minutes} minutes; check the console", file=sys.stderr)
            return 2
        sleep(args.poll_seconds)
        job = client.get_ingestion_job(knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id,
                                       ingestionJobId=job["ingestionJobId"])["ingestionJob"]  # fmt: skip
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
