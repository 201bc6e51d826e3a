"""The autosaved recipe: written atomically after every edit, read back for the same model only."""

from __future__ import annotations

import torch
import torchvision

from engine.edit import autosave
from engine.edit.recipe import Recipe, build
from engine.edit.workbench import Workbench


def _bench() -> Workbench:
    torch.manual_seed(0)
    return Workbench(model=torchvision.models.resnet18(), name="resnet18", weights="none")


def test_autosave_replays_to_the_same_model_and_is_kept_per_model_and_weights():
    bench = _bench()
    bench.apply({"op": "freeze", "target": "layer1"})
    bench.apply({"op": "replace_head", "num_classes": 7})
    path = autosave.autosave(bench.recipe())
    assert path is not None and path.parent == autosave.autosave_folder()
    assert not list(path.parent.glob(".*.tmp"))  # written through a temporary name
    found = autosave.autosaved("resnet18", "none")
    assert found is not None and found.edits == bench.edits
    assert autosave.autosaved("resnet18", "default") is None  # other weights: another file
    assert autosave.autosaved("resnet50", "none") is None
    assert autosave.latest().edits == bench.edits
    rebuilt = build(Recipe(model=found.model, edits=found.edits))
    assert rebuilt.model.fc.out_features == 7
    assert not any(p.requires_grad for p in rebuilt.model.layer1.parameters())
    for (name, a), b in zip(bench.model.state_dict().items(), rebuilt.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_no_edits_left_removes_the_autosave_and_a_broken_file_is_ignored():
    bench = _bench()
    bench.apply({"op": "freeze", "target": "layer1"})
    path = autosave.autosave(bench.recipe())
    bench.undo()
    assert autosave.autosave(bench.recipe()) is None
    assert not path.exists() and autosave.latest() is None
    path.write_text("[model\nname = ")  # a crash mid-write cannot do this (atomic), a person can
    assert autosave.autosaved("resnet18", "none") is None
    autosave.discard("resnet18", "none")
    autosave.discard("resnet18", "none")  # nothing to remove is fine
    assert not path.exists()
