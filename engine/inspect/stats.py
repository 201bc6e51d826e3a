"""Per-layer weight statistics (mean, std, min, max, zeros, L2 norm, NaN/Inf counts) and histograms.

`model_stats` is built for speed: the limit is memory traffic, so each large tensor is read
by four fused reductions (sum, chunked dot for the sum of squares, aminmax, count_nonzero)
instead of six-plus separate ones, small tensors are batched into one buffer and reduced
per segment, and everything comes back to Python in a single `.tolist()` per device.
Each tensor becomes moments (count, mean, M2...) that combine exactly across tensors
(Chan et al.), so a layer or a whole subtree costs no second read. The rare tensor that
holds NaN/Inf, or whose values sit far from zero with little spread, is re-read alone in
float64 chunks, so its other statistics are over the finite values and stay precise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from engine.errors import BadInput

_SMALL = 1 << 16
"""Tensors with fewer elements are batched together into one buffer."""
_BATCH = 1 << 22
"""Elements per batch of small tensors."""
_DOT_CHUNK = 1 << 20
"""The sum of squares is one float32 dot product per chunk of this many elements."""
_CANCELLATION = 1e3
"""When mean^2 / var exceeds this, the variance is recomputed with a stable two-pass method."""


@dataclass
class LayerStats:
    """Statistics of a set of weights; mean/std/min/max/norm are over the finite values."""

    mean: float
    std: float
    """Sample standard deviation (as torch.std: divides by count - 1); 0.0 for a single value."""
    min: float
    max: float
    zeros: float
    """Fraction of values that are exactly zero (0.0 to 1.0)."""
    norm: float
    """L2 norm."""
    nan: int
    inf: int
    count: int
    """How many values, NaN and Inf included."""
    zero_count: int = 0
    """How many values are exactly zero."""

    def to_dict(self) -> dict[str, float | int]:
        """Return the statistics as plain JSON-ready data."""
        return asdict(self)


@dataclass
class _Moments:
    """What one tensor contributes: moments of its finite values, and its counts."""

    n: int  # finite values
    mean: float
    m2: float  # sum of squared deviations from the mean
    squares: float  # sum of squares (for the L2 norm)
    low: float
    high: float
    zeros: int
    nan: int
    inf: int
    count: int


def _check_real(tensor: torch.Tensor) -> None:
    if tensor.is_meta:
        raise BadInput("no weight statistics on the meta device",
                       "the model was built as structure only, so it holds no values",
                       "open it with weights (--weights default|none|FILE) to get real tensors")


def _as_float(tensor: torch.Tensor) -> torch.Tensor:
    flat = tensor.detach().reshape(-1)
    if flat.dtype in (torch.float32, torch.float64):
        return flat
    return flat.float()


def tensor_stats(tensor: torch.Tensor) -> LayerStats:
    """Return the statistics of one tensor."""
    _check_real(tensor)
    return _combine([tensor], _moments([tensor]))


def module_stats(module: nn.Module, recurse: bool = True) -> LayerStats | None:
    """Return the statistics over a module's parameters (all, or its own); None when it has none."""
    params = list(module.parameters(recurse=recurse))
    if not params:
        return None
    for param in params:
        _check_real(param)
    return _combine(params, _moments(params))


def model_stats(model: nn.Module) -> dict[str, LayerStats]:
    """Return the statistics of every module with own parameters, by path, fast."""
    layers: list[tuple[str, list[torch.Tensor]]] = []
    unique: dict[int, torch.Tensor] = {}
    for path, module in model.named_modules(remove_duplicate=False):
        own = [p for p in module._parameters.values() if p is not None]
        if own:
            layers.append((path, own))
            for param in own:
                _check_real(param)
                unique.setdefault(id(param), param)
    moments = _moments(list(unique.values()))
    return {path: _combine(own, moments) for path, own in layers}


def subtree_stats(model: nn.Module) -> dict[str, LayerStats]:
    """Return the statistics of every module with parameters (its own and all below), by path."""
    layers: list[tuple[str, list[torch.Tensor]]] = []
    unique: dict[int, torch.Tensor] = {}
    for path, module in model.named_modules(remove_duplicate=False):
        params = list(module.parameters())
        if params:
            layers.append((path, params))
            for param in params:
                unique.setdefault(id(param), param)
    for param in unique.values():
        _check_real(param)
    moments = _moments(list(unique.values()))
    return {path: _combine(params, moments) for path, params in layers}


def _moments(tensors: list[torch.Tensor]) -> dict[int, _Moments]:
    """Return the moments of each tensor by id, with one sync per device."""
    rows: dict[torch.device, list[torch.Tensor]] = {}
    owners: dict[torch.device, list[int]] = {}
    small: dict[torch.device, list[torch.Tensor]] = {}
    with torch.no_grad():
        for tensor in tensors:
            if tensor.numel() == 0:
                continue
            if tensor.numel() < _SMALL:
                small.setdefault(tensor.device, []).append(tensor)
                continue
            rows.setdefault(tensor.device, []).append(_large_partial(tensor))
            owners.setdefault(tensor.device, []).append(id(tensor))
        for device, group in small.items():
            for batch in _batches(group):
                rows.setdefault(device, []).append(_small_partials(batch))
                owners.setdefault(device, []).extend(id(t) for t in batch)
    by_id = {id(t): t for t in tensors}
    result: dict[int, _Moments] = {}
    for device, parts in rows.items():
        values = torch.cat([p.reshape(-1, 6) for p in parts]).tolist()  # the one sync
        for key, row in zip(owners[device], values):
            result[key] = _from_sums(row) or _exact_moments(by_id[key])
    return result


def _from_sums(row: list[float]) -> _Moments | None:
    """Moments from (count, sum, sumsq, min, max, nonzero); None when they need an exact re-read."""
    count, total, squares, low, high, nonzero = row
    if not all(math.isfinite(x) for x in (total, squares, low, high)):
        return None  # NaN or Inf inside (or float32 overflow)
    n = int(count)
    mean = total / count
    m2 = max(squares - total * mean, 0.0)
    if n > 1 and mean * mean * (n - 1) > _CANCELLATION * m2:
        return None  # far from zero with little spread: sumsq - sum*mean cancels
    return _Moments(n, mean, m2, squares, low, high, n - int(nonzero), 0, 0, n)


def _exact_moments(tensor: torch.Tensor) -> _Moments:
    """Moments of a tensor's finite values by two float64 passes over chunks (the rare, slow way)."""
    flat = tensor.detach().reshape(-1)
    count = flat.numel()
    nan = inf = zeros = n = 0
    total = squares = 0.0
    low, high = math.inf, -math.inf
    with torch.no_grad():
        for chunk in flat.split(_DOT_CHUNK):
            chunk = chunk.double()
            nan += int(torch.isnan(chunk).sum())
            inf += int(torch.isinf(chunk).sum())
            zeros += int((chunk == 0).sum())
            finite = chunk[torch.isfinite(chunk)]
            if finite.numel():
                n += finite.numel()
                total += float(finite.sum())
                squares += float(finite.square().sum())
                low = min(low, float(finite.min()))
                high = max(high, float(finite.max()))
        mean = total / n if n else math.nan
        m2 = 0.0
        for chunk in flat.split(_DOT_CHUNK) if n else ():
            chunk = chunk.double()
            m2 += float((chunk[torch.isfinite(chunk)] - mean).square().sum())
    return _Moments(n, mean, m2, squares, low, high, zeros, nan, inf, count)


def _large_partial(tensor: torch.Tensor) -> torch.Tensor:
    """Return a (6,) float64 tensor of partials for one large tensor, without syncing."""
    flat = _as_float(tensor)
    total = flat.sum(dtype=torch.float64) if flat.dtype == torch.float64 else flat.sum()
    dots = [torch.dot(chunk, chunk) for chunk in flat.split(_DOT_CHUNK)]
    squares = torch.stack(dots).sum(dtype=torch.float64)
    low, high = torch.aminmax(flat)
    nonzero = torch.count_nonzero(flat)
    count = torch.tensor(float(flat.numel()), dtype=torch.float64, device=flat.device)
    return torch.stack([count, total.double(), squares, low.double(), high.double(),
                        nonzero.double()])


def _batches(tensors: list[torch.Tensor]) -> Iterable[list[torch.Tensor]]:
    batch: list[torch.Tensor] = []
    size = 0
    for tensor in tensors:
        batch.append(tensor)
        size += tensor.numel()
        if size >= _BATCH:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _small_partials(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Return (k, 6) float64 partials of k small tensors, reduced as segments of one buffer."""
    device = tensors[0].device
    values = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
    lengths = torch.tensor([t.numel() for t in tensors], device=device)
    segment = torch.repeat_interleave(torch.arange(len(tensors), device=device), lengths)
    zeros = torch.zeros(len(tensors), dtype=torch.float64, device=device)
    total = zeros.index_add(0, segment, values)
    squares = zeros.index_add(0, segment, values * values)
    nonzero = zeros.index_add(0, segment, (values != 0).to(torch.float64))
    low = torch.full_like(zeros, math.inf).scatter_reduce(0, segment, values, "amin")
    high = torch.full_like(zeros, -math.inf).scatter_reduce(0, segment, values, "amax")
    return torch.stack([lengths.to(torch.float64), total, squares, low, high, nonzero], dim=1)


def _combine(tensors: list[torch.Tensor], moments: dict[int, _Moments]) -> LayerStats:
    """Return the statistics of several tensors from their moments (Chan's parallel formulas)."""
    parts = [moments[id(t)] for t in tensors if t.numel()]
    count = sum(p.count for p in parts)
    zeros = sum(p.zeros for p in parts)
    nan = sum(p.nan for p in parts)
    inf = sum(p.inf for p in parts)
    parts = [p for p in parts if p.n]
    n = sum(p.n for p in parts)
    zero_fraction = zeros / count if count else 0.0
    if n == 0:
        return LayerStats(math.nan, math.nan, math.nan, math.nan, zero_fraction, math.nan, nan,
                          inf, count, zeros)
    mean = sum(p.n * p.mean for p in parts) / n
    m2 = sum(p.m2 + p.n * (p.mean - mean) ** 2 for p in parts)
    std = math.sqrt(m2 / (n - 1)) if n > 1 else 0.0
    return LayerStats(mean, std, min(p.low for p in parts), max(p.high for p in parts),
                      zero_fraction, math.sqrt(sum(p.squares for p in parts)), nan, inf, count,
                      zeros)


def histogram(tensor: torch.Tensor, bins: int = 40) -> tuple[list[int], list[float]]:
    """Return (counts, edges) of a tensor's finite values: `bins` counts, `bins + 1` edges."""
    _check_real(tensor)
    if bins < 1:
        raise BadInput(f"cannot draw a histogram with {bins} bins", "it needs at least one bin",
                       "ask for 1 or more bins")
    with torch.no_grad():
        flat = _as_float(tensor)
        finite = flat[torch.isfinite(flat)]
        if finite.numel() == 0:
            return [0] * bins, [float(i) for i in range(bins + 1)]
        low, high = (float(v) for v in torch.aminmax(finite))
        if low == high:
            low, high = low - 0.5, high + 0.5
        counts = torch.histc(finite, bins=bins, min=low, max=high)
        edges = torch.linspace(low, high, bins + 1, dtype=torch.float64)
    return [int(c) for c in counts.tolist()], edges.tolist()
