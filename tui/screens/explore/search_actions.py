"""Explorer search: find layers by name or type and step through the matches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.widgets import Input

from tui.widgets.layer_tree import LayerTree

if TYPE_CHECKING:
    from tui.screens.explore.explorer import ExplorerScreen


def find_layers(model: Any, query: str) -> list[str]:
    """Return the paths whose name, path or type contains `query`, best first: exact names,
    then names, then paths, then types (model order within each), so /conv2 finds conv2 first."""
    query = query.lower()
    ranked: list[tuple[int, int, str]] = []
    for order, (path, module) in enumerate(model.named_modules()):
        if not path:
            continue
        lowered = path.lower()
        name = lowered.rpartition(".")[2]
        if query in (name, lowered):
            rank = 0
        elif query in name:
            rank = 1
        elif "." in query and query in lowered:
            rank = 2
        elif query in type(module).__name__.lower():
            rank = 3
        else:
            continue
        ranked.append((rank, order, path))
    return [path for _, _, path in sorted(ranked)]


class SearchActions:
    """Explorer actions for searching layers (mixed into ExplorerScreen, which binds the keys).

    Relies on the explorer's `workbench`, `_matches`, `_match_index`, its #search Input and its
    LayerTree. The explorer routes the search box's Input.Submitted to `search_submitted` (an @on
    handler only registers on a Textual class, which this mixin is not).
    """

    def action_search(self: ExplorerScreen) -> None:
        """Open the search box."""
        search = self.query_one("#search", Input)
        search.display = True
        self.set_focus(search)  # at once: keys typed right after '/' must reach the box

    def search_submitted(self: ExplorerScreen, event: Input.Submitted) -> None:
        """Find the layers matching the search box's query and go to the first."""
        query = event.value.strip().lower()
        event.input.display = False
        self.query_one(LayerTree).focus()
        if not query or self.workbench is None:
            return
        self._matches = find_layers(self.workbench.model, query)
        self._match_index = -1
        if not self._matches:
            self.notify(f"no layer matches '{query}'", severity="warning", timeout=3)
            return
        self.action_search_next()

    def action_search_next(self: ExplorerScreen) -> None:
        """Go to the next search match."""
        self._step_match(+1)

    def action_search_previous(self: ExplorerScreen) -> None:
        """Go to the previous search match."""
        self._step_match(-1)

    def _step_match(self: ExplorerScreen, step: int) -> None:
        if not self._matches:
            self.notify("no search: press / to search", timeout=4)
            return
        self._match_index = (self._match_index + step) % len(self._matches)
        path = self._matches[self._match_index]
        self.query_one(LayerTree).select_path(path)
        self.notify(f"{self._match_index + 1}/{len(self._matches)}: {path}", timeout=4)
