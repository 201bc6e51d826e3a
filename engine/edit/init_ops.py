"""The init and init_preset edits (the Workbench seeds torch's RNG before each one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.edit.init import apply_init, apply_preset
from engine.edit.ops import Edit, Op, register
from engine.words import plural

if TYPE_CHECKING:
    from engine.edit.workbench import Workbench


def _init(workbench: Workbench, edit: Edit) -> str:
    target = edit.get("target", "")
    report = apply_init(workbench.model, edit["method"], edit.get("params") or {}, target=target,
                        layer_type=edit.get("layer_type") or None, what=edit.get("what", "weight"))
    kind = f" ({edit['layer_type']} layers)" if edit.get("layer_type") else ""
    return report.summary(target) + kind


def _init_preset(workbench: Workbench, edit: Edit) -> str:
    target = edit.get("target", "")
    preset = edit.get("preset", "common")
    report = apply_preset(workbench.model, target=target, preset=preset)
    return (f"initialised {target or 'the whole model'} with preset {preset}: "
            f"{plural(len(report.tensors), 'tensor')}, {plural(report.elements, 'value')}")


register(Op("init", _init, required=("method",), values_only=True))
register(Op("init_preset", _init_preset, values_only=True))
