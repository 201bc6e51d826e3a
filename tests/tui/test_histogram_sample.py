"""The layer histogram says when its counts are of a sample, so a peak never reads as a total."""

from __future__ import annotations

from tui.layer_details import layer_details
from tui.widgets.layer_panel import histogram_title


def test_a_big_model_histogram_says_sample_of_n(resnet18_workbench):
    model = resnet18_workbench.model
    total = sum(p.numel() for p in model.parameters())  # 11,689,512 for resnet18
    data = layer_details(model, "")
    assert data.value_count == total
    assert data.hist_values < total
    assert sum(data.hist_counts) == data.hist_values  # the bars add up to what the title says
    title = histogram_title(data)
    assert title.startswith("sample of ")
    assert title.endswith(f"of {total / 1e6:.1f}M weights")


def test_a_small_layer_histogram_counts_every_value(resnet18_workbench):
    conv1 = resnet18_workbench.model.conv1
    data = layer_details(conv1, "conv1")
    assert data.hist_values == data.value_count == conv1.weight.numel()
    assert sum(data.hist_counts) == conv1.weight.numel()
    assert histogram_title(data) == f"weights of conv1 ({conv1.weight.numel():,} values)"
