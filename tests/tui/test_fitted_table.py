"""The jobs table's header stays over its columns: a header drawn before new rows were measured
(a frame between add_row and the table's idle) is drawn again at the rows' widths. This was the
flaky Jobs snapshot at 120x35: label-wide header cells over wider rows, until the cursor moved."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.widgets.fitted_table import FittedTable

JOB = "20261130-111500-resnet18-digits-c3d4"


class TableApp(App[None]):
    CSS = "FittedTable { height: 5; }"  # a fixed height: adding a row resizes nothing

    def compose(self) -> ComposeResult:
        yield FittedTable()


async def test_a_header_drawn_before_the_rows_were_measured_is_drawn_again() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 8)) as pilot:
        table = app.query_one(FittedTable)
        table.add_columns("job", "status")
        await pilot.pause()
        table.add_row(JOB, "stopped")
        early = table.render_line(0).text  # a frame before the table measured the row
        assert early.index("status") == len(" job  ")
        await pilot.pause()  # idle: the row is measured, the job column widens
        width = table.ordered_columns[0].get_render_width(table)
        assert width == len(JOB) + 2
        header = table.render_line(0).text
        assert header.index("status") == width + 1  # over its column, as the row below it
        assert table.render_line(1).text.index("stopped") == width + 1
