"""Activation maps: the channel-mean activation of conv stages, coloured and laid over the image."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import BadInput, WorkFailed
from engine.use.devices import model_device
from engine.use.images import ImageLike, load_image
from engine.use.preprocess import Preprocess

MAX_DEFAULT_LAYERS = 24
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.Hardswish, nn.ELU,
                nn.Mish, nn.PReLU)

# --- colour maps ------------------------------------------------------------------------------

_VIRIDIS = np.array([(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
                     (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)], dtype=float)


def _viridis_lut() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    anchors = np.linspace(0.0, 1.0, len(_VIRIDIS))
    return np.stack([np.interp(x, anchors, _VIRIDIS[:, c]) for c in range(3)], axis=1)


def _jet_lut() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    channels = [np.clip(1.5 - np.abs(4 * x - centre), 0, 1) for centre in (3, 2, 1)]
    return np.stack(channels, axis=1) * 255


def _gray_lut() -> np.ndarray:
    x = np.linspace(0.0, 255.0, 256)
    return np.stack([x, x, x], axis=1)


COLORMAPS: dict[str, np.ndarray] = {
    name: lut().round().clip(0, 255).astype(np.uint8)
    for name, lut in (("viridis", _viridis_lut), ("jet", _jet_lut), ("gray", _gray_lut))
}


def colorize(values: np.ndarray, colormap: str = "viridis") -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB array for values in [0, 1] through a 256-entry colour map."""
    if colormap not in COLORMAPS:
        raise BadInput(f"unknown colour map {colormap!r}",
                       f"the colour maps are: {', '.join(COLORMAPS)}", "pick one of them")
    index = (np.nan_to_num(np.clip(values, 0.0, 1.0)) * 255).round().astype(np.uint8)
    return COLORMAPS[colormap][index]


# --- which layers --------------------------------------------------------------------------------


def _root_for_stages(model: nn.Module) -> tuple[str, nn.Module]:
    """Return (prefix, module) where the model's stages live (a detector's backbone body)."""
    for path in ("backbone.body", "backbone"):
        module: nn.Module | None = model
        for part in path.split("."):
            module = module._modules.get(part) if module is not None else None
        if module is not None:
            return path + ".", module
    return "", model


def _candidates(model: nn.Module) -> list[str]:
    """Return layer paths that are stage outputs by name, in model order (may be empty)."""
    prefix, root = _root_for_stages(model)
    features = root._modules.get("features")
    if isinstance(features, nn.Sequential):
        acts = [f"{prefix}features.{name}" for name, sub in features.named_children()
                if isinstance(sub, _ACTIVATIONS)]
        if len(acts) >= 2:
            return acts  # the classic AlexNet/VGG view: every ReLU of the features
    stages = [f"{prefix}{name}" for name in root._modules if re.fullmatch(r"layer\d+", name)]
    if stages:
        return stages  # ResNet family: layer1..layer4
    if isinstance(root, nn.Sequential) and len(root) > 4:
        return [f"{prefix}{name}" for name in root._modules]  # a backbone body: its blocks
    paths = []
    for name, child in root.named_children():
        if _is_blocks(child) and len(child) > 1:
            paths += [f"{prefix}{name}.{sub}" for sub in child._modules]
        elif _BLOCKS & set(child._modules) and not _is_blocks(child):
            inner = next(n for n in child._modules if n in _BLOCKS)  # ViT: encoder.layers
            paths += [f"{prefix}{name}.{inner}.{sub}" for sub in child._modules[inner]._modules]
        else:
            paths.append(f"{prefix}{name}")
    return paths


_BLOCKS = {"layers", "blocks"}
"""Names transformers give the list of their blocks (torchvision's ViT: encoder.layers)."""


def _is_blocks(module: nn.Module) -> bool:
    return type(module) in (nn.Sequential, nn.ModuleList)


def tokens_as_map(output: torch.Tensor) -> torch.Tensor | None:
    """Return a transformer's (B, tokens, dim) output as a (B, dim, side, side) map, or None.

    The leading class (and distillation or register) tokens are dropped; what is left must be
    a square grid of patches.
    """
    if output.dim() != 3:
        return None
    batch, tokens, dim = output.shape
    for extra in (1, 0, 2, 5):
        side = math.isqrt(max(0, tokens - extra))
        if side > 1 and side * side == tokens - extra:
            return output[:, extra:, :].transpose(1, 2).reshape(batch, dim, side, side)
    return None


def _channels_last_layers(model: nn.Module) -> set[str]:
    """Return the paths whose outputs are (B, H, W, C): those before a top-level NHWC->NCHW Permute
    (Swin, ConvNeXt-style models in torchvision)."""
    names = list(model._modules)
    for i, name in enumerate(names):
        child = model._modules[name]
        if type(child).__name__ == "Permute" and list(getattr(child, "dims", [])) == [0, 3, 1, 2]:
            before = names[:i]
            return {path for path, _ in model.named_modules()
                    if path and path.split(".")[0] in before}
    return set()


def _run(model: nn.Module, batch: torch.Tensor, detection: bool, layers: Sequence[str]) -> None:
    """Run the forward the hooks need: a detector's backbone alone when every layer is in it."""
    if not detection:
        model(batch)
        return
    transform = model._modules.get("transform")
    backbone = model._modules.get("backbone")
    mean, std = getattr(transform, "image_mean", None), getattr(transform, "image_std", None)
    if backbone is not None and mean and std and all(p.startswith("backbone.") for p in layers):
        shape = (1, -1, 1, 1)
        backbone((batch - batch.new_tensor(mean).view(shape)) / batch.new_tensor(std).view(shape))
    else:
        model([batch[0]])


@torch.no_grad()
def capture(model: nn.Module, batch: torch.Tensor, layers: Sequence[str],
            detection: bool = False) -> dict[str, torch.Tensor]:
    """Return {layer: its first 4-D output} for one forward of `batch` (hooks); a transformer's
    patch tokens come back as a (B, dim, side, side) map."""
    modules = dict(model.named_modules())
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    channels_last = _channels_last_layers(model)

    def hook_for(path: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            found = output
            if isinstance(found, dict):
                found = next(iter(found.values()), None)
            if isinstance(found, (tuple, list)):
                found = next((t for t in found if isinstance(t, torch.Tensor)), None)
            if not isinstance(found, torch.Tensor) or path in outputs:
                return
            if found.dim() == 3:
                found = tokens_as_map(found)
            if found is not None and found.dim() == 4:
                outputs[path] = found.detach()
                if path in channels_last:
                    outputs[path] = outputs[path].permute(0, 3, 1, 2)
        return hook

    for path in layers:
        handles.append(modules[path].register_forward_hook(hook_for(path)))
    was_training = model.training
    model.eval()
    try:
        _run(model, batch, detection, layers)
    except RuntimeError as error:
        raise WorkFailed("the forward pass for the activation maps failed",
                         str(error).splitlines()[0],
                         "check that the model takes 3-channel images") from None
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return outputs


def check_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    """Return the layers as given after checking each exists, or raise BadInput naming it."""
    import difflib

    modules = dict(model.named_modules())
    for layer in layers:
        if not layer or layer not in modules:
            close = difflib.get_close_matches(layer, [p for p in modules if p], n=3)
            hint = f"did you mean {', '.join(close)}?" if close else \
                "list the layers with `ptm-tui inspect MODEL`"
            raise BadInput(f"no layer {layer!r} in this model", "activation maps need layer paths",
                           hint)
    return list(layers)


def default_layers(model: nn.Module, batch: torch.Tensor, detection: bool = False) -> list[str]:
    """Return the layers drawn by default: each ReLU of `features` (AlexNet, VGG), layer1..N
    (ResNet), else each stage whose output is a spatial map — at most MAX_DEFAULT_LAYERS."""
    return _default_layers(model, batch, detection)[0]


def _default_layers(model: nn.Module, batch: torch.Tensor,
                    detection: bool) -> tuple[list[str], dict[str, torch.Tensor]]:
    candidates = _candidates(model)
    outputs = capture(model, batch, candidates, detection)
    spatial = [p for p in candidates if p in outputs and min(outputs[p].shape[-2:]) > 1]
    if not spatial:
        raise BadInput("no layer of this model gives a spatial activation map",
                       "none of its stages outputs a (batch, channels, height, width) tensor",
                       "name conv layers with --layers (see `ptm-tui inspect MODEL`)")
    if len(spatial) > MAX_DEFAULT_LAYERS:
        step = len(spatial) / MAX_DEFAULT_LAYERS
        spatial = [spatial[int(i * step)] for i in range(MAX_DEFAULT_LAYERS)]
    return spatial, outputs


# --- maps ---------------------------------------------------------------------------------------


@dataclass
class ActMap:
    """One layer's activation map: raw values in [0, 1] and the coloured overlay at image size."""

    layer: str
    shape: tuple[int, ...]
    values: np.ndarray
    """(h, w) channel-mean activation at the layer's resolution, scaled to [0, 1]."""
    overlay: Any
    """PIL RGB image at the input image's size: the coloured map blended over the image."""


def channel_mean(activation: torch.Tensor) -> np.ndarray:
    """Return the channel-mean of a (C, H, W) activation scaled to [0, 1] as a float32 array."""
    values = activation.float().mean(0).cpu().numpy().astype(np.float32)
    low, high = float(values.min()), float(values.max())
    if not np.isfinite(low) or not np.isfinite(high) or high - low < 1e-12:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def overlay(image: Any, values: np.ndarray, colormap: str = "viridis", alpha: float = 0.5) -> Any:
    """Return the map upsampled (bilinear) to the image's size, coloured and blended over it."""
    from PIL import Image

    big = Image.fromarray(values.astype(np.float32), mode="F").resize(image.size,
                                                                     Image.Resampling.BILINEAR)
    heat = Image.fromarray(colorize(np.asarray(big), colormap), mode="RGB")
    return Image.blend(image.convert("RGB"), heat, alpha)


def _input(image: Any, preprocess: Preprocess, detection: bool) -> torch.Tensor:
    """Return the whole image (resized, not cropped, so maps line up with it) as a batch of 1."""
    size = preprocess.input_size
    if detection:
        size = max(320, size)
    return preprocess.resized(image, size).unsqueeze(0)


def activation_maps(model: nn.Module, image: ImageLike, layers: Sequence[str] | None = None,
                    preprocess: Preprocess | None = None, colormap: str = "viridis",
                    alpha: float = 0.5) -> list[ActMap]:
    """Return one ActMap per layer (default_layers when none are given), in the order asked."""
    from engine.inspect.detection import is_detection_model

    if not 0.0 <= alpha <= 1.0:
        raise BadInput(f"alpha must be between 0 and 1, got {alpha}", "it is the map's opacity",
                       "e.g. --alpha 0.5")
    if colormap not in COLORMAPS:
        colorize(np.zeros((1, 1)), colormap)  # raises the clear error
    _, img = load_image(image)
    detection = is_detection_model(model)
    if preprocess is None:
        preprocess = Preprocess(kind="detection") if detection else Preprocess()
    batch = _input(img, preprocess, detection).to(model_device(model))
    if layers:
        chosen = check_layers(model, layers)
        outputs = capture(model, batch, chosen, detection)
    else:
        chosen, outputs = _default_layers(model, batch, detection)
    maps = []
    for layer in chosen:
        if layer not in outputs:
            raise BadInput(f"layer {layer!r} gives no spatial map",
                           "its output is not a (batch, channels, height, width) tensor "
                           "(or it did not run)", "pick a conv layer or stage")
        values = channel_mean(outputs[layer][0])
        maps.append(ActMap(layer, tuple(outputs[layer].shape), values,
                           overlay(img, values, colormap, alpha)))
    return maps


def grid(maps: Sequence[ActMap], columns: int | None = None, cell: int = 224) -> Any:
    """Return one image with every map's overlay (scaled to `cell` wide) and its layer name."""
    from PIL import Image, ImageDraw

    if not maps:
        raise BadInput("no activation maps to put in a grid", "the list is empty", "pick layers")
    columns = columns or min(4, len(maps))
    rows = -(-len(maps) // columns)
    width, height = maps[0].overlay.size
    cell_h = max(1, round(cell * height / width))
    label_h = 14
    sheet = Image.new("RGB", (columns * cell, rows * (cell_h + label_h)), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    for i, item in enumerate(maps):
        x, y = (i % columns) * cell, (i // columns) * (cell_h + label_h)
        thumb = item.overlay.resize((cell, cell_h), Image.Resampling.BILINEAR)
        sheet.paste(thumb, (x, y + label_h))
        draw.text((x + 2, y + 1), item.layer, fill=(255, 255, 255))
    return sheet


def file_name(layer: str) -> str:
    """Return a safe file name for a layer's PNG ("features.1" -> "features.1.png")."""
    return re.sub(r"[^\w.-]", "_", layer or "model") + ".png"


def _save_png(image: Any, path: Path) -> None:
    from engine.atomic import atomic_write

    with atomic_write(path) as handle:
        image.save(handle, format="PNG")


def save_actmaps(model: nn.Module, image: ImageLike, out_dir: str | os.PathLike[str],
                 layers: Sequence[str] | None = None, preprocess: Preprocess | None = None,
                 colormap: str = "viridis", alpha: float = 0.5) -> list[Path]:
    """Write one PNG per layer (named after it, at the image's size) and grid.png; return paths."""
    from engine.outputs import check_output_dir, writing

    folder = check_output_dir(out_dir)
    maps = activation_maps(model, image, layers, preprocess, colormap, alpha)
    pictures = [(folder / file_name(item.layer), item.overlay) for item in maps]
    pictures.append((folder / "grid.png", grid(maps)))
    written: list[Path] = []
    try:
        for path, picture in pictures:
            with writing(path):
                _save_png(picture, path)
            written.append(path)
    except BaseException:  # all or nothing: no partial set of maps is left behind
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written
