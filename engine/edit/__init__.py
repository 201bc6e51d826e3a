"""Change a model: the Workbench that carries every edit (undo, redo, the recipe), the op
registry and each op family (freeze, init, surgery, detection heads, partial loads), module
expressions, shape checks, saving weights and the recipe file.

The op families register themselves when imported; this file imports them, so any use of
the edit package has every op available and the registry never imports its own members.
May import: the shared basics, engine.models and engine.inspect.
"""

from engine.edit import freeze_ops, init_ops, surgery_ops  # noqa: F401  (they register the ops)
