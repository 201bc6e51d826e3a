"""An IMAGE that exists but is no regular file (a FIFO, a device, a folder) is named for what it is,
not reported missing, and is never opened in a way that could wait forever."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from engine.errors import BadInput
from engine.use.images import image_files, load_image


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)  # no writer: a plain open() for reading would wait forever
    return path


@pytest.mark.timeout(20)
def test_a_fifo_given_as_an_image_is_named_as_one(fifo) -> None:
    with pytest.raises(BadInput) as refused:
        load_image(fifo)
    said = refused.value.message
    assert said.startswith(f"{fifo} is a named pipe (FIFO), not an image file: only a regular file")
    assert "fix: save the image to a file and pass that file" in said


def test_a_device_given_as_an_image_is_named_as_one() -> None:
    with pytest.raises(BadInput, match="/dev/null is a device, not an image file"):
        load_image("/dev/null")
    with pytest.raises(BadInput, match="/dev/null is a device, not an image file"):
        image_files(["/dev/null"])


def test_missing_and_unreadable_images_keep_their_own_words(tmp_path) -> None:
    with pytest.raises(BadInput, match=r"no image at .*missing\.png: the file does not exist"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(BadInput, match=r"notes\.png as an image: it is in no image format Pillow reads"):
        load_image(tmp_path / "notes.png")


@pytest.mark.timeout(20)
def test_a_folder_of_images_skips_pipes_and_folders_named_like_images(tmp_path, fifo) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "real.png")
    (tmp_path / "folder.png").mkdir()
    assert image_files([tmp_path]) == [tmp_path / "real.png"]
    with pytest.raises(BadInput, match="is a named pipe \\(FIFO\\), not an image file"):
        image_files([fifo])
    name, image = load_image(tmp_path / "real.png")
    assert name == str(tmp_path / "real.png") and image.size == (4, 4)
