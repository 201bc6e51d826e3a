"""Detection finetune speed: the project's loop vs a plain loop written the way torchvision's
references/detection/engine.py trains (train_one_epoch: sum the loss dict, backward, step; then
evaluate with pycocotools), same model, data, batch order and seed. Target: <= 1.05x per epoch.
Also prints the box mAP both reach after the epochs, on a synthetic COCO set the bench draws.

    python bench/detection.py [--epochs 3] [--images 32] [--size 128] [--plain-first]
                              [--model fasterrcnn_mobilenet_v3_large_320_fpn]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch.utils.data import DataLoader

from engine.train.config import TrainConfig, train_config
from engine.train.data import EpochBatches, Indexed
from engine.train.loop import Trainer
from engine.train.sample_coco import write_coco
from engine.train.tasks import task_for
from engine.train.tasks.coco_data import collate


def make_model(name: str, size: int) -> torch.nn.Module:
    """Return the seeded detector for 2 categories + background, trained at `size` px."""
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=3,
                                        min_size=size, max_size=size)


def plain_map(model: torch.nn.Module, val_json: Path, val, categories: list[int]) -> float:
    """references/detection's evaluate: predictions to COCO results, COCOeval bbox, stats[0]."""
    model.eval()
    results = []
    with torch.no_grad():
        for images, targets, _ in DataLoader(Indexed(val), batch_size=4, collate_fn=collate):
            for out, target in zip(model(list(images)), targets):
                boxes = out["boxes"].clone()
                boxes[:, 2:] -= boxes[:, :2]
                results += [{"image_id": target["image_id"], "category_id": categories[label],
                             "bbox": box, "score": score} for box, score, label in
                            zip(boxes.tolist(), out["scores"].tolist(), out["labels"].tolist())]
    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(val_json))
        evaluator = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return max(0.0, float(evaluator.stats[0]))


def plain_loop(model: torch.nn.Module, config: TrainConfig, datasets, val_json: Path) -> tuple[float, float]:
    """Train as references/detection does; return (seconds per epoch, final box mAP)."""
    torch.manual_seed(config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    batches = EpochBatches(len(datasets.train), config.batch_size, config.seed)
    loader = DataLoader(Indexed(datasets.train), batch_sampler=batches, collate_fn=collate)
    categories = [0, *datasets.meaning["category_ids"]]
    times, score = [], 0.0
    for epoch in range(config.epochs):
        started = time.perf_counter()
        batches.set_epoch(epoch)
        model.train()
        for images, targets, _ in loader:
            targets = [{k: v for k, v in t.items() if isinstance(v, torch.Tensor)} for t in targets]
            losses = model(list(images), targets)
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        score = plain_map(model, val_json, datasets.val, categories)
        times.append(time.perf_counter() - started)
    return min(times), score


def main() -> None:
    """Run both loops and print seconds per epoch, the ratio and the mAPs."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--model", default="fasterrcnn_mobilenet_v3_large_320_fpn")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plain-first", action="store_true", help="run the plain loop first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp())
    write_coco(folder, images=args.images, size=args.size)
    val_json = write_coco(folder, images=max(4, args.images // 4), size=args.size, seed=1,
                          name="val.json")
    config = train_config({"data": str(folder / "train.json"), "val_data": str(val_json),
                           "epochs": args.epochs, "batch_size": args.batch_size, "workers": 0,
                           "lr": 0.01, "backbone_lr": 0.01, "scheduler": "none", "amp": False})
    model = make_model(args.model, args.size)
    task = task_for(model)
    datasets = task.build_datasets(config, None)
    if args.plain_first:
        plain_seconds, plain_score = plain_loop(make_model(args.model, args.size), config, datasets, val_json)
    result = Trainer(model, config, datasets, task=task).run()
    if not args.plain_first:
        plain_seconds, plain_score = plain_loop(make_model(args.model, args.size), config, datasets, val_json)
    ours_seconds = min(r["seconds"] for r in result.history)
    ours_score = result.history[-1]["val_bbox_map"]
    print(json.dumps({"model": args.model, "images": args.images, "size": args.size,
                      "epochs": args.epochs, "plain_s_per_epoch": round(plain_seconds, 3),
                      "ours_s_per_epoch": round(ours_seconds, 3),
                      "ratio": round(ours_seconds / plain_seconds, 3),
                      "plain_box_map": round(plain_score, 4), "ours_box_map": round(ours_score, 4)}))


if __name__ == "__main__":
    main()
