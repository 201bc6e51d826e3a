"""Opening a timm model from the Hugging Face cache: ptm-tui's meta + mmap vs timm's pretrained=True.

Plain: `timm.create_model(name, pretrained=True)` (builds with random init, then reads the
cached safetensors through huggingface_hub). Ours: `open_model("timm/<name>", "default")`:
builds on meta, memory-maps the same file, `load_state_dict(assign=True)`.

Random weights are installed into a temporary HF_HUB_CACHE the way huggingface_hub lays it out
(through `ptm-tui import`'s installer), and HF_HUB_OFFLINE=1 keeps both ways off the network.
One warm-up each, then `--repeat` runs; the best counts. Both must give identical tensors.
Usage: python bench/open_timm.py [--repeat N] [ARCH.TAG...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from open_model import best_time  # bench/ is on sys.path when a bench runs

MODELS = ["resnet50.a1_in1k", "convnext_tiny.fb_in1k", "vit_base_patch16_224.augreg2_in21k_ft_in1k"]


def install(name: str, work: Path) -> None:
    """Put random weights of timm model `name` into the HF cache, as huggingface_hub would."""
    import timm
    import torch
    from safetensors.torch import save_file

    from engine.models.weights.bundle import entry_for, import_bundle

    repo = timm.models.get_pretrained_cfg(name).hf_hub_id
    torch.manual_seed(0)
    folder = work / name
    (folder / "huggingface" / repo).mkdir(parents=True)
    local = folder / "huggingface" / repo / "model.safetensors"
    state = timm.create_model(name).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(local))
    entry = entry_for(local, "huggingface", f"timm/{name}", name, repo=repo, revision="0" * 40)
    (folder / "manifest.json").write_text(json.dumps(
        {"format": "ptm-tui weights bundle", "version": 1, "files": [entry.__dict__]}))
    import_bundle(folder)


def main() -> int:
    """Time both ways for each model, print times and ratios; return 1 if any tensors differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=MODELS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ptm-bench-hf-"))
    os.environ["HF_HUB_CACHE"] = str(home / "hub")  # before huggingface_hub reads it
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import timm
    import torch

    from engine.models.loader import open_model

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    print(f"torch {torch.__version__}, timm {timm.__version__}, {torch.get_num_threads()} threads, "
          f"HF_HUB_CACHE={home / 'hub'}")
    print(f"{'model':<44} {'timm s':>8} {'ours s':>8} {'ratio':>7}  identical")
    failed = False
    for name in args.models:
        install(name, home / "src")

        def plain(name: str = name) -> torch.nn.Module:
            return timm.create_model(name, pretrained=True)

        def ours(name: str = name) -> torch.nn.Module:
            return open_model(f"timm/{name}", "default").model

        plain_best, plain_median, plain_model = best_time(plain, args.repeat)
        ours_best, ours_median, ours_model = best_time(ours, args.repeat)
        mine, theirs = ours_model.state_dict(), plain_model.state_dict()
        same = sorted(mine) == sorted(theirs) and all(torch.equal(mine[k], theirs[k]) for k in theirs)
        failed |= not same
        print(f"{name:<44} {plain_best:>8.3f} {ours_best:>8.3f} {plain_best / ours_best:>6.1f}x"
              f"  {'yes' if same else 'NO'}   (medians {plain_median:.3f} / {ours_median:.3f})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
