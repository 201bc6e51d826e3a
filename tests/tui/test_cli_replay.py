"""`ptm-tui replay` and `ptm-tui features` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from PIL import Image

from tui.cli.main import main

RECIPE = textwrap.dedent("""\
    [model]
    name = "resnet18"
    weights = "none"
    seed = 1

    [[edit]]
    op = "replace_head"
    num_classes = 4

    [[edit]]
    op = "insert_after"
    target = "layer4"
    module = "Dropout2d(p=0.1)"
""")


def test_replay_saves_identical_weights_twice(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(RECIPE)
    for name in ("a.pth", "b.safetensors"):
        assert main(["replay", str(tmp_path / "r.toml"), "--out", str(tmp_path / name)]) == 0
    out = capsys.readouterr().out
    assert "replace_head" in out and "new head fc" in out and "saved weights to" in out
    from safetensors.torch import load_file

    a = torch.load(tmp_path / "a.pth", weights_only=True)
    b = load_file(str(tmp_path / "b.safetensors"))
    assert a["fc.weight"].shape == (4, 512) and "layer4.0.1.conv1.weight" in a
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_replay_json_prints_the_inspect_object(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(RECIPE)
    assert main(["replay", str(tmp_path / "r.toml"), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    text = json.dumps(obj)
    assert "resnet18" in text and "layer4.1" in text


def test_bad_recipe_exits_2_naming_the_edit(tmp_path):
    (tmp_path / "bad.toml").write_text(RECIPE + '\n[[edit]]\nop = "delete"\ntarget = "layer9"\n')
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "replay", str(tmp_path / "bad.toml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "edit 3 (delete): no layer 'layer9'" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_op_exits_2(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text('[model]\nname = "resnet18"\n[[edit]]\nop = "shrink"\n')
    assert main(["replay", str(tmp_path / "bad.toml")]) == 2
    assert "edit 1 has unknown op 'shrink'" in capsys.readouterr().err


@pytest.mark.slow
def test_features_writes_layer_tensors_for_a_folder(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        Image.new("RGB", (40 + i * 10, 30), color).save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "feats.pt"
    code = main(
        [
            "features",
            "resnet18",
            "--weights",
            "none",
            "--layers",
            "layer3,avgpool",
            "--images",
            str(folder),
            "--out",
            str(out),
            "--batch-size",
            "2",
            "--json",
        ]
    )
    assert code == 0
    feats = torch.load(out, weights_only=True)
    assert feats["layer3"].shape == (3, 256, 14, 14) and feats["avgpool"].shape == (3, 512, 1, 1)
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["images"] == 3 and report["layers"]["layer3"] == [3, 256, 14, 14]


def test_features_refuses_a_missing_folder_and_unknown_layer(tmp_path, capsys):
    assert (
        main(
            [
                "features",
                "resnet18",
                "--weights",
                "none",
                "--layers",
                "layer3",
                "--images",
                str(tmp_path / "none"),
                "--out",
                str(tmp_path / "f.pt"),
            ]
        )
        == 2
    )
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    assert (
        main(
            [
                "features",
                "resnet18",
                "--weights",
                "none",
                "--layers",
                "layer33",
                "--images",
                str(tmp_path / "x.png"),
                "--out",
                str(tmp_path / "f.pt"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no image file or folder" in err and "no layer 'layer33'" in err
    assert not (tmp_path / "f.pt").exists()


@pytest.mark.parametrize(("text", "complaint"), [
    ('[model]\nname = "resnet18"\nweigths = "none"\n', "unknown keys 'weigths' (did you mean 'weights'?)"),
    ('[model]\nname = "resnet18"\n[[edit]]\nop = "adapt_input"\nchannels = 4\nstratgy = "sum"\n',
     "edit 1 (adapt_input) is invalid: unknown keys 'stratgy' (did you mean 'strategy'?)"),
])
def test_a_misspelt_key_is_refused_not_silently_ignored(tmp_path, capsys, text, complaint):
    (tmp_path / "typo.toml").write_text(text)
    assert main(["replay", str(tmp_path / "typo.toml")]) == 2
    assert complaint in capsys.readouterr().err


def test_replay_bad_out_or_device_exits_2_before_building(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(RECIPE)
    (tmp_path / "afile").write_text("x")
    assert main(["replay", str(tmp_path / "r.toml"), "--out", str(tmp_path / "afile" / "w.pth")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "r.toml"), "--device", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'bogus'" in err and "Traceback" not in err


def test_features_out_that_cannot_be_written_exits_2_and_leaves_nothing(tmp_path, capsys):
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    (tmp_path / "afile").write_text("x")
    base = ["features", "resnet18", "--weights", "none", "--layers", "fc",
            "--images", str(tmp_path / "x.png")]
    assert main([*base, "--out", str(tmp_path / "afile" / "f.pt")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path)]) == 2
    assert "unknown file type" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "x.png"]


def test_a_huge_module_is_refused_by_its_size_and_one_that_does_not_fit_by_its_shapes(
        tmp_path, capsys):
    recipe = '[model]\nname = "resnet18"\nweights = "none"\n[[edit]]\nop = "replace"\ntarget = "fc"\n'
    (tmp_path / "big.toml").write_text(recipe + 'module = "Linear(100000, 100000)"\n')
    assert main(["replay", str(tmp_path / "big.toml")]) == 2
    assert "edit 1 (replace) is invalid" in (err := capsys.readouterr().err) and "40.0 GB" in err
    (tmp_path / "bad.toml").write_text(recipe + 'module = "Linear(100, 10)"\n')
    assert main(["replay", str(tmp_path / "bad.toml")]) == 2
    assert "edit 1 (replace): shapes break at layer 'fc'" in capsys.readouterr().err
