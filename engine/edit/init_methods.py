"""Every torch.nn.init method with its parameters: checked, defaulted, applied to one tensor."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.errors import BadInput

NONLINEARITIES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu")
"""The names torch.nn.init.calculate_gain knows."""

WHAT = ("weight", "bias", "both")


@dataclass(frozen=True)
class Param:
    """One parameter of an init method: its name, type, default and allowed values."""

    name: str
    kind: type
    default: Any
    help: str = ""
    choices: tuple[str, ...] = ()
    check: Callable[[Any], bool] | None = None
    rule: str = ""
    """The check in words, for error messages ("must be >= 0")."""


@dataclass(frozen=True)
class InitMethod:
    """One torch.nn.init method: its function, parameters and which tensors it fits."""

    name: str
    fn: Callable[..., torch.Tensor]
    params: tuple[Param, ...] = ()
    dims: tuple[int, ...] | None = None
    """The tensor ranks it accepts (None: any)."""
    min_dims: int = 0
    random: bool = True
    """Whether it draws random numbers (takes a generator)."""
    summary: str = ""
    pair_rule: Callable[[dict[str, Any]], str] | None = field(default=None)
    """Checks across parameters; returns a complaint or ""."""

    def param(self, name: str) -> Param:
        """Return the parameter called `name`."""
        return next(p for p in self.params if p.name == name)

    @property
    def has_gain(self) -> bool:
        """Whether the method takes a `gain`."""
        return any(p.name == "gain" for p in self.params)


def _nonneg(value: float) -> bool:
    return value >= 0


def _a_lt_b(params: dict[str, Any]) -> str:
    if params["a"] < params["b"]:
        return ""
    return f"a ({params['a']}) must be less than b ({params['b']})"


_GAIN = Param("gain", float, 1.0, "scale; calculate_gain(nonlinearity) suits that activation",
              check=_nonneg, rule="must be >= 0")
_STD = Param("std", float, 1.0, "standard deviation", check=_nonneg, rule="must be >= 0")
_MEAN = Param("mean", float, 0.0, "mean")
_KAIMING = (
    Param("a", float, 0.0, "negative slope of the rectifier after this layer (leaky_relu)"),
    Param("mode", str, "fan_in", "fan_in keeps forward variance, fan_out keeps backward",
          choices=("fan_in", "fan_out")),
    Param("nonlinearity", str, "leaky_relu", "the activation after this layer",
          choices=NONLINEARITIES),
)

_METHOD_LIST = (
    InitMethod("uniform", nn.init.uniform_,
               (Param("a", float, 0.0, "lower bound"), Param("b", float, 1.0, "upper bound")),
               summary="U(a, b)", pair_rule=_a_lt_b),
    InitMethod("normal", nn.init.normal_, (_MEAN, _STD), summary="N(mean, std²)"),
    InitMethod("constant", nn.init.constant_, (Param("val", float, 0.0, "the value"),),
               random=False, summary="every element = val"),
    InitMethod("ones", nn.init.ones_, random=False, summary="every element = 1"),
    InitMethod("zeros", nn.init.zeros_, random=False, summary="every element = 0"),
    InitMethod("eye", nn.init.eye_, dims=(2,), random=False,
               summary="identity matrix (2-D weights: Linear)"),
    InitMethod("dirac", nn.init.dirac_,
               (Param("groups", int, 1, "number of groups", check=lambda v: v >= 1,
                      rule="must be >= 1"),),
               dims=(3, 4, 5), random=False, summary="identity convolution (3/4/5-D conv weights)"),
    InitMethod("xavier_uniform", nn.init.xavier_uniform_, (_GAIN,), min_dims=2,
               summary="Glorot: U(±gain·√(6/(fan_in+fan_out)))"),
    InitMethod("xavier_normal", nn.init.xavier_normal_, (_GAIN,), min_dims=2,
               summary="Glorot: N(0, gain²·2/(fan_in+fan_out))"),
    InitMethod("kaiming_uniform", nn.init.kaiming_uniform_, _KAIMING, min_dims=2,
               summary="He: U(±gain·√(3/fan))"),
    InitMethod("kaiming_normal", nn.init.kaiming_normal_, _KAIMING, min_dims=2,
               summary="He: N(0, gain²/fan)"),
    InitMethod("trunc_normal", nn.init.trunc_normal_,
               (_MEAN, _STD, Param("a", float, -2.0, "lower cut-off (absolute)"),
                Param("b", float, 2.0, "upper cut-off (absolute)")),
               summary="N(mean, std²) redrawn outside [a, b]", pair_rule=_a_lt_b),
    InitMethod("orthogonal", nn.init.orthogonal_, (_GAIN,), min_dims=2,
               summary="(semi-)orthogonal matrix × gain"),
    InitMethod("sparse", nn.init.sparse_,
               (Param("sparsity", float, 0.1, "fraction of each column set to zero",
                      check=lambda v: 0 <= v < 1, rule="must be in [0, 1)"),
                Param("std", float, 0.01, "std of the non-zero values", check=_nonneg,
                      rule="must be >= 0")),
               dims=(2,), summary="sparse N(0, std²) columns (2-D weights)"),
)

METHODS: dict[str, InitMethod] = {method.name: method for method in _METHOD_LIST}
"""Every init method by name, in the order a user sees them."""


def get_method(name: str) -> InitMethod:
    """Return the init method called `name`, or raise BadInput listing the methods."""
    key = name.strip().lower().removesuffix("_")
    if key not in METHODS:
        raise BadInput(f"unknown init method {name!r}", f"the methods are: {', '.join(METHODS)}",
                       "pick one of those names")
    return METHODS[key]


def default_gain(nonlinearity: str | None, param: float | None = None) -> float:
    """Return torch's recommended gain for an activation (None, "none" or "gelu" included)."""
    if nonlinearity in (None, "", "none", "identity"):
        return 1.0
    if nonlinearity == "gelu":  # not known to calculate_gain; ReLU's gain is the usual stand-in
        return nn.init.calculate_gain("relu")
    if nonlinearity not in NONLINEARITIES:
        raise BadInput(f"unknown nonlinearity {nonlinearity!r}",
                       f"calculate_gain knows: {', '.join(NONLINEARITIES)}, plus none and gelu",
                       "pick one of those names")
    return nn.init.calculate_gain(nonlinearity, param)


def kaiming_nonlinearity(activation: str | None) -> str:
    """Return the kaiming `nonlinearity` name that fits an activation name."""
    if activation in (None, "", "none", "identity"):
        return "linear"
    if activation == "gelu":
        return "relu"
    return activation if activation in NONLINEARITIES else "leaky_relu"


def default_params(method: str, nonlinearity: str | None = None) -> dict[str, Any]:
    """Return a method's parameters with their defaults (gain/nonlinearity from `nonlinearity`)."""
    spec = get_method(method)
    values = {p.name: p.default for p in spec.params}
    if nonlinearity is not None:
        if "gain" in values:
            slope = 0.01 if nonlinearity == "leaky_relu" else None
            values["gain"] = default_gain(nonlinearity, slope)
        if "nonlinearity" in values:
            values["nonlinearity"] = kaiming_nonlinearity(nonlinearity)
            if values["nonlinearity"] == "leaky_relu" and nonlinearity == "leaky_relu":
                values["a"] = 0.01
    return values


def _coerce(method: InitMethod, p: Param, value: Any) -> Any:
    allowed = "one of " + ", ".join(p.choices) if p.choices else p.kind.__name__
    bad = BadInput(f"{method.name}: parameter {p.name!r} got {value!r}",
                   f"it must be {allowed}",
                   f"give {p.name}={p.default!r} or another valid value")
    if p.kind is str:
        if not isinstance(value, str) or (p.choices and value not in p.choices):
            raise bad
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad
    finite = BadInput(f"{method.name}: parameter {p.name!r} got {value!r}",
                      "it must be a finite number", f"give {p.name}={p.default!r} or another number")
    try:
        as_float = float(value)
    except OverflowError:  # a whole number with hundreds of digits
        raise finite from None
    if not math.isfinite(as_float):
        raise finite
    if p.kind is int:
        if as_float != int(value):
            raise bad
        value = int(value)
    else:
        value = as_float
    if p.check is not None and not p.check(value):
        raise BadInput(f"{method.name}: parameter {p.name}={value!r} is out of range",
                       f"{p.name} {p.rule}", f"give a value where {p.name} {p.rule}")
    return value


def resolve_params(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the full, checked parameters of a method: defaults filled in, types coerced."""
    spec = get_method(method)
    given = dict(params or {})
    known = {p.name for p in spec.params}
    unknown = sorted(set(given) - known)
    if unknown:
        valid = ", ".join(f"{p.name}={p.default!r}" for p in spec.params) or "none"
        raise BadInput(f"{spec.name} has no parameter {', '.join(map(repr, unknown))}",
                       f"its parameters are: {valid}", "use only those names")
    values = {p.name: _coerce(spec, p, given.get(p.name, p.default)) for p in spec.params}
    if spec.pair_rule is not None and (complaint := spec.pair_rule(values)):
        raise BadInput(f"{spec.name}: bad parameters", complaint, "fix the parameters")
    return values


def check_fits(method: str, tensor: torch.Tensor, name: str = "tensor") -> None:
    """Raise BadInput when a method cannot initialise a tensor of this shape; return None."""
    spec = get_method(method)
    shape = tuple(tensor.shape)
    rank = len(shape)
    if spec.dims is not None and rank not in spec.dims:
        ranks = " or ".join(f"{d}-D" for d in spec.dims)
        raise BadInput(f"{spec.name} does not fit {name} (shape {list(shape)}, {rank}-D)",
                       f"{spec.name} needs a {ranks} tensor",
                       "limit it to a layer type it fits (e.g. layer type Linear), or pick another "
                       "method such as normal or zeros")
    if rank < spec.min_dims:
        if is_bias(name.rpartition(".")[2]):
            fix = "initialise weights only, or use zeros/constant/normal for biases"
        else:
            fix = ("limit it to a layer type with 2-D+ weights (e.g. Conv2d or Linear), "
                   "or use ones/constant/normal for norm weights")
        raise BadInput(f"{spec.name} does not fit {name} (shape {list(shape)}, {rank}-D)",
                       f"{spec.name} needs fan-in and fan-out, so at least a 2-D tensor "
                       "(biases and norm weights are 1-D)", fix)
    if spec.min_dims >= 2 and tensor.numel() == 0:
        raise BadInput(f"{spec.name} does not fit {name} (shape {list(shape)})",
                       "the tensor is empty, so its fan is 0", "skip this layer")


def check_range(method: str, values: dict[str, Any], tensor: torch.Tensor, name: str = "tensor") -> None:
    """Raise BadInput when a number parameter is too large for the tensor's dtype; return None."""
    if not tensor.is_floating_point():
        return
    largest = torch.finfo(tensor.dtype).max
    for key, value in values.items():
        if isinstance(value, float) and abs(value) > largest:
            dtype = str(tensor.dtype).removeprefix("torch.")
            raise BadInput(f"{method}: parameter {key}={value:g} does not fit {name} ({dtype})",
                           f"the largest {dtype} number is {largest:.4g}",
                           f"give a smaller {key}")


def init_tensor(tensor: torch.Tensor, method: str, params: dict[str, Any] | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Initialise one tensor in place (after checking fit and parameters) and return it."""
    spec = get_method(method)
    values = resolve_params(spec.name, params)
    check_fits(spec.name, tensor)
    check_range(spec.name, values, tensor)
    if spec.name == "dirac" and tensor.shape[0] % values["groups"]:
        raise BadInput(f"dirac does not fit a tensor with {tensor.shape[0]} output channels",
                       f"groups={values['groups']} must divide the output channels",
                       "pick groups that divides them")
    kwargs = dict(values)
    if spec.random and generator is not None:
        kwargs["generator"] = generator
    with torch.no_grad():
        spec.fn(tensor, **kwargs)
    return tensor


def is_bias(name: str) -> bool:
    """Return True when a tensor named `name` (its last path part) is a bias."""
    return name == "bias" or name.endswith("_bias")


MAX_SEED = 2**32 - 1


def check_seed(seed: Any, where: str = "--seed") -> int:
    """Return `seed` when it is a whole number from 0 to MAX_SEED, else raise BadInput."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise BadInput(f"{where} must be a whole number from 0 to {MAX_SEED}", f"got {seed!r}",
                       f"e.g. {where} 0" if where.startswith("--") else f"e.g. {where} = 0")
    return seed


def parse_value(text: str) -> Any:
    """Return a parameter value typed from text: a number, bool or quoted string, else the text."""
    import ast

    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """Return {name: value} from ["k=v", ...] (values via `parse_value`), or raise BadInput."""
    params: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"parameter {item!r} is not name=value",
                           "each --param gives one parameter of the init method",
                           "write it like --param std=0.02 or --param mode=fan_out")
        params[name.strip()] = parse_value(value)
    return params
