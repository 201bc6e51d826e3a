"""The freeze and unfreeze edits."""

from __future__ import annotations

from engine.edit.freeze import set_trainable
from engine.edit.ops import Edit, Op, register
from engine.words import plural


def _freeze(workbench, edit: Edit) -> str:
    changed = set_trainable(workbench.model, edit.get("target", ""), False)
    return f"froze {edit.get('target') or 'the whole model'} ({plural(changed, 'tensor')})"


def _unfreeze(workbench, edit: Edit) -> str:
    changed = set_trainable(workbench.model, edit.get("target", ""), True)
    return f"unfroze {edit.get('target') or 'the whole model'} ({plural(changed, 'tensor')})"


register(Op("freeze", _freeze, flags_only=True))
register(Op("unfreeze", _unfreeze, flags_only=True))
