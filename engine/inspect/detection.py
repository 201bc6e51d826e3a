"""Heads of detection, segmentation and keypoint models: what kind a model is, where its heads are."""

from __future__ import annotations

from torch import nn

from engine.errors import BadInput
from engine.paths import get_module

# Head paths in the order they are tried for "the model's classifier head".
BOX_PREDICTOR = "roi_heads.box_predictor"
MASK_PREDICTOR = "roi_heads.mask_predictor"
KEYPOINT_PREDICTOR = "roi_heads.keypoint_predictor"
DENSE_CLASSIFIER = "head.classification_head"
SEG_CLASSIFIER = "classifier"
SEG_AUX = "aux_classifier"


def has_module(model: nn.Module, path: str) -> bool:
    """Return True when `model` has a (non-None) submodule at `path`."""
    module: nn.Module | None = model
    for part in path.split("."):
        module = module._modules.get(part) if module is not None else None
        if module is None:
            return False
    return True


def head_kind(model: nn.Module, path: str) -> str | None:
    """Return what kind of head lives at `path` ("box", "mask", "keypoint", ...), or None."""
    if not has_module(model, path):
        return None
    module = get_module(model, path)
    name = type(module).__name__
    if path == BOX_PREDICTOR and hasattr(module, "cls_score"):
        return "box"
    if path == MASK_PREDICTOR and hasattr(module, "mask_fcn_logits"):
        return "mask"
    if path == KEYPOINT_PREDICTOR and hasattr(module, "kps_score_lowres"):
        return "keypoint"
    if path == DENSE_CLASSIFIER:
        if hasattr(module, "cls_logits"):
            return "dense"  # RetinaNet, FCOS
        if hasattr(module, "module_list") and hasattr(module, "num_columns"):
            return "ssd"
    if path in (SEG_CLASSIFIER, SEG_AUX):
        if name == "LRASPPHead":
            return "lraspp"
        # DeepLabHead / FCNHead: only on segmentation models (they also carry a backbone).
        if (isinstance(module, nn.Sequential) and isinstance(last_conv(module), nn.Conv2d)
                and has_module(model, "backbone")):
            return "segmentation"
    return None


def is_detection_model(model: nn.Module) -> bool:
    """Return True for torchvision-style detectors (R-CNN family, RetinaNet, FCOS, SSD)."""
    return head_kind(model, BOX_PREDICTOR) is not None or head_kind(model, DENSE_CLASSIFIER) is not None


def is_segmentation_model(model: nn.Module) -> bool:
    """Return True for torchvision-style segmentation models (DeepLabV3, FCN, LRASPP)."""
    return head_kind(model, SEG_CLASSIFIER) is not None and not is_detection_model(model)


def head_paths(model: nn.Module) -> list[str]:
    """Return every replaceable detection/segmentation head path of `model`, box head first."""
    paths = [BOX_PREDICTOR, MASK_PREDICTOR, KEYPOINT_PREDICTOR, DENSE_CLASSIFIER,
             SEG_CLASSIFIER, SEG_AUX]
    return [path for path in paths if head_kind(model, path) is not None]


def detection_head(model: nn.Module) -> str | None:
    """Return the path of the classifier head of a detection/segmentation model, else None."""
    for path in (BOX_PREDICTOR, DENSE_CLASSIFIER, SEG_CLASSIFIER):
        if head_kind(model, path) is not None:
            return path
    return None


def resolve_head(model: nn.Module, target: str | None) -> str:
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


def last_conv(module: nn.Module) -> nn.Module | None:
    """Return the last Conv2d/ConvTranspose2d inside `module` (in registration order)."""
    last = None
    for sub in module.modules():
        if isinstance(sub, (nn.Conv2d, nn.ConvTranspose2d)):
            last = sub
    return last


def head_outputs(model: nn.Module, target: str | None = None) -> int:
    """Return the number of classes (or keypoints) the head at `target` predicts now."""
    path = resolve_head(model, target)
    kind = head_kind(model, path)
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
    conv = last_conv(head)
    assert conv is not None
    return conv.out_channels
