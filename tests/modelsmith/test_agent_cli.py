"""`python -m modelsmith.agent_cli`: asking the agent (streamed answer and tool calls) and running ingestion.

SSM and bedrock-agent go through botocore's Stubber; invoke_agent's event stream through a fake client
(Stubber cannot build an event stream), yielding events in the documented shape.
"""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from modelsmith import agent_cli

REGION = "us-west-2"


class FakeRuntime:
    """bedrock-agent-runtime's invoke_agent, answering with a recorded-shape event stream."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.calls: list[dict[str, Any]] = []

    def invoke_agent(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"completion": iter(self.events), "contentType": "application/json", "sessionId": kwargs["sessionId"]}


class FakeSession:
    def __init__(self, **clients: Any) -> None:
        self.clients = clients

    def client(self, name: str) -> Any:
        return self.clients[name]


def _ssm_with(parameters: dict[str, str]) -> tuple[Any, Stubber]:
    ssm = boto3.client("ssm", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(ssm)
    for name, value in parameters.items():
        stubber.add_response(
            "get_parameter", {"Parameter": {"Name": name, "Value": value, "Type": "String"}}, {"Name": name}
        )
    stubber.activate()
    return ssm, stubber


M31_EVENTS = [
    {"trace": {"trace": {"orchestrationTrace": {"rationale": {"text": "Resolve M31 with SIMBAD."}}}}},
    {
        "trace": {
            "trace": {
                "orchestrationTrace": {
                    "invocationInput": {
                        "actionGroupInvocationInput": {
                            "actionGroupName": "astronomy-tools",
                            "apiPath": "/objects/resolve",
                            "verb": "get",
                            "parameters": [{"name": "name", "type": "string", "value": "M31"}],
                        }
                    }
                }
            }
        }
    },
    {
        "trace": {
            "trace": {
                "orchestrationTrace": {
                    "observation": {
                        "actionGroupInvocationOutput": {
                            "text": '{"main_id": "M 31", "ra_deg": 10.6847083, "dec_deg": 41.26875}'
                        }
                    }
                }
            }
        }
    },
    {
        "trace": {
            "trace": {
                "orchestrationTrace": {
                    "invocationInput": {
                        "knowledgeBaseLookupInput": {"text": "Andromeda galaxy", "knowledgeBaseId": "KB1"}
                    }
                }
            }
        }
    },
    {"chunk": {"bytes": b"M31 lies at RA 10.6847 deg, "}},
    {"chunk": {"bytes": b"Dec +41.2688 deg (00h42m44.33s +41d16m07.5s)."}},
]


def test_ask_streams_the_answer_and_the_tool_calls() -> None:
    # GIVEN the deployed agent's IDs in SSM and an agent answering about M31
    ssm, stubber = _ssm_with(
        {
            "/modelsmith/dev/agent/runtime": "classic",
            "/modelsmith/dev/agent/agent-id": "AGENT12345",
            "/modelsmith/dev/agent/agent-alias-id": "ALIAS6789",
        }
    )
    runtime = FakeRuntime(M31_EVENTS)
    out = io.StringIO()
    # WHEN a user asks
    code = agent_cli.main(
        ["ask", "--env", "dev", "--session", "s-1", "What are the coordinates of M31?"],
        session=FakeSession(ssm=ssm, **{"bedrock-agent-runtime": runtime}),
        out=out,
    )
    # THEN the alias is invoked with tracing on, and the tool call, its answer and the text are printed in order
    assert code == 0
    stubber.assert_no_pending_responses()
    call = runtime.calls[0]
    assert (call["agentId"], call["agentAliasId"], call["sessionId"], call["enableTrace"]) == (
        "AGENT12345",
        "ALIAS6789",
        "s-1",
        True,
    )
    assert call["inputText"] == "What are the coordinates of M31?"
    text = out.getvalue()
    assert "[tool] GET /objects/resolve (name=M31)" in text
    assert '[tool answer] {"main_id": "M 31"' in text
    assert "[knowledge base] Andromeda galaxy" in text
    assert text.index("[tool]") < text.index("M31 lies at RA 10.6847 deg, Dec +41.2688 deg")


def test_ask_without_trace_prints_only_the_answer() -> None:
    runtime = FakeRuntime(M31_EVENTS)
    out = io.StringIO()
    agent_cli.main(
        ["ask", "--agent-id", "A", "--alias-id", "B", "--no-trace", "M31?"],
        session=FakeSession(ssm=None, **{"bedrock-agent-runtime": runtime}),
        out=out,
    )
    assert runtime.calls[0]["enableTrace"] is False
    assert "[tool]" not in out.getvalue() and "M31 lies at" in out.getvalue()


def test_agent_errors_stop_with_a_message() -> None:
    runtime = FakeRuntime([{"throttlingException": {"message": "Rate exceeded"}}])
    with pytest.raises(SystemExit, match=r"the agent failed \(throttlingException\): Rate exceeded"):
        agent_cli.main(
            ["ask", "--agent-id", "A", "--alias-id", "B", "M31?"],
            session=FakeSession(**{"bedrock-agent-runtime": runtime}),
            out=io.StringIO(),
        )


def test_missing_parameter_says_the_stack_is_not_deployed() -> None:
    ssm = boto3.client("ssm", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(ssm)
    stubber.add_client_error(
        "get_parameter", "ParameterNotFound", expected_params={"Name": "/modelsmith/prod/agent/runtime"}
    )
    stubber.activate()
    with pytest.raises(
        SystemExit, match="/modelsmith/prod/agent/runtime not found; is the Agent stack of 'prod' deployed"
    ):
        agent_cli.main(["ask", "--env", "prod", "M31?"], session=FakeSession(ssm=ssm), out=io.StringIO())


def test_empty_question_is_refused(capsys) -> None:
    assert agent_cli.main(["ask", "   "], session=FakeSession()) == 2
    assert "the question is empty" in capsys.readouterr().err


def test_ingest_starts_the_job_and_waits_for_it() -> None:
    ssm, _ = _ssm_with(
        {"/modelsmith/dev/agent/knowledge-base-id": "KB12345678", "/modelsmith/dev/agent/data-source-id": "DS12345678"}
    )
    agent = boto3.client("bedrock-agent", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(agent)
    job = {
        "knowledgeBaseId": "KB12345678",
        "dataSourceId": "DS12345678",
        "ingestionJobId": "JOB1234567",
        "updatedAt": "2026-01-01T00:00:00Z",
        "startedAt": "2026-01-01T00:00:00Z",
    }
    stubber.add_response(
        "start_ingestion_job",
        {"ingestionJob": {**job, "status": "STARTING"}},
        {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "description": ANY},
    )
    stubber.add_response(
        "get_ingestion_job",
        {"ingestionJob": {**job, "status": "IN_PROGRESS"}},
        {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "ingestionJobId": "JOB1234567"},
    )
    stubber.add_response(
        "get_ingestion_job",
        {
            "ingestionJob": {
                **job,
                "status": "COMPLETE",
                "statistics": {
                    "numberOfDocumentsScanned": 12,
                    "numberOfNewDocumentsIndexed": 12,
                    "numberOfDocumentsFailed": 0,
                },
            }
        },
        {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "ingestionJobId": "JOB1234567"},
    )
    stubber.activate()
    out = io.StringIO()
    args = agent_cli.parser().parse_args(["ingest", "--env", "dev", "--poll-seconds", "0"])
    code = agent_cli.ingest(args, FakeSession(ssm=ssm, **{"bedrock-agent": agent}), out, sleep=lambda _: None)
    assert code == 0
    stubber.assert_no_pending_responses()
    assert "ingestion job JOB1234567 started for knowledge base KB12345678" in out.getvalue()
    assert 'ingestion COMPLETE: {"numberOfDocumentsFailed": 0, "numberOfDocumentsScanned": 12' in out.getvalue()


# --- AgentCore (the default runtime) --------------------------------------------------------------------


class FakeAgentCore:
    """bedrock-agentcore's invoke_harness: the request is checked against botocore's input shape, the answer is an
    event stream of the output shape's members (InvokeHarnessStreamOutput)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events, self.calls = events, []

    def invoke_harness(self, **request: Any) -> dict[str, Any]:
        import botocore.session
        from botocore.validate import validate_parameters

        model = botocore.session.get_session().get_service_model("bedrock-agentcore")
        validate_parameters(request, model.operation_model("InvokeHarness").input_shape)
        self.calls.append(request)
        return {"stream": iter(self.events)}


HARNESS_ARN = "arn:aws:bedrock-agentcore:us-west-2:123456789012:harness/modelsmith_dev_astronomy-a1b2c3d4e5"
HARNESS_EVENTS = [
    {"messageStart": {"role": "assistant"}},
    {
        "contentBlockStart": {
            "contentBlockIndex": 0,
            "start": {"toolUse": {"toolUseId": "t1", "name": "astronomy-tools___resolveObject"}},
        }
    },
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"name": '}}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '"M31"}'}}}},
    {"contentBlockStop": {"contentBlockIndex": 0}},
    {
        "contentBlockDelta": {
            "contentBlockIndex": 1,
            "delta": {"toolResult": [{"text": '{"main_id": "M 31", "ra_deg": 10.6847}'}]},
        }
    },
    {"contentBlockDelta": {"contentBlockIndex": 2, "delta": {"text": "M31 lies at RA 10.68 deg, "}}},
    {"contentBlockDelta": {"contentBlockIndex": 2, "delta": {"text": "Dec +41.27 deg."}}},
    {"messageStop": {"stopReason": "end_turn"}},
]


def test_ask_on_agentcore_invokes_the_harness_and_shows_the_tool_calls() -> None:
    ssm, stubber = _ssm_with(
        {"/modelsmith/dev/agent/runtime": "agentcore", "/modelsmith/dev/agent/harness-arn": HARNESS_ARN}
    )
    agentcore = FakeAgentCore(HARNESS_EVENTS)
    out = io.StringIO()
    code = agent_cli.main(
        ["ask", "--env", "dev", "What are the coordinates of M31?"],
        session=FakeSession(ssm=ssm, **{"bedrock-agentcore": agentcore}),
        out=out,
    )
    assert code == 0
    stubber.assert_no_pending_responses()
    (call,) = agentcore.calls
    assert call["harnessArn"] == HARNESS_ARN and 33 <= len(call["runtimeSessionId"]) <= 100
    assert call["messages"] == [{"role": "user", "content": [{"text": "What are the coordinates of M31?"}]}]
    text = out.getvalue()
    assert '[tool] astronomy-tools___resolveObject {"name": "M31"}' in text
    assert '[tool answer] {"main_id": "M 31"' in text
    assert text.index("[tool]") < text.index("M31 lies at RA 10.68 deg, Dec +41.27 deg.")


def test_a_session_id_agentcore_refuses_is_named() -> None:
    ssm, _ = _ssm_with({"/modelsmith/dev/agent/runtime": "agentcore", "/modelsmith/dev/agent/harness-arn": HARNESS_ARN})
    with pytest.raises(SystemExit, match=r"--session 's-1': an AgentCore session ID is 33-100"):
        agent_cli.main(["ask", "--session", "s-1", "M31?"], session=FakeSession(ssm=ssm), out=io.StringIO())


def test_harness_errors_stop_with_a_message() -> None:
    ssm, _ = _ssm_with({"/modelsmith/dev/agent/runtime": "agentcore", "/modelsmith/dev/agent/harness-arn": HARNESS_ARN})
    agentcore = FakeAgentCore([{"validationException": {"message": "model not enabled"}}])
    with pytest.raises(SystemExit, match=r"the agent failed \(validationException\): model not enabled"):
        agent_cli.main(
            ["ask", "M31?"], session=FakeSession(ssm=ssm, **{"bedrock-agentcore": agentcore}), out=io.StringIO()
        )
