"""`ptm-tui finetune RECIPE --show-config`: the resolved [train] settings and where each came from."""

from __future__ import annotations

from typing import Any


def print_config(recipe: Any, overrides: dict[str, Any], as_json: bool) -> int:
    """Print each [train] setting with its value and source (a table, or JSON lines); return 0."""
    from rich import box
    from rich.table import Table

    from engine.train.config_sources import show_config
    from tui.cli.output import print_json, shown, stdout

    rows = show_config(recipe.train, overrides, recipe.model)
    if as_json:
        for row in rows:
            print_json(row)
        return 0
    table = Table(
        "key",
        "value",
        "from",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=f"\\[train] of {shown(recipe.model.get('name'))}",
    )
    for row in rows:
        dim = row["source"] == "default"
        style = "dim" if dim else ""
        table.add_row(row["key"], shown(repr(row["value"])), shown(row["source"]), style=style)
    stdout.print(table)
    return 0
