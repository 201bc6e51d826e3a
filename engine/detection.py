"""Heads of detection, segmentation and keypoint models: find them, replace them, freeze presets."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from engine.errors import BadInput
from engine.paths import get_module, set_module

Edit = dict[str, Any]

# Head paths in the order they are tried for "the model's classifier head".
_BOX_PREDICTOR = "roi_heads.box_predictor"
_MASK_PREDICTOR = "roi_heads.mask_predictor"
_KEYPOINT_PREDICTOR = "roi_heads.keypoint_predictor"
_DENSE_CLASSIFIER = "head.classification_head"
_SEG_CLASSIFIER = "classifier"
_SEG_AUX = "aux_classifier"


def _has(model: nn.Module, path: str) -> bool:
    """Return True when `model` has a (non-None) submodule at `path`."""
    module: nn.Module | None = model
    for part in path.split("."):
        module = module._modules.get(part) if module is not None else None
        if module is None:
            return False
    return True


def _kind(model: nn.Module, path: str) -> str | None:
    """Return what kind of head lives at `path` ("box", "mask", "keypoint", ...), or None."""
    if not _has(model, path):
        return None
    module = get_module(model, path)
    name = type(module).__name__
    if path == _BOX_PREDICTOR and hasattr(module, "cls_score"):
        return "box"
    if path == _MASK_PREDICTOR and hasattr(module, "mask_fcn_logits"):
        return "mask"
    if path == _KEYPOINT_PREDICTOR and hasattr(module, "kps_score_lowres"):
        return "keypoint"
    if path == _DENSE_CLASSIFIER:
        if hasattr(module, "cls_logits"):
            return "dense"  # RetinaNet, FCOS
        if hasattr(module, "module_list") and hasattr(module, "num_columns"):
            return "ssd"
    if path in (_SEG_CLASSIFIER, _SEG_AUX):
        if name == "LRASPPHead":
            return "lraspp"
        # DeepLabHead / FCNHead: only on segmentation models (they also carry a backbone).
        if (isinstance(module, nn.Sequential) and isinstance(_last_conv(module), nn.Conv2d)
                and _has(model, "backbone")):
            return "segmentation"
    return None


def is_detection_model(model: nn.Module) -> bool:
    """Return True for torchvision-style detectors (R-CNN family, RetinaNet, FCOS, SSD)."""
    return _kind(model, _BOX_PREDICTOR) is not None or _kind(model, _DENSE_CLASSIFIER) is not None


def is_segmentation_model(model: nn.Module) -> bool:
    """Return True for torchvision-style segmentation models (DeepLabV3, FCN, LRASPP)."""
    return _kind(model, _SEG_CLASSIFIER) is not None and not is_detection_model(model)


def head_paths(model: nn.Module) -> list[str]:
    """Return every replaceable detection/segmentation head path of `model`, box head first."""
    paths = [_BOX_PREDICTOR, _MASK_PREDICTOR, _KEYPOINT_PREDICTOR, _DENSE_CLASSIFIER,
             _SEG_CLASSIFIER, _SEG_AUX]
    return [path for path in paths if _kind(model, path) is not None]


def detection_head(model: nn.Module) -> str | None:
    """Return the path of the classifier head of a detection/segmentation model, else None."""
    for path in (_BOX_PREDICTOR, _DENSE_CLASSIFIER, _SEG_CLASSIFIER):
        if _kind(model, path) is not None:
            return path
    return None


def _resolve_target(model: nn.Module, target: str | None) -> str:
    """Return the head path meant by `target` (a head path or a path inside one)."""
    heads = head_paths(model)
    if not heads:
        raise BadInput(
            "this model has no detection or segmentation head",
            "no box/mask/keypoint predictor, dense classification head or segmentation "
            "classifier was found",
            "use replace_head without a detection target (classification models) or pick "
            "a layer with `ptm-tui inspect MODEL`",
        )
    if not target:
        default = detection_head(model)
        assert default is not None
        return default
    for path in heads:
        if target == path or target.startswith(path + "."):
            return path
    raise BadInput(
        f"'{target}' is not a head this model can replace",
        f"its replaceable heads are: {', '.join(heads)}",
        "pass one of those paths as target",
    )


def detection_target(model: nn.Module, target: str | None = None) -> str | None:
    """Return the detection/segmentation head a replace_head edit with `target` means, else None.

    None when the model has no such head, or `target` names a layer outside every head (then a
    plain Linear/conv replacement is meant).
    """
    heads = head_paths(model)
    if not heads:
        return None
    if not target:
        return detection_head(model)
    return next((p for p in heads if target == p or target.startswith(p + ".")), None)


def head_scope(model: nn.Module, target: str | None = None) -> str:
    """Return the smallest module path whose copy is enough to undo replace_detection_head."""
    path = _resolve_target(model, target)
    if path == _SEG_CLASSIFIER and _kind(model, _SEG_AUX) is not None:
        return ""  # both the classifier and the aux classifier change
    return path


def _last_conv(module: nn.Module) -> nn.Module | None:
    """Return the last Conv2d/ConvTranspose2d inside `module` (in registration order)."""
    last = None
    for sub in module.modules():
        if isinstance(sub, (nn.Conv2d, nn.ConvTranspose2d)):
            last = sub
    return last


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


def _conv_like(old: nn.Conv2d, out_channels: int) -> nn.Conv2d:
    """Return a Conv2d shaped like `old` but with `out_channels` outputs."""
    return nn.Conv2d(old.in_channels, out_channels, old.kernel_size, old.stride, old.padding,
                     old.dilation, old.groups, old.bias is not None, old.padding_mode)


def _replace_box(model: nn.Module, num_classes: int) -> str:
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    old = get_module(model, _BOX_PREDICTOR)
    before = old.cls_score.out_features
    new = FastRCNNPredictor(old.cls_score.in_features, num_classes)
    set_module(model, _BOX_PREDICTOR, _like(new, old))
    return f"{_BOX_PREDICTOR}: box predictor {before} -> {num_classes} classes"


def _replace_mask(model: nn.Module, num_classes: int) -> str:
    from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

    old = get_module(model, _MASK_PREDICTOR)
    before = old.mask_fcn_logits.out_channels
    new = MaskRCNNPredictor(old.conv5_mask.in_channels, old.conv5_mask.out_channels, num_classes)
    set_module(model, _MASK_PREDICTOR, _like(new, old))
    return f"{_MASK_PREDICTOR}: mask predictor {before} -> {num_classes} classes"


def _replace_keypoint(model: nn.Module, num_keypoints: int) -> str:
    from torchvision.models.detection.keypoint_rcnn import KeypointRCNNPredictor

    old = get_module(model, _KEYPOINT_PREDICTOR)
    before = old.kps_score_lowres.out_channels
    new = KeypointRCNNPredictor(old.kps_score_lowres.in_channels, num_keypoints)
    set_module(model, _KEYPOINT_PREDICTOR, _like(new, old))
    return f"{_KEYPOINT_PREDICTOR}: keypoint predictor {before} -> {num_keypoints} keypoints"


def _replace_dense(model: nn.Module, num_classes: int) -> str:
    head = get_module(model, _DENSE_CLASSIFIER)
    old = head.cls_logits
    before = head.num_classes
    anchors = old.out_channels // before
    new = _conv_like(old, anchors * num_classes)
    nn.init.normal_(new.weight, std=0.01)
    if new.bias is not None:
        # the focal-loss prior, as torchvision initialises it
        nn.init.constant_(new.bias, -math.log((1 - 0.01) / 0.01))
    head.cls_logits = _like(new, old)
    head.num_classes = num_classes
    return f"{_DENSE_CLASSIFIER}: cls_logits {before} -> {num_classes} classes"


def _replace_ssd(model: nn.Module, num_classes: int) -> str:
    head = get_module(model, _DENSE_CLASSIFIER)
    before = head.num_columns
    for index, item in enumerate(head.module_list):
        old = _last_conv(item)
        assert isinstance(old, nn.Conv2d)
        new = _conv_like(old, old.out_channels // before * num_classes)
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
    return f"{_DENSE_CLASSIFIER}: {convs} SSD class convs {before} -> {num_classes} classes"


def _replace_seg_conv(model: nn.Module, path: str, num_classes: int) -> tuple[int, str]:
    head = get_module(model, path)
    if type(head).__name__ == "LRASPPHead":
        before = head.high_classifier.out_channels
        for name in ("low_classifier", "high_classifier"):
            old = getattr(head, name)
            setattr(head, name, _like(_conv_like(old, num_classes), old))
        return before, f"{path}.low_classifier/high_classifier"
    old = _last_conv(head)
    assert isinstance(old, nn.Conv2d)
    conv_path = next(name for name, sub in head.named_modules() if sub is old)
    set_module(head, conv_path, _like(_conv_like(old, num_classes), old))
    return old.out_channels, f"{path}.{conv_path}"


def _replace_segmentation(model: nn.Module, num_classes: int) -> str:
    before, where = _replace_seg_conv(model, _SEG_CLASSIFIER, num_classes)
    text = f"{where}: {before} -> {num_classes} classes"
    if _kind(model, _SEG_AUX) is not None:
        _, aux_where = _replace_seg_conv(model, _SEG_AUX, num_classes)
        text += f" (and {aux_where})"
    return text


def replace_detection_head(model: nn.Module, num_classes: int, target: str | None = None) -> str:
    """Replace a detection/segmentation head in place for `num_classes` outputs; return a summary.

    `target` picks the head ("roi_heads.box_predictor", "roi_heads.mask_predictor",
    "roi_heads.keypoint_predictor" — then `num_classes` is the number of keypoints —,
    "head.classification_head", "classifier"); without it the classifier head is meant.
    """
    path = _resolve_target(model, target)
    kind = _kind(model, path)
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
    if path == _SEG_AUX:
        before, where = _replace_seg_conv(model, _SEG_AUX, num_classes)
        return f"{where}: {before} -> {num_classes} classes"
    return _replace_segmentation(model, num_classes)


def head_outputs(model: nn.Module, target: str | None = None) -> int:
    """Return the number of classes (or keypoints) the head at `target` predicts now."""
    path = _resolve_target(model, target)
    kind = _kind(model, path)
    head = get_module(model, path)
    if kind == "box":
        return head.cls_score.out_features
    if kind == "mask":
        return head.mask_fcn_logits.out_channels
    if kind == "keypoint":
        return head.kps_score_lowres.out_channels
    if kind == "dense":
        return head.num_classes
    if kind == "ssd":
        return head.num_columns
    if kind == "lraspp":
        return head.high_classifier.out_channels
    conv = _last_conv(head)
    assert conv is not None
    return conv.out_channels


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
    if _has(model, "backbone.body"):
        frozen = "backbone.body"
    elif _has(model, "backbone"):
        frozen = "backbone"
    else:
        raise BadInput("this model has no 'backbone' to freeze",
                       "the preset is for detection and segmentation models",
                       "freeze layers one by one with the space bar or a freeze edit")
    edits: list[Edit] = [{"op": "freeze", "target": frozen}]
    if _has(model, "backbone.fpn"):
        edits.append({"op": "unfreeze", "target": "backbone.fpn"})
    for name, child in model.named_children():
        if name != "backbone" and any(True for _ in child.parameters()):
            edits.append({"op": "unfreeze", "target": name})
    return edits


def keypoint_head_layers(model: nn.Module) -> list[str]:
    """Return the paths of the keypoint head's weight layers, input side first, predictor last."""
    if not _has(model, "roi_heads.keypoint_head") or _kind(model, _KEYPOINT_PREDICTOR) is None:
        raise BadInput("this model has no keypoint head",
                       "only Keypoint R-CNN models have roi_heads.keypoint_head",
                       "use keypointrcnn_resnet50_fpn, or another freeze preset")
    head = get_module(model, "roi_heads.keypoint_head")
    layers = [f"roi_heads.keypoint_head.{name}" for name, sub in head.named_modules()
              if name and any(True for _ in sub.parameters(recurse=False))]
    return [*layers, _KEYPOINT_PREDICTOR]


def keypoint_head_last_n(model: nn.Module, n: int = 1) -> list[Edit]:
    """Return edits freezing the keypoint head and predictor, then unfreezing the last `n`."""
    layers = keypoint_head_layers(model)
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= len(layers):
        raise BadInput(f"cannot train the last {n!r} layers of the keypoint head",
                       f"it has {len(layers)} weight layers (the predictor counts as the last)",
                       f"pick N between 0 and {len(layers)}")
    edits: list[Edit] = [{"op": "freeze", "target": "roi_heads.keypoint_head"},
                         {"op": "freeze", "target": _KEYPOINT_PREDICTOR}]
    edits += [{"op": "unfreeze", "target": path} for path in layers[len(layers) - n:]]
    return edits


FREEZE_PRESETS: dict[str, FreezePreset] = {
    preset.id: preset
    for preset in (
        FreezePreset("backbone-frozen", "backbone body frozen, FPN and heads trainable",
                     backbone_frozen_fpn_trainable, lambda model: _has(model, "backbone")),
        FreezePreset("keypoint-head-last", "train the last N layers of the keypoint head",
                     keypoint_head_last_n,
                     lambda model: _kind(model, _KEYPOINT_PREDICTOR) is not None),
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
