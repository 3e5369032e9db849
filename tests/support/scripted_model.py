"""A scripted Strands model: it plays planned turns instead of calling Bedrock, through the SDK's own model
interface (``strands.models.Model.stream`` events: ``messageStart``, ``contentBlockStart``/``Delta``/``Stop`` with
``toolUse``, ``messageStop`` with ``tool_use`` or ``end_turn``), so the agent loop, tool dispatch and MCP calls are
the SDK's own.

A turn is ``{"tool": name, "input": {...} | f(results)}`` or ``{"text": "..." | f(results)}``; ``results`` are the
tool results the model has been shown so far (parsed JSON), so a later turn can use an earlier answer (a
``result_id``) and the final text can quote the figures the tools returned.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from strands.models import Model


class ScriptedModel(Model):
    def __init__(self, script: list[dict[str, Any]]) -> None:
        self.script = list(script)
        self.shown: list[dict[str, Any]] = []  # every toolResult the agent handed back, in order
        self.config: dict[str, Any] = {"model_id": "scripted"}

    def update_config(self, **model_config: Any) -> None:
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        return self.config

    async def structured_output(self, output_model: Any, prompt: Any, system_prompt: Any = None, **kwargs: Any) -> Any:
        raise NotImplementedError("the scripted model has no structured output")
        yield  # an async generator, as the interface declares

    def results(self) -> list[Any]:
        """The tool results shown so far, each parsed from its JSON text."""
        parsed = []
        for result in self.shown:
            text = "".join(block.get("text", "") for block in result.get("content", []))
            try:
                parsed.append(json.loads(text))
            except ValueError:
                parsed.append(text)
        return parsed

    async def stream(
        self, messages: Any, tool_specs: Any = None, system_prompt: Any = None, **kwargs: Any
    ) -> AsyncIterator[dict]:
        seen = {json.dumps(r, sort_keys=True, default=str) for r in self.shown}
        for message in messages:
            for block in message.get("content", []):
                result = block.get("toolResult")
                if result and json.dumps(result, sort_keys=True, default=str) not in seen:
                    self.shown.append(json.loads(json.dumps(result, default=str)))
        if not self.script:
            raise AssertionError("the scripted model ran out of turns")
        turn = self.script.pop(0)
        yield {"messageStart": {"role": "assistant"}}
        if "text" in turn:
            text = turn["text"](self.results()) if callable(turn["text"]) else turn["text"]
            yield {"contentBlockStart": {"start": {}}}
            yield {"contentBlockDelta": {"delta": {"text": text}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "end_turn"}}
        else:
            arguments = turn["input"](self.results()) if callable(turn["input"]) else turn["input"]
            yield {
                "contentBlockStart": {
                    "start": {"toolUse": {"toolUseId": f"call-{len(self.shown)}", "name": turn["tool"]}}
                }
            }
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(arguments)}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
        yield {
            "metadata": {"usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}, "metrics": {"latencyMs": 0}}
        }
