"""The Workbench: edits, exact undo/redo, failed edits leave the model as it was, seeded opening."""

from __future__ import annotations

import pytest
import torch

from engine.edit.recipe import Recipe, build
from engine.edit.workbench import Workbench
from engine.errors import BadInput


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_undo_and_redo_restore_structure_weights_and_flags_exactly():
    wb = Workbench.open("resnet18", weights="none", seed=1)
    before, counts = _state(wb.model), wb.counts()
    wb.apply({"op": "freeze", "target": "layer1"})
    wb.apply({"op": "replace_head", "num_classes": 7})
    wb.apply({"op": "init", "target": "layer4", "method": "kaiming_normal", "layer_type": "Conv2d"})
    after = _state(wb.model)
    assert wb.model.fc.out_features == 7 and wb.counts()[1] < wb.counts()[0]
    while wb.undo() is not None:
        pass
    assert _same(_state(wb.model), before) and wb.counts() == counts
    assert wb.model.fc.out_features == 1000
    while wb.redo() is not None:
        pass
    assert _same(_state(wb.model), after) and len(wb.edits) == 3


def test_a_failed_edit_leaves_the_model_and_history_unchanged():
    wb = Workbench.open("resnet18", weights="none")
    before = _state(wb.model)
    with pytest.raises(BadInput, match="fc"):
        wb.apply({"op": "insert_after", "target": "fc", "module": "Linear(10, 10)"})
    assert _same(_state(wb.model), before) and wb.edits == []
    assert type(wb.model.fc).__name__ == "Linear"


def test_a_random_init_follows_the_seed_and_its_recipe_replays_identically():
    first = Workbench.open("resnet18", weights="none", seed=5)
    first.apply({"op": "replace_head", "num_classes": 3})
    second = Workbench.open("resnet18", weights="none", seed=5)
    other = Workbench.open("resnet18", weights="none", seed=6)
    assert _same(_state(first.model.layer1), _state(second.model.layer1))
    assert not _same(_state(first.model.layer1), _state(other.model.layer1))
    recipe = first.recipe()
    replayed = build(Recipe(model=recipe["model"], edits=recipe["edit"], train=None))
    assert _same(_state(replayed.model), _state(first.model))


def test_trainable_blocks_before_names_the_blocks_that_freeze_before_would_freeze():
    from engine.edit.freeze import trainable_blocks_before

    wb = Workbench.open("resnet18", weights="none")
    wb.apply({"op": "freeze", "target": "bn1"})
    assert trainable_blocks_before(wb.model, "layer3") == ["conv1", "layer1", "layer2"]
    assert trainable_blocks_before(wb.model, "conv1") == []


def _bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def test_undo_copies_are_counted_beyond_the_live_model():
    wb = Workbench.open("resnet18", weights="none")
    wb.apply({"op": "freeze", "target": "layer1"})
    assert wb.undo_bytes() == 0  # flags only
    old_fc = _bytes(wb.model.fc)
    wb.apply({"op": "replace_head", "num_classes": 7})
    assert wb.undo_bytes() == old_fc  # the old head, which the model no longer holds
    wb.apply({"op": "init", "target": "layer4", "method": "zeros"})
    assert wb.undo_bytes() == old_fc + _bytes(wb.model.layer4)


def test_past_the_budget_the_oldest_undo_copies_go_and_the_recipe_keeps_every_edit():
    wb = Workbench.open("resnet18", weights="none")
    layer4 = _bytes(wb.model.layer4)
    wb.undo_budget = int(layer4 * 1.5)
    wb.apply({"op": "init", "target": "layer4", "method": "ones"})
    after_first = _state(wb.model)
    wb.apply({"op": "init", "target": "layer4", "method": "zeros"})
    assert wb.undoable == 1 and wb.undo_bytes() == layer4
    assert [e["method"] for e in wb.edits] == ["ones", "zeros"]
    assert wb.undo() is not None
    assert _same(_state(wb.model), after_first)
    with pytest.raises(BadInput, match="PTM_UNDO_MB"):
        wb.undo()
    assert _same(_state(wb.model), after_first) and len(wb.edits) == 1


def test_the_newest_edit_stays_undoable_even_past_the_budget(monkeypatch):
    monkeypatch.setenv("PTM_UNDO_MB", "0")
    wb = Workbench.open("resnet18", weights="none")
    before = _state(wb.model)
    wb.apply({"op": "init", "target": "", "method": "zeros"})
    wb.undo()
    assert _same(_state(wb.model), before)
    for text in ("lots", "nan"):
        monkeypatch.setenv("PTM_UNDO_MB", text)
        with pytest.raises(BadInput, match="PTM_UNDO_MB"):
            Workbench.open("resnet18", weights="none")
    monkeypatch.setenv("PTM_UNDO_MB", "inf")  # no limit
    wb = Workbench.open("resnet18", weights="none")
    for method in ("ones", "zeros", "ones"):
        wb.apply({"op": "init", "target": "", "method": method})
    assert wb.undoable == 3


def test_edits_that_hold_no_copy_stay_undoable_when_a_newer_copy_is_over_the_budget():
    wb = Workbench.open("resnet18", weights="none")
    wb.undo_budget = 1
    before = _state(wb.model)
    wb.apply({"op": "freeze", "target": "layer1"})
    wb.apply({"op": "init", "target": "layer4", "method": "zeros"})
    assert wb.undoable == 2
    wb.undo()
    wb.undo()
    assert _same(_state(wb.model), before) and wb.counts()[1] == wb.counts()[0]


def test_a_second_change_while_one_runs_is_refused_not_interleaved():
    wb = Workbench.open("resnet18", weights="none")
    with wb._one_at_a_time("test"):  # as while an edit worker runs
        assert wb.busy
        for change in (lambda: wb.apply({"op": "freeze", "target": ""}), wb.undo, wb.redo):
            with pytest.raises(BadInput, match="another edit is still being applied"):
                change()
    assert not wb.busy and wb.edits == []


def test_an_edit_whose_target_is_not_a_path_is_refused_cleanly():
    wb = Workbench.open("resnet18", weights="none")
    before = _state(wb.model)
    with pytest.raises(BadInput, match="cannot find the layer") as caught:
        wb.apply({"op": "replace", "target": None, "module": "ReLU()"})
    assert "inspect MODEL" in caught.value.message
    assert _same(_state(wb.model), before) and wb.edits == []
