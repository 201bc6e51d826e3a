"""The training loop under DDP (two real gloo processes): every rank agrees on when to stop."""

from __future__ import annotations

import json
import multiprocessing
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from finetune_helpers import tiny_net

from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.dist import DistInfo
from engine.train.loop import Trainer
from engine.train.sample_data import write_digits

pytestmark = pytest.mark.timeout(300)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank(rank: int, port: int, data: str, out: str) -> None:
    """One DDP rank; rank 0 alone is asked to stop, once the first epoch's steps are done."""
    import torch
    import torch.distributed as td

    torch.set_num_threads(1)
    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                          world_size=2, timeout=timedelta(seconds=60))
    try:
        config = train_config({"data": data, "image_size": 12, "batch_size": 32, "epochs": 5,
                               "workers": 0, "optimizer": "sgd", "lr": 0.01, "seed": 0})
        box: list[Trainer] = []
        # As under torchrun: SIGTERM reaches rank 0 only; here it lands during validation.
        asked = (lambda: box[0].epoch >= 1) if rank == 0 else (lambda: False)
        trainer = Trainer(tiny_net(), config, build_datasets(config), should_stop=asked,
                          dist=DistInfo(rank, 2, rank))
        box.append(trainer)
        result = trainer.run()
        Path(out, f"rank{rank}.json").write_text(json.dumps({"status": result.status,
                                                             "epoch": result.epoch}))
        box.clear()
        del trainer
        td.barrier()  # leave together, as engine.jobs.runner does
    finally:
        td.destroy_process_group()


@pytest.mark.slow
def test_a_stop_seen_by_rank_0_at_an_epoch_end_stops_every_rank_there(tmp_path):
    data = write_digits(tmp_path / "digits", size=12, limit=200)
    spawn = multiprocessing.get_context("spawn")
    port = _free_port()
    ranks = [spawn.Process(target=_rank, args=(r, port, str(data), str(tmp_path)))
             for r in range(2)]
    for proc in ranks:
        proc.start()
    for proc in ranks:
        proc.join(timeout=180)
    for proc in ranks:
        if proc.is_alive():
            proc.kill()
    assert [proc.exitcode for proc in ranks] == [0, 0]
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert results == [{"status": "stopped", "epoch": 1}] * 2
