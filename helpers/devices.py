"""Which devices the mixed-precision (AMP) and int8 paths run on, and the one line said
when a device cannot: the caller then gets the fallback (fp32, or the CPU for int8).

==========  ======================================  ======================================
device      AMP (``--amp auto|bf16|fp16``)          int8 (``helpers.compression``)
==========  ======================================  ======================================
``cuda``    bf16 where supported, else fp16         no: quantized kernels are CPU-only
``mps``     fp16 (bf16 asked: fp16)                 no
``cpu``     no: fp32 (said when bf16/fp16 was asked) yes (x86/fbgemm, qnnpack)
==========  ======================================  ======================================

The line goes to stderr once per process and situation, so a training loop or a
notebook says it once, not per step.
"""
from __future__ import annotations

import functools
import sys

import torch

AMP_DEVICES: dict[str, tuple[str, ...]] = {"cuda": ("bf16", "fp16"), "mps": ("fp16",)}
INT8_DEVICES: tuple[str, ...] = ("cpu",)


@functools.lru_cache(maxsize=None)
def say_once(line: str) -> None:
    """Print ``line`` on stderr the first time it is asked for."""
    print(line, file=sys.stderr, flush=True)


def amp_dtype(device: torch.device | str, mode: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``device`` and ``mode`` (``auto``/``bf16``/``fp16``/``off``),
    or None (fp32). Unsupported combinations fall back with one line (table above)."""
    kind = torch.device(device).type
    if mode == "off":
        return None
    if kind == "cuda":
        if mode == "bf16" or (mode == "auto" and torch.cuda.is_bf16_supported()):
            return torch.bfloat16
        return torch.float16
    if kind == "mps":
        if mode == "bf16":
            say_once("AMP: bf16 autocast runs on cuda only; using fp16 on mps")
        return torch.float16
    if mode != "auto":  # asked for explicitly; "auto" means fp32 on the CPU by definition
        say_once(f"AMP: {mode} autocast runs on {' and '.join(AMP_DEVICES)} only; {kind} computes in fp32")
    return None


def int8_device(device: torch.device | str) -> str:
    """Where an int8 (quantized) model runs given ``device``: the CPU, with one line when
    another device was asked for."""
    kind = torch.device(device).type
    if kind not in INT8_DEVICES:
        say_once(f"int8: quantized kernels (x86/fbgemm, qnnpack) run on the CPU only; running int8 on cpu, not {kind}")
    return "cpu"
