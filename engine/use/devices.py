"""Which device a model runs on: the best one here, or the one the user named, checked."""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import BadInput


def best_device() -> str:
    """Return the best device available here: "cuda", "mps" or "cpu"."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def devices_seen() -> str:
    """Return what torch sees here, in words: its CUDA build and each GPU, or why there is none."""
    import os

    build = f"torch {torch.__version__}"
    if torch.version.cuda is None:
        return f"{build} is a CPU-only build: it sees the CPU and no CUDA GPU"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
        why = "no driver or GPU answers" if hidden is None else f"CUDA_VISIBLE_DEVICES={hidden!r} hides them"
        return f"{build} (CUDA {torch.version.cuda}) sees no GPU ({why}): only the CPU"
    names = ", ".join(f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(count))
    return f"{build} (CUDA {torch.version.cuda}) sees {count} GPU{'s' if count > 1 else ''}: {names}"


def resolve_device(spec: str | None, allow_meta: bool = False) -> str:
    """Return the device `spec` names ("auto"/None: the best one here), or raise BadInput.

    "meta" (structure only, no weights) is refused unless `allow_meta`: nothing can run on it.
    """
    if spec is None or str(spec).strip().lower() in ("", "auto"):
        return best_device()
    text = str(spec).strip()
    fix = f"use --device cpu (or auto: {best_device()} on this machine)"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise BadInput(f"unknown device {text!r}", "a device is cpu, cuda, cuda:N, mps or auto",
                       fix) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInput(f"device {text!r} is not available",
                           "torch finds no usable CUDA GPU on this machine", fix)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BadInput(f"device {text!r} is not available",
                           f"this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                           f"numbered from 0", fix)
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise BadInput(f"device {text!r} is not available", "this machine has no MPS GPU", fix)
    elif device.type == "meta" and not allow_meta:
        raise BadInput("--device meta holds no weights", "this command needs real numbers", fix)
    elif device.type not in ("cpu", "meta"):
        raise BadInput(f"device {text!r} is not supported", "ptm-tui runs on cpu, cuda or mps", fix)
    return text


def model_device(model: nn.Module) -> torch.device:
    """Return the device of the model's first parameter or buffer (cpu when it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _read_number(path: str, pattern: str) -> int | None:
    """Return the first whole number `pattern` captures in the file at `path`, or None."""
    import re

    try:
        with open(path, encoding="ascii") as file:
            found = re.search(pattern, file.read())
    except OSError:
        return None
    return int(found.group(1)) if found else None


def free_memory(device: str) -> int | None:
    """Return the bytes this process may still allocate on `device`, or None when unknown.

    CPU: the smallest of the system's available memory, the cgroup's room and this process's
    address-space limit (ulimit -v) minus what it already maps. CUDA: the GPU's free memory.
    """
    kind = torch.device(device)
    if kind.type == "cuda":
        return int(torch.cuda.mem_get_info(kind.index or 0)[0])
    if kind.type != "cpu":
        return None
    import resource

    room: list[int] = []
    available = _read_number("/proc/meminfo", r"MemAvailable:\s+(\d+) kB")
    if available is not None:
        room.append(available * 1024)
    limit = _read_number("/sys/fs/cgroup/memory.max", r"^(\d+)")
    used = _read_number("/sys/fs/cgroup/memory.current", r"^(\d+)")
    if limit is not None and used is not None:
        room.append(max(limit - used, 0))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    mapped = _read_number("/proc/self/status", r"VmSize:\s+(\d+) kB")
    if soft != resource.RLIM_INFINITY and mapped is not None:
        room.append(max(soft - mapped * 1024, 0))
    return min(room) if room else None
