"""Issue 18, item 1: a weights file or a job folder never chooses code. Each attack names a marker
module (it writes a file the moment it is imported) or a stdlib factory with a visible effect
(`tempfile:mkdtemp`) the way a stranger's file would, and goes through every entry point that
rebuilds a model from a file: the CLI's predict, actmap, features, eval, export and diff, and the
engine function `ptm-tui FILE` and the jobs screen's `o` open with. Refused: exit 2, the code and
--trust-code named, the marker never written. With --trust-code the user's choice runs it."""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from engine.edit.save import save_weights
from engine.models.trust import CodeRefused
from tui.cli.main import main

pytestmark = pytest.mark.timeout(300)
SIDE = 16
CLASSES = ["cat", "dog"]


class Net(nn.Module):
    """What the marker module defines too: a small CNN for 16 px images, two classes."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.conv(x)).flatten(1))


MARKER_SOURCE = """
import pathlib
from torch import nn
pathlib.Path({marker!r}).write_text("imported")


class Net(nn.Module):
    def __init__(self, num_classes=2):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))
"""


class Attack:
    """A model name a file carries, and how to tell whether its code ran."""

    def __init__(self, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kind = kind
        self.marker = tmp_path / "marker.txt"
        code = tmp_path / "code"
        code.mkdir()
        module = f"evil_{uuid.uuid4().hex[:8]}"
        source = MARKER_SOURCE.format(marker=str(self.marker))
        if kind == "stdlib":  # a stdlib factory: mkdtemp makes a folder in tempfile's folder
            self.temps = tmp_path / "temps"
            self.temps.mkdir()
            monkeypatch.setattr(tempfile, "tempdir", str(self.temps))
            self.name = "tempfile:mkdtemp"
            return
        (code / f"{module}.py").write_text(source)
        if kind == "absolute":
            self.name = f"{code / module}.py:Net"
        elif kind == "parent":  # ../evil.py from a folder beside it
            (tmp_path / "work").mkdir()
            monkeypatch.chdir(tmp_path / "work")
            self.name = f"../code/{module}.py:Net"
        elif kind == "cwd":
            monkeypatch.chdir(code)
            self.name = f"{module}.py:Net"
        else:  # an importable module, as on PYTHONPATH
            monkeypatch.syspath_prepend(str(code))
            self.name = f"{module}:Net"

    def ran(self) -> bool:
        """Return True when the named code was imported or called."""
        if self.kind == "stdlib":
            return any(self.temps.iterdir())
        return self.marker.exists()


KINDS = ["absolute", "parent", "cwd", "module", "stdlib"]


def _meaning(name: str) -> dict:
    return {
        "recipe": {"model": {"name": name, "weights": "none", "seed": 0}, "edit": []},
        "classes": CLASSES,
        "resize": [SIDE, SIDE],
        "crop": None,
        "input_size": [3, SIDE, SIDE],
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "interpolation": "bilinear",
        "antialias": True,
    }


@pytest.fixture
def inputs(tmp_path):
    """An image, a data folder of two classes (one image each), and plain weights to diff with."""
    image = tmp_path / "input.png"
    Image.new("RGB", (20, 20), (200, 30, 30)).save(image)
    data = tmp_path / "data"
    for name in CLASSES:
        (data / name).mkdir(parents=True)
        Image.new("RGB", (20, 20), (10, 200, 30)).save(data / name / "0.png")
    torch.manual_seed(0)
    plain = tmp_path / "plain.pth"
    torch.save(Net().state_dict(), plain)
    return {"image": image, "data": data, "plain": plain, "out": tmp_path / "out"}


def _weights(tmp_path: Path, attack: Attack, suffix: str) -> Path:
    torch.manual_seed(1)
    return save_weights(Net(), tmp_path / f"downloaded{suffix}", _meaning(attack.name))


def _job(tmp_path: Path, monkeypatch, attack: Attack, carries_recipe: bool) -> str:
    """A job folder whose spec.toml names the code; its checkpoint carries the same recipe in its
    meaning, or (as checkpoints before meanings) nothing, so that spec.toml is what is read."""
    from engine.edit.recipe import Recipe, dumps
    from engine.train.checkpoint import save_checkpoint

    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    job = tmp_path / "home" / "jobs" / "stranger"
    job.mkdir(parents=True)
    (job / "spec.toml").write_text(dumps(Recipe(model={"name": attack.name, "weights": "none", "seed": 0})))
    torch.manual_seed(2)
    state = {"model": Net().state_dict(), "epoch": 1, "classes": CLASSES, "config": {"image_size": SIDE}}
    if carries_recipe:
        state["meaning"] = _meaning(attack.name)
    save_checkpoint(job / "checkpoints", state, epoch=1)
    return "stranger"


def _commands(target: str, inputs: dict) -> dict[str, list[str]]:
    out = inputs["out"]
    return {
        "predict": ["predict", target, str(inputs["image"])],
        "actmap": ["actmap", target, str(inputs["image"]), "--out", str(out)],
        "features": [
            "features",
            target,
            "--layers",
            "conv",
            "--images",
            str(inputs["image"]),
            "--out",
            str(out.with_suffix(".pt")),
        ],
        "eval": ["eval", target, "--data", str(inputs["data"])],
        "export": [
            "export",
            target,
            "--format",
            "safetensors",
            "--out",
            str(out.with_suffix(".safetensors")),
        ],
    }


def _refused(argv: list[str], attack: Attack, capsys) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert attack.name in err and "--trust-code" in err, err
    assert not attack.ran(), f"{attack.name} ran"


FILE_COMMANDS = ["predict", "actmap", "features", "eval"]


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_weights_file_naming_code_is_refused_by_every_command(
    tmp_path, monkeypatch, capsys, inputs, kind, suffix
):
    attack = Attack(tmp_path, kind, monkeypatch)
    weights = _weights(tmp_path, attack, suffix)
    commands = _commands(str(weights), inputs)
    for command in FILE_COMMANDS:
        _refused(commands[command], attack, capsys)
    # export does not rebuild a saved file's recipe at all, and diff reads tensors only
    assert main(commands["export"]) == 2 and not attack.ran()
    capsys.readouterr()
    assert main(["diff", str(inputs["plain"]), str(weights), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["values"] > 0
    assert not attack.ran()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("kind", KINDS)
def test_opening_a_weights_file_naming_code_as_the_tui_does_is_refused(tmp_path, monkeypatch, kind, suffix):
    from engine.jobs.trained import trained_workbench

    attack = Attack(tmp_path, kind, monkeypatch)
    weights = _weights(tmp_path, attack, suffix)
    with pytest.raises(CodeRefused) as refused:
        trained_workbench(str(weights))  # what `ptm-tui FILE` opens the explorer with
    assert attack.name in refused.value.message and "--trust-code" in refused.value.message
    assert refused.value.exit_code == 2 and not attack.ran()


@pytest.mark.parametrize("carries_recipe", [True, False], ids=["meaning", "spec-only"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_job_folder_naming_code_is_refused_by_every_command(
    tmp_path, monkeypatch, capsys, inputs, kind, carries_recipe
):
    from engine.jobs.trained import trained_workbench

    attack = Attack(tmp_path, kind, monkeypatch)
    job = _job(tmp_path, monkeypatch, attack, carries_recipe)
    checkpoint = str(tmp_path / "home" / "jobs" / job / "checkpoints" / "epoch-0001.pt")
    for argv in _commands(job, inputs).values():
        _refused(argv, attack, capsys)
    _refused(_commands(checkpoint, inputs)["export"], attack, capsys)
    _refused(_commands(checkpoint, inputs)["predict"], attack, capsys)
    with pytest.raises(CodeRefused):
        trained_workbench(job)  # what the jobs screen's `o` opens
    assert main(["diff", str(inputs["plain"]), job, "--json"]) == 0  # tensors only: no code
    assert not attack.ran()


@pytest.mark.parametrize("kind", ["absolute", "parent", "cwd", "module"])
def test_with_trust_code_the_file_s_model_is_built_and_predicts(tmp_path, monkeypatch, capsys, inputs, kind):
    attack = Attack(tmp_path, kind, monkeypatch)
    weights = _weights(tmp_path, attack, ".safetensors")
    assert main(["predict", str(weights), str(inputs["image"]), "--json", "--trust-code"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert attack.ran()
    from safetensors.torch import load_file
    from torchvision import transforms as T

    reference = Net()  # plain torch: the saved weights, the saved preprocessing
    reference.load_state_dict(load_file(str(weights)))
    transform = T.Compose([T.Resize((SIDE, SIDE)), T.ToTensor(), T.Normalize([0.5] * 3, [0.25] * 3)])
    with torch.no_grad():
        probs = reference.eval()(transform(Image.open(inputs["image"]).convert("RGB"))[None])
    probs = probs.softmax(1)[0]
    top = result["top"][0]
    assert top["label"] == CLASSES[int(probs.argmax())]
    assert top["prob"] == pytest.approx(float(probs.max()), abs=1e-6)


def test_with_trust_code_a_stdlib_factory_is_called_and_said_not_to_be_a_model(
    tmp_path, monkeypatch, capsys, inputs
):
    attack = Attack(tmp_path, "stdlib", monkeypatch)
    weights = _weights(tmp_path, attack, ".pth")
    assert main(["predict", str(weights), str(inputs["image"]), "--trust-code"]) == 2
    err = capsys.readouterr().err
    assert attack.ran() and "did not return an nn.Module" in err and "--trust-code" not in err


@pytest.mark.parametrize("command", ["predict", "actmap", "features", "eval", "export"])
def test_with_trust_code_every_command_uses_the_job_s_own_code(
    tmp_path, monkeypatch, capsys, inputs, command
):
    attack = Attack(tmp_path, "absolute", monkeypatch)
    job = _job(tmp_path, monkeypatch, attack, carries_recipe=command != "export")
    assert main([*_commands(job, inputs)[command], "--trust-code"]) == 0, capsys.readouterr().err
    assert attack.ran()


def test_eval_refuses_before_reading_any_image(tmp_path, monkeypatch, capsys, inputs):
    attack = Attack(tmp_path, "module", monkeypatch)
    weights = _weights(tmp_path, attack, ".pth")
    (inputs["data"] / "elk").mkdir()  # a class the model does not know: said only after opening
    Image.new("RGB", (20, 20)).save(inputs["data"] / "elk" / "0.png")
    _refused(["eval", str(weights), "--data", str(inputs["data"])], attack, capsys)


def test_a_recipe_the_user_names_may_name_code(tmp_path, monkeypatch, capsys, inputs):
    from engine.edit.recipe import Recipe, dumps

    attack = Attack(tmp_path, "absolute", monkeypatch)
    recipe = tmp_path / "mine.toml"
    recipe.write_text(dumps(Recipe(model={"name": attack.name, "weights": "none", "seed": 0})))
    assert main(["replay", str(recipe), "--json"]) == 0, capsys.readouterr().err
    assert attack.ran()


def test_a_module_on_pythonpath_named_by_a_downloaded_file_is_not_imported_by_ptm_tui(
    tmp_path, monkeypatch, inputs
):
    import os
    import subprocess
    import sys

    attack = Attack(tmp_path, "module", monkeypatch)  # its folder is on sys.path here ...
    weights = _weights(tmp_path, attack, ".pth")
    paths = [str(tmp_path / "code"), os.environ.get("PYTHONPATH", ""), str(Path.cwd())]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}  # ... and there
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "predict", str(weights), str(inputs["image"])],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 2, done.stderr
    assert attack.name in done.stderr and "--trust-code" in done.stderr
    assert not attack.ran()


@pytest.mark.parametrize("command", ["resume", "join"])
def test_resuming_joining_or_diffing_a_job_folder_from_elsewhere_that_names_code_is_refused(
    tmp_path, monkeypatch, capsys, command
):
    from engine.jobs.launch import check_job_code

    attack = Attack(tmp_path, "absolute", monkeypatch)
    job = _job(tmp_path, monkeypatch, attack, carries_recipe=False)
    elsewhere = tmp_path / "shared" / "stranger"
    elsewhere.parent.mkdir()
    (tmp_path / "home" / "jobs" / job).rename(elsewhere)
    _refused([command, str(elsewhere)], attack, capsys)
    if command == "resume":  # diff JOB rebuilds the job's start from the same recipe
        _refused(["diff", str(elsewhere)], attack, capsys)
    check_job_code(elsewhere, trust_code=True)  # the user's choice lets it through
    (tmp_path / "home" / "jobs").mkdir(exist_ok=True)
    elsewhere.rename(tmp_path / "home" / "jobs" / job)
    check_job_code(tmp_path / "home" / "jobs" / job, trust_code=False)  # launched here: the user's own
    assert not attack.ran()
