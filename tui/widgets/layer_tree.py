"""The layer tree: lazy (children become nodes when first opened), vim keys, freeze marks."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Input, Tree
from textual.widgets.tree import TreeNode

from tui.format import UNICODE, Glyphs, cut_end, human_count, short_name

Counts = tuple[int, int]


def _count(module: Any) -> Counts:
    """Return (total, trainable) parameters under a module, each tensor once (engine's count)."""
    from engine.edit.freeze import count_params  # here, not at the top: the TUI starts without torch

    return count_params(module)


def _module_at(model: Any, path: str) -> Any | None:
    """Return the submodule at `path`, or None when it is gone."""
    module = model
    if path:
        for part in path.split("."):
            module = module._modules.get(part)
            if module is None:
                return None
    return module


def fit_label(prefix: Text, name: Text, type_name: Text, numbers: Text, room: int,
              ellipsis: str = "…") -> Text:
    """Return a tree label in `room` cells: the type cut with an ellipsis, then left out, then
    the name cut in the middle; the numbers (parameters, change) stay whole while they fit."""
    fixed = prefix.cell_len + name.cell_len + numbers.cell_len
    if name.plain and room - fixed - 1 >= len(ellipsis) + 3:
        cut = Text(cut_end(type_name.plain, room - fixed - 1, ellipsis), type_name.style)
        return Text.assemble(prefix, name, " ", cut, numbers)
    if not name.plain:  # the root: its type is its name
        name, type_name = type_name, Text()
    if fixed <= room:
        return Text.assemble(prefix, name, numbers)
    name_room = room - prefix.cell_len - numbers.cell_len
    if name_room < len(ellipsis) + 2:
        numbers, name_room = Text(), room - prefix.cell_len
    short = Text(short_name(name.plain, max(1, name_room), ellipsis), name.style)
    return Text.assemble(prefix, short, numbers)


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


class LayerTree(Tree[str], inherit_bindings=False):
    """The model's layers as a tree whose node data is the module path ("" is the model)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor_down", "Down", show=False, id="tree.down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="tree.up"),
        Binding("left,h", "collapse_or_parent", "Close/parent", show=False, id="tree.close"),
        Binding("right,l", "expand_or_child", "Open/child", show=False, id="tree.open"),
        Binding("home,g", "scroll_home", "Top", show=False, id="tree.top"),
        Binding("end,G", "scroll_end", "Bottom", show=False, id="tree.bottom"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="tree.page_up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="tree.page_down"),
        Binding("enter", "select_cursor", "Open/close", show=False, id="tree.toggle"),
    ]

    def __init__(self, glyphs: Glyphs = UNICODE, **kwargs: Any) -> None:
        super().__init__("loading...", data="", **kwargs)
        self.glyphs = glyphs
        self.guide_depth = 3
        self.LINES = {"default": glyphs.tree_lines, "bold": glyphs.tree_lines,
                      "double": glyphs.tree_lines}
        self.ICON_NODE = glyphs.node_closed
        self.ICON_NODE_EXPANDED = glyphs.node_open
        self.model: Any = None
        self.model_name = ""
        self.nodes_by_path: dict[str, TreeNode[str]] = {}
        self.counts: dict[str, Counts] = {}
        self._modules: dict[str, Any] = {}
        self._loaded: set[str] = set()
        self.changes: dict[str, Any] = {}
        self._parts: dict[str, tuple[Text, Text, Text, Text]] = {}
        self._label_room = 0
        """The cells a label may take at depth 0 (set on resize; 0: not laid out yet)."""
        """A comparison's change per module path (engine.use.diff.LayerChange): the "changed" column."""

    # --- building ------------------------------------------------------------------------

    def show_model(self, model: Any, name: str, root_counts: Counts | None = None) -> None:
        """Show `model`: the root and its first level (deeper levels load when opened)."""
        self.clear()
        self.model = model
        self.model_name = name
        self.nodes_by_path = {"": self.root}
        self.counts = {"": root_counts or _count(model)}
        self._modules = {"": model}
        self._loaded = set()
        self.root.data = ""
        self.root.allow_expand = bool(model._modules)
        self._relabel("")
        self._load_children(self.root)
        self.root.expand()
        self.select_path("")

    def _load_children(self, node: TreeNode[str]) -> None:
        """Add the children of `node` as tree nodes (once)."""
        path = node.data or ""
        if path in self._loaded:
            return
        self._loaded.add(path)
        module = self._modules.get(path)
        if module is None:
            return
        from engine.inspect.tree import children

        for info in children(module, ""):
            child_path = _join(path, info.path)
            child = module._modules[info.path]
            self._modules[child_path] = child
            self.counts[child_path] = (info.params, info.trainable)
            child_node = node.add(self._label_for(child_path), data=child_path,
                                  allow_expand=bool(info.children))
            self.nodes_by_path[child_path] = child_node

    def on_key(self, event: events.Key) -> None:
        """Keep keys typed right after '/' (one terminal read) for the search box, in order.

        Textual queues every key of a read at the widget focused then (this tree). The key bound
        to the screen's search opens the box at once, and keys that arrive here after the focus
        moved to an input are handed to it instead of being lost.
        """
        focused = self.app.focused
        if focused is not self and isinstance(focused, Input):
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        active = self.screen.active_bindings.get(event.key)
        if active is not None and active.binding.action == "search" \
                and hasattr(self.screen, "action_search"):
            event.stop()
            event.prevent_default()
            self.screen.action_search()

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        """Load a node's children the first time it is opened."""
        self._load_children(event.node)

    # --- labels --------------------------------------------------------------------------

    def mark(self, path: str) -> tuple[str, str]:
        """Return the freeze mark of `path` and its style."""
        total, trainable = self.counts.get(path, (0, 0))
        if total == 0:
            return " ", ""
        if trainable == 0:
            return self.glyphs.frozen, "bold cyan"
        if trainable < total:
            return self.glyphs.mixed, "yellow"
        return self.glyphs.trainable, "dim"

    def _label_for(self, path: str) -> Text:
        parts = self._label_parts(path)
        self._parts[path] = parts
        prefix, name, type_name, numbers = parts
        return Text.assemble(prefix, name, " " if name.plain else "", type_name, numbers)

    def _label_parts(self, path: str) -> tuple[Text, Text, Text, Text]:
        """Return a node's label as (freeze mark, name, type, numbers): the parts it is fitted
        from when the tree is narrow."""
        module = self._modules[path]
        total, trainable = self.counts.get(path, (0, 0))
        mark, mark_style = self.mark(path)
        frozen = total > 0 and trainable == 0
        # The root shows its type only: the model's name and trainable count are in the header
        # (a root without a mark never repaints the whole tree on a freeze toggle).
        prefix = Text.assemble((mark, mark_style), " ") if path else Text()
        name = Text(path.rpartition(".")[2], "bold" if not frozen else "bold cyan")
        type_name = Text(type(module).__name__, "italic dim" if not frozen else "cyan")
        numbers = Text()
        if total:
            numbers.append(f" {human_count(total)}", "green" if not frozen else "cyan")
        change = self.changes.get(path)
        if change is not None:  # ||B-A||/||A|| against the loaded comparison
            delta = "Δ" if self.glyphs is UNICODE else "d"
            numbers.append(f" {delta}{change.relative_text(3)}",
                           "magenta" if change.relative_change else "dim")
        return prefix, name, type_name, numbers

    def on_resize(self) -> None:
        """Note the width labels are fitted to (the scrollbar's columns always left free: it
        comes and goes as nodes open)."""
        self._label_room = self.content_region.width - self.styles.scrollbar_size_vertical

    def render_label(self, node: TreeNode[str], base_style: Style, style: Style) -> Text:
        """The node's label fitted to the tree's width: the type is cut (with an ellipsis) or
        left out before the name is cut in the middle; counts and changes are never cut."""
        label = super().render_label(node, base_style, style)
        path = node.data or ""
        room = self._label_room - (path.count(".") + 1 if path else 0) * self.guide_depth
        if label.cell_len <= room or self._label_room <= 0 or path not in self._parts:
            return label
        parts = self._parts[path]
        icon_width = label.cell_len - node.label.cell_len
        fitted = fit_label(*parts, room - icon_width, self.glyphs.ellipsis)
        fitted.stylize(style)
        return Text.assemble(label[:icon_width], fitted)

    def show_changes(self, changes: dict[str, Any]) -> None:
        """Show each module's change against a comparison (an empty dict hides the column)."""
        self.changes = changes
        for path in list(self.nodes_by_path):
            if path in self._modules:
                self._relabel(path)

    def _relabel(self, path: str) -> None:
        """Give `path` its current label; skip the repaint when nothing visible changed (a
        relabelled node repaints every line below it, so this keeps toggles cheap)."""
        node = self.nodes_by_path.get(path)
        if node is None:
            return
        label = self._label_for(path)
        if label.plain != (node.label.plain if isinstance(node.label, Text) else node.label) \
                or label.spans != getattr(node.label, "spans", None):
            node.set_label(label)

    # --- after edits -----------------------------------------------------------------------

    def refresh_flags(self, path: str) -> Counts:
        """Update counts and marks after a freeze/unfreeze under `path`; return the root counts."""
        module = self._modules.get(path)
        if module is None:
            return self.refresh_all()
        before = self.counts.get(path, (0, 0))
        after = _count(module)
        self.counts[path] = after
        delta_total, delta_trainable = after[0] - before[0], after[1] - before[1]
        self._relabel(path)
        prefix = f"{path}." if path else ""
        uniform = after[1] in (0, after[0])  # all frozen or all trainable: no recount below
        for loaded in list(self.nodes_by_path):
            if loaded != path and loaded.startswith(prefix):
                total = self.counts.get(loaded, (0, 0))[0]
                self.counts[loaded] = (total, total if after[1] else 0) if uniform and \
                    loaded in self.counts else _count(self._modules[loaded])
                self._relabel(loaded)
        ancestor = path
        while ancestor:
            ancestor = ancestor.rpartition(".")[0]
            total, trainable = self.counts.get(ancestor, (0, 0))
            self.counts[ancestor] = (total + delta_total, trainable + delta_trainable)
            self._relabel(ancestor)
        return self.counts[""]

    def refresh_all(self) -> Counts:
        """Re-read the model after an edit (rebuild changed subtrees); return the root counts."""
        model = self.model
        if model is None:
            return (0, 0)
        if self._modules.get("") is not model:
            expanded = self.expanded_paths()
            cursor = self.cursor_node.data if self.cursor_node else ""
            self.show_model(model, self.model_name)
            self.restore_folds(expanded)
            self.select_path(cursor or "")
            return self.counts[""]
        for path in sorted(self._loaded, key=lambda p: (p.count("."), p) if p else (-1, "")):
            if path not in self._loaded:
                continue  # removed while rebuilding an ancestor
            module = _module_at(model, path)
            if module is None:
                continue
            loaded_children = [c.data for c in self.nodes_by_path[path].children]
            actual = [(_join(path, n), m) for n, m in module._modules.items() if m is not None]
            if ([p for p, _ in actual] != loaded_children
                    or any(self._modules.get(p) is not m for p, m in actual)):
                self._rebuild_children(path)
        for path in self.nodes_by_path:
            module = _module_at(model, path)
            if module is not None:
                self._modules[path] = module
                self.counts[path] = _count(module)
                self._relabel(path)
        return self.counts[""]

    def _rebuild_children(self, path: str) -> None:
        """Replace the nodes under `path` by its current children, keeping what was open."""
        node = self.nodes_by_path[path]
        prefix = f"{path}." if path else ""
        expanded = [p for p in self.expanded_paths() if p.startswith(prefix)]
        for stale in [p for p in self.nodes_by_path if p.startswith(prefix) and p != path]:
            del self.nodes_by_path[stale]
            self._modules.pop(stale, None)
            self.counts.pop(stale, None)
            self._loaded.discard(stale)
        self._loaded.discard(path)
        self._modules[path] = _module_at(self.model, path)
        node.remove_children()
        module = self._modules[path]
        node.allow_expand = bool(module is not None and module._modules)
        if node.is_expanded or path == "":
            self._load_children(node)
        self.restore_folds(expanded)

    # --- finding -------------------------------------------------------------------------

    def expanded_paths(self) -> list[str]:
        """Return the paths of the nodes that are open."""
        return [p for p, n in self.nodes_by_path.items() if n.is_expanded]

    def restore_folds(self, paths: list[str]) -> None:
        """Open the nodes at `paths` again after a rebuild, leaving their closed ancestors closed
        (a node opened inside a closed one stays open for when that one is opened)."""
        for path in sorted(paths, key=lambda p: p.count(".") if p else -1):
            if path:
                parent = self.nodes_by_path.get(path.rpartition(".")[0])
                if parent is None:
                    continue
                self._load_children(parent)
            node = self.nodes_by_path.get(path)
            if node is not None and node.allow_expand:
                self._load_children(node)
                node.expand()

    def node_for(self, path: str) -> TreeNode[str] | None:
        """Return the node of `path`, loading and opening its ancestors; None when absent."""
        if path in self.nodes_by_path:
            return self.nodes_by_path[path]
        parts = path.split(".")
        for i in range(len(parts)):
            parent = ".".join(parts[:i])
            parent_node = self.nodes_by_path.get(parent)
            if parent_node is None:
                return None
            self._load_children(parent_node)
            parent_node.expand()
        return self.nodes_by_path.get(path)

    def select_path(self, path: str) -> bool:
        """Move the cursor to `path` (opening its ancestors); return whether it exists."""
        node = self.node_for(path)
        if node is None:
            return False
        _ = self._tree_lines  # lay out the lines so the node knows its line number
        self.move_cursor(node)
        return True

    @property
    def cursor_path(self) -> str | None:
        """The path under the cursor (None before a model is shown)."""
        node = self.cursor_node
        if node is None or self.model is None:
            return None
        return node.data or ""

    # --- vim keys ------------------------------------------------------------------------

    def action_collapse_or_parent(self) -> None:
        """Close the node under the cursor, or go to its parent when it is closed."""
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.allow_expand:
            node.collapse()
        elif node.parent is not None:
            self.select_path(node.parent.data or "")

    def action_expand_or_child(self) -> None:
        """Open the node under the cursor, or go to its first child when it is open."""
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            self._load_children(node)
            node.expand()
        elif node.children:
            self.select_path(node.children[0].data or "")
