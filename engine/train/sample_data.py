"""A small real dataset for trying finetuning offline: scikit-learn's digits as an ImageFolder."""

from __future__ import annotations

from pathlib import Path

from engine.errors import BadInput


def write_digits(root: str | Path, size: int = 32, split: bool = False, limit: int | None = None,
                 seed: int = 0) -> Path:
    """Write scikit-learn's 8x8 digits upscaled to `size` px RGB PNGs as an ImageFolder; return root.

    With `split`, 20% of the images (seeded) go to val/ and the rest to train/.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise BadInput("scikit-learn is not installed", "the digits come from sklearn.datasets",
                       "pip install scikit-learn") from None
    import numpy as np
    from PIL import Image

    digits = load_digits()
    images, targets = digits.images, digits.target
    order = np.random.default_rng(seed).permutation(len(images))
    if limit is not None:
        order = order[:limit]
    n_val = len(order) // 5
    root = Path(root)
    for rank, index in enumerate(order):
        part = ("val" if rank < n_val else "train") if split else ""
        folder = root / part / f"digit_{targets[index]}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (images[index] / 16.0 * 255).astype("uint8")
        image = Image.fromarray(pixels, mode="L").resize((size, size), Image.BILINEAR)
        image.convert("RGB").save(folder / f"{index:04d}.png")
    return root
