"""Images to the model's input channels: a model whose first conv takes 1 channel (after `C`,
adapt_input) gets grayscale, one that takes 4 gets the colour channels repeated, the same way in
predictions and in training."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

LUMA = (0.2989, 0.587, 0.114)
"""ITU-R BT.601 weights (as torchvision's rgb_to_grayscale): three colour channels to one grey."""


def input_channels(model: nn.Module) -> int:
    """Return how many channels the model's first conv takes (3 when it has none or does not say)."""
    from engine.inspect.heads import find_input_conv

    path = find_input_conv(model)
    channels = getattr(model.get_submodule(path), "in_channels", 3) if path else 3
    return channels if isinstance(channels, int) and channels > 0 else 3


def match_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """Return a (..., C, H, W) image with `channels` channels: 3 -> 1 by luminance, fewer ->
    more by repeating them in order (R, G, B, R, ...); the same image when they already match."""
    have = image.shape[-3]
    if have == channels:
        return image
    if channels == 1 and have == 3:
        weights = torch.tensor(LUMA, dtype=image.dtype, device=image.device).view(3, 1, 1)
        return (image * weights).sum(dim=-3, keepdim=True)
    index = torch.arange(channels, device=image.device) % have
    return image.index_select(-3, index)


class MatchChannels:
    """A picklable transform (DataLoader workers) that applies match_channels."""

    def __init__(self, channels: int) -> None:
        self.channels = channels

    def __call__(self, image: Any) -> torch.Tensor:
        """Return `image` with the model's channels."""
        return match_channels(image, self.channels)

    def __repr__(self) -> str:
        return f"MatchChannels({self.channels})"
