"""Images from the user: one file read safely, or every image under some paths and folders."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.errors import BadInput

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
ImageLike = Any  # a path (str / PathLike) or a PIL.Image.Image


def load_image(image: ImageLike) -> tuple[str, Any]:
    """Return (a name for it, the image as an RGB PIL image), or raise BadInput."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, Image.Image):
        return getattr(image, "filename", "") or "<image>", image.convert("RGB")
    path = Path(image)
    if path.is_dir():
        raise BadInput(f"{path} is a folder, not an image", "each IMAGE must be an image file",
                       f"name the files in it, e.g. {path}/*.png")
    if not path.is_file():
        raise BadInput(f"no image at {path}", "the file does not exist",
                       "check the path (a PNG, JPEG, BMP... file)")
    try:
        with Image.open(path) as opened:
            return str(path), opened.convert("RGB")
    except Image.DecompressionBombError as error:
        raise BadInput(f"refused to open {path}", str(error).split(",")[0],
                       "shrink the image first (e.g. to a few thousand pixels a side)") from None
    except (UnidentifiedImageError, OSError) as error:
        raise BadInput(f"cannot read {path} as an image", str(error),
                       "pass a PNG, JPEG, BMP or other image file") from None


def image_files(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Return the image files named by paths and folders (folders searched recursively, sorted)."""
    files: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise BadInput(f"no image file or folder {str(item)!r}", "the path does not exist",
                           "give image files or folders that contain images")
    if not files:
        raise BadInput("no images found",
                       f"no {', '.join(IMAGE_SUFFIXES)} files in {', '.join(map(str, items))}",
                       "point at image files or a folder of them")
    return files
