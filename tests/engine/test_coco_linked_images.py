"""Issue 20 audit: a COCO file beside a link to its images folder (ln -s /data/coco/images images) is
refused, since paths read from data must stay inside their root, but the refusal says the path is
a link and where it leads; naming the real folder (images = "DIR") then reads every image."""

from __future__ import annotations

import json

import pytest

from engine.errors import BadInput
from engine.train.sample_coco import write_coco
from engine.train.tasks.coco_data import read_coco


def test_a_linked_images_folder_is_named_as_a_link_and_images_dir_reads_it(tmp_path):
    real = write_coco(tmp_path / "data", images=4, size=32)
    beside = tmp_path / "mine"
    beside.mkdir()
    (beside / "images").symlink_to(tmp_path / "data" / "images", target_is_directory=True)
    path = beside / "train.json"
    path.write_text(real.read_text())
    with pytest.raises(BadInput) as caught:
        read_coco(path, "detection")
    first = json.loads(real.read_text())["images"][0]["file_name"]
    assert f"{first}: a link to {(tmp_path / 'data' / first).resolve()}, outside" in caught.value.why
    coco = read_coco(path, "detection", images_dir=tmp_path / "data")
    assert len(coco.images) == 4 and coco.skipped_count == 0
