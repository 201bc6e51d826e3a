"""`ptm-tui export`: ONNX, TorchScript and safetensors files that other tools run like torch does."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
import torch
from torchvision import models

from engine.edit import recipe as recipes
from tui.cli.main import main

RECIPE = textwrap.dedent("""\
    [model]
    name = "resnet18"
    weights = "none"
    seed = 3

    [[edit]]
    op = "adapt_input"
    channels = 4

    [[edit]]
    op = "replace_head"
    num_classes = 5
""")


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(RECIPE)
    return path


def _reference(recipe_file) -> torch.nn.Module:
    """The same model rebuilt by plain replay (the recipe's seed gives the same weights)."""
    return recipes.build(recipes.load(recipe_file)).model.eval()


def _batch(size: int) -> torch.Tensor:
    return torch.randn((size, 4, 224, 224), generator=torch.Generator().manual_seed(7))


def test_resnet18_with_4_channels_and_a_new_head_runs_in_onnxruntime_like_torch(tmp_path, recipe_file,
                                                                                capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    assert main(["export", str(recipe_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "max abs difference vs torch" in printed and "['N', 4, 224, 224]" in printed
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = _batch(5)  # another batch size than the export traced (2) or checked (3): it is dynamic
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = _reference(recipe_file)(x)
    assert got.shape == (5, 5)
    assert float((torch.from_numpy(got) - want).abs().max()) <= 1e-4
    meta = session.get_modelmeta().custom_metadata_map
    transforms = models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    pre = json.loads(meta["preprocessing"])
    assert pre["mean"] == list(transforms.mean) and pre["std"] == list(transforms.std)
    assert pre["crop"] == transforms.crop_size[0] and pre["resize"] == transforms.resize_size[0]
    assert pre["channels"] == 4 and "adapted" in pre["note"]
    assert json.loads(meta["input_shape"]) == ["N", 4, 224, 224] and meta["model"] == "resnet18"
    assert "class_names" not in meta  # a new 5-class head: ImageNet's names would be wrong


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_the_torchscript_file_matches_torch_and_carries_the_metadata(tmp_path, recipe_file, capsys):
    out = tmp_path / "m.pt"
    assert main(["export", str(recipe_file), "--format", "torchscript", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "torchscript" and report["max_abs_diff"] <= 1e-4
    extra = {"ptm_tui.json": ""}
    loaded = torch.jit.load(str(out), _extra_files=extra)
    x = _batch(3)
    with torch.no_grad():
        got = loaded(x)
        want = _reference(recipe_file)(x)
    assert isinstance(got, torch.Tensor)  # what the classifier returns, not a 1-tuple
    assert float((got - want).abs().max()) <= 1e-4
    assert json.loads(extra["ptm_tui.json"])["model"] == "resnet18"


def test_the_exported_archive_runs_like_torch_at_batch_1_and_3_and_keeps_its_metadata(
        tmp_path, recipe_file, capsys):
    out = tmp_path / "m.pt2"  # the suffix picks the format
    assert main(["export", str(recipe_file), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "exported" and report["max_abs_diff"] <= 1e-5
    extra = {"ptm_tui.json": ""}
    program = torch.export.load(str(out), extra_files=extra)
    reference = _reference(recipe_file)
    for size in (1, 3):
        x = _batch(size)
        with torch.no_grad():
            got, want = program.module()(x), reference(x)
        assert isinstance(got, torch.Tensor) and got.shape == (size, 5)
        assert float((got - want).abs().max()) <= 1e-5
    metadata = json.loads(extra["ptm_tui.json"])
    assert metadata == report["metadata"] and metadata["model"] == "resnet18"
    pre = json.loads(metadata["preprocessing"])
    transforms = models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    assert pre["interpolation"] == transforms.interpolation.value == "bilinear"
    assert pre["antialias"] is transforms.antialias is True


def test_a_bicubic_timm_model_s_preprocessing_is_reproduced_from_the_metadata(tmp_path, capsys):
    timm = pytest.importorskip("timm")
    from PIL import Image
    from torchvision import transforms as T

    out = tmp_path / "t.safetensors"
    assert main(["export", "timm/resnet18.a1_in1k", "--weights", "none", "--out", str(out),
                 "--json"]) == 0
    pre = json.loads(json.loads(capsys.readouterr().out)["metadata"]["preprocessing"])
    config = timm.data.resolve_data_config({}, model=timm.create_model("resnet18.a1_in1k"))
    assert pre["interpolation"] == config["interpolation"] == "bicubic"
    ours = T.Compose([T.Resize(pre["resize"], interpolation=T.InterpolationMode(pre["interpolation"]),
                               antialias=pre["antialias"]), T.CenterCrop(pre["crop"]), T.ToTensor(),
                      T.Normalize(pre["mean"], pre["std"])])
    image = Image.fromarray(torch.randint(0, 256, (300, 260, 3), dtype=torch.uint8,
                                          generator=torch.Generator().manual_seed(0)).numpy())
    assert torch.allclose(ours(image), timm.data.create_transform(**config)(image), atol=1e-6)


def test_a_pretrained_model_exports_to_safetensors_with_its_class_names(tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file

    out = tmp_path / "alex.safetensors"
    assert main(["export", "alexnet", "--weights", "none", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_abs_diff"] == 0
    with safe_open(str(out), framework="pt") as opened:
        names = json.loads(opened.metadata()["class_names"])
    assert names == models.AlexNet_Weights.IMAGENET1K_V1.meta["categories"]
    tensors = load_file(str(out))
    assert sorted(tensors) == sorted(models.alexnet().state_dict())


def test_a_finetune_job_exports_with_its_classes_and_image_size(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PTM_HOME", str(tmp_path))
    job = tmp_path / "jobs" / "20261130-120000-resnet18"
    (job / "checkpoints").mkdir(parents=True)
    (job / "spec.toml").write_text(RECIPE + '\n[[edit]]\nop = "init"\ntarget = "fc"\nmethod = "zeros"\n')
    model = recipes.build(recipes.loads(RECIPE)).model
    with torch.no_grad():
        model.fc.weight.normal_(generator=torch.Generator().manual_seed(1))  # "trained"
    classes = ["cat", "dog", "eel", "fox", "gnu"]
    torch.save({"model": model.state_dict(), "epoch": 2, "classes": classes,
                "config": {"image_size": 64}}, job / "checkpoints" / "epoch-0002.pt")
    out = tmp_path / "ft.safetensors"
    assert main(["export", job.name, "--out", str(out), "--json"]) == 0  # by its job id
    report = json.loads(capsys.readouterr().out)
    assert json.loads(report["metadata"]["class_names"]) == classes
    assert report["input_shape"] == [-1, 4, 64, 64]
    assert json.loads(report["metadata"]["preprocessing"])["resize"] == [64, 64]
    from safetensors.torch import load_file

    saved = load_file(str(out))
    assert torch.equal(saved["fc.weight"], model.fc.weight)  # the checkpoint's, not the recipe's zeros
    checkpoint = job / "checkpoints" / "epoch-0002.pt"
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "c.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["weights"].startswith(f"checkpoint {checkpoint}")


def test_past_the_tolerance_it_exits_1_and_leaves_nothing(tmp_path, recipe_file, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    assert main(["export", str(recipe_file), "--out", str(out), "--tolerance", "0"]) == 1
    err = capsys.readouterr().err
    assert "does not match torch: max abs difference" in err and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.toml"]


def test_without_onnxruntime_it_says_what_to_install(tmp_path, recipe_file, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    assert main(["export", str(recipe_file), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "ONNX export needs onnxruntime" in err and "pip install 'ptm-tui[export]'" in err


def test_a_format_that_does_not_fit_the_file_name_exits_2(tmp_path, recipe_file, capsys):
    assert main(["export", str(recipe_file), "--format", "onnx", "--out", str(tmp_path / "m.pt")]) == 2
    assert "does not fit --format onnx" in capsys.readouterr().err
    assert main(["export", str(recipe_file), "--out", str(tmp_path / "m.bin")]) == 2
    assert "cannot tell the export format" in capsys.readouterr().err


def test_a_traced_model_that_only_runs_at_its_traced_batch_exits_1_and_leaves_nothing(tmp_path, capsys):
    (tmp_path / "net.py").write_text(textwrap.dedent("""\
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3 * 224 * 224, 2)

            def forward(self, x):  # torch runs any batch; the trace bakes len(x) = 2 in
                return self.fc(x.flatten(1)) + torch.zeros(len(x), 2)
    """))
    out = tmp_path / "net.pt"
    assert main(["export", f"{tmp_path / 'net.py'}:Net", "--weights", "none", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "the written torchscript file does not run on a batch of 3" in err and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == ["net.py"]
    (tmp_path / "bad.py").write_text("from torch import nn\n\nclass Bad(nn.Linear):\n"
                                     "    def __init__(self):\n        super().__init__(5, 2)\n")
    assert main(["export", f"{tmp_path / 'bad.py'}:Bad", "--weights", "none", "--out", str(out)]) == 2
    assert "does not run in torch on random batches of [2, 3, 224, 224]" in capsys.readouterr().err
