"""Finetune end to end through the CLI: `ptm-tui finetune RECIPE` (a followed job: start python,
import torch, validate, run the job, exit) next to the same job's loop called in this process,
both against the plain PyTorch loop of bench/finetune.py.

A 10-epoch head-only job (resnet18, random init, frozen backbone) on digits. The CLI line
pays what a user waits for: the interpreter, torch's import (once: the runner is forked from
the CLI), building the model and data, and the job's files. One run of each (the CLI's
cost is a fixed few seconds, not noise to average away).

    python bench/finetune_cli.py [--epochs 10] [--size 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from finetune import plain_loop  # bench/ is on sys.path when a bench runs

from engine.edit.recipe import Recipe, build, dumps
from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.loop import train
from engine.train.sample_data import write_digits

HEAD_ONLY = [
    {"op": "replace_head", "num_classes": 10},
    {"op": "freeze", "target": ""},
    {"op": "unfreeze", "target": "fc"},
]


def through_cli(recipe: Path, home: Path, threads: int) -> tuple[float, float]:
    """Run `ptm-tui finetune RECIPE --json` followed to its end; return (seconds, val acc)."""
    env = {**os.environ, "PTM_HOME": str(home), "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "finetune", str(recipe), "--json", "--job-id", "bench"],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"ptm-tui finetune failed:\n{run.stderr[-2000:]}")
    final = json.loads(run.stdout.strip().splitlines()[-1])
    return seconds, float(final["last_val_acc"])


def torch_import_seconds() -> float:
    """Return how long a fresh python takes to import torch and torchvision here."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, torchvision"], check=True)
    return time.perf_counter() - started


def main() -> None:
    """Time the CLI, the in-process loop and the plain loop once each; print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="ptm-bench-"))
    write_digits(root / "digits", args.size)
    train_table = {
        "data": str(root / "digits"),
        "image_size": args.size,
        "epochs": args.epochs,
        "batch_size": 64,
        "optimizer": "sgd",
        "lr": 0.05,
        "workers": 0,
        "seed": 0,
        "device": "cpu",
    }
    recipe = Recipe(
        model={"name": "resnet18", "weights": "none", "seed": 0}, edits=HEAD_ONLY, train=train_table
    )
    (root / "recipe.toml").write_text(dumps(recipe))
    config = train_config(train_table)
    datasets = build_datasets(config)

    cli_s, cli_acc = through_cli(root / "recipe.toml", root / "home", args.threads)
    started = time.perf_counter()
    ours = train(build(recipe).model, config, datasets)
    ours_s, ours_acc = time.perf_counter() - started, ours.last_val_acc or 0.0
    model = build(recipe).model
    started = time.perf_counter()
    plain_acc = plain_loop(model, config, datasets, True)
    plain_s = time.perf_counter() - started
    print(
        f"head-only {args.epochs} epochs (resnet18 {args.size}px, digits, {args.threads} thread): "
        f"plain loop {plain_s:.1f}s acc {plain_acc:.2f}%"
    )
    print(f"  in-process loop {ours_s:.1f}s acc {ours_acc:.2f}%: {plain_s / ours_s:.1f}x faster")
    print(
        f"  ptm-tui finetune (CLI, end to end) {cli_s:.1f}s acc {cli_acc:.2f}%: {plain_s / cli_s:.1f}x faster"
    )
    print(f"  (a fresh python importing torch + torchvision here: {torch_import_seconds():.1f}s)")


if __name__ == "__main__":
    main()
