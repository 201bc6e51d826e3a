"""The peak memory of one training step, computed without allocating it: the step runs on fake
tensors (torch's FakeTensorMode) under torch's MemTracker, which counts every storage by what it
holds (weights, gradients, optimizer state, activations). Kernels' own workspaces (cuDNN's, oneDNN's
layout copies) are not tensors and are not seen; nor is the CUDA context."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from engine.errors import BadInput
from engine.train.precision import Precision

ESTIMATED_TASKS = ("classification", "semantic_segmentation")
MAX_BATCH = 65536


@dataclass
class StepMemory:
    """Bytes of one training step at one batch size, by what they hold, and the step's peak."""

    batch_size: int
    weights: int
    """Parameters and buffers, frozen or not."""
    gradients: int
    """Gradients of the parameters that train."""
    optimizer: int
    """The optimizer's state after the step (SGD's momentum, Adam's two moments and step counts)."""
    batch: int
    """The input images and targets."""
    activations: int
    """What the forward pass leaves alive for the backward pass (and its output and loss)."""
    peak: int
    """The most the step holds at once: the above as they overlap, plus temporaries (and the EMA)."""
    ema: int = 0
    """The EMA's copy of the weights (ema_decay), held all along."""
    ddp_buckets: int = 0
    """Under torchrun: DistributedDataParallel's gradient buckets, a second copy of the gradients
    held from the wrap on (the loop keeps gradient_as_bucket_view off)."""


def under_ddp(step: StepMemory, model: nn.Module) -> StepMemory:
    """Return `step` as each process of a torchrun job holds it: plus DDP's gradient buckets, one
    element per element of the parameters that train (each of their dtype)."""
    from dataclasses import replace

    buckets = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return replace(step, ddp_buckets=buckets, peak=step.peak + buckets)


class _NoHook:
    """The hook handle MemTracker keeps for a frozen parameter, which has no hook to remove."""

    def remove(self) -> None:
        """Nothing to remove."""


def _tracker() -> Any:
    """Return torch's MemTracker, taught to leave frozen parameters alone: it hooks every
    parameter's gradient, and a frozen one cannot take a hook."""
    from torch.distributed._tools.mem_tracker import MemTracker

    class FrozenAwareTracker(MemTracker):
        def _track_module_params_and_buffers(self, module: nn.Module, install_grad_hooks: bool = True) -> Any:
            for param in module.parameters():
                if not param.requires_grad and param not in self._param_to_grad_hook_handles:
                    self._param_to_grad_hook_handles[param] = (_NoHook(), _NoHook())
            return super()._track_module_params_and_buffers(module, install_grad_hooks)

    return FrozenAwareTracker()


def _fake_copy(model: nn.Module, mode: Any, device: torch.device, channels_last: bool = False) -> nn.Module:
    """Return a copy of `model` whose parameters and buffers are fake tensors on `device` (no data),
    4-d ones in channels_last when asked (as the loop's model.to(memory_format=...) leaves them)."""

    def fake(tensor: torch.Tensor) -> torch.Tensor:
        layout = torch.channels_last if channels_last and tensor.ndim == 4 else torch.contiguous_format
        return torch.empty_like(tensor, device=device, memory_format=layout)

    memo: dict[int, Any] = {}
    with mode:
        for param in model.parameters():
            memo[id(param)] = nn.Parameter(fake(param), param.requires_grad)
        for buffer in model.buffers():
            memo[id(buffer)] = fake(buffer)
    return copy.deepcopy(model, memo)


def _inputs(task: Any, batch_size: int, input_size: tuple[int, int, int]) -> tuple[Any, Any]:
    """Return a batch of images and targets shaped as `task` trains on (inside a fake mode)."""
    channels, height, width = input_size
    x = torch.empty(batch_size, channels, height, width)
    if task.name == "classification":
        return x, torch.zeros(batch_size, dtype=torch.long)
    return x, torch.zeros(batch_size, height, width, dtype=torch.long)


def _total(snapshot: dict[torch.device, dict[Any, int]], *kinds: str) -> int:
    """Return the bytes of `kinds` (MemTracker's categories; none: all) over every device."""
    if not kinds:
        return sum(per.get("Total", 0) for per in snapshot.values())
    return sum(
        value
        for per in snapshot.values()
        for key, value in per.items()
        if getattr(key, "value", key) in kinds
    )


def step_memory(
    model: nn.Module,
    config: Any,
    input_size: tuple[int, int, int],
    precision: Precision,
    batch_size: int | None = None,
) -> StepMemory:
    """Return the memory of one training step of `model` as `config` (a TrainConfig) trains it (its
    optimizer, frozen parts, precision, channels_last) at `batch_size` (default: config's), on fake
    tensors: nothing of that size is allocated."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from engine.edit.freeze import frozen_batchnorm_to_eval
    from engine.train.optim import make_optimizer
    from engine.train.params import param_groups
    from engine.train.tasks import task_for

    batch_size = batch_size or config.batch_size
    task = task_for(model)
    if task.name not in ESTIMATED_TASKS:
        raise BadInput(
            f"the memory estimate covers classifiers and segmentation models; this is a "
            f"{task.name.replace('_', ' ')} model",
            "its targets (boxes, masks, keypoints) vary per image",
            "launch with a small batch and watch the job's memory",
        )
    task.prepare(model, config)
    device = torch.device(
        precision.device_type if precision.device_type != "cuda" or torch.cuda.is_available() else "cpu"
    )
    precision = Precision(precision.name, device.type, precision.why)  # autocast where the fakes live
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake = _fake_copy(model, mode, device, config.channels_last)
    fake.train()
    if config.freeze_bn:
        frozen_batchnorm_to_eval(fake)
    with mode:
        optimizer = make_optimizer(param_groups(fake, config, config.head or task.head(fake)), config)
        tracker = _tracker()
        tracker.track_external(fake, optimizer)
        with tracker:
            x, y = _inputs(task, batch_size, input_size)
            x, y = x.to(device), y.to(device)
            if config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            before = _total(tracker.get_tracker_snapshot())
            try:
                with precision.autocast():
                    loss, _ = task.train_step(fake, x, y)
            except (RuntimeError, AssertionError, ValueError) as error:  # ViT: torch._assert
                shape = "x".join(str(n) for n in input_size)
                raise BadInput(
                    f"cannot estimate the memory of a step on {shape} images",
                    f"the model's forward pass fails on them: {str(error).splitlines()[0]}",
                    "set image_size to a size the model takes (or check its edits)",
                ) from None
            after_forward = _total(tracker.get_tracker_snapshot())
            loss.backward()
            gradients = _total(tracker.get_tracker_snapshot(), "Gradient")
            optimizer.step()
            optimizer_state = _total(tracker.get_tracker_snapshot(), "Optstate")
            optimizer.zero_grad(set_to_none=True)
        snapshot = tracker.get_tracker_snapshot("peak")
    weights = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    batch = x.numel() * x.element_size() + y.numel() * y.element_size()
    ema = weights + 8 if config.ema_decay else 0  # AveragedModel: a copy and its int64 count
    return StepMemory(
        batch_size,
        weights,
        gradients,
        optimizer_state,
        batch,
        after_forward - before,
        _total(snapshot) + ema,
        ema,
    )


@dataclass
class MemoryEstimate:
    """The estimate `ptm-tui finetune --estimate-memory` shows: one step's memory, the device's
    free memory, and the largest batch that fits when the asked one does not."""

    device: str
    precision: str
    input_size: list[int]
    step: StepMemory
    per_image: int
    """Bytes each further image of the batch adds to the peak."""
    free: int | None
    """Bytes the device has free here (the CPU: available RAM); None when it is not here."""
    largest_batch: int | None
    """The largest batch whose step fits in `free` (None when free is unknown)."""
    assumed: str | None = None
    """What the estimate had to assume (a GPU not here: whether amp = auto runs bf16 on it)."""

    @property
    def fits(self) -> bool | None:
        """Whether the step's peak fits in the free memory (None when unknown)."""
        return None if self.free is None else self.step.peak <= self.free

    def warning(self) -> str | None:
        """Return the warning for a batch that cannot fit, with the largest one that would."""
        if self.fits is not False:
            return None
        room = f"{gib(self.free or 0)} free on {self.device}"
        if not self.largest_batch:
            return (
                f"warning: one step needs about {gib(self.step.peak)} and {room}; even batch_size = 1 "
                "does not fit (freeze more, a smaller image_size, or amp)"
            )
        return (
            f"warning: batch_size = {self.step.batch_size} needs about {gib(self.step.peak)} and {room}; "
            f"the largest batch that fits is about {self.largest_batch} (or accumulate_steps)"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the estimate as plain data (bytes), for --json."""
        return {
            "device": self.device,
            "precision": self.precision,
            "input_size": self.input_size,
            **asdict(self.step),
            "per_image": self.per_image,
            "free": self.free,
            "fits": self.fits,
            "largest_batch": self.largest_batch,
            "warning": self.warning(),
            "assumed": self.assumed,
        }


def gib(count: int) -> str:
    """Return a byte count in KiB, MiB or GiB, as people read memory (never a bare "0.0 MiB")."""
    if count >= 2**30:
        return f"{count / 2**30:.2f} GiB"
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 2**10:.1f} KiB"


def largest_batch(one: StepMemory, many: StepMemory, free: int) -> int:
    """Return the largest batch whose peak fits in `free`, from two steps' peaks (linear in the batch)."""
    per = (many.peak - one.peak) / max(many.batch_size - one.batch_size, 1)
    fixed = one.peak - per * one.batch_size
    if per <= 0:
        return MAX_BATCH if fixed <= free else 0
    return max(0, min(MAX_BATCH, int((free - fixed) // per)))


def estimate_memory(
    model: nn.Module,
    config: Any,
    input_size: tuple[int, int, int],
    device: torch.device,
    precision: Precision,
    free: int | None,
    processes: int = 1,
) -> MemoryEstimate:
    """Return the estimate of one step at config.batch_size on `device`, beside its `free` bytes;
    with `processes` > 1 (torchrun: DDP) each process's step, batch_size being per process."""
    step = step_memory(model, config, input_size, precision)
    other = step_memory(
        model,
        config,
        input_size,
        precision,
        # a second batch size for the per-image slope, never 1: BatchNorm cannot train on one
        # image where a late feature map is 1x1 (small images), though the asked batch can
        batch_size=step.batch_size // 2 if step.batch_size >= 4 else step.batch_size * 2,
    )
    if processes > 1:
        step, other = under_ddp(step, model), under_ddp(other, model)
    one, many = sorted((step, other), key=lambda s: s.batch_size)
    per_image = int((many.peak - one.peak) / max(many.batch_size - one.batch_size, 1))
    largest = None if free is None else largest_batch(one, many, free)
    return MemoryEstimate(str(device), precision.name, list(input_size), step, per_image, free, largest)


def estimate_for_recipe(
    recipe: Any, overrides: dict[str, Any] | None = None, processes: int = 1
) -> MemoryEstimate:
    """Build the recipe's model on the meta device without its weights file (nothing is downloaded)
    and return its step's estimate, the preset applied, on the device its [train] table names (free
    memory only when that device is here)."""
    from dataclasses import replace

    from engine.edit.recipe import STRUCTURAL, build, check_edits
    from engine.train.config import train_config

    config = train_config(recipe.train, overrides, model=recipe.model)
    # the named weights' architecture (a segmenter's aux classifier), with what freezing changes
    workbench = check_edits(recipe, apply=(*STRUCTURAL, "freeze", "unfreeze"))
    if workbench is None:  # a weights file or URL, a user's model: random init's architecture
        workbench = build(replace(recipe, model={**recipe.model, "weights": "none"}), device="meta")
    return estimate_for_model(workbench.model, catalog_meta(recipe.model), config, processes)


def catalog_meta(model: dict[str, Any]) -> dict[str, Any] | None:
    """Return the catalog's meta of the recipe's named weights (their input size), or None for
    random init, a file, a URL or a model outside the catalog."""
    from engine.models import catalog

    try:
        weights = catalog.resolve_weights(str(model.get("name", "")), str(model.get("weights", "none")))
    except (BadInput, KeyError, ValueError):
        return None
    return weights.to_dict() if weights is not None else None


def estimate_for_model(
    model: nn.Module, meta: dict[str, Any] | None, config: Any, processes: int = 1
) -> MemoryEstimate:
    """Return the step's estimate for `model` (real or meta; left untouched) as `config` trains it
    in each of `processes` (torchrun), its input size from config.image_size or the weights' `meta`."""
    from engine.train.data import preprocessing
    from engine.train.precision import choose_precision
    from engine.use.channels import input_channels
    from engine.use.devices import free_memory

    size = preprocessing(config, meta, input_channels(model))["input_size"]
    device = device_here(config.device)
    if device is None:  # a GPU that is not here (a Slurm node's): estimate the step as it would run there
        device = torch.device(config.device)
        name = {"off": "fp32", "auto": "bf16"}.get(config.amp, config.amp)
        precision, free = Precision(name, "cuda", "the GPU is not on this machine"), None
    else:
        precision, free = choose_precision(config.amp, device), free_memory(str(device))
    estimate = estimate_memory(model, config, tuple(size), device, precision, free, processes)
    if free is None and config.amp == "auto":
        estimate.assumed = AUTO_ASSUMED
    return estimate


AUTO_ASSUMED = "assumed: amp = auto is bf16 on a GPU that has it (fp32 on a GPU without bf16)"
"""Said when a GPU that is not here is estimated with amp = auto: its bf16 support is unknown."""


def device_here(spec: str) -> torch.device | None:
    """Return the device `spec` names when it is on this machine, else None."""
    from engine.train.dist import resolve_device

    try:
        return resolve_device(spec)
    except BadInput:
        return None
