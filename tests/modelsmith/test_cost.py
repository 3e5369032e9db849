"""Cost estimates: hand-computed figures for each workflow's run shapes, bad inputs, and the price table.

The expected figures are worked out by hand below from modelsmith_core/prices.json (version 1, us-west-2); a price
change that breaks them must also update the arithmetic in the comments.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import date
from pathlib import Path

import pytest

from modelsmith_core import cost
from modelsmith_core.config import load_config
from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
SCHEMAS = REPO_ROOT / "statemachines" / "schemas"
EXAMPLES = REPO_ROOT / "statemachines" / "examples"


@pytest.fixture(scope="module")
def dev():
    return load_config(CDK_CONTEXT["environments"], "dev")


@pytest.fixture(scope="module")
def prod():
    return load_config(CDK_CONTEXT["environments"], "prod")


def config_dict(**retrieval) -> dict:
    """What cost_config() makes of an environment, with retrieval settings overridden."""
    return {
        "region": "us-west-2",
        "training_instance": {"instance_type": "g6.2xlarge"},
        "retrieval_pipeline": {
            "training_instance_type": "ml.g5.xlarge",
            "endpoint_instance_type": "ml.g5.xlarge",
            "max_training_hours": 24,
            "spot_training": False,
            **retrieval,
        },
        "llm_customization": {
            "base_model_id": "meta.llama3-1-8b-instruct-v1:0:128k",
            "inference_model_id": "meta.llama3-1-8b-instruct-v1:0",
            "deployment": "on_demand",
        },
    }


def amounts(estimate: cost.CostEstimate) -> list[float]:
    return [item.amount for item in estimate.items]


# --- three run shapes (and a fourth), computed by hand ----------------------------------------------------


def test_retrieval_run_with_batch_generation(dev) -> None:
    execution_input = {
        "input_type": "s3",
        "s3_corpus_path": "s3://data/corpus.jsonl",
        "max_documents": 5000,
        "model_name": "handbook",
        "model_type": "dense",
        "base_model_id": "BAAI/bge-base-en-v1.5",
        "embedding_dimension": 768,
        "queries_per_document": 3,
        "generation_mode": "auto",
    }
    estimate = cost.estimate_retrieval_run(execution_input, dev)
    # 5,000 documents is within 100..50,000, so "auto" means batch: 0.5 x the on-demand 0.00022 $/1k = 0.00011.
    # input:  5,000 x (90 prompt + 500 document) tokens = 2,950,000 = 2,950 k x 0.00011 = 0.3245
    # output: 5,000 x 3 queries x 25 tokens = 375,000 = 375 k x 0.00011 = 0.04125
    # training on ml.g5.xlarge (1.408 $/h): 5,000 x 3 x 0.8 = 12,000 pairs / 150 per s = 80 s = 0.0222 h,
    #   + 0.25 h overhead = 0.272222 h x 1.408 = 0.383289
    # endpoint on ml.g5.xlarge: 720 h x 1.408 = 1,013.76 (recurring)
    assert amounts(estimate) == pytest.approx([0.3245, 0.04125, 0.383289, 1013.76], abs=1e-6)
    assert [item.recurring for item in estimate.items] == [False, False, False, True]
    assert estimate.run_total == pytest.approx(0.749039, abs=1e-6)  # 0.3245 + 0.04125 + 0.383289
    assert estimate.total == pytest.approx(1014.509039, abs=1e-6)
    assert "batch" in estimate.items[0].description
    assert estimate.items[2].unit == "instance-hour" and estimate.items[2].quantity == pytest.approx(0.272222, abs=1e-6)


def test_customization_run_judged_by_a_second_model() -> None:
    execution_input = {
        "custom_model_name": "astro",
        "train_s3_uri": "s3://data/train.jsonl",
        "test_suite_s3_uri": "s3://data/suite.jsonl",
        "hyperparameters": {"epoch_count": 2},
        "evaluation": {"metric": "judge"},
    }
    estimate = cost.estimate_customization_run(
        execution_input, config_dict(), assumptions={"train_tokens": 1_200_000, "test_cases": 50}
    )
    # training: 1,200,000 tokens x 2 epochs = 2,400 k x 0.00149 = 3.576
    # storage: 1 month x 1.95 = 1.95 (recurring)
    # evaluation, base and custom model (llama 3.1 8B, 0.00022 $/1k both ways):
    #   input  50 cases x 2 models x 300 tokens = 30 k x 0.00022 = 0.0066
    #   output 50 cases x 2 models x 200 tokens = 20 k x 0.00022 = 0.0044
    # judge (default llama 3.1 70B, 0.00072 $/1k): 100 answers x 700 = 70 k x 0.00072 = 0.0504,
    #   100 answers x 50 = 5 k x 0.00072 = 0.0036
    assert amounts(estimate) == pytest.approx([3.576, 1.95, 0.0066, 0.0044, 0.0504, 0.0036], abs=1e-9)
    assert estimate.run_total == pytest.approx(3.641, abs=1e-9)  # 3.576 + 0.0066 + 0.0044 + 0.0504 + 0.0036
    assert estimate.recurring_total == pytest.approx(1.95)
    assert "meta.llama3-1-70b-instruct-v1:0" in estimate.items[4].description


def test_lora_run_with_a_known_duration_and_its_upper_bound(prod) -> None:
    execution_input = {
        "config_s3_uri": "s3://data/c.yml",
        "train_s3_uri": "s3://data/t.jsonl",
        "base_model": "meta-llama/Llama-3.1-8B-Instruct",
        "timeout_hours": 10,
    }
    known = cost.estimate_lora_run(execution_input, prod, assumptions={"lora_hours": 6.5})
    # g6.2xlarge at 0.9776 $/h: (6.5 h fine-tune + 0.5 h boot and archive) = 7 h x 0.9776 = 6.8432
    assert amounts(known) == pytest.approx([6.8432])
    bound = cost.estimate_lora_run(execution_input, prod)
    # no duration given: the fine-tune may run up to timeout_hours: (10 + 0.5) h x 0.9776 = 10.2648
    assert bound.total == pytest.approx(10.2648)
    assert "up to timeout_hours 10" in bound.items[0].assumption
    longer = cost.estimate_lora_run(execution_input, prod, assumptions={"lora_hours": 30})
    assert longer.total == pytest.approx(10.2648), "the workflow stops the fine-tune at timeout_hours"


def test_small_retrieval_run_on_demand_on_cpu_with_a_serverless_endpoint() -> None:
    execution_input = {
        "max_documents": 80,
        "queries_per_document": 2,
        "generation_mode": "auto",
        "bedrock_model_id": "us.anthropic.claude-3-haiku-20240307-v1:0",
    }
    estimate = cost.estimate_retrieval_run(
        execution_input, config_dict(training_instance_type="ml.m5.xlarge", endpoint_instance_type="serverless")
    )
    # 80 documents < 100: on-demand. The "us." inference profile costs what Claude 3 Haiku costs.
    # input:  80 x 590 = 47,200 = 47.2 k x 0.00025 = 0.0118
    # output: 80 x 2 x 25 = 4,000 = 4 k x 0.00125 = 0.005
    # training on ml.m5.xlarge (CPU: 15 pairs/s, 0.23 $/h): 80 x 2 x 0.8 = 128 pairs / 15 = 8.5333 s
    #   = 0.0023704 h + 0.25 h = 0.2523704 h x 0.23 = 0.0580452
    # serverless endpoint: billed per request, not estimated (0)
    assert amounts(estimate) == pytest.approx([0.0118, 0.005, 0.0580452, 0.0], abs=1e-7)
    assert "on-demand" in estimate.items[0].description
    assert "not estimated" in estimate.items[3].assumption


def test_training_hours_are_capped_by_max_training_hours() -> None:
    estimate = cost.estimate_retrieval_run(
        {"max_documents": 1_000_000, "epochs": 50, "generation_mode": "on_demand"}, config_dict(max_training_hours=24)
    )
    training = estimate.items[2]
    # 1,000,000 x 3 x 0.8 = 2,400,000 pairs x 50 epochs / 150 per s = 222 h + 0.25 h: capped at 24 h
    assert training.quantity == 24 and training.amount == pytest.approx(24 * 1.408)
    assert "capped at max_training_hours 24" in training.assumption


def test_measurements_override_assumptions_and_the_output_is_json(dev) -> None:
    config = cost.cost_config(dev)
    assert json.loads(json.dumps(config)) == config
    output = cost.estimate_for_workflow(
        "retrieval-pipeline", {"max_documents": 5000}, config, measurements={"documents": 1000, "endpoint_hours": 24}
    )
    assert json.loads(json.dumps(output)) == output
    # 1,000 documents (measured) x 590 tokens = 590 k x 0.00011 (batch) = 0.0649
    assert output["items"][0]["amount"] == pytest.approx(0.0649)
    assert output["items"][3]["quantity"] == 24 and output["recurring_total"] == pytest.approx(33.79)  # 24 x 1.408
    assert output["price_table"] == {"version": 2, "as_of": "2025-06-01"}
    assert set(output) == {
        "workflow",
        "region",
        "currency",
        "total",
        "run_total",
        "recurring_total",
        "items",
        "notes",
        "price_table",
    }


def test_workflow_names_and_aliases(dev) -> None:
    for alias, name in (
        ("retrieval", "retrieval-pipeline"),
        ("customization", "llm-customization"),
        ("lora", "lora-training"),
    ):
        assert cost.workflow_name(alias) == cost.workflow_name(name) == name
    with pytest.raises(cost.CostError, match="workflow 'agent': one of retrieval-pipeline, llm-customization"):
        cost.estimate("agent", {}, dev)


# --- bad inputs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workflow", "execution_input", "config", "message"),
    [
        (
            "retrieval",
            {},
            config_dict(training_instance_type="ml.p5.48xlarge"),
            "SageMaker training instance type 'ml.p5.48xlarge' has no price in us-west-2",
        ),
        (
            "retrieval",
            {},
            config_dict(endpoint_instance_type="ml.r5.large"),
            "SageMaker endpoint instance type 'ml.r5.large' has no price in us-west-2",
        ),
        (
            "retrieval",
            {"bedrock_model_id": "mistral.mistral-7b-instruct-v0:2"},
            config_dict(),
            "Bedrock model 'mistral.mistral-7b-instruct-v0:2' has no price in us-west-2",
        ),
        (
            "lora",
            {},
            {**config_dict(), "training_instance": {"instance_type": "p5.48xlarge"}},
            "EC2 instance type 'p5.48xlarge' has no price in us-west-2",
        ),
        ("customization", {}, {**config_dict(), "region": "eu-west-1"}, "region 'eu-west-1': no prices"),
        ("retrieval", {}, {**config_dict(), "region": "eu-west-1"}, "region 'eu-west-1': no prices"),
        (
            "retrieval",
            {"queries_per_document": 0},
            config_dict(),
            "queries_per_document = 0: a whole number from 1 to 10",
        ),
        ("retrieval", {"max_documents": "5000"}, config_dict(), "max_documents = '5000': a whole number"),
        ("retrieval", {"epochs": 0}, config_dict(), "epochs = 0: a number from 0.1 to 50"),
        (
            "retrieval",
            {"generation_mode": "fast"},
            config_dict(),
            "generation_mode = 'fast': one of auto, batch, on_demand",
        ),
        (
            "retrieval",
            {"generation_mode": "batch", "max_documents": 50},
            config_dict(),
            "a batch job takes 100 to 50000 documents and this run has 50",
        ),
        (
            "customization",
            {"hyperparameters": {"epoch_count": 11}},
            config_dict(),
            "hyperparameters.epoch_count = 11: a whole number from 1 to 10",
        ),
        ("customization", {"hyperparameters": []}, config_dict(), "hyperparameters = []: expected an object"),
        ("customization", {"evaluation": {"metric": "bleu"}}, config_dict(), "evaluation.metric = 'bleu'"),
        ("lora", {"timeout_hours": 100}, config_dict(), "timeout_hours = 100: a whole number from 1 to 47"),
        ("lora", ["not", "an", "object"], config_dict(), "execution input: expected a JSON object, got list"),
        ("lora", {}, {"training_instance": {}}, "config: region is missing"),
        ("lora", {}, {"region": "us-west-2"}, "config: training_instance is missing"),
    ],
)
def test_bad_input_names_what_is_wrong(workflow, execution_input, config, message) -> None:
    with pytest.raises(cost.CostError) as raised:
        cost.estimate(workflow, execution_input, config)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("assumptions", "message"),
    [
        ({"documnets": 10}, "documnets: unknown assumption; known: documents,"),
        ({"documents": -1}, "documents = -1: a non-negative number"),
        ({"training_pairs_per_second": 0}, "training_pairs_per_second = 0: a non-negative number above 0"),
        ({"endpoint_hours": "a month"}, "endpoint_hours = 'a month'"),
    ],
)
def test_bad_assumptions_are_refused(assumptions, message) -> None:
    with pytest.raises(cost.CostError, match=message):
        cost.estimate_retrieval_run({}, config_dict(), assumptions=assumptions)


# --- the price table ---------------------------------------------------------------------------------------


def test_price_table_is_versioned_dated_and_complete() -> None:
    table = cost.load_prices()
    assert table.version >= 1 and table.currency == "USD"
    assert date(2024, 1, 1) <= table.as_of <= date.today()
    assert table.batch_factor == 0.5, "Bedrock batch inference costs half the on-demand price"
    raw = json.loads(cost.PRICES_PATH.read_text())
    assert raw["sources"] and raw["notes"]
    for region, sections in table.regions.items():
        assert set(sections) == set(cost.PRICE_SECTIONS), region


# Prices AWS publishes only in the tables of https://aws.amazon.com/bedrock/pricing/, which could not be read where
# this was written (the stored copies carry the page's prose, not its tables): the customization estimate counts
# the rest and names these in its notes. Fill them in modelsmith_core/prices.json and remove them here.
UNPRICED = {
    ("bedrock_customization", "meta.llama3-3-70b-instruct-v1:0"),
    ("bedrock_per_1k_tokens", "meta.llama3-3-70b-instruct-v1:0"),
}


def test_unpriced_customization_lines_are_named_in_the_notes() -> None:
    # GIVEN a base model served by Provisioned Throughput, whose hourly price the table lacks
    settings = {
        **config_dict(),
        "llm_customization": {
            "base_model_id": "meta.llama3-1-70b-instruct-v1:0:128k",
            "inference_model_id": "meta.llama3-1-70b-instruct-v1:0",
            "deployment": "provisioned_throughput",
        },
    }
    estimate = cost.estimate_customization_run({}, settings)
    # THEN training, storage and evaluation are counted, and the note names the missing entry and says how PT bills
    assert [item.description for item in estimate.items][:2] == [
        "Bedrock customization of meta.llama3-1-70b-instruct-v1:0:128k: training",
        "Custom model storage",
    ]
    notes = " ".join(estimate.notes)
    assert (
        "Not counted: Bedrock Provisioned Throughput (per model unit-hour) of model meta.llama3-1-70b-instruct-v1:0 (no entry regions.us-west-2.bedrock_provisioned_throughput_hour"
        in notes
    )
    assert "billed every hour from its creation until it is deleted" in notes
    # AND with the price in the table, the evaluation's hours and the hours a kept model bills are counted
    table = cost.load_prices()
    priced = dataclasses.replace(
        table,
        regions={
            **table.regions,
            "us-west-2": {
                **table.regions["us-west-2"],
                "bedrock_provisioned_throughput_hour": {"meta.llama3-1-70b-instruct-v1:0": 10.0},
            },
        },
    )
    with_price = cost.estimate_customization_run({}, settings, prices=priced)
    hours = [item for item in with_price.items if item.unit == "model-unit-hour"]
    assert [(item.quantity, item.amount, item.recurring) for item in hours] == [(2, 20.0, False), (720, 7200.0, True)]
    assert "Not counted" not in " ".join(with_price.notes)


def test_every_configured_instance_and_model_has_a_price() -> None:
    """What cdk.json, the config defaults, the examples and the schema defaults name is priced in each region."""
    examples = [json.loads(path.read_text()) for path in EXAMPLES.glob("*.json")]
    models = {cost.RETRIEVAL_DEFAULTS["bedrock_model_id"], cost.CUSTOMIZATION_DEFAULTS["judge_model_id"]}
    models |= {example["bedrock_model_id"] for example in examples if "bedrock_model_id" in example}
    models |= {
        example["evaluation"]["judge_model_id"]
        for example in examples
        if "judge_model_id" in example.get("evaluation", {})
    }
    table = cost.load_prices()
    for name in CDK_CONTEXT["environments"]:
        config = load_config(CDK_CONTEXT["environments"], name)
        settings = cost.cost_config(config)
        region = settings["region"]
        table.price(region, "ec2_instance_hour", config.training_instance.instance_type)
        table.price(region, "sagemaker_training_instance_hour", config.retrieval_pipeline.training_instance_type)
        if config.retrieval_pipeline.endpoint_instance_type != "serverless":
            table.price(region, "sagemaker_endpoint_instance_hour", config.retrieval_pipeline.endpoint_instance_type)
        if config.llm_customization.enabled:
            # the estimate names what it could not count (test_unpriced_customization_lines_are_named_in_the_notes)
            model = config.llm_customization.model.inference_model_id
            for section in ("bedrock_customization", "bedrock_per_1k_tokens"):
                if (section, model) not in UNPRICED:
                    table.price(region, section, model)
        for model in models:
            table.price(region, "bedrock_per_1k_tokens", model)
        for example, workflow in (
            ("retrieval_pipeline.json", "retrieval"),
            ("llm_customization.json", "customization"),
            ("lora_training.json", "lora"),
        ):
            estimate = cost.estimate(workflow, json.loads((EXAMPLES / example).read_text()), config)
            assert estimate.total > 0 or any(note.startswith("Not counted") for note in estimate.notes)


def test_a_broken_price_table_is_refused_naming_every_entry(tmp_path) -> None:
    raw = json.loads(cost.PRICES_PATH.read_text())
    raw["version"] = "1"
    raw["as_of"] = "June 2025"
    raw["bedrock_batch_price_factor"] = 2
    west = raw["regions"]["us-west-2"]
    west["ec2_instance_hour"]["g6.2xlarge"] = -1
    west["bedrock_per_1k_tokens"]["meta.llama3-1-8b-instruct-v1:0"] = {"input": 0.00022}
    del west["bedrock_customization"]
    west["lambda"] = {}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(cost.PriceTableError) as raised:
        cost.load_prices(path)
    message = str(raised.value)
    for fragment in (
        "version = '1': a whole number",
        "as_of = 'June 2025'",
        "bedrock_batch_price_factor = 2",
        "regions.us-west-2.ec2_instance_hour.g6.2xlarge = -1: a positive price per hour",
        "regions.us-west-2.bedrock_per_1k_tokens.meta.llama3-1-8b-instruct-v1:0: expected exactly input, output",
        "regions.us-west-2.bedrock_customization: missing",
        "regions.us-west-2.lambda: unknown section",
    ):
        assert fragment in message, f"{fragment!r} missing from:\n{message}"
    path.write_text("{oops")
    with pytest.raises(cost.PriceTableError, match="not valid JSON"):
        cost.load_prices(path)


# --- the pipeline rules the estimate mirrors ---------------------------------------------------------------


def test_mirrored_rules_match_the_pipeline(lambda_environment) -> None:  # noqa: F811
    load_handler("generate_queries")
    load_handler("build_pairs")
    plan, prompts, pairs = (
        sys.modules[name]
        for name in (
            "lambda_src.generate_queries.generation_plan",
            "lambda_src.generate_queries.query_prompts",
            "lambda_src.build_pairs.pair_building",
        )
    )
    assert (cost.BATCH_MINIMUM_DOCUMENTS, cost.BATCH_MAXIMUM_DOCUMENTS) == (
        plan.BATCH_INFERENCE_MINIMUM_RECORDS,
        plan.BATCH_INFERENCE_MAXIMUM_RECORDS_PER_FILE,
    )
    assert cost.MAX_DOCUMENT_TOKENS == prompts.MAX_DOCUMENT_CHARACTERS // 4
    assert cost.EVAL_FRACTION == pairs.DEFAULT_EVAL_FRACTION
    for documents, requested in ((99, "auto"), (100, "auto"), (50_000, "auto"), (50_001, "auto"), (5000, "on_demand")):
        expected = plan.plan({"run_id": "r-1", "documents": documents, "generation_mode": requested})["mode"]
        assert cost._generation_mode(requested, documents) == expected, (documents, requested)


def test_input_defaults_match_the_schemas() -> None:
    def defaults(schema: str) -> dict:
        properties = json.loads((SCHEMAS / schema).read_text())["properties"]
        return {key: spec["default"] for key, spec in properties.items() if "default" in spec}

    retrieval = defaults("retrieval_pipeline.schema.json")
    assert {key: retrieval[key] for key in cost.RETRIEVAL_DEFAULTS} == cost.RETRIEVAL_DEFAULTS
    customization = json.loads((SCHEMAS / "llm_customization.schema.json").read_text())["properties"]
    assert (
        customization["hyperparameters"]["properties"]["epoch_count"]["default"]
        == cost.CUSTOMIZATION_DEFAULTS["epoch_count"]
    )
    evaluation = customization["evaluation"]["properties"]
    assert evaluation["metric"]["default"] == cost.CUSTOMIZATION_DEFAULTS["metric"]
    assert evaluation["judge_model_id"]["default"] == cost.CUSTOMIZATION_DEFAULTS["judge_model_id"]
    assert defaults("lora_training.schema.json")["timeout_hours"] == cost.LORA_DEFAULTS["timeout_hours"]


def test_cost_module_needs_only_the_standard_library() -> None:
    """A workflow's Lambda function ships modelsmith_core/cost.py and prices.json without pydantic or the CDK."""
    source = (REPO_ROOT / "modelsmith_core" / "cost.py").read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    standard = {"__future__", "collections", "dataclasses", "json", "re", "datetime", "functools", "pathlib", "typing"}
    assert imports <= standard, imports
    assert not (REPO_ROOT / "modelsmith_core" / "__init__.py").read_text().count("import ")


def test_the_lora_hour_limit_is_the_workflows() -> None:
    from modelsmith_core import cost, limits

    assert cost.MAX_FINE_TUNE_HOURS == limits.MAX_FINE_TUNE_HOURS
