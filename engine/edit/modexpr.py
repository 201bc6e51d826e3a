"""Module expressions: a torch.nn module from text like `Linear(4096, 17)`, parsed, never eval'd."""

from __future__ import annotations

import ast
import inspect
from functools import lru_cache
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from engine.edit.size_limit import MAX_PARAMETERS, size_of
from engine.errors import BadInput

# torch.nn classes that are not layers a user should construct from text.
_REFUSED = frozenset(
    {
        "Module",
        "DataParallel",
        "Container",
        "ParameterList",
        "ParameterDict",
        "UninitializedParameter",
        "UninitializedBuffer",
        "Parameter",
        "Buffer",
    }
)
_FIX = "write a torch.nn constructor with literal arguments, e.g. Linear(512, 10) or Dropout(p=0.3)"


@lru_cache(maxsize=1)
def allowed_classes() -> dict[str, type[nn.Module]]:
    """Return the torch.nn module classes an expression may construct, by name."""
    found: dict[str, type[nn.Module]] = {}
    for name in dir(nn):
        obj = getattr(nn, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, nn.Module)
            and not name.startswith("_")
            and name not in _REFUSED
            and "Lazy" not in name
            and "Parallel" not in name
        ):
            found[name] = obj
    return found


def _refuse(text: str, what: str, why: str) -> BadInput:
    return BadInput(f"cannot use the module expression {text!r}: {what}", why, _FIX)


def _class_name(node: ast.expr, text: str) -> str:
    """Return the nn class name called by `node` (Name, nn.Name or torch.nn.Name)."""
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Attribute):
        chain: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            chain.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            raise _refuse(
                text,
                f"{ast.unparse(node)!r} is not a torch.nn class",
                "only nn.<Class> or torch.nn.<Class> may be called",
            )
        chain.append(current.id)
        chain.reverse()
        if chain[:-1] not in (["nn"], ["torch", "nn"]):
            raise _refuse(
                text,
                f"{'.'.join(chain)!r} is not a torch.nn class",
                "only nn.<Class> or torch.nn.<Class> may be called",
            )
        name = chain[-1]
    else:
        raise _refuse(
            text, f"{ast.unparse(node)!r} cannot be called", "only torch.nn classes may be called"
        )
    if name not in allowed_classes():
        raise _refuse(
            text,
            f"{name!r} is not an allowed torch.nn class",
            "only torch.nn layer classes (Linear, Conv2d, ReLU, Dropout, Sequential...) "
            "may be constructed",
        )
    return name


def _value(node: ast.expr, text: str) -> Any:
    """Return the Python value of a literal node or a nested module call."""
    if isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, (bool, int, float, str))
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _value(node.operand, text)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
    elif isinstance(node, ast.Tuple):
        return tuple(_value(item, text) for item in node.elts)
    elif isinstance(node, ast.List):
        return [_value(item, text) for item in node.elts]
    elif isinstance(node, ast.Call):
        return _build(node, text)
    raise _refuse(
        text,
        f"{ast.unparse(node)!r} is not a literal",
        "arguments must be numbers, strings, True/False/None, tuples or lists of them, "
        "or nested torch.nn modules",
    )


def _build(node: ast.Call, text: str) -> nn.Module:
    """Construct the module a Call node describes."""
    name = _class_name(node.func, text)
    args = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise _refuse(
                text, f"{ast.unparse(arg)!r} unpacks arguments", "write the arguments out"
            )
        args.append(_value(arg, text))
    kwargs: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _refuse(
                text, f"{ast.unparse(keyword)!r} unpacks keywords", "write the keywords out"
            )
        kwargs[keyword.arg] = _value(keyword.value, text)
    try:
        return allowed_classes()[name](*args, **kwargs)
    except (TypeError, ValueError, RuntimeError, AssertionError) as error:
        raise BadInput(
            f"cannot build {ast.unparse(node)}",
            str(error).splitlines()[0] if str(error) else type(error).__name__,
            f"check the arguments of nn.{name}",
        ) from error



MAX_TENSOR_CALLS = 20_000
"""Torch calls a structure-only build may make; nn.Transformer with 96 layers makes ~19k, while
LSTM(1, 1, num_layers=200000000) would take hours (its constructor is quadratic in the layers)."""


class _TooSlow(Exception):
    """Raised inside a constructor when it has made more torch calls than MAX_TENSOR_CALLS."""


class _CallBudget(TorchFunctionMode):
    """Stops a constructor after `limit` torch calls."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.left = limit

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.left -= 1
        if self.left < 0:
            raise _TooSlow
        return func(*args, **(kwargs or {}))


def _checked_skeleton(body: ast.Call, source: str) -> nn.Module:
    """Return the module built on meta, after refusing one too slow or too large to build for real."""
    try:
        with torch.device("meta"), _CallBudget(MAX_TENSOR_CALLS):
            module = _build(body, source)
    except _TooSlow:
        raise BadInput(f"cannot use the module expression {source!r}: building it would take too long",
                       f"its constructor makes more than {MAX_TENSOR_CALLS:,} tensor operations "
                       "(thousands of layers)", "use fewer layers") from None
    count = size_of(module)
    if count > MAX_PARAMETERS:
        raise BadInput(f"cannot use the module expression {source!r}: it has {count:,} parameters "
                       f"({count * 4 / 1e9:,.1f} GB in float32)",
                       f"the limit is {MAX_PARAMETERS:,} parameters", "use smaller sizes")
    return module


def parse_module(text: str, device: str | None = None) -> nn.Module:
    """Return the nn.Module that a constructor expression such as `Linear(4096, 17)` describes.

    The expression is first built on meta (no memory) and refused when it has more than
    MAX_PARAMETERS values or its constructor would run for minutes; `device="meta"` stops there.
    """
    source = (text or "").strip()
    if not source:
        raise BadInput("the module expression is empty", "nothing to build", _FIX)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        shown = source if len(source) <= 80 else source[:77] + "..."
        raise BadInput(
            f"cannot read the module expression {shown!r}", f"syntax error: {error.msg}", _FIX
        ) from error
    except (RecursionError, MemoryError):
        raise BadInput(f"cannot read the module expression {source[:77] + '...'!r}",
                       "it is nested too deeply", _FIX) from None
    body = tree.body
    if not isinstance(body, ast.Call):
        raise _refuse(
            source,
            f"{ast.unparse(body)!r} is not a constructor call",
            "the expression must call a torch.nn class",
        )
    skeleton = _checked_skeleton(body, source)
    if device == "meta":
        return skeleton
    if device is None:
        return _build(body, source)
    with torch.device(device):
        return _build(body, source)


def describe(module: nn.Module) -> str:
    """Return a one-line description of a module: its repr and parameter count."""
    params = sum(p.numel() for p in module.parameters())
    text = " ".join(line.strip() for line in repr(module).splitlines())
    return f"{text}  ({params:,} parameters)"
