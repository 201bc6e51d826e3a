"""Predictions: the weights' preprocessing, sorted top-k named from the weights meta, detections."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from engine.errors import BadInput
from engine.use.devices import best_device
from engine.use.inference import draw_detections, predict, predict_ready, ready
from engine.use.preprocess import categories_for, preprocess_for


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()


def test_preprocess_follows_the_weights_transforms():
    pre = preprocess_for("resnet18", "default")
    assert (pre.resize, pre.crop, pre.kind) == (256, 224, "classification")
    assert pre.mean == (0.485, 0.456, 0.406) and "ResNet18_Weights" in pre.source
    assert pre(_image(300, 200)).shape == (3, 224, 224)
    vit = preprocess_for("vit_b_16", "ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1")
    assert (vit.resize, vit.crop) == (384, 384)
    assert vit(_image(500, 400)).shape == (3, 384, 384)
    seg = preprocess_for("deeplabv3_resnet50", "none")
    assert seg.kind == "segmentation" and seg.resize == 520 and seg.crop is None
    det = preprocess_for("fasterrcnn_resnet50_fpn", "none")
    assert det.kind == "detection"
    assert det(_image(64, 48)).shape == (3, 48, 64) and float(det(_image(64, 48)).max()) <= 1.0


def test_unknown_models_fall_back_to_imagenet_preprocessing():
    pre = preprocess_for("pkg.mod:factory", "none")
    assert (pre.resize, pre.crop, pre.mean) == (256, 224, (0.485, 0.456, 0.406))
    assert pre(_image(100, 80)).shape == (3, 224, 224)


def test_predict_gives_topk_sorted_with_names_from_the_weights_meta(resnet):
    names = torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"]
    results = predict(resnet, [_image(320, 240, 1), _image(200, 200, 2), _image(90, 150, 3)],
                      names, topk=5)
    assert len(results) == 3
    for result in results:
        top = result["top"]
        assert len(top) == 5
        probs = [item["prob"] for item in top]
        assert probs == sorted(probs, reverse=True) and 0 < probs[-1] <= probs[0] <= 1
        assert all(item["label"] == names[item["index"]] for item in top)
    with torch.no_grad():
        batch = torch.stack([preprocess_for("resnet18")(_image(320, 240, 1))])
        expected = resnet(batch).softmax(1)[0].topk(5)
    assert [i["index"] for i in results[0]["top"]] == expected.indices.tolist()
    assert results[0]["top"][0]["prob"] == pytest.approx(float(expected.values[0]), rel=1e-4)


def test_random_weights_borrow_the_default_categories_and_say_so(resnet, tmp_path):
    model = ready(resnet, "resnet18", "none")
    assert model.categories[:2] == ["tench", "goldfish"]
    assert "random weights" in model.labels_note and "ResNet18_Weights" in model.labels_note
    path = tmp_path / "cat.png"
    _image(64, 64).save(path)
    [result] = predict_ready(model, [path], topk=2)
    assert result["image"] == str(path) and len(result["top"]) == 2


def test_a_head_of_another_size_gets_index_labels():
    names, note = categories_for("resnet18", "none", {}, 10)
    assert names is None and "10 outputs" in note
    model = torchvision.models.resnet18(num_classes=10).eval()
    [result] = predict(model, [_image(64, 64)], None, topk=3)
    assert [item["label"] for item in result["top"]] == [f"class {item['index']}"
                                                         for item in result["top"]]


def test_bad_images_and_topk_are_reported(resnet, tmp_path):
    with pytest.raises(BadInput, match="no image at"):
        predict(resnet, [tmp_path / "missing.png"])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(BadInput, match="cannot read"):
        predict(resnet, [text])
    with pytest.raises(BadInput, match="topk"):
        predict(resnet, [_image(32, 32)], topk=0)


def test_detection_gives_boxes_keypoints_labels_and_draws_them(tmp_path):
    torch.manual_seed(0)
    model = torchvision.models.get_model(
        "keypointrcnn_resnet50_fpn", weights=None, weights_backbone=None, min_size=128,
        max_size=128, rpn_post_nms_top_n_test=30, box_detections_per_img=3,
        box_score_thresh=0.0).eval()
    wrapped = ready(model, "keypointrcnn_resnet50_fpn", "none")
    assert wrapped.preprocess.kind == "detection" and wrapped.keypoint_names[0] == "nose"
    image = _image(160, 120)
    [result] = predict_ready(wrapped, [image], topk=2)
    found = result["detections"]
    assert 1 <= len(found) <= 2
    assert [d["score"] for d in found] == sorted((d["score"] for d in found), reverse=True)
    first = found[0]
    assert first["label"] in ("no person", "person") and len(first["box"]) == 4
    assert len(first["keypoints"]) == 17 and first["keypoints"][0]["name"] == "nose"
    out = draw_detections(image, result, tmp_path / "drawn.png")
    drawn = Image.open(out)
    assert drawn.size == (160, 120)
    assert np.any(np.asarray(drawn) != np.asarray(image))


def test_best_device_is_usable():
    device = best_device()
    assert device in ("cuda", "mps", "cpu")
    assert torch.zeros(1, device=device).device.type == device


def test_named_weights_give_their_own_categories_without_a_note():
    names, note = categories_for("resnet18", "ResNet18_Weights.IMAGENET1K_V1", {}, 1000)
    assert names[0] == "tench" and note is None
    names, note = categories_for("keypointrcnn_resnet50_fpn", "none", {}, 2)
    assert names[1] == "person" and "random weights" in note
    crop = preprocess_for("efficientnet_b3", "none")
    assert (crop.resize, crop.crop) == (320, 300)


def test_resolve_device_names_the_best_device_and_refuses_unknown_or_missing_ones():
    from engine.use.devices import best_device, resolve_device

    assert resolve_device("auto") == resolve_device(None) == best_device()
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(BadInput, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU, or any GPU without one
    with pytest.raises(BadInput, match="is not available"):
        resolve_device(missing)


def test_a_decompression_bomb_is_refused_as_bad_input(tmp_path, monkeypatch):
    from engine.use.images import load_image

    Image.new("RGB", (100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL refuses images over twice this
    with pytest.raises(BadInput, match=r"refused to open .*big\.png") as caught:
        load_image(tmp_path / "big.png")
    assert caught.value.exit_code == 2 and "shrink the image" in caught.value.fix
    with pytest.raises(BadInput, match="is a folder, not an image"):
        load_image(tmp_path)


def test_segmentation_of_images_with_different_shapes_gives_one_result_each(tmp_path):
    torch.manual_seed(0)
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=3).eval()
    Image.new("RGB", (60, 40), (200, 10, 10)).save(tmp_path / "wide.png")
    Image.new("RGB", (40, 60), (10, 200, 10)).save(tmp_path / "tall.png")
    preprocess = preprocess_for("lraspp_mobilenet_v3_large", "none")
    results = predict(model, [tmp_path / "wide.png", tmp_path / "tall.png"], topk=2,
                      preprocess=preprocess)
    assert [r["image"].rsplit("/", 1)[-1] for r in results] == ["wide.png", "tall.png"]
    assert all(len(r["top"]) == 2 for r in results)


def test_weights_with_nan_fail_with_a_message_instead_of_nan_in_the_json(tmp_path):
    from engine.errors import WorkFailed

    model = torchvision.models.resnet18(num_classes=4)
    with torch.no_grad():
        model.fc.weight.fill_(float("nan"))
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    with pytest.raises(WorkFailed, match="scores are not finite numbers") as caught:
        predict(model, [tmp_path / "x.png"])
    assert caught.value.exit_code == 1 and "--stats" in caught.value.fix
