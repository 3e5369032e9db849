"""Where models run and in which floating-point type.

``auto``: on CUDA, bf16 where the GPU computes in it (Ampere and newer: the g5/g6 instances), fp16 otherwise;
on a CPU, fp32. ``bf16`` also runs on a CPU (about 2.7x faster generation on the project's machines, with
near-identical output); ``fp16`` needs CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from modelsmith.cli_support import InputError


class Precision(str, Enum):
    AUTO = "auto"
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


@dataclass(frozen=True)
class Placement:
    device: str  # "cuda" or "cpu"
    dtype: Any  # a torch.dtype

    @property
    def label(self) -> str:
        return f"{self.device}, {str(self.dtype).removeprefix('torch.')}"


def placement(precision: Precision | str = Precision.AUTO) -> Placement:
    import torch

    from sagemaker_src.retrieval.modeling import bf16_supported

    precision = Precision(precision)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if precision is Precision.AUTO:
        if device == "cpu":
            return Placement(device, torch.float32)
        return Placement(device, torch.bfloat16 if bf16_supported() else torch.float16)
    if precision is Precision.FP16 and device == "cpu":
        raise InputError(
            "--precision fp16 needs a CUDA GPU and none is available", "use --precision bf16 or fp32 on a CPU"
        )
    return Placement(
        device,
        {Precision.FP32: torch.float32, Precision.FP16: torch.float16, Precision.BF16: torch.bfloat16}[precision],
    )
