"""Edits that allocate fall under the module expressions' size limit (issue 18): a head or an
input conv past 1e9 parameters is refused, naming the value, before any memory is taken."""

from __future__ import annotations

import resource

import pytest
import torch
import torchvision

from engine.edit.size_limit import MAX_PARAMETERS
from engine.edit.workbench import Workbench
from engine.errors import BadInput


def _bench(name: str) -> Workbench:
    torch.manual_seed(0)
    kwargs = {"weights_backbone": None} if "rcnn" in name or "ssd" in name or "lraspp" in name else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    return Workbench(model=model, name=name, input_size=(1, 3, 64, 64))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    "name, edit, said",
    [
        (
            "resnet18",
            {"op": "replace_head", "num_classes": 10**9},
            "a new head with num_classes=1000000000 would have 513,000,000,000 parameters (2,052.0 GB",
        ),
        (
            "squeezenet1_1",
            {"op": "replace_head", "num_classes": 10**7, "target": "classifier.1"},
            "a new head with num_classes=10000000 would have 5,130,000,000 parameters",
        ),
        (
            "resnet18",
            {"op": "adapt_input", "channels": 10**6},
            "the adapted input conv 'conv1' with channels=1000000 would have 3,136,000,000 parameters",
        ),
        (
            "fasterrcnn_mobilenet_v3_large_320_fpn",
            {"op": "replace_head", "num_classes": 10**9},
            "a new box predictor with num_classes=1000000000 would have",
        ),
        (
            "ssdlite320_mobilenet_v3_large",
            {"op": "replace_head", "num_classes": 10**8},
            "the new SSD class convs with num_classes=100000000 would have",
        ),
        (
            "lraspp_mobilenet_v3_large",
            {"op": "replace_head", "num_classes": 10**8},
            "a new class conv with num_classes=100000000 would have",
        ),
    ],
)
def test_an_edit_past_the_size_limit_is_refused_before_it_allocates(name, edit, said):
    bench = _bench(name)
    before = {k: v.clone() for k, v in bench.model.state_dict().items()}
    peak = _peak_mb()
    with pytest.raises(BadInput) as refused:
        bench.apply(edit)
    assert said in refused.value.message
    assert f"the limit is {MAX_PARAMETERS:,} parameters" in refused.value.message
    assert _peak_mb() - peak < 500  # nothing near the size it names was allocated
    after = bench.model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_edits_within_the_limit_still_build_real_layers():
    bench = _bench("resnet18")
    bench.apply({"op": "replace_head", "num_classes": 100_000})
    bench.apply({"op": "adapt_input", "channels": 1000})
    assert bench.model.fc.weight.shape == (100_000, 512) and not bench.model.fc.weight.is_meta
    assert bench.model.conv1.weight.shape == (64, 1000, 7, 7)
