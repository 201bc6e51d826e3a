"""Checkpoints: atomic, last K plus the best kept, newest complete one loaded, RNG round trip."""

from __future__ import annotations

import random

import pytest
import torch

from engine.errors import WorkFailed
from engine.train.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    newest_complete,
    remove_stale_temps,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def _state(epoch):
    return {"model": {"w": torch.full((3,), float(epoch))}, "epoch": epoch}


def test_keeps_the_last_k_and_the_best(tmp_path):
    for epoch in range(1, 6):
        save_checkpoint(tmp_path, _state(epoch), epoch, keep_last=2, best="epoch-0002.pt")
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["epoch-0002.pt", "epoch-0004.pt", "epoch-0005.pt"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_mid_epoch_checkpoints_sort_between_epochs(tmp_path):
    save_checkpoint(tmp_path, _state(1), 1, keep_last=5)
    save_checkpoint(tmp_path, _state(1), 1, step=7, keep_last=5)
    save_checkpoint(tmp_path, _state(2), 2, keep_last=5)
    assert [p.name for p in list_checkpoints(tmp_path)] == \
        ["epoch-0001.pt", "epoch-0001-step-00007.pt", "epoch-0002.pt"]


def test_a_truncated_newest_file_falls_back_to_the_previous_one(tmp_path):
    save_checkpoint(tmp_path, _state(1), 1)
    newest = save_checkpoint(tmp_path, _state(2), 2)
    newest.write_bytes(newest.read_bytes()[:100])
    path, state = newest_complete(tmp_path)
    assert path.name == "epoch-0001.pt" and state["epoch"] == 1
    with pytest.raises(WorkFailed, match="cannot read checkpoint"):
        load_checkpoint(newest)


def test_pickled_objects_are_refused(tmp_path):
    import argparse

    torch.save({"model": {}, "epoch": 1, "x": argparse.Namespace(a=1)},
               tmp_path / "epoch-0001.pt")
    assert newest_complete(tmp_path) is None


def test_stale_temporary_files_are_removed(tmp_path):
    (tmp_path / ".epoch-0003.pt.abc.tmp").write_bytes(b"partial")
    assert remove_stale_temps(tmp_path) == 1
    assert list_checkpoints(tmp_path) == []


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(3)
    random.seed(3)
    save_checkpoint(tmp_path, {"model": {}, "epoch": 0, "rng": rng_state()}, 0)
    expected = (torch.rand(3), random.random())
    torch.manual_seed(99)
    random.seed(99)
    set_rng_state(load_checkpoint(list_checkpoints(tmp_path)[0])["rng"])
    got = (torch.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and expected[1] == got[1]
