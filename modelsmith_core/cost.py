"""What a workflow run costs, estimated from its execution input, the environment's config and one price table.

    from modelsmith_core.cost import estimate_retrieval_run, cost_config
    estimate = estimate_retrieval_run(execution_input, config)          # config: an EnvironmentConfig
    print(estimate.total, [item.description for item in estimate.items])

    # inside a workflow's Lambda function (no pydantic needed): the config as the dict cost_config() made
    estimate_for_workflow("retrieval-pipeline", event["input"], json.loads(os.environ["COST_CONFIG"]),
                          measurements={"documents": 4210})

Prices come from ``modelsmith_core/prices.json`` (versioned, dated, USD, per region); :func:`load_prices` checks it.
Each estimate is a list of line items (quantity, unit, unit price, amount, the assumption behind the quantity),
split into what the run costs once and what keeps billing after it (an endpoint, a stored custom model).

What is counted, per workflow (``retrieval-pipeline``, ``llm-customization``, ``lora-training``):

- retrieval: Bedrock tokens to write the queries, on-demand or batch (batch costs ``bedrock_batch_price_factor``
  of on-demand; the mode follows the pipeline's own rule for ``auto``), SageMaker training instance hours,
  endpoint instance hours (recurring; a serverless endpoint bills per request and is not estimated);
- customization: Bedrock customization training tokens (data tokens x epochs), custom model storage
  (recurring), the evaluation's invocations of base, custom and judge models;
- LoRA: GPU instance hours (the fine-tune up to ``timeout_hours``, plus start-up and archiving).

Quantities the input does not fix (document length, training throughput, data size, ...) are
:class:`Assumptions` with stated defaults; a caller that knows better (a Lambda after the corpus is extracted,
``--assume`` on the command line) passes them as ``measurements``/``assumptions``. Lambda, Step Functions,
S3 and CloudWatch cost cents per run and are left out. This module uses the standard library only, so a
Lambda function can ship it with ``prices.json`` beside it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

PRICES_PATH = Path(__file__).with_name("prices.json")
WORKFLOWS = ("retrieval-pipeline", "llm-customization", "lora-training")
WORKFLOW_ALIASES = {"retrieval": "retrieval-pipeline", "customization": "llm-customization", "lora": "lora-training"}
PRICE_SECTIONS = (
    "ec2_instance_hour",
    "sagemaker_training_instance_hour",
    "sagemaker_endpoint_instance_hour",
    "bedrock_per_1k_tokens",
    "bedrock_customization",
    "bedrock_provisioned_throughput_hour",
)

# The pipeline's own rules, mirrored here (tests compare them with lambda_src):
# generate_queries/generation_plan.py: "auto" uses batch inference for 100..50,000 documents.
BATCH_MINIMUM_DOCUMENTS, BATCH_MAXIMUM_DOCUMENTS = 100, 50_000
# modelsmith_core/limits.py MAX_FINE_TUNE_HOURS (this module ships alone in a Lambda function; a test keeps them equal).
MAX_FINE_TUNE_HOURS = 47
# generate_queries/query_prompts.py cuts documents at 6,000 characters (~4 characters a token).
MAX_DOCUMENT_TOKENS = 6000 // 4
# build_pairs/pair_building.py holds out a fifth of the documents' queries for evaluation.
EVAL_FRACTION = 0.2
# Execution input defaults (statemachines/schemas/*.schema.json).
RETRIEVAL_DEFAULTS: dict[str, Any] = {
    "max_documents": 5000,
    "queries_per_document": 3,
    "generation_mode": "auto",
    "epochs": 1,
    "bedrock_model_id": "meta.llama3-1-8b-instruct-v1:0",
}
CUSTOMIZATION_DEFAULTS: dict[str, Any] = {
    "epoch_count": 5,
    "metric": "exact_match",
    "judge_model_id": "meta.llama3-1-70b-instruct-v1:0",
}
LORA_DEFAULTS: dict[str, Any] = {"timeout_hours": 24}
_PRICED_THINGS = {
    "ec2_instance_hour": "EC2 instance type",
    "sagemaker_training_instance_hour": "SageMaker training instance type",
    "sagemaker_endpoint_instance_hour": "SageMaker endpoint instance type",
    "bedrock_per_1k_tokens": "Bedrock model",
    "bedrock_customization": "Bedrock customization of model",
    "bedrock_provisioned_throughput_hour": "Bedrock Provisioned Throughput (per model unit-hour) of model",
}
# catalogue.ON_DEMAND / PROVISIONED_THROUGHPUT and PROVISIONED_MODEL_UNITS (mirrored: this module ships alone).
ON_DEMAND, PROVISIONED_THROUGHPUT, PROVISIONED_MODEL_UNITS = "on_demand", "provisioned_throughput", 1
_GPU_FAMILIES = re.compile(r"^ml\.(g4dn|g5|g6|g6e|p3|p4d|p4de|p5)\.")
_INFERENCE_PROFILE = re.compile(r"^(us|eu|apac|us-gov)\.(?=[a-z]+\.)")


class CostError(ValueError):
    """An estimate that cannot be made; the message names the field, instance type, model or price entry."""


class PriceTableError(CostError):
    """``prices.json`` is malformed; the message names the entry."""


# --- prices ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceTable:
    """The checked contents of a price table; look prices up with :meth:`price`."""

    version: int
    as_of: date
    currency: str
    batch_factor: float
    regions: Mapping[str, Mapping[str, Mapping[str, Any]]]
    source: str = str(PRICES_PATH)

    def price(self, region: str, section: str, key: str) -> Any:
        """The entry ``key`` of ``section`` in ``region``; a :class:`CostError` names what is missing and where."""
        if region not in self.regions:
            priced = ", ".join(sorted(self.regions))
            raise CostError(f"region {region!r}: no prices in {self.source}; priced regions: {priced}")
        entries = self.regions[region][section]
        if key not in entries:
            known = ", ".join(sorted(entries)) or "none"
            raise CostError(
                f"{_PRICED_THINGS[section]} {key!r} has no price in {region} ({self.source}, {section}); "
                f"priced: {known}"
            )
        return entries[key]


def load_prices(path: Path | str = PRICES_PATH) -> PriceTable:
    """Read and check a price table; every problem is reported at once, each naming its entry."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PriceTableError(f"{path}: no such price table") from None
    except json.JSONDecodeError as error:
        raise PriceTableError(f"{path}: not valid JSON ({error})") from None
    return parse_prices(raw, source=str(path))


def parse_prices(raw: Any, *, source: str = "price table") -> PriceTable:
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise PriceTableError(f"{source}: expected a JSON object")
    version: Any = raw.get("version")
    if not (isinstance(version, int) and not isinstance(version, bool) and version >= 1):
        problems.append(f"version = {version!r}: a whole number >= 1, raised with every change")
    as_of: date | None = None
    try:
        as_of = date.fromisoformat(str(raw.get("as_of")))
    except ValueError:
        problems.append(f"as_of = {raw.get('as_of')!r}: the date the prices were read, YYYY-MM-DD")
    if raw.get("currency") != "USD":
        problems.append(f"currency = {raw.get('currency')!r}: only USD")
    factor: Any = raw.get("bedrock_batch_price_factor")
    if not (_is_number(factor) and 0 < factor <= 1):
        problems.append(f"bedrock_batch_price_factor = {factor!r}: a number in (0, 1], e.g. 0.5")
    regions = raw.get("regions")
    if not isinstance(regions, Mapping) or not regions:
        problems.append("regions: missing or empty")
        regions = {}
    for region, sections in regions.items():
        if not isinstance(sections, Mapping):
            problems.append(f"regions.{region}: expected an object")
            continue
        for section in PRICE_SECTIONS:
            entries = sections.get(section)
            where = f"regions.{region}.{section}"
            if not isinstance(entries, Mapping):
                problems.append(f"{where}: missing (an object; empty if nothing is offered there)")
                continue
            for key, value in entries.items():
                problems.extend(_entry_problems(section, f"{where}.{key}", value))
        for extra in sorted(set(sections) - set(PRICE_SECTIONS)):
            problems.append(f"regions.{region}.{extra}: unknown section; known: {', '.join(PRICE_SECTIONS)}")
    if problems:
        raise PriceTableError(f"{source}:\n" + "\n".join(f"  - {problem}" for problem in problems))
    assert as_of is not None  # a bad date is a problem above, and problems raise
    return PriceTable(
        version=version,
        as_of=as_of,
        currency="USD",
        batch_factor=float(factor),
        regions=regions,
        source=source,
    )


def _entry_problems(section: str, where: str, value: Any) -> list[str]:
    fields = {
        "bedrock_per_1k_tokens": ("input", "output"),
        "bedrock_customization": ("training_per_1k_tokens", "storage_per_month"),
    }.get(section)
    if fields is None:
        return [] if _is_number(value) and value > 0 else [f"{where} = {value!r}: a positive price per hour"]
    if not isinstance(value, Mapping) or set(value) != set(fields):
        return [f"{where}: expected exactly {', '.join(fields)}"]
    return [
        f"{where}.{name} = {value[name]!r}: a positive price"
        for name in fields
        if not (_is_number(value[name]) and value[name] > 0)
    ]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@lru_cache(maxsize=1)
def _default_prices() -> PriceTable:
    return load_prices()


# --- estimates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assumptions:
    """What an estimate assumes where the input fixes nothing; override any of them by name.

    ``documents``: documents the corpus yields (default: the input's ``max_documents``).
    ``document_tokens`` (500; at most 1,500 are sent), ``prompt_tokens`` (90: the prompt around a document) and
    ``query_tokens`` (25 per generated query). ``training_pairs_per_second`` on a GPU (150; 15 on CPU instances)
    and ``training_overhead_hours`` (0.25: provisioning, image download, evaluation before and after).
    ``endpoint_hours`` (720: 30 days deployed). ``lora_hours`` (the fine-tune itself; default the input's
    ``timeout_hours``, the most it can run) and ``lora_overhead_hours`` (0.5: boot, health checks, archiving).
    ``train_tokens`` (500,000 = 1,000 records of 500 tokens), ``test_cases`` (100) with ``test_prompt_tokens``
    (300) and ``test_output_tokens`` (200), ``judge_prompt_tokens`` (700) and ``judge_output_tokens`` (50),
    ``storage_months`` (1), ``provisioned_hours`` (2: a customization run's Provisioned Throughput from its
    creation to its deletion after the evaluation).
    """

    documents: float | None = None
    document_tokens: float = 500
    prompt_tokens: float = 90
    query_tokens: float = 25
    training_pairs_per_second: float = 150
    cpu_training_pairs_per_second: float = 15
    training_overhead_hours: float = 0.25
    endpoint_hours: float = 720
    lora_hours: float | None = None
    lora_overhead_hours: float = 0.5
    train_tokens: float = 500_000
    test_cases: float = 100
    test_prompt_tokens: float = 300
    test_output_tokens: float = 200
    judge_prompt_tokens: float = 700
    judge_output_tokens: float = 50
    storage_months: float = 1
    provisioned_hours: float = 2

    @classmethod
    def of(cls, overrides: Mapping[str, Any] | Assumptions | None) -> Assumptions:
        if overrides is None:
            return cls()
        if isinstance(overrides, Assumptions):
            return overrides
        known = [f.name for f in dataclasses.fields(cls)]
        problems = []
        for name, value in overrides.items():
            if name not in known:
                problems.append(f"{name}: unknown assumption; known: {', '.join(known)}")
            elif not (_is_number(value) and value >= 0) or (value == 0 and name.endswith("per_second")):
                problems.append(
                    f"{name} = {value!r}: a non-negative number" + (" above 0" if name.endswith("per_second") else "")
                )
        if problems:
            raise CostError("; ".join(problems))
        return cls(**{name: float(value) for name, value in overrides.items()})


@dataclass(frozen=True)
class LineItem:
    description: str
    quantity: float
    unit: str
    unit_price: float
    assumption: str = ""
    recurring: bool = False  # keeps billing after the run (an endpoint, a stored model)

    @property
    def amount(self) -> float:
        return self.quantity * self.unit_price

    def as_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "quantity": round(self.quantity, 6),
            "unit": self.unit,
            "unit_price": self.unit_price,
            "amount": round(self.amount, 4),
            "recurring": self.recurring,
            "assumption": self.assumption,
        }


@dataclass(frozen=True)
class CostEstimate:
    workflow: str
    region: str
    items: tuple[LineItem, ...]
    notes: tuple[str, ...]
    prices: PriceTable
    currency: str = "USD"

    @property
    def run_total(self) -> float:
        """What the run itself costs, once."""
        return sum(item.amount for item in self.items if not item.recurring)

    @property
    def recurring_total(self) -> float:
        """What keeps billing after the run, for the period the recurring items state."""
        return sum(item.amount for item in self.items if item.recurring)

    @property
    def total(self) -> float:
        return self.run_total + self.recurring_total

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able summary for a workflow's output (amounts to 4 decimals, totals to cents)."""
        return {
            "workflow": self.workflow,
            "region": self.region,
            "currency": self.currency,
            "total": round(self.total, 2),
            "run_total": round(self.run_total, 2),
            "recurring_total": round(self.recurring_total, 2),
            "items": [item.as_dict() for item in self.items],
            "notes": list(self.notes),
            "price_table": {"version": self.prices.version, "as_of": self.prices.as_of.isoformat()},
        }


def cost_config(config: Any) -> dict[str, Any]:
    """The parts of an ``EnvironmentConfig`` the estimates read, as a plain dict (e.g. for a Lambda's environment)."""
    retrieval, customization = config.retrieval_pipeline, config.llm_customization
    return {
        "region": config.region,
        "training_instance": {"instance_type": config.training_instance.instance_type},
        "retrieval_pipeline": {
            "training_instance_type": retrieval.training_instance_type,
            "endpoint_instance_type": retrieval.endpoint_instance_type,
            "max_training_hours": getattr(retrieval, "max_training_hours", None),
            "spot_training": getattr(retrieval, "spot_training", False),
        },
        "llm_customization": {
            "base_model_id": customization.base_model_id,
            "inference_model_id": customization.model.inference_model_id,
            "deployment": customization.model.deployment,
        },
    }


def estimate_retrieval_run(
    execution_input: Mapping[str, Any],
    config: Any,
    *,
    assumptions: Mapping[str, Any] | Assumptions | None = None,
    prices: PriceTable | None = None,
) -> CostEstimate:
    """Bedrock query generation, SageMaker training and endpoint hours of one retrieval-pipeline run."""
    source, settings, table, assume = _start(execution_input, config, prices, assumptions)
    region, pipeline = settings["region"], _section(settings, "retrieval_pipeline")
    max_documents = _integer(source, "max_documents", RETRIEVAL_DEFAULTS["max_documents"], 10, 1_000_000)
    documents = min(max_documents, int(assume.documents)) if assume.documents is not None else max_documents
    queries = _integer(source, "queries_per_document", RETRIEVAL_DEFAULTS["queries_per_document"], 1, 10)
    epochs = _number(source, "epochs", RETRIEVAL_DEFAULTS["epochs"], 0.1, 50)
    model = _text(source, "bedrock_model_id", RETRIEVAL_DEFAULTS["bedrock_model_id"])
    mode = _generation_mode(_text(source, "generation_mode", RETRIEVAL_DEFAULTS["generation_mode"]), documents)
    training_type = _text(source, "training_instance_type", pipeline["training_instance_type"])
    endpoint_type = _text(source, "endpoint_instance_type", pipeline["endpoint_instance_type"])

    token_prices = table.price(region, "bedrock_per_1k_tokens", _base_model(model))
    factor = table.batch_factor if mode == "batch" else 1.0
    document_tokens = min(assume.document_tokens, MAX_DOCUMENT_TOKENS)
    input_tokens = documents * (assume.prompt_tokens + document_tokens)
    output_tokens = documents * queries * assume.query_tokens
    how = f"{mode.replace('_', '-')}" + (f", {factor:g} x on-demand price" if mode == "batch" else "")
    items = [
        LineItem(
            f"Bedrock {model} input tokens ({how})",
            input_tokens / 1000,
            "1k tokens",
            token_prices["input"] * factor,
            f"{documents} documents x ({assume.prompt_tokens:g} prompt + {document_tokens:g} document tokens)",
        ),
        LineItem(
            f"Bedrock {model} output tokens ({how})",
            output_tokens / 1000,
            "1k tokens",
            token_prices["output"] * factor,
            f"{documents} documents x {queries} queries x {assume.query_tokens:g} tokens",
        ),
    ]

    train_pairs = documents * queries * (1 - EVAL_FRACTION)
    gpu = bool(_GPU_FAMILIES.match(training_type))
    throughput = assume.training_pairs_per_second if gpu else assume.cpu_training_pairs_per_second
    hours = assume.training_overhead_hours + train_pairs * epochs / throughput / 3600
    cap = pipeline.get("max_training_hours")
    capped = cap is not None and hours > cap
    hours = min(hours, cap) if cap is not None else hours
    items.append(
        LineItem(
            f"SageMaker training on {training_type}",
            hours,
            "instance-hour",
            table.price(region, "sagemaker_training_instance_hour", training_type),
            f"{train_pairs:g} training pairs x {epochs:g} epochs at {throughput:g} pairs/s + {assume.training_overhead_hours:g} h"
            + (f", capped at max_training_hours {cap}" if capped else ""),
        )
    )
    notes = [_OMITTED]
    if pipeline.get("spot_training"):
        notes.append(
            "spot_training: managed spot usually costs far less; the training line is the on-demand upper bound"
        )
    if endpoint_type == "serverless":
        items.append(
            LineItem(
                "SageMaker serverless endpoint",
                0,
                "request",
                0.0,
                "billed per request and GB-second of compute; not estimated",
                recurring=True,
            )
        )
    else:
        items.append(
            LineItem(
                f"SageMaker endpoint on {endpoint_type} (keeps billing until deleted)",
                assume.endpoint_hours,
                "instance-hour",
                table.price(region, "sagemaker_endpoint_instance_hour", endpoint_type),
                f"{assume.endpoint_hours:g} hours deployed ({assume.endpoint_hours / 24:g} days); deployed only if the model passes "
                "the quality gate",
                recurring=True,
            )
        )
    return CostEstimate("retrieval-pipeline", region, tuple(items), tuple(notes), table)


def estimate_customization_run(
    execution_input: Mapping[str, Any],
    config: Any,
    *,
    assumptions: Mapping[str, Any] | Assumptions | None = None,
    prices: PriceTable | None = None,
) -> CostEstimate:
    """Bedrock customization training and storage, what serves the custom model (an on-demand deployment bills per
    token; Provisioned Throughput by the model-unit hour, for the evaluation and, if kept, every hour after), and
    the evaluation's invocations. A price the table lacks for the base model leaves its lines out and a note names
    the missing entry, so the rest of the estimate is still shown before the run."""
    source, settings, table, assume = _start(execution_input, config, prices, assumptions)
    region = settings["region"]
    customization_settings = _section(settings, "llm_customization")
    base = customization_settings["base_model_id"]
    model = customization_settings.get("inference_model_id") or base.removesuffix(":128k")
    provisioned = customization_settings.get("deployment", ON_DEMAND) == PROVISIONED_THROUGHPUT
    hyperparameters = _object(source, "hyperparameters")
    evaluation = _object(source, "evaluation")
    epochs = _integer(
        hyperparameters, "epoch_count", CUSTOMIZATION_DEFAULTS["epoch_count"], 1, 10, prefix="hyperparameters."
    )
    metric = _text(evaluation, "metric", CUSTOMIZATION_DEFAULTS["metric"], prefix="evaluation.")
    if metric not in ("exact_match", "field_f1", "judge"):
        raise CostError(f"evaluation.metric = {metric!r}: one of exact_match, field_f1, judge")

    missing: list[str] = []

    def price(section: str) -> Any:
        if region not in table.regions:
            return table.price(region, section, model)  # raises, naming the priced regions
        try:
            return table.price(region, section, model)
        except CostError:
            missing.append(
                f"{_PRICED_THINGS[section]} {model} (no entry regions.{region}.{section} in the price table)"
            )
            return None

    customization, token_prices = price("bedrock_customization"), price("bedrock_per_1k_tokens")
    hourly = price("bedrock_provisioned_throughput_hour") if provisioned else None
    training_tokens = assume.train_tokens * epochs
    calls = assume.test_cases * 2  # base model and custom model, once per test case
    units = PROVISIONED_MODEL_UNITS
    items: list[LineItem] = []
    if customization:
        data = f"{assume.train_tokens:g} tokens of data x {epochs} epochs"
        items.append(
            LineItem(
                f"Bedrock customization of {base}: training",
                training_tokens / 1000,
                "1k tokens",
                customization["training_per_1k_tokens"],
                data,
            )
        )
        months = f"kept {assume.storage_months:g} month(s)"
        items.append(
            LineItem(
                "Custom model storage",
                assume.storage_months,
                "model-month",
                customization["storage_per_month"],
                months,
                recurring=True,
            )
        )
    if token_prices:
        cases = f"{assume.test_cases:g} cases x 2 models"
        items.append(
            LineItem(
                f"Evaluation: {model} and the custom model, input tokens",
                calls * assume.test_prompt_tokens / 1000,
                "1k tokens",
                token_prices["input"],
                f"{cases} x {assume.test_prompt_tokens:g} tokens; the custom model at its base's price",
            )
        )
        items.append(
            LineItem(
                f"Evaluation: {model} and the custom model, output tokens",
                calls * assume.test_output_tokens / 1000,
                "1k tokens",
                token_prices["output"],
                f"{cases} x {assume.test_output_tokens:g} tokens",
            )
        )
    if hourly:
        label = f"Provisioned Throughput of the custom model ({units} model unit, no commitment)"
        items.append(
            LineItem(
                f"{label} for the evaluation",
                assume.provisioned_hours * units,
                "model-unit-hour",
                hourly,
                f"{assume.provisioned_hours:g} h from creation to deletion when not better",
            )
        )
        items.append(
            LineItem(
                f"{label} kept serving a better model",
                assume.endpoint_hours * units,
                "model-unit-hour",
                hourly,
                f"{assume.endpoint_hours:g} h (30 days) until you delete it",
                recurring=True,
            )
        )
    if metric == "judge":
        judge = _text(evaluation, "judge_model_id", CUSTOMIZATION_DEFAULTS["judge_model_id"], prefix="evaluation.")
        judge_prices = table.price(region, "bedrock_per_1k_tokens", _base_model(judge))
        items += [
            LineItem(
                f"Evaluation: judge {judge}, input tokens",
                calls * assume.judge_prompt_tokens / 1000,
                "1k tokens",
                judge_prices["input"],
                f"{calls:g} answers x {assume.judge_prompt_tokens:g} tokens",
            ),
            LineItem(
                f"Evaluation: judge {judge}, output tokens",
                calls * assume.judge_output_tokens / 1000,
                "1k tokens",
                judge_prices["output"],
                f"{calls:g} answers x {assume.judge_output_tokens:g} tokens",
            ),
        ]
    if provisioned:
        serving = (
            f"The custom model is served by Provisioned Throughput ({units} model unit, no commitment), billed "
            "every hour from its creation until it is deleted: after the evaluation, unless the model is kept."
        )
    else:
        serving = "The on-demand deployment of the custom model bills per token used, not per hour."
    unpriced = tuple(
        f"Not counted: {problem}; AWS publishes it on https://aws.amazon.com/bedrock/pricing/" for problem in missing
    )
    return CostEstimate("llm-customization", region, tuple(items), (_OMITTED, serving, *unpriced), table)


def estimate_lora_run(
    execution_input: Mapping[str, Any],
    config: Any,
    *,
    assumptions: Mapping[str, Any] | Assumptions | None = None,
    prices: PriceTable | None = None,
) -> CostEstimate:
    """GPU instance hours of one LoRA run on the training instance."""
    source, settings, table, assume = _start(execution_input, config, prices, assumptions)
    region = settings["region"]
    instance_type = _section(settings, "training_instance")["instance_type"]
    timeout = _integer(source, "timeout_hours", LORA_DEFAULTS["timeout_hours"], 1, MAX_FINE_TUNE_HOURS)
    fine_tune = timeout if assume.lora_hours is None else min(assume.lora_hours, timeout)
    basis = (
        f"up to timeout_hours {timeout} (the most the fine-tune can run)"
        if assume.lora_hours is None
        else f"{fine_tune:g} h fine-tune"
    )
    items = (
        LineItem(
            f"EC2 {instance_type} (GPU training instance)",
            fine_tune + assume.lora_overhead_hours,
            "instance-hour",
            table.price(region, "ec2_instance_hour", instance_type),
            f"{basis} + {assume.lora_overhead_hours:g} h boot, health checks and archiving; stopped at the end",
        ),
    )
    notes = (
        _OMITTED,
        "The checkpoint volume (EBS gp3) bills by the month whether or not a run happens; not counted per run.",
    )
    return CostEstimate("lora-training", region, items, notes, table)


ESTIMATORS: dict[str, Callable[..., CostEstimate]] = {
    "retrieval-pipeline": estimate_retrieval_run,
    "llm-customization": estimate_customization_run,
    "lora-training": estimate_lora_run,
}


def workflow_name(workflow: str) -> str:
    """``retrieval-pipeline`` for ``retrieval`` or ``retrieval-pipeline``; a :class:`CostError` for anything else."""
    name = WORKFLOW_ALIASES.get(workflow, workflow)
    if name not in ESTIMATORS:
        raise CostError(f"workflow {workflow!r}: one of {', '.join(WORKFLOWS)} (or {', '.join(WORKFLOW_ALIASES)})")
    return name


def estimate(
    workflow: str,
    execution_input: Mapping[str, Any],
    config: Any,
    *,
    assumptions: Mapping[str, Any] | Assumptions | None = None,
    prices: PriceTable | None = None,
) -> CostEstimate:
    return ESTIMATORS[workflow_name(workflow)](execution_input, config, assumptions=assumptions, prices=prices)


def estimate_for_workflow(
    workflow: str,
    execution_input: Mapping[str, Any],
    config_dict: Mapping[str, Any],
    measurements: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The estimate as a JSON-able dict, for a workflow's output: call it from a Lambda function.

    ``config_dict`` is what :func:`cost_config` returns for the environment (pass it to the function as a JSON
    environment variable); ``measurements`` override :class:`Assumptions` with what the run already knows.
    """
    return estimate(workflow, execution_input, config_dict, assumptions=measurements).as_dict()


_OMITTED = "Lambda, Step Functions, S3, CloudWatch and KMS cost cents per run and are not counted."


# --- input helpers ---------------------------------------------------------------------------------------


def _start(
    execution_input: Any,
    config: Any,
    prices: PriceTable | None,
    assumptions: Any,
) -> tuple[Mapping[str, Any], Mapping[str, Any], PriceTable, Assumptions]:
    if not isinstance(execution_input, Mapping):
        raise CostError(f"execution input: expected a JSON object, got {type(execution_input).__name__}")
    settings = config if isinstance(config, Mapping) else cost_config(config)
    if not isinstance(settings.get("region"), str):
        raise CostError("config: region is missing; pass an EnvironmentConfig or the dict cost_config() makes of one")
    return execution_input, settings, prices or _default_prices(), Assumptions.of(assumptions)


def _section(settings: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = settings.get(name)
    if not isinstance(section, Mapping):
        raise CostError(f"config: {name} is missing; pass an EnvironmentConfig or the dict cost_config() makes of one")
    return section


def _object(source: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = source.get(key, {})
    if not isinstance(value, Mapping):
        raise CostError(f"{key} = {value!r}: expected an object")
    return value


def _integer(source: Mapping[str, Any], key: str, default: int, minimum: int, maximum: int, *, prefix: str = "") -> int:
    value = source.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise CostError(f"{prefix}{key} = {value!r}: a whole number from {minimum} to {maximum}")
    return value


def _number(source: Mapping[str, Any], key: str, default: float, minimum: float, maximum: float) -> float:
    value = source.get(key, default)
    if not _is_number(value) or not minimum <= value <= maximum:
        raise CostError(f"{key} = {value!r}: a number from {minimum:g} to {maximum:g}")
    return float(value)


def _text(source: Mapping[str, Any], key: str, default: str, *, prefix: str = "") -> str:
    value = source.get(key, default)
    if not isinstance(value, str) or not value:
        raise CostError(f"{prefix}{key} = {value!r}: expected a non-empty string")
    return value


def _generation_mode(requested: str, documents: int) -> str:
    """``batch`` or ``on_demand``, as ``generate_queries/generation_plan.py`` decides it."""
    if requested not in ("auto", "batch", "on_demand"):
        raise CostError(f"generation_mode = {requested!r}: one of auto, batch, on_demand")
    in_batch_range = BATCH_MINIMUM_DOCUMENTS <= documents <= BATCH_MAXIMUM_DOCUMENTS
    if requested == "batch" and not in_batch_range:
        raise CostError(
            f"generation_mode = 'batch': a batch job takes {BATCH_MINIMUM_DOCUMENTS} to "
            f"{BATCH_MAXIMUM_DOCUMENTS} documents and this run has {documents}; use 'auto' or 'on_demand'"
        )
    return "batch" if requested == "batch" or (requested == "auto" and in_batch_range) else "on_demand"


def _base_model(model_id: str) -> str:
    """A cross-region inference profile (``us.meta...``) costs what its model costs."""
    return _INFERENCE_PROFILE.sub("", model_id)
