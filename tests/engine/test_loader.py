"""Opening models: the meta + mmap + assign fast path gives exactly what the plain way gives."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.errors import BadInput
from engine.models import builders, catalog
from engine.models.loader import open_model

LENET = """
import torch
from torch import nn

class LeNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 5)
        self.fc = nn.Linear(6 * 24 * 24, num_classes)
        self.register_buffer("scale", torch.full((1,), 0.5), persistent=False)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x * self.scale)).flatten(1))
"""


def pretrained_file(name: str, cache: Path) -> tuple[Path, nn.Module]:
    """Write random weights where torch.hub caches `name`'s default weights.

    Returns the file and the reference model: torchvision's own builder for those weights,
    fed (through `serve_weights`) the very state dict that is written to the file.
    """
    weights = catalog.resolve_weights(name, "default")
    state_dict, reference = pretrained_state(name, weights)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / os.path.basename(weights.url)
    torch.save(state_dict, path)
    return path, reference


def pretrained_state(name: str, weights: catalog.WeightsInfo) -> tuple[dict, nn.Module]:
    """Return random weights laid out as `weights` are, and torchvision's model loaded with them."""
    saved: dict[str, dict] = {}

    def snapshot(module: nn.Module, state_dict: dict) -> None:
        own = module.state_dict()  # random init, the layout torchvision's file has
        saved["sd"] = own
        state_dict.clear()
        state_dict.update(own)
        state_dict._metadata = own._metadata

    served = builders.ServedStateDict()
    served.check = snapshot
    served.assign = False
    torch.manual_seed(1)
    with builders.serve_weights(served):
        reference = builders.build_torchvision(name, "cpu", catalog.weights_enum(name, weights))
    return saved["sd"], reference


def assert_same_model(ours: nn.Module, plain: nn.Module) -> None:
    """Assert both models hold identical tensors and nothing is left on meta."""
    assert builders.meta_tensors(ours) == []
    mine, theirs = ours.state_dict(), plain.state_dict()
    assert list(mine) == list(theirs)
    for key, value in theirs.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(mine[key], value), key


@pytest.mark.parametrize("name", ["resnet18", "mnasnet0_5", "googlenet"])
def test_cached_default_weights_open_fast_and_equal_the_plain_way(name, torch_home):
    path, plain = pretrained_file(name, torch_home)
    opened = open_model(name, "default")
    assert opened.source == "cached pretrained"
    assert opened.weights_path == path
    assert opened.input_size == (1, 3, 224, 224)
    assert opened.meta["name"] == catalog.model_info(name).default_weights
    assert len(opened.meta["categories"]) == 1000
    assert_same_model(opened.model, plain)
    if Path("/proc/self/maps").exists():  # the fast path: parameters mapped from the file
        ranges = _mapped_ranges(path.resolve())
        assert all(any(s <= p.data_ptr() < e for s, e in ranges)
                   for p in opened.model.parameters())
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(opened.model.eval()(x), plain.eval()(x))


def _mapped_ranges(path: Path) -> list[tuple[int, int]]:
    """Return the address ranges where this process has `path` memory-mapped."""
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(str(path)):
            start, end = line.split()[0].split("-")
            ranges.append((int(start, 16), int(end, 16)))
    return ranges


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_parameters_are_memory_mapped_from_the_cached_file(torch_home):
    path, _ = pretrained_file("resnet18", torch_home)
    model = open_model("resnet18", "default").model
    ranges = _mapped_ranges(path.resolve())
    # assigned, not copied: the parameters live in the file's mapping
    for param in (model.conv1.weight, model.fc.weight):
        assert any(start <= param.data_ptr() < end for start, end in ranges)
    assert model.conv1.weight.requires_grad and isinstance(model.conv1.weight, nn.Parameter)
    with torch.no_grad():  # editing a parameter never writes to the cached file
        before = path.read_bytes()
        model.fc.weight.zero_()
    assert path.read_bytes() == before


def test_detection_model_with_anchors_equals_the_plain_way(torch_home):
    name = "ssdlite320_mobilenet_v3_large"
    _, plain = pretrained_file(name, torch_home)
    opened = open_model(name, "default")
    assert opened.input_size == (1, 3, 320, 320)
    assert_same_model(opened.model, plain)
    images = [torch.rand(3, 320, 320)]
    with torch.no_grad():
        ours, theirs = opened.model.eval()(images)[0], plain.eval()(images)[0]
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)


def test_random_init_builds_for_real(torch_home):
    opened = open_model("inception_v3", "none")
    assert opened.source == "random init" and opened.weights_path is None
    assert opened.input_size == (1, 3, 299, 299)
    assert builders.meta_tensors(opened.model) == []
    assert opened.model.fc.weight.std() > 0


def test_weights_file_path(tmp_path, torch_home):
    plain = catalog.build("resnet18", "cpu", num_classes=10)
    path = tmp_path / "mine.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in
                                            plain.state_dict().items()}}, path)
    with pytest.raises(BadInput) as caught:
        open_model("resnet18", str(path))
    message = caught.value.message
    assert "mine.pth does not fit resnet18" in message
    keys = len(plain.state_dict())
    assert f"{keys - 2} of {keys} keys matched" in message  # all but fc.weight and fc.bias
    assert "fc.weight (file 10x512, model 1000x512)" in message
    torch.save(plain.state_dict(), path)
    with pytest.raises(BadInput, match=r"missing \d+: layer1\.2\.conv1\.weight"):
        open_model("resnet34", str(path))


def test_file_saved_from_a_pretrained_architecture(tmp_path, torch_home):
    """googlenet drops its aux heads after loading its weights; such a file still opens."""
    pretrained = catalog.build("googlenet", "cpu",
                               weights=catalog.resolve_weights("googlenet", "default"))
    assert pretrained.aux1 is None
    path = tmp_path / "googlenet-finetuned.pth"
    torch.save(pretrained.state_dict(), path)
    opened = open_model("googlenet", path)
    assert opened.source == "file" and opened.meta["architecture"].startswith("GoogLeNet")
    assert_same_model(opened.model, pretrained)


def test_user_model_with_a_weights_file(tmp_path, torch_home):
    source = tmp_path / "lenet.py"
    source.write_text(LENET)
    plain = catalog.build(f"{source}:LeNet", "cpu")
    path = tmp_path / "lenet.safetensors"
    from safetensors.torch import save_file

    save_file(plain.state_dict(), str(path))
    opened = open_model(f"{source}:LeNet", str(path))
    assert opened.source == "file" and opened.input_size is None
    assert_same_model(opened.model, plain)
    x = torch.rand(1, 1, 28, 28)
    assert torch.equal(opened.model(x), plain(x))


def test_weights_from_a_url(http_server, tmp_path, torch_home):
    plain = catalog.build("resnet18", "cpu")
    path = tmp_path / "weights.pth"
    torch.save(plain.state_dict(), path)
    url = http_server.serve("/files/resnet18-custom.pth", path.read_bytes())
    seen: list[tuple[int, int | None]] = []
    opened = open_model("resnet18", url, progress=lambda done, total: seen.append((done, total)))
    assert opened.source == "url"
    assert opened.weights_path == torch_home / "resnet18-custom.pth"
    assert seen and seen[-1][0] == path.stat().st_size
    assert_same_model(opened.model, plain)
    again = open_model("resnet18", url)  # cached now: no second request
    assert again.source == "url"
    assert len(http_server.requests_for("/files/resnet18-custom.pth")) == 1


def test_bad_weights_specs(tmp_path, torch_home):
    with pytest.raises(BadInput, match="did you mean IMAGENET1K_V1"):
        open_model("resnet18", "IMAGENET1K_V2")
    with pytest.raises(BadInput, match="no such file"):
        open_model("resnet18", str(tmp_path / "nothing.pth"))
    with pytest.raises(BadInput, match="did you mean resnet18"):
        open_model("resnet81", "none")


@pytest.mark.slow
def test_default_weights_are_downloaded_when_missing(http_server, torch_home, monkeypatch):
    """Through PTM_WEIGHTS_MIRROR; quantized_mobilenet_v2's qnnpack file name has no hash."""
    name, spec = "quantized_mobilenet_v2", "IMAGENET1K_QNNPACK_V1"
    weights = catalog.resolve_weights(name, spec)
    state_dict, reference = pretrained_state(name, weights)  # packed params, scales, zero points
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    path = "models/quantized/" + os.path.basename(weights.url)
    http_server.serve(path, buffer.getvalue())
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", http_server.url("models/"))
    seen: list[int] = []
    opened = open_model(name, spec, progress=lambda done, total: seen.append(done))
    assert opened.source == "downloaded"
    assert opened.weights_path == torch_home / os.path.basename(weights.url)
    assert seen[-1] == len(buffer.getvalue())
    assert len(http_server.requests_for(path)) == 1
    x = torch.rand(2, 3, 224, 224)
    assert torch.equal(opened.model(x), reference(x))
    assert open_model(name, spec).source == "cached pretrained"


@pytest.mark.slow
def test_quantized_weights_file(tmp_path, torch_home):
    name = "quantized_shufflenet_v2_x0_5"
    state_dict, reference = pretrained_state(name, catalog.resolve_weights(name, "default"))
    path = tmp_path / "quantized.pth"
    torch.save(state_dict, path)
    opened = open_model(name, path)
    assert opened.meta["architecture"] == catalog.model_info(name).default_weights
    x = torch.rand(1, 3, 224, 224)
    assert torch.equal(opened.model(x), reference(x))
