"""Activation maps: default layers per family, PNGs at the image's size, a grid, colour maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from engine.errors import BadInput
from engine.use.actmap import (
    COLORMAPS,
    activation_maps,
    channel_mean,
    colorize,
    file_name,
    save_actmaps,
)


def _image(width: int = 150, height: int = 100) -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def alexnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.alexnet().eval()


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()


def test_alexnet_default_maps_are_its_features_relus(alexnet):
    maps = activation_maps(alexnet, _image())
    assert [m.layer for m in maps] == ["features.1", "features.4", "features.7", "features.9",
                                       "features.11"]
    assert [m.shape[1] for m in maps] == [64, 192, 384, 256, 256]
    for item in maps:
        assert item.overlay.size == (150, 100) and item.overlay.mode == "RGB"
        assert item.values.min() >= 0 and item.values.max() == pytest.approx(1.0)


def test_resnet_default_maps_are_its_stages(resnet):
    assert [m.layer for m in activation_maps(resnet, _image())] == ["layer1", "layer2", "layer3",
                                                                    "layer4"]


def test_save_writes_one_png_per_layer_at_image_size_plus_grid(resnet, tmp_path):
    source = tmp_path / "photo.jpg"
    _image(203, 117).save(source)
    files = save_actmaps(resnet, source, tmp_path / "maps", layers=["layer2", "layer4"])
    assert [f.name for f in files] == ["layer2.png", "layer4.png", "grid.png"]
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["grid.png", "layer2.png",
                                                                    "layer4.png"]
    for path in files[:2]:
        with Image.open(path) as png:
            assert png.format == "PNG" and png.size == (203, 117)
    with Image.open(files[2]) as grid:
        assert grid.size[0] == 2 * 224 and grid.size[1] > 117


def test_overlay_blends_the_coloured_map_over_the_image(resnet):
    image = _image()
    [item] = activation_maps(resnet, image, ["layer1"], alpha=1.0)
    heat = np.asarray(item.overlay)
    assert not np.array_equal(heat, np.asarray(image))
    colours = {tuple(int(v) for v in c) for c in COLORMAPS["viridis"]}
    pixels = {tuple(int(v) for v in p) for p in heat.reshape(-1, 3)}
    assert pixels <= colours and len(pixels) > 20  # at alpha 1 every pixel is a map colour
    [plain] = activation_maps(resnet, image, ["layer1"], alpha=0.0)
    assert np.array_equal(np.asarray(plain.overlay), np.asarray(image))
    [half] = activation_maps(resnet, image, ["layer1"], alpha=0.5)
    mixed = np.asarray(half.overlay).astype(int)
    expected = (heat.astype(int) + np.asarray(image).astype(int)) / 2
    assert np.abs(mixed - expected).max() <= 1


def test_colormap_lut_goes_from_dark_purple_to_yellow():
    values = np.array([[0.0, 0.5, 1.0]])
    rgb = colorize(values, "viridis")
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (68, 1, 84) and tuple(rgb[0, 2]) == (253, 231, 37)
    jet = colorize(values, "jet")
    assert jet[0, 0, 2] > jet[0, 0, 0] and jet[0, 2, 0] > jet[0, 2, 2]  # blue to red
    with pytest.raises(BadInput, match="colour map"):
        colorize(values, "rainbow")


def test_channel_mean_scales_to_unit_range():
    activation = torch.arange(2 * 3 * 4, dtype=torch.float).view(2, 3, 4)
    values = channel_mean(activation)
    assert values.shape == (3, 4) and values.min() == 0 and values.max() == 1
    assert np.all(channel_mean(torch.ones(2, 3, 4)) == 0)


def test_unknown_or_flat_layers_are_refused(resnet):
    with pytest.raises(BadInput, match="did you mean layer4"):
        activation_maps(resnet, _image(), ["layer9"])
    with pytest.raises(BadInput, match="no spatial map"):
        activation_maps(resnet, _image(), ["fc"])


def test_file_names_are_safe():
    assert file_name("features.1") == "features.1.png"
    assert file_name("a/b c") == "a_b_c.png"


def test_a_vit_shows_each_encoder_block_as_a_map_of_its_patch_tokens():
    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16(image_size=64).eval()  # 4x4 patches of 16 pixels
    from engine.use.preprocess import Preprocess

    maps = activation_maps(vit, _image(), preprocess=Preprocess(resize=64, crop=64))
    assert [m.layer for m in maps] == ["conv_proj"] + [
        f"encoder.layers.encoder_layer_{i}" for i in range(12)]
    assert all(m.shape == (1, 768, 4, 4) and m.overlay.size == (150, 100) for m in maps)


def test_tokens_become_a_square_map_without_the_class_token():
    from engine.use.actmap import tokens_as_map

    tokens = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)
    grid = tokens_as_map(tokens)
    assert grid.shape == (2, 3, 4, 4)
    assert torch.equal(grid[1, 2].flatten(), tokens[1, 1:, 2])  # class token dropped, row-major
    assert tokens_as_map(torch.zeros(1, 15, 8)) is None  # not a square grid
