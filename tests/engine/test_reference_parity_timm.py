"""timm models across every family: the head and input layer are the ones timm declares.

The reference is timm's own: `get_classifier()` and `pretrained_cfg["classifier"]` for the
head (none when timm declares none), `pretrained_cfg["first_conv"]` for the input layer.
One model per timm family (`timm.list_modules()`), each built on meta (no download).
"""

from __future__ import annotations

import pytest
from torch import nn

timm = pytest.importorskip("timm")

from engine.inspect.heads import find_head, find_input_conv, find_input_layer  # noqa: E402
from engine.models import catalog  # noqa: E402

FAMILIES = sorted(timm.list_modules())
SAMPLE = [(family, timm.list_models(module=family)[0]) for family in FAMILIES
          if timm.list_models(module=family)]


def _path_of(model, module) -> str | None:
    return next((path for path, m in model.named_modules() if m is module), None)


def _layer(module: object) -> bool:
    return isinstance(module, (nn.Linear, nn.modules.conv._ConvNd))


def _first(value: object) -> str | None:
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value if isinstance(value, str) and value else None


def _declared_head(model: nn.Module) -> str | None:
    """The head as timm states it: pretrained_cfg["classifier"], else get_classifier(), when
    that is a Linear or a conv; None when timm declares none (an Identity, or nothing)."""
    classifier = _first(model.pretrained_cfg.get("classifier"))
    if classifier:
        try:
            if _layer(model.get_submodule(classifier)):
                return classifier
        except AttributeError:
            pass
    declared = model.get_classifier() if hasattr(model, "get_classifier") else None
    return _path_of(model, declared) if _layer(declared) else None


def test_the_sample_spans_every_family() -> None:
    assert len(SAMPLE) == len([f for f in FAMILIES if timm.list_models(module=f)]) >= 90


@pytest.mark.parametrize(("family", "name"), SAMPLE, ids=[n for _, n in SAMPLE])
def test_head_and_input_layer_are_timms(family: str, name: str) -> None:
    model = catalog.build(f"timm/{name}", "meta")
    assert find_head(model) == _declared_head(model)
    first = _first(model.pretrained_cfg.get("first_conv"))
    if first and _layer(model.get_submodule(first)):
        assert find_input_layer(model) == first


@pytest.mark.parametrize("name", ["qwen3_vit_416m", "qwen3_vit_88m_merge", "deepseek_vit_412m_enc"])
def test_encoders_without_a_classifier_have_no_head(name: str) -> None:
    if not timm.is_model(name):
        pytest.skip(f"this timm has no {name}")
    model = catalog.build(f"timm/{name}", "meta")
    assert find_head(model) is None


@pytest.mark.parametrize("name", ["naflexvit_base_patch16_gap", "gemma4_vit_167m"])
def test_a_linear_patch_embedding_is_the_input_layer(name: str) -> None:
    if not timm.is_model(name):
        pytest.skip(f"this timm has no {name}")
    model = catalog.build(f"timm/{name}", "meta")
    layer = find_input_layer(model)
    assert layer == model.pretrained_cfg["first_conv"]
    assert type(model.get_submodule(layer)).__name__ == "Linear"
    assert find_input_conv(model) != layer  # adapt_input still only takes a conv
