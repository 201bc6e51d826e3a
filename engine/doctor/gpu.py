"""What torch sees of the GPUs: its CUDA, cuDNN and NCCL, the driver, and each GPU's memory and bf16."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings

from engine.doctor.check import Check, size_text

CUDA_BUILDS = "https://pytorch.org/get-started/locally/"
LOW_FREE = 0.25
"""A GPU with less than this share of its memory free is in use by something else."""


def driver_version() -> str | None:
    """Return the NVIDIA driver's version as nvidia-smi reports it, or None (no nvidia-smi, no answer)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        done = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip()[:40] if done.returncode == 0 and lines else None


def cudnn_text(number: int) -> str:
    """Return cuDNN's version number as a dotted version (90100 -> 9.1.0, 8902 -> 8.9.2)."""
    major, rest = divmod(number, 10000 if number >= 90000 else 1000)
    minor, patch = divmod(rest, 100)
    return f"{major}.{minor}.{patch}"


def build_checks() -> list[Check]:
    """Return the CUDA, cuDNN and NCCL this torch was built with, and the driver that runs them."""
    import torch

    cuda = torch.version.cuda
    driver = driver_version()
    if cuda is None:
        return [
            Check(
                "gpu",
                "CUDA",
                "info",
                f"none: torch {torch.__version__} is a CPU-only build",
                f"to train on an NVIDIA GPU, install a CUDA build of torch ({CUDA_BUILDS})",
                {"cuda": None, "driver": driver},
            )
        ]
    rows = [
        Check(
            "gpu",
            "CUDA",
            "ok",
            f"{cuda} (torch's build)"
            + (f", NVIDIA driver {driver}" if driver else ", no NVIDIA driver found (no nvidia-smi)"),
            details={"cuda": cuda, "driver": driver},
        )
    ]
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    rows.append(
        Check(
            "gpu",
            "cuDNN",
            "ok" if cudnn else "warn",
            cudnn_text(cudnn) if cudnn else "not found: convolutions on the GPU run slower",
            "" if cudnn else f"reinstall torch from {CUDA_BUILDS} (its wheels bring cuDNN)",
            {"cudnn": cudnn_text(cudnn) if cudnn else None},
        )
    )
    nccl = _nccl()
    rows.append(
        Check(
            "gpu",
            "NCCL",
            "ok" if nccl else "info",
            nccl or "not in this torch build: several GPUs train over gloo, slower",
            "" if nccl else f"install a CUDA build of torch with NCCL ({CUDA_BUILDS})",
            {"nccl": nccl},
        )
    )
    return rows


def _nccl() -> str | None:
    """Return the NCCL version torch carries, or None."""
    import torch

    try:
        found = torch.cuda.nccl.version()
    except (AttributeError, RuntimeError):
        return None
    return ".".join(map(str, found)) if isinstance(found, tuple) else str(found)


def gpu_checks() -> list[Check]:
    """Return one line per CUDA GPU torch sees (name, memory, compute capability, bf16), or why none."""
    import torch

    with warnings.catch_warnings(record=True) as said:  # torch tells why CUDA failed to start
        warnings.simplefilter("always")
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not count:
        return [_no_gpu(torch.version.cuda, [str(w.message) for w in said])]
    return [_one_gpu(index) for index in range(count)]


def _one_gpu(index: int) -> Check:
    """Return the line of GPU `index`."""
    import torch

    props = torch.cuda.get_device_properties(index)
    free, total = torch.cuda.mem_get_info(index)
    with torch.cuda.device(index):
        bf16 = bool(torch.cuda.is_bf16_supported(including_emulation=False))
    capability = f"{props.major}.{props.minor}"
    details = {
        "index": index,
        "name": props.name,
        "memory_total": int(total),
        "memory_free": int(free),
        "compute_capability": capability,
        "bf16": bf16,
    }
    value = (
        f"{props.name}, {size_text(free)} free of {size_text(total)}, compute capability "
        f"{capability}, bf16 {'yes' if bf16 else 'no'}"
    )
    fixes = []
    if not bf16:
        fixes.append(
            'this GPU has no bf16 (it needs compute capability 8.0+): set amp = "fp16" in the '
            "recipe's [train]"
        )
    if free < LOW_FREE * total:
        fixes.append(
            f"other processes hold {size_text(total - free)}: `nvidia-smi` shows which "
            f"(or pick another GPU with --device cuda:N)"
        )
    return Check("gpu", f"cuda:{index}", "warn" if fixes else "ok", value, "; ".join(fixes), details)


def _no_gpu(cuda: str | None, said: list[str]) -> Check:
    """Return the plain "no GPU" line, with why torch sees none and what to do."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Check(
            "gpu", "GPU", "ok", "no CUDA GPU; Apple's GPU is here (--device mps)", details={"mps": True}
        )
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cuda is None:
        why, fix = "this torch is a CPU-only build", f"install a CUDA build of torch ({CUDA_BUILDS})"
    elif hidden is not None and hidden.strip() in ("", "-1"):
        why, fix = f"CUDA_VISIBLE_DEVICES={hidden!r} hides every GPU", "unset CUDA_VISIBLE_DEVICES"
    else:
        why = f"torch (CUDA {cuda}) finds no NVIDIA GPU on this machine"
        if said:
            why += f" ({said[0].strip().splitlines()[0][:200]})"
        fix = (
            "on a GPU server, check that `nvidia-smi` lists the GPUs and that the driver supports "
            f"CUDA {cuda}"
        )
    return Check(
        "gpu",
        "GPU",
        "warn",
        f"no GPU: {why}; training runs on the CPU",
        f"to train on a GPU: {fix}",
        {"count": 0},
    )
