"""The depth/std experiment and per-layer activation stds of a real model."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.edit.init_methods import check_seed, default_params, get_method, init_tensor, resolve_params
from engine.errors import BadInput, WorkFailed
from engine.use.devices import free_memory, model_device
from engine.use.features import first_tensor
from engine.use.images import IMAGE_SUFFIXES, load_image
from engine.use.preprocess import IMAGENET_MEAN, IMAGENET_STD

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": lambda x: x,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda x: nn.functional.leaky_relu(x, 0.01),
    "sigmoid": torch.sigmoid,
    "gelu": nn.functional.gelu,
}
"""The activations the experiment offers (leaky_relu has slope 0.01)."""


@dataclass
class LabConfig:
    """One run of the std experiment: a `depth`-layer MLP of `width` units fed a random batch."""

    depth: int = 100
    width: int = 256
    batch: int = 256
    activation: str = "tanh"
    init: str = "xavier_uniform"
    params: dict[str, Any] = field(default_factory=dict)
    gain: float | str | None = "auto"
    """"auto": calculate_gain(activation) (and kaiming's nonlinearity); a float; None: torch's."""
    bias: bool = False
    seed: int = 0
    device: str = "cpu"

    def label(self) -> str:
        """Return a short legend label for this run, e.g. "xavier_uniform(gain=1.67) / tanh"."""
        try:
            params = lab_params(self)
        except BadInput:
            params = dict(self.params)
        shown = {k: v for k, v in params.items() if k in ("gain", "nonlinearity", "mode")
                 or k in self.params}
        args = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in shown.items())
        return f"{self.init}({args}) / {self.activation}{' +bias' if self.bias else ''}"


def lab_params(config: LabConfig) -> dict[str, Any]:
    """Return the checked init parameters a config stands for (gain "auto" resolved)."""
    method = get_method(config.init)
    explicit = dict(config.params)
    if config.gain == "auto":
        values = default_params(method.name, config.activation)
        auto = {k: v for k, v in values.items() if k in ("gain", "nonlinearity", "a")}
        if "nonlinearity" in explicit:  # the user's nonlinearity wins over the activation's
            auto.pop("a", None)
        return resolve_params(method.name, {**auto, **explicit})
    if config.gain is not None:
        if not method.has_gain:
            raise BadInput(f"{method.name} takes no gain",
                           "only xavier_uniform, xavier_normal and orthogonal have a gain "
                           "(kaiming takes nonlinearity and a)",
                           "drop --gain, or give --param nonlinearity=... for kaiming")
        try:
            explicit["gain"] = float(config.gain)
        except (TypeError, ValueError):
            raise BadInput(f"gain {config.gain!r} is not a number", "gain scales the init",
                           "give auto or a number such as 1.0") from None
    return resolve_params(method.name, explicit)


def _check(config: LabConfig) -> None:
    check_seed(config.seed)
    for name in ("depth", "width", "batch"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise BadInput(f"{name} must be a positive whole number, not {value!r}",
                           "the experiment needs at least one layer, unit and sample",
                           f"give --{name} 1 or more")
    if config.activation not in ACTIVATIONS:
        raise BadInput(f"unknown activation {config.activation!r}",
                       f"the activations are: {', '.join(ACTIVATIONS)}", "pick one of those")
    if config.width * config.width * 4 > 2**31 or config.batch * config.width > 2**28:
        raise BadInput(f"width {config.width} x batch {config.batch} is too large",
                       "each layer holds a width x width matrix and a batch x width activation",
                       "use a width up to 16384 and a smaller batch")
    _check_memory(config)


def lab_bytes(config: LabConfig) -> int:
    """Return the bytes a run holds at once: the weight, the bias and three batch x width tensors."""
    return 4 * (config.width * config.width + config.width + 3 * config.batch * config.width)


def _check_memory(config: LabConfig) -> None:
    """Raise BadInput when the run would not fit in the device's free memory."""
    needed, free = lab_bytes(config), free_memory(config.device)
    if free is not None and needed > free:
        raise BadInput(f"width {config.width} x batch {config.batch} needs {needed / 2**30:.2f} GiB "
                       f"on {config.device}", f"only {free / 2**30:.2f} GiB is free there",
                       "use a smaller --width or --batch")


def output_std(x: torch.Tensor) -> float:
    """Return the std of a layer's output: inf/nan only when the output itself is not finite.

    The float32 std overflows (its squares pass 3.4e38) while the outputs are still finite; then
    the std is taken again in float64, so the curves keep their float32 values where those exist.
    """
    if x.numel() < 2:
        return 0.0
    std = x.std().item()
    if not math.isfinite(std) and bool(torch.isfinite(x).all()):
        std = x.double().std().item()
    return std


class StdExperiment:
    """Iterate to get (layer_index, std) of each layer's output; stops at the first non-finite.

    After iteration, `stds` holds every finite std and `first_nonfinite_layer` the index of the
    layer whose output turned inf/nan (None when all stayed finite).
    """

    def __init__(self, config: LabConfig) -> None:
        _check(config)
        self.config = config
        self.params = lab_params(config)
        self.stds: list[float] = []
        self.first_nonfinite_layer: int | None = None

    def __iter__(self) -> Iterator[tuple[int, float]]:
        config = self.config
        method = get_method(config.init).name
        act = ACTIVATIONS[config.activation]
        generator = torch.Generator(device=config.device).manual_seed(config.seed)
        device = torch.device(config.device)
        try:
            yield from self._layers(method, act, generator, device)
        except RuntimeError as error:  # torch.OutOfMemoryError is one too
            if "memory" not in str(error).lower():
                raise
            raise WorkFailed(f"the init lab ran out of memory on {config.device}",
                             str(error).splitlines()[0], "use a smaller --width or --batch") from None

    def _layers(self, method: str, act: Callable[[torch.Tensor], torch.Tensor],
                generator: torch.Generator, device: torch.device) -> Iterator[tuple[int, float]]:
        """Yield (layer, std) of each layer's output until one is not finite."""
        config = self.config
        weight = torch.empty(config.width, config.width, device=device)
        bias = torch.empty(config.width, device=device)
        bound = 1.0 / math.sqrt(config.width)
        with torch.no_grad():
            x = torch.randn(config.batch, config.width, generator=generator, device=device)
            for layer in range(config.depth):
                init_tensor(weight, method, self.params, generator)
                x = x @ weight.T
                if config.bias:  # torch's default Linear bias: U(±1/√fan_in)
                    bias.uniform_(-bound, bound, generator=generator)
                    x = x + bias
                x = act(x)
                std = output_std(x)
                if not math.isfinite(std):
                    self.first_nonfinite_layer = layer
                    return
                self.stds.append(std)
                yield layer, std


@dataclass
class LabResult:
    """The outcome of one std experiment."""

    stds: list[float]
    first_nonfinite_layer: int | None
    label: str = ""

    def verdict(self) -> str:
        """Return one line saying whether activations stayed healthy, vanished or exploded."""
        if self.first_nonfinite_layer is not None:
            return f"exploded: layer {self.first_nonfinite_layer} output is not finite (inf/nan)"
        if not self.stds:
            return "no layers"
        last = self.stds[-1]
        if last < 1e-3:
            return f"vanished: std {last:.3g} after {len(self.stds)} layers"
        if last > 1e3:
            return f"exploding: std {last:.3g} after {len(self.stds)} layers"
        return f"healthy: std {last:.3g} after {len(self.stds)} layers"


def run_lab(config: LabConfig, progress: Callable[[int, float], None] | None = None) -> LabResult:
    """Run the whole experiment and return its stds and first non-finite layer."""
    experiment = StdExperiment(config)
    for layer, std in experiment:
        if progress is not None:
            progress(layer, std)
    return LabResult(experiment.stds, experiment.first_nonfinite_layer, config.label())


@dataclass
class LayerStd:
    """The output std of one leaf layer call during a forward pass."""

    index: int
    path: str
    type: str
    std: float
    shape: tuple[int, ...]


def activation_stds(model: nn.Module, batch: torch.Tensor | None = None,
                    input_size: tuple[int, ...] | None = None, batch_size: int = 8, seed: int = 0,
                    train_mode: bool = False) -> list[LayerStd]:
    """Forward a batch (random N(0,1) of `input_size` if none) and return each leaf layer's std."""
    if batch is None:
        if not input_size:
            raise BadInput("no input to measure activations with",
                           "the model's input size is unknown and no batch was given",
                           "give an input size such as 1,3,224,224 or a folder of images")
        size = (batch_size, *tuple(input_size)[1:])
        generator = torch.Generator().manual_seed(seed)
        batch = torch.randn(size, generator=generator)
    device = model_device(model)
    if device.type == "meta":
        raise BadInput("the model has no weights in memory (it is on the meta device)",
                       "activations need real weights", "open the model on cpu or cuda")
    batch = batch.to(device)
    records: list[LayerStd] = []
    handles = []

    def hook_for(path: str, kind: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            tensor = first_tensor(output)
            if tensor is None or not tensor.is_floating_point():
                return
            std = output_std(tensor.detach().float())
            records.append(LayerStd(len(records), path, kind, std, tuple(tensor.shape)))
        return hook

    for path, module in model.named_modules():
        if path and not any(True for _ in module.children()):
            handles.append(module.register_forward_hook(hook_for(path, type(module).__name__)))
    was_training = model.training
    model.train(train_mode)
    try:
        with torch.no_grad():
            model(batch)
    except Exception as error:
        raise BadInput("the model could not run on the measurement batch",
                       f"{type(error).__name__}: {error}",
                       f"check the input size ({tuple(batch.shape)}) fits the model") from error
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return records


def first_nonfinite(records: list[LayerStd]) -> LayerStd | None:
    """Return the first layer whose output is not finite (inf/nan; None when all are finite)."""
    return next((r for r in records if not math.isfinite(r.std)), None)


def images_batch(folder: str, size: tuple[int, int], limit: int = 8,
                 mean: tuple[float, ...] = IMAGENET_MEAN,
                 std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """Return up to `limit` images of a folder, resized/cropped to `size`, normalised: [N,3,H,W]."""
    from pathlib import Path

    from torchvision.transforms.v2 import functional as F

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise BadInput(f"no folder {folder!r}", "the path is not a folder",
                       "give a folder that contains images")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise BadInput(f"no images in {folder!r}", f"no {', '.join(IMAGE_SUFFIXES)} files there",
                       "point it at a folder of images")
    tensors = []
    for path in files:
        picture = F.pil_to_tensor(load_image(path)[1])
        picture = F.resize(picture, [min(size)], antialias=True)
        picture = F.center_crop(picture, list(size))
        tensors.append(F.normalize(picture.float() / 255.0, list(mean), list(std)))
    return torch.stack(tensors)
