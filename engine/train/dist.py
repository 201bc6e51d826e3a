"""Distributed helpers: who am I (rank/world from torchrun's env), device choice, reductions."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from engine.errors import BadInput


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes checkpoints, metrics and status (rank 0)."""
        return self.rank == 0


def from_env() -> DistInfo:
    """Return the DistInfo torchrun put in the environment (rank 0 of 1 without torchrun)."""
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))


def resolve_device(spec: str, dist: DistInfo | None = None) -> torch.device:
    """Return the torch.device for "auto", "cpu", "cuda" or "cuda:N" (local rank under DDP)."""
    dist = dist or DistInfo()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        from engine.use.devices import devices_seen

        if not torch.cuda.is_available():
            raise BadInput(f"device {spec!r} asked for, but CUDA is not available",
                           devices_seen(), 'use device = "cpu" or "auto"')
        if spec == "cuda":
            return torch.device("cuda", dist.local_rank if dist.enabled else 0)
        index = int(spec.split(":")[1])
        if index >= torch.cuda.device_count():
            last = torch.cuda.device_count() - 1
            raise BadInput(f"device {spec!r} does not exist", devices_seen(),
                           f'pick one of cuda:0 ... cuda:{last}, or device = "auto"')
        return torch.device("cuda", index + (dist.local_rank if dist.enabled else 0))
    return torch.device("cpu")


def init_process_group(dist: DistInfo, device: torch.device) -> None:
    """Join the torchrun group: nccl on CUDA, gloo on the CPU."""
    import torch.distributed as td

    if dist.enabled and not td.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        td.init_process_group("nccl" if device.type == "cuda" else "gloo")


def all_sum(values: list[float], device: torch.device, dist: DistInfo) -> list[float]:
    """Return the element-wise sum of `values` over every process."""
    if not dist.enabled:
        return list(values)
    import torch.distributed as td

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    td.all_reduce(tensor)
    return tensor.tolist()


def all_max(values: list[float], device: torch.device, dist: DistInfo) -> list[float]:
    """Return the element-wise max of `values` over every process."""
    if not dist.enabled:
        return list(values)
    import torch.distributed as td

    tensor = torch.tensor(values, dtype=torch.float32, device=device)
    td.all_reduce(tensor, op=td.ReduceOp.MAX)
    return tensor.tolist()
