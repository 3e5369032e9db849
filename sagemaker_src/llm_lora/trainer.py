"""The Trainer a run uses, built from the training config; shared by ``train`` and ``bench/lora_bench.py``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from .config import TrainingConfig
from .modeling import Runtime
from .progress import ProgressCallback, TokenMeter
from .tokenization import REAL_TOKENS_KEY, CausalLMCollator, ExampleDataset


class LoraTrainer(Trainer):
    """A Trainer that counts the real tokens of each training batch (for tokens/s) before the forward pass."""

    def __init__(self, *args: Any, token_meter: TokenMeter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token_meter = token_meter

    def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> torch.Tensor:
        self.token_meter.add(int(inputs.pop(REAL_TOKENS_KEY)))
        return super().training_step(model, inputs, num_items_in_batch)

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        # transformers infers lengths only from dict-like items; ours are Examples, whose length is their token count.
        if self.args.train_sampling_strategy == "group_by_length":
            from transformers.trainer_pt_utils import LengthGroupedSampler

            dataset: Any = train_dataset if train_dataset is not None else self.train_dataset
            return LengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps,
                lengths=[len(example) for example in dataset],
            )
        return super()._get_train_sampler(train_dataset)

    def prediction_step(
        self, model: Any, inputs: dict[str, Any], prediction_loss_only: bool, ignore_keys: list[str] | None = None
    ) -> Any:
        inputs.pop(REAL_TOKENS_KEY, None)
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)


def build_training_arguments(
    config: TrainingConfig, runtime: Runtime, checkpoint_dir: Path, *, has_validation: bool
) -> TrainingArguments:
    if not has_validation:
        eval_strategy = "no"
    else:
        eval_strategy = "steps" if config.eval_steps else "epoch"
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=config.per_device_train_batch_size,
        per_device_eval_batch_size=config.per_device_eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio,  # transformers 5: a value below 1 is a fraction of the total steps
        weight_decay=config.weight_decay,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        data_seed=config.seed,
        bf16=runtime.use_cuda and runtime.dtype == torch.bfloat16,  # autocast; on CPU the weights are bf16 already
        use_cpu=not runtime.use_cuda,
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy=eval_strategy,
        eval_steps=config.eval_steps,
        prediction_loss_only=True,  # never hold a vocabulary-sized logits tensor per eval batch
        label_names=["labels"],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        # Speed switches (training_config.yml): Liger's fused linear cross-entropy never materializes the
        # vocabulary-sized logits; length grouping batches records of similar length.
        use_liger_kernel=config.fused_cross_entropy,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        enable_jit_checkpoint=True,  # SIGTERM (spot reclaim, instance stop): checkpoint, then stop
        report_to="none",
        disable_tqdm=True,
        log_level="warning",
    )


def build_trainer(
    *,
    model: Any,
    tokenizer: Any,
    config: TrainingConfig,
    runtime: Runtime,
    train_examples: Sequence[Any],
    eval_examples: Sequence[Any] | None,
    checkpoint_dir: Path,
    token_meter: TokenMeter,
    callbacks: Sequence[TrainerCallback] = (),
) -> LoraTrainer:
    arguments = build_training_arguments(config, runtime, checkpoint_dir, has_validation=bool(eval_examples))
    trainer = LoraTrainer(
        model=model,
        args=arguments,
        data_collator=CausalLMCollator(pad_token_id=tokenizer.pad_token_id),
        train_dataset=ExampleDataset(train_examples),
        eval_dataset=ExampleDataset(eval_examples) if eval_examples else None,
        processing_class=tokenizer,
        callbacks=[ProgressCallback(token_meter), *callbacks],
        token_meter=token_meter,
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw dicts; ProgressCallback logs readable JSON lines
    return trainer
