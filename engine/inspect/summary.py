"""Output shapes and mult-adds of every layer, via torchinfo on a meta copy (costs no memory)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.errors import BadInput, WorkFailed
from engine.inspect.meta import DEFAULT_INPUT, meta_copy


@dataclass
class LayerSummary:
    """What one layer does in a forward pass of the given input size."""

    output_shape: tuple[int, ...] | list[Any] | None
    """The output shape (batch included); a list of shapes for tuple outputs; None if unknown."""
    mult_adds: int
    """Multiply-adds of the layer and everything under it, as torchinfo counts them."""
    params: int
    """Parameters of the layer and everything under it (shared tensors counted once)."""
    type: str = ""
    depth: int = 0
    calls: int = 1
    """How many times the forward pass ran this layer (shared or recurrent layers: more than 1)."""


def parse_input_size(text: str) -> tuple[int, ...]:
    """Return "1,3,224,224" (or "1x3x224x224") as a tuple of positive ints, or raise BadInput."""
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if not size or any(n <= 0 for n in size):
        raise BadInput(f"bad input size {text!r}",
                       "it must be positive whole numbers separated by commas, batch first",
                       "write it like 1,3,224,224")
    return size


def _check_size(input_size: Any) -> tuple[int, ...]:
    if isinstance(input_size, str):
        return parse_input_size(input_size)
    try:
        size = tuple(int(n) for n in input_size)
    except (TypeError, ValueError):
        size = ()
    if not size or any(n <= 0 for n in size) or any(int(n) != n for n in input_size):
        raise BadInput(f"bad input size {input_size!r}",
                       "it must be a list of positive whole numbers",
                       "pass e.g. (1, 3, 224, 224): batch, channels, height, width")
    return size


def _shape(value: Any) -> tuple[int, ...] | list[Any] | None:
    if not value:
        return None
    if all(isinstance(n, int) for n in value):
        return tuple(value)
    return [_shape(v) if isinstance(v, (list, tuple)) else v for v in value]


def summarize(model: nn.Module, input_size: Any = None) -> dict[str, LayerSummary]:
    """Return output shape, mult-adds and params of every layer the forward pass runs, by path.

    The root ("") comes first with the model's totals; the others follow in the order the
    forward pass runs them. The model itself is not touched: torchinfo runs on a meta copy.
    """
    import torchinfo

    from engine.inspect.tree import layer_tree

    size = _check_size(input_size if input_size is not None else DEFAULT_INPUT)
    copied = meta_copy(model)
    paths = {id(module): path for path, module in copied.named_modules()}
    tree = layer_tree(copied)
    float_params = [p.dtype for p in copied.parameters() if p.dtype.is_floating_point]
    dtype = float_params[0] if float_params else torch.float32

    running: list[str] = []  # the layers entered and not yet left: the last one is the deepest

    def leave(_module: nn.Module, _inputs: Any, _output: Any) -> None:
        if running:
            running.pop()

    handles = []
    for path, module in copied.named_modules():
        handles.append(module.register_forward_pre_hook(
            lambda _m, _i, path=path: running.append(path)))  # append returns None: input kept
        handles.append(module.register_forward_hook(leave))
    try:
        result = torchinfo.summary(copied, input_size=size, device="meta", dtypes=[dtype],
                                   depth=math.inf, verbose=0, mode="eval")
    except Exception as error:  # torchinfo wraps the real error as __cause__
        raise _explain(copied, size, running, error) from error
    finally:
        for handle in handles:
            handle.remove()

    rows: dict[str, LayerSummary] = {}
    leaf_macs: list[tuple[str, int]] = []
    for info in result.summary_list:
        path = paths.get(id(info.module))
        if path is None:
            continue
        if info.is_leaf_layer:
            leaf_macs.append((path, int(info.macs)))
        if path in rows:
            rows[path].calls += 1
            continue
        layer = tree.get(path)
        rows[path] = LayerSummary(output_shape=_shape(info.output_size), mult_adds=0,
                                  params=layer.params if layer else int(info.num_params),
                                  type=type(info.module).__name__,
                                  depth=path.count(".") + 1 if path else 0)
    for path, macs in leaf_macs:
        rows[path].mult_adds += macs
        parent = path
        while parent:
            parent = parent.rpartition(".")[0]
            if parent in rows:
                rows[parent].mult_adds += macs
    if "" in rows:
        rows[""].mult_adds = int(result.total_mult_adds)
    return rows


def _explain(model: nn.Module, size: tuple[int, ...], running: list[str],
             error: Exception) -> Exception:
    """Turn a failed forward pass into BadInput (size does not fit) or WorkFailed (meta can't)."""
    cause = error.__cause__ or error
    text = " ".join(str(cause).split()) or type(cause).__name__
    where = running[-1] if running else None
    layer = ""
    if where is not None:
        module = model.get_submodule(where) if where else model
        takes = ""
        if isinstance(getattr(module, "in_channels", None), int):
            takes = f", takes {module.in_channels} input channels"
        elif isinstance(getattr(module, "in_features", None), int):
            takes = f", takes {module.in_features} input features"
        layer = f"layer '{where or '(root)'}' ({type(module).__name__}{takes}) failed: "
    meta_problem = isinstance(cause, NotImplementedError) or "meta" in text.lower()
    if meta_problem:
        name = type(model).__name__
        return WorkFailed(f"cannot compute the summary of {name} on the meta device",
                          f"{layer}{text}",
                          "this model's forward pass needs real values (detection models do); "
                          "the tree and statistics still work")
    shape = "x".join(map(str, size))
    return BadInput(f"input size {shape} does not fit {type(model).__name__}", f"{layer}{text}",
                    "pass the size the model expects, batch first, e.g. --input 1,3,224,224")
