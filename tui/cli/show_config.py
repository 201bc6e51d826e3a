"""`ptm-tui finetune RECIPE --show-config`: the resolved [train] settings and where each came from."""

from __future__ import annotations

import json
from typing import Any


def as_toml(value: Any) -> str:
    """Return a setting as the recipe's TOML writes it ("sgd", true, [..]); "(not set)" for None."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(as_toml(item) for item in value) + "]"
    return str(value)


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
        table.add_row(row["key"], shown(as_toml(row["value"])), shown(row["source"]), style=style)
    stdout.print(table)
    return 0
