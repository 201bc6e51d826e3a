"""Every torchvision weights entry, built the way its weights build it, equals torchvision's meta.

The references are torchvision's own: each weights enum's `meta["num_params"]` and
`meta["_ops"]` (GFLOPs, which torchvision reports as mult-adds), and its transforms' crop
size. Everything is built on meta through the catalog (no memory, no downloads) and
summarized with `engine.inspect.summary.summarize` at the size `summary` would use.
The whole file takes about 1 min of CPU (3-4 min wall on a busy 2-core machine).
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision import models

from engine.inspect.summary import summarize
from engine.models import builders, catalog, loader

ENTRIES = [(name, member.name) for name in models.list_models()
           for member in models.get_model_weights(name)]

# torchvision's meta counts inception's aux head, but the quantized weights do not hold it:
# the quantized builder drops AuxLogits before loading them (it only runs in training).
AUX_HEAD_NOT_IN_WEIGHTS = {("quantized_inception_v3", "IMAGENET1K_FBGEMM_V1")}


@functools.cache  # meta models cost no memory: each entry is built once
def _build(name: str, weights: str) -> tuple[torch.nn.Module, catalog.WeightsInfo]:
    """Return the model as `weights` builds it, on meta, and the catalog's weights entry."""
    info = catalog.resolve_weights(name, weights)
    assert info is not None
    with builders.quantized_as_float():
        return catalog.build(name, "meta", weights=info), info


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_weights_entry_is_covered() -> None:
    assert len(ENTRIES) == sum(len(catalog.model_info(n).weights) for n in models.list_models())
    assert len(ENTRIES) >= 160


@pytest.mark.parametrize(("name", "weights"), ENTRIES, ids=[f"{n}.{w}" for n, w in ENTRIES])
def test_params_equal_torchvision_meta(name: str, weights: str) -> None:
    model, _ = _build(name, weights)
    assert all(p.is_meta for p in model.parameters())
    expected = models.get_model_weights(name)[weights].meta["num_params"]
    if (name, weights) in AUX_HEAD_NOT_IN_WEIGHTS:
        reference = models.get_model("inception_v3", weights=None, aux_logits=True,
                                     init_weights=False).AuxLogits
        expected -= _params(reference)
    assert _params(model) == expected


KEYPOINT_BOXES_COUNTED = {"COCO_V1": 1, "COCO_LEGACY": 0}


def _counted_like_torchvision(name: str, weights: str, model: torch.nn.Module, total: int) -> int:
    """Return `total` less the parts torchvision's figure for `name` leaves out (see below)."""
    head = model.roi_heads if hasattr(model, "roi_heads") else None

    def flops(*modules_and_inputs: tuple[torch.nn.Module, tuple[int, ...]]) -> int:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            for module, size in modules_and_inputs:
                module(torch.empty(size, device="meta"))
        return counter.get_total_flops() // 2

    if name == "maskrcnn_resnet50_fpn":
        # torchvision's figure equals fasterrcnn_resnet50_fpn's: no mask head (its v2 counts it)
        masks = flops((torch.nn.Sequential(head.mask_head, head.mask_predictor), (100, 256, 14, 14)))
        return total - masks
    if name == "keypointrcnn_resnet50_fpn":
        # torchvision's figures run the keypoint head on the detections its measuring input
        # gave (COCO_V1: one, COCO_LEGACY: none), not on the 100 the model keeps at most
        per_box = flops((torch.nn.Sequential(head.keypoint_head, head.keypoint_predictor),
                         (1, 256, 14, 14)))
        return total - (100 - KEYPOINT_BOXES_COUNTED[weights]) * per_box
    if name.startswith("fasterrcnn_mobilenet_v3_large"):
        # torchvision's figure is the backbone and the RPN only: no RoI heads at all
        proposals = model.rpn._post_nms_top_n["testing"]
        boxes = torch.nn.Sequential(head.box_head, head.box_predictor)
        return total - flops((boxes, (proposals, 256, 7, 7)))
    return total


# RAFT's figures (211.0 and 47.7 GFLOPs) come from an input size torchvision does not state;
# no common size reproduces both within 1% (368x720 gives +1.1%), so they are not compared.
COUNTED = [(n, w) for n, w in ENTRIES if catalog.model_info(n).task != "optical_flow"]


@pytest.mark.parametrize(("name", "weights"), COUNTED, ids=[f"{n}.{w}" for n, w in COUNTED])
def test_mult_adds_equal_torchvision_ops(name: str, weights: str) -> None:
    model, info = _build(name, weights)
    size = loader.input_size_for(catalog.model_info(name), info, model)
    enum = models.get_model_weights(name)[weights]
    crop = getattr(enum.transforms, "keywords", {}).get("crop_size")
    if crop is not None and catalog.model_info(name).task == "classification":
        assert size[-2:] == (crop, crop)
    total = _counted_like_torchvision(name, weights, model, summarize(model, size)[""].mult_adds)
    expected = enum.meta["_ops"] * 1e9
    task = catalog.model_info(name).task
    tolerance = 0.02 if task == "detection" else 0.01
    # torchvision rounds _ops to 3 decimals: shufflenet_v2_x0_5's 0.0405 G reads 0.04
    assert abs(total - expected) <= max(tolerance * expected, 0.0005e9), (total, expected)


def test_every_category_list_the_weights_carry_is_in_the_catalog(capsys) -> None:
    import json

    from tui.cli.main import main

    with_keypoints = 0
    for name, weights in ENTRIES:
        meta = models.get_model_weights(name)[weights].meta
        info = catalog.resolve_weights(name, weights)
        assert info.categories == meta.get("categories")
        assert info.keypoint_names == meta.get("keypoint_names")
        with_keypoints += bool(meta.get("keypoint_names"))
    assert with_keypoints == 2  # keypointrcnn's COCO_LEGACY and COCO_V1
    assert main(["models", "--filter", "keypointrcnn*", "--json", "--categories"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    member = models.detection.KeypointRCNN_ResNet50_FPN_Weights.COCO_V1
    shown = {w["name"]: w for model in listed for w in model["weights"]}
    assert shown[f"{type(member).__name__}.{member.name}"]["keypoint_names"] == \
        member.meta["keypoint_names"]
    assert main(["models", "--filter", "keypointrcnn*", "--json"]) == 0
    assert "keypoint_names" not in capsys.readouterr().out  # only with --categories
