"""The module tree as plain data: path, type, parameter counts, dtype, device, shapes, children."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from engine.inspect.heads import find_head, find_input_conv  # re-exported: the contract names them here
from engine.paths import get_module


@dataclass
class LayerInfo:
    """One module of a model, as the layer tree shows it."""

    path: str
    """Dotted path from the root ("" is the root, "features.0", "classifier.6")."""
    name: str
    """The last part of the path ("" for the root)."""
    type: str
    """The module's class name (Conv2d, Linear, Sequential...)."""
    own_params: int
    """Parameters held by this module itself, not by its children."""
    params: int
    """Parameters in this module and everything under it, each shared tensor counted once."""
    trainable: int
    """Of `params`, how many have requires_grad set."""
    dtype: str
    """The parameters' dtype ("float32"), "mixed" when they differ, "" when it has none."""
    device: str
    """The parameters' device ("cpu", "meta", "cuda:0"), "mixed" or "" like `dtype`."""
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Own parameter name -> shape ("weight": (64, 3, 7, 7))."""
    children: list[str] = field(default_factory=list)
    """Paths of the direct children, in registration order."""

    @property
    def frozen(self) -> bool | None:
        """True when it has parameters and none trains, False when all train, else None."""
        if self.params == 0 or 0 < self.trainable < self.params:
            return None
        return self.trainable == 0


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _merge(a: str, b: str) -> str:
    """Return the dtype/device text two subtrees share ("" is none, "mixed" when they differ)."""
    if a == b or not b:
        return a
    return b if not a else "mixed"


def _name(names: dict[object, str], key: object) -> str:
    text = str(key).removeprefix("torch.")
    names[key] = text
    return text


def layer_tree(model: nn.Module, prefix: str = "") -> dict[str, LayerInfo]:
    """Return every module under `model` by path (parents before children), in one bottom-up pass.

    `prefix` is the path of `model` inside a bigger model. A module registered at two
    places appears at both paths; a parameter shared between layers counts once in every
    module that holds it more than once (the root included), as `model.parameters()` does.
    """
    # Pre-order walk with an explicit stack: cheap for 10,000+ modules, no recursion limit.
    order: list[tuple[str, nn.Module]] = []
    kids: list[list[int]] = []
    stack: list[tuple[str, nn.Module, int]] = [(prefix, model, -1)]
    while stack:
        path, module, parent = stack.pop()
        index = len(order)
        order.append((path, module))
        kids.append([])
        if parent >= 0:
            kids[parent].append(index)
        children = [(name, child) for name, child in module._modules.items() if child is not None]
        for name, child in reversed(children):
            stack.append((_join(path, name), child, index))

    # Which parameter tensors occur more than once (tied weights, shared modules)?
    seen: set[int] = set()
    shared: set[int] = set()
    for _, module in order:
        for param in module._parameters.values():
            if param is not None:
                key = id(param)
                if key in seen:
                    shared.add(key)
                seen.add(key)

    count = len(order)
    total = [0] * count
    train = [0] * count
    unshared = [0] * count  # params/trainable of tensors that occur once: these simply add up
    unshared_train = [0] * count
    own_total = [0] * count
    dtypes = [""] * count
    devices = [""] * count
    shapes: list[dict[str, tuple[int, ...]]] = [{}] * count  # shared empty dict until written
    shared_sets: list[dict[int, tuple[int, bool]] | None] = [None] * count
    names: dict[object, str] = {}  # dtype/device -> its text, computed once each

    for index in range(count - 1, -1, -1):
        module = order[index][1]
        n_own = n_total = n_train = 0
        dtype = device = ""
        mine: dict[int, tuple[int, bool]] | None = None
        if module._parameters:
            own_shapes = {}
            for name, param in module._parameters.items():
                if param is None:
                    continue
                numel = param.numel()
                n_own += numel
                own_shapes[name] = tuple(param.shape)
                dtype = _merge(dtype, names.get(param.dtype) or _name(names, param.dtype))
                device = _merge(device, names.get(param.device) or _name(names, param.device))
                if id(param) in shared:
                    mine = mine if mine is not None else {}
                    mine[id(param)] = (numel, param.requires_grad)
                else:
                    n_total += numel
                    if param.requires_grad:
                        n_train += numel
            shapes[index] = own_shapes
        for child in kids[index]:
            n_total += unshared[child]
            n_train += unshared_train[child]
            dtype = _merge(dtype, dtypes[child])
            device = _merge(device, devices[child])
            if shared_sets[child]:
                mine = mine if mine is not None else {}
                mine.update(shared_sets[child])
        unshared[index] = n_total
        unshared_train[index] = n_train
        if mine:  # a shared tensor counts once per subtree, however often it occurs there
            for numel, grad in mine.values():
                n_total += numel
                n_train += numel if grad else 0
            shared_sets[index] = mine
        own_total[index] = n_own
        total[index] = n_total
        train[index] = n_train
        dtypes[index] = dtype
        devices[index] = device

    tree: dict[str, LayerInfo] = {}
    for index, (path, module) in enumerate(order):
        tree[path] = LayerInfo(
            path=path,
            name=path.rpartition(".")[2],
            type=type(module).__name__,
            own_params=own_total[index],
            params=total[index],
            trainable=train[index],
            dtype=dtypes[index],
            device=devices[index],
            shapes=shapes[index] if shapes[index] else {},
            children=[order[child][0] for child in kids[index]],
        )
    return tree


def layer_info(model: nn.Module, path: str) -> LayerInfo:
    """Return the LayerInfo of the module at `path` (BadInput when there is none)."""
    return layer_tree(get_module(model, path), prefix=path)[path]


def children(model: nn.Module, path: str = "") -> list[LayerInfo]:
    """Return the LayerInfo of each direct child of the module at `path`, in registration order."""
    module = get_module(model, path)
    result = []
    for name, child in module._modules.items():
        if child is not None:
            child_path = _join(path, name)
            result.append(layer_tree(child, prefix=child_path)[child_path])
    return result


__all__ = ["LayerInfo", "children", "find_head", "find_input_conv", "layer_info", "layer_tree"]
