"""Module paths ("features.0", "classifier.6", "" for the root): look up and replace submodules."""

from __future__ import annotations

from torch import nn

from engine.errors import BadInput


def get_module(model: nn.Module, path: str) -> nn.Module:
    """Return the submodule at `path` ("" is the model itself), or raise BadInput naming the path."""
    if path == "":
        return model
    module = model
    walked: list[str] = []
    for part in path.split("."):
        children = module._modules
        if part not in children or children[part] is None:
            where = ".".join(walked) or "the model"
            options = ", ".join(list(children)[:12]) or "none"
            raise BadInput(
                f"no layer '{path}' in this model",
                f"'{where}' has no child '{part}' (its children: {options})",
                "pick a path from `ptm-tui inspect MODEL` or the layer tree",
            )
        module = children[part]
        walked.append(part)
    return module


def split_path(path: str) -> tuple[str, str]:
    """Return (parent path, child name) of a non-root path."""
    parent, _, name = path.rpartition(".")
    return parent, name


def set_module(model: nn.Module, path: str, new: nn.Module) -> nn.Module:
    """Put `new` at `path` and return the model (a new root when `path` is "")."""
    if path == "":
        return new
    parent_path, name = split_path(path)
    parent = get_module(model, parent_path)
    get_module(model, path)  # raises a clear error when the path does not exist
    parent._modules[name] = new
    return model
