"""The input validator: every bad field named at once; defaults filled; the handler raises for the workflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.lambdas import FakeLambdaContext, lambda_environment, load_handler  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = REPO_ROOT / "statemachines" / "schemas"
EXAMPLES = REPO_ROOT / "statemachines" / "examples"


@pytest.fixture
def handler(lambda_environment):  # noqa: F811
    return load_handler("validate_input")


@pytest.fixture
def validation():
    load_handler("validate_input")  # puts input_validation on the import path like the Lambda runtime
    import input_validation

    return input_validation


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda path: path.name)
def test_every_example_input_is_valid_for_its_workflow(example: Path, validation) -> None:
    schema = _schema(example.name.split(".")[0])
    assert validation.describe_problems(json.loads(example.read_text()), schema) == []


def test_defaults_are_filled_at_every_level(validation) -> None:
    document = {"config_s3_uri": "s3://bucket/a.yml", "train_s3_uri": "s3://bucket/t.jsonl", "base_model": "m",
                "publish": {"repo_id": "acme/model"}}  # fmt: skip
    filled = validation.validate(document, _schema("lora_training"))
    assert filled["timeout_hours"] == 24 and filled["validation_s3_uri"] == ""
    assert filled["publish"] == {"repo_id": "acme/model", "what": "adapter", "private": True}
    assert document["publish"] == {"repo_id": "acme/model"}, "the caller's input is not modified"


LORA_BAD_INPUTS = [
    ({}, ["base_model: required field is missing", "config_s3_uri: required field is missing",
          "train_s3_uri: required field is missing"]),
    ({"config_s3_uri": "s3://bucket/config.json"}, ["config_s3_uri: 's3://bucket/config.json' does not match"]),
    ({"train_s3_uri": "s3://Bucket/t.jsonl"}, ["train_s3_uri: 's3://Bucket/t.jsonl' does not match"]),
    ({"validation_s3_uri": "s3://bucket/v.csv"}, ["validation_s3_uri: 's3://bucket/v.csv' does not match"]),
    ({"base_model": "a/b/c"}, ["base_model: 'a/b/c' does not match"]),
    ({"base_model": "x; rm -rf /"}, ["base_model: 'x; rm -rf /' does not match"]),
    ({"timeout_hours": 0}, ["timeout_hours: 0 is out of range (minimum 1)"]),
    ({"timeout_hours": "12"}, ["timeout_hours: '12' is not of type integer"]),
    ({"publish": {"repo_id": "no-owner"}}, ["publish.repo_id: 'no-owner' does not match"]),
    ({"publish": {"repo_id": "a/b", "private": "yes"}}, ["publish.private: 'yes' is not of type boolean"]),
    ({"publish": {"repo_id": "a/b", "token": "hf_x"}}, ["publish.token: unknown field; allowed: private, repo_id, what"]),
    ({"gpu": "H100"}, ["gpu: unknown field"]),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "expected"), LORA_BAD_INPUTS)
def test_bad_lora_inputs_name_each_field(overrides: dict, expected: list[str], validation) -> None:
    base = {"config_s3_uri": "s3://bucket/a.yml", "train_s3_uri": "s3://bucket/t.jsonl", "base_model": "m"}
    document = {**base, **overrides} if overrides else {}
    problems = validation.describe_problems(document, _schema("lora_training"))
    for fragment in expected:
        assert any(fragment in problem for problem in problems), (fragment, problems)
    assert len(problems) == len(expected), problems


def test_input_that_is_not_an_object(validation) -> None:
    assert validation.describe_problems(["a"], _schema("lora_training")) == ["(input): ['a'] is not of type object"]


def test_handler_returns_filled_input_or_raises(handler) -> None:
    schema = _schema("lora_training")
    good = {"config_s3_uri": "s3://bucket/a.yml", "train_s3_uri": "s3://bucket/t.jsonl", "base_model": "m"}
    assert handler({"input": good, "schema": schema}, FakeLambdaContext())["timeout_hours"] == 24
    with pytest.raises(Exception) as raised:
        handler({"input": {**good, "timeout_hours": 99}, "schema": schema}, FakeLambdaContext())
    assert type(raised.value).__name__ == "InputValidationError"
    assert "timeout_hours: 99 is out of range (maximum 72)" in str(raised.value)
