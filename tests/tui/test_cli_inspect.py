"""`ptm-tui inspect` and `ptm-tui summary` as a script runs them (JSON from real processes)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import torch
from torch import nn

from tui.cli.main import main

try:
    from tests.helpers.cli import ptm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm

USER_MODEL = textwrap.dedent("""\
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 4, 3)
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 16), nn.ReLU())
            self.out = nn.Linear(16, 3)
            for p in self.stem.parameters():
                p.requires_grad_(False)  # the user froze the stem in the constructor
""")



def _meta(name: str) -> nn.Module:
    import torchvision

    with torch.device("meta"):
        return torchvision.models.get_model(name, weights=None)


def test_inspect_json_matches_plain_torch_and_touches_no_file(tmp_path: Path) -> None:
    done = ptm("inspect", "resnet18", "squeezenet1_0", "--json",
               env={"TORCH_HOME": str(tmp_path / "torch")})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    objects = [json.loads(line) for line in lines]
    for obj, name in zip(objects, ("resnet18", "squeezenet1_0")):
        model = _meta(name)
        assert obj["model"] == name and obj["class"] == type(model).__name__
        assert obj["params"] == obj["trainable"] == sum(p.numel() for p in model.parameters())
        assert obj["weights"] == "none" and obj["weights_file"] is None
        modules = dict(model.named_modules())
        assert [layer["path"] for layer in obj["layers"]] == [p for p in modules if p]
        for layer in obj["layers"]:
            module = modules[layer["path"]]
            assert layer["type"] == type(module).__name__
            assert layer["params"] == sum(p.numel() for p in module.parameters())
            assert layer["trainable"] == layer["params"] and "stats" not in layer
    assert (objects[0]["head"], objects[0]["input_conv"]) == ("fc", "conv1")
    assert (objects[1]["head"], objects[1]["input_conv"]) == ("classifier.1", "features.0")
    assert not (tmp_path / "torch" / "hub" / "checkpoints").exists()


def test_inspect_user_model_with_weights_file_and_stats(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(USER_MODEL)
    sys.path.insert(0, str(tmp_path))
    try:
        from net import Net  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    torch.manual_seed(0)
    model = Net()
    state = model.state_dict()
    state["out.bias"][1] = float("nan")
    state["body.1.weight"][0, :5] = 0.0
    torch.save(state, tmp_path / "net.pth")

    done = ptm("inspect", f"{tmp_path / 'net.py'}:Net", "--weights", str(tmp_path / "net.pth"),
               "--stats", "--json")
    assert done.returncode == 0, done.stderr
    obj = json.loads(done.stdout.strip().splitlines()[-1])
    assert obj["params"] == sum(p.numel() for p in model.parameters())
    assert obj["trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert obj["trainable"] == obj["params"] - 40
    assert obj["head"] == "out" and obj["input_conv"] == "stem"
    assert obj["weights"] == "file" and obj["weights_file"] == str(tmp_path / "net.pth")
    layers = {layer["path"]: layer for layer in obj["layers"]}
    assert layers["stem"]["trainable"] == 0 and layers["body"]["trainable"] == 144 * 16 + 16
    assert layers["body.0"]["stats"] is None  # Flatten: no parameters

    weight = state["body.1.weight"].double()
    values = torch.cat([weight.reshape(-1), state["body.1.bias"].double()])
    stats = layers["body.1"]["stats"]
    assert stats["count"] == values.numel() and stats["zeros"] == 5 / values.numel()
    assert abs(stats["mean"] - values.mean().item()) < 1e-7
    assert abs(stats["std"] - values.std().item()) < 1e-7
    assert abs(stats["norm"] - values.norm().item()) < 1e-6
    assert (stats["min"], stats["max"]) == (values.min().item(), values.max().item())
    out = layers["out"]["stats"]
    finite = torch.cat([state["out.weight"].reshape(-1), state["out.bias"]]).double()
    finite = finite[finite.isfinite()]
    assert out["nan"] == 1 and out["inf"] == 0
    assert abs(out["mean"] - finite.mean().item()) < 1e-7


def test_inspect_human_output_and_unknown_model(capsys) -> None:
    assert main(["inspect", "resnet18", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "ResNet" in out and "11.7M params" in out
    assert "fc Linear" in out and "[head]" in out
    assert "[input layer]" in out and "layer1.0" not in out

    wrong = ptm("inspect", "resnet5O", "--json")  # a real process: exit code and streams
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert "resnet50" in wrong.stderr and "Traceback" not in wrong.stderr


def test_summary_json_matches_torchinfo_on_a_real_model() -> None:
    import torchinfo
    import torchvision

    done = ptm("summary", "resnet18", "--input", "1,3,64,64", "--json")
    assert done.returncode == 0, done.stderr
    obj = json.loads(done.stdout)
    from torch.utils.flop_counter import FlopCounterMode

    model = torchvision.models.resnet18().eval()
    real = torchinfo.summary(model, input_size=(1, 3, 64, 64), verbose=0)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert obj["mult_adds"] == counter.get_total_flops() // 2  # torch's own count, FLOPs / 2
    assert obj["params"] == real.total_params and obj["input"] == [1, 3, 64, 64]
    assert obj["output_shape"] == [1, 1000]
    layers = {layer["path"]: layer for layer in obj["layers"]}
    assert layers["conv1"]["output_shape"] == [1, 64, 32, 32]
    assert layers["layer4"]["output_shape"] == [1, 512, 2, 2]


def test_summary_table_and_bad_inputs(capsys) -> None:
    import torchvision

    assert main(["summary", "resnet18", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "input 1x3x224x224" in out and "1x64x112x112" in out
    total = int(out.split("total mult-adds ")[1].split("(")[1].split(")")[0].replace(",", ""))
    expected = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["_ops"] * 1e9
    assert abs(total - expected) / expected < 0.001 and "total mult-adds 1.8B" in out

    assert main(["summary", "resnet18", "--input", "1,3,abc"]) == 2
    captured = capsys.readouterr()
    assert "bad input size '1,3,abc'" in captured.err and captured.out == ""

    assert main(["summary", "resnet18", "--input", "1,5,64,64"]) == 2
    captured = capsys.readouterr()
    assert "layer 'conv1' (Conv2d, takes 3 input channels)" in captured.err
    assert "fix:" in captured.err and captured.out == ""
    suggested = captured.err.split("--input ")[1].split()[0]
    assert suggested != "1,5,64,64" and main(["summary", "resnet18", "--input", suggested]) == 0


def test_summary_builds_the_weights_architecture_without_the_file(tmp_path) -> None:
    import torchvision

    env = {"TORCH_HOME": str(tmp_path)}  # an empty cache: the weights file is not there
    for model, weights, enum in [
        ("vit_h_14", [], torchvision.models.ViT_H_14_Weights.DEFAULT),
        ("vit_b_16", ["--weights", "IMAGENET1K_SWAG_E2E_V1"],
         torchvision.models.ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1),
        ("googlenet", [], torchvision.models.GoogLeNet_Weights.DEFAULT),
    ]:
        done = ptm("summary", model, *weights, "--json", env=env)
        assert done.returncode == 0, done.stderr
        obj = json.loads(done.stdout)
        crop = enum.transforms.keywords["crop_size"]
        assert obj["weights"] == enum.name and obj["input"] == [1, 3, crop, crop]
        assert obj["params"] == enum.meta["num_params"]
        assert abs(obj["mult_adds"] / 1e9 - enum.meta["_ops"]) / enum.meta["_ops"] < 0.01
    assert not any(tmp_path.rglob("*.pth"))
    done = ptm("summary", "googlenet", "--weights", "none", "--json", env=env)
    assert json.loads(done.stdout)["params"] == sum(
        p.numel() for p in torchvision.models.googlenet(init_weights=True).parameters())


def test_inspect_arch_shows_a_weights_architecture_without_the_file(tmp_path) -> None:
    import torchvision

    env = {"TORCH_HOME": str(tmp_path)}
    for model, weights, enum in [
        ("vit_b_16", "IMAGENET1K_SWAG_E2E_V1",
         torchvision.models.ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1),
        ("fcn_resnet50", "default", torchvision.models.segmentation.FCN_ResNet50_Weights.DEFAULT),
    ]:
        done = ptm("inspect", model, "--arch", weights, "--json", env=env)
        assert done.returncode == 0, done.stderr
        obj = json.loads(done.stdout)
        assert obj["params"] == enum.meta["num_params"] and obj["device"] == "meta"
        assert obj["weights"] == f"none (architecture of {enum.name})"
    assert not any(tmp_path.rglob("*.pth"))
    paths = {layer["path"] for layer in obj["layers"]}
    assert "aux_classifier" in paths  # the weights hold fcn's aux classifier: random init has none
    done = ptm("inspect", "vit_b_16", "--arch", "default", "--stats", env=env)
    assert done.returncode == 2 and "--arch cannot be combined" in done.stderr


def test_summary_of_detection_and_optical_flow_models() -> None:
    import torchvision

    done = ptm("summary", "ssdlite320_mobilenet_v3_large", "--json")
    assert done.returncode == 0, done.stderr
    obj = json.loads(done.stdout)
    meta = torchvision.models.detection.SSDLite320_MobileNet_V3_Large_Weights.COCO_V1.meta
    assert obj["input"] == [1, 3, 320, 320] and obj["params"] == meta["num_params"]
    assert abs(obj["mult_adds"] / 1e9 - meta["_ops"]) / meta["_ops"] < 0.02
    assert "detections" in obj["note"]
    done = ptm("summary", "raft_small", "--input", "1,3,128,128")
    assert done.returncode == 0, done.stderr
    assert "total mult-adds" in done.stdout
