"""`ptm-tui finetune RECIPE --show-config` prints the resolved [train] and its sources (issue 21)."""

from __future__ import annotations

import json

from engine.jobs.store import jobs_root
from tui.cli.main import main


def _recipe(tmp_path, model="resnet50", train='preset = "torchvision"\nepochs = 9\n'):
    path = tmp_path / "r.toml"
    path.write_text(f'[model]\nname = "{model}"\nweights = "IMAGENET1K_V1"\n\n[train]\n{train}')
    return path


def test_json_lines_give_each_setting_its_value_and_source(tmp_path, capsys):
    assert main(["finetune", str(_recipe(tmp_path)), "--show-config", "--json", "--momentum", "0.8"]) == 0
    rows = {r["key"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    # README "resnet": train.py's defaults, --lr 0.1 for 90 epochs, step 30, gamma 0.1
    assert rows["lr"] == {
        "key": "lr",
        "value": 0.01,
        "source": "preset torchvision (resnet recipe, scaled from 0.1)",
    }
    assert rows["momentum"]["source"] == "CLI flag" and rows["momentum"]["value"] == 0.8
    assert rows["epochs"] == {"key": "epochs", "value": 9, "source": "recipe file"}
    assert rows["step_epochs"]["value"] == 3 and rows["seed"]["source"] == "default"
    assert not jobs_root().exists() or not any(jobs_root().iterdir())


def test_the_table_shows_sources_and_a_preset_that_cannot_apply_exits_2(tmp_path, capsys):
    assert main(["finetune", str(_recipe(tmp_path)), "--show-config"]) == 0
    out = capsys.readouterr().out
    assert "[train] of resnet50" in out and "preset torchvision (resnet recipe)" in out
    assert main(["finetune", str(_recipe(tmp_path, "googlenet")), "--show-config"]) == 2
    assert "ported" in capsys.readouterr().err


def test_resnet50s_default_weights_take_their_own_recipe(tmp_path, capsys):
    path = tmp_path / "r50.toml"
    path.write_text('[model]\nname = "resnet50"\nweights = "default"\n\n[train]\npreset = "torchvision"\n')
    assert main(["finetune", str(path), "--show-config", "--json"]) == 0
    rows = {r["key"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    # IMAGENET1K_V2: --auto-augment ta_wide --label-smoothing 0.1 --mixup-alpha 0.2 --cutmix-alpha 1.0
    assert rows["auto_augment"] == {
        "key": "auto_augment",
        "value": "ta_wide",
        "source": "preset torchvision (resnet50 IMAGENET1K_V2 recipe)",
    }
    assert (rows["label_smoothing"]["value"], rows["mixup_alpha"]["value"]) == (0.1, 0.2)


def test_the_table_shows_values_as_the_recipe_writes_them(tmp_path, capsys):
    train = 'preset = "torchvision"\nepochs = 9\naugment = ["flip"]\n'
    assert main(["finetune", str(_recipe(tmp_path, train=train)), "--show-config"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert rows["optimizer"].split()[1] == '"sgd"' and rows["preset"].split()[1] == '"torchvision"'
    assert rows["channels_last"].split()[1] == "false" and rows["freeze_bn"].split()[1] == "true"
    assert rows["head_lr"].split()[1:3] == ["(not", "set)"] and rows["augment"].split()[1] == '["flip"]'


def test_show_config_warns_of_an_lr_above_10_as_a_launch_does(tmp_path, capsys):
    recipe = _recipe(tmp_path, train="epochs = 9\n")
    assert main(["finetune", str(recipe), "--show-config", "--lr", "20"]) == 0
    out = capsys.readouterr()
    assert "lr = 20 is above 10" in out.err and "lr-find" in out.err
    assert main(["finetune", str(recipe), "--show-config", "--json", "--lr", "20"]) == 0
    out = capsys.readouterr()
    assert "above 10" in out.err and all(json.loads(line) for line in out.out.splitlines())  # JSON stays
    assert main(["finetune", str(recipe), "--show-config", "--lr", "0.5"]) == 0
    assert "above 10" not in capsys.readouterr().err
