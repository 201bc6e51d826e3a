"""What the layer panel shows for one module, computed in a worker (imports torch; load lazily)."""

from __future__ import annotations

from typing import Any

from tui.messages import PanelData

MAX_PARAM_ROWS = 10
HIST_BINS = 40
HIST_SAMPLE = 1_000_000
"""Histograms of bigger layers use an evenly strided sample of about this many values."""


def one_line_repr(module: Any, width: int = 200) -> str:
    """Return a one-line repr: `Conv2d(3, 64, kernel_size=(7, 7), ...)` or a container summary."""
    type_name = type(module).__name__
    children = [name for name, child in module._modules.items() if child is not None]
    if children:
        shown = ", ".join(children[:8]) + (", ..." if len(children) > 8 else "")
        extra = module.extra_repr()
        head = f"{type_name}({extra})" if extra else type_name
        text = f"{head} with {len(children)} children: {shown}"
    else:
        text = f"{type_name}({module.extra_repr()})"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def parameter_rows(module: Any) -> tuple[list[tuple[str, str, str, str, int, bool]], int]:
    """Return rows (name, shape, dtype, device, count, trainable) and how many were left out."""
    rows = []
    left_out = 0
    for name, param in module.named_parameters():
        if len(rows) >= MAX_PARAM_ROWS:
            left_out += 1
            continue
        shape = "x".join(str(s) for s in param.shape) or "scalar"
        rows.append((name, shape, str(param.dtype).replace("torch.", ""), str(param.device),
                     param.numel(), bool(param.requires_grad)))
    return rows, left_out


def layer_details(module: Any, path: str, bins: int = HIST_BINS) -> PanelData:
    """Return the panel data (repr, parameter table, statistics, histogram) of one module."""
    from engine.inspect.stats import module_stats

    rows, left_out = parameter_rows(module)
    data = PanelData(path=path, type_name=type(module).__name__, repr_line=one_line_repr(module),
                     params=rows, more_params=left_out)
    if not rows:
        return data
    if str(next(module.parameters()).device) == "meta":
        return data  # structure only (the weights are still loading): no values to describe
    data.stats = module_stats(module)
    counts, edges, sampled = _module_histogram(module, bins)
    data.hist_counts, data.hist_edges, data.hist_values = counts, edges, sampled
    data.value_count = sum(p.numel() for p in module.parameters())
    return data


def _module_histogram(module: Any, bins: int) -> tuple[list[float], list[float], int]:
    """Return (counts, edges, values counted) of the parameter values of `module` (finite only)."""
    import torch

    from engine.inspect.stats import histogram

    params = list(module.parameters())
    step = max(1, -(-sum(p.numel() for p in params) // HIST_SAMPLE))
    with torch.no_grad():
        values = torch.cat([p.detach().reshape(-1)[::step].float().cpu() for p in params])
        counts, edges = histogram(values, bins)
    return [float(c) for c in counts], [float(e) for e in edges], values.numel()

