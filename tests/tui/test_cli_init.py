"""`ptm-tui init-lab` and `ptm-tui init`: output, exit codes and the files they write."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tui.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_init_lab_json_reports_stds_and_first_nonfinite_layer(capsys) -> None:
    code = main(["init-lab", "--depth", "100", "--width", "256", "--activation", "none",
                 "--init", "normal", "--param", "std=1", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"stds", "first_nonfinite_layer"}
    assert 25 <= result["first_nonfinite_layer"] <= 35
    assert len(result["stds"]) == result["first_nonfinite_layer"]
    assert all(math.isfinite(s) for s in result["stds"])


def test_init_lab_json_tanh_with_auto_gain_stays_finite_and_level(capsys) -> None:
    assert main(["init-lab", "--depth", "40", "--width", "128", "--batch", "64",
                 "--activation", "tanh", "--init", "xavier_uniform", "--gain", "auto",
                 "--seed", "3", "--bias", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["first_nonfinite_layer"] is None and len(result["stds"]) == 40
    assert 0.4 < result["stds"][-1] < 1.0


def test_init_lab_human_output_has_plot_table_and_verdict(capsys) -> None:
    assert main(["init-lab", "--depth", "60", "--activation", "relu", "--init", "xavier_normal",
                 "--gain", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "xavier_normal(gain=1) / relu" in out
    assert "output std per layer (log scale)" in out and "┤" in out  # the plotext frame
    assert "\x1b[" not in out  # no colour codes when stdout is not a terminal
    assert "verdict: vanished" in out
    assert main(["init-lab", "--depth", "5", "--width", "8", "--table"]) == 0
    table = capsys.readouterr().out
    assert [line.split()[0] for line in table.splitlines()[2:7]] == ["0", "1", "2", "3", "4"]
    assert "verdict: healthy" in table


@pytest.mark.parametrize(("argv", "complaint"), [
    (["--init", "normal", "--param", "sigma=2"], "its parameters are: mean=0.0, std=1.0"),
    (["--init", "kaiming_normal", "--gain", "2"], "kaiming_normal takes no gain"),
    (["--init", "sparse", "--param", "sparsity=2"], "must be in [0, 1)"),
    (["--init", "eye", "--param", "x"], "is not name=value"),
    (["--init", "nosuch"], "the methods are: uniform, normal"),
    (["--depth", "0"], "depth must be a positive"),
])
def test_init_lab_bad_input_exits_2_with_a_clear_message(argv: list[str], complaint: str,
                                                         capsys) -> None:
    assert main(["init-lab", "--depth", "3", *argv]) == 2
    assert complaint in capsys.readouterr().err


def test_init_writes_reproducible_initialised_weights(tmp_path: Path, capsys) -> None:
    args = ["init", "resnet18", "--weights", "none", "--method", "kaiming_normal",
            "--type", "Conv2d", "--param", "mode=fan_out", "--param", "nonlinearity='relu'",
            "--seed", "3"]
    assert main([*args, "--out", str(tmp_path / "a.pth")]) == 0
    assert "kaiming_normal" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b.safetensors"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["edit"]["params"] == {"mode": "fan_out", "nonlinearity": "relu"}
    first = torch.load(tmp_path / "a.pth", weights_only=True)
    from safetensors.torch import load_file

    second = load_file(tmp_path / "b.safetensors")
    conv = first["layer3.0.conv1.weight"]  # 256 out channels, 3x3: fan_out = 2304
    assert abs(conv.std().item() - math.sqrt(2 / 2304)) < 0.003
    convs = [k for k in first if k.endswith("conv1.weight") or k.endswith("conv2.weight")]
    assert convs and all(torch.equal(first[k], second[k]) for k in convs)
    assert torch.all(first["bn1.weight"] == 1)  # BatchNorm untouched (its default init)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pth", "b.safetensors"]


def test_init_refusal_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.pth"
    assert main(["init", "resnet18", "--weights", "none", "--method", "eye", "--target",
                 "layer1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "eye does not fit layer1.0.conv1.weight" in err and "fix:" in err
    assert main(["init", "resnet18", "--weights", "none", "--method", "normal", "--param",
                 "stdev=1", "--out", str(out)]) == 2
    assert "its parameters are: mean=0.0, std=1.0" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_init_preset_on_a_subtree(tmp_path: Path) -> None:
    out = tmp_path / "p.pth"
    assert main(["init", "resnet18", "--weights", "none", "--preset", "common", "--target",
                 "fc", "--out", str(out)]) == 0
    state = torch.load(out, weights_only=True)
    assert torch.all(state["fc.bias"] == 0)
    assert abs(state["fc.weight"].std().item() - math.sqrt(2 / (512 + 1000))) < 0.002


def test_init_gives_the_same_weights_as_replaying_the_same_recipe(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('[model]\nname = "resnet18"\nweights = "none"\nseed = 5\n\n'
                      '[[edit]]\nop = "init"\ntarget = "fc"\nmethod = "normal"\n'
                      'params = { std = 0.5 }\n')
    assert main(["init", "resnet18", "--weights", "none", "--method", "normal", "--target", "fc",
                 "--param", "std=0.5", "--seed", "5", "--out", str(tmp_path / "a.pth")]) == 0
    assert main(["replay", str(recipe), "--out", str(tmp_path / "b.pth")]) == 0
    a = torch.load(tmp_path / "a.pth", weights_only=True)
    b = torch.load(tmp_path / "b.pth", weights_only=True)
    assert torch.equal(a["fc.weight"], b["fc.weight"])
    assert abs(a["fc.weight"].std().item() - 0.5) < 0.005


@pytest.mark.parametrize(("argv", "complaint"), [
    (["--gain", "-1"], "gain must be >= 0"),
    (["--device", "bogus"], "unknown device 'bogus'"),
    (["--device", "meta"], "--device meta holds no weights"),
    (["--seed", str(2**70)], "--seed must be a whole number from 0 to 4294967295"),
])
def test_init_lab_bad_gain_or_device_exits_2_not_a_traceback(argv: list[str], complaint: str,
                                                             capsys) -> None:
    assert main(["init-lab", "--depth", "3", "--width", "8", *argv]) == 2
    err = capsys.readouterr().err
    assert complaint in err and "fix:" in err and "Traceback" not in err


def test_init_out_under_a_file_or_on_a_folder_exits_2_before_opening(tmp_path: Path,
                                                                      capsys) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    (tmp_path / "dir.pth").mkdir()
    base = ["init", "resnet18", "--weights", "none", "--method", "zeros"]
    assert main([*base, "--out", str(blocker / "w.pth")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "dir.pth")]) == 2
    assert "it is a folder, not a file" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "w.txt")]) == 2
    assert "end --out with .pth" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "dir.pth"]
