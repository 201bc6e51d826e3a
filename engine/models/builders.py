"""Build any model by name — torchvision, timm, `pkg.mod:factory`, `file.py:Class` — offline.

Building on `meta` uses `empty_init()`: every parameter and persistent buffer is moved to the
meta device the moment a module registers it, and `torch.nn.init` functions do nothing on meta
tensors. Everything else a constructor computes (RegNet's block widths with `.tolist()`,
detection anchors kept as plain tensor attributes, non-persistent buffers) runs for real on
the CPU, so the skeleton is correct and the loaded model works — unlike
`with torch.device("meta")`, which breaks RegNet and leaves anchors on meta, or building on cpu
then `.to("meta")`, which costs a full random init.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import inspect
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import BadInput, WorkFailed
from engine.models.timm_models import timm_available, timm_missing

# The patches below are installed only while a build runs (under this lock) and act only in
# the thread that runs it, so another thread building a module meanwhile is unaffected.
_PATCH_LOCK = threading.RLock()
_ACTIVE = threading.local()  # .empty: build on meta; .loading: a served state dict is assigned

_INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
    "sparse_",
)


def _on(flag: str) -> bool:
    """Return whether `flag` is set for the current thread."""
    return bool(getattr(_ACTIVE, flag, False))


def _skip_on_meta(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an nn.init function so that it returns meta tensors untouched."""

    def wrapper(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if isinstance(tensor, torch.Tensor) and tensor.is_meta:
            return tensor
        return function(tensor, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def empty_init() -> Iterator[None]:
    """Within the block, modules register their parameters and persistent buffers on meta."""
    with _PATCH_LOCK:
        register_parameter = nn.Module.register_parameter
        register_buffer = nn.Module.register_buffer
        originals = {n: getattr(nn.init, n) for n in _INIT_FUNCTIONS if hasattr(nn.init, n)}

        def to_meta_parameter(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
            if param is not None and not param.is_meta and _on("empty") and not _on("loading"):
                param = nn.Parameter(torch.empty_like(param, device="meta"), param.requires_grad)
            register_parameter(self, name, param)

        def to_meta_buffer(self: nn.Module, name: str, tensor: torch.Tensor | None,
                           persistent: bool = True) -> None:
            if tensor is not None and persistent and not tensor.is_meta and _on("empty") \
                    and not _on("loading"):
                tensor = torch.empty_like(tensor, device="meta")
            register_buffer(self, name, tensor, persistent)

        nn.Module.register_parameter = to_meta_parameter  # type: ignore[method-assign]
        nn.Module.register_buffer = to_meta_buffer  # type: ignore[method-assign]
        for name, function in originals.items():
            setattr(nn.init, name, _skip_on_meta(function))
        _ACTIVE.empty = True
        try:
            yield
        finally:
            _ACTIVE.empty = False
            nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]
            nn.Module.register_buffer = register_buffer  # type: ignore[method-assign]
            for name, function in originals.items():
                setattr(nn.init, name, function)


class ServedStateDict(dict):
    """A state dict handed to a torchvision builder instead of the one it would download."""

    assign: bool = True
    check: Callable[[nn.Module, dict[str, Any]], None] | None = None


@contextlib.contextmanager
def serve_weights(state_dict: ServedStateDict) -> Iterator[None]:
    """Within the block, torchvision's `Weights.get_state_dict` returns `state_dict` (no network).

    When the builder loads it, `load_state_dict` runs `state_dict.check` first and then assigns
    the tensors (`assign=True`) when `state_dict.assign`, so a meta skeleton takes them as they are.
    """
    from torchvision.models._api import WeightsEnum

    with _PATCH_LOCK:
        get_state_dict = WeightsEnum.get_state_dict
        load_state_dict = nn.Module.load_state_dict

        def served(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
            if not _on("serving"):
                return get_state_dict(self, *args, **kwargs)
            return state_dict

        def load(self: nn.Module, sd: Any, strict: bool = True, assign: bool = False) -> Any:
            if not isinstance(sd, ServedStateDict):
                return load_state_dict(self, sd, strict=strict, assign=assign)
            if sd.check is not None:
                sd.check(self, sd)
            plain = OrderedDict(sd)
            metadata = getattr(sd, "_metadata", None)
            if metadata is not None:  # module versions, e.g. MNASNet's; losing them breaks loading
                plain._metadata = metadata  # type: ignore[attr-defined]
            _ACTIVE.loading = True
            try:
                return load_state_dict(self, plain, strict=strict, assign=sd.assign or assign)
            finally:
                _ACTIVE.loading = False

        WeightsEnum.get_state_dict = served  # type: ignore[method-assign]
        nn.Module.load_state_dict = load  # type: ignore[method-assign,assignment]
        _ACTIVE.serving = True
        try:
            yield
        finally:
            _ACTIVE.serving = False
            WeightsEnum.get_state_dict = get_state_dict  # type: ignore[method-assign]
            nn.Module.load_state_dict = load_state_dict  # type: ignore[method-assign]


# --- torchvision ---------------------------------------------------------------------------

_QUANTIZED_MODULES = ("googlenet", "inception", "mobilenetv2", "resnet", "shufflenetv2")


@contextlib.contextmanager
def quantized_as_float() -> Iterator[None]:
    """Within the block, torchvision's quantized builders skip quantizing (in this thread only).

    The builder's own steps for its weights still run (num_classes, dropping inception's
    aux head after loading), so the result is the float architecture the quantized weights
    hold, and it builds on meta in milliseconds instead of calibrating on the CPU.
    """
    import importlib

    import torch.ao.quantization as tq

    modules = [importlib.import_module(f"torchvision.models.quantization.{name}")
               for name in _QUANTIZED_MODULES]

    def skipped(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return None if _on("as_float") else original(*args, **kwargs)
        return wrapper

    with _PATCH_LOCK:
        saved = [(module, "quantize_model", module.quantize_model) for module in modules]
        saved += [(tq, "prepare_qat", tq.prepare_qat), (tq, "convert", tq.convert)]
        for owner, attr, original in saved:
            setattr(owner, attr, skipped(original))
        _ACTIVE.as_float = True
        try:
            yield
        finally:
            _ACTIVE.as_float = False
            for owner, attr, original in saved:
                setattr(owner, attr, original)


def torchvision_kwargs(name: str, weights: Any = None, num_classes: int | None = None,
                       **extra: Any) -> dict[str, Any]:
    """Return the builder keyword arguments that build `name` offline with `weights` (an enum)."""
    from torchvision import models

    params = inspect.signature(models.get_model_builder(name)).parameters
    kwargs: dict[str, Any] = {"weights": weights}
    if "weights_backbone" in params:
        kwargs["weights_backbone"] = None
    if "quantize" in params:
        kwargs["quantize"] = weights is not None and "Quantized" in type(weights).__name__
    if weights is None and ("init_weights" in params or "googlenet" in name or "inception" in name):
        kwargs["init_weights"] = True  # torchvision's current default, without its FutureWarning
    elif weights is not None and ("googlenet" in name or "inception" in name):
        kwargs["init_weights"] = False  # the weights replace it (quantized builders forget to say)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    kwargs.update(extra)
    return kwargs


def build_torchvision(name: str, device: str, weights: Any = None, num_classes: int | None = None,
                      **extra: Any) -> nn.Module:
    """Return torchvision model `name`; on meta its parameters and persistent buffers are empty."""
    from torchvision import models

    builder = models.get_model_builder(name)
    kwargs = torchvision_kwargs(name, weights, num_classes, **extra)
    if kwargs.get("quantize") and device == "meta" and not _on("as_float"):
        device = "cpu"  # quantizing calibrates with a real forward pass: it cannot run on meta
    try:
        return _call_on(builder, kwargs, device)
    except PtmErrors:
        raise
    except (TypeError, ValueError) as error:
        raise BadInput(f"cannot build {name} with {_show(kwargs)}", str(error),
                       "check the keyword arguments (e.g. num_classes)") from error


# --- timm ----------------------------------------------------------------------------------

def build_timm(name: str, device: str, num_classes: int | None = None, **extra: Any) -> nn.Module:
    """Return timm model `name` (without the "timm/" prefix), built offline without weights."""
    if not timm_available():
        raise timm_missing(f"timm/{name}")
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        raise BadInput(f"unknown timm model {name!r}",
                       f"did you mean {', '.join('timm/' + c for c in close)}?" if close else "",
                       "list them with: python -c 'import timm; print(timm.list_models())'")
    kwargs: dict[str, Any] = {"pretrained": False, **extra}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    try:
        return _call_on(lambda **kw: timm.create_model(name, **kw), kwargs, device)
    except (NotImplementedError, RuntimeError) as error:
        if device != "meta" or "meta" not in str(error):
            raise
    # The constructor computes from its own buffers (swinv2's coordinate tables) or runs a
    # forward pass (vitamin, MobileCLIP) to size a layer: timm supports building under
    # torch.device("meta") for that; tensors a later load needs are rebuilt by the loader.
    with torch.device("meta"):
        return timm.create_model(name, **kwargs)


# --- user code: pkg.mod:factory and path/to/file.py:Class ------------------------------------

def load_user_callable(spec: str) -> Callable[..., Any]:
    """Return the callable named by `pkg.module:callable` or `path/to/file.py:ClassName`."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise BadInput(f"cannot read model spec {spec!r}",
                       "expected MODULE:CALLABLE or FILE.py:CLASS",
                       "e.g. mypkg.models:make_net or models/lenet.py:LeNet")
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _load_file(Path(target).expanduser())
        where = target
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as error:
            raise BadInput(f"cannot import module {target!r}", str(error),
                           "install the package or add its folder to PYTHONPATH") from error
        except Exception as error:
            raise WorkFailed(f"importing {target!r} failed", f"{type(error).__name__}: {error}",
                             "fix the error in that module") from error
        where = target
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
            close = difflib.get_close_matches(attr, names, n=3)
            raise BadInput(f"{where} has no {attr!r}",
                           f"did you mean {', '.join(close)}?" if close else
                           f"it defines: {', '.join(sorted(names)[:12]) or 'nothing callable'}",
                           f"use {where}:NAME with one of the names it defines")
        obj = getattr(obj, part)
    if not callable(obj):
        raise BadInput(f"{spec} is not callable", f"it is a {type(obj).__name__}",
                       "name an nn.Module class or a function that returns one")
    return obj


def _load_file(path: Path) -> Any:
    """Import a Python file by path and return the module."""
    if not path.is_file():
        raise BadInput(f"no such file: {path}", "the model file does not exist",
                       "check the path (relative paths start from the current folder)")
    module_name = f"ptm_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BadInput(f"cannot import {path}", "it is not a Python source file",
                       "name a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(module_name, None)
        raise WorkFailed(f"importing {path} failed", f"{type(error).__name__}: {error}",
                         "fix the error in that file") from error
    return module


def build_user(spec: str, device: str, num_classes: int | None = None, **extra: Any) -> nn.Module:
    """Return the nn.Module made by the user's factory or class named by `spec`."""
    factory = load_user_callable(spec)
    kwargs = dict(extra)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    try:
        model = _call_on(factory, kwargs, device)
    except PtmErrors:
        raise
    except TypeError as error:
        raise BadInput(f"cannot call {spec} with {_show(kwargs)}", str(error),
                       "give it defaults for every argument, or wrap it in a factory") from error
    except SystemExit as error:  # e.g. "sys:exit": it would end ptm-tui with exit 0, silently
        raise BadInput(f"{spec} tried to exit the program instead of returning an nn.Module",
                       f"it raised SystemExit({error.code!r})",
                       "name an nn.Module class or a function that returns one") from None
    except Exception as error:
        raise WorkFailed(f"building {spec} failed", f"{type(error).__name__}: {error}",
                         "fix the error in the model's constructor") from error
    if not isinstance(model, nn.Module):
        raise BadInput(f"{spec} did not return an nn.Module", f"it returned {type(model).__name__}",
                       "name an nn.Module class or a function that returns one")
    return model


# --- shared --------------------------------------------------------------------------------

PtmErrors = (BadInput, WorkFailed)


def _show(kwargs: dict[str, Any]) -> str:
    """Return keyword arguments as `a=1, b=None`."""
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"


def _call_on(factory: Callable[..., Any], kwargs: dict[str, Any], device: str) -> Any:
    """Call `factory(**kwargs)`: under `empty_init` for meta, else on `device` for real."""
    if device == "meta":
        with empty_init():
            return factory(**kwargs)
    if device == "cpu":
        return factory(**kwargs)
    try:
        with torch.device(device):
            return factory(**kwargs)
    except (RuntimeError, NotImplementedError):
        return factory(**kwargs).to(device)


def meta_tensors(model: nn.Module) -> list[str]:
    """Return the names of every parameter, buffer or tensor attribute still on meta."""
    found = [name for name, t in model.state_dict(keep_vars=True).items()
             if isinstance(t, torch.Tensor) and t.is_meta]
    for path, module in model.named_modules():
        for name, buffer in module.named_buffers(recurse=False):
            key = f"{path}.{name}" if path else name
            if buffer.is_meta and key not in found:
                found.append(key)
        for attr, value in vars(module).items():
            values = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(v, torch.Tensor) and v.is_meta for v in values):
                found.append(f"{path}.{attr}" if path else attr)
    return found
