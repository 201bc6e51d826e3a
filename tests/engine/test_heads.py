"""The classifier head and the input conv of torchvision, timm-style and user models — or None."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.inspect.heads import find_head, find_input_conv


def _build(name: str) -> nn.Module:
    """Build a torchvision model on meta (no memory, no network) through the catalog."""
    from engine.models.catalog import build

    return build(name, "meta")


# name -> (head, type of the head, input conv)
TORCHVISION = {
    "resnet50": ("fc", "Linear", "conv1"),
    "alexnet": ("classifier.6", "Linear", "features.0"),
    "vgg16": ("classifier.6", "Linear", "features.0"),
    "vit_b_16": ("heads.head", "Linear", "conv_proj"),
    "squeezenet1_0": ("classifier.1", "Conv2d", "features.0"),
    "efficientnet_b0": ("classifier.1", "Linear", "features.0.0"),
    "mobilenet_v3_small": ("classifier.3", "Linear", "features.0.0"),
    "mobilenet_v2": ("classifier.1", "Linear", "features.0.0"),
    "densenet121": ("classifier", "Linear", "features.conv0"),
    "convnext_tiny": ("classifier.2", "Linear", "features.0.0"),
    "swin_t": ("head", "Linear", "features.0.0"),
    "regnet_y_400mf": ("fc", "Linear", "stem.0"),
    "googlenet": ("fc", "Linear", "conv1.conv"),
    "inception_v3": ("fc", "Linear", "Conv2d_1a_3x3.conv"),
    "shufflenet_v2_x0_5": ("fc", "Linear", "conv1.0"),
    "maxvit_t": ("classifier.5", "Linear", "stem.0.0"),
    "mnasnet0_5": ("classifier.1", "Linear", "layers.0"),
    "quantized_resnet18": ("fc", "Linear", "conv1"),
    "r3d_18": ("fc", "Linear", "stem.0"),
    "s3d": ("classifier.1", "Conv3d", "features.0.0.0"),
    "mvit_v2_s": ("head.1", "Linear", "conv_proj"),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_heads_and_input_convs(name: str) -> None:
    head, head_type, conv = TORCHVISION[name]
    model = _build(name)
    assert find_head(model) == head
    assert type(model.get_submodule(head)).__name__ == head_type
    assert find_input_conv(model) == conv
    assert model.get_submodule(conv).in_channels == 3


@pytest.mark.parametrize("name", ["fasterrcnn_mobilenet_v3_large_320_fpn", "fcn_resnet50",
                                  "lraspp_mobilenet_v3_large", "raft_small"])
def test_detection_segmentation_and_flow_have_no_single_head(name: str) -> None:
    model = _build(name)
    assert find_head(model) is None
    conv = find_input_conv(model)
    assert conv is not None and model.get_submodule(conv).in_channels == 3


def test_user_models() -> None:
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    assert find_head(mlp) == "3"
    assert find_input_conv(mlp) is None  # an MLP has no conv: say so

    class LeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.ModuleList([nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)])
            self.heads = nn.ModuleDict({"fc1": nn.Linear(256, 120), "out": nn.Linear(120, 10)})

    lenet = LeNet()
    assert find_head(lenet) == "heads.out"
    assert find_input_conv(lenet) == "features.0"


def test_forward_order_decides_when_registration_order_misleads() -> None:
    class FcFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16, 10)  # registered first, runs last
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
            self.norm = nn.BatchNorm2d(16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.norm(self.conv(x)).mean((2, 3)))

    model = FcFirst()
    assert find_head(model) == "fc"  # input size guessed from the first conv: 1x3x224x224
    assert find_head(model, (2, 3, 32, 32)) == "fc"
    assert all(p.device.type == "cpu" for p in model.parameters())  # traced on a meta copy
    assert not any(m._forward_hooks for m in model.modules())


def test_no_head_is_reported_honestly() -> None:
    convs_only = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3))
    assert find_head(convs_only) is None  # a 3x3 conv is a feature layer, not a classifier
    assert find_input_conv(convs_only) == "0"

    ends_in_norm = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))
    assert find_head(ends_in_norm) is None

    headless = _build("resnet18")
    headless.fc = nn.Identity()  # the usual way to make a feature extractor
    assert find_head(headless) is None

    assert find_head(nn.Sequential(nn.ReLU())) is None and find_input_conv(nn.ReLU()) is None
    assert find_head(nn.LSTM(4, 4)) is None


def test_transposed_conv_is_not_an_input_conv() -> None:
    decoder = nn.Sequential(nn.ConvTranspose2d(8, 4, 2), nn.Conv2d(4, 3, 3))
    assert find_input_conv(decoder) == "1"


def test_timm_style_models_say_where_their_head_is() -> None:
    class TimmLike(nn.Module):
        """Shaped like timm: the head is not the last layer registered, and the cfg names it."""

        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3)
            self.head = nn.Module()
            self.head.fc = nn.Linear(8, 5)
            self.aux_norm = nn.LayerNorm(8)  # registered last, but not the classifier
            self.pretrained_cfg = {"classifier": "head.fc", "input_size": (3, 32, 32)}

        def get_classifier(self) -> nn.Module:
            return self.head.fc

    model = TimmLike()
    assert find_head(model) == "head.fc"
    del model.pretrained_cfg
    assert find_head(model) == "head.fc"  # from get_classifier()
    model.head.fc = nn.Identity()  # timm's reset_classifier(0)
    assert find_head(model) is None


def test_really_quantized_models() -> None:
    import torchvision

    engines = torch.backends.quantized.supported_engines
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = "fbgemm" if "fbgemm" in engines else "qnnpack"
    try:
        model = torchvision.models.get_model("quantized_resnet18", weights=None, quantize=True)
    finally:
        torch.backends.quantized.engine = before
    assert not list(model.fc.parameters())  # quantized weights are packed, not parameters
    assert find_head(model) == "fc"
    assert find_input_conv(model) == "conv1" and model.conv1.in_channels == 3


def test_meta_and_real_models_agree() -> None:
    import torchvision

    with torch.device("cpu"):
        real = torchvision.models.squeezenet1_1()
    meta = _build("squeezenet1_1")
    assert find_head(real) == find_head(meta) == "classifier.1"
    assert find_input_conv(real) == find_input_conv(meta) == "features.0"


@pytest.mark.slow
def test_every_torchvision_model() -> None:
    from engine.models.catalog import list_models

    for info in list_models():
        model = _build(info.name)
        head = find_head(model)
        if info.task in ("detection", "segmentation", "optical_flow"):
            assert head is None, info.name
        else:
            assert head is not None, info.name
            assert model.get_submodule(head).weight.shape[0] in (1000, 400, 101), info.name
        conv = find_input_conv(model)
        assert conv is not None and model.get_submodule(conv).in_channels == 3, info.name
