"""Model surgery as small functions on nn.Module: head, input channels, replace/insert/delete."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import torch
from torch import nn

from engine.edit.size_limit import build_within_limit, check_size
from engine.errors import BadInput
from engine.inspect.heads import find_head, find_input_conv
from engine.paths import get_module, set_module, split_path

HEAD_INITS = (
    "default",
    "zeros",
    "normal",
    "trunc_normal",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
)
STRATEGIES = ("repeat", "sum", "zero")


# --- finding the head and the input conv ---------------------------------------------------------


def head_target(model: nn.Module, target: str | None) -> str:
    """Return `target`, or the found head when it is None; raise BadInput when there is no path."""
    path = target if target is not None else find_head(model)
    if not path:
        raise BadInput(
            "cannot find this model's head",
            "no final Linear or conv classifier was found",
            'name the head with target = "path.to.layer"',
        )
    return path


def input_conv_target(model: nn.Module, target: str | None) -> str:
    """Return `target`, or the found input conv when it is None; raise BadInput when no path."""
    path = target if target is not None else find_input_conv(model)
    if not path:
        raise BadInput(
            "cannot find this model's input conv",
            "no conv layer was found",
            'name it with target = "path.to.conv"',
        )
    return path


def _like(new: nn.Module, old: nn.Module) -> nn.Module:
    """Return `new` moved to the device and floating dtype of `old`'s parameters."""
    ref = next(old.parameters(), None)
    if ref is None:
        ref = next(old.buffers(), None)
    if ref is None:
        return new
    if ref.is_floating_point():
        return new.to(device=ref.device, dtype=ref.dtype)
    return new.to(device=ref.device)


def _init_head(layer: nn.Module, method: str) -> None:
    """Initialise a new head's weight by `method`; its bias starts at zero (except "default")."""
    if method == "default":
        return
    weight = layer.weight
    with torch.no_grad():
        if method == "zeros":
            nn.init.zeros_(weight)
        elif method == "normal":
            nn.init.normal_(weight, std=0.01)
        elif method == "trunc_normal":
            nn.init.trunc_normal_(weight, std=0.02)
        else:
            getattr(nn.init, f"{method}_")(weight)
        if getattr(layer, "bias", None) is not None:
            nn.init.zeros_(layer.bias)


def new_head(old: nn.Module, num_classes: int, init: str = "default") -> nn.Module:
    """Return a fresh head like `old` (Linear or conv) with `num_classes` outputs, same inputs."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise BadInput(
            f"cannot make a head with {num_classes!r} classes",
            "num_classes must be a whole number of at least 1",
            "e.g. num_classes = 10",
        )
    if init not in HEAD_INITS:
        raise BadInput(
            f"unknown head init {init!r}",
            f"the methods are: {', '.join(HEAD_INITS)}",
            "pick one of them",
        )
    bias = getattr(old, "bias", None) is not None
    if isinstance(old, nn.Linear):
        def build() -> nn.Module:
            return nn.Linear(old.in_features, num_classes, bias=bias)
    elif isinstance(old, nn.modules.conv._ConvNd) and not old.transposed:
        def build() -> nn.Module:
            return type(old)(old.in_channels, num_classes, old.kernel_size, stride=old.stride,
                             padding=old.padding, dilation=old.dilation, bias=bias)
    else:
        raise BadInput(
            f"cannot replace a {type(old).__name__} head",
            "a head must be a Linear or a conv layer",
            "name the Linear or conv classifier with `target`",
        )
    layer = build_within_limit(build, "a new head", f"num_classes={num_classes}")
    _init_head(layer, init)
    return _like(layer, old)


def replace_head(
    model: nn.Module, num_classes: int, target: str | None = None, init: str = "default"
) -> str:
    """Replace the classifier head with one of `num_classes` outputs; return the head's path."""
    path = head_target(model, target)
    set_module(model, path, new_head(get_module(model, path), num_classes, init))
    return path


# --- input channels -------------------------------------------------------------------------------


def adapt_weight(weight: torch.Tensor, channels: int, strategy: str) -> torch.Tensor:
    """Return a conv kernel adapted from its input channels to `channels` by `strategy`."""
    old = weight.shape[1]
    if strategy == "repeat":
        repeat = math.ceil(channels / old)
        return weight.repeat(1, repeat, *([1] * (weight.dim() - 2)))[:, :channels] * (
            old / channels
        )
    if strategy == "sum":
        if channels != 1:
            raise BadInput(
                f"strategy 'sum' cannot give {channels} channels",
                "summing the kernel over its input channels makes one channel",
                "use channels = 1 with 'sum', or 'repeat'/'zero' for more channels",
            )
        return weight.sum(dim=1, keepdim=True)
    if strategy == "zero":
        if channels < old:
            raise BadInput(
                f"strategy 'zero' cannot go from {old} to {channels} channels",
                "'zero' keeps the existing channels and adds new ones at zero",
                "use 'repeat' or 'sum' to reduce channels",
            )
        shape = (weight.shape[0], channels, *weight.shape[2:])
        new = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        new[:, :old] = weight
        return new
    raise BadInput(
        f"unknown strategy {strategy!r}",
        f"the strategies are: {', '.join(STRATEGIES)}",
        "repeat (timm's way), sum (1 channel) or zero (extra channels start at 0)",
    )


def adapt_input(
    model: nn.Module, channels: int, strategy: str = "repeat", target: str | None = None
) -> str:
    """Change the first conv to `channels` input channels, adapting its kernel; return its path."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise BadInput(
            f"cannot adapt the input to {channels!r} channels",
            "channels must be a whole number of at least 1",
            "e.g. channels = 4",
        )
    path = input_conv_target(model, target)
    conv = get_module(model, path)
    if not isinstance(conv, nn.modules.conv._ConvNd) or conv.transposed:
        raise BadInput(
            f"'{path}' is a {type(conv).__name__}, not a conv layer",
            "adapt_input changes a conv's input channels",
            "name a Conv layer as target",
        )
    if conv.groups != 1:
        raise BadInput(
            f"cannot adapt '{path}'",
            f"it is a grouped conv (groups={conv.groups})",
            "adapt a conv with groups=1",
        )
    shape = conv.weight.shape
    check_size(shape[0] * channels * math.prod(shape[2:]), f"the adapted input conv '{path}'",
               f"channels={channels}")
    with torch.no_grad():
        weight = adapt_weight(conv.weight.detach(), channels, strategy)
    new = copy.deepcopy(conv)
    new.in_channels = channels
    new.weight = nn.Parameter(weight.contiguous(), requires_grad=conv.weight.requires_grad)
    set_module(model, path, new)
    return path


# --- replace / insert / delete --------------------------------------------------------------------


def _renumber(parent: nn.Sequential, items: list[tuple[str, nn.Module]]) -> None:
    """Set a Sequential's children, renumbering them 0..n-1 when they were numbered."""
    numbered = all(name.isdigit() for name, _ in items)
    if numbered:
        parent._modules = OrderedDict((str(i), m) for i, (_, m) in enumerate(items))
    else:
        parent._modules = OrderedDict(items)


def in_sequential(model: nn.Module, path: str) -> bool:
    """Tell whether the module at `path` sits directly in an nn.Sequential."""
    if not path:
        return False
    parent_path, _ = split_path(path)
    return isinstance(get_module(model, parent_path), nn.Sequential)


def _free_name(parent: nn.Module, base: str) -> str:
    name, n = f"{base}_new", 1
    while name in parent._modules:
        n += 1
        name = f"{base}_new{n}"
    return name


def replace(model: nn.Module, path: str, new: nn.Module) -> nn.Module:
    """Put `new` at `path` (moved to the old module's device/dtype); return the old module."""
    if not path:
        raise BadInput(
            "cannot replace the whole model",
            "the target path is empty",
            "name a layer inside the model",
        )
    old = get_module(model, path)
    set_module(model, path, _like(new, old))
    return old


def insert(model: nn.Module, path: str, new: nn.Module, after: bool) -> str:
    """Insert `new` before/after the module at `path`; return where it went."""
    if not path:
        raise BadInput(
            "cannot insert around the whole model",
            "the target path is empty",
            "name a layer inside the model",
        )
    old = get_module(model, path)
    new = _like(new, old)
    parent_path, name = split_path(path)
    parent = get_module(model, parent_path)
    if isinstance(parent, nn.Sequential):
        items = list(parent._modules.items())
        index = [n for n, _ in items].index(name) + (1 if after else 0)
        numbered = all(n.isdigit() for n, _ in items)
        items.insert(index, (str(index) if numbered else _free_name(parent, name), new))
        _renumber(parent, items)
        new_name = str(index) if numbered else items[index][0]
        return f"{parent_path}.{new_name}" if parent_path else new_name
    pair = (old, new) if after else (new, old)
    set_module(model, path, nn.Sequential(*pair))
    return f"{path}.{1 if after else 0}"


def insert_before(model: nn.Module, path: str, new: nn.Module) -> str:
    """Insert `new` before the module at `path`; return the new module's path."""
    return insert(model, path, new, after=False)


def insert_after(model: nn.Module, path: str, new: nn.Module) -> str:
    """Insert `new` after the module at `path`; return the new module's path."""
    return insert(model, path, new, after=True)


def delete(model: nn.Module, path: str) -> str:
    """Remove the module at `path` (from its Sequential, or replaced by Identity); return how."""
    if not path:
        raise BadInput(
            "cannot delete the whole model",
            "the target path is empty",
            "name a layer inside the model",
        )
    get_module(model, path)
    parent_path, name = split_path(path)
    parent = get_module(model, parent_path)
    if isinstance(parent, nn.Sequential):
        items = [(n, m) for n, m in parent._modules.items() if n != name]
        _renumber(parent, items)
        return "removed"
    set_module(model, path, nn.Identity())
    return "replaced by Identity"
