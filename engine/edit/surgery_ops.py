"""The surgery edits: replace_head, adapt_input, replace, insert_*, delete, load_partial."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from engine.edit.modexpr import parse_module
from engine.edit.ops import Edit, Op, register
from engine.edit.surgery import (
    adapt_input,
    delete,
    head_target,
    in_sequential,
    input_conv_target,
    insert,
    replace,
    replace_head,
)
from engine.errors import BadInput, PtmError
from engine.inspect.heads import companion_heads
from engine.paths import get_module, split_path
from engine.words import plural

if TYPE_CHECKING:
    from engine.edit.shapecheck import ShapeCheck


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _short(module: nn.Module) -> str:
    """The module's repr on one line, at most 80 characters, a cut marked with `...`."""
    line = " ".join(line.strip() for line in repr(module).splitlines())
    return line if len(line) <= 80 else line[:77] + "..."


def _head_target(model: nn.Module, edit: Edit) -> str:
    return head_target(model, edit.get("target") or None)


def _parent(path: str) -> str:
    return split_path(path)[0]


def _head_scope(model: nn.Module, edit: Edit) -> str:
    """The head itself: the edit only swaps the module at that path."""
    from engine.edit.detection_heads import head_scope
    from engine.inspect.detection import detection_target

    if detection_target(model, edit.get("target")) is not None:  # detection/segmentation heads
        return head_scope(model, edit.get("target"))
    path = _head_target(model, edit)
    if companion_heads(model, path):
        return ""  # heads in several places: keep the model's structure (tensors are shared)
    return path


def _replace_head(workbench: Any, edit: Edit) -> str:
    from engine.edit.detection_heads import replace_detection_head
    from engine.inspect.detection import detection_target

    if detection_target(workbench.model, edit.get("target")) is not None:
        return replace_detection_head(workbench.model, edit["num_classes"], edit.get("target"))
    path = _head_target(workbench.model, edit)
    companions = companion_heads(workbench.model, path)
    for head in (path, *companions):
        replace_head(
            workbench.model, edit["num_classes"], target=head, init=edit.get("init", "default")
        )
    also = f" (and {', '.join(companions)})" if companions else ""
    return f"new head {path}{also}: {_short(get_module(workbench.model, path))}"


def _input_target(model: nn.Module, edit: Edit) -> str:
    return input_conv_target(model, edit.get("target") or None)


def _adapt_input(workbench: Any, edit: Edit) -> str:
    strategy = edit.get("strategy", "repeat")
    path = adapt_input(
        workbench.model, edit["channels"], strategy, target=_input_target(workbench.model, edit)
    )
    return f"{path} now takes {plural(edit['channels'], 'channel')} ({strategy})"


def _module(edit: Edit, model: nn.Module | None = None) -> nn.Module:
    """Return the edit's new module, built on meta when `model` is a meta skeleton (no memory)."""
    text = edit["module"]
    if not isinstance(text, str):
        raise BadInput(
            f"the module of a {edit.get('op')} edit must be text",
            f"got {text!r}",
            'write it as a string, e.g. module = "GELU()"',
        )
    on_meta = model is not None and any(p.is_meta for p in model.parameters())
    return parse_module(text, device="meta" if on_meta else None)


def _replace(workbench: Any, edit: Edit) -> str:
    old = replace(workbench.model, edit["target"], _module(edit, workbench.model))
    new = get_module(workbench.model, edit["target"])
    return (
        f"replaced {edit['target']}: {type(old).__name__} ({_params(old):,} params) -> "
        f"{_short(new)} ({_params(new):,} params)"
    )


def _insert(after: bool):
    def apply(workbench: Any, edit: Edit) -> str:
        where = insert(workbench.model, edit["target"], _module(edit, workbench.model),
                               after=after)
        side = "after" if after else "before"
        new = _short(get_module(workbench.model, where))
        return f"inserted {new} at {where} ({side} {edit['target']})"

    return apply


def _structure_scope(model: nn.Module, edit: Edit) -> str:
    """The parent when the target is in a Sequential (its children move), else the target."""
    target = edit.get("target", "")
    get_module(model, target)
    return _parent(target) if in_sequential(model, target) else target


def _delete(workbench: Any, edit: Edit) -> str:
    target = edit["target"]
    old = get_module(workbench.model, target)
    how = delete(workbench.model, target)
    return f"deleted {target} ({type(old).__name__}, {_params(old):,} params): {how}"


def _load_partial(workbench: Any, edit: Edit) -> str:
    from engine.edit.partial import load_partial

    report = load_partial(
        workbench.model, edit["source"], by_order=bool(edit.get("by_order", False))
    )
    workbench.last_load_report = report
    if hasattr(workbench, "meanings"):  # a Workbench (not a dry run's stand-in)
        workbench.meanings[str(edit["source"])] = report.meaning
    if not report.matched:
        raise BadInput(
            f"nothing in {edit['source']!r} fits this model",
            f"{len(report.mismatched)} shape-mismatched, {len(report.unexpected)} unexpected keys",
            "check the file, or try by_order = true for a renamed model",
        )
    return f"{report.summary()} from {edit['source']}"


register(
    Op(
        "replace_head",
        _replace_head,
        scope=_head_scope,
        required=("num_classes",),
        check_shapes=True,
        keeps_tensors=True,
    )
)
register(
    Op("adapt_input", _adapt_input, scope=_input_target, required=("channels",), check_shapes=True,
       keeps_tensors=True)
)
register(
    Op(
        "replace",
        _replace,
        scope=lambda m, e: e.get("target", ""),
        required=("target", "module"),
        check_shapes=True,
        keeps_tensors=True,
    )
)
register(
    Op(
        "insert_before",
        _insert(False),
        scope=_structure_scope,
        required=("target", "module"),
        check_shapes=True,
        keeps_tensors=True,
    )
)
register(
    Op(
        "insert_after",
        _insert(True),
        scope=_structure_scope,
        required=("target", "module"),
        check_shapes=True,
        keeps_tensors=True,
    )
)
register(Op("delete", _delete, scope=_structure_scope, required=("target",), check_shapes=True,
            keeps_tensors=True))
register(Op("load_partial", _load_partial, scope=lambda m, e: "", required=("source",),
            values_only=True))


def dry_run(model: nn.Module, edit: Edit, input_size: tuple[int, ...] | None = None) -> ShapeCheck:
    """Apply an edit to a meta copy of `model`; return its shape check (raise BadInput)."""
    from types import SimpleNamespace

    from engine.edit.ops import get_op
    from engine.edit.shapecheck import check_forward
    from engine.inspect.meta import meta_copy

    op = get_op(edit)
    if op.name == "load_partial":
        raise BadInput(
            "cannot preview a weights load", "it needs the real tensors", "apply it: it is undoable"
        )
    bench = SimpleNamespace(model=meta_copy(model), seed=0, input_size=input_size)
    try:
        op.apply(bench, dict(edit))
    except PtmError:
        raise
    except Exception as error:  # torch's own errors on odd arguments: say them, never crash
        raise BadInput(f"edit {edit.get('op')!r} does not fit this model", str(error),
                       "check the edit's arguments") from error
    return check_forward(bench.model, input_size)
