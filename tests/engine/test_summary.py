"""Output shapes and mult-adds on meta match a real run, cost no memory, and explain bad sizes."""

from __future__ import annotations

import pytest
import torch
import torchinfo
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from engine.errors import BadInput, WorkFailed
from engine.inspect.meta import meta_copy
from engine.inspect.summary import parse_input_size, summarize


def _real_shapes(model: nn.Module, size: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Output shape of every leaf layer in a real forward pass (plain torch hooks)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(path: str):
        def record(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            shapes.setdefault(path, tuple(output.shape))
        return record

    handles = [m.register_forward_hook(hook(p))
               for p, m in model.named_modules() if p and not m._modules]
    with torch.no_grad():
        model.eval()(torch.randn(size))
    for handle in handles:
        handle.remove()
    return shapes


def test_resnet18_matches_a_real_forward_pass_and_torchinfo() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    size = (1, 3, 64, 64)
    rows = summarize(model, size)

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.randn(size))
    assert rows[""].mult_adds == counter.get_total_flops() // 2  # torch's count on real tensors
    real = torchinfo.summary(model, input_size=size, verbose=0, depth=10)
    leaves = {info.var_name: info.macs for info in real.summary_list if info.is_leaf_layer}
    assert rows["fc"].mult_adds == leaves["fc"]  # the per-layer table stays torchinfo's
    assert rows[""].params == sum(p.numel() for p in model.parameters())
    assert rows[""].output_shape == (1, 1000) and next(iter(rows)) == ""
    for path, shape in _real_shapes(model, size).items():
        assert rows[path].output_shape == shape, path
    assert rows["conv1"].mult_adds == 9408 * 32 * 32
    children = [p for p in rows if p.startswith("layer1.") and p.count(".") == 1]
    assert rows["layer1"].mult_adds == sum(rows[p].mult_adds for p in children) > 0
    assert rows["layer1.0"].depth == 2 and rows["layer1.0"].type == "BasicBlock"


def test_the_model_itself_is_untouched() -> None:
    model = torchvision.models.resnet18()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summarize(model, (1, 3, 32, 32))
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_meta_copy_shares_no_data() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    model[0].weight.requires_grad_(False)
    copied = meta_copy(model)
    assert all(t.is_meta for t in [*copied.parameters(), *copied.buffers()])
    assert not copied[0].weight.requires_grad and copied[0].bias.requires_grad
    assert isinstance(copied[0].weight, nn.Parameter) and not model[0].weight.is_meta


def test_a_big_model_on_meta_costs_no_memory() -> None:
    from engine.models.catalog import build

    model = build("vgg16", "meta")
    rows = summarize(model)  # default input 1x3x224x224
    assert rows[""].output_shape == (1, 1000)
    assert rows["features.0"].output_shape == (1, 64, 224, 224)
    assert rows[""].mult_adds > 15_000_000_000  # vgg16: about 15.5 GMACs


def test_shared_layers_sum_their_calls() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(self.layer(x))

    rows = summarize(Twice(), (2, 8))
    assert rows["layer"].calls == 2
    assert rows["layer"].mult_adds == 2 * 2 * 72  # two calls, batch 2, 72 weights+biases
    assert rows[""].mult_adds == 2 * 2 * 64  # torch's total: the matmuls of both calls, no bias adds


def test_a_size_that_does_not_fit_names_the_layer() -> None:
    model = torchvision.models.resnet18()
    with pytest.raises(BadInput) as error:
        summarize(model, (1, 5, 64, 64))
    message = error.value.message
    assert "1x5x64x64 does not fit ResNet" in message
    assert "layer 'conv1' (Conv2d, takes 3 input channels)" in message
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with pytest.raises(BadInput, match=r"'1' \(Linear, takes 784 input features\)"):
        summarize(mlp, (1, 1, 20, 20))


def test_a_forward_pass_meta_cannot_run_is_work_failed() -> None:
    class NeedsValues(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[: int(x.sum())]

    with pytest.raises(WorkFailed, match="meta device"):
        summarize(NeedsValues(), (1, 4))


def test_a_vit_total_counts_every_token_and_attention() -> None:
    from engine.models.catalog import build

    model = build("vit_b_16", "meta")
    rows = summarize(model, (1, 3, 224, 224))
    weights = torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1
    assert abs(rows[""].mult_adds / 1e9 - weights.meta["_ops"]) < 0.01  # 17.56 G, not 0.17 G
    torchinfo_total = sum(r.mult_adds for p, r in rows.items() if p.count(".") == 0 and p)
    assert rows[""].mult_adds > 50 * torchinfo_total > 0


def test_a_detection_model_is_summarized_on_meta_with_every_box() -> None:
    from engine.models.catalog import build

    weights = torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1
    model = build("fasterrcnn_resnet50_fpn", "meta")
    rows = summarize(model, (1, 3, 800, 800))
    assert abs(rows[""].mult_adds / 1e9 - weights.meta["_ops"]) / weights.meta["_ops"] < 0.01
    assert "1000 proposals and 100 detections" in rows[""].note
    assert rows["roi_heads.box_predictor.cls_score"].output_shape == (1000, 91)
    assert rows["backbone.body.conv1"].output_shape == (1, 64, 400, 400)


def test_an_optical_flow_model_takes_two_images() -> None:
    from engine.models.catalog import build

    rows = summarize(build("raft_small", "meta"), (1, 3, 128, 128))
    assert rows[""].mult_adds > 0
    assert rows["feature_encoder"].calls == 1 and rows["feature_encoder"].output_shape[0] == 2


def test_the_fix_for_a_size_that_does_not_fit_names_one_that_does() -> None:
    class LeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
            self.fc = nn.Linear(16 * 5 * 5, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
            return self.fc(torch.flatten(x, 1))

    model = LeNet()
    for failed in [(1, 3, 224, 224), (1, 1, 224, 224), (2, 1, 28, 28)]:
        with pytest.raises(BadInput) as error:
            summarize(model, failed)
        suggested = error.value.fix.split("--input ")[1].split()[0]
        size = parse_input_size(suggested)
        assert size != failed and size[0] == failed[0]
        assert model(torch.randn(size)).shape == (failed[0], 10)  # it really works


@pytest.mark.parametrize("text", ["", "1,3,abc", "1,-3,224,224", "0,3", "1.5,3"])
def test_bad_input_sizes(text: str) -> None:
    with pytest.raises(BadInput, match="bad input size"):
        parse_input_size(text)
    with pytest.raises(BadInput, match="bad input size"):
        summarize(nn.Linear(2, 2), text)


def test_input_size_spellings() -> None:
    assert parse_input_size("1,3,224,224") == parse_input_size("1x3x224x224") == (1, 3, 224, 224)
    assert parse_input_size(" 2, 8 ") == (2, 8)


def test_a_keypoint_model_is_summarized_and_torchvision_is_left_as_it_was() -> None:
    from torchvision.models.detection import roi_heads

    from engine.models.catalog import build

    before = roi_heads.keypointrcnn_inference
    rows = summarize(build("keypointrcnn_resnet50_fpn", "meta"), (1, 3, 320, 320))
    assert roi_heads.keypointrcnn_inference is before
    assert rows["roi_heads.keypoint_predictor"].output_shape == (100, 17, 56, 56)
    model = build("keypointrcnn_resnet50_fpn", "cpu", min_size=64, max_size=64).eval()
    with torch.no_grad():  # a real run afterwards still gets real keypoints
        out = model([torch.rand(3, 64, 64)])[0]
    assert out["keypoints"].device.type == "cpu" and out["keypoints"].shape[1:] == (17, 3)
