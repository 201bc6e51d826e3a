"""Multi-layer features: chosen layers' outputs (torchvision FX if the model traces, else hooks)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import torch
from torch import nn

from engine.errors import BadInput


def parse_layers(text: str | None, option: str = "--layers") -> list[str] | None:
    """Return the layer paths in comma-separated `text` (None for None); BadInput when it names none."""
    if text is None:
        return None
    layers = [layer.strip() for layer in text.split(",") if layer.strip()]
    if not layers:
        raise BadInput(f"{option} {text!r} names no layer", "the list is empty",
                       f"give layer paths, e.g. {option} layer1,layer4")
    return layers


def _unknown(layer: str, known: Sequence[str]) -> BadInput:
    close = difflib.get_close_matches(layer, known, n=3)
    hint = (
        f"did you mean {', '.join(close)}?" if close else "list them with `ptm-tui inspect MODEL`"
    )
    return BadInput(
        f"no layer {layer!r} to take features from", "the model has no such layer", hint
    )


class FeatureExtractor:
    """Callable returning {layer: output tensor} for the chosen layers of a model."""

    def __init__(self, model: nn.Module, layers: Sequence[str], method: str = "auto") -> None:
        if not layers:
            raise BadInput(
                "no layers to take features from",
                "the list of layers is empty",
                "name layers, e.g. --layers layer3,layer4",
            )
        self.model = model
        self.layers = list(layers)
        self.method = ""
        self._fx: nn.Module | None = None
        self._outputs: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        if method in ("auto", "fx"):
            self._fx = self._trace(modules, strict=method == "fx")
            if self._fx is not None:
                self.method = "fx"
        if self._fx is None:
            for layer in self.layers:
                if layer not in modules or not layer:
                    raise _unknown(layer, [p for p in modules if p])
            self.method = "hooks"

    def _trace(self, modules: dict[str, nn.Module], strict: bool) -> nn.Module | None:
        """Return an FX feature extractor, or None when the model does not trace."""
        from torchvision.models.feature_extraction import (
            create_feature_extractor,
            get_graph_node_names,
        )

        try:
            _, nodes = get_graph_node_names(self.model)
        except Exception as error:
            if strict:
                raise BadInput(
                    "this model does not trace with torch.fx",
                    str(error)[:200],
                    "use the hooks method",
                ) from None
            return None
        names = set(nodes) | {p for p in modules if p}
        for layer in self.layers:
            if layer not in names:
                raise _unknown(layer, nodes)
        try:
            return create_feature_extractor(self.model, return_nodes={n: n for n in self.layers})
        except Exception as error:
            if strict:
                raise BadInput(
                    "cannot build an FX feature extractor", str(error)[:200], "use the hooks method"
                ) from None
            return None

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return {layer: output} for a batch of inputs (in eval mode, without gradients)."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                if self._fx is not None:
                    self._fx.eval()
                    out = self._fx(images)
                    return {layer: _layer_tensor(out[layer]) for layer in self.layers}
                return self._hooked(images)
        finally:
            self.model.train(was_training)

    def _hooked(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        found: dict[str, torch.Tensor] = {}
        handles = []
        for layer in self.layers:

            def keep(module: nn.Module, args: tuple, output: object, layer: str = layer) -> None:
                # clone: later in-place ops (x += identity, ReLU(inplace=True)) would change it
                found[layer] = _layer_tensor(output).clone()

            handles.append(self.model.get_submodule(layer).register_forward_hook(keep))
        try:
            self.model(images)
        finally:
            for handle in handles:
                handle.remove()
        missing = [layer for layer in self.layers if layer not in found]
        if missing:
            raise BadInput(
                f"layers {', '.join(missing)} did not run",
                "the forward pass skipped them",
                "pick layers that the model's forward uses",
            )
        return found


def first_tensor(output: object) -> torch.Tensor | None:
    """Return the first tensor in a layer output (searching tuples, lists and dicts), or None."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        for item in output:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def _layer_tensor(output: object) -> torch.Tensor:
    """Return the tensor of a chosen layer's output, or say that the layer gives none."""
    found = first_tensor(output)
    if found is None:
        raise BadInput(
            "a chosen layer returns no tensor",
            f"it returns {type(output).__name__}",
            "pick a layer that outputs a tensor",
        )
    return found


def extract_features(
    model: nn.Module, layers: Sequence[str], images: torch.Tensor, method: str = "auto"
) -> dict[str, torch.Tensor]:
    """Return {layer: output} of the chosen layers for one batch of inputs."""
    return FeatureExtractor(model, layers, method)(images)
