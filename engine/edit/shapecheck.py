"""Check that a model's shapes still fit: a forward pass on meta tensors (no memory, no compute)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.errors import BadInput
from engine.inspect.meta import DEFAULT_INPUT, meta_copy


@dataclass
class ShapeCheck:
    """What a shape check found: the output shape, or why the model could not be checked."""

    ok: bool
    input_size: tuple[int, ...]
    output_shape: tuple[int, ...] | None = None
    skipped: str | None = None
    """Set when the model cannot run on meta tensors: why (the edit is then not refused)."""

    def text(self) -> str:
        """Return the result in words."""
        if self.skipped:
            return f"shape check skipped: {self.skipped}"
        return f"shapes fit: {list(self.input_size)} -> {list(self.output_shape or ())}"


def _expects(module: nn.Module) -> str:
    """Return what a layer expects as input, in words."""
    if isinstance(module, nn.Linear):
        return f"{module.in_features} input features"
    if isinstance(module, nn.modules.conv._ConvNd):
        return f"{module.in_channels} input channels"
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return f"{module.num_features} channels"
    if isinstance(module, nn.LayerNorm):
        return f"a last dimension of {list(module.normalized_shape)}"
    if isinstance(module, nn.GroupNorm):
        return f"{module.num_channels} channels"
    if isinstance(module, nn.Embedding):
        return "integer indices"
    return "a different input shape"


def _input_size(model: nn.Module, input_size: tuple[int, ...] | None) -> tuple[int, ...]:
    """Return the size to check with: the model's, with channels following its input conv."""
    size = tuple(input_size) if input_size else DEFAULT_INPUT
    try:
        from engine.inspect.heads import find_input_conv

        path = find_input_conv(model)
    except Exception:
        path = None
    if path is not None and len(size) >= 3:
        conv = model.get_submodule(path)
        channels = getattr(conv, "in_channels", None)
        if isinstance(channels, int) and channels != size[1]:
            size = (size[0], channels, *size[2:])
    return size


def _is_meta_limit(error: BaseException) -> bool:
    """Tell whether an error comes from meta tensors' limits rather than from shapes."""
    text = str(error).lower()
    return (
        isinstance(error, NotImplementedError)
        or "meta" in text
        or "item()" in text
        or "data-dependent" in text
        or "data dependent" in text
    )


def check_forward(model: nn.Module, input_size: tuple[int, ...] | None = None) -> ShapeCheck:
    """Run `model` on meta tensors; return a ShapeCheck or raise BadInput where shapes break."""
    size = _input_size(model, input_size)
    try:
        clone = meta_copy(model)
    except Exception as error:  # exotic modules that cannot be copied
        return ShapeCheck(False, size, skipped=f"the model cannot be copied to meta ({error})")
    clone.eval()
    names = {id(module): path for path, module in clone.named_modules()}
    stack: list[tuple[str, nn.Module, list[tuple[int, ...]]]] = []
    entered = [0]

    def enter(module: nn.Module, args: tuple) -> None:
        entered[0] += 1
        shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
        stack.append((names.get(id(module), "?"), module, shapes))

    def leave(module: nn.Module, args: tuple, output: object) -> None:
        if stack:
            stack.pop()

    handles = []
    for module in clone.modules():
        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave))
    try:
        with torch.no_grad():
            output = clone(torch.empty(size, device="meta"))
    except Exception as error:
        if _is_meta_limit(error):
            return ShapeCheck(
                False,
                size,
                skipped=f"the model cannot run on meta tensors "
                f"({str(error).splitlines()[0][:160]})",
            )
        first_line = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        if entered[0] <= 1:  # the model's own code refused the input before any layer ran
            return ShapeCheck(
                False,
                size,
                skipped=f"the model does not take one input of size {list(size)} ({first_line})",
            )
        path, module, shapes = stack[-1] if stack else ("", clone, [size])
        where = f"'{path}'" if path else "the model itself"
        got = " and ".join(str(list(s)) for s in shapes) or "no tensor"
        raise BadInput(
            f"shapes break at layer {where} ({type(module).__name__})",
            f"it expects {_expects(module)} but gets an input of shape {got} ({first_line})",
            "make the new layer's sizes match its neighbours, or undo the edit",
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    shape = _output_shape(output)
    return ShapeCheck(True, size, output_shape=shape)


def _output_shape(output: object) -> tuple[int, ...] | None:
    """Return the shape of a model output (the first tensor in it)."""
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        for item in output:
            shape = _output_shape(item)
            if shape is not None:
                return shape
    return None
