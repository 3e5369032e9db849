"""The prepare_customization_data function: S3 in and out, the problems file and its error, event checks."""

from __future__ import annotations

import json

import pytest

from tests.support.lambdas import FakeLambdaContext

RUN_ID = "custom-2024-06-01"


def chat(n: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Question {n}?"},
            {"role": "assistant", "content": f"Answer {n}."},
        ]
    }


def event(uri: str, **settings) -> dict:
    return {"run_id": RUN_ID, "input": {"train_s3_uri": uri, "target_format": "conversation", **settings}}


def test_handler_writes_train_validation_and_metadata(preparer, artifacts) -> None:
    # GIVEN twenty good chats in the source bucket
    uri = artifacts.put_jsonl(f"s3://{artifacts.source_bucket}/data/chats.jsonl", [chat(n) for n in range(20)])

    # WHEN the handler prepares them with a 20 % validation share
    result = preparer.handler(event(uri, validation_fraction=0.2, min_records=10), FakeLambdaContext())

    # THEN it returns the URIs and counts, and the files hold the converted records
    assert result == {
        "train_uri": artifacts.run_uri(RUN_ID, "data/train.jsonl"),
        "validation_uri": artifacts.run_uri(RUN_ID, "data/validation.jsonl"),
        "metadata_uri": artifacts.run_uri(RUN_ID, "data/metadata.json"),
        "train_records": 16,
        "validation_records": 4,
        "format": "conversation",
        "job_hyperparameters": {},
    }
    train, validation = artifacts.read_jsonl(result["train_uri"]), artifacts.read_jsonl(result["validation_uri"])
    assert len(train) == 16 and len(validation) == 4
    assert all(record["schemaVersion"] == "bedrock-conversation-2024" for record in train + validation)
    metadata = json.loads(artifacts.read_bytes(result["metadata_uri"]))
    assert (
        metadata["records"] == 20 and metadata["source"] == uri and metadata["token_estimate"].startswith("chars/3.5")
    )
    assert artifacts.keys(f"runs/{RUN_ID}/") == [
        f"runs/{RUN_ID}/data/{name}" for name in ("metadata.json", "train.jsonl", "validation.jsonl")
    ]


def test_bad_records_write_the_problems_file_and_raise(preparer, artifacts) -> None:
    # GIVEN a file with seven bad lines among good ones
    lines = [json.dumps(chat(0)).encode()] + [b"{not json"] * 6 + [b'{"messages": [{"role": "user", "content": "q"}]}']
    uri = artifacts.put_bytes(f"s3://{artifacts.source_bucket}/data/bad.jsonl", b"\n".join(lines) + b"\n")

    # WHEN the handler runs
    with pytest.raises(Exception) as raised:
        preparer.handler(event(uri), FakeLambdaContext())

    # THEN CustomizationDataError counts the problems, shows five and names the problems file
    problems_uri = artifacts.run_uri(RUN_ID, "data/problems.jsonl")
    assert type(raised.value).__name__ == "CustomizationDataError"
    message = str(raised.value)
    assert message.startswith(f"7 problems in {uri}, nothing written: {uri}:2: (line): not valid JSON")
    assert message.count("(line): not valid JSON") == 5 and "... and 2 more" in message
    assert message.endswith(f"all listed in {problems_uri}")
    # AND every problem is in the problems file, and no training data was written
    problems = artifacts.read_jsonl(problems_uri)
    assert len(problems) == 7 and problems[-1] == {
        "file": uri,
        "line": 8,
        "field": "messages",
        "reason": "the last message must be from the assistant, got 'user'",
    }
    assert artifacts.keys(f"runs/{RUN_ID}/") == [f"runs/{RUN_ID}/data/problems.jsonl"]


def test_too_few_records_is_a_problem_too(preparer, artifacts) -> None:
    uri = artifacts.put_jsonl(f"s3://{artifacts.source_bucket}/data/few.jsonl", [chat(1), chat(2)])
    with pytest.raises(
        preparer.data.CustomizationDataError, match=r"1 problem in .*:0: \(file\): 2 records; at least 8 needed"
    ):
        preparer.preparation.prepare_customization_data(event(uri, min_records=8))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"target_format": "chat"}, "input.target_format: 'chat' is not one of prompt_completion, conversation"),
        ({"validation_fraction": 0}, "input.validation_fraction: 0 must be a number"),
        ({"seed": "42"}, "input.seed: '42' is not an integer"),
        ({"max_records": 0}, "input.max_records: 0 must be a positive integer"),
        ({"min_records": 9, "max_records": 3}, "input: min_records (9) is more than max_records (3)"),
        ({"train_s3_uri": "data.jsonl"}, "input.train_s3_uri: 'data.jsonl' is not an S3 URI"),
    ],
)
def test_a_bad_event_names_the_field(preparer, artifacts, settings, message) -> None:
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        preparer.handler(
            event(f"s3://{artifacts.source_bucket}/x.jsonl")
            | {"input": event(f"s3://{artifacts.source_bucket}/x.jsonl")["input"] | settings},
            FakeLambdaContext(),
        )
    assert type(raised.value).__name__ == "InvalidEventError"


def test_a_missing_source_object_is_named(preparer, artifacts) -> None:
    with pytest.raises(Exception, match="input.train_s3_uri: s3://.*/missing.jsonl does not exist"):
        preparer.handler(event(f"s3://{artifacts.source_bucket}/missing.jsonl"), FakeLambdaContext())


def test_job_hyperparameters_are_plain_decimal_strings(preparer, artifacts) -> None:
    # botocore: ModelCustomizationHyperParameters is a map of string to string; AWS's examples write decimals
    # ("learningRate": "0.00005"), never exponents, which is what the workflow used to get from States.Format.
    uri = artifacts.put_jsonl(f"s3://{artifacts.source_bucket}/data/chats.jsonl", [chat(n) for n in range(20)])
    hyperparameters = {"epoch_count": 5, "batch_size": 1, "learning_rate": 5e-06}
    result = preparer.handler(event(uri, min_records=10, hyperparameters=hyperparameters), FakeLambdaContext())
    assert result["job_hyperparameters"] == {"epochCount": "5", "batchSize": "1", "learningRate": "0.000005"}


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"learning_rate": "fast"}, "input.hyperparameters.learning_rate: 'fast' must be a positive number"),
        ({"warmup_steps": 5}, "input.hyperparameters.warmup_steps: unknown"),
        ([], "input.hyperparameters: expected an object"),
    ],
)
def test_bad_hyperparameters_are_named_and_nothing_is_written(preparer, artifacts, hyperparameters, message) -> None:
    uri = artifacts.put_jsonl(f"s3://{artifacts.source_bucket}/data/chats.jsonl", [chat(n) for n in range(20)])
    with pytest.raises(Exception, match=message.replace("(", r"\(")) as raised:
        preparer.handler(event(uri, min_records=10, hyperparameters=hyperparameters), FakeLambdaContext())
    assert type(raised.value).__name__ == "InvalidEventError"
    assert artifacts.keys(f"runs/{RUN_ID}/") == []


def test_validation_records_are_capped(preparer, artifacts) -> None:
    # AWS's Llama dataset validator: "validation datasets must contain less than or equal to 1k rows"
    uri = artifacts.put_jsonl(f"s3://{artifacts.source_bucket}/data/chats.jsonl", [chat(n) for n in range(2_400)])
    result = preparer.handler(event(uri, validation_fraction=0.5, max_validation_records=1_000), FakeLambdaContext())
    assert (result["train_records"], result["validation_records"]) == (1_400, 1_000)
