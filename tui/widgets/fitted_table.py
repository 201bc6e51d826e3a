"""A DataTable whose header is drawn again once new rows have widened its columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widgets import DataTable


class FittedTable(DataTable):
    """DataTable, with the header kept in step with the columns' widths.

    DataTable measures new rows when it is next idle, and keeps the lines it drew before under
    the same cache key: a frame drawn between add_row and that moment (the header alone, the
    rows not yet counted) stayed on screen with label-wide columns over the wider rows, until
    the cursor moved. Here a change of widths counts as an update, so those lines are redrawn.
    """

    def _update_dimensions(self, new_rows: Iterable[Any]) -> None:
        before = [column.get_render_width(self) for column in self.ordered_columns]
        super()._update_dimensions(new_rows)
        if before != [column.get_render_width(self) for column in self.ordered_columns]:
            self._update_count += 1  # the key of every cached line: drawn again at the new widths
            self.refresh()
