"""Change the heads of detection, segmentation and keypoint models: replace them, freeze presets."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from engine.edit.size_limit import build_within_limit, check_size
from engine.errors import BadInput
from engine.inspect.detection import (
    BOX_PREDICTOR,
    DENSE_CLASSIFIER,
    KEYPOINT_PREDICTOR,
    MASK_PREDICTOR,
    SEG_AUX,
    SEG_CLASSIFIER,
    has_module,
    head_kind,
    last_conv,
    resolve_head,
)
from engine.paths import get_module, set_module

Edit = dict[str, Any]


def head_scope(model: nn.Module, target: str | None = None) -> str:
    """Return the smallest module path whose copy is enough to undo replace_detection_head."""
    path = resolve_head(model, target)
    if path == SEG_CLASSIFIER and head_kind(model, SEG_AUX) is not None:
        return ""  # both the classifier and the aux classifier change
    return path



def _check_count(num: int, what: str) -> None:
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise BadInput(f"{what} must be a positive whole number, got {num!r}",
                       "a head needs at least one output", f"pass {what} >= 1")


def _like(new: nn.Module, old: nn.Module) -> nn.Module:
    """Return `new` moved to the device and dtype of `old`'s parameters."""
    param = next(old.parameters(), None)
    if param is None or param.device.type == "meta":
        return new.to(param.device) if param is not None else new
    return new.to(device=param.device, dtype=param.dtype)


def _conv_like(old: nn.Conv2d, out_channels: int, num_classes: int) -> nn.Conv2d:
    """Return a Conv2d shaped like `old` but with `out_channels` outputs (within the size limit)."""
    return build_within_limit(
        lambda: nn.Conv2d(old.in_channels, out_channels, old.kernel_size, old.stride, old.padding,
                          old.dilation, old.groups, old.bias is not None, old.padding_mode),
        "a new class conv", f"num_classes={num_classes}")


def _replace_box(model: nn.Module, num_classes: int) -> str:
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    old = get_module(model, BOX_PREDICTOR)
    before = old.cls_score.out_features
    new = build_within_limit(lambda: FastRCNNPredictor(old.cls_score.in_features, num_classes),
                             "a new box predictor", f"num_classes={num_classes}")
    set_module(model, BOX_PREDICTOR, _like(new, old))
    return f"{BOX_PREDICTOR}: box predictor {before} -> {num_classes} classes"


def _replace_mask(model: nn.Module, num_classes: int) -> str:
    from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

    old = get_module(model, MASK_PREDICTOR)
    before = old.mask_fcn_logits.out_channels
    new = build_within_limit(lambda: MaskRCNNPredictor(old.conv5_mask.in_channels,
                                                       old.conv5_mask.out_channels, num_classes),
                             "a new mask predictor", f"num_classes={num_classes}")
    set_module(model, MASK_PREDICTOR, _like(new, old))
    return f"{MASK_PREDICTOR}: mask predictor {before} -> {num_classes} classes"


def _replace_keypoint(model: nn.Module, num_keypoints: int) -> str:
    from torchvision.models.detection.keypoint_rcnn import KeypointRCNNPredictor

    old = get_module(model, KEYPOINT_PREDICTOR)
    before = old.kps_score_lowres.out_channels
    new = build_within_limit(lambda: KeypointRCNNPredictor(old.kps_score_lowres.in_channels,
                                                           num_keypoints),
                             "a new keypoint predictor", f"num_keypoints={num_keypoints}")
    set_module(model, KEYPOINT_PREDICTOR, _like(new, old))
    return f"{KEYPOINT_PREDICTOR}: keypoint predictor {before} -> {num_keypoints} keypoints"


def _replace_dense(model: nn.Module, num_classes: int) -> str:
    head = get_module(model, DENSE_CLASSIFIER)
    old = head.cls_logits
    before = head.num_classes
    anchors = old.out_channels // before
    new = _conv_like(old, anchors * num_classes, num_classes)
    nn.init.normal_(new.weight, std=0.01)
    if new.bias is not None:
        # the focal-loss prior, as torchvision initialises it
        nn.init.constant_(new.bias, -math.log((1 - 0.01) / 0.01))
    head.cls_logits = _like(new, old)
    head.num_classes = num_classes
    return f"{DENSE_CLASSIFIER}: cls_logits {before} -> {num_classes} classes"


def _replace_ssd(model: nn.Module, num_classes: int) -> str:
    head = get_module(model, DENSE_CLASSIFIER)
    before = head.num_columns
    convs = [last_conv(item) for item in head.module_list]
    check_size(sum(c.weight[:1].numel() * (c.out_channels // before) * num_classes for c in convs),
               "the new SSD class convs", f"num_classes={num_classes}")
    for index, item in enumerate(head.module_list):
        old = last_conv(item)
        assert isinstance(old, nn.Conv2d)
        new = _conv_like(old, old.out_channels // before * num_classes, num_classes)
        nn.init.xavier_uniform_(new.weight)
        if new.bias is not None:
            nn.init.zeros_(new.bias)
        new = _like(new, old)
        if item is old:
            head.module_list[index] = new
        else:
            path = next(name for name, sub in item.named_modules() if sub is old)
            set_module(item, path, new)
    head.num_columns = num_classes
    convs = len(head.module_list)
    return f"{DENSE_CLASSIFIER}: {convs} SSD class convs {before} -> {num_classes} classes"


def _replace_seg_conv(model: nn.Module, path: str, num_classes: int) -> tuple[int, str]:
    head = get_module(model, path)
    if type(head).__name__ == "LRASPPHead":
        before = head.high_classifier.out_channels
        for name in ("low_classifier", "high_classifier"):
            old = getattr(head, name)
            setattr(head, name, _like(_conv_like(old, num_classes, num_classes), old))
        return before, f"{path}.low_classifier/high_classifier"
    old = last_conv(head)
    assert isinstance(old, nn.Conv2d)
    conv_path = next(name for name, sub in head.named_modules() if sub is old)
    set_module(head, conv_path, _like(_conv_like(old, num_classes, num_classes), old))
    return old.out_channels, f"{path}.{conv_path}"


def _replace_segmentation(model: nn.Module, num_classes: int) -> str:
    before, where = _replace_seg_conv(model, SEG_CLASSIFIER, num_classes)
    text = f"{where}: {before} -> {num_classes} classes"
    if head_kind(model, SEG_AUX) is not None:
        _, aux_where = _replace_seg_conv(model, SEG_AUX, num_classes)
        text += f" (and {aux_where})"
    return text


def replace_detection_head(model: nn.Module, num_classes: int, target: str | None = None) -> str:
    """Replace a detection/segmentation head in place for `num_classes` outputs; return a summary.

    `target` picks the head ("roi_heads.box_predictor", "roi_heads.mask_predictor",
    "roi_heads.keypoint_predictor" — then `num_classes` is the number of keypoints —,
    "head.classification_head", "classifier"); without it the classifier head is meant.
    """
    path = resolve_head(model, target)
    kind = head_kind(model, path)
    _check_count(num_classes, "the number of keypoints" if kind == "keypoint" else "num_classes")
    if kind == "box":
        return _replace_box(model, num_classes)
    if kind == "mask":
        return _replace_mask(model, num_classes)
    if kind == "keypoint":
        return _replace_keypoint(model, num_classes)
    if kind == "dense":
        return _replace_dense(model, num_classes)
    if kind == "ssd":
        return _replace_ssd(model, num_classes)
    if path == SEG_AUX:
        before, where = _replace_seg_conv(model, SEG_AUX, num_classes)
        return f"{where}: {before} -> {num_classes} classes"
    return _replace_segmentation(model, num_classes)



# --- freeze presets -----------------------------------------------------------------------


@dataclass(frozen=True)
class FreezePreset:
    """A named freeze setting: `edits(model, **options)` returns the freeze/unfreeze edits."""

    id: str
    title: str
    edits: Callable[..., list[Edit]]
    applies: Callable[[nn.Module], bool]


def backbone_frozen_fpn_trainable(model: nn.Module) -> list[Edit]:
    """Return edits freezing the backbone body (or backbone) and unfreezing the FPN and heads."""
    if has_module(model, "backbone.body"):
        frozen = "backbone.body"
    elif has_module(model, "backbone"):
        frozen = "backbone"
    else:
        raise BadInput("this model has no 'backbone' to freeze",
                       "the preset is for detection and segmentation models",
                       "freeze layers one by one with the space bar or a freeze edit")
    edits: list[Edit] = [{"op": "freeze", "target": frozen}]
    if has_module(model, "backbone.fpn"):
        edits.append({"op": "unfreeze", "target": "backbone.fpn"})
    for name, child in model.named_children():
        if name != "backbone" and any(True for _ in child.parameters()):
            edits.append({"op": "unfreeze", "target": name})
    return edits


def keypoint_head_layers(model: nn.Module) -> list[str]:
    """Return the paths of the keypoint head's weight layers, input side first, predictor last."""
    if not has_module(model, "roi_heads.keypoint_head") or head_kind(model, KEYPOINT_PREDICTOR) is None:
        raise BadInput("this model has no keypoint head",
                       "only Keypoint R-CNN models have roi_heads.keypoint_head",
                       "use keypointrcnn_resnet50_fpn, or another freeze preset")
    head = get_module(model, "roi_heads.keypoint_head")
    layers = [f"roi_heads.keypoint_head.{name}" for name, sub in head.named_modules()
              if name and any(True for _ in sub.parameters(recurse=False))]
    return [*layers, KEYPOINT_PREDICTOR]


def keypoint_head_last_n(model: nn.Module, n: int = 1) -> list[Edit]:
    """Return edits freezing the keypoint head and predictor, then unfreezing the last `n`."""
    layers = keypoint_head_layers(model)
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= len(layers):
        raise BadInput(f"cannot train the last {n!r} layers of the keypoint head",
                       f"it has {len(layers)} weight layers (the predictor counts as the last)",
                       f"pick N between 0 and {len(layers)}")
    edits: list[Edit] = [{"op": "freeze", "target": "roi_heads.keypoint_head"},
                         {"op": "freeze", "target": KEYPOINT_PREDICTOR}]
    edits += [{"op": "unfreeze", "target": path} for path in layers[len(layers) - n:]]
    return edits


FREEZE_PRESETS: dict[str, FreezePreset] = {
    preset.id: preset
    for preset in (
        FreezePreset("backbone-frozen", "backbone body frozen, FPN and heads trainable",
                     backbone_frozen_fpn_trainable, lambda model: has_module(model, "backbone")),
        FreezePreset("keypoint-head-last", "train the last N layers of the keypoint head",
                     keypoint_head_last_n,
                     lambda model: head_kind(model, KEYPOINT_PREDICTOR) is not None),
    )
}


def freeze_presets(model: nn.Module) -> list[FreezePreset]:
    """Return the freeze presets that apply to `model`."""
    return [preset for preset in FREEZE_PRESETS.values() if preset.applies(model)]


def preset_edits(model: nn.Module, preset_id: str, **options: Any) -> list[Edit]:
    """Return the freeze/unfreeze edits of the preset `preset_id` for `model`."""
    if preset_id not in FREEZE_PRESETS:
        raise BadInput(f"unknown freeze preset {preset_id!r}",
                       f"the presets are: {', '.join(FREEZE_PRESETS)}", "pick one of those")
    return FREEZE_PRESETS[preset_id].edits(model, **options)
