"""The version-controlled hyperparameters of a LoRA / QLoRA run (``training_config.yml``).

The file holds *how* to train, never *where*: model, data, output and checkpoint locations come from
command-line arguments or SageMaker's ``SM_*`` variables (see :mod:`.train`). Every problem in the file is
reported at once, one line per key, for example::

    training_config.yml: lora_rnak: unknown key (did you mean 'lora_rank'?)
    training_config.yml: learning_rate: expected a number, got 'fast'

Keys left out take the defaults of :class:`TrainingConfig`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "training_config.yml"

LORA_TARGET_MODULES_LLAMA = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# Schedulers that need no extra arguments (transformers.SchedulerType values).
LR_SCHEDULERS = frozenset(
    {"linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt"}
)

# Keys people put in a config file by habit; they are resource locations and belong to the arguments.
_RESOURCE_KEYS = frozenset(
    {
        "model_name_or_path",
        "model_id",
        "model",
        "train_file",
        "validation_file",
        "train",
        "validation",
        "output_dir",
        "model_dir",
        "output_data_dir",
        "checkpoint_dir",
        "tokenizer",
        "data_dir",
    }
)


class ConfigError(ValueError):
    """A training config that cannot work; ``problems`` holds one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters of one run. Each field is a key of ``training_config.yml`` with the same name."""

    # Method: "lora" trains adapters on a bf16/fp32 base; "qlora" loads the base in 4-bit NF4 (CUDA only).
    method: Literal["lora", "qlora"] = "lora"
    # "auto": bf16 on a CUDA GPU that supports it, fp32 otherwise.
    precision: Literal["auto", "bf16", "fp32"] = "auto"

    # LoRA adapters.
    lora_target_modules: tuple[str, ...] = LORA_TARGET_MODULES_LLAMA
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05

    # Optimisation.
    learning_rate: float = 2.0e-4
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    num_train_epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides num_train_epochs
    per_device_train_batch_size: int = 4
    per_device_eval_batch_size: int = 4
    gradient_accumulation_steps: int = 4
    max_grad_norm: float = 1.0
    seed: int = 42

    # Data.
    max_seq_length: int = 2048  # records longer than this (with the chat template) are errors, never truncated
    packing: bool = False  # pack whole records into sequences of max_seq_length, attention kept per record
    system_prompt: str | None = None  # added to instruction-format records (chat records carry their own)

    # Memory.
    gradient_checkpointing: bool = True

    # Speed (all off by default; see training_config.yml).
    fused_cross_entropy: bool = False  # Liger's fused linear cross-entropy and kernels; CUDA only (liger-kernel)
    group_by_length: bool = False  # batch records of similar length (less padding); unpacked data only

    # Checkpoints and logs.
    save_steps: int = 50
    save_total_limit: int = 3
    logging_steps: int = 10
    eval_steps: int | None = None  # None: evaluate the validation set at the end of each epoch

    # Evaluation (validation loss always; extraction F1 when the validation set is extraction records).
    evaluate_before_training: bool = True
    generation_max_new_tokens: int = 256
    max_generation_eval_records: int | None = 200  # None: all validation records

    # Output.
    merge_adapter: bool = True  # also write the base model with the adapter merged in

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["lora_target_modules"] = list(self.lora_target_modules)
        return values


def load_training_config(path: str | Path = DEFAULT_CONFIG_PATH) -> TrainingConfig:
    """Read and check a ``training_config.yml``; raise :class:`ConfigError` listing every problem."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, ["file not found"]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(source, [f"not valid UTF-8 (byte {error.start})"]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(source, [f"not valid YAML: {error}"]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(source, [f"expected a mapping of keys to values, got {type(document).__name__}"])
    return config_from_mapping(document, source=source)


def config_from_mapping(values: dict[str, Any], *, source: str = "training config") -> TrainingConfig:
    """Build a :class:`TrainingConfig` from plain values, checking names, types and ranges."""
    hints = typing.get_type_hints(TrainingConfig)
    known = [config_field.name for config_field in dataclasses.fields(TrainingConfig)]
    problems: list[str] = []
    accepted: dict[str, Any] = {}
    for key, value in values.items():
        if key not in hints:
            problems.append(_unknown_key_problem(str(key), known))
            continue
        problem, converted = _check_type(value, hints[key])
        if problem:
            problems.append(f"{key}: {problem}")
        else:
            accepted[key] = converted
    if problems:
        raise ConfigError(source, problems)
    config = TrainingConfig(**accepted)
    problems = _range_problems(config)
    if problems:
        raise ConfigError(source, problems)
    return config


def _unknown_key_problem(key: str, known: list[str]) -> str:
    if key in _RESOURCE_KEYS:
        return (
            f"{key}: not allowed here: resource locations come from command-line arguments or SM_* "
            "environment variables, never from the config file"
        )
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f"; known keys: {', '.join(known)}"
    return f"{key}: unknown key{hint}"


def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__


def _check_type(value: Any, hint: Any) -> tuple[str | None, Any]:
    """Return (problem, converted value) for ``value`` against a field's type hint."""
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None, None
        inner = [argument for argument in arguments if argument is not type(None)]
        problem, converted = _check_type(value, inner[0])
        return (f"{problem} or null" if problem else None), converted
    if origin is Literal:
        if value in arguments:
            return None, value
        return f"expected one of {', '.join(map(repr, arguments))}, got {_describe(value)}", None
    if origin is tuple:
        if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
            return f"expected a non-empty list of names, got {_describe(value)}", None
        return None, tuple(value)
    if hint is bool:
        return (None, value) if isinstance(value, bool) else (f"expected true or false, got {_describe(value)}", None)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return None, value
        return f"expected an integer, got {_describe(value)}", None
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None, float(value)
        return f"expected a number, got {_describe(value)}", None
    if hint is str:
        return (None, value) if isinstance(value, str) else (f"expected a string, got {_describe(value)}", None)
    raise TypeError(f"unsupported config type {hint!r}")  # a programming error in TrainingConfig


def _range_problems(config: TrainingConfig) -> list[str]:
    checks: list[tuple[bool, str]] = [
        (config.lora_rank > 0, f"lora_rank: must be > 0, got {config.lora_rank}"),
        (config.lora_alpha > 0, f"lora_alpha: must be > 0, got {config.lora_alpha}"),
        (0.0 <= config.lora_dropout < 1.0, f"lora_dropout: must be in [0, 1), got {config.lora_dropout}"),
        (config.learning_rate > 0, f"learning_rate: must be > 0, got {config.learning_rate}"),
        (
            config.lr_scheduler_type in LR_SCHEDULERS,
            f"lr_scheduler_type: expected one of {', '.join(sorted(LR_SCHEDULERS))}, got {config.lr_scheduler_type!r}",
        ),
        (0.0 <= config.warmup_ratio < 1.0, f"warmup_ratio: must be in [0, 1), got {config.warmup_ratio}"),
        (config.weight_decay >= 0, f"weight_decay: must be >= 0, got {config.weight_decay}"),
        (
            config.num_train_epochs > 0 or config.max_steps > 0,
            "num_train_epochs: must be > 0 unless max_steps is set",
        ),
        (config.max_steps == -1 or config.max_steps > 0, f"max_steps: -1 or > 0, got {config.max_steps}"),
        (config.per_device_train_batch_size > 0, "per_device_train_batch_size: must be > 0"),
        (config.per_device_eval_batch_size > 0, "per_device_eval_batch_size: must be > 0"),
        (config.gradient_accumulation_steps > 0, "gradient_accumulation_steps: must be > 0"),
        (config.max_grad_norm > 0, f"max_grad_norm: must be > 0, got {config.max_grad_norm}"),
        (config.max_seq_length >= 16, f"max_seq_length: must be >= 16, got {config.max_seq_length}"),
        (config.save_steps > 0, f"save_steps: must be > 0, got {config.save_steps}"),
        (
            config.save_total_limit >= 2,
            "save_total_limit: must be >= 2 so a corrupted newest checkpoint has a fallback",
        ),
        (config.logging_steps > 0, f"logging_steps: must be > 0, got {config.logging_steps}"),
        (config.eval_steps is None or config.eval_steps > 0, "eval_steps: must be > 0 or null"),
        (config.generation_max_new_tokens > 0, "generation_max_new_tokens: must be > 0"),
        (
            not (config.group_by_length and config.packing),
            "group_by_length: packing already fills every sequence; set one of group_by_length and packing",
        ),
        (
            config.max_generation_eval_records is None or config.max_generation_eval_records >= 0,
            "max_generation_eval_records: must be >= 0 or null",
        ),
    ]
    return [message for ok, message in checks if not ok]
