"""Files named in recipes and job specs are stored absolute (found beside the recipe first, else
from the current folder), so replay works from any folder and compare sees one file once."""

from __future__ import annotations

import torch
import torchvision

from engine.edit.recipe import Recipe, build, dump, load
from engine.edit.save import save_weights
from engine.edit.workbench import Workbench
from engine.jobs.compare import compare_runs
from engine.jobs.launch import create_job


def _weights(folder):
    torch.manual_seed(1)
    model = torchvision.models.resnet18()
    save_weights(model, folder / "r18.pth")
    return model


def test_replay_from_another_folder_finds_the_weights_beside_the_recipe(tmp_path, monkeypatch):
    here = tmp_path / "project"
    here.mkdir()
    model = _weights(here)
    monkeypatch.chdir(here)
    bench = Workbench.open("resnet18", weights="r18.pth")  # typed relative, in its folder
    assert bench.weights == str(here / "r18.pth")
    bench.apply({"op": "load_partial", "source": "r18.pth"})
    assert bench.edits[-1]["source"] == str(here / "r18.pth")
    recipe_file = dump(bench.recipe(), here / "recipe.toml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rebuilt = build(load(recipe_file))
    for (name, a), b in zip(model.state_dict().items(), rebuilt.model.state_dict().values()):
        assert torch.equal(a, b), name
    # a hand-written recipe with a relative name works from anywhere too
    dump(Recipe(model={"name": "resnet18", "weights": "r18.pth", "seed": 0}), here / "hand.toml")
    assert torch.equal(build(load(here / "hand.toml")).model.fc.weight, model.fc.weight)


def test_job_specs_store_absolute_paths_and_compare_sees_the_same_file_once(
    home, tmp_path, monkeypatch, digits
):
    here = tmp_path / "project"
    here.mkdir()
    _weights(here)
    train = {"data": str(digits), "image_size": 32, "epochs": 1, "workers": 0}
    dump(
        Recipe(model={"name": "resnet18", "weights": "r18.pth", "seed": 0}, train=train),
        here / "relative.toml",
    )
    dump(
        Recipe(
            model={"name": "resnet18", "weights": str(here / "r18.pth"), "seed": 0},
            train={**train, "lr": 0.05},
        ),
        here / "absolute.toml",
    )
    monkeypatch.chdir(tmp_path)  # neither recipe's folder
    first = create_job(load(here / "relative.toml"))
    second = create_job(load(here / "absolute.toml"))
    assert load(first / "spec.toml").model["weights"] == str(here / "r18.pth")
    settings = [curve.settings for curve in compare_runs([first.name, second.name])]
    assert all(set(flat) == {"train.lr"} for flat in settings), settings
