"""Output shapes and mult-adds of every layer, via torchinfo on a meta copy (costs no memory)."""

from __future__ import annotations

import contextlib
import inspect
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.errors import BadInput, WorkFailed
from engine.inspect.detection import is_detection_model
from engine.inspect.flops import box_limits, counting, every_box_survives, mult_adds
from engine.inspect.meta import DEFAULT_INPUT, meta_copy


@dataclass
class LayerSummary:
    """What one layer does in a forward pass of the given input size."""

    output_shape: tuple[int, ...] | list[Any] | None
    """The output shape (batch included); a list of shapes for tuple outputs; None if unknown."""
    mult_adds: int
    """Multiply-adds of the layer and everything under it, as torchinfo counts them; the root's
    is the model's total as torch's own FLOP counter counts it (FLOPs / 2): it includes the
    matmuls on token sequences and the attention that torchinfo's per-layer figures miss."""
    params: int
    """Parameters of the layer and everything under it (shared tensors counted once)."""
    type: str = ""
    depth: int = 0
    calls: int = 1
    """How many times the forward pass ran this layer (shared or recurrent layers: more than 1)."""
    note: str = ""
    """On the root: how the total was counted, when it is not simply one meta forward pass."""


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
    forward pass runs them. The model itself is not touched: torchinfo runs on a meta copy,
    inside torch's FLOP counter, which gives the total. A model whose forward takes two
    images (RAFT) gets two of `input_size`; a detection model keeps every candidate box, so
    its heads run on the most boxes it is configured for.
    """
    import torchinfo

    from engine.inspect.tree import layer_tree

    size = _check_size(input_size if input_size is not None else DEFAULT_INPUT)
    copied = meta_copy(model)
    inputs = [size] * _image_count(copied)
    detection = is_detection_model(copied)
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
    boxes = every_box_survives(copied) if detection else contextlib.nullcontext()
    try:
        with counting() as counter, boxes:
            result = torchinfo.summary(copied, input_size=inputs, device="meta",
                                       dtypes=[dtype] * len(inputs), depth=math.inf, verbose=0,
                                       mode="eval")
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
        rows[""].mult_adds = mult_adds(counter)
        if detection and box_limits(copied):
            rows[""].note = (f"heads counted on the most boxes the model keeps "
                             f"({box_limits(copied)}), as if every candidate survived")
    return rows


def _image_count(model: nn.Module) -> int:
    """Return how many input tensors the model's forward requires (RAFT: two images), at least 1."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return 1
    required = [p for p in params if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return max(1, len(required))


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
    works = working_size(model, size)
    fix = (f"pass the size the model expects, batch first: --input {','.join(map(str, works))} "
           "works" if works else "pass the size the model expects, batch first (none of the "
           "usual image sizes fit: read the first layers of `ptm-tui inspect`)")
    return BadInput(f"input size {shape} does not fit {type(model).__name__}", f"{layer}{text}",
                    fix)


_SIDES = (224, 32, 28, 64, 96, 128, 256, 299, 384, 512, 16, 8)


def _candidate_sizes(model: nn.Module, batch: int) -> list[tuple[int, ...]]:
    """Return input sizes worth trying: from the first conv's (else Linear's) expectations."""
    for module in model.modules():
        kernel = getattr(module, "kernel_size", None)
        channels = getattr(module, "in_channels", None)
        if isinstance(channels, int) and isinstance(kernel, tuple) and not module._modules:
            if len(kernel) == 3:
                return [(batch, channels, t, s, s) for t in (16, 8, 32) for s in (112, 224, 64)]
            return [(batch, channels, *(side,) * len(kernel)) for side in _SIDES]
        features = getattr(module, "in_features", None)
        if isinstance(features, int) and not module._modules:
            return [(batch, features), (batch, 1, features), (batch, 3, 28, 28)]
    return []


def working_size(model: nn.Module, failed: tuple[int, ...]) -> tuple[int, ...] | None:
    """Return an input size (batch kept) that a meta forward pass of `model` accepts, or None.

    `failed` itself is never suggested. Only a handful of sizes are tried, each on meta.
    """
    copied = meta_copy(model)
    floats = [p.dtype for p in copied.parameters() if p.dtype.is_floating_point]
    count = _image_count(copied)
    for size in _candidate_sizes(copied, failed[0] if failed else 1):
        if size == tuple(failed):
            continue
        inputs = [torch.empty(size, device="meta", dtype=floats[0] if floats else None)] * count
        boxes = every_box_survives(copied) if is_detection_model(copied) else contextlib.nullcontext()
        try:
            with torch.no_grad(), boxes:
                copied.eval()(*inputs)
        except Exception:  # this size does not fit either: try the next
            continue
        return size
    return None
