"""Issue 18, item 3: everything a weights file says about itself passes one schema check before use.
Each hostile meaning is written the way ptm-tui writes one (a .pth's `_metadata`, a .safetensors
header) or by hand where no writer could, then opened with `ptm-tui predict FILE`: exit 2 and a
message naming the key, never a traceback, a RecursionError or a huge allocation."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from torch import nn

from engine.edit.save import save_weights
from engine.models.weights.meaning import MEANING_KEY
from tui.cli.main import main

pytestmark = pytest.mark.timeout(120)
GOOD = {
    "recipe": {"model": {"name": "resnet18", "weights": "none", "seed": 0}, "edit": []},
    "classes": ["cat", "dog"],
    "resize": [16, 16],
    "crop": None,
    "input_size": [3, 16, 16],
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "interpolation": "bilinear",
    "antialias": True,
}


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


BAD = {  # case: (what changes in GOOD, the key the message names)
    "resize-text": ({"resize": "224"}, "resize"),
    "resize-nested": ({"resize": [[16], [16]]}, "resize[0]"),
    "resize-zero": ({"resize": [0]}, "resize[0]"),
    "resize-negative": ({"resize": [-16, 16]}, "resize[0]"),
    "resize-huge": ({"resize": [10**9, 10**9]}, "resize[0]"),
    "resize-three": ({"resize": [16, 16, 16]}, "resize"),
    "resize-bool": ({"resize": [True]}, "resize[0]"),
    "crop-text": ({"crop": "centre"}, "crop"),
    "crop-huge": ({"crop": 5000}, "crop"),
    "input-size-short": ({"input_size": [16, 16]}, "input_size"),
    "mean-short": ({"mean": [0.5, 0.5]}, "mean"),
    "mean-text": ({"mean": "imagenet"}, "mean"),
    "mean-of-text": ({"mean": ["a", "b", "c"]}, "mean"),
    "std-missing": ({"std": None}, "std"),
    "std-length": ({"std": [0.25]}, "std"),
    "std-zero": ({"std": [0.0, 0.0, 0.0]}, "std"),
    "interpolation-unknown": ({"interpolation": "cubic-spline"}, "interpolation"),
    "interpolation-list": ({"interpolation": ["bilinear"]}, "interpolation"),
    "antialias-text": ({"antialias": "yes"}, "antialias"),
    "kind-unknown": ({"kind": "poetry"}, "kind"),
    "classes-ints": ({"classes": [1, 2]}, "classes[0]"),
    "classes-text": ({"classes": "cat,dog"}, "classes"),
    "classes-too-long": ({"classes": ["cat", "d" * 1000]}, "classes[1]"),
    "classes-too-many": ({"classes": [f"c{i}" for i in range(100_001)]}, "classes"),
    "job-number": ({"job": 7}, "job"),
    "recipe-text": ({"recipe": "resnet18"}, "recipe"),
    "recipe-model-text": ({"recipe": {"model": "resnet18", "edit": []}}, "recipe.model"),
    "recipe-model-missing": ({"recipe": {"edit": []}}, "recipe.model"),
    "recipe-name-number": ({"recipe": {"model": {"name": 18}}}, "recipe.model.name"),
    "recipe-edit-text": ({"recipe": {"model": {"name": "resnet18"}, "edit": "freeze"}}, "recipe.edit"),
    "ema-text": ({"ema": "yes"}, "ema"),
    "ema-decay-one": ({"ema": {"decay": 1.5, "steps": 1}}, "ema.decay"),
    "ema-decay-text": ({"ema": {"decay": "0.9", "steps": 1}}, "ema.decay"),
    "ema-steps-zero": ({"ema": {"decay": 0.9, "steps": 0}}, "ema.steps"),
    "nested-deep": ({"extra": nested(100)}, "meaning"),
}


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "x.png"
    Image.new("RGB", (20, 20), (90, 20, 200)).save(path)
    return path


def _predict(path, image, capsys) -> tuple[int, str]:
    code = main(["predict", str(path), str(image)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_value_in_a_meaning_is_refused_naming_its_key(tmp_path, image, capsys, case, suffix):
    change, key = BAD[case]
    meaning = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    out = save_weights(nn.Linear(2, 2), tmp_path / f"bad{suffix}", meaning)
    code, err = _predict(out, image, capsys)
    assert code == 2, err
    assert f"`{key}`" in err and "Traceback" not in err, err


def _safetensors(path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(path), metadata=metadata)


def test_a_meaning_nested_too_deeply_for_json_is_refused_without_recursion(tmp_path, image, capsys):
    path = tmp_path / "deep.safetensors"
    _safetensors(path, {MEANING_KEY: "[" * 100_000 + "]" * 100_000})
    code, err = _predict(path, image, capsys)
    assert code == 2 and f"`{MEANING_KEY}`" in err and "nested" in err, err


def test_a_meaning_of_the_wrong_type_is_refused(tmp_path, image, capsys):
    path = tmp_path / "list.safetensors"
    _safetensors(path, {MEANING_KEY: json.dumps(["resnet18"])})
    code, err = _predict(path, image, capsys)
    assert code == 2 and "`meaning`" in err, err


def test_a_header_nested_too_deeply_is_refused_without_recursion(tmp_path, image, capsys):
    header = (
        b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "x": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}"
    )
    path = tmp_path / "deep-header.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    code, err = _predict(path, image, capsys)
    assert code == 2 and "Traceback" not in err and "RecursionError" not in err, err
    assert "`header`" in err, err


def test_an_oversized_header_is_refused_before_it_is_read(tmp_path, image, capsys):
    path = tmp_path / "huge-header.safetensors"
    length = (100 << 20) + 1
    with open(path, "wb") as handle:  # sparse: the length says 100 MB + 1, the file is that big
        handle.write(length.to_bytes(8, "little") + b"{")
        handle.truncate(length + 16)
    code, err = _predict(path, image, capsys)
    assert code == 2 and "`header`" in err and "100 MB" in err, err


def test_an_oversized_meaning_is_refused(tmp_path, image, capsys):
    path = tmp_path / "long.safetensors"
    _safetensors(path, {MEANING_KEY: json.dumps({"job": "x" * (17 << 20)})})
    code, err = _predict(path, image, capsys)
    assert code == 2 and f"`{MEANING_KEY}`" in err, err


def test_an_export_s_preprocessing_is_checked_the_same_way(tmp_path, image, capsys):
    path = tmp_path / "exported.safetensors"
    _safetensors(
        path, {"preprocessing": json.dumps({"resize": [10**8], "mean": [0.5] * 3, "std": [0.25] * 3})}
    )
    code, err = _predict(path, image, capsys)
    assert code == 2 and "`resize[0]`" in err, err


def test_a_good_meaning_passes_and_keeps_its_values(tmp_path):
    from engine.models.weights import read_meaning

    out = save_weights(nn.Linear(2, 2), tmp_path / "good.safetensors", {**GOOD, "job": "j1"})
    assert read_meaning(out) == {**GOOD, "job": "j1"}


@pytest.mark.parametrize(
    ("state", "key"),
    [
        ({"config": {"image_size": 10**6}}, "config.image_size"),
        ({"config": {"image_size": "big"}}, "config.image_size"),
        ({"classes": [0, 1]}, "classes[0]"),
    ],
)
def test_a_job_checkpoint_s_image_size_and_classes_are_checked_before_export(
    tmp_path, monkeypatch, capsys, state, key
):
    from engine.edit.recipe import Recipe, dumps
    from engine.train.checkpoint import save_checkpoint

    job = tmp_path / "jobs" / "j1"
    job.mkdir(parents=True)
    (job / "spec.toml").write_text(
        dumps(Recipe(model={"name": "squeezenet1_1"}, edits=[{"op": "replace_head", "num_classes": 2}]))
    )
    save_checkpoint(job / "checkpoints", {"model": {}, "epoch": 1, **state}, epoch=1)
    code = main(["export", str(job), "--format", "safetensors", "--out", str(tmp_path / "x.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and f"`{key}`" in err, err


def test_an_old_checkpoint_s_class_names_are_checked_before_use(tmp_path, image, capsys):
    from torchvision import models

    from engine.edit.recipe import Recipe, dumps
    from engine.train.checkpoint import save_checkpoint

    job = tmp_path / "jobs" / "old"
    job.mkdir(parents=True)
    (job / "spec.toml").write_text(
        dumps(Recipe(model={"name": "squeezenet1_1"}, edits=[{"op": "replace_head", "num_classes": 2}]))
    )
    state = {"model": models.squeezenet1_1(num_classes=2).state_dict(), "epoch": 1, "classes": [0, 1]}
    save_checkpoint(job / "checkpoints", state, epoch=1)  # from before checkpoints carried meanings
    code, err = _predict(job, image, capsys)
    assert code == 2 and "`classes[0]`" in err, err


def test_a_detection_finetune_s_task_keys_are_kept_and_checked(tmp_path):
    from engine.errors import BadInput
    from engine.models.weights.meaning_check import check_meaning

    said = {"task": "keypoints", "kind": "detection", "category_ids": [1, 5],
            "classes": ["__background__", "rectangle", "ellipse"],
            "keypoint_names": ["left_side", "right_side", "top"]}
    assert check_meaning(said, "x.pth") == said
    for key, value in (("task", "video"), ("category_ids", ["1"]), ("keypoint_names", [3])):
        with pytest.raises(BadInput) as refused:
            check_meaning({**said, key: value}, "x.pth")
        assert key in refused.value.message


def test_a_detector_s_trained_size_is_kept_and_checked():
    from engine.errors import BadInput
    from engine.models.weights.meaning_check import check_meaning

    said = {"kind": "detection", "min_size": [320], "max_size": 533}
    assert check_meaning(said, "x.pth") == said
    for bad, key in (({"min_size": 320, "max_size": 533}, "min_size"),
                     ({"min_size": [0], "max_size": 533}, "min_size[0]"),
                     ({"min_size": [320]}, "max_size"),
                     ({"min_size": [320], "max_size": 10**9}, "max_size")):
        with pytest.raises(BadInput) as refused:
            check_meaning({"kind": "detection", **bad}, "x.pth")
        assert f"`{key}`" in refused.value.message
