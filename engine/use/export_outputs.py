"""What an exported file holds besides the graph: its outputs flattened to tensors, with names, and
the name of the extra file that carries ptm-tui's metadata."""

from __future__ import annotations

from typing import Any

import torch

from engine.errors import BadInput

METADATA_FILE = "ptm_tui.json"
"""The extra file in a TorchScript or torch.export archive that holds the metadata."""


def flat_outputs(output: Any) -> list[torch.Tensor]:
    """Return the tensors in a model's output (a tensor, or dicts/tuples/lists of them), in order."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        return [t for value in output.values() for t in flat_outputs(value)]
    if isinstance(output, (tuple, list)):
        return [t for value in output for t in flat_outputs(value)]
    raise BadInput("cannot export this model", f"its output holds a {type(output).__name__}, not tensors",
                   "export a model whose forward returns tensors (e.g. a classifier)")


def output_names(output: Any, prefix: str = "output") -> list[str]:
    """Return a name for each tensor flat_outputs finds, saying where it sits: "output" for a
    tensor, a dict's keys ("out", "aux"), "output_0", "output_1" for a tuple's items."""
    if isinstance(output, torch.Tensor):
        return [prefix]
    if isinstance(output, dict):
        return [name for key, value in output.items()
                for name in output_names(value, str(key) if prefix == "output" else f"{prefix}.{key}")]
    return [name for i, value in enumerate(output) for name in output_names(value, f"{prefix}_{i}")]
