"""timm models (`timm/<name>`): built offline, heads and input convs found, surgery that fits."""

from __future__ import annotations

import socket

import pytest
import torch

from engine.edit.workbench import Workbench
from engine.errors import BadInput
from engine.inspect.heads import find_head, find_input_conv
from engine.models import catalog

pytest.importorskip("timm")  # installed by the test extra; optional for users


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.mark.parametrize(("name", "head", "stem"), [
    ("resnet18", "fc", "conv1"),
    ("vit_tiny_patch16_224", "head", "patch_embed.proj"),
    ("convnext_atto", "head.fc", "stem.0"),
    ("efficientnet_b0", "classifier", "conv_stem"),
])
def test_timm_models_build_offline_with_their_head_and_stem_found(name, head, stem):
    model = catalog.build(f"timm/{name}", "meta")
    assert find_head(model) == head and find_input_conv(model) == stem


def test_new_head_and_grey_input_on_a_timm_model_train_a_step():
    bench = Workbench.open("timm/resnet18", weights="none")
    bench.apply({"op": "replace_head", "num_classes": 3})
    bench.apply({"op": "adapt_input", "channels": 1, "strategy": "sum"})
    logits = bench.model(torch.rand(2, 1, 64, 64))
    assert logits.shape == (2, 3)
    logits.sum().backward()
    assert bench.model.conv1.weight.grad.shape == (64, 1, 7, 7)


def test_a_distilled_vit_gets_both_heads_replaced_and_undo_restores_them():
    bench = Workbench.open("timm/deit_tiny_distilled_patch16_224", weights="none")
    before = {k: v.clone() for k, v in bench.model.state_dict().items()}
    summary = bench.apply({"op": "replace_head", "num_classes": 5})
    assert "head_dist" in summary
    assert bench.model.head.out_features == bench.model.head_dist.out_features == 5
    assert bench.model.eval()(torch.rand(1, 3, 224, 224)).shape == (1, 5)
    bench.undo()
    state = bench.model.state_dict()
    assert all(torch.equal(before[k], state[k]) for k in before)
    assert bench.model.head_dist.out_features == 1000


def test_timm_pretrained_weights_offline_and_not_cached_say_what_to_do(tmp_path, monkeypatch):
    # Issue 10: timm's weights come from the Hugging Face cache; offline and not there, the
    # work fails (exit 1) with the ways on, and nothing is fetched.
    from engine.models.weights import DownloadFailed

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(DownloadFailed, match="HF_HUB_OFFLINE") as caught:
        Workbench.open("timm/resnet18", weights="default")
    assert caught.value.exit_code == 1 and "--weights FILE|FOLDER" in caught.value.fix


def test_unknown_timm_names_are_refused_with_a_close_match():
    with pytest.raises(BadInput) as caught:
        catalog.build("timm/resnet5O", "meta")
    assert "resnet50" in caught.value.message
