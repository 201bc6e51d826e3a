"""Which precision a finetune runs in (the `amp` key): bf16 or fp16 autocast on whichever device
trains, the CPU included, with a GradScaler for fp16 only, as Lightning's "bf16-mixed" and
"16-mixed" do."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Any

import torch

from engine.errors import BadInput

AMP_CHOICES = ("auto", "bf16", "fp16", "off")
"""The values of `amp`: auto (= true: bf16 on a CUDA GPU that has it, fp32 elsewhere), bf16, fp16 and
off (= false: fp32)."""
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def amp_value(value: Any) -> str:
    """Return the `amp` choice a recipe value means (true: "auto", false: "off"), or raise ValueError."""
    if isinstance(value, bool):
        return "auto" if value else "off"
    text = str(value).strip().lower()
    words = {
        "true": "auto",
        "yes": "auto",
        "on": "auto",
        "1": "auto",
        "false": "off",
        "no": "off",
        "0": "off",
        "none": "off",
        "fp32": "off",
        "bfloat16": "bf16",
        "float16": "fp16",
        "16": "fp16",
    }
    text = words.get(text, text)
    if text not in AMP_CHOICES:
        raise ValueError(text)
    return text


@functools.cache
def autocast_works(device_type: str, name: str) -> bool:
    """Return whether this torch runs a matmul under `name` autocast on `device_type`."""
    if not torch.amp.is_autocast_available(device_type):
        return False
    try:
        a = torch.ones(2, 2, device=device_type)
        with torch.autocast(device_type, dtype=DTYPES[name]):
            return (a @ a).dtype == DTYPES[name]
    except (RuntimeError, AssertionError):
        return False


def bf16_on_gpu(device: torch.device) -> bool:
    """Return whether a CUDA GPU computes in bf16 natively (Ampere and later)."""
    return torch.cuda.is_bf16_supported(including_emulation=False) if device.type == "cuda" else False


@dataclass(frozen=True)
class Precision:
    """The precision one finetune runs in: "bf16", "fp16" or "fp32", on `device_type`, and why."""

    name: str
    device_type: str
    why: str

    @property
    def dtype(self) -> torch.dtype:
        """The autocast dtype (float32 when nothing is cast)."""
        return DTYPES.get(self.name, torch.float32)

    def autocast(self) -> Any:
        """Return the context the forward pass runs in (torch.autocast, or nothing for fp32)."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler | None:
        """Return a GradScaler for fp16 (whose small range loses gradients without one), else None."""
        return torch.amp.GradScaler(self.device_type) if self.name == "fp16" else None

    def describe(self) -> str:
        """Return the log line that says which precision runs and why."""
        how = "fp32 (no autocast)" if self.name == "fp32" else f"{self.name} autocast"
        extra = " with a GradScaler (an overflowing step is skipped)" if self.name == "fp16" else ""
        return f"precision: {how} on {self.device_type}{extra}; {self.why}"


def choose_precision(amp: str | bool, device: torch.device) -> Precision:
    """Return the precision `amp` asks for on `device`; raise BadInput when this torch or device
    cannot run it."""
    amp = amp_value(amp)
    kind = device.type
    if amp == "off":
        return Precision("fp32", kind, 'amp = "off"')
    if amp == "auto":
        if bf16_on_gpu(device):
            return Precision("bf16", kind, 'amp = true: bf16 where the GPU has it (use amp = "off" for fp32)')
        where = "this GPU has none" if kind == "cuda" else f"on the {kind} it is usually slower than fp32"
        return Precision(
            "fp32",
            kind,
            f'amp = true runs bf16 only on a GPU that has it, and {where} (amp = "bf16" forces it)',
        )
    if kind == "cuda" and amp == "bf16" and not bf16_on_gpu(device):
        raise BadInput(
            f'amp = "bf16" on {device}, which has no native bf16',
            "bf16 needs an Ampere (compute capability 8.0) or newer GPU",
            'use amp = "fp16" (with a GradScaler) or amp = "off"',
        )
    if not autocast_works(kind, amp):
        raise BadInput(
            f'amp = "{amp}" cannot run on {kind} with torch {torch.__version__}',
            f"torch.autocast has no {amp} on {kind} in this version",
            f'use amp = "{"bf16" if amp == "fp16" else "off"}", or amp = "off" for fp32',
        )
    return Precision(amp, kind, f'amp = "{amp}"')
