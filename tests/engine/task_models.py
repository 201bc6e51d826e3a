"""Tiny torchvision detectors for the task tests: real FasterRCNN/KeypointRCNN classes on a
three-conv backbone, small enough to train on 64 px images in seconds on a CPU."""

from __future__ import annotations

import time

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN, KeypointRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

SMALL = dict(
    min_size=64,
    max_size=64,
    representation_size=128,
    rpn_pre_nms_top_n_train=300,
    rpn_post_nms_top_n_train=100,
    rpn_pre_nms_top_n_test=150,
    rpn_post_nms_top_n_test=50,
    box_batch_size_per_image=64,
    box_detections_per_img=20,
    rpn_batch_size_per_image=64,
)


def _body() -> nn.Module:
    body = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, 1, 1),
        nn.ReLU(),
    )
    body.out_channels = 32
    return body


def _anchors() -> AnchorGenerator:
    return AnchorGenerator(sizes=((16, 24, 32, 48),), aspect_ratios=((0.5, 1.0, 2.0),))


def tiny_detector(num_classes: int = 3) -> FasterRCNN:
    """A Faster R-CNN with a three-conv backbone (stride 4), seeded."""
    torch.manual_seed(0)
    return FasterRCNN(
        _body(),
        num_classes=num_classes,
        rpn_anchor_generator=_anchors(),
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
        **SMALL,
    )


def tiny_keypoints(num_classes: int = 3, num_keypoints: int = 3) -> KeypointRCNN:
    """A Keypoint R-CNN with the same backbone and a two-conv keypoint head, seeded."""
    torch.manual_seed(0)
    return KeypointRCNN(
        _body(),
        num_classes=num_classes,
        rpn_anchor_generator=_anchors(),
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
        keypoint_roi_pool=MultiScaleRoIAlign(["0"], 14, 2),
        keypoint_head=KeypointRCNNHeads(32, (64, 64)),
        keypoint_predictor=KeypointRCNNPredictor(64, num_keypoints),
        **SMALL,
    )


class SlowRCNN(FasterRCNN):
    """The tiny Faster R-CNN whose training steps take at least 0.1 s: a kill lands mid-run."""

    def forward(self, images, targets=None):
        if self.training:
            time.sleep(0.1)
        return super().forward(images, targets)


def slow_detector(num_classes: int = 3) -> FasterRCNN:
    """tiny_detector's weights in a SlowRCNN."""
    slow = SlowRCNN(
        _body(),
        num_classes=num_classes,
        rpn_anchor_generator=_anchors(),
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
        **SMALL,
    )
    slow.load_state_dict(tiny_detector(num_classes).state_dict())
    return slow
def tiny_segmenter(num_classes: int = 3) -> nn.Module:
    """A torchvision FCN (segmentation) on a two-conv backbone with an FCNHead, seeded."""
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation.fcn import FCN, FCNHead

    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU())
    return FCN(IntermediateLayerGetter(body, {"3": "out"}), FCNHead(32, num_classes))
