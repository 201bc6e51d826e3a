"""Data: ImageFolder layouts, the seeded split, transforms from the weights' meta."""

from __future__ import annotations

import shutil

import pytest

from engine.errors import BadInput
from engine.train.config import train_config
from engine.train.data import EpochBatches, build_datasets, build_transforms, epoch_order
from engine.train.sample_data import write_digits


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return (write_digits(root / "one", size=10, limit=100),
            write_digits(root / "split", size=10, limit=100, split=True))


def test_one_folder_is_split_by_seed_and_the_same_seed_gives_the_same_split(folders):
    one, _ = folders
    a = build_datasets(train_config({"data": str(one), "val_split": 0.25, "seed": 1}))
    b = build_datasets(train_config({"data": str(one), "val_split": 0.25, "seed": 1}))
    c = build_datasets(train_config({"data": str(one), "val_split": 0.25, "seed": 2}))
    assert (len(a.train), len(a.val)) == (75, 25)
    assert a.val.indices == b.val.indices != c.val.indices
    assert not set(a.train.indices) & set(a.val.indices)
    assert a.classes == [f"digit_{d}" for d in range(10)]
    assert "25%" in a.layout


def test_train_and_val_folders_are_used_as_they_are(folders):
    _, split = folders
    data = build_datasets(train_config({"data": str(split), "image_size": 16}))
    assert (len(data.train), len(data.val)) == (80, 20)
    assert data.layout == "train/ and val/"
    image, label = data.val[0]
    assert tuple(image.shape) == (3, 16, 16) and 0 <= label < 10
    for path, label in data.val.samples:  # numbered like train/, even if val/ lacks a class
        assert data.classes[label] in path


def test_val_classes_missing_from_train_are_refused(tmp_path):
    root = write_digits(tmp_path / "d", size=8, limit=30, split=True)
    (root / "val" / "cat").mkdir()
    shutil.copy(next((root / "val").glob("digit_*/*.png")), root / "val" / "cat" / "x.png")
    with pytest.raises(BadInput, match="cat"):
        build_datasets(train_config({"data": str(root)}))


def test_transforms_follow_the_weights_meta():
    meta = {"crop_size": 40, "resize_size": 48, "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}
    _, val = build_transforms(train_config({}), meta)
    text = repr(val)
    assert "size=48" in text and "CenterCrop(size=(40, 40))" in text and "0.2" in text
    train, _ = build_transforms(train_config({"augment": ["crop", "flip"]}), meta)
    assert "RandomResizedCrop" in repr(train) and "RandomHorizontalFlip" in repr(train)


def test_missing_data_says_how_to_fix(tmp_path):
    with pytest.raises(BadInput, match="--data"):
        build_datasets(train_config({}))
    with pytest.raises(BadInput, match="does not exist"):
        build_datasets(train_config({"data": str(tmp_path / "nope")}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="no images"):
        build_datasets(train_config({"data": str(tmp_path / "empty")}))


def test_epoch_order_is_seeded_and_ddp_shards_cover_everything():
    assert epoch_order(10, 0, 1) == epoch_order(10, 0, 1) != epoch_order(10, 0, 2)
    shards = [epoch_order(11, 0, 3, rank, 2) for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) == 6 and set(shards[0] + shards[1]) == set(range(11))
    batches = EpochBatches(10, 4, 0)
    batches.set_epoch(2, skip=1)
    assert len(batches) == 2 and list(batches) == batches.batches()[1:]


def test_finetune_resizes_as_timms_weights_were_trained():
    """timm's config says bicubic for convnext: finetune data matches timm's own eval transform."""
    timm = pytest.importorskip("timm")
    import numpy as np
    import torch
    from PIL import Image

    from engine.models.timm_pretrained import weights_fields

    name = "convnext_tiny.fb_in1k"
    meta = weights_fields(f"timm/{name}")
    assert meta["interpolation"] == "bicubic"
    _, ours = build_transforms(train_config({}), meta)
    config = timm.data.resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg(name).to_dict())
    theirs = timm.data.create_transform(**config, is_training=False)
    pixels = np.random.default_rng(0).integers(0, 256, (300, 260, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    assert torch.allclose(ours(image), theirs(image), atol=1e-5)
    bilinear, _ = build_transforms(train_config({}), {**meta, "interpolation": None})
    assert not torch.allclose(bilinear(image), theirs(image), atol=1e-3)  # the mode matters
