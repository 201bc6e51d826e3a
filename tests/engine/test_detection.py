"""Detection, segmentation and keypoint heads: replaced for N outputs, the forward still works."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from engine.edit.detection_heads import (
    backbone_frozen_fpn_trainable,
    freeze_presets,
    head_scope,
    keypoint_head_last_n,
    keypoint_head_layers,
    preset_edits,
    replace_detection_head,
)
from engine.edit.workbench import Workbench
from engine.errors import BadInput
from engine.inspect.detection import (
    detection_head,
    head_outputs,
    head_paths,
    is_detection_model,
    is_segmentation_model,
)

SMALL = {"min_size": 128, "max_size": 128, "rpn_pre_nms_top_n_test": 100,
         "rpn_post_nms_top_n_test": 30, "box_detections_per_img": 4, "box_score_thresh": 0.0}


def _build(name: str, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, weights_backbone=None, **kwargs).eval()


@pytest.fixture(scope="module")
def keypointrcnn() -> nn.Module:
    return _build("keypointrcnn_resnet50_fpn", **SMALL)


@pytest.fixture(scope="module")
def fasterrcnn() -> nn.Module:
    return _build("fasterrcnn_mobilenet_v3_large_320_fpn", **SMALL)


def _detect(model: nn.Module) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model([torch.rand(3, 96, 128)])[0]


def test_keypoint_predictor_gets_k_channels_and_still_detects(keypointrcnn):
    assert head_paths(keypointrcnn) == ["roi_heads.box_predictor", "roi_heads.keypoint_predictor"]
    assert head_outputs(keypointrcnn, "roi_heads.keypoint_predictor") == 17
    summary = replace_detection_head(keypointrcnn, 7, target="roi_heads.keypoint_predictor")
    assert "17 -> 7 keypoints" in summary
    conv = keypointrcnn.roi_heads.keypoint_predictor.kps_score_lowres
    assert isinstance(conv, nn.ConvTranspose2d) and conv.out_channels == 7
    out = _detect(keypointrcnn)
    assert out["boxes"].shape[0] > 0
    assert out["keypoints"].shape[1:] == (7, 3)


def test_a_path_inside_a_head_means_that_head(keypointrcnn):
    replace_detection_head(keypointrcnn, 5, target="roi_heads.keypoint_predictor.kps_score_lowres")
    assert head_outputs(keypointrcnn, "roi_heads.keypoint_predictor") == 5


def test_box_predictor_for_n_classes(fasterrcnn):
    assert is_detection_model(fasterrcnn) and not is_segmentation_model(fasterrcnn)
    assert detection_head(fasterrcnn) == "roi_heads.box_predictor"
    summary = replace_detection_head(fasterrcnn, 4)
    assert "91 -> 4 classes" in summary
    assert fasterrcnn.roi_heads.box_predictor.cls_score.out_features == 4
    assert fasterrcnn.roi_heads.box_predictor.bbox_pred.out_features == 16
    out = _detect(fasterrcnn)
    assert out["boxes"].shape[0] > 0 and int(out["labels"].max()) < 4


def test_maskrcnn_box_and_mask_predictors():
    model = _build("maskrcnn_resnet50_fpn", **SMALL)
    replace_detection_head(model, 3)
    replace_detection_head(model, 3, target="roi_heads.mask_predictor")
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3
    out = _detect(model)
    assert out["masks"].shape[1:] == (1, 96, 128)
    assert int(out["labels"].max()) < 3


def test_deeplabv3_classifier_and_aux_get_n_channels():
    model = _build("deeplabv3_resnet50", aux_loss=True)
    assert is_segmentation_model(model) and detection_head(model) == "classifier"
    assert head_scope(model) == ""  # classifier and aux classifier both change
    summary = replace_detection_head(model, 6)
    assert "21 -> 6 classes" in summary and "aux_classifier" in summary
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64))
    assert out["out"].shape == (1, 6, 64, 64) and out["aux"].shape == (1, 6, 64, 64)


@pytest.mark.parametrize("name", ["ssdlite320_mobilenet_v3_large", "lraspp_mobilenet_v3_large"])
def test_ssd_and_lraspp_heads(name):
    small = {"score_thresh": 0.0, "detections_per_img": 5} if name.startswith("ssd") else {}
    model = _build(name, **small)
    replace_detection_head(model, 5)
    assert head_outputs(model) == 5
    with torch.no_grad():
        if is_segmentation_model(model):
            assert model(torch.rand(1, 3, 64, 64))["out"].shape == (1, 5, 64, 64)
        else:
            labels = _detect(model)["labels"].tolist()
            assert labels and max(labels) < 5


def test_classification_models_have_no_detection_head():
    model = torchvision.models.squeezenet1_0()
    assert detection_head(model) is None and not is_segmentation_model(model)
    with pytest.raises(BadInput, match="no detection or segmentation head"):
        replace_detection_head(model, 3)


def test_bad_target_and_count_are_refused_and_leave_the_head(fasterrcnn):
    before = fasterrcnn.roi_heads.box_predictor
    with pytest.raises(BadInput, match=r"roi_heads\.box_predictor"):
        replace_detection_head(fasterrcnn, 3, target="backbone.body")
    with pytest.raises(BadInput, match="positive"):
        replace_detection_head(fasterrcnn, 0)
    assert fasterrcnn.roi_heads.box_predictor is before


def test_workbench_applies_backbone_preset_and_undoes_it(keypointrcnn):
    workbench = Workbench(model=keypointrcnn, name="keypointrcnn_resnet50_fpn")
    edits = preset_edits(keypointrcnn, "backbone-frozen")
    assert edits[:2] == [{"op": "freeze", "target": "backbone.body"},
                         {"op": "unfreeze", "target": "backbone.fpn"}]
    for edit in edits:
        workbench.apply(edit)
    params = dict(keypointrcnn.named_parameters())
    assert not any(p.requires_grad for n, p in params.items() if n.startswith("backbone.body."))
    assert all(p.requires_grad for n, p in params.items() if n.startswith("backbone.fpn."))
    assert all(p.requires_grad for n, p in params.items() if n.startswith("roi_heads."))
    for _ in edits:
        workbench.undo()
    assert all(p.requires_grad for p in keypointrcnn.parameters())


def test_keypoint_head_last_n_trains_only_those_layers(keypointrcnn):
    layers = keypoint_head_layers(keypointrcnn)
    assert len(layers) == 9 and layers[-1] == "roi_heads.keypoint_predictor"
    workbench = Workbench(model=keypointrcnn, name="keypointrcnn_resnet50_fpn")
    for edit in keypoint_head_last_n(keypointrcnn, 3):
        workbench.apply(edit)
    trainable = {n.rsplit(".", 1)[0] for n, p in keypointrcnn.named_parameters()
                 if p.requires_grad and n.startswith("roi_heads.keypoint_")}
    assert trainable == {"roi_heads.keypoint_head.12", "roi_heads.keypoint_head.14",
                         "roi_heads.keypoint_predictor.kps_score_lowres"}
    with pytest.raises(BadInput, match="between 0 and 9"):
        keypoint_head_last_n(keypointrcnn, 10)
    for _ in range(len(workbench.edits)):
        workbench.undo()


def test_presets_offered_per_model(fasterrcnn, keypointrcnn):
    assert [p.id for p in freeze_presets(fasterrcnn)] == ["backbone-frozen"]
    assert [p.id for p in freeze_presets(keypointrcnn)] == ["backbone-frozen", "keypoint-head-last"]
    assert freeze_presets(torchvision.models.alexnet()) == []
    with pytest.raises(BadInput, match="no 'backbone'"):
        backbone_frozen_fpn_trainable(torchvision.models.alexnet())


def test_recipe_replace_head_edit_dispatches_to_detection_heads(keypointrcnn):
    workbench = Workbench(model=keypointrcnn, name="keypointrcnn_resnet50_fpn",
                          input_size=(1, 3, 128, 128))
    before = head_outputs(keypointrcnn, "roi_heads.keypoint_predictor")
    summary = workbench.apply({"op": "replace_head", "target": "roi_heads.keypoint_predictor",
                               "num_classes": 7})
    assert "-> 7 keypoints" in summary
    assert _detect(workbench.model)["keypoints"].shape[1:] == (7, 3)
    workbench.apply({"op": "replace_head", "num_classes": 3})  # no target: the box predictor
    assert workbench.model.roi_heads.box_predictor.cls_score.out_features == 3
    workbench.undo()
    workbench.undo()
    assert head_outputs(workbench.model, "roi_heads.keypoint_predictor") == before
    assert workbench.model.roi_heads.box_predictor.cls_score.out_features == 2
