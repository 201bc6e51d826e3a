"""The architecture a weights choice builds, on meta, without the weights file or the network.

Weights can need another architecture than random init: ViT's SWAG_E2E weights bigger
position embeddings, googlenet's none of its aux heads, fcn/deeplabv3's an aux classifier,
the detection models frozen batch norms. torchvision's builders know (they derive their
arguments from the weights enum); `architecture` runs them with the weights served from
the model itself, so what the builder derives is kept and nothing is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.models import catalog

if TYPE_CHECKING:
    from torch import nn


@dataclass
class Architecture:
    """A model built for a weights choice, and what that choice was."""

    model: nn.Module
    weights: catalog.WeightsInfo | None
    """The weights entry whose architecture this is; None for random init, a file or a URL."""
    input_size: tuple[int, ...] | None
    """The input size with batch 1 those weights expect (None when unknown)."""


def weights_entry(name: str, weights: str | None) -> catalog.WeightsInfo | None:
    """Return the catalog entry `weights` names for `name` ("default", a weights name), or None.

    None, "none", a file path and a URL name no entry (their architecture is random init's,
    or is found from the file when it is opened).
    """
    if weights is None:
        return None
    info = catalog.model_info(name)
    if weights.lower() in ("default", "pretrained"):
        return catalog.resolve_weights(name, "default") if info.default_weights else None
    return info.weights_named(weights)


def architecture(name: str, weights: str | None, device: str = "meta") -> Architecture:
    """Return model `name` as weights `weights` build it, with none loaded (offline).

    Quantized weights give the float layers they hold (quantizing needs real tensors).
    """
    from engine.models import builders, loader

    info = catalog.model_info(name)
    entry = weights_entry(name, weights)
    with builders.quantized_as_float():
        model = catalog.build(name, device, weights=entry)
    default = catalog.resolve_weights(name, "default") if info.default_weights else None
    return Architecture(model, entry, loader.input_size_for(info, entry or default, model))
