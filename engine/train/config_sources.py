"""Where each resolved [train] setting came from: a default, the preset, the recipe file or a flag
(`ptm-tui finetune RECIPE --show-config`)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from engine.train.config import TrainConfig, train_config
from engine.train.presets import with_preset


def show_config(
    table: dict[str, Any] | None, overrides: dict[str, Any] | None, model: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return every resolved [train] setting as {key, value, source}: "default", "preset ...",
    "recipe file" or "CLI flag" (raises BadInput as a launch would)."""
    table = dict(table or {})
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    config = train_config(table, flags, model=model)
    _filled, from_preset = with_preset({**table, **flags}, model, TrainConfig.epochs)
    rows = []
    for item in fields(config):
        key = item.name
        source = (
            "CLI flag" if key in flags else "recipe file" if key in table else from_preset.get(key, "default")
        )
        rows.append({"key": key, "value": getattr(config, key), "source": source})
    return rows
