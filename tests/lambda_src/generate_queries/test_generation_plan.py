"""The plan action: batch from Bedrock's batch minimum up, on-demand shards below it or when asked."""

from __future__ import annotations

import pytest

from tests.support.lambdas import FakeLambdaContext

RUN_ID = "run-2024-01-01"


def plan_event(documents: int, mode: str = "auto", **extra) -> dict:
    return {"action": "plan", "run_id": RUN_ID, "documents": documents, "generation_mode": mode, **extra}


def test_auto_uses_batch_from_the_bedrock_batch_minimum_up(generator) -> None:
    minimum = generator.plan.BATCH_INFERENCE_MINIMUM_RECORDS
    assert minimum == 100
    assert generator.plan.plan(plan_event(minimum)) == {"mode": "batch", "shards": []}
    assert generator.plan.plan(plan_event(minimum - 1))["mode"] == "on_demand"


def test_handler_plans_on_demand_shards_that_cover_every_document(generator) -> None:
    # GIVEN 99 documents in auto mode and shards of 40
    # WHEN the handler plans
    result = generator.handler(plan_event(99, shard_size=40), FakeLambdaContext())

    # THEN on-demand shards cover [0, 99) without gaps or overlaps
    assert result == {
        "mode": "on_demand",
        "shards": [{"start": 0, "end": 40}, {"start": 40, "end": 80}, {"start": 80, "end": 99}],
    }


def test_default_shard_size_is_200_and_on_demand_can_be_forced(generator) -> None:
    result = generator.plan.plan(plan_event(450, "on_demand"))
    assert result == {
        "mode": "on_demand",
        "shards": [{"start": 0, "end": 200}, {"start": 200, "end": 400}, {"start": 400, "end": 450}],
    }


def test_auto_above_the_per_file_maximum_falls_back_to_on_demand(generator) -> None:
    documents = generator.plan.BATCH_INFERENCE_MAXIMUM_RECORDS_PER_FILE + 1
    assert generator.plan.plan(plan_event(documents))["mode"] == "on_demand"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        pytest.param(
            plan_event(99, "batch"), "generation_mode: 'batch' needs at least 100 documents", id="batch-below-minimum"
        ),
        pytest.param(plan_event(500, "fast"), "generation_mode: 'fast' is not one of", id="unknown-mode"),
        pytest.param(plan_event(0), "documents: 0 is out of range", id="no-documents"),
        pytest.param(plan_event(10, shard_size=0), "shard_size: 0 is out of range", id="shard-size"),
        pytest.param({"action": "plan", "run_id": "a/b", "documents": 5}, "run_id: 'a/b' does not match", id="run-id"),
    ],
)
def test_bad_plan_fields_are_named(generator, event: dict, message: str) -> None:
    with pytest.raises(generator.storage.InvalidEventError, match=message.replace("(", r"\(")):
        generator.plan.plan(event)


def test_handler_rejects_an_unknown_action(generator) -> None:
    with pytest.raises(
        Exception, match="action: 'translate' is not one of plan, generate, prepare_batch, collect_batch"
    ):
        generator.handler({"action": "translate"}, FakeLambdaContext())
