"""Logs a person can read and CloudWatch can query: one JSON object per line on stdout.

Every line has ``time``, ``level``, ``logger``, ``event`` and a readable ``message``; events add their own
fields. A training run prints, every ``logging_steps``, a progress line such as::

    {"time": "...", "level": "INFO", "event": "progress", "message": "step 40/120 | loss 1.2345 | lr 1.9e-04 |
     2,310 tokens/s | gpu 5.1 GiB (peak 6.0) | eta 0:03:10", "step": 40, "max_steps": 120, "loss": 1.2345,
     "tokens_per_second": 2310.4, "gpu_memory_gib": 5.1, "gpu_peak_memory_gib": 6.0, ...}

CloudWatch Logs Insights can then filter on ``event = "progress"`` and chart ``loss`` or
``tokens_per_second``.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time
import warnings
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

logger = logging.getLogger("sagemaker_src.llm_lora.progress")

GIB = 1024**3


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", "log"),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _CurrentStdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (test capture and notebooks replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stdout for this package and for transformers / peft warnings (idempotent)."""
    import transformers

    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if isinstance(handler, _CurrentStdoutHandler)]:
        root.removeHandler(handler)
    handler = _CurrentStdoutHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    logging.getLogger("sagemaker_src").setLevel(level)
    transformers.utils.logging.disable_default_handler()
    transformers.utils.logging.enable_propagation()
    transformers.utils.logging.set_verbosity_warning()
    transformers.utils.logging.disable_progress_bar()  # tqdm bars are noise in CloudWatch
    logging.captureWarnings(True)
    # peft reads this deprecated transformers property itself; nothing for a user of this script to change.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def log_event(event: str, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, message, extra={"event": event, "fields": fields})


class TokenMeter:
    """Real (non-padding) tokens the trainer has fed the model, and the seconds spent inside training steps
    (evaluation and checkpoint saving excluded), for tokens/s."""

    def __init__(self) -> None:
        self.tokens = 0
        self.step_seconds = 0.0

    def add(self, count: int) -> None:
        self.tokens += count


def gpu_memory_fields() -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {}
    return {
        "gpu_memory_gib": round(torch.cuda.memory_allocated() / GIB, 2),
        "gpu_peak_memory_gib": round(torch.cuda.max_memory_allocated() / GIB, 2),
    }


class ProgressCallback(TrainerCallback):
    """Logs a progress line at every Trainer log step, and each evaluation, checkpoint, start and end."""

    def __init__(self, token_meter: TokenMeter) -> None:
        self.token_meter = token_meter
        self._start_time = time.monotonic()
        self._start_step = 0
        self._step_started = 0.0
        self._last_step_seconds = 0.0
        self._last_tokens = 0

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._start_time = time.monotonic()
        self._last_tokens = self.token_meter.tokens
        self._last_step_seconds = self.token_meter.step_seconds
        self._start_step = state.global_step
        resumed = f", resuming at step {state.global_step}" if state.global_step else ""
        log_event(
            "training_started",
            f"training for {state.max_steps} steps{resumed}",
            step=state.global_step,
            max_steps=state.max_steps,
            resumed=state.global_step > 0,
        )

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._step_started = time.monotonic()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self.token_meter.step_seconds += time.monotonic() - self._step_started

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        logs = logs or {}
        if "loss" in logs:
            self._progress(state, logs)
        elif "eval_loss" in logs:
            fields: dict[str, Any] = {key: value for key, value in logs.items() if key.startswith("eval_")}
            log_event(
                "evaluation",
                f"step {state.global_step} | eval_loss {logs['eval_loss']:.4f}",
                step=state.global_step,
                **fields,
            )

    def _progress(self, state: TrainerState, logs: dict[str, float]) -> None:
        now = time.monotonic()
        elapsed = max(self.token_meter.step_seconds - self._last_step_seconds, 1e-9)
        tokens_per_second = (self.token_meter.tokens - self._last_tokens) / elapsed
        self._last_step_seconds, self._last_tokens = self.token_meter.step_seconds, self.token_meter.tokens
        steps_done = state.global_step - self._start_step
        remaining = max(state.max_steps - state.global_step, 0)
        eta_seconds = (now - self._start_time) / steps_done * remaining if steps_done else None
        memory = gpu_memory_fields()
        parts = [f"step {state.global_step}/{state.max_steps}", f"loss {logs['loss']:.4f}"]
        if "learning_rate" in logs:
            parts.append(f"lr {logs['learning_rate']:.2e}")
        parts.append(f"{tokens_per_second:,.0f} tokens/s")
        if memory:
            parts.append(f"gpu {memory['gpu_memory_gib']:.1f} GiB (peak {memory['gpu_peak_memory_gib']:.1f})")
        if eta_seconds is not None:
            parts.append(f"eta {datetime.timedelta(seconds=round(eta_seconds))}")
        log_event(
            "progress",
            " | ".join(parts),
            step=state.global_step,
            max_steps=state.max_steps,
            epoch=round(state.epoch or 0.0, 4),
            loss=logs["loss"],
            learning_rate=logs.get("learning_rate"),
            grad_norm=logs.get("grad_norm"),
            tokens_per_second=round(tokens_per_second, 1),
            tokens_seen=self.token_meter.tokens,
            eta_seconds=round(eta_seconds) if eta_seconds is not None else None,
            **memory,
        )

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        log_event(
            "checkpoint_saved",
            f"checkpoint saved at step {state.global_step} in {args.output_dir}",
            step=state.global_step,
            checkpoint_dir=args.output_dir,
        )


class StopAfterStepsCallback(TrainerCallback):
    """Saves a checkpoint and stops at ``step``, as an interruption would (for drills and tests)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True
