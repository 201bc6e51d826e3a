"""Opening a finetuned model for predictions: ptm-tui's weights file with its meaning vs plain torch.

Plain: build the architecture on cpu, replace the head, `torch.load(weights_only=True)`,
       `load_state_dict` (the user must know the model, the head and the preprocessing).
Ours:  `engine.jobs.trained.open_trained(FILE)`: the recipe inside the file rebuilds the model
       (built without weights), the file's tensors are loaded as `W` loads them, and its class
       names and preprocessing come with it.

The file is written by `save_weights(..., meaning_of(workbench))` (what ctrl+s writes) from a
random-init model with a 10-class head. Each way runs once to warm up, then `--repeat` times;
the best time counts. Both must give identical outputs on one image-sized batch.
Usage: python bench/open_trained.py [--repeat N] [MODEL...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from open_model import best_time  # bench/ is on sys.path when a bench runs


def main() -> int:
    """Time both ways for each model; print seconds and the ratio; return 1 if outputs differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["resnet50", "vit_b_16"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import torch
    import torchvision

    from engine.edit.save import save_weights
    from engine.edit.workbench import Workbench
    from engine.jobs.trained import open_trained
    from engine.use.inference import meaning_of

    failed = 0
    print(f"{'model':<12} {'plain (s)':>10} {'ours (s)':>10} {'ratio':>7}  outputs")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            workbench = Workbench.open(name, weights="none")
            workbench.apply({"op": "replace_head", "num_classes": 10})
            path = save_weights(workbench.model, Path(folder) / f"{name}.pth", meaning_of(workbench))

            def plain(name: str = name, path: Path = path) -> torch.nn.Module:
                model = torchvision.models.get_model(name, num_classes=10)
                model.load_state_dict(torch.load(path, weights_only=True))
                return model.eval()

            def ours(path: Path = path) -> torch.nn.Module:
                return open_trained(str(path)).model

            plain_s, _, plain_model = best_time(plain, args.repeat)
            ours_s, _, ours_model = best_time(ours, args.repeat)
            x = torch.randn(1, 3, 224, 224)
            with torch.no_grad():
                same = torch.equal(plain_model(x), ours_model(x))
            failed += not same
            print(f"{name:<12} {plain_s:>10.3f} {ours_s:>10.3f} {ours_s / plain_s:>7.2f}  "
                  f"{'identical' if same else 'DIFFER'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
