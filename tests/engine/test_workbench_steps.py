"""Compound steps: several edits from one key press are one history entry and one undo."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.edit.workbench import Workbench
from engine.errors import PtmError


def _bench() -> Workbench:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4)),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    return Workbench(model=model, name="tiny", input_size=(1, 3, 16, 16))


def _flags(model: nn.Module) -> dict[str, bool]:
    return {name: p.requires_grad for name, p in model.named_parameters()}


def _values(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in model.state_dict().items()}


def test_several_freezes_are_one_step_undone_and_redone_together():
    wb = _bench()
    before = _flags(wb.model)
    summary = wb.apply_all([{"op": "freeze", "target": "0"}, {"op": "freeze", "target": "1"},
                            {"op": "freeze", "target": "3"}], "froze 0, 1, 3")
    assert summary == "froze 0, 1, 3"
    assert len(wb.history) == 1 and wb.history[0][1] == "froze 0, 1, 3"
    assert wb.edits == [{"op": "freeze", "target": t} for t in ("0", "1", "3")]  # the recipe
    frozen = _flags(wb.model)
    assert [name for name, on in frozen.items() if not on] == [
        "0.weight", "0.bias", "1.weight", "1.bias", "3.0.weight", "3.0.bias", "3.1.weight",
        "3.1.bias"]
    assert wb.undo() is not None and _flags(wb.model) == before and wb.history == []
    assert wb.undo() is None  # one undo took the whole step back
    assert wb.redo() is not None and _flags(wb.model) == frozen and len(wb.history) == 1


def test_parts_that_change_nothing_are_left_out():
    wb = _bench()
    wb.apply({"op": "freeze", "target": "0"})
    wb.apply_all([{"op": "unfreeze", "target": "6"},  # already trainable: a no-op
                  {"op": "freeze", "target": "0"},    # already frozen: a no-op
                  {"op": "freeze", "target": "1"}])
    assert wb.edits == [{"op": "freeze", "target": "0"}, {"op": "freeze", "target": "1"}]
    assert len(wb.history) == 2
    assert wb.apply_all([{"op": "freeze", "target": "1"}]).startswith("nothing changed")
    assert len(wb.history) == 2


def test_a_refused_part_leaves_the_model_and_history_as_they_were():
    wb = _bench()
    values, flags = _values(wb.model), _flags(wb.model)
    with pytest.raises(PtmError):
        wb.apply_all([{"op": "freeze", "target": "0"},
                      {"op": "init", "target": "6", "method": "normal", "params": {"std": 0.5}},
                      {"op": "freeze", "target": "no.such.layer"}])
    assert _flags(wb.model) == flags and wb.history == [] and wb.edits == []
    assert all(torch.equal(values[k], v) for k, v in _values(wb.model).items())


def test_a_step_with_random_inits_replays_to_the_same_weights():
    wb = _bench()
    wb.apply({"op": "freeze", "target": "0"})
    wb.apply_all([{"op": "init", "target": "3.0", "method": "normal", "params": {"std": 0.1}},
                  {"op": "init", "target": "6", "method": "normal", "params": {"std": 0.1}}])
    wb.apply({"op": "init", "target": "0", "method": "normal", "params": {"std": 0.1}})
    replayed = _bench()
    for edit in wb.edits:  # as engine.edit.recipe.build replays a recipe: one edit at a time
        replayed.apply(edit)
    assert len(wb.edits) == 4 and len(replayed.history) == 4
    for name, value in wb.model.state_dict().items():
        assert torch.equal(replayed.model.state_dict()[name], value), name
