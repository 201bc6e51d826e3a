"""Initialisation applied to a model, a subtree or a layer type: selection, reports and presets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.edit.init_methods import (
    WHAT,
    check_fits,
    check_range,
    get_method,
    init_tensor,
    is_bias,
    resolve_params,
)
from engine.errors import BadInput
from engine.paths import get_module
from engine.words import plural


def _type_matches(module: nn.Module, layer_type: str | None) -> bool:
    if not layer_type:
        return True
    wanted = {t.strip().lower() for t in layer_type.split(",") if t.strip()}
    return type(module).__name__.lower() in wanted


def select_tensors(model: nn.Module, target: str = "", layer_type: str | None = None,
                   what: str = "weight") -> list[tuple[str, nn.Parameter]]:
    """Return (full name, parameter) of every weight and/or bias under `target` of `layer_type`."""
    if what not in WHAT:
        raise BadInput(f"what={what!r} is not one of {', '.join(WHAT)}",
                       "it says which tensors to initialise", "use weight, bias or both")
    root = get_module(model, target)
    prefix = f"{target}." if target else ""
    found: list[tuple[str, nn.Parameter]] = []
    types: set[str] = set()
    for path, module in root.named_modules():
        types.add(type(module).__name__)
        if not _type_matches(module, layer_type):
            continue
        for name, param in module.named_parameters(recurse=False):
            bias = is_bias(name)
            if what == "both" or (what == "bias") == bias:
                found.append((f"{prefix}{path + '.' if path else ''}{name}", param))
    if not found:
        where = f"'{target}'" if target else "the model"
        kind = f" of type {layer_type}" if layer_type else ""
        raise BadInput(f"no {what if what != 'both' else 'weights or biases'} to initialise in "
                       f"{where}{kind}",
                       f"layer types there: {', '.join(sorted(types)[:15])}",
                       "pick another target, layer type or which tensors (weight/bias/both)")
    return found


@dataclass
class InitReport:
    """What an init changed: how many tensors and elements, and their names."""

    method: str
    params: dict[str, Any]
    tensors: list[str]
    elements: int

    def summary(self, target: str = "") -> str:
        """Return a one-line description of the init."""
        args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in self.params.items())
        return (f"initialised {target or 'the whole model'} with {self.method}({args}): "
                f"{plural(len(self.tensors), 'tensor')}, {plural(self.elements, 'value')}")


def apply_init(model: nn.Module, method: str, params: dict[str, Any] | None = None,
               target: str = "", layer_type: str | None = None, what: str = "weight",
               generator: torch.Generator | None = None) -> InitReport:
    """Initialise the chosen tensors in place (all checked before any change); return a report."""
    spec = get_method(method)
    values = resolve_params(spec.name, params)
    tensors = select_tensors(model, target, layer_type, what)
    for name, param in tensors:
        check_fits(spec.name, param, name)
        check_range(spec.name, values, param, name)
        if spec.name == "dirac" and param.shape[0] % values["groups"]:
            raise BadInput(f"dirac does not fit {name} ({param.shape[0]} output channels)",
                           f"groups={values['groups']} must divide the output channels",
                           "pick groups that divides them")
    for _, param in tensors:
        init_tensor(param, spec.name, values, generator)
    elements = sum(p.numel() for _, p in tensors)
    return InitReport(spec.name, values, [n for n, _ in tensors], elements)


PRESETS: dict[str, str] = {
    "common": "conv weights kaiming_normal(fan_out, relu), conv/linear biases 0, "
              "BatchNorm/GroupNorm/LayerNorm weight 1 and bias 0, linear weights xavier_normal",
}

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d,
         nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm,
         nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.SyncBatchNorm)


def apply_preset(model: nn.Module, target: str = "", preset: str = "common",
                 generator: torch.Generator | None = None) -> InitReport:
    """Initialise a model or subtree with a named preset (see PRESETS) and return a report."""
    if preset not in PRESETS:
        raise BadInput(f"unknown init preset {preset!r}", f"the presets are: {', '.join(PRESETS)}",
                       "pick one of those")
    root = get_module(model, target)
    prefix = f"{target}." if target else ""
    names: list[str] = []
    elements = 0
    with torch.no_grad():
        for path, module in root.named_modules():
            weight = getattr(module, "weight", None)
            bias = getattr(module, "bias", None)
            here = f"{prefix}{path + '.' if path else ''}"
            if isinstance(module, _CONV):
                todo = [("weight", weight, "kaiming_normal",
                         {"mode": "fan_out", "nonlinearity": "relu"}), ("bias", bias, "zeros", {})]
            elif isinstance(module, nn.Linear):
                todo = [("weight", weight, "xavier_normal", {}), ("bias", bias, "zeros", {})]
            elif isinstance(module, _NORM):
                todo = [("weight", weight, "ones", {}), ("bias", bias, "zeros", {})]
            else:
                continue
            for name, tensor, method, params in todo:
                if isinstance(tensor, torch.Tensor) and tensor.numel():
                    init_tensor(tensor, method, params, generator)
                    names.append(here + name)
                    elements += tensor.numel()
    if not names:
        raise BadInput(f"preset {preset!r} found nothing to initialise in "
                       f"{repr(target) if target else 'the model'}",
                       "it covers conv, linear and normalisation layers only",
                       "pick a target that contains such layers")
    return InitReport(f"preset {preset}", {}, names, elements)


@dataclass
class TensorStats:
    """Mean, std, min and max over a set of tensors."""

    count: int
    mean: float
    std: float
    min: float
    max: float


def selection_stats(model: nn.Module, target: str = "", layer_type: str | None = None,
                    what: str = "weight") -> TensorStats:
    """Return statistics over the tensors `select_tensors` picks (what an init would change)."""
    tensors = select_tensors(model, target, layer_type, what)
    count, total, squares = 0, 0.0, 0.0
    low, high = math.inf, -math.inf
    with torch.no_grad():  # streamed tensor by tensor: no copy of a whole model in memory
        for _, param in tensors:
            if param.numel() == 0 or param.is_meta:
                continue
            values = param.detach().double()
            count += values.numel()
            total += values.sum().item()
            squares += (values * values).sum().item()
            low = min(low, values.min().item())
            high = max(high, values.max().item())
    if count == 0:
        return TensorStats(0, 0.0, 0.0, 0.0, 0.0)
    mean = total / count
    variance = max(squares - count * mean * mean, 0.0) / (count - 1) if count > 1 else 0.0
    return TensorStats(count, mean, math.sqrt(variance), low, high)
