"""The catalog: every torchvision model with its weights' meta, user models, offline meta builds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import models

from engine.errors import BadInput, WorkFailed
from engine.models import catalog

LENET = textwrap.dedent("""
    import torch
    from torch import nn

    class LeNet(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                                          nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
            self.heads = nn.ModuleDict({"main": nn.Linear(16 * 4 * 4, num_classes)})
            self.register_buffer("scale", torch.full((1,), 0.5), persistent=False)

        def forward(self, x):
            return self.heads["main"](self.features(x * self.scale).flatten(1))

    class NeedsArgs(nn.Module):
        def __init__(self, width):
            super().__init__()

    def not_a_model():
        return 42

    OTHER_THREAD = []

    class SpawnsThread(nn.Module):
        def __init__(self):
            super().__init__()
            import threading
            worker = threading.Thread(target=lambda: OTHER_THREAD.append(nn.Linear(2, 2)))
            worker.start()
            worker.join()
            self.fc = nn.Linear(2, 2)
""")


@pytest.fixture(autouse=True)
def _catalog_cache(tmp_path, monkeypatch):
    """Keep the catalog's disk cache in a fresh folder."""
    monkeypatch.setenv("PTM_CACHE_DIR", str(tmp_path / "ptm-cache"))


@pytest.fixture
def lenet_file(tmp_path: Path) -> Path:
    """A user's model file with a LeNet class."""
    path = tmp_path / "lenet.py"
    path.write_text(LENET)
    return path


def test_lists_every_torchvision_model_with_its_task():
    infos = catalog.list_models()
    assert [i.name for i in infos] == models.list_models()
    tasks = {i.task for i in infos}
    assert tasks == {"classification", "quantized", "detection", "segmentation", "video",
                     "optical_flow"}
    by_name = {i.name: i for i in infos}
    assert by_name["quantized_resnet50"].task == "quantized"
    assert by_name["raft_small"].task == "optical_flow"
    assert by_name["ssdlite320_mobilenet_v3_large"].task == "detection"
    assert by_name["r3d_18"].task == "video"


def test_weights_carry_torchvision_meta():
    info = catalog.model_info("resnet50")
    member = models.ResNet50_Weights.IMAGENET1K_V2
    assert info.default_weights == "ResNet50_Weights.IMAGENET1K_V2"
    weights = info.weights_named("IMAGENET1K_V2")
    assert weights is not None and weights.url == member.url
    assert weights.params == member.meta["num_params"]
    assert weights.acc1 == member.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert weights.acc5 == member.meta["_metrics"]["ImageNet-1K"]["acc@5"]
    assert weights.gflops == member.meta["_ops"]
    assert weights.file_size_mb == member.meta["_file_size"]
    assert weights.categories == member.meta["categories"]
    assert weights.num_categories == len(member.meta["categories"])
    preset = member.transforms()
    assert weights.crop_size == preset.crop_size[0]
    assert weights.resize_size == preset.resize_size[0]
    assert list(weights.mean) == list(preset.mean) and list(weights.std) == list(preset.std)
    detection = catalog.model_info("fasterrcnn_resnet50_fpn").weights[0]
    assert detection.acc1 is None and detection.metrics["COCO-val2017 box_map"] == 37.0


def test_cached_flag_follows_the_torch_hub_cache(torch_home: Path):
    weights = catalog.resolve_weights("resnet18", "default")
    assert weights is not None and not weights.cached
    torch_home.mkdir(parents=True)
    (torch_home / os.path.basename(weights.url)).write_bytes(b"x")
    assert catalog.resolve_weights("resnet18", "default").cached
    again = {i.name: i for i in catalog.list_models("resnet1*")}
    assert again["resnet18"].weights_named(weights.name).cached
    assert not again["resnet152"].weights[0].cached


def test_filter_and_task():
    names = [i.name for i in catalog.list_models("resnet*")]
    assert "resnet50" in names and "wide_resnet50_2" not in names
    assert {i.task for i in catalog.list_models(task="video")} == {"video"}
    assert catalog.list_models("no_such_*") == []


def test_listing_from_the_disk_cache_does_not_import_torch(tmp_path, monkeypatch, torch_home):
    monkeypatch.setenv("PTM_CACHE_DIR", str(tmp_path / "cache"))
    catalog.list_models()  # scans torchvision and writes the cache
    cache = json.loads(next((tmp_path / "cache").glob("catalog-*.json")).read_text())
    assert cache["torchvision"] == metadata.version("torchvision")
    torch_home.mkdir(parents=True)
    (torch_home / os.path.basename(models.AlexNet_Weights.DEFAULT.url)).write_bytes(b"x")
    code = ("import sys; from engine.models.catalog import list_models; infos = list_models(); "
            "print(len(infos), sum(w.cached for i in infos for w in i.weights), "
            "'torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True)
    assert run.stdout.split() == [str(len(models.list_models())), "1", "False"]


def test_unknown_name_suggests_close_matches():
    with pytest.raises(BadInput) as caught:
        catalog.model_info("resnet5O")
    assert "did you mean resnet50" in caught.value.message
    assert caught.value.exit_code == 2
    with pytest.raises(BadInput, match="did you mean"):
        catalog.build("mobilenetv2")


def test_resolve_weights_by_every_spelling():
    assert catalog.resolve_weights("resnet50", "none") is None
    assert catalog.resolve_weights("resnet50", "default").name == "ResNet50_Weights.IMAGENET1K_V2"
    assert catalog.resolve_weights("resnet50", "IMAGENET1K_V1").name == \
        "ResNet50_Weights.IMAGENET1K_V1"
    full = catalog.resolve_weights("resnet50", "ResNet50_Weights.IMAGENET1K_V1")
    assert full.short_name == "IMAGENET1K_V1"
    with pytest.raises(BadInput, match="IMAGENET1K_V2"):
        catalog.resolve_weights("resnet50", "IMAGENET1K_V3")


def _offline(monkeypatch):
    """Make any attempt to open a network connection fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def test_every_torchvision_model_builds_on_meta_offline(monkeypatch):
    _offline(monkeypatch)
    wrong = {}
    for info in catalog.list_models():
        # Quantized weights need a real calibration pass: check their float structure here.
        weights = None if info.task == "quantized" else \
            catalog.resolve_weights(info.name, "default") if info.default_weights else None
        model = catalog.build(info.name, "meta", weights=weights)
        params = list(model.parameters())
        if not params or not all(p.is_meta for p in params):
            wrong[info.name] = "parameters not all on meta"
            continue
        count = sum(p.numel() for p in params)
        if weights is not None and weights.params is not None and count != weights.params:
            wrong[info.name] = f"{count} params, its weights say {weights.params}"
    assert wrong == {}


def test_models_that_defeat_plain_meta_building_have_the_right_shape(monkeypatch):
    _offline(monkeypatch)
    for name in ("regnet_y_400mf", "ssdlite320_mobilenet_v3_large"):
        on_meta = catalog.build(name, "meta")
        torch.manual_seed(0)
        real = models.get_model(name, weights=None, **(
            {"weights_backbone": None} if name.startswith("ssd") else {}))
        assert {k: v.shape for k, v in on_meta.state_dict().items()} == \
            {k: v.shape for k, v in real.state_dict().items()}
    anchors = catalog.build("ssdlite320_mobilenet_v3_large", "meta").anchor_generator._wh_pairs
    assert anchors and not any(t.is_meta for t in anchors)  # computed for real, not on meta


def test_build_for_real_on_cpu_with_num_classes():
    model = catalog.build("regnet_x_400mf", "cpu", num_classes=7)
    assert not any(p.is_meta for p in model.parameters())
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 7)


def test_user_file_class(lenet_file: Path):
    spec = f"{lenet_file}:LeNet"
    on_meta = catalog.build(spec, "meta")
    assert all(p.is_meta for p in on_meta.parameters())
    assert not on_meta.scale.is_meta  # non-persistent buffers are computed for real
    real = catalog.build(spec, "cpu", num_classes=3)
    assert real(torch.rand(2, 1, 28, 28)).shape == (2, 3)
    assert catalog.model_info(spec).task == "custom"


def test_meta_building_leaves_other_threads_alone(lenet_file: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(lenet_file.parent))
    model = catalog.build("lenet:SpawnsThread", "meta")
    import lenet

    assert model.fc.weight.is_meta
    other = lenet.OTHER_THREAD[0]  # built by another thread while our meta build ran
    assert not other.weight.is_meta and other.weight.abs().sum() > 0


def test_user_file_errors(lenet_file: Path, tmp_path: Path):
    with pytest.raises(BadInput, match="no such file"):
        catalog.build(f"{tmp_path / 'missing.py'}:LeNet")
    with pytest.raises(BadInput, match="did you mean LeNet"):
        catalog.build(f"{lenet_file}:LeNt")
    with pytest.raises(BadInput, match=r"did not return an nn\.Module"):
        catalog.build(f"{lenet_file}:not_a_model")
    with pytest.raises(BadInput, match="cannot call"):
        catalog.build(f"{lenet_file}:NeedsArgs")
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_anywhere\n")
    with pytest.raises(WorkFailed, match="importing"):
        catalog.build(f"{broken}:Net")


def test_package_factory(lenet_file: Path, monkeypatch):
    model = catalog.build("torchvision.models:resnet18", "meta", num_classes=5)
    assert isinstance(model, nn.Module) and model.fc.out_features == 5
    monkeypatch.syspath_prepend(str(lenet_file.parent))
    assert isinstance(catalog.build("lenet:LeNet", "cpu"), nn.Module)
    with pytest.raises(BadInput, match="cannot import module"):
        catalog.build("no_such_pkg_xyz.models:net")


def test_timm_without_timm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # as if it were not installed
    assert not catalog.timm_available()
    with pytest.raises(BadInput) as caught:
        catalog.model_info("timm/resnet50")
    assert "pip install timm" in caught.value.message
    with pytest.raises(BadInput, match="pip install timm"):
        catalog.build("timm/resnet50")
