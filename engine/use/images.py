"""Images from the user: one file read safely, or every image under some paths and folders."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from engine.errors import BadInput
from engine.readfile import kind_of

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
ImageLike = Any  # a path (str / PathLike) or a PIL.Image.Image


def load_image(image: ImageLike) -> tuple[str, Any]:
    """Return (a name for it, the image as an RGB PIL image), or raise BadInput."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, Image.Image):
        return getattr(image, "filename", "") or "<image>", image.convert("RGB")
    path = Path(image)
    try:
        with _open_regular(path) as handle, Image.open(handle) as opened:
            return str(path), opened.convert("RGB")
    except Image.DecompressionBombError as error:
        raise BadInput(f"refused to open {path}", str(error).split(",")[0],
                       "shrink the image first (e.g. to a few thousand pixels a side)") from None
    except (UnidentifiedImageError, OSError) as error:
        unknown = isinstance(error, UnidentifiedImageError)
        why = "it is in no image format Pillow reads" if unknown else str(error)
        raise BadInput(f"cannot read {path} as an image", why,
                       "pass a PNG, JPEG, BMP or other image file") from None


def _not_a_file(path: Path, mode: int) -> BadInput:
    """Return the error for an IMAGE that exists but is not a regular file (a folder, a FIFO, a device)."""
    if stat.S_ISDIR(mode):
        return BadInput(f"{path} is a folder, not an image", "each IMAGE must be an image file",
                        f"name the files in it, e.g. {path}/*.png")
    return BadInput(f"{path} is {kind_of(mode)}, not an image file",
                    "only a regular file is read as an image: a pipe or a device may never end",
                    "save the image to a file and pass that file")


def _open_regular(path: Path) -> IO[bytes]:
    """Return `path` opened for reading when it is a regular file, else BadInput saying what it is.

    Opened without blocking and checked again on the open file, so a FIFO swapped in is refused too.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise BadInput(f"no image at {path}", "the file does not exist",
                       "check the path (a PNG, JPEG, BMP... file)") from None
    if not stat.S_ISREG(mode):
        raise _not_a_file(path, mode)
    try:
        handle = open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK))  # noqa: SIM115
    except OSError as error:
        raise BadInput(f"cannot read {path}", error.strerror or str(error),
                       "check the file's permissions") from None
    mode = os.fstat(handle.fileno()).st_mode
    if not stat.S_ISREG(mode):
        handle.close()
        raise _not_a_file(path, mode)
    return handle


def image_files(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Return the image files named by paths and folders (folders searched recursively, sorted)."""
    files: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():  # only regular files: a pipe or folder named x.png is no image
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise _not_a_file(path, path.stat().st_mode)
        else:
            raise BadInput(f"no image file or folder {str(item)!r}", "the path does not exist",
                           "give image files or folders that contain images")
    if not files:
        raise BadInput("no images found",
                       f"no {', '.join(IMAGE_SUFFIXES)} files in {', '.join(map(str, items))}",
                       "point at image files or a folder of them")
    return files
