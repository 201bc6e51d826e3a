"""layer_decay as timm does it (timm.optim.param_groups_layer_decay): number a ViT-style model's
layers from the input up, and scale each layer's lr by decay^(top layer - its layer)."""

from __future__ import annotations

import re

from torch import nn

from engine.errors import BadInput

TORCHVISION_BLOCK = re.compile(r"^encoder\.layers\.encoder_layer_(\d+)\.")
TORCHVISION_STEM = ("class_token", "conv_proj.", "encoder.pos_embedding")


def _timm_layers(model: nn.Module) -> dict[str, int]:
    """Return timm's own numbering of a timm model's parameters (its group_matcher)."""
    from timm.models import group_parameters

    return dict(group_parameters(model, model.group_matcher(coarse=False), reverse=True))


def _torchvision_vit_layers(model: nn.Module) -> dict[str, int]:
    """Return torchvision's VisionTransformer's parameters numbered as timm numbers its ViT: the
    stem (patch embedding, class token, position embedding) 0, encoder layer i i+1, the final norm
    with the last layer, the head above all."""
    depth = len(model.encoder.layers)  # type: ignore[arg-type, union-attr]
    ids = {}
    for name, _ in model.named_parameters():
        block = TORCHVISION_BLOCK.match(name)
        if name.startswith(TORCHVISION_STEM):
            ids[name] = 0
        elif block:
            ids[name] = int(block.group(1)) + 1
        elif name.startswith("encoder.ln."):
            ids[name] = depth
        else:
            ids[name] = depth + 1
    return ids


def layer_ids(model: nn.Module) -> dict[str, int]:
    """Return {parameter name: layer number from the input up}; raise BadInput for a model whose
    layers cannot be numbered (not a timm model with a group_matcher, not torchvision's ViT)."""
    from torchvision.models.vision_transformer import VisionTransformer

    if isinstance(model, VisionTransformer):
        ids = _torchvision_vit_layers(model)
    elif callable(getattr(model, "group_matcher", None)) and type(model).__module__.startswith("timm."):
        ids = _timm_layers(model)
    else:
        raise BadInput(
            f"layer_decay cannot number the layers of this {type(model).__name__}",
            "it reads a ViT-style model's layers from timm's group_matcher (timm models) or "
            "torchvision's VisionTransformer encoder layers, and this model has neither",
            "remove layer_decay (or set it to 1), or finetune a ViT (e.g. vit_b_16, timm/vit_*)",
        )
    if len(set(ids.values())) < 2:
        raise BadInput(
            f"layer_decay finds a single layer in this {type(model).__name__}",
            "its group_matcher puts every parameter in one group, so no lr would change",
            "remove layer_decay (or set it to 1)",
        )
    return ids


def layer_scales(model: nn.Module, decay: float) -> dict[str, tuple[int, float]]:
    """Return {parameter name: (its layer, its lr scale decay^(top layer - layer))}."""
    ids = layer_ids(model)
    top = max(ids.values())
    return {name: (layer, decay ** (top - layer)) for name, layer in ids.items()}
