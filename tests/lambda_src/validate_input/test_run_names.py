"""Run names in Bedrock: every run ID Step Functions accepts becomes a name and token Bedrock accepts (checked against
botocore's bedrock model), distinct runs never share one, and a short plain run ID stays readable."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambda_src.shared import run_names
from tests.support import api_shapes
from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401

RUN_IDS = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=80)


@given(RUN_IDS)
def test_every_run_id_gives_names_bedrock_accepts(run_id: str) -> None:
    names = run_names.run_names(run_id)
    for service, operation, parameters in [
        (
            "bedrock",
            "CreateModelInvocationJob",
            {"jobName": names["bedrock"], "clientRequestToken": names["request_token"]},
        ),
        (
            "bedrock",
            "CreateModelCustomizationJob",
            {"jobName": names["bedrock"], "clientRequestToken": names["request_token"]},
        ),
        ("bedrock", "CreateCustomModelDeployment", {"modelDeploymentName": names["bedrock"]}),
    ]:
        problems = [p for p in api_shapes.validate(service, operation, parameters) if "required by" not in p]
        assert problems == [], (run_id, problems)


@given(RUN_IDS, RUN_IDS)
def test_distinct_runs_never_share_a_name(first: str, second: str) -> None:
    if first != second:
        assert run_names.bedrock_name(first) != run_names.bedrock_name(second)
        assert run_names.request_token(first) != run_names.request_token(second)


@pytest.mark.parametrize(
    ("run_id", "name"),
    [
        ("med-extract-2026-11-23", "modelsmith-med-extract-2026-11-23"),
        ("med_extract_2026", "modelsmith-med-extract-2026-"),
        ("a" * 80, "modelsmith-" + "a" * 43 + "-"),
    ],
)
def test_names_stay_readable(run_id: str, name: str) -> None:
    assert run_names.bedrock_name(run_id).startswith(name)
    assert len(run_names.bedrock_name(run_id)) <= 63


def test_the_validation_state_returns_the_names(lambda_environment) -> None:  # noqa: F811
    from tests.support.lambdas import FakeLambdaContext

    handler = load_handler("validate_input")
    result = handler(
        {
            "input": {
                "config_s3_uri": "s3://data-bucket/c.yml",
                "train_s3_uri": "s3://data-bucket/t.jsonl",
                "base_model": "meta-llama/Llama-3.1-8B",
            },
            "schema_name": "lora_training",
            "run_id": "run_1",
        },
        FakeLambdaContext(),
    )
    assert result["run_names"] == run_names.run_names("run_1")
