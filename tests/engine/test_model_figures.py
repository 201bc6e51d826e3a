"""The figures that choose a model (metric against cost, the Pareto frontier, models side by side)
checked against torchvision's own weights meta and a plain meta build."""

from __future__ import annotations

import pytest
import torch
from torchvision import models as tv

from engine.errors import BadInput
from engine.inspect.model_compare import compare_models
from engine.models.catalog import ModelInfo, WeightsInfo, list_models
from engine.models.figures import model_plot, pareto_flags


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """An empty weights cache: nothing may be downloaded into it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def _meta(name: str) -> dict:
    return tv.get_model_weights(name).DEFAULT.meta


@pytest.mark.parametrize("cost", ["gflops", "params", "size"])
def test_plot_points_are_torchvisions_acc1_against_its_cost(cost):
    plot = model_plot(list_models(task="classification"), cost=cost)
    assert plot.metric == "ImageNet-1K acc@1"
    assert len(plot.points) == len(tv.list_models(module=tv)), "every classifier has acc@1 and cost"
    for point in plot.points:
        meta = _meta(point.name)
        assert point.value == meta["_metrics"]["ImageNet-1K"]["acc@1"], point.name
        expected = {"gflops": meta["_ops"], "params": meta["num_params"] / 1e6, "size": meta["_file_size"]}[
            cost
        ]
        assert point.cost == pytest.approx(expected), point.name


def test_each_task_is_plotted_by_its_own_metric():
    every = list_models()
    detection = model_plot(every, task="detection")
    assert detection.metric == "COCO-val2017 box_map"
    for point in detection.points:
        assert point.value == _meta(point.name)["_metrics"]["COCO-val2017"]["box_map"]
    # keypoint R-CNN's box mAP is on people only: it is measured by keypoint mAP and left out
    assert detection.reasons == {"keypointrcnn_resnet50_fpn": "measured by kp_map"}
    segmentation = model_plot(every, task="segmentation")
    assert segmentation.metric == "COCO-val2017-VOC-labels miou"
    assert {p.name: p.value for p in segmentation.points} == {
        n: _meta(n)["_metrics"]["COCO-val2017-VOC-labels"]["miou"] for n in tv.list_models(tv.segmentation)
    }
    flow = model_plot(every, task="optical_flow")
    assert flow.lower_better and flow.metric.endswith("epe")
    # raft_small's epe is on Sintel's training split, raft_large's on its test split: not comparable
    small = next(iter(_meta("raft_small")["_metrics"]))
    assert flow.metric.rpartition(" ")[0] != small
    assert flow.reasons == {"raft_small": f"measured on {small}"}
    assert model_plot(every).task == "classification"  # the task most models have
    assert sum(model_plot(every).other_tasks.values()) == len(every) - len(tv.list_models(module=tv))


def test_frontier_is_what_nothing_beats():
    assert pareto_flags([(1, 50), (2, 60), (3, 55), (4, 70), (4, 65), (5, 70)]) == [
        True,
        True,
        False,
        True,
        False,
        False,
    ]
    # an error (lower is better): the frontier runs along the bottom
    assert pareto_flags([(1, 5.0), (2, 3.0), (3, 4.0)], lower_better=True) == [True, True, False]


def test_every_model_off_the_frontier_is_beaten_by_one_on_it():
    plot = model_plot(list_models(task="classification"))
    front = plot.frontier
    assert [p.cost for p in front] == sorted(p.cost for p in front)
    assert [p.value for p in front] == sorted(p.value for p in front), "more cost buys more accuracy"
    for point in plot.points:
        if not point.frontier:
            assert any(f.cost <= point.cost and f.value >= point.value for f in front), point.name
    names = {p.name for p in front}
    assert "mobilenet_v3_small" in names  # the cheapest model over 65% acc@1
    assert "resnet50" not in names  # efficientnet_b3 is cheaper and more accurate


def test_models_without_a_metric_are_counted_not_drawn():
    drawn = WeightsInfo(name="A.V1", url="", acc1=70.0, gflops=1.0, metrics={"ImageNet-1K acc@1": 70.0})
    no_metric = WeightsInfo(name="B.V1", url="", gflops=2.0)  # a timm tag offline
    no_cost = WeightsInfo(name="C.V1", url="", metrics={"ImageNet-1K acc@1": 60.0})
    infos = [
        ModelInfo("a", "classification", [drawn], "A.V1"),
        ModelInfo("b", "classification", [no_metric], "B.V1"),
        ModelInfo("c", "classification", [no_cost], "C.V1"),
        ModelInfo("mine.py:Net", "classification"),
    ]  # a user model: no weights at all
    plot = model_plot(infos)
    assert [p.name for p in plot.points] == ["a"]
    assert plot.left_out == {"without a metric": 2, "no GFLOPs": 1}
    with pytest.raises(BadInput, match="unknown x axis"):
        model_plot(infos, cost="latency")


def test_compare_reads_the_meta_and_a_meta_build(empty_cache):
    resnet, detector = compare_models(["resnet50", "fasterrcnn_resnet50_fpn"])
    for figures in (resnet, detector):
        meta = _meta(figures.name)
        assert figures.params == meta["num_params"]
        assert figures.gflops == meta["_ops"]
        assert figures.file_size_mb == meta["_file_size"]
        assert figures.categories == len(meta["categories"])
        assert figures.cached is False
    assert (resnet.acc1, resnet.acc5) == (
        _meta("resnet50")["_metrics"]["ImageNet-1K"]["acc@1"],
        _meta("resnet50")["_metrics"]["ImageNet-1K"]["acc@5"],
    )
    assert detector.metric_value == _meta("fasterrcnn_resnet50_fpn")["_metrics"]["COCO-val2017"]["box_map"]
    with torch.device("meta"):
        plain = tv.resnet50()
    assert resnet.head == f"fc: Linear({plain.fc.in_features}, {plain.fc.out_features})"
    assert resnet.input_layer == "conv1: Conv2d(3, 64, 7x7, stride 2)"
    assert resnet.input_size == [1, 3, 224, 224]
    predictor = "roi_heads.box_predictor: FastRCNNPredictor (91 classes)"
    assert detector.head == predictor
    assert not empty_cache.exists() or not any(empty_cache.rglob("*.pth")), "nothing downloaded"


@pytest.mark.parametrize(
    "names, message",
    [
        (["resnet50"], "at least two"),
        (["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"], "at most 4"),
        (["resnet50", "resnet50"], "named twice"),
        (["resnet50", "resnet5O"], "unknown model"),
    ],
)
def test_compare_refuses_a_bad_list(names, message):
    with pytest.raises(BadInput, match=message):
        compare_models(names)


def test_a_model_without_gflops_in_its_meta_has_them_counted_on_its_meta_build():
    pytest.importorskip("timm")
    ours, timms = compare_models(["resnet18", "timm/resnet18"])  # the same network; timm's has no meta
    assert ours.gflops == _meta("resnet18")["_ops"] and not ours.gflops_counted
    assert timms.gflops == pytest.approx(_meta("resnet18")["_ops"], abs=1e-3) and timms.gflops_counted
