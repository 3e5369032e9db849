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
    from lambda_src.validate_input import input_validation

    return input_validation


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda path: path.name)
def test_every_example_input_is_valid_for_its_workflow(example: Path, validation) -> None:
    schema = _schema(example.name.split(".")[0])
    assert validation.describe_problems(json.loads(example.read_text()), schema) == []


def test_defaults_are_filled_at_every_level(validation) -> None:
    document = {
        "config_s3_uri": "s3://bucket/a.yml",
        "train_s3_uri": "s3://bucket/t.jsonl",
        "base_model": "m",
        "publish": {"repo_id": "acme/model"},
    }
    filled = validation.validate(document, _schema("lora_training"))
    assert filled["timeout_hours"] == 24 and filled["validation_s3_uri"] == ""
    assert filled["publish"] == {"repo_id": "acme/model", "what": "adapter", "private": True}
    assert document["publish"] == {"repo_id": "acme/model"}, "the caller's input is not modified"


LORA_BAD_INPUTS = [
    (
        {},
        [
            "base_model: required field is missing",
            "config_s3_uri: required field is missing",
            "train_s3_uri: required field is missing",
        ],
    ),
    ({"config_s3_uri": "s3://bucket/config.json"}, ["config_s3_uri: 's3://bucket/config.json' does not match"]),
    ({"train_s3_uri": "s3://Bucket/t.jsonl"}, ["train_s3_uri: 's3://Bucket/t.jsonl' does not match"]),
    ({"validation_s3_uri": "s3://bucket/v.csv"}, ["validation_s3_uri: 's3://bucket/v.csv' does not match"]),
    ({"base_model": "a/b/c"}, ["base_model: 'a/b/c' does not match"]),
    ({"base_model": "x; rm -rf /"}, ["base_model: 'x; rm -rf /' does not match"]),
    ({"timeout_hours": 0}, ["timeout_hours: 0 is out of range (minimum 1)"]),
    ({"timeout_hours": "12"}, ["timeout_hours: '12' is not of type integer"]),
    ({"publish": {"repo_id": "no-owner"}}, ["publish.repo_id: 'no-owner' does not match"]),
    ({"publish": {"repo_id": "a/b", "private": "yes"}}, ["publish.private: 'yes' is not of type boolean"]),
    (
        {"publish": {"repo_id": "a/b", "token": "hf_x"}},
        ["publish.token: unknown field; allowed: private, repo_id, what"],
    ),
    ({"gpu": "H100"}, ["gpu: unknown field"]),
]


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
    good = {"config_s3_uri": "s3://bucket/a.yml", "train_s3_uri": "s3://bucket/t.jsonl", "base_model": "m"}
    assert handler({"input": good, "schema_name": "lora_training"}, FakeLambdaContext())["timeout_hours"] == 24
    with pytest.raises(Exception) as raised:
        handler({"input": {**good, "timeout_hours": 99}, "schema_name": "lora_training"}, FakeLambdaContext())
    assert type(raised.value).__name__ == "InputValidationError"
    assert "timeout_hours: 99 is out of range (maximum 47)" in str(raised.value)


PIPELINE_S3 = {
    "input_type": "s3",
    "s3_corpus_path": "s3://data-bucket/corpus.jsonl",
    "model_name": "handbook-minilm",
    "model_type": "dense",
    "base_model_id": "sentence-transformers/all-MiniLM-L6-v2",
    "embedding_dimension": 384,
}
PIPELINE_OPENSEARCH = {
    "input_type": "opensearch",
    "opensearch_endpoint": "https://search-x.us-west-2.es.amazonaws.com",
    "index_name": "docs",
    "model_name": "docs-bge",
    "model_type": "dense",
    "base_model_id": "BAAI/bge-base-en-v1.5",
    "embedding_dimension": 768,
}
_DROP = object()
ML_COMMONS = {"opensearch_endpoint": "https://search-x.us-west-2.es.amazonaws.com"}
SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:modelsmith/dev/opensearch-keys-AbCdEf"
PIPELINE_BAD_INPUTS = [
    ("no input type", PIPELINE_S3, {"input_type": _DROP}, ["input_type: required field is missing"]),
    ("unknown input type", PIPELINE_S3, {"input_type": "ftp"}, ["input_type: 'ftp' is not one of 'opensearch', 's3'"]),
    ("s3 without path", PIPELINE_S3, {"s3_corpus_path": _DROP}, ["s3_corpus_path: required field is missing"]),
    (
        "s3 path not JSONL",
        PIPELINE_S3,
        {"s3_corpus_path": "s3://data-bucket/corpus.csv"},
        ["s3_corpus_path: 's3://data-bucket/corpus.csv' does not match"],
    ),
    (
        "s3 path not s3",
        PIPELINE_S3,
        {"s3_corpus_path": "/tmp/corpus.jsonl"},
        ["s3_corpus_path: '/tmp/corpus.jsonl' does not match"],
    ),
    ("s3 with an index", PIPELINE_S3, {"index_name": "docs"}, ["index_name: not allowed when input_type is s3"]),
    (
        "opensearch without endpoint",
        PIPELINE_OPENSEARCH,
        {"opensearch_endpoint": _DROP},
        ["opensearch_endpoint: required field is missing"],
    ),
    ("opensearch without index", PIPELINE_OPENSEARCH, {"index_name": _DROP}, ["index_name: required field is missing"]),
    (
        "plain-HTTP endpoint",
        PIPELINE_OPENSEARCH,
        {"opensearch_endpoint": "http://search-x.es.amazonaws.com"},
        ["opensearch_endpoint: 'http://search-x.es.amazonaws.com' does not match"],
    ),
    (
        "opensearch with an S3 path",
        PIPELINE_OPENSEARCH,
        {"s3_corpus_path": "s3://data-bucket/c.jsonl"},
        ["s3_corpus_path: not allowed when input_type is opensearch"],
    ),
    (
        "basic auth without secret",
        PIPELINE_OPENSEARCH,
        {"opensearch_auth": "basic"},
        ["opensearch_secret_arn: required field is missing"],
    ),
    (
        "unknown auth",
        PIPELINE_OPENSEARCH,
        {"opensearch_auth": "kerberos"},
        ["opensearch_auth: 'kerberos' is not one of 'sigv4', 'basic'"],
    ),
    ("uppercase index", PIPELINE_OPENSEARCH, {"index_name": "Docs"}, ["index_name: 'Docs' does not match"]),
    (
        "bad text field path",
        PIPELINE_OPENSEARCH,
        {"text_field": "body..text"},
        ["text_field: 'body..text' does not match"],
    ),
    ("no model name", PIPELINE_S3, {"model_name": _DROP}, ["model_name: required field is missing"]),
    ("model name with spaces", PIPELINE_S3, {"model_name": "My Model"}, ["model_name: 'My Model' does not match"]),
    (
        "sparse model",
        PIPELINE_S3,
        {"model_type": "sparse"},
        [
            "model_type: 'sparse' is not one of 'dense' (dense (sentence-transformers bi-encoder). Sparse models are not supported yet.)"
        ],
    ),
    (
        "base model without owner",
        PIPELINE_S3,
        {"base_model_id": "bge-base"},
        ["base_model_id: 'bge-base' does not match"],
    ),
    (
        "dimension of a known model",
        PIPELINE_S3,
        {"embedding_dimension": 768},
        [
            "embedding_dimension: 768: sentence-transformers/all-MiniLM-L6-v2 produces 384-dimensional embeddings; set 384"
        ],
    ),
    (
        "dimension as string",
        PIPELINE_S3,
        {"embedding_dimension": "384"},
        [
            "embedding_dimension: '384' is not of type integer",
            "embedding_dimension: '384': sentence-transformers/all-MiniLM-L6-v2 produces 384",
        ],
    ),
    ("too few documents", PIPELINE_S3, {"max_documents": 5}, ["max_documents: 5 is out of range (minimum 10)"]),
    (
        "too many queries",
        PIPELINE_S3,
        {"queries_per_document": 25},
        ["queries_per_document: 25 is out of range (maximum 10)"],
    ),
    (
        "unknown generation mode",
        PIPELINE_S3,
        {"generation_mode": "fast"},
        ["generation_mode: 'fast' is not one of 'on_demand', 'batch', 'auto'"],
    ),
    (
        "prompt without placeholders",
        PIPELINE_S3,
        {"prompt_template": "Write three questions about this text, please."},
        ["prompt_template: 'Write three questions about this text, please.' does not match"],
    ),
    (
        "bad Bedrock model ID",
        PIPELINE_S3,
        {"bedrock_model_id": "Claude 3"},
        ["bedrock_model_id: 'Claude 3' does not match"],
    ),
    ("typo in a field name", PIPELINE_S3, {"max_document": 100}, ["max_document: unknown field"]),
    ("negative seed", PIPELINE_S3, {"sample_seed": -1}, ["sample_seed: -1 is out of range (minimum 0)"]),
    # ML Commons: OpenSearch Service checks iam:PassRole for the IAM identity that signs the connector request
    # (ml-amazon-connector.html); open-source ML Commons signs only with access keys (AwsConnector.validate).
    (
        "ML Commons on OpenSearch Service with basic auth",
        PIPELINE_S3,
        {
            "register_targets": ["opensearch"],
            "ml_commons": {**ML_COMMONS, "opensearch_auth": "basic", "opensearch_secret_arn": SECRET},
        },
        ["ml_commons.opensearch_auth: 'basic': Amazon OpenSearch Service checks iam:PassRole on the connector role"],
    ),
    (
        "self-managed ML Commons without keys",
        PIPELINE_S3,
        {
            "register_targets": ["opensearch"],
            "ml_commons": {
                **ML_COMMONS,
                "cluster": "self_managed",
                "opensearch_auth": "basic",
                "opensearch_secret_arn": SECRET,
            },
        },
        ["ml_commons.connector_credentials_secret_arn: required field is missing"],
    ),
    (
        "self-managed ML Commons with sigv4",
        PIPELINE_S3,
        {
            "register_targets": ["opensearch"],
            "ml_commons": {
                **ML_COMMONS,
                "cluster": "self_managed",
                "opensearch_auth": "sigv4",
                "opensearch_secret_arn": SECRET,
                "connector_credentials_secret_arn": SECRET,
            },
        },
        ["ml_commons.opensearch_auth: 'sigv4': a self_managed cluster is reached with basic auth"],
    ),
    (
        "connector keys on OpenSearch Service",
        PIPELINE_S3,
        {"register_targets": ["opensearch"], "ml_commons": {**ML_COMMONS, "connector_credentials_secret_arn": SECRET}},
        ["ml_commons.connector_credentials_secret_arn: only for cluster: self_managed"],
    ),
    (
        "unknown cluster",
        PIPELINE_S3,
        {"register_targets": ["opensearch"], "ml_commons": {**ML_COMMONS, "cluster": "on-premises"}},
        ["ml_commons.cluster: 'on-premises' is not one of 'amazon_opensearch_service', 'self_managed'"],
    ),
]


@pytest.mark.parametrize(
    ("name", "base", "changes", "expected"), PIPELINE_BAD_INPUTS, ids=[c[0] for c in PIPELINE_BAD_INPUTS]
)
def test_bad_pipeline_inputs_name_each_field(name, base, changes, expected, validation) -> None:
    document = {key: value for key, value in {**base, **changes}.items() if value is not _DROP}
    problems = validation.describe_problems(document, _schema("retrieval_pipeline"))
    for fragment in expected:
        assert any(fragment in problem for problem in problems), (fragment, problems)
    assert len(problems) == len(expected), problems


def test_several_bad_pipeline_fields_are_reported_together(validation) -> None:
    document = {**PIPELINE_S3, "model_type": "sparse", "embedding_dimension": 1, "queries_per_document": 0, "extra": 1}
    problems = validation.describe_problems(document, _schema("retrieval_pipeline"))
    assert {p.split(":")[0] for p in problems} == {"embedding_dimension", "extra", "model_type", "queries_per_document"}


def test_pipeline_schema_knows_every_catalogue_model() -> None:
    from modelsmith_core import catalogue

    rules = {
        rule["if"]["properties"]["base_model_id"]["const"]: rule["then"]["properties"]["embedding_dimension"]["const"]
        for rule in _schema("retrieval_pipeline")["allOf"]
        if "base_model_id" in rule["if"]["properties"]
    }
    assert rules == dict(catalogue.EMBEDDING_DIMENSIONS)


@pytest.mark.parametrize("name", ["../etc/passwd", "Lora", "", None, "missing_workflow"])
def test_unknown_or_unsafe_schema_names_are_refused(name, validation) -> None:
    with pytest.raises(ValueError, match="schema_name = "):
        validation.load_schema(name)


NAMES = [("astro-assistant", True), ("astro_assistant-2", True), ("a" * 63, True), ("astro--assistant", False)]
NAMES += [("astro_-assistant", False), ("-astro", False), ("a" * 64, False)]


@pytest.mark.parametrize(("name", "accepted"), NAMES)
def test_custom_model_names_follow_bedrocks_pattern(name, accepted, validation) -> None:
    # botocore bedrock CustomModelName: 1-63 characters, ([0-9a-zA-Z][_-]?){1,63}: no doubled or leading separator
    uris = {"train_s3_uri": "s3://data-bucket/t.jsonl", "test_suite_s3_uri": "s3://data-bucket/s.jsonl"}
    document = {"custom_model_name": name, **uris}
    problems = validation.describe_problems(document, _schema("llm_customization"))
    assert (problems == []) == accepted, problems
